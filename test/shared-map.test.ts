// shared-map.test.ts — SharedMap (assembly/shared-map.ts, src/shared-map.ts).
//
// - Model: fast-check action lists (set, swap, compareAndSet, take, delete, get,
//   has; keys from a small pool that includes 0, 0xFFFFFFFF and 0x80000000 plus
//   random u32s, values over the whole u32 range) against a JS Map, on the release
//   and the debug build. After every step: size, get/has of every pooled key,
//   capacity a power of two >= 8, ft_debug_map_valid (sizes, 3/4 load with
//   tombstones, every key found from its home slot, no key twice), and iteration
//   (entries, keys, values, forEach) yields exactly the model's entries. A run that
//   grows to thousands of keys and deletes them checks the table grows and shrinks.
// - New operations and iteration, one thread: swap/compareAndSet/take with 0 and
//   0xFFFFFFFF as keys and values; iteration order depends only on the keys;
//   keys present throughout are yielded once across rebuilds and frees between
//   steps; deleting while iterating; inserting while iterating yields no key twice.
// - Errors: bad handles get EINVAL_PTR from every export and from open(); keys,
//   values, compareAndSet's expected and ft_map_next's cursor that are not u32
//   EINVAL_ARG; ENOMEM (set, swap, compareAndSet) from a small runtime leaves the
//   map unchanged and usable; a thread that is not attached gets -2/ENOT_ATTACHED.
// - Workers (debug build): 3 readers look up (lock-free, checkpoint every 256
//   reads, each read slowed in the debug build so a table freed under it would
//   show) 16 fixed keys that are always present (0, 0xFFFFFFFF, 0xDDDDDDDD among
//   them) with one of two known values, keys the writer inserts and deletes
//   (absent or their known value), and keys never inserted (absent), while the
//   writer runs 250 rounds of: insert 400 fresh keys, flip the fixed keys'
//   values, delete the 400 — growing and shrinking the table about 7 times a
//   round. Knobs: READERS, ROUNDS, BATCH.
// - Concurrent writers: 4 workers set shared keys and their own keys and delete
//   half of their own: the final map holds exactly the expected keys and values.
// - Counters: 4 workers compareAndSet-increment 5 shared keys (0 and 0xFFFFFFFF
//   among them) 4000 times each while they swap/take their own keys (exact old
//   values; the table rebuilds): every count is exactly 4 · 4000.
// - Iteration race: 2 iterator workers iterate whole maps (checkpointing every 64
//   steps) while the map-writer inserts/deletes batches (rebuilding the table):
//   every key present throughout (16 fixed, 48 stable) is yielded exactly once per
//   iteration, no key twice, every value one its key may have; some iterations
//   span a rebuild.
// No timed assertions; every worker is terminated in afterEach.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime, SharedList, SharedMap } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { attached, LIMIT, useHarness } from './fixtures/harness.ts';
import { badHandles, MODEL_BUILDS, raceProblems, readersVsWriter, startTogether } from './fixtures/shared-structures.ts';
import { MAP_FIXED, MAP_OTHER_BASE, MAP_STABLE_BASE, mapFixedValue, mapStableValue, setterKey,
  setterValue } from './fixtures/shared-values.ts';
import type { CounterResult, WriterResult } from './fixtures/shared-values.ts';
import { codeOf } from './fixtures/util.ts';

const READERS = 3;
const ROUNDS = 250;
const BATCH = 400;
/** Debug-build spin inside each lock-free read (~1.5 us): a free under a reader would show as 0xDD. */
const DELAY_SPINS = 1000;
const MiB = 1 << 20;

useHarness();

// ---- Model -------------------------------------------------------------------------

type Action =
  | { k: 'set'; key: number; v: number }
  | { k: 'swap'; key: number; v: number }
  | { k: 'cas'; key: number; e: 'current' | 'absent' | number; v: number }
  | { k: 'take'; key: number }
  | { k: 'delete'; key: number }
  | { k: 'get'; key: number }
  | { k: 'bulk'; from: number; n: number; del: boolean };

const u32 = fc.oneof(
  { arbitrary: fc.constantFrom(0, 0xFFFFFFFF, 1, 0x80000000, 0xDDDDDDDD), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0xFFFFFFFF }), weight: 3 },
);
const POOL = [0, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1, 2, 3, 8, 16, 1024, 0xDDDDDDDD, 0x10000, 0x20000, 0xFFFF0000];
const key = fc.oneof(
  { arbitrary: fc.constantFrom(...POOL), weight: 4 },
  { arbitrary: fc.integer({ min: 0, max: 0xFFFFFFFF }), weight: 1 },
);
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('set' as const), key, v: u32 }), weight: 8 },
  { arbitrary: fc.record({ k: fc.constant('swap' as const), key, v: u32 }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('cas' as const), key, v: u32,
    e: fc.oneof(fc.constant('current' as const), fc.constant('absent' as const), u32) }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('take' as const), key }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('delete' as const), key }), weight: 5 },
  { arbitrary: fc.record({ k: fc.constant('get' as const), key }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('bulk' as const), from: fc.integer({ min: 0, max: 0xFFFFFFFF }),
    n: fc.integer({ min: 1, max: 300 }), del: fc.boolean() }), weight: 1 },
);

function runModel(rt: Runtime, t: Thread, actions: Action[]): void {
  const map = SharedMap.create(t, actions.length % 20);
  const model = new Map<number, number>();
  const check = (what: string) => {
    expect(map.size, what).toBe(model.size);
    const cap = map.capacity;
    expect(cap >= 8 && (cap & (cap - 1)) === 0, `${what}: capacity ${cap}`).toBe(true);
    expect(model.size <= cap * 0.75, `${what}: capacity ${cap} for ${model.size}`).toBe(true);
    expect(rt.exports.ft_debug_map_valid(map.handle), what).toBe(1);
    for (const k of POOL) {
      expect(map.get(k), `${what}: get ${k}`).toBe(model.get(k));
      expect(map.has(k), `${what}: has ${k}`).toBe(model.has(k));
    }
    for (const [k, v] of model) expect(map.get(k), `${what}: get ${k}`).toBe(v);
    const entries = [...map];
    expect(new Set(entries.map(([k]) => k)).size, `${what}: a key twice`).toBe(entries.length);
    expect(new Map(entries), `${what}: entries`).toEqual(model);
    expect([...map.keys()], `${what}: keys`).toEqual(entries.map(([k]) => k));
    expect([...map.values()], `${what}: values`).toEqual(entries.map(([, v]) => v));
    const each: Array<[number, number]> = [];
    map.forEach((v, k, m) => { expect(m).toBe(map); each.push([k, v]); });
    expect(each, `${what}: forEach`).toEqual(entries);
  };
  actions.forEach((a, step) => {
    const what = `step ${step}: ${JSON.stringify(a)}`;
    switch (a.k) {
      case 'set': expect(map.set(a.key, a.v)).toBe(map); model.set(a.key, a.v); break;
      case 'swap': expect(map.swap(a.key, a.v), what).toBe(model.get(a.key)); model.set(a.key, a.v); break;
      case 'cas': {
        const e = a.e === 'current' ? model.get(a.key) : a.e === 'absent' ? undefined : a.e;
        const hit = model.get(a.key) === e;
        expect(map.compareAndSet(a.key, e, a.v), what).toBe(hit);
        if (hit) model.set(a.key, a.v);
        break;
      }
      case 'take': expect(map.take(a.key), what).toBe(model.get(a.key)); model.delete(a.key); break;
      case 'delete': expect(map.delete(a.key), what).toBe(model.delete(a.key)); break;
      case 'get': expect(map.get(a.key), what).toBe(model.get(a.key)); break;
      case 'bulk':
        for (let i = 0; i < a.n; i++) {
          const k = (a.from + i * 0x9E3779B1) >>> 0;
          if (a.del) expect(map.delete(k), what).toBe(model.delete(k));
          else { map.set(k, (k ^ 0x5A5A5A5A) >>> 0); model.set(k, (k ^ 0x5A5A5A5A) >>> 0); }
        }
        break;
    }
    check(what);
  });
  map.destroy();
}

describe.each(MODEL_BUILDS)('SharedMap against a model ($build build)', ({ debug, runs }) => {
  let rt: Runtime;
  let t: Thread;
  beforeAll(async () => { ({ rt, t } = await attached({ debug, maximumMemory: 256 * MiB })); });

  it('random action lists', () => {
    fc.assert(fc.property(fc.array(action, { minLength: 1, maxLength: 50 }), (actions) => runModel(rt, t, actions)),
      { numRuns: runs, seed: 0x3a9 });
  });

  it('grows at 3/4 load, shrinks when sparse, and rebuilds away tombstones', () => {
    const map = SharedMap.create(t, 0);
    expect(map.capacity).toBe(8);
    const caps = new Set<number>();
    for (let k = 0; k < 5000; k++) {
      map.set(k * 7, k);
      caps.add(map.capacity);
      expect(k + 1 <= map.capacity * 0.75).toBe(true);
    }
    expect(map.size).toBe(5000);
    expect(Math.max(...caps)).toBe(8192);         // 5000 at a load <= 3/4, growing by doubling
    expect(caps.size).toBeGreaterThanOrEqual(10);
    for (let k = 0; k < 5000; k++) expect(map.get(k * 7)).toBe(k);
    for (let k = 0; k < 4990; k++) expect(map.delete(k * 7)).toBe(true);
    expect(map.size).toBe(10);
    expect(map.capacity).toBeLessThanOrEqual(64);  // shrank below 1/8 load, to a load <= 1/2
    for (let k = 4990; k < 5000; k++) expect(map.get(k * 7)).toBe(k);
    expect(map.get(0)).toBeUndefined();
    // Churn: fresh keys inserted and deleted fill the table with tombstones; it stays small.
    for (let r = 0; r < 50; r++) {
      for (let k = 0; k < 8; k++) map.set(0x1000000 + r * 8 + k, k);
      for (let k = 0; k < 8; k++) expect(map.delete(0x1000000 + r * 8 + k)).toBe(true);
    }
    expect(map.size).toBe(10);
    expect(map.capacity).toBeLessThanOrEqual(64);
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    // A key deleted and set again, and the extremes.
    map.set(0, 1).set(0xFFFFFFFF, 0xFFFFFFFF);
    expect(map.delete(0)).toBe(true);
    expect(map.delete(0)).toBe(false);
    expect(map.has(0)).toBe(false);
    map.set(0, 0);
    expect(map.get(0)).toBe(0);
    expect(map.get(0xFFFFFFFF)).toBe(0xFFFFFFFF);
    expect(map.size).toBe(12);
    map.destroy();
  });
});

// ---- New operations and iteration, one thread ---------------------------------------------

describe('SharedMap swap, compareAndSet, take and iteration', () => {
  let rt: Runtime;
  let t: Thread;
  beforeAll(async () => { ({ rt, t } = await attached({ debug: true })); });

  it('swap, compareAndSet and take return the old state, with 0 and 0xFFFFFFFF as keys and values', () => {
    const map = SharedMap.create(t);
    const M = 0xFFFFFFFF;
    for (const k of [0, M]) {
      expect(map.swap(k, 0)).toBeUndefined();        // absent: inserted
      expect(map.get(k)).toBe(0);
      expect(map.swap(k, M)).toBe(0);
      expect(map.swap(k, M)).toBe(M);
      expect(map.compareAndSet(k, undefined, 5)).toBe(false);   // present: "only if absent" fails
      expect(map.compareAndSet(k, 0, 5)).toBe(false);
      expect(map.get(k)).toBe(M);
      expect(map.compareAndSet(k, M, 0)).toBe(true);
      expect(map.get(k)).toBe(0);
      expect(map.compareAndSet(k, 0, 0)).toBe(true);            // same value: still a hit
      expect(map.take(k)).toBe(0);
      expect(map.take(k)).toBeUndefined();
      expect(map.has(k)).toBe(false);
      expect(map.compareAndSet(k, 0, 1)).toBe(false);           // absent: a value never matches
      expect(map.has(k)).toBe(false);
      expect(map.compareAndSet(k, undefined, M)).toBe(true);    // absent: inserted (into its tombstone)
      expect(map.get(k)).toBe(M);
      expect(map.delete(k)).toBe(true);
      expect(map.delete(k)).toBe(false);
    }
    expect(map.size).toBe(0);
    // Through inserts that rebuild the table: swap of fresh keys, take down to a shrink.
    for (let k = 0; k < 1000; k++) expect(map.swap(k * 3, k)).toBeUndefined();
    expect(map.capacity).toBeGreaterThanOrEqual(2048);
    for (let k = 0; k < 1000; k++) expect(map.compareAndSet(k * 3, k, k + 1)).toBe(true);
    for (let k = 0; k < 990; k++) expect(map.take(k * 3)).toBe(k + 1);
    expect(map.capacity).toBeLessThanOrEqual(64);
    for (let k = 1000; k < 1300; k++) expect(map.compareAndSet(k * 3, undefined, k)).toBe(true);
    expect(map.size).toBe(310);
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    // Raw: -1 is "absent" both ways.
    const x = rt.exports;
    expect(x.ft_map_compare_and_set(map.handle, 7, -1, 9)).toBe(1);
    expect(x.ft_map_compare_and_set(map.handle, 7, -1, 9)).toBe(0);
    expect(x.ft_map_swap(map.handle, 7, 10)).toBe(9);
    expect(x.ft_map_take(map.handle, 7)).toBe(10);
    expect(x.ft_map_take(map.handle, 7)).toBe(-1);
    map.destroy();
  });

  it('iteration order depends only on the keys, not on insertion or the table', () => {
    const keys = [...new Set([0, 0xFFFFFFFF, 1, 0x80000000,
      ...Array.from({ length: 500 }, (_, i) => Math.imul(i + 1, 0x9E3779B1) >>> 0)])];
    const a = SharedMap.create(t, 0);
    for (const k of keys) a.set(k, (k ^ 1) >>> 0);
    const b = SharedMap.create(t, 5000);
    for (const k of [...keys].reverse()) b.set(k, (k ^ 1) >>> 0);
    expect(a.capacity).not.toBe(b.capacity);
    const ea = [...a];
    expect(ea.length).toBe(keys.length);
    expect(ea).toEqual([...b]);
    for (const [k, v] of ea) expect(v).toBe((k ^ 1) >>> 0);
    const empty = SharedMap.create(t);
    expect([...empty]).toEqual([]);
    // The raw steps: -1 starts and ends; the cursor is the last key.
    const x = rt.exports;
    let after = -1, n = 0;
    for (;;) {
      const k = x.ft_map_next(a.handle, after);
      if (k === -1) break;
      expect([k, x.ft_map_next_value() >>> 0]).toEqual(ea[n++]);
      after = k;
    }
    expect(n).toBe(keys.length);
    expect(x.ft_map_next(empty.handle, -1)).toBe(-1);
    a.destroy(); b.destroy(); empty.destroy();
  });

  it('keys present throughout are yielded once across rebuilds, frees and detaches between steps', () => {
    const map = SharedMap.create(t, 0);
    const stable = Array.from({ length: 200 }, (_, i) => (0x5000 + i * 0x10001) >>> 0);
    for (const k of stable) map.set(k, k & 0xFFFF);
    const seen = new Map<number, number>();
    let step = 0, fresh = 0;
    const caps = new Set<number>();
    for (const [k, v] of map) {
      seen.set(k, (seen.get(k) ?? 0) + 1);
      if (stable.includes(k)) expect(v).toBe(k & 0xFFFF);
      if (step++ % 10 === 0) {
        // Grow the table (a new one; the old one retired), then shrink it again,
        // then let the retired tables go: the next step finds none of them.
        for (let i = 0; i < 600; i++) map.set(0x9000000 + fresh + i, 1);
        caps.add(map.capacity);
        for (let i = 0; i < 600; i++) map.delete(0x9000000 + fresh + i);
        caps.add(map.capacity);
        fresh += 600;
        t.checkpoint();
        t.detach();
        t.attach();
      }
    }
    expect(caps.size).toBeGreaterThan(1);
    for (const k of stable) expect(seen.get(k), `key ${k}`).toBe(1);
    for (const [k, c] of seen) expect(c, `key ${k} yielded ${c} times`).toBe(1);
    map.destroy();
  });

  it('deleting while iterating; inserting while iterating yields no key twice and ends', () => {
    const map = SharedMap.create(t);
    for (let k = 0; k < 300; k++) map.set(k, k);
    let n = 0;
    for (const [k] of map) { expect(map.delete(k)).toBe(true); n++; }
    expect(n).toBe(300);
    expect(map.size).toBe(0);
    for (let k = 0; k < 50; k++) map.set(k, k);
    const seen = new Set<number>();
    let next = 1000;
    for (const [k] of map) {
      expect(seen.has(k), `key ${k} twice`).toBe(false);
      seen.add(k);
      if (next < 3000) for (let i = 0; i < 4; i++) map.set(next++, 0);   // grows the table under the iteration
    }
    for (let k = 0; k < 50; k++) expect(seen.has(k)).toBe(true);
    map.destroy();
  });
});

// ---- Errors --------------------------------------------------------------------------

describe('SharedMap errors', () => {
  let rt: Runtime;
  let t: Thread;
  beforeAll(async () => { ({ rt, t } = await attached({ debug: true })); });

  it('bad handles: EINVAL_PTR from every export and from open(); the map is unaffected', () => {
    const map = SharedMap.create(t);
    for (let k = 0; k < 10; k++) map.set(k, k + 100);
    const list = SharedList.create(t);
    const dead = SharedMap.create(t);
    const deadHandle = dead.handle;
    dead.destroy();
    const { handles: bad, block } = badHandles(rt, t, map.handle, list.handle, deadHandle);
    const x = rt.exports;
    for (const h of bad) {
      expect(codeOf(() => SharedMap.open(t, h)), `open ${h}`).toBe('EINVAL_PTR');
      expect(x.ft_map_get(h, 0), `get ${h}`).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_map_get_locked(h, 0)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_map_has(h, 0)).toBe(-3);
      expect(x.ft_map_set(h, 0, 1)).toBe(3);
      expect(x.ft_map_delete(h, 0)).toBe(-3);
      expect(x.ft_map_swap(h, 0, 1)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_map_take(h, 0)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_map_compare_and_set(h, 0, -1, 1)).toBe(-3);
      expect(x.ft_map_next(h, -1)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_map_size(h)).toBe(-3);
      expect(x.ft_map_capacity(h)).toBe(-3);
      expect(x.ft_map_destroy(h)).toBe(3);
      expect(x.ft_debug_map_valid(h)).toBe(0);
    }
    for (const h of [-1, 1.5, 2 ** 32, NaN]) expect(codeOf(() => SharedMap.open(t, h))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.get(0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.set(0, 0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.swap(0, 0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.take(0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.compareAndSet(0, undefined, 0))).toBe('EINVAL_PTR');
    expect(codeOf(() => [...dead])).toBe('EINVAL_PTR');
    expect(dead.handle).toBe(0);
    expect(new Uint32Array(rt.memory.buffer, block, 16).every((w) => w === 0)).toBe(true);
    expect(map.size).toBe(10);
    for (let k = 0; k < 10; k++) expect(map.get(k)).toBe(k + 100);
    expect(x.ft_debug_map_valid(map.handle)).toBe(1);
    t.free(block);
    list.destroy();
    map.destroy();
  });

  it('keys and values that are not u32: EINVAL_ARG; bad sizes: EINVAL_SIZE; the map stays usable', () => {
    const map = SharedMap.create(t);
    map.set(1, 2);
    for (const k of [-1, 0.5, 2 ** 32, NaN, Infinity]) {
      expect(codeOf(() => map.get(k)), `get ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.has(k)), `has ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.delete(k)), `delete ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.set(k, 1)), `set ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.set(1, k)), `set 1, ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.swap(k, 1)), `swap ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.swap(1, k)), `swap 1, ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.take(k)), `take ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.compareAndSet(k, 2, 3)), `compareAndSet ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.compareAndSet(1, k, 3)), `compareAndSet 1, ${k}`).toBe('EINVAL_ARG');
      expect(codeOf(() => map.compareAndSet(1, 2, k)), `compareAndSet 1, 2, ${k}`).toBe('EINVAL_ARG');
    }
    expect(codeOf(() => map.compareAndSet(1, null as unknown as number, 3))).toBe('EINVAL_ARG');
    // The raw exports check what the facade would: expected / the cursor is -1 or a u32.
    const x = rt.exports;
    for (const bad of [-2, -0.5, 0.5, 2 ** 32, NaN, Infinity, -Infinity]) {
      expect(x.ft_map_compare_and_set(map.handle, 1, bad, 3), `raw expected ${bad}`).toBe(-15);
      expect(x.ft_last_error()).toBe(15);
      expect(x.ft_map_next(map.handle, bad), `raw cursor ${bad}`).toBe(-2);
      expect(x.ft_last_error()).toBe(15);
    }
    expect(x.ft_map_next(map.handle, 0xFFFFFFFF) >= -1).toBe(true);   // any u32 is a cursor
    for (const n of [-1, 0.5, NaN, 2 ** 26]) expect(codeOf(() => SharedMap.create(t, n)), `create ${n}`).toBe('EINVAL_SIZE');
    expect(rt.exports.ft_map_new(0x80000000)).toBe(0);
    expect(rt.exports.ft_last_error()).toBe(2);
    expect(map.size).toBe(1);
    expect(map.get(1)).toBe(2);
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  });

  it('ENOMEM while growing leaves the map unchanged and usable', async () => {
    const small = await Runtime.create({ maximumMemory: 24 * MiB });
    const st = small.attach();
    expect(codeOf(() => SharedMap.create(st, 4_000_000))).toBe('ENOMEM');   // 8M slots: 128 MiB
    const map = SharedMap.create(st);
    let n = 0, code = 'OK';
    while (code === 'OK') {
      const k = Math.imul(n, 0x9E3779B1) >>> 0;
      code = codeOf(() => map.set(k, n));
      if (code === 'OK') n++;
      if (n % 4096 === 0) st.checkpoint();   // lets retired tables go
    }
    expect(code).toBe('ENOMEM');
    expect(n).toBeGreaterThan(10_000);
    expect(map.size).toBe(n);
    const failing = Math.imul(n, 0x9E3779B1) >>> 0;
    expect(map.has(failing)).toBe(false);
    for (let i = 0; i < n; i += 97) expect(map.get(Math.imul(i, 0x9E3779B1) >>> 0)).toBe(i);
    expect(small.exports.ft_debug_map_valid(map.handle)).toBe(1);
    // Still usable: updates, deletes, and keys set again into their own tombstones
    // need no new table; a fresh key still does.
    map.set(0, 7);
    expect(map.get(0)).toBe(7);
    for (let i = 1; i < 100; i++) expect(map.delete(Math.imul(i, 0x9E3779B1) >>> 0)).toBe(true);
    expect(map.size).toBe(n - 99);
    for (let i = 1; i < 100; i++) map.set(Math.imul(i, 0x9E3779B1) >>> 0, i + 1);
    expect(map.get(Math.imul(5, 0x9E3779B1) >>> 0)).toBe(6);
    expect(codeOf(() => map.set(failing, 1))).toBe('ENOMEM');
    expect(codeOf(() => map.swap(failing, 1))).toBe('ENOMEM');
    expect(codeOf(() => map.compareAndSet(failing, undefined, 1))).toBe('ENOMEM');
    expect(map.compareAndSet(failing, 5, 1)).toBe(false);   // no insert: no table needed
    expect(map.has(failing)).toBe(false);
    expect(map.swap(0, 8)).toBe(7);                          // updates still work
    expect(map.compareAndSet(0, 8, 9)).toBe(true);
    expect(map.take(0)).toBe(9);
    expect(map.compareAndSet(0, undefined, 7)).toBe(true);  // back into its own tombstone
    expect(map.size).toBe(n);
    expect(small.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  });

  it('a thread that is not attached: -2 and ENOT_ATTACHED from the raw read', async () => {
    const rt2 = await Runtime.create();
    const a = rt2.attach();
    const map = SharedMap.create(a);
    map.set(5, 6);
    a.detach();
    expect(rt2.exports.ft_map_get(map.handle, 5)).toBe(-2);
    expect(rt2.exports.ft_last_error()).toBe(6);
    expect(rt2.exports.ft_map_has(map.handle, 5)).toBe(-6);
    expect(rt2.exports.ft_map_set(map.handle, 5, 7)).toBe(6);
    expect(rt2.exports.ft_map_swap(map.handle, 5, 7)).toBe(-2);
    expect(rt2.exports.ft_last_error()).toBe(6);
    expect(rt2.exports.ft_map_compare_and_set(map.handle, 5, 6, 7)).toBe(-6);
    expect(rt2.exports.ft_map_next(map.handle, -1)).toBe(-2);
    expect(rt2.exports.ft_last_error()).toBe(6);
    expect(codeOf(() => map.get(5))).toBe('ENOT_ATTACHED');
    a.attach();
    expect(map.get(5)).toBe(6);
    map.destroy();
  });
});

// ---- Workers -----------------------------------------------------------------------------

describe('SharedMap with workers (debug build: freed memory reads 0xDD)', () => {
  it(`${READERS} lock-free readers always find the fixed keys while a writer grows and shrinks the table`, async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const map = SharedMap.create(main);
    for (const k of MAP_FIXED) map.set(k, mapFixedValue(k, 0));
    main.detach();   // an attached thread that never checkpoints would hold every grace period up
    const race = await readersVsWriter(rt, {
      label: 'SharedMap', storage: 'tables', readers: READERS, ms: LIMIT,
      reader: (i) => ({ role: 'map-reader', map: map.handle, seed: 2000 + i, keyRange: ROUNDS * BATCH,
        delaySpins: DELAY_SPINS }),
      writer: { role: 'map-writer', map: map.handle, readers: READERS, rounds: ROUNDS, batch: BATCH },
    });
    expect(raceProblems(race)).toEqual([]);
    expect(race.writer.reallocs).toBeGreaterThanOrEqual(ROUNDS * 4);
    main.attach();
    expect(map.size).toBe(MAP_FIXED.length);
    for (const k of MAP_FIXED) expect(map.get(k)).toBe(mapFixedValue(k, ROUNDS));
    expect(map.get(MAP_OTHER_BASE)).toBeUndefined();
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  }, 30_000);

  it('4 concurrent setters: the final map holds exactly the expected keys and values', async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const map = SharedMap.create(main, 0);
    main.detach();
    const W = 4, N = 3000, SHARED = 500;
    const rs = await startTogether<WriterResult>(rt, W,
      (id) => ({ role: 'map-setter', map: map.handle, id, count: N, shared: SHARED }), LIMIT, 'setters');
    for (const r of rs) expect(r.errors).toEqual([]);
    main.attach();
    expect(map.size).toBe(SHARED + W * (N / 2));
    for (let id = 0; id < W; id++) {
      for (let k = 0; k < N; k++) {
        if (k % 2 === 0) expect(map.has(setterKey(id, k)), `worker ${id} key ${k} deleted`).toBe(false);
        else expect(map.get(setterKey(id, k)), `worker ${id} key ${k}`).toBe(setterValue(id, k));
      }
    }
    for (let k = 0; k < SHARED; k++) {
      const v = map.get(k);
      expect(v !== undefined && (v & 0xFFFFFF) === k && v >>> 24 < W, `shared key ${k}: ${v}`).toBe(true);
    }
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  }, 30_000);

  it('4 workers compareAndSet-increment shared keys: every count is exact', async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const map = SharedMap.create(main, 0);
    main.detach();
    const W = 4, INCREMENTS = 4000, OWN = 64;
    const keys = [0, 0xFFFFFFFF, 1, 0x80000000, 0xDDDDDDDD];
    const rs = await startTogether<CounterResult>(rt, W,
      (id) => ({ role: 'map-counter', map: map.handle, id, keys, increments: INCREMENTS, own: OWN }), LIMIT, 'counters');
    for (const r of rs) expect(r.errors).toEqual([]);
    console.log(`SharedMap counters: ${rs.map((r) => r.retries).join(', ')} compareAndSet retries`);
    main.attach();
    for (const k of keys) expect(map.get(k), `key ${k}`).toBe(W * INCREMENTS);
    for (const r of rs) {
      expect(r.own.length).toBe(OWN);
      for (const [k, v] of r.own) expect(map.get(k), `own key ${k}`).toBe(v ?? undefined);
    }
    expect(map.size).toBe(keys.length + rs.reduce((n, r) => n + r.own.filter(([, v]) => v !== null).length, 0));
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  }, 60_000);

  it('iterations racing inserts/deletes that rebuild the table: keys present throughout are each yielded once', async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const map = SharedMap.create(main);
    // Few keys stay (16 fixed + 48 stable), so each batch grows the table and its deletion shrinks it.
    const STABLE = 48;
    for (const k of MAP_FIXED) map.set(k, mapFixedValue(k, 0));
    for (let n = 0; n < STABLE; n++) map.set(MAP_STABLE_BASE + n, mapStableValue(MAP_STABLE_BASE + n));
    main.detach();
    const race = await readersVsWriter(rt, {
      label: 'SharedMap iteration', storage: 'tables', readers: 2, ms: LIMIT,
      reader: (i) => ({ role: 'map-iterator', map: map.handle, seed: 3000 + i, keyRange: ROUNDS * BATCH,
        stable: STABLE, delaySpins: 200 }),
      writer: { role: 'map-writer', map: map.handle, readers: 2, rounds: ROUNDS, batch: BATCH, stable: STABLE },
    });
    expect(raceProblems(race)).toEqual([]);
    const passes = race.readers.reduce((n, r) => n + (r.passes ?? 0), 0);
    const across = race.readers.reduce((n, r) => n + (r.passesAcrossRebuilds ?? 0), 0);
    console.log(`SharedMap iteration: ${passes} iterations, ${across} spanning a rebuild`);
    expect(race.writer.reallocs).toBeGreaterThanOrEqual(ROUNDS);
    expect(across).toBeGreaterThan(0);
    main.attach();
    expect(map.size).toBe(MAP_FIXED.length + STABLE);
    expect(rt.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
  }, 60_000);
});
