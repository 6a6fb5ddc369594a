// reap-finish.test.ts — what the reap of a worker killed inside the allocator must
// finish, found by review 4 (debug build, real workers, pause points):
// - a huge block of a held tag given back at once (every other thread offline) and
//   counted off, killed before its units were free: the reap must not hold it again
//   (holding cleared the mark, and the later give-back counted it off twice);
// - held huge blocks a thread took off its domain's stack to release: the reap puts
//   back the ones it had not dealt with and finishes the one it was giving back
//   (taken into a local, every one of them was lost);
// - a page an owner was moving between two queues when it was killed: the reap sets
//   it DELAY_NEVER before it drains the heaps, so a remote free during the reap
//   still reaches the page (before, it went on the dead heap's list and was lost);
// - a second free's search walking a delayed list that its owner drained and
//   reused meanwhile: it follows only nodes that read as free, so a legitimate free
//   is never refused;
// - a freer killed holding FREEING on a page of an owner killed too (reviews 5, 6):
//   the owner's reap waited for the freer's push, which only the freer's own reap
//   ends: for good when the owner was reaped first, when the freer took FREEING
//   after the owner's reap began, or when both were threads of one instance. A
//   reap's waits on FREEING are now bounded (page.ts pageFreeingWaitBounded);
// - an exit killed while it hands its pending delayed frees to the domain (review 7):
//   they were off its record before the domain queue's mutex was taken, so a kill
//   at the lock lost them all, and their pages never emptied.
import { describe, expect, it } from 'vitest';
import { DP_DELAYED_DRAIN, DP_DRAIN_SEARCH_READ, DP_EXIT_BEFORE_ABANDON, DP_HUGE_HELD_RELEASING, DP_PAGE_TO_FULL_MID,
  DP_DF_SPLICING, DP_MUTEX_PARKING, DP_REVIEW_DQ_LOCKED, DP_REVIEW_FREE_MT_PUSHED, DP_REVIEW_REAP_RELEASE, DP_UNIT_RELEASING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { sleep, until, useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';
import { pageOf } from './fixtures/remote-free.ts';

useHarness();

const outcome = (p: Promise<unknown>) => p.then(() => 'OK', (e) => String((e as Error)?.message ?? e));
const SLICE = 32768;

describe('huge blocks of a held tag', () => {
  it('given back at once and counted off, its freer killed: counted off once', async () => {
    const { rt, t, f, peers: [w, y] } = await killRig(2);
    rt.domain().configureQsbr({ heldTags: [0] });
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await w.call('attach');
    const b = await w.call<number>('alloc', 0, 5 << 20);
    t.detach();                                  // w alone online: its free gives the units back at once
    const instance = await killAt(w, f, DP_UNIT_RELEASING, 'a huge block counted off, its units not yet free',
      () => w.call('free', 0, b));
    await y.call('attach');                      // someone online when the reap runs
    expect(reapInstance(rt, instance).length).toBe(1);
    for (let i = 0; i < 4; i++) { await y.call('checkpoint', 0); await y.call('processDelayed', 0); }
    expect(rt.stats().segments.unitsLive, 'its units went back').toBe(units0);
    expect(rt.stats().memory.committed, 'counted off once').toBe(committed0);
    t.attach();
    t.free(f.addr);
  }, 60_000);

  it('taken off the stack to be released, their releaser killed: the reap finishes them all', async () => {
    const { rt, t, f, peers: [w] } = await killRig(1);
    rt.domain().configureQsbr({ heldTags: [0] });
    const units0 = rt.stats().segments.unitsLive;
    const committed0 = rt.stats().memory.committed;
    await w.call('attach');
    const a = t.alloc(5 << 20);
    const b = t.alloc(5 << 20);
    t.free(a);
    t.free(b);                                   // held: w is online
    expect(rt.stats().segments.unitsLive).toBe(units0 + 4);
    t.checkpoint();
    const instance = await killAt(w, f, DP_HUGE_HELD_RELEASING, 'releasing the first of two held huge segments',
      () => w.call('checkpoint', 0));
    expect(reapInstance(rt, instance).length).toBe(1);
    for (let i = 0; i < 3; i++) { t.checkpoint(); t.processDelayed(); }
    expect(rt.stats().segments.unitsLive, 'all four units went back').toBe(units0);
    expect(rt.stats().memory.committed, 'counted off once').toBe(committed0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

describe('a remote free while the reap of an owner killed between two queues runs', () => {
  it('reaches the page: every block freed, the unit goes back', async () => {
    const { rt, t, f, peers: [w, y] } = await killRig(2);
    const f2 = pauseFlag(rt, t.alloc(8));
    const units0 = rt.stats().segments.unitsLive;
    await w.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 32, 1024);   // one page, full
    const instance = await killAt(w, f, DP_PAGE_TO_FULL_MID, 'a full page out of its bin\'s queue, not yet in the full queue',
      () => w.call('alloc', 0, 1024));
    await y.call('pauseAt', DP_EXIT_BEFORE_ABANDON, f2.addr, 1);
    const reap = y.call<number>('reapInstance', instance);
    await until(f2.paused, 10_000, 'the reap between its heaps\' collection and the abandonment');
    t.free(blocks[0]);
    f2.release();
    expect(await reap).toBe(1);
    for (const b of blocks.slice(1)) t.free(b);
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the unit went back').toBe(units0);
    t.validate();
    t.free(f.addr);
    t.free(f2.addr);
  }, 60_000);
});

describe('a second free\'s search overtaken by the owner\'s drain and reuse', () => {
  it('a legitimate free reached through a reused block is not refused', async () => {
    const { rt, t, f, peers: [w, y] } = await killRig(2);
    const f2 = pauseFlag(rt, t.alloc(8));
    await w.call('attach');
    await y.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 100, 1024);
    const pageOf = (q: number) => Math.floor(q / SLICE);
    const pages = [...new Set(blocks.map(pageOf))];
    const on = (i: number) => blocks.filter((q) => pageOf(q) === pages[i]);
    const b = on(0)[3], d = on(1)[3], p = on(0)[7];
    t.free(b);
    t.free(d);                                              // w's delayed list: d -> b
    const mem = () => new Int32Array(rt.memory.buffer);
    mem()[p >>> 2] = mem()[b >>> 2];                       // p's data: its first word happens to read as a link
    await w.call('pauseAt', DP_DELAYED_DRAIN, f.addr, 1);
    const drain = outcome(w.call('collect', 0));
    await until(f.paused, 10_000, 'w freeing d, its list b');
    await y.call('pauseAt', DP_DRAIN_SEARCH_READ, f2.addr, 1);
    const second = outcome(y.call('free', 0, p));
    await until(f2.paused, 10_000, 'y read the list\'s head (b)');
    f.release();
    expect(await drain).toBe('OK');
    const again = await w.call<number[]>('allocMany', 0, 80, 1024);
    expect(again, 'b handed out again').toContain(b);
    mem()[(b + 4) >>> 2] = p;                               // w's program keeps a pointer to p in b
    f2.release();
    expect(await second, 'p freed').toBe('OK');
    t.free(f.addr);
    t.free(f2.addr);
  }, 60_000);
});

/** Wait for `reap` at most 10 s; if it hung, `rescue` lets it go (so the test fails rather than the suite hangs). */
async function finishes(reap: Promise<unknown>, rescue: () => void): Promise<unknown> {
  const first = await Promise.race([reap, sleep(10_000).then(() => 'hung')]);
  if (first === 'hung') { rescue(); await reap.catch(() => {}); }
  return first;
}

describe('a freer killed holding FREEING on a page whose owner is reaped', () => {
  it('owner and freer both killed, reaped together: the reap finishes by itself', async () => {
    const { rt, t, f, peers: [o, fr, y] } = await killRig(3);
    await o.call('attach');
    await fr.call('attach');
    await y.call('attach');
    const ps = await o.call<number[]>('allocMany', 0, 64, 1000);
    const q = ps[0];
    expect(pageOf(rt, q)?.page.full, 'q\'s page is in the full queue').toBe(true);
    const oInstance = await o.call<number>('instance');
    const frInstance = await killAt(fr, f, DP_REVIEW_FREE_MT_PUSHED, 'fr holding FREEING on q\'s page',
      () => fr.call('free', 0, q));
    await o.terminate();
    expect(await finishes(y.call<number>('reapInstance', [oInstance, frInstance]), () => reapInstance(rt, frInstance)),
      'both reaped').toBe(2);
    t.free(f.addr);
  }, 60_000);

  it('the freer taking FREEING after the owner\'s reap began: the reap finishes by itself', async () => {
    const { rt, t, f, peers: [o, fr, y] } = await killRig(3);
    const f2 = pauseFlag(rt, t.alloc(8));
    await o.call('attach');
    await fr.call('attach');
    await y.call('attach');
    const ps = await o.call<number[]>('allocMany', 0, 64, 1000);
    const q = ps[0];
    const oInstance = await o.call<number>('instance');
    await o.terminate();
    await y.call('pauseAt', DP_REVIEW_REAP_RELEASE, f2.addr, 1);
    const reap = y.call<number>('reapInstance', [oInstance]);
    await until(f2.paused, 10_000, 'y reaping o');
    const frInstance = await killAt(fr, f, DP_REVIEW_FREE_MT_PUSHED, 'fr holding FREEING on q\'s page',
      () => fr.call('free', 0, q));
    f2.release();
    expect(await finishes(reap, () => reapInstance(rt, frInstance)), 'o reaped').toBe(1);
    reapInstance(rt, frInstance);
    t.validate();
    t.free(f.addr);
    t.free(f2.addr);
  }, 60_000);

  for (const order of ['the freer', 'the owner'] as const) {
    it(`freer and owner threads of one instance (${order} made first): its reap finishes by itself`, async () => {
      const { rt, t, f, peers: [o, y] } = await killRig(2);
      const t1 = await o.call<number>('attach');
      const t2 = await o.call<number>('attach');
      const [owner, freer] = order === 'the freer' ? [t2, t1] : [t1, t2];
      const ps = await o.call<number[]>('allocMany', owner, 64, 1000);
      const instance = await killAt(o, f, DP_REVIEW_FREE_MT_PUSHED, 'the freer holding FREEING',
        () => o.call('free', freer, ps[0]));
      expect(await finishes(y.call<number>('reapInstance', instance), () => {}), 'both threads reaped').toBe(2);
      t.validate();
      t.free(f.addr);
    }, 60_000);
  }
});

describe('an exit killed handing its pending delayed frees to the domain', () => {
  it('its reap hands them on: every one runs, the unit goes back', async () => {
    const { rt, t, f, peers: [w] } = await killRig(1);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    await w.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 300, 64);
    await w.call('freeDelayedMany', 0, blocks);
    expect(await w.call<number>('delayedPending', 0)).toBeGreaterThan(0);
    const instance = await killAt(w, f, DP_DF_SPLICING, 'pending delayed frees to hand on, the domain queue not locked yet',
      () => w.call('exit', 0));
    expect(reapInstance(rt, instance).length).toBe(1);
    for (let i = 0; i < 5; i++) { t.checkpoint(); t.processDelayed(); }
    d.collectAbandoned();
    expect(d.qsbrInfo().delayedPending, 'every accepted delayed free ran').toBe(0);
    expect(rt.stats().segments.unitsLive, 'the unit went back').toBe(units0);
    t.validate();
    t.free(f.addr);
  }, 60_000);

  it('killed parked on the domain queue\'s mutex, another thread holding it: its reap hands them on (review 8)', async () => {
    const { rt, t, f, peers: [a, b, c] } = await killRig(3);
    const d = rt.domain();
    await a.call('attach');
    await a.call('freeDelayedMany', 0, await a.call<number[]>('allocMany', 0, 10, 64));
    await a.call('exit', 0);                       // the domain queue has work: a checkpoint takes its mutex
    const units0 = rt.stats().segments.unitsLive;
    await b.call('attach');
    await b.call('pauseAt', DP_REVIEW_DQ_LOCKED, f.addr, 1);
    b.call('checkpoint', 0).catch(() => {});
    await until(f.paused, 10_000, 'b holding the domain queue\'s mutex');
    const g = pauseFlag(rt, t.alloc(8));
    const instance = await c.call<number>('instance');
    await c.call('attach');
    await c.call('freeDelayedMany', 0, await c.call<number[]>('allocMany', 0, 300, 64));
    await c.call('pauseAt', DP_MUTEX_PARKING, g.addr, 1);
    c.call('exit', 0).catch(() => {});
    await until(g.paused, 10_000, 'c about to park on the mutex');
    await c.terminate();
    f.release();
    await b.call('exit', 0);
    expect(reapInstance(rt, instance).length).toBe(1);
    for (let i = 0; i < 5; i++) { t.checkpoint(); t.processDelayed(); }
    d.collectAbandoned();
    expect(d.qsbrInfo().delayedPending, 'every accepted delayed free ran').toBe(0);
    expect(rt.stats().segments.unitsLive, 'the units went back').toBeLessThanOrEqual(units0);
    t.validate();
    t.free(f.addr);
    t.free(g.addr);
  }, 60_000);
});
