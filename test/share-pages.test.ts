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
// - A floating page of a pooled segment taken for adoption: the adopter owns the
//   segment from the moment it leaves the pool (abandon.ts poolTake), so a claim
//   that meets the page lends it rather than giving it back to a segment the
//   adopter has walked past (DP_ADOPT_TAKEN, DP_FLOAT_UNPOOLING): before, the page
//   was in no queue and no list, and the segment never went back.
// - Found by the review: a lent page of a pooled segment that floats again marks
//   the pool for collection (else its unit stayed live through every checkpoint);
//   visitBlocks waits for the pool lock to take its floating pages home (it
//   gave up while another thread held the lock, and left their blocks out).
import { describe, expect, it } from 'vitest';
import { DP_ADOPT_TAKEN, DP_FLOAT_MOVING, DP_FLOAT_QUEUED, DP_FLOAT_TAKEN, DP_FLOAT_UNPOOLING, DP_PAGE_LOCAL_TAKEN, DP_REVIEW_POOL_LOCKED } from '../src/abi.gen.ts';
import { reapInstance, Runtime, type RuntimeOptions, type Thread } from '../src/index.ts';
import { Peer, until, useHarness } from './fixtures/harness.ts';
import { abandonOne, killAt, killRig } from './fixtures/killed.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

const PAGE_BLOCKS = 512;   // 64 B blocks in a 32 KiB page
const segOf = (p: number) => Math.floor(p / (4 << 20));
/**
 * `by` frees a block thread 0 of `p` allocates, so that `p`'s next slow path finds
 * a remote free: a heap floats its full pages only while other threads free its
 * blocks (float.ts floatAllowed).
 */
async function seeRemote(p: Peer, by: Thread): Promise<void> {
  by.free(await p.call<number>('alloc', 0, 64));
}

/**
 * A runtime (`options`, exactPeak), its units and committed bytes before anything,
 * a producer peer `a` whose thread made `blocks` 64 B blocks (its full pages float
 * at the slow paths that follow them), and the main thread `t` attached.
 */
async function producerRig(options: RuntimeOptions, blocks: number) {
  const rt = await Runtime.create({ exactPeak: true, ...options });
  const units0 = rt.stats().segments.unitsLive;
  const committed0 = rt.stats().memory.committed;
  const [a] = await Peer.startMany(rt, newCtl(), 1);
  await a.call('attach');
  const t = rt.attach();
  await seeRemote(a, t);
  const made = await a.call<number[]>('allocMany', 0, blocks, 64);
  return { rt, units0, committed0, a, t, made };
}

describe('page sharing', () => {
  it.each([true, false])('sharePages %s: a consumer allocates from the pages of the producer whose blocks it freed', async (share) => {
    // Four full pages and one block more.
    const { rt, units0, committed0, a, t, made } = await producerRig({ sharePages: share }, 4 * PAGE_BLOCKS + 1);
    for (const p of made.slice(0, 4 * PAGE_BLOCKS)) t.free(p);
    const mine: number[] = [];
    for (let i = 0; i < 4 * PAGE_BLOCKS; i++) mine.push(t.alloc(64));
    const inProducers = mine.filter((p) => segOf(p) === segOf(made[0])).length;
    if (share) expect(inProducers, 'every block from the producer\'s pages').toBe(mine.length);
    else expect(inProducers, 'without sharing, none').toBe(0);
    const info = rt.domain().abandoned();
    expect(info.floated > 0 && info.lent > 0, JSON.stringify(info)).toBe(share);
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
    const { rt, units0, committed0, a, t, made } = await producerRig({ sharePages: true, debug: true }, 6 * PAGE_BLOCKS + 1);
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
    await seeRemote(a, t);
    const made = await a.call<number[]>('allocMany', 0, PAGE_BLOCKS + 1, 64);   // its first page floats at block 513
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
    await seeRemote(a, t);
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

describe('a floating page of a segment being adopted (debug)', () => {
  it('a claim meeting it does not give it back to the segment behind the adopter\'s walk', async () => {
    const { rt, t, f, peers: [a, c, d] } = await killRig(3, { sharePages: true, exactPeak: true });
    const f2 = pauseFlag(rt, t.alloc(8));
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await a.call('attach');
    await seeRemote(a, t);
    const made = await a.call<number[]>('allocMany', 0, PAGE_BLOCKS + 1, 64);   // its page 1 floats
    for (const p of made.slice(0, 8)) t.free(p);           // page 1 has room
    await d.call('attach');
    const dFirst = await d.call<number>('alloc', 0, 64);   // page 1 lent to d
    expect(segOf(dFirst)).toBe(segOf(made[0]));
    await a.call('exit', 0);                               // its segment pooled (page 1 stays lent)
    await d.call('free', 0, dFirst);
    await d.call('exit', 0);                               // page 1 floats again: its segment reads ownerless
    // c adopts the segment (its 1000 B request finds no page) and pauses right after taking it
    await c.call('attach');
    await c.call('pauseAt', DP_ADOPT_TAKEN, f.addr, 1);
    const cAlloc = c.call<number>('alloc', 0, 1000);
    await until(f.paused, 10_000, 'c took the pooled segment');
    // d needs a 64 B page: its claim meets page 1 (before the fix: ownerless, and it paused giving it back)
    const dt = await d.call<number>('attach');
    await d.call('pauseAt', DP_FLOAT_UNPOOLING, f2.addr, 1);
    let dDone = false;
    const dAlloc = d.call<number>('alloc', dt, 64).then((p) => { dDone = true; return p; });
    await until(() => f2.paused() || dDone, 10_000, 'd claimed or paused in its claim');
    f.release();                                           // c walks the segment and finishes
    const cb = await cAlloc;
    f2.release();
    const db = await dAlloc;
    // Everything freed: the adopter's collection gives its segment back while it
    // is still alive (a page in none of its queues would keep it until it exits).
    await c.call('free', 0, cb);
    await d.call('free', dt, db);
    for (const p of made.slice(8)) t.free(p);
    await d.call('exit', dt);
    t.collect(true);
    await c.call('collect', 0, true);
    expect(rt.stats().segments.unitsLive, 'the adopted segment went back').toBe(units0);
    await c.call('exit', 0);
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(rt.stats().memory.committed, 'every committed byte counted off').toBe(committed0);
    t.validate();
  }, 60_000);
});

describe('review of page sharing', () => {
  it('a lent page of a pooled segment floating empty: the pool is collected at the next checkpoints', async () => {
    const rt = await Runtime.create({ sharePages: true });
    const units0 = rt.stats().segments.unitsLive;
    const [a, b] = await Peer.startMany(rt, newCtl(), 2);
    const t = rt.attach();
    await a.call('attach');
    await seeRemote(a, t);
    const made = await a.call<number[]>('allocMany', 0, PAGE_BLOCKS + 1, 64);   // page 1 floats at block 513
    t.detach();
    await b.call('attach');
    await b.call('freeMany', 0, made.slice(0, 10));
    const mine = await b.call<number[]>('allocMany', 0, 10, 64);              // b borrows page 1
    expect(mine.every((p) => segOf(p) === segOf(made[0]))).toBe(true);
    await a.call('free', 0, made[PAGE_BLOCKS]);
    await a.call('exit', 0);                                                   // its segment is pooled, page 1 lent to b
    await b.call('checkpoint', 0);
    await b.call('freeMany', 0, [...made.slice(10, PAGE_BLOCKS), ...mine]);   // page 1 empty (remote frees)
    await b.call('collect', 0, false);   // frees published, page 1 kept empty in b's queue
    await b.call('checkpoint', 0);       // the pool's collection: page 1 is lent, skipped
    await b.call('collect', 0, true);    // b lets it float, empty
    for (let i = 0; i < 4; i++) await b.call('checkpoint', 0);
    expect(rt.stats().segments.unitsLive, 'the pooled segment went back at a checkpoint').toBe(units0);
    await b.call('exit', 0);
  }, 60_000);

  it('visitBlocks lists the blocks of its floating pages while another thread holds the pool lock', async () => {
    const { t, f, peers: [a, b, c] } = await killRig(3, { sharePages: true });
    await a.call('attach');
    await seeRemote(a, t);
    await a.call('allocMany', 0, PAGE_BLOCKS + 1, 64);   // page 1 floats at block 513
    expect(await a.call<number>('visitCount', 0), 'free pool lock: all of them').toBe(PAGE_BLOCKS + 1);
    await a.call('allocMany', 0, PAGE_BLOCKS, 64);       // the visit took page 1 home: fill page 2, it floats at the next
    await a.call('alloc', 0, 64);
    await abandonOne(c);                                 // a pooled segment: the pool has work
    await b.call('attach');
    await b.call('pauseAt', DP_REVIEW_POOL_LOCKED, f.addr, 1);
    const collecting = b.call('checkpoint', 0);          // b holds the pool lock (a long collection)
    await until(f.paused, 10_000, 'b holding the pool lock');
    const visiting = a.call<number>('visitCount', 0);
    await new Promise((r) => setTimeout(r, 300));
    f.release();
    const n = await visiting;
    await collecting;
    expect(n, 'every live block of a\'s tag 0').toBe(2 * PAGE_BLOCKS + 2);
  }, 60_000);
});
