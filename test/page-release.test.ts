// page-release.test.ts — pages emptied by other threads' frees go back when their
// owner next looks for a page of that size (assembly/alloc.ts findPage): of the empty
// pages met on the way, the first stays as a spare, taken only when no page in use
// has room; every further one is released at once. Before, the owner took the first
// empty page and kept the others, so a thread whose blocks another thread freed kept
// its highest count of pages until it exited (xmalloc-test's producers). A heap of a
// held tag (its empty pages wait in the queue for a QSBR goal) takes the first empty
// page as before: releasing one there frees nothing yet, and walking past them on every
// slow path made refilling N of them O(N^2), each walk holding every page anew.
import { describe, expect, it } from 'vitest';
import { useHarness } from './fixtures/harness.ts';
import { batchingWorkers, pageOf, used } from './fixtures/remote-free.ts';

useHarness();

const SLICE = 32768;          // assembly/layout.ts SLICE_SIZE: a small page is one slice
const SIZE = 64;
const PER_PAGE = SLICE / SIZE; // at most this many 64 B blocks in a page

/** Main's thread and a worker that frees through the facade (no batching: published at once). */
async function setup() {
  const { rt, t, peers: [w] } = await batchingWorkers(1, []);
  const remoteFree = async (ps: ArrayLike<number>) => { await w.call('freeManyBatch', 0, Array.from(ps)); };
  /** Keys (as pageOf names them) of the live pages of 64 B blocks. */
  const pagesOfSize = () => rt.heapMap().segments.flatMap((s) => (s.pages ?? [])
    .filter((p) => !p.free && p.blockSize === SIZE).map((p) => `${s.address}:${p.slice}`));
  return { rt, t, remoteFree, pagesOfSize };
}

describe('pages emptied by remote frees', () => {
  it('the owner keeps one of them as a spare and releases the rest at its next slow path of the size', async () => {
    const { rt, t, remoteFree, pagesOfSize } = await setup();
    const before = rt.stats().memory.committed;
    const ps = t.allocMany(4 * PER_PAGE, SIZE);
    const pages = new Set(Array.from(ps, (p) => pageOf(rt, p)!.key));
    expect(pages.size).toBeGreaterThanOrEqual(4);
    const held = rt.stats().memory.committed - before;
    expect(held).toBeGreaterThanOrEqual(4 * PER_PAGE * SIZE - SLICE);

    await remoteFree(ps);
    expect(used(t)).toBe(0);
    // The owner has not looked yet: the pages are still its own, counted committed.
    expect(rt.stats().memory.committed - before).toBe(held);

    const p = t.alloc(SIZE);       // the queue's pages are all spent: the slow path walks them
    const left = pagesOfSize();
    expect(left.length, 'one page kept, the one the block came from').toBe(1);
    expect(pageOf(rt, p)!.key).toBe(left[0]);
    // At least the three other pages' blocks are no longer committed.
    expect(held - (rt.stats().memory.committed - before)).toBeGreaterThanOrEqual(3 * PER_PAGE * SIZE);
    t.free(p);
    t.validate();
  });

  it('a page in use with room is taken before the empty spare, and the spare is not churned', async () => {
    const { rt, t, remoteFree, pagesOfSize } = await setup();
    const ps = Array.from(t.allocMany(3 * PER_PAGE, SIZE));
    const byPage = new Map<string, number[]>();
    for (const p of ps) {
      const k = pageOf(rt, p)!.key;
      byPage.set(k, [...(byPage.get(k) ?? []), p]);
    }
    const keys = [...byPage.keys()];
    expect(keys.length).toBeGreaterThanOrEqual(3);
    // Every page is emptied but the first, where one block stays live: it has room and is in use.
    const keep = byPage.get(keys[0])![0];
    await remoteFree(ps.filter((p) => p !== keep));
    const p = t.alloc(SIZE);
    expect(pageOf(rt, p)!.key, 'the block comes from the page in use').toBe(keys[0]);
    // The page in use and one empty spare remain; the other emptied pages were released.
    expect(pagesOfSize().length).toBe(2);
    t.free(p);
    t.free(keep);
    t.validate();
  });
});

describe('pages emptied by remote frees in a held heap', () => {
  async function heldSetup(debug: boolean, limits: { pageBytesLimit?: number } = {}) {
    const { rt, t, peers: [w] } = await batchingWorkers(1, [], debug);
    rt.domain().configureQsbr({ heldTags: [0, 1, 2, 3], ...limits });   // MEM pages held too
    return { rt, t, w };
  }
  const BIG = 4096, BIG_PER_PAGE = SLICE / BIG;   // 8 blocks a page: many pages

  it('refilling them issues no QSBR goals (the walk does not hold the pages it passes)', async () => {
    const { rt, t, w } = await heldSetup(false);
    const ps = t.allocMany(200 * BIG_PER_PAGE, BIG);
    await w.call('freeManyBatch', 0, Array.from(ps));
    const before = rt.domain().qsbrInfo();
    const again = t.allocMany(200 * BIG_PER_PAGE, BIG);
    const after = rt.domain().qsbrInfo();
    // Walking past the 200 held pages on every slow path held each anew: 133 goals here.
    expect(after.wrSeq - before.wrSeq).toBeLessThanOrEqual(2);
    expect(after.pagesHeld).toBe(0);
    t.freeMany(again);
  });

  it('debug build: emptied remotely, refilled, partly freed again, round after round: validators hold, no block twice', async () => {
    const { t, w } = await heldSetup(true, { pageBytesLimit: 0 });   // every hold advances
    let live: number[] = [];
    for (let round = 0; round < 6; round++) {
      const ps = Array.from(t.allocMany(40 * BIG_PER_PAGE, BIG));
      const all = [...live, ...ps];
      expect(new Set(all).size).toBe(all.length);
      // This round's blocks freed remotely but one in every third page; the last round's locally.
      const keep = ps.filter((_, i) => i % (3 * BIG_PER_PAGE) === 0);
      await w.call('freeManyBatch', 0, ps.filter((p) => !keep.includes(p)));
      t.freeMany(live);
      live = keep;
      if (round % 2 === 1) t.qsbr.quiescent();
      t.validate();
    }
    t.freeMany(live);
    t.validate();
  }, 60_000);
});
