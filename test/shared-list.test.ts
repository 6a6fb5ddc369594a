// shared-list.test.ts — SharedList (assembly/shared-list.ts, src/shared-list.ts).
//
// - Model: fast-check action lists (push, pop, set, get, resize, compact, clear;
//   values from the whole u32 range, 0 and 0xFFFFFFFF often) against a JS array,
//   on the release and the debug build. After every step: length, every item,
//   capacity >= max(4, length), the shrink rule (after a length drop either
//   length >= capacity/4 or capacity = max(4, 2·length)), ft_debug_list_valid.
// - Errors: bad handles (0, misaligned, below the segment area, past the end of
//   memory, a plain block, a map, a destroyed list) get EINVAL_PTR from every
//   export and from open(); indexes past the end ERANGE; values that are not u32
//   EINVAL_ARG; bad lengths EINVAL_SIZE; ENOMEM from a small runtime leaves the
//   list unchanged; a thread that is not attached gets -2/ENOT_ATTACHED from the
//   raw read. The list works normally after each of them.
// - Workers (debug build, which fills freed blocks with 0xDD): 3 readers read
//   lock-free (facade get of the stable prefix, raw get anywhere, the iterator)
//   and checkpoint every 256 reads, while a writer runs 1500 rounds of resize
//   3000 / set / push / pop / in-place shrink and grow / resize 100 — three new
//   arrays per round, each old one retired with freeDelayed. A read of
//   0xDDDDDDDD, of a value never written at that index (values carry their
//   index and the writer's epoch), of a changed stable prefix, or a length out of
//   [100, 3002] fails the test. Knobs: READERS, ROUNDS.
// - Concurrent writers: 4 workers push 3000 values each (and pop every 7th push)
//   onto one list: the final length is pushed - popped, every value is either in
//   the list or popped by exactly one worker, and each worker's values keep their
//   push order.
// No timed assertions; every worker is terminated in afterEach.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime, SharedList, SharedMap } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { attached, LIMIT, useHarness } from './fixtures/harness.ts';
import { badHandles, MODEL_BUILDS, raceProblems, readersVsWriter, startTogether } from './fixtures/shared-structures.ts';
import { LIST_STABLE, listValue, pusherValue } from './fixtures/shared-values.ts';
import type { PusherResult } from './fixtures/shared-values.ts';
import { codeOf } from './fixtures/util.ts';

const READERS = 3;
const ROUNDS = 1500;
/** Debug-build spin inside each lock-free read (~1.5 us): a free under a reader would show as 0xDD. */
const DELAY_SPINS = 1000;
const MiB = 1 << 20;

useHarness();

// ---- Model -------------------------------------------------------------------------

type Action =
  | { k: 'push'; v: number }
  | { k: 'pop' }
  | { k: 'set'; pick: number; v: number }
  | { k: 'get'; pick: number }
  | { k: 'resize'; n: number }
  | { k: 'compact' }
  | { k: 'clear' };

const u32 = fc.oneof(
  { arbitrary: fc.constantFrom(0, 0xFFFFFFFF, 1, 0x80000000, 0x7FFFFFFF, 0xDDDDDDDD), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0xFFFFFFFF }), weight: 3 },
);
const length = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 40 }), weight: 4 },
  { arbitrary: fc.integer({ min: 41, max: 600 }), weight: 2 },
  { arbitrary: fc.integer({ min: 601, max: 5000 }), weight: 1 },
);
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('push' as const), v: u32 }), weight: 8 },
  { arbitrary: fc.record({ k: fc.constant('pop' as const) }), weight: 5 },
  { arbitrary: fc.record({ k: fc.constant('set' as const), pick: fc.nat(), v: u32 }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('get' as const), pick: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('resize' as const), n: length }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('compact' as const) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('clear' as const) }), weight: 1 },
);

function runModel(rt: Runtime, t: Thread, actions: Action[]): void {
  const list = SharedList.create(t, 1 + (actions.length % 13));
  const model: number[] = [];
  const check = (what: string, shrank: boolean) => {
    expect(list.length, what).toBe(model.length);
    const cap = list.capacity;
    expect(cap, what).toBeGreaterThanOrEqual(Math.max(4, model.length));
    if (shrank) expect(model.length >= cap >>> 2 || cap === Math.max(4, 2 * model.length), `${what}: shrink rule, capacity ${cap}`).toBe(true);
    expect(rt.exports.ft_debug_list_valid(list.handle), what).toBe(1);
    expect(list.toArray(), what).toEqual(model);
  };
  actions.forEach((a, step) => {
    const what = `step ${step}: ${JSON.stringify(a)}`;
    let shrank = false;
    switch (a.k) {
      case 'push': list.push(a.v); model.push(a.v); break;
      case 'pop': shrank = model.length > 0; expect(list.pop(), what).toBe(model.pop()); break;
      case 'set': {
        const i = a.pick % (model.length + 2);
        if (i < model.length) { list.set(i, a.v); model[i] = a.v; }
        else expect(codeOf(() => list.set(i, a.v)), what).toBe('ERANGE');
        break;
      }
      case 'get': {
        const i = a.pick % (model.length + 2);
        if (i < model.length) expect(list.get(i), what).toBe(model[i]);
        else expect(codeOf(() => list.get(i)), what).toBe('ERANGE');
        break;
      }
      case 'resize':
        shrank = a.n < model.length;
        list.resize(a.n);
        if (a.n < model.length) model.length = a.n; else while (model.length < a.n) model.push(0);
        break;
      case 'compact': {
        list.compact();
        expect(list.capacity, what).toBe(Math.max(4, model.length));
        break;
      }
      case 'clear': shrank = model.length > 0; list.clear(); model.length = 0; break;
    }
    check(what, shrank);
  });
  list.destroy();
}

describe.each(MODEL_BUILDS)('SharedList against a model ($build build)', ({ debug, runs }) => {
  let rt: Runtime;
  let t: Thread;
  beforeAll(async () => { ({ rt, t } = await attached({ debug, maximumMemory: 256 * MiB })); });

  it('random action lists', () => {
    fc.assert(fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => runModel(rt, t, actions)),
      { numRuns: runs, seed: 0x5e1157 });
  });

  it('growth, the shrink rule and compact, step by step', () => {
    const list = SharedList.create(t, 0);
    expect(list.capacity).toBe(4);
    for (let i = 0; i < 5; i++) list.push(i);
    expect(list.capacity).toBe(8);                  // doubled
    list.resize(3000);
    expect(list.capacity).toBe(3000);               // max(needed, 2·capacity)
    expect(list.get(2999)).toBe(0);
    expect(list.get(4)).toBe(4);
    list.resize(751);
    expect(list.capacity).toBe(3000);               // not below a quarter: in place
    list.resize(100);
    expect(list.capacity).toBe(200);                // below a quarter: 2·length
    list.resize(3000);
    expect(list.capacity).toBe(3000);               // so resize(100)/resize(3000) reallocates every time
    expect(list.get(150)).toBe(0);                  // items past the old length are zero again
    list.resize(10);
    list.compact();
    expect(list.capacity).toBe(10);
    expect(list.toArray()).toEqual([0, 1, 2, 3, 4, 0, 0, 0, 0, 0]);
    list.clear();
    expect(list.length).toBe(0);
    expect(list.capacity).toBe(4);
    expect(list.pop()).toBeUndefined();
    list.push(0xFFFFFFFF);
    list.push(0);
    expect([...list]).toEqual([0xFFFFFFFF, 0]);
    expect(list.pop()).toBe(0);
    expect(list.pop()).toBe(0xFFFFFFFF);
    list.destroy();
  });
});

// ---- Errors --------------------------------------------------------------------------

describe('SharedList errors', () => {
  let rt: Runtime;
  let t: Thread;
  beforeAll(async () => { ({ rt, t } = await attached({ debug: true })); });

  it('bad handles: EINVAL_PTR from every export and from open(); the list is unaffected', () => {
    const list = SharedList.create(t);
    for (let i = 0; i < 10; i++) list.push(i);
    const map = SharedMap.create(t);
    const dead = SharedList.create(t);
    const deadHandle = dead.handle;
    dead.destroy();
    const { handles: bad, block } = badHandles(rt, t, list.handle, map.handle, deadHandle);
    const x = rt.exports;
    for (const h of bad) {
      expect(codeOf(() => SharedList.open(t, h)), `open ${h}`).toBe('EINVAL_PTR');
      expect(x.ft_list_get(h, 0), `get ${h}`).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_list_get_locked(h, 0)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_list_pop(h)).toBe(-2);
      expect(x.ft_last_error()).toBe(3);
      expect(x.ft_list_length(h)).toBe(-3);
      expect(x.ft_list_capacity(h)).toBe(-3);
      expect(x.ft_list_set(h, 0, 1)).toBe(3);
      expect(x.ft_list_push(h, 1)).toBe(3);
      expect(x.ft_list_resize(h, 5)).toBe(3);
      expect(x.ft_list_compact(h)).toBe(3);
      expect(x.ft_list_destroy(h)).toBe(3);
      expect(x.ft_debug_list_valid(h)).toBe(0);
    }
    for (const h of [-1, 1.5, 2 ** 32, NaN]) expect(codeOf(() => SharedList.open(t, h))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.get(0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.push(1))).toBe('EINVAL_PTR');
    expect(dead.handle).toBe(0);
    expect(new Uint32Array(rt.memory.buffer, block, 16).every((w) => w === 0)).toBe(true);
    expect(list.toArray()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(x.ft_debug_list_valid(list.handle)).toBe(1);
    t.free(block);
    map.destroy();
    list.destroy();
  });

  it('indexes, values and lengths out of range; the list stays usable', () => {
    const list = SharedList.create(t, 4);
    list.push(5);
    for (const i of [1, 2, 1000, 0xFFFFFFFF, -1, 0.5, NaN, 2 ** 32]) {
      expect(codeOf(() => list.get(i)), `get ${i}`).toBe('ERANGE');
      expect(codeOf(() => list.set(i, 1)), `set ${i}`).toBe('ERANGE');
    }
    expect(rt.exports.ft_list_get(list.handle, 1)).toBe(-1);
    expect(rt.exports.ft_list_set(list.handle, 1, 0)).toBe(16);   // ERANGE
    expect(rt.exports.ft_last_error()).toBe(16);
    for (const v of [-1, 0.5, 2 ** 32, NaN, Infinity, -0.5]) {
      expect(codeOf(() => list.push(v)), `push ${v}`).toBe('EINVAL_ARG');
      expect(codeOf(() => list.set(0, v)), `set 0, ${v}`).toBe('EINVAL_ARG');
    }
    for (const n of [-1, 0.5, NaN, 2 ** 32]) expect(codeOf(() => list.resize(n)), `resize ${n}`).toBe('EINVAL_SIZE');
    expect(codeOf(() => list.resize(2 ** 28 + 1))).toBe('EINVAL_SIZE');
    for (const c of [-1, 0.5, 2 ** 28 + 1]) expect(codeOf(() => SharedList.create(t, c)), `create ${c}`).toBe('EINVAL_SIZE');
    expect(list.pop()).toBe(5);
    expect(list.pop()).toBeUndefined();
    expect(rt.exports.ft_list_pop(list.handle)).toBe(-1);
    list.push(0xFFFFFFFF);
    list.set(0, 0);
    expect(list.toArray()).toEqual([0]);
    expect(rt.exports.ft_debug_list_valid(list.handle)).toBe(1);
    list.destroy();
  });

  it('ENOMEM leaves the list unchanged and usable', async () => {
    const small = await Runtime.create({ maximumMemory: 24 * MiB });
    const st = small.attach();
    const list = SharedList.create(st);
    for (let i = 0; i < 1000; i++) list.push(i * 7);
    const before = list.toArray(), cap = list.capacity;
    expect(codeOf(() => list.resize(10_000_000))).toBe('ENOMEM');      // 40 MB
    expect(codeOf(() => SharedList.create(st, 10_000_000))).toBe('ENOMEM');
    expect(list.length).toBe(1000);
    expect(list.capacity).toBe(cap);
    expect(list.toArray()).toEqual(before);
    expect(small.exports.ft_debug_list_valid(list.handle)).toBe(1);
    list.resize(2000);
    expect(list.get(1999)).toBe(0);
    expect(list.get(999)).toBe(999 * 7);
    list.destroy();
  });

  it('a thread that is not attached: -2 and ENOT_ATTACHED from the raw read; the facade attaches, or throws after detach()', async () => {
    const rt2 = await Runtime.create();
    const a = rt2.attach();
    const list = SharedList.create(a);
    list.push(42);
    const h = list.handle;
    a.detach();
    expect(rt2.exports.ft_list_get(h, 0)).toBe(-2);
    expect(rt2.exports.ft_last_error()).toBe(6);
    expect(rt2.exports.ft_list_length(h)).toBe(-6);
    expect(rt2.exports.ft_list_push(h, 1)).toBe(6);
    expect(rt2.exports.ft_list_new(4)).toBe(0);
    expect(rt2.exports.ft_last_error()).toBe(6);
    expect(codeOf(() => list.get(0))).toBe('ENOT_ATTACHED');
    const b = rt2.attach();                 // another thread of this JS thread can open and use it
    const viaB = SharedList.open(b, h);
    expect(viaB.get(0)).toBe(42);
    a.attach();
    expect(list.get(0)).toBe(42);           // calling through `a` makes it current again
    expect(viaB.length).toBe(1);            // ... and through `b`
    list.destroy();
  });
});

// ---- Workers -----------------------------------------------------------------------------

describe('SharedList with workers (debug build: freed memory reads 0xDD)', () => {
  it(`${READERS} lock-free readers never see freed or unwritten values while a writer reallocates ${ROUNDS * 3} times`, async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const list = SharedList.create(main);
    for (let i = 0; i < LIST_STABLE; i++) list.push(listValue(i, 0));
    main.detach();   // an attached thread that never checkpoints would hold every grace period up
    const race = await readersVsWriter(rt, {
      label: 'SharedList', storage: 'arrays', readers: READERS, ms: LIMIT,
      reader: (i) => ({ role: 'list-reader', list: list.handle, seed: 1000 + i, delaySpins: DELAY_SPINS }),
      writer: { role: 'list-writer', list: list.handle, seed: 7, readers: READERS, iterations: ROUNDS },
    });
    expect(raceProblems(race)).toEqual([]);
    expect(race.writer.reallocs).toBeGreaterThanOrEqual(ROUNDS * 3);
    main.attach();
    expect(list.length).toBe(LIST_STABLE);
    expect(list.toArray()).toEqual(Array.from({ length: LIST_STABLE }, (_, i) => listValue(i, 0)));
    expect(rt.exports.ft_debug_list_valid(list.handle)).toBe(1);
    list.destroy();
  }, 30_000);

  it('4 concurrent pushers (popping every 7th): length, multiset and per-worker order are exact', async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const list = SharedList.create(main, 0);
    main.detach();
    const N = 3000, W = 4, POP_EVERY = 7;
    const rs = await startTogether<PusherResult>(rt, W,
      (id) => ({ role: 'list-pusher', list: list.handle, id, count: N, popEvery: POP_EVERY }), LIMIT, 'pushers');
    for (const r of rs) expect(r.errors).toEqual([]);
    main.attach();
    const items = list.toArray();
    const popped = rs.flatMap((r) => r.popped);
    expect(items.length).toBe(W * N - popped.length);
    expect(list.length).toBe(items.length);
    // Every value pushed is in the list or was popped, exactly once.
    const all = [...items, ...popped].sort((a, b) => a - b);
    const expected = Array.from({ length: W }, (_, id) => Array.from({ length: N }, (_, k) => pusherValue(id, k)))
      .flat().sort((a, b) => a - b);
    expect(all).toEqual(expected);
    // A stack keeps the order of what remains: each worker's values are increasing.
    for (let id = 0; id < W; id++) {
      const mine = items.filter((v) => ((v >>> 20) & 0xFF) === id).map((v) => v & 0xFFFFF);
      expect(mine.every((k, i) => i === 0 || k > mine[i - 1]), `worker ${id} order`).toBe(true);
    }
    expect(rt.exports.ft_debug_list_valid(list.handle)).toBe(1);
    list.destroy();
  }, 30_000);
});
