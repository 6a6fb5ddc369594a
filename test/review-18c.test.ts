// review-18c.test.ts — adversarial review of ebb48e2 (reaps of several dead
// workers: EAGAIN when another instance holds a lock the reap needs; the reap's
// segment repair). Debug build, real workers on one shared memory, pause points
// force each interleaving; calls that could spin for ever run in a peer, under a
// time limit.
import { describe, expect, it } from 'vitest';
import { DP_ABANDON_POOL_LOCKED } from '../src/abi.gen.ts';
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
});
