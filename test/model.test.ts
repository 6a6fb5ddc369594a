// model.test.ts — model-based test with fast-check: random action lists (alloc,
// calloc, alignedAlloc, realloc, free; each by one of two threads on one runtime,
// with tags) run against the allocator and a JS model of the live blocks. After
// every step: every pointer is 8-aligned (and honours its alignment), usableSize
// >= the request, no two live blocks' [p, p + usableSize) overlap, every live
// block still holds its pattern (realloc keeps min(old, new) bytes; calloc gives
// zeros), and stats count at least the live blocks; every few steps and at the
// end, after collect() on both threads, stats count exactly the live blocks and
// visitBlocks(tag) of each thread lists exactly its live blocks of that tag. At
// the end everything is freed and stats show nothing used. At those full checks
// both threads also run the core's validators (t.validate()). Runs on the release
// build and, with fewer runs, on the debug build, whose slow paths run the
// validators by themselves too (and which promises that a fresh block, huge ones
// aside, holds only 0xD0/0xDD after its first word; the GC tags' are zeroed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { expectBalanced } from './fixtures/harness.ts';
import { checkBytes, checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';

const MiB = 1 << 20;
/** Blocks above this are checked in samples on every step, in full when freed or resized. */
const SAMPLE_ABOVE = 256 << 10;
const SAMPLE = 16 << 10;

type Action =
  | { k: 'alloc'; th: number; size: number; tag: number }
  | { k: 'calloc'; th: number; count: number; size: number; tag: number }
  | { k: 'aligned'; th: number; alignLog: number; size: number; tag: number }
  | { k: 'realloc'; th: number; pick: number; size: number }
  | { k: 'free'; th: number; pick: number };

const size = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 256 }), weight: 12 },
  { arbitrary: fc.integer({ min: 257, max: 40_000 }), weight: 6 },
  { arbitrary: fc.integer({ min: 40_001, max: 700_000 }), weight: 2 },
  { arbitrary: fc.integer({ min: 2 * MiB - 64, max: 5 * MiB }), weight: 1 },
);
const th = fc.integer({ min: 0, max: 1 });
const tag = fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 15 }), weight: 1 });
const pick = fc.nat();
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant('alloc' as const), th, size, tag }), weight: 6 },
  { arbitrary: fc.record({ k: fc.constant('calloc' as const), th, count: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 0, max: 3000 }), tag }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('aligned' as const), th, alignLog: fc.integer({ min: 0, max: 21 }), size, tag }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('realloc' as const), th, pick, size }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('free' as const), th, pick }), weight: 6 },
);

interface Block { size: number; usable: number; seed: number; align: number; tag: number; owner: number }

async function run(actions: Action[], debug: boolean): Promise<void> {
  const rt = await Runtime.create({ debug, maximumMemory: 512 * MiB });
  const threads: Thread[] = [rt.attach(), rt.attach()];
  const live = new Map<number, Block>();
  const order: number[] = [];   // live pointers, in a deterministic order for `pick`
  let serial = 0;
  const mem = () => rt.bytes();

  const verify = (p: number, b: Block, full: boolean, what: string) => {
    let bad: number;
    if (full || b.size <= SAMPLE_ABOVE) {
      bad = checkPattern(mem(), p, b.size, b.seed);
    } else {   // the head and the tail of the pattern (it depends on the position)
      bad = checkPattern(mem(), p, SAMPLE, b.seed);
      if (bad < 0) bad = checkPattern(mem(), p, b.size, b.seed, (b.size - SAMPLE) & ~3);
    }
    if (bad >= 0) expect.fail(`${what}: block ${p} (${b.size} B) corrupt at offset ${bad}`);
  };

  const add = (p: number, b: Omit<Block, 'usable' | 'seed'>, what: string, fresh: 'pattern' | 'zero' | 'keep') => {
    expect(p % 8, `${what} = ${p}: 8-aligned`).toBe(0);
    expect(p % b.align, `${what} = ${p}: aligned to ${b.align}`).toBe(0);
    expect(live.has(p), `${what} = ${p} is already live`).toBe(false);
    const usable = threads[0].usableSize(p);
    expect(usable, `${what}: usableSize`).toBeGreaterThanOrEqual(b.size);
    if (fresh === 'zero') expect(checkBytes(mem(), p, b.size, 0), `${what}: zeroed`).toBe(-1);
    if (debug && fresh === 'pattern' && b.size > 4 && b.size <= 2 * MiB && b.align <= 32768) {   // not a huge block
      const u8 = mem();
      for (let i = 4; i < b.size; i++) {
        if (u8[p + i] !== 0xd0 && u8[p + i] !== 0xdd) {
          expect.fail(`${what} = ${p}: debug build byte ${i} is ${u8[p + i]}, not 0xD0/0xDD`);
        }
      }
    }
    const seed = patternSeed(serial++, b.size);
    fillPattern(mem(), p, b.size, seed);
    live.set(p, { ...b, usable, seed });
    order.push(p);
  };

  const remove = (p: number) => {
    live.delete(p);
    order.splice(order.indexOf(p), 1);
  };

  const checkAll = (step: number, visits: boolean) => {
    const what = `after step ${step}`;
    const sorted = [...live.entries()].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      const [p, a] = sorted[i - 1], [q] = sorted[i];
      if (p + a.usable > q) expect.fail(`${what}: [${p}, ${p}+${a.usable}) overlaps ${q}`);
    }
    for (const [p, b] of sorted) verify(p, b, false, what);
    // A remote free into a page of the full queue waits on the owner's delayed
    // list until its next slow path, so stats may still count it here (see
    // alloc.test.ts / thread.test.ts for that); they never miss a live block.
    const used = rt.stats().totals.blocksUsed;
    if (used < live.size) expect.fail(`${what}: stats count ${used} blocks, ${live.size} are live`);
    if (!visits) return;
    threads.forEach((t) => t.collect());   // drains delayed frees: now exact
    threads.forEach((t) => t.validate());  // the core's validators: heaps, pages, segments, units, lists, slots
    expect(rt.stats().totals.blocksUsed, `${what}: stats blocksUsed after collect`).toBe(live.size);
    threads.forEach((t, owner) => {
      const tags = new Set([0, ...[...live.values()].filter((b) => b.owner === owner).map((b) => b.tag)]);
      for (const tg of tags) {
        const seen: number[] = [];
        t.visitBlocks(tg, (p) => seen.push(p));
        const want = sorted.filter(([, b]) => b.owner === owner && b.tag === tg).map(([p]) => p);
        expect(seen.sort((a, b) => a - b), `${what}: thread ${owner} tag ${tg} visit`).toEqual(want);
      }
    });
  };

  // The GC tags (2, 3) are zeroed on allocation by default (d.gc.zeroOnAlloc).
  const zeroedTag = (tag: number) => tag === 2 || tag === 3;
  actions.forEach((a, step) => {
    const t = threads[a.th];
    const what = `step ${step} ${JSON.stringify(a)}`;
    switch (a.k) {
      case 'alloc':
        add(t.alloc(a.size, a.tag), { size: a.size, align: 1, tag: a.tag, owner: a.th }, what, zeroedTag(a.tag) ? 'zero' : 'pattern');
        break;
      case 'calloc':
        add(t.calloc(a.count, a.size, a.tag), { size: a.count * a.size, align: 1, tag: a.tag, owner: a.th }, what, 'zero');
        break;
      case 'aligned': {
        const align = 2 ** a.alignLog;
        add(t.alignedAlloc(align, a.size, a.tag), { size: a.size, align, tag: a.tag, owner: a.th }, what, zeroedTag(a.tag) ? 'zero' : 'pattern');
        break;
      }
      case 'realloc': {
        if (order.length === 0) {
          add(t.realloc(0, a.size), { size: a.size, align: 1, tag: 0, owner: a.th }, what, 'keep');
          break;
        }
        const p = order[a.pick % order.length];
        const b = live.get(p)!;
        verify(p, b, true, what);
        const q = t.realloc(p, a.size);
        const kept = Math.min(b.size, a.size);
        expect(checkPattern(mem(), q, kept, b.seed), `${what}: realloc ${p} -> ${q} kept ${kept} bytes`).toBe(-1);
        remove(p);
        add(q, { size: a.size, align: 1, tag: b.tag, owner: q === p ? b.owner : a.th }, what, 'keep');
        break;
      }
      case 'free': {
        if (order.length === 0) break;
        const p = order[a.pick % order.length];
        verify(p, live.get(p)!, true, what);
        t.free(p);
        remove(p);
        break;
      }
    }
    checkAll(step, step % 10 === 9);
  });
  checkAll(actions.length, true);

  for (const [p, b] of [...live]) {
    verify(p, b, true, 'final');
    threads[p % 3 === 0 ? 1 : 0].free(p);
  }
  threads.forEach((t) => t.collect(true));
  expectBalanced(rt, { blocksUsed: 0, bytesUsed: 0, hugeBlocks: 0 });
  threads.forEach((t) => t.exit());
  expectBalanced(rt, { threadsLive: 0 });
}

describe('model: random action lists against a model of the live blocks', () => {
  it('release build', async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 200, size: 'max' }), (actions) => run(actions, false)),
      { seed: 424242, numRuns: 200 });
  });

  it('debug build', async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 200, size: 'max' }), (actions) => run(actions, true)),
      { seed: 737373, numRuns: 50 });
  });
});
