// shared-map.test.ts — SharedMap (assembly/shared-map.ts, src/shared-map.ts).
//
// - Model: fast-check action lists (set, delete, get, has; keys from a small pool
//   that includes 0, 0xFFFFFFFF and 0x80000000 plus random u32s, values over the
//   whole u32 range) against a JS Map, on the release and the debug build. After
//   every step: size, get/has of every pooled key, capacity a power of two >= 8,
//   ft_debug_map_valid (sizes, 3/4 load with tombstones, every key found from its
//   hash, no key twice). A run that grows to thousands of keys and deletes them
//   checks the table grows and shrinks.
// - Errors: bad handles get EINVAL_PTR from every export and from open(); keys
//   and values that are not u32 EINVAL_ARG; ENOMEM from a small runtime leaves the
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
// No timed assertions; every worker is terminated in afterEach.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime, SharedList, SharedMap } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { attached, LIMIT, useHarness } from './fixtures/harness.ts';
import { badHandles, MODEL_BUILDS, raceProblems, readersVsWriter, startTogether } from './fixtures/shared-structures.ts';
import { MAP_FIXED, MAP_OTHER_BASE, mapFixedValue, setterKey, setterValue } from './fixtures/shared-values.ts';
import type { WriterResult } from './fixtures/shared-values.ts';
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
  };
  actions.forEach((a, step) => {
    const what = `step ${step}: ${JSON.stringify(a)}`;
    switch (a.k) {
      case 'set': expect(map.set(a.key, a.v)).toBe(map); model.set(a.key, a.v); break;
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
      expect(x.ft_map_size(h)).toBe(-3);
      expect(x.ft_map_capacity(h)).toBe(-3);
      expect(x.ft_map_destroy(h)).toBe(3);
      expect(x.ft_debug_map_valid(h)).toBe(0);
    }
    for (const h of [-1, 1.5, 2 ** 32, NaN]) expect(codeOf(() => SharedMap.open(t, h))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.get(0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.set(0, 0))).toBe('EINVAL_PTR');
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
    }
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
});
