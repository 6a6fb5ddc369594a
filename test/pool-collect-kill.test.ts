// pool-collect-kill.test.ts — a worker killed while it works on the domain's
// abandoned pool, at the instructions where a kill used to lose memory for good
// (debug build, real workers on the shared memory, pause points of debug-delay.ts):
//
// - taking a pooled page's remote frees (page.ts pageCollectRemote, DP_COLLECT_WALK).
//   Correct: the list is walked before it is taken, so a kill in the walk leaves it
//   on the page. Before: it was taken first and walked after; the blocks were in no
//   list, the page never emptied, and its 4 MiB unit stayed live for good.
// - freeing an emptied pooled page that is not its segment's last (abandon.ts
//   pooledPageFree → page.ts pageSlicesFree, DP_PAGE_DECOMMITTED; segment.ts segmentPageFree,
//   DP_SEGMENT_PAGE_FREEING). Correct: the page stops being live in the same breath
//   as its bytes are counted off, and the domain names the segment being collected
//   (D_ABANDON_WORKING), so the next holder re-tiles it and recounts its pages.
//   Before: killed between the two, the page was freed (and counted off) again;
//   killed inside segmentPageFree, the segment's page count stayed one high (the
//   unit never went back; a debug build asserted A_SEGMENT).
// - adopting a pooled segment (abandon.ts abandonedReclaim, DP_ADOPT_TAKEN).
//   Correct: the thread names the segment it took (T_ADOPTING) until it is on its
//   list, and its reap puts it there, to be pooled again. Before: the segment was in
//   no pool and no list.
import { describe, expect, it } from 'vitest';
import { AI_SEGMENTS, DP_ADOPT_TAKEN, DP_COLLECT_WALK, DP_DELAYED_DRAIN, DP_DELAYED_DRAINED, DP_PAGE_DECOMMITTED,
  DP_DISCARD_SEG, DP_HUGE_ALLOCED, DP_HUGE_CLAIMED, DP_PAGE_TO_FULL_MID, DP_UNIT_RELEASING, DP_SEGMENT_ALLOCED, DP_SEGMENT_COLLECT, DP_SEGMENT_UNLISTED, DP_SEGMENT_PAGE_FREEING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { until } from './fixtures/harness.ts';
import type { Peer } from './fixtures/harness.ts';
import type { Thread } from '../src/index.ts';

useHarness();

/** `x` attaches, allocates a block of each size (one page per size class), exits: its segment is pooled. */
async function abandonBlocks(x: Peer, sizes: number[], domain = 0): Promise<number[]> {
  await x.call('attach', domain);
  const blocks: number[] = [];
  for (const size of sizes) blocks.push(await x.call<number>('alloc', 0, size));
  await x.call('exit', 0);
  return blocks;
}

/**
 * The rig with one peer `w`, attached. `prepare` does what the case needs and
 * returns the operation `w` is killed in, at `point`; `after` runs once `w` is
 * reaped. Then one collection of the pool, and the runtime's units and committed
 * bytes must be back where they were before `w` did anything, every block freed
 * once, and the validators pass.
 */
async function killOne(point: number, what: string,
    prepare: (w: Peer, t: Thread) => Promise<() => Promise<unknown>>, after?: (t: Thread) => void) {
  const { rt, t, f, peers: [w] } = await killRig(1);
  const units0 = rt.stats().segments.unitsLive;
  const committed0 = rt.stats().memory.committed;
  await w.call('attach');
  const op = await prepare(w, t);
  const instance = await killAt(w, f, point, what, op);
  expect(reapInstance(rt, instance).length).toBe(1);
  after?.(t);
  rt.domain().collectAbandoned();
  expect(rt.stats().segments.unitsLive, 'the units went back to the runtime').toBe(units0);
  expect(rt.stats().memory.committed, 'every committed byte counted off once').toBe(committed0);
  t.validate();
  t.free(f.addr);
}

/**
 * The rig, `x`'s segment pooled with `sizes` blocks which the main thread then
 * frees (remote frees into the pooled pages), and a collector `w` killed at
 * `point`. Checks that after the reap one collection gives back the unit and
 * every committed byte, and that the main thread's heap is whole.
 */
async function killCollector(sizes: number[], point: number, what: string) {
  const { rt, t, f, peers: [x, w] } = await killRig(2);
  const d = rt.domain();
  const units0 = rt.stats().segments.unitsLive;
  const committed0 = rt.stats().memory.committed;
  const blocks = await abandonBlocks(x, sizes);
  expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0).toBe(1);
  for (const b of blocks) t.free(b);
  await w.call('attach');
  const instance = await killAt(w, f, point, what, () => w.call('collectAbandoned'));
  expect(reapInstance(rt, instance).length).toBe(1);
  d.collectAbandoned();
  expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0, 'the pool is empty').toBe(0);
  expect(rt.stats().segments.unitsLive, 'the unit went back to the runtime').toBe(units0);
  expect(rt.stats().memory.committed, 'every committed byte counted off once').toBe(committed0);
  t.validate();
  t.free(f.addr);
}

describe('a pool collector killed while it takes a page\'s remote frees', () => {
  it('leaves them on the page; the next collection empties it and gives the unit back', async () => {
    await killCollector([64, 64, 64], DP_COLLECT_WALK, 'walking the remote-free list of a pooled page');
  }, 60_000);
});

describe('a pool collector killed freeing an emptied page that is not its segment\'s last', () => {
  it('after counting it off: the page is not freed a second time', async () => {
    await killCollector([64, 1024], DP_PAGE_DECOMMITTED, 'a pooled page counted off, its slices not yet free');
  }, 60_000);

  it('inside the slices\' free: the next holder recounts the segment, and its unit goes back', async () => {
    await killCollector([64, 1024], DP_SEGMENT_PAGE_FREEING, 'a pooled page\'s slices a free span, the page count not yet lowered');
  }, 60_000);
});

describe('a thread killed adopting a pooled segment', () => {
  it('has the segment pooled again by its reap', async () => {
    const { rt, t, f, peers: [x, w] } = await killRig(2);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const [b] = await abandonBlocks(x, [64]);
    expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0).toBe(1);
    await w.call('attach');
    const instance = await killAt(w, f, DP_ADOPT_TAKEN, 'a segment taken out of the pool, not yet adopted',
      () => w.call('alloc', 0, 64),
      () => expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0, 'out of the pool').toBe(0));
    expect(reapInstance(rt, instance).length).toBe(1);
    expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0, 'pooled again by the reap').toBe(1);
    t.free(b);
    d.collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the unit went back to the runtime').toBe(units0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

/**
 * `w` (the rig's only peer) owns pages in its full queue whose blocks the main
 * thread frees: the first remote free into each goes on `w`'s heap's delayed
 * list. `w` is killed at `point` while its collection frees that list. After the
 * reap every page must empty and the unit go back, each block freed once.
 */
async function killDrain(point: number, what: string) {
  await killOne(point, what, async (w, t) => {
    const blocks = await w.call<number[]>('allocMany', 0, 1600, 64);   // 512 to a page: three pages fill
    for (const b of blocks) t.free(b);
    return () => w.call('collect', 0);
  });
}

describe('a thread killed while it frees the blocks of its heap\'s delayed list', () => {
  for (const [title, point, what] of [
    ['before a block\'s free: its reap frees that block and the rest of the list', DP_DELAYED_DRAIN, 'a block taken off the delayed list, not yet freed'],
    ['after a block\'s free: its reap does not free that block again', DP_DELAYED_DRAINED, 'a block of the delayed list freed, still named'],
  ] as const) {
    it(title, async () => { await killDrain(point, what); }, 60_000);
  }
});

/**
 * A collector killed inside a pooled segment, then — before any collection — a
 * thread adopts that segment (t.reclaimAbandoned(); an allocation's slow path does
 * the same). The taking repairs it first (review of 6f8bf5a): before, the adopter
 * got a segment whose page count was one high, and a later collection "repaired"
 * a segment a live thread owned.
 */
async function adoptBeforeRepair(point: number, what: string) {
  const { rt, t, f, peers: [x, w, y] } = await killRig(3);
  const d = rt.domain();
  const units0 = rt.stats().segments.unitsLive;
  const [a, b, c] = await abandonBlocks(x, [64, 1024, 2048]);
  t.free(a);   // its page empties: the collector frees it (not the segment's last)
  await w.call('attach');
  const instance = await killAt(w, f, point, what, () => w.call('collectAbandoned'));
  expect(reapInstance(rt, instance).length).toBe(1);
  expect(t.reclaimAbandoned(), 'adopted').toBe(1);
  t.validate();                              // the adopted segment is whole
  await abandonBlocks(y, [64]);              // the pool is not empty again: a collection runs
  d.collectAbandoned();                      // and touches only pooled segments
  t.validate();
  t.free(b);
  t.free(c);
  t.collect(true);
  d.collectAbandoned();
  expect(rt.stats().segments.unitsLive, 'x\'s unit went back (y\'s holds a live block)').toBe(units0 + 1);
  t.free(f.addr);
}

describe('a segment whose collector was killed, adopted before any collection', () => {
  for (const [title, point, what] of [
    ['killed inside the slices\' free: the adopter gets it repaired', DP_SEGMENT_PAGE_FREEING, 'a pooled page\'s slices a free span, the page count not yet lowered'],
    ['killed after counting the page off: the adopter gets it repaired', DP_PAGE_DECOMMITTED, 'a pooled page counted off, its slices not yet free'],
  ] as const) {
    it(title, async () => { await adoptBeforeRepair(point, what); }, 60_000);
  }
});

/**
 * The owner's twins (review of 6f8bf5a): `w` frees its only block, a medium
 * page's (freed at once when it empties, and with it the segment), and is killed
 * at `point`. After the reap the unit must go back and every byte be counted off once.
 */
async function killOwnerFree(point: number, what: string) {
  await killOne(point, what, async (w) => {
    const b = await w.call<number>('alloc', 0, 16384);
    return () => w.call('free', 0, b);
  });
}

describe('an owner killed freeing its own page or segment', () => {
  it('its page counted off, its slices not yet free: not counted off again', async () => {
    await killOwnerFree(DP_PAGE_DECOMMITTED, 'a page out of its queue, counted off');
  }, 60_000);

  it('its last page freed, the segment not yet given back: its pool gives it back', async () => {
    await killOwnerFree(DP_SEGMENT_PAGE_FREEING, 'the last page\'s slices a free span, the page count not yet lowered');
  }, 60_000);

  it('its segment off its list, the unit not yet free: its reap frees it', async () => {
    await killOwnerFree(DP_SEGMENT_UNLISTED, 'a segment off its owner\'s list');
  }, 60_000);

  it('control: the same without a kill', async () => {
    const { rt, t, f, peers: [w] } = await killRig(1);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await w.call('attach');
    const b = await w.call<number>('alloc', 0, 16384);
    await w.call('free', 0, b);
    await w.call('exit', 0);
    d.collectAbandoned();
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(rt.stats().memory.committed).toBe(committed0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

const codeOf = (fn: () => unknown): string => {
  try { fn(); return 'OK'; } catch (e) { return (e as { code?: string }).code ?? String(e); }
};

describe('a block of a delayed list its owner is freeing, freed again by another thread (review of f67af8a)', () => {
  // 1 KiB blocks, 32 to a page: the first pages go to w's full queue. x and y, on two
  // of them, go on w's heap's delayed list (y, then x). w pauses freeing y (named in
  // T_DRAIN_BLOCK), x on T_DRAIN_LIST: before, the search looked at the heap's list
  // only, so a second free of either was taken (and, killed there, the reap then
  // freed the corrupted rest of the list: out of bounds).
  async function drainPaused() {
    const rig = await killRig(1);
    const { t, peers: [w] } = rig;
    await w.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 100, 1024);
    const x = blocks[5], y = blocks[40];
    t.free(x);
    t.free(y);
    expect(codeOf(() => t.free(x)), 'on the heap\'s list: caught').toBe('EDOUBLE_FREE');
    return { ...rig, w, blocks, x, y };
  }

  it('killed there: both second frees are EDOUBLE_FREE, and the reap frees each block once', async () => {
    const { rt, t, f, w, blocks, x, y } = await drainPaused();
    const units0 = rt.stats().segments.unitsLive - 1;
    const codes: string[] = [];
    const instance = await killAt(w, f, DP_DELAYED_DRAIN, 'freeing y, x still on the taken list',
      () => w.call('collect', 0),
      () => { codes.push(codeOf(() => t.free(x)), codeOf(() => t.free(y))); });
    expect(codes).toEqual(['EDOUBLE_FREE', 'EDOUBLE_FREE']);
    expect(reapInstance(rt, instance).length).toBe(1);
    for (const b of blocks) if (b !== x && b !== y) t.free(b);
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'every block freed once: the unit went back').toBe(units0);
    t.validate();
    t.free(f.addr);
  }, 60_000);

  it('resumed: the second free is EDOUBLE_FREE and the owner\'s heap stays whole', async () => {
    const { t, f, w, blocks, x, y } = await drainPaused();
    await w.call('pauseAt', DP_DELAYED_DRAIN, f.addr, 1);
    const done = w.call('collect', 0);
    await until(f.paused, 10_000, 'the owner freeing its delayed list');
    const code = codeOf(() => t.free(x));
    f.release();
    await done;
    expect(code).toBe('EDOUBLE_FREE');
    await w.call('validate', 0);
    const again = await w.call<number[]>('allocMany', 0, 80, 1024);
    const live = [...blocks.filter((b) => b !== x && b !== y), ...again];
    expect(new Set(live).size, 'no block handed out twice').toBe(live.length);
    t.free(f.addr);
  }, 60_000);
});

describe('a pooled segment with no page whose collector is killed entering it (review of 565105a)', () => {
  it('the next holder repairs it and gives it back', async () => {
    const { rt, t, f, peers: [w, c] } = await killRig(2);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await w.call('attach');
    const b = await w.call<number>('alloc', 0, 16384);
    const i1 = await killAt(w, f, DP_SEGMENT_PAGE_FREEING, 'its last page freed', () => w.call('free', 0, b));
    expect(reapInstance(rt, i1).length).toBe(1);
    expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0, 'pooled with no page').toBe(1);
    f.reset();
    await c.call('attach');
    const i2 = await killAt(c, f, DP_SEGMENT_COLLECT, 'the collection entering it', () => c.call('collectAbandoned'));
    expect(reapInstance(rt, i2).length).toBe(1);
    d.collectAbandoned();
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(rt.stats().memory.committed).toBe(committed0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

describe('a thread killed taking a fresh segment (review of 565105a)', () => {
  it('its reap gives the unit back and counts its header off', async () => {
    await killOne(DP_SEGMENT_ALLOCED, 'a unit taken and counted, not yet on the thread\'s list',
      async (w) => () => w.call('alloc', 0, 64));
  }, 60_000);
});

describe('a thread killed making a huge block', () => {
  it('its reap gives the units back and counts the block\'s bytes off', async () => {
    await killOne(DP_HUGE_ALLOCED, 'huge units taken and counted, the block not yet made',
      async (w) => () => w.call('alloc', 0, 5 << 20),
      (t) => t.free(t.alloc(9 << 20)));   // the units serve again
  }, 60_000);
});

describe('a thread killed freeing a huge block', () => {
  async function killHugeFree(point: number, what: string) {
    await killOne(point, what, async (w) => {
      const b = await w.call<number>('alloc', 0, 5 << 20);
      return () => w.call('free', 0, b);
    });
  }

  it('after claiming it: its reap gives the units back', async () => {
    await killHugeFree(DP_HUGE_CLAIMED, 'a huge block claimed, not yet given back');
  }, 60_000);

  it('after counting it off: its reap frees the units without counting them off again', async () => {
    await killHugeFree(DP_UNIT_RELEASING, 'a huge block counted off, its units not yet free');
  }, 60_000);
});

describe('an owner killed moving a full page between queues (review 3)', () => {
  // The page is in no queue when the reap collects the heaps; it is abandoned with
  // the rest of the segment and must stop taking remote frees through the dead
  // record's heap (DELAY_NEVER): before, still DELAY_USE, the next remote free went
  // on that heap's delayed list, the page never emptied and the unit stayed live.
  it('its page is abandoned like the others: freeing every block gives the unit back', async () => {
    let blocks: number[] = [];
    await killOne(DP_PAGE_TO_FULL_MID, 'a full page out of its bin\'s queue, not yet in the full queue',
      async (w) => {
        blocks = await w.call<number[]>('allocMany', 0, 32, 1024);   // one page, full
        return () => w.call('alloc', 0, 1024);
      },
      (t) => { for (const b of blocks) t.free(b); });
  }, 60_000);
});

describe('a thread killed closing a domain', () => {
  // The close takes each item off its list before giving it back (or names it), and
  // the closer's instance is named in the domain: its reap finishes the close.
  // Before, the rest of the closed domain's pool and held huge blocks were nobody's.
  it('half way through its pooled segments: its reap gives back the rest', async () => {
    const { rt, t, f, peers: [x, y, w] } = await killRig(3);
    const units0 = rt.stats().segments.unitsLive;
    const d2 = rt.createDomain();
    const tx = await x.call<number>('attach', d2.id);
    const ty = await y.call<number>('attach', d2.id);
    await x.call('alloc', tx, 64);
    await y.call('alloc', ty, 64);             // a segment each (neither could adopt the other's)
    await x.call('exit', tx);
    await y.call('exit', ty);
    expect(rt.stats().segments.unitsLive).toBe(units0 + 2);
    const instance = await killAt(w, f, DP_DISCARD_SEG, 'one pooled segment given back, the next not yet',
      () => w.call('closeDomain', d2.id));
    expect(rt.stats().segments.unitsLive).toBe(units0 + 1);
    reapInstance(rt, instance);
    expect(rt.stats().segments.unitsLive, 'the rest went back').toBe(units0);
    t.validate();
    t.free(f.addr);
  }, 60_000);

  it('in the sweep of its live huge blocks: its reap gives the segment back (review 5)', async () => {
    const { rt, t, f, peers: [x, w] } = await killRig(2);
    const units0 = rt.stats().segments.unitsLive;
    const d2 = rt.createDomain();
    const tx = await x.call<number>('attach', d2.id);
    await x.call('alloc', tx, 5 << 20);          // a live huge block (2 units), left to the close
    await x.call('exit', tx);
    const instance = await killAt(w, f, DP_UNIT_RELEASING, 'a live huge block claimed and counted off, its units not yet free',
      () => w.call('closeDomain', d2.id));
    reapInstance(rt, instance);
    expect(rt.stats().segments.unitsLive, 'the huge segment went back').toBe(units0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
