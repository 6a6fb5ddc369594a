// share-pages-held.test.ts — page sharing (float.ts) and held tags changed at
// runtime (domain.configureQsbr({ heldTags })), found by a review: a page that is
// held (a QSBR goal, linked in its owner's held list, qsbr-pages.ts) keeps serving
// allocations on the fast path; once its tag is no longer held, it could fill up
// and float with its goal and held-list links. The thread that took it over
// cancelled the hold on its own list (pageHoldCancel -> pageHoldClear(taker,
// page)): the owner's list was cut, the taker's list was handed the owner's
// pages, and the owner's next checkpoint freed the slices of a page on the float
// list (EASSERT A_SEGMENT in a debug build). Correct: a page lets its hold go on
// its own thread's list before it floats (pageFloat).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { Peer, useHarness } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();

const segOf = (p: number) => Math.floor(p / (4 << 20));

describe('floating a page that is still held', () => {
  it('a held page that floats after its tag is unheld: the taker does not take over the owner\'s held list', async () => {
    const rt = await Runtime.create({ sharePages: true, debug: true });
    const units0 = rt.stats().segments.unitsLive;
    const t = rt.attach();
    rt.domain().configureQsbr({ heldTags: [0, 1, 2, 3] });
    const [a] = await Peer.startMany(rt, newCtl(), 1);
    await a.call('attach');
    const held = () => rt.domain().qsbrInfo().pagesHeld;
    const L = 1 << 20;
    const R = await a.call<number[]>('allocMany', 0, 4 * 256 + 1, 128);  // four 128 B pages in the full queue
    await a.call('allocFreePairs', 0, 1, L);                             // a 1 MiB page, empty: held
    const B = await a.call<number[]>('allocMany', 0, 512, 64);           // P0 full
    const X = await a.call<number[]>('allocMany', 0, 512, 64);           // P0 to the full queue, P1 full
    expect(segOf(X[0])).toBe(segOf(B[0]));
    await a.call('free', 0, B[0]);                                       // P0 back in its queue
    B[0] = await a.call<number>('alloc', 0, 64);                         // P1 to the full queue, P0 at the front (direct)
    await a.call('free', 0, X[0]);                                       // P1 back, behind P0
    await a.call('freeMany', 0, B);                                      // P0 empty: held (goal, a's held list)
    const heldAfterEmpty = held();
    // 8192 slow paths: one periodic heapCollect turns P0's local list into its free list (the hold stays)
    await a.call('allocFreePairs', 0, 8192, L);
    const B2 = await a.call<number[]>('allocMany', 0, 512, 64);          // fast path: P0 full, still held
    expect(new Set(B2.map((p) => p - (p % 32768))).size, 'all from P0').toBe(1);
    rt.domain().configureQsbr({ heldTags: [1, 2, 3] });                  // tag 0 no longer held
    // a sees remote frees (its four 128 B full pages, freed into by t) outnumber its own
    // frees into full pages (page.ts heapShareNote): its full pages may float
    const remote = [R[0], R[256], R[512], R[768]];
    for (const p of remote) t.free(p);
    const y = await a.call<number>('alloc', 0, 64);                      // P0 full: floats, with its goal
    const floated = rt.domain().abandoned().floated;
    for (const p of B2.slice(0, 10)) t.free(p);                          // room on P0
    const mine = t.alloc(64);                                            // t borrows P0
    const lent = rt.domain().abandoned().lent;
    expect({ heldAfterEmpty, floated, lent, mineInP0: segOf(mine) === segOf(B2[0]) }, 'the scenario').toEqual({ heldAfterEmpty: 2, floated: 1, lent: 1, mineInP0: true });
    // t frees every block of P0 (it floats again, empty); a's checkpoint walks its held list
    t.free(mine);
    for (const p of B2.slice(10)) t.free(p);
    t.collect(true);
    await a.call('checkpoint', 0);   // before the fix: a's held list still starts at P0, floating: freed (EASSERT A_SEGMENT)
    t.validate();
    await a.call('validate', 0);
    await a.call('freeMany', 0, [...X.slice(1), ...R.filter((p) => !remote.includes(p)), y]);
    t.collect(true);
    await a.call('collect', 0, true);
    t.checkpoint();
    await a.call('checkpoint', 0);
    t.validate();
    await a.call('validate', 0);
    await a.call('exit', 0);
    t.exit();
    rt.domain().collectAbandoned();
    expect(held(), 'no page held').toBe(0);
    expect(rt.stats().segments.unitsLive, 'every unit back').toBe(units0);
    await a.terminate();
  }, 60_000);
});
