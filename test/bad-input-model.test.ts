// bad-input-model.test.ts — "bad input never corrupts state", as a property: random
// action lists mix good calls (alloc, free, freeMany, realloc; two threads on one
// runtime, so some frees are remote) with bad ones a buggy program makes: a second
// free (by either thread) of a block it freed and that was not handed out again, a
// free of an interior or misaligned pointer, of an address outside every block, a
// realloc of a freed block, a freeMany mixing good entries with repeats and bad
// ones, sizes that are not sizes. Every bad call must throw an FtheapError with
// the right code and change nothing: after every step each live block keeps its
// pattern and no two overlap; every few steps, after collect(), the statistics
// count exactly the live blocks, every freed block can be handed out again at
// most once, and the core's validators pass. A model of the live blocks and of the
// freed ones (freed, not yet handed out again) says what each call must do.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { expectBalanced } from './fixtures/harness.ts';
import { checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';
import { codeOf } from './fixtures/util.ts';

const MiB = 1 << 20;

type Action =
  | { k: 'alloc'; th: number; size: number }
  | { k: 'free'; th: number; pick: number }
  | { k: 'freeMany'; th: number; picks: number[]; bad: number[] }
  | { k: 'realloc'; th: number; pick: number; size: number }
  | { k: 'doubleFree'; th: number; pick: number }
  | { k: 'interior'; th: number; pick: number; off: number }
  | { k: 'wild'; th: number; addr: number }
  | { k: 'reallocFreed'; th: number; pick: number; size: number }
  | { k: 'badSize'; th: number; size: number };

const size = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 256 }), weight: 12 },
  { arbitrary: fc.integer({ min: 257, max: 40_000 }), weight: 4 },
  { arbitrary: fc.integer({ min: 40_001, max: 600_000 }), weight: 1 },
  { arbitrary: fc.integer({ min: 2 * MiB, max: 3 * MiB }), weight: 1 },
);
const th = fc.integer({ min: 0, max: 1 });
const pick = fc.nat();
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('alloc' as const), th, size }), weight: 8 },
  { arbitrary: fc.record({ k: fc.constant('free' as const), th, pick }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('freeMany' as const), th, picks: fc.array(pick, { maxLength: 6 }),
    bad: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('realloc' as const), th, pick, size }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('doubleFree' as const), th, pick }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('interior' as const), th, pick, off: fc.integer({ min: 1, max: 7 }) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('wild' as const), th, addr: fc.oneof(
    fc.integer({ min: 1, max: 4 * MiB - 1 }),                 // the runtime's own first 4 MiB
    fc.integer({ min: 2 ** 31, max: 2 ** 32 - 8 }),           // far beyond the memory
  ) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('reallocFreed' as const), th, pick, size }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('badSize' as const), th,
    size: fc.constantFrom(-1, 1.5, Number.NaN, Infinity, 2 ** 32, 2 ** 40) }), weight: 1 },
);

interface Block { size: number; seed: number }

/** Codes the bad calls got, over all runs: the property must have met each kind. */
const seen = new Map<string, number>();

async function run(actions: Action[], debug: boolean): Promise<void> {
  const rt = await Runtime.create({ debug, maximumMemory: 512 * MiB });
  const threads: Thread[] = [rt.attach(), rt.attach()];
  const live = new Map<number, Block>();
  const order: number[] = [];     // live pointers, in a deterministic order for `pick`
  const freed: number[] = [];     // freed and not handed out since: a free of one is a double free
  let serial = 0;
  const mem = () => rt.bytes();

  const add = (p: number, sz: number, what: string) => {
    expect(live.has(p), `${what} = ${p} is already live`).toBe(false);
    const seed = patternSeed(serial++, sz);
    fillPattern(mem(), p, sz, seed);
    live.set(p, { size: sz, seed });
    order.push(p);
    const f = freed.indexOf(p);
    if (f >= 0) freed.splice(f, 1);
  };
  const remove = (p: number) => {
    live.delete(p);
    order.splice(order.indexOf(p), 1);
    freed.push(p);
  };
  const livePick = (n: number) => order[n % order.length];
  const freedPick = (n: number) => freed[n % freed.length];
  /** A bad call: it throws an FtheapError whose code is one of `codes`. */
  const expectBad = (fn: () => unknown, codes: string[], what: string) => {
    const code = codeOf(fn);
    seen.set(code, (seen.get(code) ?? 0) + 1);
    expect(codes, `${what}: ${code}`).toContain(code);
  };
  // A freed block is EDOUBLE_FREE while its page lives; once the page went back
  // to its segment the address is no block start any more: EINVAL_PTR.
  const GONE = ['EDOUBLE_FREE', 'EINVAL_PTR'];

  const checkAll = (step: number, full: boolean) => {
    const what = `after step ${step}`;
    const sorted = [...live.entries()].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      const [p, a] = sorted[i - 1], [q] = sorted[i];
      if (p + a.size > q) expect.fail(`${what}: [${p}, ${p}+${a.size}) overlaps ${q}`);
    }
    for (const [p, b] of sorted) {
      const bad = checkPattern(mem(), p, Math.min(b.size, 4096), b.seed);
      if (bad >= 0) expect.fail(`${what}: block ${p} (${b.size} B) corrupt at offset ${bad}`);
    }
    if (!full) return;
    threads.forEach((t) => t.collect(true));
    threads.forEach((t) => t.validate());
    expect(rt.stats().totals.blocksUsed, `${what}: stats blocksUsed after collect`).toBe(live.size);
  };

  actions.forEach((a, step) => {
    const t = threads[a.th];
    const what = `step ${step} ${JSON.stringify(a)}`;
    switch (a.k) {
      case 'alloc':
        add(t.alloc(a.size), a.size, what);
        break;
      case 'free':
        if (order.length === 0) break;
        { const p = livePick(a.pick); t.free(p); remove(p); }
        break;
      case 'freeMany': {
        // good entries (each once), then repeats of them and bad entries mixed in
        const good = [...new Set(a.picks.filter(() => order.length > 0).map(livePick))];
        const list: number[] = [...good];
        const wantBad: Array<[number, string[]]> = [];
        for (const b of a.bad) {
          const at = list.length;
          if (b === 0 && good.length > 0) { list.push(good[0]); wantBad.push([at, ['EDOUBLE_FREE']]); }
          else if (b === 1 && good.length > 0) { list.push(good[0] + 4); wantBad.push([at, ['EINVAL_PTR']]); }
          else if (b === 2 && freed.length > 0 && !good.includes(freed[0])) { list.push(freed[0]); wantBad.push([at, GONE]); }
          else if (b === 3) { list.push(-5); wantBad.push([at, ['EINVAL_PTR']]); }
        }
        if (wantBad.length === 0) {
          t.freeMany(list);
        } else {
          let err: unknown;
          try { t.freeMany(list); } catch (e) { err = e; }
          expect(err, `${what}: freeMany with bad entries throws`).toBeInstanceOf(FtheapError);
          const bad = (err as FtheapError).bad ?? [];
          expect(bad.map((x) => x.index), `${what}: the bad entries`).toEqual(wantBad.map(([i]) => i));
          bad.forEach((x, i) => expect(wantBad[i][1], `${what}: entry ${x.index}`).toContain(x.code));
        }
        for (const p of good) remove(p);
        break;
      }
      case 'realloc': {
        if (order.length === 0) break;
        const p = livePick(a.pick);
        const b = live.get(p)!;
        const q = t.realloc(p, a.size);
        const kept = Math.min(b.size, a.size, 4096);
        expect(checkPattern(mem(), q, kept, b.seed), `${what}: realloc kept the bytes`).toBe(-1);
        live.delete(p);
        order.splice(order.indexOf(p), 1);
        if (q !== p) freed.push(p);
        add(q, a.size, what);
        break;
      }
      case 'doubleFree':
        if (freed.length === 0) break;
        expectBad(() => t.free(freedPick(a.pick)), GONE, what);
        break;
      case 'interior':
        if (order.length === 0) break;
        expectBad(() => t.free(livePick(a.pick) + a.off), ['EINVAL_PTR'], what);
        break;
      case 'wild':
        expectBad(() => t.free(a.addr), ['EINVAL_PTR'], what);
        break;
      case 'reallocFreed':
        if (freed.length === 0) break;
        expectBad(() => t.realloc(freedPick(a.pick), a.size), GONE, what);
        break;
      case 'badSize':
        expectBad(() => t.alloc(a.size), ['EINVAL_SIZE'], what);
        break;
    }
    checkAll(step, step % 10 === 9);
  });
  checkAll(actions.length, true);

  // Every block freed and not handed out since is handed out at most once now.
  const again = Array.from(threads[0].allocMany(64, 16));
  expect(new Set(again).size, 'no block handed out twice').toBe(again.length);
  threads[0].freeMany(again);
  for (const p of [...live.keys()]) threads[p % 3 === 0 ? 1 : 0].free(p);
  threads.forEach((t) => t.collect(true));
  expectBalanced(rt, { blocksUsed: 0, bytesUsed: 0, hugeBlocks: 0 });
  threads.forEach((t) => t.exit());
}

describe('bad input never corrupts state: random good and bad calls against a model', () => {
  it('release build', async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 150, size: 'max' }), (actions) => run(actions, false)),
      { seed: 515151, numRuns: 150 });
    if (process.env.BAD_INPUT_VERBOSE) console.log(Object.fromEntries(seen));
    for (const code of ['EDOUBLE_FREE', 'EINVAL_PTR', 'EINVAL_SIZE']) {
      expect(seen.get(code) ?? 0, `bad calls that got ${code}`).toBeGreaterThan(50);
    }
  });

  it('debug build', async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 150, size: 'max' }), (actions) => run(actions, true)),
      { seed: 626262, numRuns: 40 });
  });
});
