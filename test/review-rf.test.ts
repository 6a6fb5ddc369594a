// review-rf.test.ts — reproducers from the adversarial review of batched remote
// frees (assembly/remote-free.ts, commit c17e6a3). Debug build, real workers on
// one shared memory; pause points force the interleavings. Each test says what
// it forces and what correct code must do.
import { describe, expect, it } from 'vitest';
import { DP_REVIEW_FREE_MT_PUSHED, DP_RF_FLUSH_LINKED, DP_RF_SEARCH_HEAD, EDOUBLE_FREE, RF_RUN_MIN } from '../src/abi.gen.ts';
import type { Runtime, Thread } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { batchingWorkers, expectHandedOutOnce, flushPausedAt, fullPageChain, pageOf } from './fixtures/remote-free.ts';
import { codeOf, pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

/** Raw ft_free of each block as `t` (current on its instance): a remote one is batched. */
function rawFreeHere(rt: Runtime, t: Thread, ps: ArrayLike<number>): number[] {
  (t as unknown as { enter(): void }).enter();
  rt.exports.ft_remote_batching(1);
  return Array.from(ps, (p) => rt.exports.ft_free(p));
}

describe('review of batched remote frees', () => {
  // Defect 1. Forced: worker W frees p (owned by main's T) with the raw ft_free —
  // batched, the call returns OK — and later flushes at a checkpoint; the flush
  // pauses before the chain is pushed (DP_RF_FLUSH_LINKED; at c17e6a3 the slot
  // was emptied first). p is then on no list and in no table. The owner frees
  // p a second time (a sequential double free: W's free returned long ago).
  // Correct: EDOUBLE_FREE, heap untouched. At c17e6a3: OK, and once W's push
  // lands p is on both the local list and xthreadFree: handed out twice.
  it('a double free while the first freer flushes its chain is EDOUBLE_FREE', async () => {
    const { rt, t, peers: [w] } = await batchingWorkers(1);
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from(t.allocMany(8, 64));       // one page
    const p = ps[3];
    // A run into one page: the first RF_RUN_MIN go out at once, the rest are chained (p among them).
    const run = [ps[0], ps[1], ps[2], p];
    expect(RF_RUN_MIN).toBeLessThan(run.length - 1);
    expect(await w.call('rawFree', 0, run)).toEqual(run.map(() => 0));
    await w.call('pauseAt', DP_RF_FLUSH_LINKED, f.addr, 1);
    const flushing = w.call('checkpoint', 0);
    flushing.catch(() => {});
    await until(f.paused, 10_000, 'the flush emptied its slot');
    const code = codeOf(() => t.free(p));
    f.release();
    await within(flushing, 10_000, 'the flush');
    expect(code).toBe('EDOUBLE_FREE');
    expectHandedOutOnce(t, 64, 64);
  }, TEST_TIMEOUT);

  // Defect 1, the full-page branch. Forced: the owner's page is in its full queue
  // (DELAY_USE); W's flush sends the chain's first block the delayed way and
  // pauses after taking FREEING, before the block reaches the heap's delayed list
  // (DP_REVIEW_FREE_MT_PUSHED in pushOne). A third thread frees that block again.
  // Correct: EDOUBLE_FREE. At c17e6a3: OK (the block is on no list, its slot
  // emptied), and it is later freed twice.
  it('a double free of a full page\'s block while the flush sends it the delayed way is EDOUBLE_FREE', async () => {
    const { rt, t, peers: [w, v] } = await batchingWorkers(2);
    const f = pauseFlag(rt, t.alloc(8));
    // Two pages of one bin (32 blocks of 1 KiB each), both full: the first went to the full
    // queue when the second was taken.
    const ps = Array.from(t.allocMany(64, 1000));
    const q = ps[0];                                   // a block of a full page
    // A run into q's page: the first RF_RUN_MIN go out at once (the page leaves the full
    // queue), the rest form one chain with q its head.
    const first = ps.slice(3, 3 + RF_RUN_MIN);
    expect(await w.call('rawFree', 0, [...first, ps[2], q])).toEqual([...first, 0, 0].map(() => 0));
    // The owner takes the published blocks back and fills the page again: it is in the
    // full queue (DELAY_USE) when the chain is flushed.
    t.allocMany(RF_RUN_MIN + 1, 1000);
    expect(pageOf(rt, q)?.page.full, 'precondition: q\'s page is in the full queue').toBe(true);
    await w.call('pauseAt', DP_REVIEW_FREE_MT_PUSHED, f.addr, 1);
    const flushing = w.call('checkpoint', 0);
    flushing.catch(() => {});
    await until(f.paused, 10_000, 'the flush took FREEING for the chain\'s head');
    const codes = await v.call<number[]>('rawFree', 0, [q]);
    f.release();
    await within(flushing, 10_000, 'the flush');
    await v.call('checkpoint', 0);
    expect(codes[0]).not.toBe(0);                      // EDOUBLE_FREE
    expectHandedOutOnce(t, 400, 1000);
  }, TEST_TIMEOUT);

  // review-rf3 (kill-safe flush, da6ba6f). Forced: W's chain into a full page
  // (DELAY_USE) is c1 -> c0. A second freer S searches for c0 and pauses right
  // after reading W's slot head (c1, DP_RF_SEARCH_HEAD). W flushes: one block goes
  // the delayed way first, and W pauses before the CAS that pushes the rest
  // (DP_RF_FLUSH_LINKED). S walks on. Correct: EDOUBLE_FREE, nothing handed out
  // twice. At da6ba6f the delayed block was the head c1: its link rewritten to a
  // zero link, S's walk stopped at it, c0 was on no list, S's free returned OK and
  // pushed c0, and W's CAS then linked c0 to itself (a cycle; used went 67 -> 34).
  it('a second free of a pending block while the flush sends a full page\'s block the delayed way is EDOUBLE_FREE', async () => {
    const { rt, t, peers: [w, s] } = await batchingWorkers(2, [0]);
    const fSearch = pauseFlag(rt, t.alloc(8));
    const fFlush = pauseFlag(rt, t.alloc(8));
    const { chain } = await fullPageChain(rt, t, w, 2);   // head c1 -> c0
    await s.call('pauseAt', DP_RF_SEARCH_HEAD, fSearch.addr, 1);
    const second = s.call<number[]>('rawFree', 0, [chain[0]]);
    await until(fSearch.paused, 10_000, 'the search read the slot\'s head');
    const { flushing } = await flushPausedAt(w, DP_RF_FLUSH_LINKED, fFlush);   // one block sent, the rest linked
    fSearch.release();
    const codes = await within(second, 10_000, 'the second free');
    fFlush.release();
    await within(flushing, 10_000, 'the flush');
    expect(codes, 'c0 freed twice').toEqual([EDOUBLE_FREE]);
    expectHandedOutOnce(t, 400, 1000);
  }, TEST_TIMEOUT);

  // Defect 2. Forced: T frees blocks of worker W with the raw ft_free (batched in
  // T's table), W exits (its segment goes to the pool, the blocks still counted
  // live), then T walks the pool. Correct, as for ft_visit_begin: the walker's own
  // batched frees are published first, so they are not met as live (and freeing
  // what the walk lists does not fail). At c17e6a3: the blocks are listed, and
  // freeing them from the walk is EDOUBLE_FREE.
  it('walking the abandoned pool does not meet the walker\'s own batched frees', async () => {
    const { rt, t, peers: [w] } = await batchingWorkers(1, []);   // t is the freer here
    const ps = await w.call<number[]>('allocMany', 0, 10, 48);
    const keep = await w.call<number>('alloc', 0, 48);   // one live block: the page is pooled, not freed
    expect(rawFreeHere(rt, t, ps)).toEqual(ps.map(() => 0));
    await w.call('exit', 0);
    const met: number[] = [];
    t.visitAbandoned(0, (p) => { met.push(p); });
    expect(met.filter((p) => ps.includes(p))).toEqual([]);
    expect(met).toContain(keep);
    t.free(keep);
  }, TEST_TIMEOUT);
});
