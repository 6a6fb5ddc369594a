// share-pages.test.ts — page sharing (assembly/float.ts; Runtime.create({ sharePages:
// true })): a full page leaves its thread's heap and floats, and a thread that
// needs a page of its size class takes one that other threads freed blocks into,
// before it takes fresh memory. Real workers on one shared memory.
//
// - A consumer that freed a producer's blocks allocates from the producer's pages
//   (without sharing it takes a segment of its own: the producer's pages stay with
//   the producer, which is why producer/consumer peaks were twice the live bytes).
// - Every page finds its way home: borrowers exit, owners exit (their segments are
//   pooled with pages floating or lent), and the units and committed bytes go back.
// - A segment's owner freeing a block of its page lent to another thread frees it
//   as a remote free (free.ts routing): freed locally it pushed on the borrower's
//   local list while the borrower was taking that list (DP_PAGE_LOCAL_TAKEN): the
//   block was lost and the page's count broken (a debug build's validate fails).
// - A thread killed while it takes a floating page (DP_FLOAT_TAKEN: off the list,
//   not yet in its queue) has the page put back on the list by its reap
//   (float.ts floatReapFinish): before, the page was in no list and no queue, and
//   its segment could never go back. Killed floating a page (DP_FLOAT_MOVING) or
//   with the taken page queued (DP_FLOAT_QUEUED): nothing is lost either.
import { describe, expect, it } from 'vitest';
import { DP_FLOAT_MOVING, DP_FLOAT_QUEUED, DP_FLOAT_TAKEN, DP_PAGE_LOCAL_TAKEN } from '../src/abi.gen.ts';
import { reapInstance, Runtime } from '../src/index.ts';
import { Peer, until, useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();

const PAGE_BLOCKS = 512;   // 64 B blocks in a 32 KiB page
const segOf = (p: number) => Math.floor(p / (4 << 20));

describe('page sharing', () => {
  it.each([true, false])('sharePages %s: a consumer allocates from the pages of the producer whose blocks it freed', async (share) => {
    const rt = await Runtime.create({ sharePages: share, exactPeak: true });
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    const [a] = await Peer.startMany(rt, newCtl(), 1);
    await a.call('attach');
    // Four full pages (they float at the slow paths that follow them) and one block more.
    const made = await a.call<number[]>('allocMany', 0, 4 * PAGE_BLOCKS + 1, 64);
    const t = rt.attach();
    for (const p of made.slice(0, 4 * PAGE_BLOCKS)) t.free(p);
    const mine: number[] = [];
    for (let i = 0; i < 4 * PAGE_BLOCKS; i++) mine.push(t.alloc(64));
    const inProducers = mine.filter((p) => segOf(p) === segOf(made[0])).length;
    if (share) expect(inProducers, 'every block from the producer\'s pages').toBe(mine.length);
    else expect(inProducers, 'without sharing, none').toBe(0);
    expect(new Set(mine).size).toBe(mine.length);
    // Everything goes back: the consumer frees and exits (its lent page floats),
    // the producer frees its last block and collects (its pages come home, empty).
    for (const p of mine) t.free(p);
    t.exit();
    await a.call('free', 0, made[4 * PAGE_BLOCKS]);
    await a.call('collect', 0, true);
    await a.call('exit', 0);
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the units went back').toBe(units0);
    expect(rt.stats().memory.committed, 'every committed byte counted off').toBe(committed0);
    await a.terminate();
  }, 60_000);

  it('the owner exits first: its segment is pooled with pages floating and lent, and all of it goes back', async () => {
    const rt = await Runtime.create({ sharePages: true, exactPeak: true, debug: true });
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    const [a] = await Peer.startMany(rt, newCtl(), 1);
    await a.call('attach');
    const made = await a.call<number[]>('allocMany', 0, 6 * PAGE_BLOCKS + 1, 64);
    const t = rt.attach();
    for (const p of made.slice(0, 2 * PAGE_BLOCKS)) t.free(p);
    const mine: number[] = [];
    for (let i = 0; i < PAGE_BLOCKS + 10; i++) mine.push(t.alloc(64));   // two of its pages lent to t
    expect(mine.every((p) => segOf(p) === segOf(made[0]))).toBe(true);
    await a.call('exit', 0);                      // floating pages stay on the list, lent ones with t
    for (const p of made.slice(2 * PAGE_BLOCKS)) t.free(p);
    t.validate();
    for (const p of mine) t.free(p);
    t.exit();                                     // its lent pages float: their segment is pooled
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the unit went back').toBe(units0);
    expect(rt.stats().memory.committed, 'every committed byte counted off').toBe(committed0);
    await a.terminate();
  }, 60_000);

  it('a segment owner freeing a block of its page lent to another thread frees it remotely (debug validate)', async () => {
    const { t, f, peers: [a, b] } = await killRig(2, { sharePages: true });
    await a.call('attach');
    const made = await a.call<number[]>('allocMany', 0, PAGE_BLOCKS + 1, 64);   // page 1 floats at block 513
    for (const p of made.slice(0, PAGE_BLOCKS / 2)) t.free(p);
    await b.call('attach');
    // b takes page 1 and pauses in its collection, its local list just made the free list
    await b.call('pauseAt', DP_PAGE_LOCAL_TAKEN, f.addr, 1);
    const taking = b.call<number[]>('allocMany', 0, PAGE_BLOCKS / 2, 64);
    await until(f.paused, 10_000, 'b collecting page 1');
    await a.call('free', 0, made[PAGE_BLOCKS / 2 + 7]);   // the segment's owner frees into the page b is taking
    f.release();
    const mine = await taking;
    expect(mine.every((p) => segOf(p) === segOf(made[0]))).toBe(true);
    await b.call('validate', 0);   // page 1's count and lists whole: the block was not pushed on b's local list
    mine.push(...await b.call<number[]>('allocMany', 0, PAGE_BLOCKS / 2, 64));
    expect(new Set(mine).size, 'no block handed out twice').toBe(mine.length);
    await b.call('validate', 0);
  }, 60_000);
});

describe('a thread killed moving a page between its heap and the float list (debug)', () => {
  /**
   * `a` makes two floating pages that the main thread then frees into; `b` is
   * killed at `point` while it takes one (or, for DP_FLOAT_MOVING, `a` is killed
   * floating its page). After the reap the main thread must find both pages'
   * room (every block it allocates lies in a's segment), and once everything is
   * freed and collected the units and committed bytes are back.
   */
  async function killMover(point: number, what: string, killProducer: boolean) {
    const { rt, t, f, peers: [a, b] } = await killRig(2, { sharePages: true, exactPeak: true });
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await a.call('attach');
    let made: number[];
    if (killProducer) {
      made = await a.call<number[]>('allocMany', 0, 2 * PAGE_BLOCKS, 64);
      // a's next slow path floats its second full page: killed there
      const instance = await killAt(a, f, point, what, () => a.call('allocMany', 0, 1, 64));
      expect(reapInstance(rt, instance).length).toBe(1);
    } else {
      made = await a.call<number[]>('allocMany', 0, 2 * PAGE_BLOCKS + 1, 64);
    }
    const floating = made.slice(0, 2 * PAGE_BLOCKS);
    for (const p of floating) t.free(p);
    if (!killProducer) {
      await b.call('attach');
      const instance = await killAt(b, f, point, what, () => b.call('allocMany', 0, 1, 64));
      expect(reapInstance(rt, instance).length).toBe(1);
    }
    const mine: number[] = [];
    for (let i = 0; i < 2 * PAGE_BLOCKS - 1; i++) mine.push(t.alloc(64));
    if (!killProducer) {
      expect(mine.filter((p) => segOf(p) !== segOf(made[0])).length, 'both pages\' room found after the reap').toBe(0);
    }
    expect(new Set(mine).size).toBe(mine.length);
    t.validate();
    for (const p of mine) t.free(p);
    for (const p of made.slice(2 * PAGE_BLOCKS)) t.free(p);
    if (!killProducer) await a.call('exit', 0);
    t.collect(true);
    t.exit();
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the units went back').toBe(units0);
    expect(rt.stats().memory.committed, 'every committed byte counted off once').toBe(committed0);
  }

  it('taking it (off the list, not yet queued): the reap puts it back on the list', () =>
    killMover(DP_FLOAT_TAKEN, 'b took a floating page', false), 60_000);
  it('taking it (queued, not yet settled): its heap lets it float again', () =>
    killMover(DP_FLOAT_QUEUED, 'b queued a floating page', false), 60_000);
  it('floating it (still in its queue): it stays the dead thread\'s, abandoned with its segment', () =>
    killMover(DP_FLOAT_MOVING, 'a floating its full page', true), 60_000);
});
