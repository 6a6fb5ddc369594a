// review-rf2.test.ts — reproducers from the second adversarial review of batched
// remote frees (assembly/remote-free.ts, commit e32569a: one run slot per thread,
// opt-in per instance). Debug build, real workers on one shared memory; pause
// points force the interleavings. Each test says what it forces and what correct
// code must do.
import { describe, expect, it } from 'vitest';
import { DP_REVIEW_FREE_MT_PUSHED, DP_RF_SEARCH_GAP, RF_BLOCK_MAX, RF_RUN_MIN } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { batchingWorkers, expectHandedOutOnce, pageOf, used } from './fixtures/remote-free.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const T_RF_COUNT = 432;   // assembly/layout.ts: the thread record's run length / flush mark
const T_REAPED = 256;     // assembly/layout.ts: 1 reaped, 2 (REAP_RELEASING) while a reap releases the record

describe('second review of batched remote frees', () => {
  // Forced: worker W (batching on) frees a run into main's page with the raw
  // ft_free; p is chained in W's slot (the call returned OK long ago). Worker V
  // frees p a second time and pauses inside the double-free search between its
  // two halves (DP_RF_SEARCH_GAP). Meanwhile W flushes at a checkpoint: p moves
  // from W's slot to the page's xthreadFree and the slot is emptied. Correct:
  // EDOUBLE_FREE (p is free throughout, and findable at every moment). At
  // e32569a the page's lists are searched before the slots: V saw p in neither
  // (lists before the push, slot after the emptying), pushed it again, and p is
  // on xthreadFree twice (a self-link): handed out twice.
  it('a double free whose search spans the first freer\'s flush is EDOUBLE_FREE', async () => {
    const { rt, t, peers: [w, v] } = await batchingWorkers(2);
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from(t.allocMany(8, 64));       // one page
    const p = ps[3];
    const run = [ps[0], ps[1], ps[2], p];
    expect(RF_RUN_MIN).toBeLessThan(run.length - 1);  // p is chained, not published
    expect(await w.call('rawFree', 0, run)).toEqual(run.map(() => 0));
    await v.call('pauseAt', DP_RF_SEARCH_GAP, f.addr, 1);
    let settled = false;
    const second = v.call<number[]>('rawFree', 0, [p]).finally(() => { settled = true; });
    second.catch(() => {});
    // Code that searches the slots first finds p there at once (no pause); else V waits in the gap.
    await until(() => f.paused() || settled, 10_000, 'V in the search gap, or done');
    await w.call('checkpoint', 0);                     // the flush: p onto xthreadFree, slot emptied
    f.release();
    const codes = await within(second, 10_000, 'the second free');
    expect(codes[0], 'the second free of p').not.toBe(0);
    expectHandedOutOnce(t, 64, 64);
  }, TEST_TIMEOUT);

  // Forced: W (batching on) frees main's big blocks (> RF_BLOCK_MAX: published at
  // once) into one page record; each still advanced W's run count, with no bound.
  // The test stores the count 2^32 - 4 such frees leave (the poke stands for them:
  // under a minute of a free-only loop; with the fix the count never gets there,
  // so the poke only marks where the last, real, big free starts), W frees one more,
  // then main empties the page and makes a page of small blocks at the same record,
  // and W frees one of those: the count reaches RF_FLUSHING (the flush mark of that code), the block is chained
  // and the 64-limit flush, taking the slot for one its thread died in, drops the
  // chain. Correct: the block is published (counted free after W's checkpoint). At
  // e32569a it is lost: counted live for good, its page never empties.
  it('big-block frees do not run the count into the flush mark (no block lost)', async () => {
    const { rt, t, peers: [w] } = await batchingWorkers(1);
    const wid = await w.call<number>('id', 0);
    const count = () => new Uint32Array(rt.memory.buffer, wid + T_RF_COUNT, 1);
    const big = Array.from(t.allocMany(4, 2 * RF_BLOCK_MAX));   // one page of big blocks
    const record = pageOf(rt, big[0])?.key;
    expect(await w.call('rawFree', 0, [big[0]])).toEqual([0]);   // W's run is in that page now
    count()[0] = 0xFFFFFFFD;
    expect(await w.call('rawFree', 0, [big[1]])).toEqual([0]);
    t.free(big[2]);
    t.free(big[3]);
    t.collect(true);                                   // the page is empty and given back
    const small = Array.from(t.allocMany(8, 48));
    expect(pageOf(rt, small[0])?.key, 'precondition: the small blocks\' page reuses the record').toBe(record);
    const before = used(t);
    expect(await w.call('rawFree', 0, [small[0]])).toEqual([0]);
    await w.call('checkpoint', 0);
    expect(used(t), 'the small block is published').toBe(before - 1);
    t.freeMany(small.slice(1));
    t.collect(true);
    expect(used(t), 'every block of main\'s came back').toBe(0);
  }, TEST_TIMEOUT);

  // Forced: worker D (batching on) chains blocks of a page of worker O's that is
  // in O's full queue (DELAY_USE), and is terminated with the chain pending.
  // Worker R reaps D: acting as D (current = D's record, already EXITED), its
  // flush sends the chain's head the delayed way and pauses holding FREEING on the
  // page (DP_REVIEW_FREE_MT_PUSHED), its claim published in D's record. O exits:
  // abandoning its heap it waits in pageSetDelayed for FREEING to end. Correct: O
  // waits until R's push is done (a live thread holds FREEING), and every block
  // comes back. At e32569a O's wait sees the claim in an EXITED record, takes it
  // for one a dead freer left, and clears FREEING; R then puts the block on the
  // delayed list of O's abandoned heap, which nobody reads again: the block is
  // lost (counted live for good, its segment never freed).
  it('a reap pushing a dead thread\'s chain the delayed way holds FREEING until its push is done', async () => {
    const { rt, t, peers: [o, d, r] } = await batchingWorkers(3, [1]);
    const f = pauseFlag(rt, t.alloc(8));
    const did = await d.call<number>('id', 0);
    // Two pages of one bin (32 blocks of 1 KiB each), both full: the first is in the full queue.
    const ps = await o.call<number[]>('allocMany', 0, 64, 1000);
    const q = ps[0];
    const first = ps.slice(3, 3 + RF_RUN_MIN);
    expect(await d.call('rawFree', 0, [...first, ps[2], q])).toEqual([...first, 0, 0].map(() => 0));
    const refill = await o.call<number[]>('allocMany', 0, RF_RUN_MIN + 1, 1000);
    expect(pageOf(rt, q)?.page.full, 'precondition: q\'s page is in the full queue').toBe(true);
    await d.terminate();
    await r.call('pauseAt', DP_REVIEW_FREE_MT_PUSHED, f.addr, 1);
    const reaping = r.call('reapIn', 0, did);
    reaping.catch(() => {});
    await until(f.paused, 10_000, 'the reap holds FREEING on q\'s page');
    let exited = false;
    const exiting = o.call('exit', 0).finally(() => { exited = true; });
    exiting.catch(() => {});
    await new Promise((res) => setTimeout(res, 300));   // O's exit waits out FREEING, or (the defect) clears it
    const exitedEarly = exited;
    f.release();
    await within(reaping, 10_000, 'the reap');
    await within(exiting, 10_000, 'O\'s exit');
    expect(exitedEarly, 'O waited for the reaper\'s push').toBe(false);
    // Every block of O's that is still live, freed by main after it takes the pool.
    t.reclaimAbandoned();
    const gone = new Set([...first, ps[2], q]);
    const live = [...ps.filter((p) => !gone.has(p) || first.includes(p)), ...refill];
    // The refill took first's blocks back (and one more): they are live again, listed once.
    t.freeMany([...new Set(live)]);
    t.free(f.addr);
    t.collect(true);
    // (The statistics subtract blocks on any heap's delayed list: the page's own count tells.)
    const busy = rt.heapMap().segments.flatMap((sg) => (sg.pages ?? []).filter((pg) => !pg.free && pg.used > 0)
      .map((pg) => ({ seg: sg.address, slice: pg.slice, used: pg.used, q: q >= sg.address + pg.slice * 32768 && q < sg.address + (pg.slice + pg.slices) * 32768 })));
    expect(busy, 'no page keeps a lost block').toEqual([]);
  }, TEST_TIMEOUT);

  // Left open by that review, forced here: the same reap, but R's worker is
  // terminated while it holds FREEING on q's page, its claim in D's record
  // (REAP_RELEASING). O exits and waits in pageSetDelayed. Main reaps R's
  // instance, as the facade does when a worker dies. Correct: R's death voids
  // its claim (lifecycle.ts reapsReleaseDead: R's instance was stamped as D's
  // reaper), O's wait ends and the runtime stays usable. Before: D's record
  // stayed REAP_RELEASING for good, its claim counted as live, and O waited for ever.
  it('a reaper killed while it holds FREEING for the dead thread: reaping its instance ends the page owner\'s wait', async () => {
    const { rt, t, peers: [o, d, r] } = await batchingWorkers(3, [1]);
    const f = pauseFlag(rt, t.alloc(8));
    const did = await d.call<number>('id', 0);
    const rInstance = await r.call<number>('instance');
    const ps = await o.call<number[]>('allocMany', 0, 64, 1000);
    const q = ps[0];
    const first = ps.slice(3, 3 + RF_RUN_MIN);
    expect(await d.call('rawFree', 0, [...first, ps[2], q])).toEqual([...first, 0, 0].map(() => 0));
    await o.call<number[]>('allocMany', 0, RF_RUN_MIN + 1, 1000);
    expect(pageOf(rt, q)?.page.full, 'precondition: q\'s page is in the full queue').toBe(true);
    await d.terminate();
    await r.call('pauseAt', DP_REVIEW_FREE_MT_PUSHED, f.addr, 1);
    r.call('reapIn', 0, did).catch(() => {});
    await until(f.paused, 10_000, 'the reap holds FREEING on q\'s page');
    const reaped = () => Atomics.load(new Uint32Array(rt.memory.buffer, did + T_REAPED, 1), 0);
    expect(reaped(), 'D\'s record is being released').toBe(2);
    let exited = false;
    const exiting = o.call('exit', 0).finally(() => { exited = true; });
    exiting.catch(() => {});
    await r.terminate();
    await new Promise((res) => setTimeout(res, 300));
    expect(exited, 'O waits while R\'s death is not known').toBe(false);
    reapInstance(rt, rInstance);
    await within(exiting, 10_000, 'O\'s exit once R\'s instance is reaped');
    expect(reaped(), 'D\'s record reads as reaped').toBe(1);
    // Still usable: main allocates and frees across the heap O left.
    const more = t.allocMany(200, 1000);
    t.freeMany(more);
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
