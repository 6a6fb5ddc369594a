// review-18c.test.ts — adversarial review of ebb48e2 (reaps of several dead
// workers: EAGAIN when another instance holds a lock the reap needs; the reap's
// segment repair). Debug build, real workers on one shared memory, pause points
// force each interleaving; calls that could spin for ever run in a peer, under a
// time limit.
import { describe, expect, it } from 'vitest';
import { DP_ABANDON_POOL_LOCKED, DP_ABANDON_SEG_DONE, DP_OS_FREE_PARTIAL } from '../src/abi.gen.ts';
import { PeerError, within } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { useHarness } from './fixtures/harness.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

describe('review 18c', () => {
  // Forced: worker W (attached, one block: a segment) dies. Reaper X reaps W's
  // instance and is killed holding the domain's pool lock in W's name (its
  // abandonSegments, DP_ABANDON_POOL_LOCKED): the lock word is W's record, whose
  // owner the reap had cleared (X is its T_REAPER). Worker Z (attached, one
  // block) dies too. M reaps Z alone. Correct: EAGAIN naming X (Z's reap needs
  // that pool lock; X may be dead too), nothing done; reaping Z and X together
  // succeeds. Before: instanceBlocking took a pool lock held by a record with no
  // owner for nobody's, so Z's reap went on and spun on the pool lock for ever
  // (on a main thread reaping on exit events, X's exit was never handled).
  it('a reap that needs the pool lock a dead reaper holds in its reaped thread\'s name: EAGAIN naming the reaper', async () => {
    const { rt, t, f, peers: [w, x, z, m] } = await killRig(4);
    const wt = await w.call<number>('attach');
    await w.call('alloc', wt, 64);
    const wInstance = await w.call<number>('instance');
    await w.terminate();
    const xInstance = await killAt(x, f, DP_ABANDON_POOL_LOCKED, 'X holds the pool lock as W',
      () => x.call('reapInstance', wInstance));
    const zt = await z.call<number>('attach');
    await z.call('alloc', zt, 64);
    const zInstance = await z.call<number>('instance');
    await z.terminate();
    const live = rt.stats().threads.live;
    const alone = await within(m.call('reapInstance', zInstance).then(() => 'reaped', (e: PeerError) => e), 10_000, 'reaping Z alone');
    expect(alone, 'Z alone').toBeInstanceOf(PeerError);
    expect((alone as PeerError).code).toBe('EAGAIN');
    expect((alone as PeerError).message).toContain(`instance ${xInstance}`);
    expect(await within(m.call<number>('reapInstance', [zInstance, xInstance]), 10_000, 'reaping both'), 'Z\'s thread').toBe(1);
    expect(rt.stats().threads.live, 'W\'s and Z\'s threads gone').toBe(live - 2);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker A (in domain D2) exits with one live block: its segment goes to
  // D2's pool. Worker K frees that block and collects the pool; the segment's last
  // page is freed, the segment given back, and K is killed inside osUnitsFree
  // with the unit marked free (DP_OS_FREE_PARTIAL), before the collection
  // unlinked the segment from the pool. M reaps K's instance (osLock taken over,
  // the unit table made whole: the unit is free). Correct: the pool no longer
  // lists a unit it gave back: a later segment on that unit is never collected or
  // adopted through the pool. Before: the pool still listed it; worker N's fresh
  // segment took the unit, and M's reclaim adopted N's live segment (two owners).
  it('a collector killed giving a pooled segment back: the pool no longer lists the freed unit', async () => {
    const { rt, t, f, peers: [a, k, m, n] } = await killRig(4);
    const d2 = rt.createDomain();
    const at = await a.call<number>('attach', d2.id);
    const p = await a.call<number>('alloc', at, 64);
    await a.call('exit', at);
    expect(d2.abandoned().segments, 'A\'s segment pooled').toBe(1);
    const kt = await k.call<number>('attach', d2.id);
    const kInstance = await killAt(k, f, DP_OS_FREE_PARTIAL, 'K gives the pooled segment back', async () => {
      await k.call('free', kt, p);
      await k.call('collectAbandoned', d2.id);
    });
    await within(m.call('reapInstance', kInstance), 10_000, 'reaping K\'s instance');
    expect(d2.abandoned().segments, 'the pool lists no freed unit').toBe(0);
    const nt = await n.call<number>('attach', d2.id);
    const ps = await n.call<number[]>('allocMany', nt, 64, 5000);
    const mt = await m.call<number>('attach', d2.id);
    expect(await m.call<number>('reclaimAbandoned', mt), 'nothing to adopt').toBe(0);
    await n.call('validate', nt);
    await m.call('validate', mt);
    await n.call('freeMany', nt, ps);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W (in domain D2) owns two segments of medium blocks and exits;
  // it is killed in abandonSegments after the first segment was made ownerless,
  // at the walk's back edge (DP_ABANDON_SEG_DONE), before any went to the pool.
  // M reaps W's instance. Correct: every segment of W ends in D2's pool (adopted
  // by M's reclaim, its blocks W's live ones, freeable). Before: the walk had cut
  // the first segment's link to the next (SEG_NEXT 0) while W's list still
  // started there, so the reap found only that one: the others stayed owned by
  // W's record for good, in no list (and the record, recycled, made a new
  // thread their owner without its knowing).
  it('a worker killed while its exit abandons its segments: the reap pools every one', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const d2 = rt.createDomain();
    const wt = await w.call<number>('attach', d2.id);
    const ps = await w.call<number[]>('allocMany', wt, 1200, 5000);
    const segs = new Set(ps.map((p) => p >>> 22)).size;
    expect(segs, 'W owns several segments').toBeGreaterThan(1);
    const wInstance = await killAt(w, f, DP_ABANDON_SEG_DONE, 'W abandons its segments', () => w.call('exit', wt));
    await within(m.call('reapInstance', wInstance), 10_000, 'reaping W\'s instance');
    expect(d2.abandoned().segments, 'every segment of W pooled').toBe(segs);
    const mt = await m.call<number>('attach', d2.id);
    expect(await m.call<number>('reclaimAbandoned', mt), 'M adopts them all').toBe(segs);
    await m.call('validate', mt);
    await m.call('freeMany', mt, ps);
    await m.call('validate', mt);
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
