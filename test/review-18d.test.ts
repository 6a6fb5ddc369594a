// review-18d.test.ts — two reaps of one dead instance at once. Since 376e113 a
// reap lets go of the dead instance's roles (instanceRolesReleaseDead) before
// any record is claimed EXITED, so nothing makes two reapers of the same
// instance (two JS threads calling reapInstance, or d.reap of two of its
// threads) exclusive there: each role must be let go by one of them only.
// Debug build, real workers on one shared memory, pause points force each
// interleaving: reaper R2 stops right after reading that the dead thread holds
// the role, R1 does the whole reap, a live thread L takes the role, then R2 goes on.
import { describe, expect, it } from 'vitest';
import { SharedMap } from '../src/index.ts';
import { DP_GC_PAUSE1, DP_GC_RELEASE_CHECKED, DP_HANDLE_LOCKED, DP_HANDLE_RELEASE_READ, DP_REAP_OWNER_READ, DP_STW_BEGUN,
  DP_STW_RELEASE_SCOPE, THREAD_ATTACHED } from '../src/abi.gen.ts';
import { PeerError, until, useHarness, within } from './fixtures/harness.ts';
import { killAt, killRig, type PauseFlag } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

// Layout offsets (assembly/layout.ts) of the words the checks read.
const T_SERIAL = 4;
const D_STW = 64;          // the domain's stop record; S_MUTEX (its scope lock) at +0
const D_OBJECTS = 428;     // the domain's objects record
const OR_GC_COLLECTING = 1088;

type P = { call<T>(op: string, ...args: unknown[]): Promise<T> };

/**
 * R1 reaps `dead` while R2 (instance `r2Instance`) is paused inside its own reap
 * of it, letting go of the dead thread's roles. Correct: R1 is refused (EAGAIN
 * naming R2, which holds the roles lock; nothing done). Before: R1 went through
 * the whole reap, so the role could be a live thread's before R2 let it go again.
 */
async function r1Refused(r1: P, dead: number, r2Instance: number): Promise<void> {
  const got = await within(r1.call<number>('reapInstance', dead).then(() => 'reaped', (e: { code: string; message: string }) => e),
    10_000, 'R1 reaps the dead instance');
  expect(got, 'R1\'s reap while R2 lets go of the dead thread\'s roles').not.toBe('reaped');
  expect((got as { code: string }).code).toBe('EAGAIN');
  expect((got as { message: string }).message).toContain(`instance ${r2Instance}`);
}

/**
 * R2 reaps instance `dead` and stops at pause point `point` (flag `f`, re-armed
 * here) inside the release of its roles; R1's reap meanwhile is refused
 * (r1Refused); then R2 goes on and finishes.
 */
async function r2PausedR1Refused(f: PauseFlag, r1: P, r2: P, dead: number, point: number, what: string): Promise<void> {
  f.reset();
  await r2.call('pauseAt', point, f.addr, 1);
  const r2Instance = await r2.call<number>('instance');
  const r2Reap = r2.call('reapInstance', dead);
  await until(f.paused, 10_000, what);
  await r1Refused(r1, dead, r2Instance);
  f.release();
  await within(r2Reap, 10_000, 'R2\'s reap');
}

describe('review 18d: concurrent reaps of one dead instance', () => {
  // Forced: W is killed holding a SharedMap's writers' mutex (DP_HANDLE_LOCKED).
  // R2 reaps W's instance and stops in handleReleaseDead having read the map
  // (DP_HANDLE_RELEASE_READ); R1 reaps W's instance whole (the mutex let go);
  // live L takes the mutex for a write (paused inside it). R2 goes on. Correct:
  // R2 finds the mutex let go already and leaves L's alone: M's write waits for
  // L's. Before: R2 unlocked the mutex L held, and M wrote alongside L.
  it('a map mutex let go by one reap is not let go again by another (it is a live writer\'s now)', async () => {
    const { rt, t, f, peers: [w, r1, r2, l, m] } = await killRig(5);
    const f2 = pauseFlag(rt, t.alloc(8));
    const map = SharedMap.create(t);
    map.set(1, 10);
    t.detach();
    const wt = await w.call<number>('attach');
    const wInstance = await killAt(w, f, DP_HANDLE_LOCKED, 'W holds the map\'s mutex', () => w.call('mapSet', wt, map.handle, 2, 20));
    await r2PausedR1Refused(f, r1, r2, wInstance, DP_HANDLE_RELEASE_READ, 'R2 read W\'s held map');
    const lt = await l.call<number>('attach');
    await l.call('pauseAt', DP_HANDLE_LOCKED, f2.addr, 1);
    const lWrite = l.call('mapSet', lt, map.handle, 4, 40);
    await until(f2.paused, 10_000, 'L holds the map\'s mutex');
    await within(r1.call('reapInstance', wInstance), 10_000, 'R1 reaps W\'s instance again');
    const mt = await m.call<number>('attach');
    let mDone = false;
    const mWrite = m.call('mapSet', mt, map.handle, 5, 50).then(() => { mDone = true; });
    await new Promise((r) => setTimeout(r, 500));
    const wroteInside = mDone;
    f2.release();
    await within(lWrite, 10_000, 'L\'s write');
    await within(mWrite, 10_000, 'M\'s write');
    expect(wroteInside, 'M wrote while L held the map\'s mutex').toBe(false);
    await m.call('detach', mt);
    await l.call('detach', lt);
    t.attach();
    expect(map.get(4)).toBe(40);
    expect(map.get(5)).toBe(50);
    map.destroy();
    t.free(f.addr);
    t.free(f2.addr);
  }, TEST_TIMEOUT);

  // Forced: C collects domain D2 and is killed in pause 1 (DP_GC_PAUSE1: the
  // world stopped, the collection C's). R2 reaps C's instance and stops in
  // gcReleaseDead having found C holding the collection (DP_GC_RELEASE_CHECKED);
  // R1 reaps C's instance whole (the collection undone and ended, the world
  // restarted); live L, in D2, starts a collection and pauses in its pause 1.
  // R2 goes on. Correct: R2 leaves L's collection alone (D2's collector stays L).
  // Before: R2 ran its repair walk over L's marks and ended L's collection
  // (the collector word 0 while L collects: another could start alongside).
  it('a collection ended by one reap is not ended again by another (it is a live collector\'s now)', async () => {
    const { rt, t, f, peers: [c, r1, r2, l] } = await killRig(4);
    const f2 = pauseFlag(rt, t.alloc(8));
    const d2 = rt.createDomain();
    const lt = await l.call<number>('attach', d2.id);
    const lRec = await l.call<number>('id', lt);
    await l.call('detach', lt);
    t.detach();
    const ct = await c.call<number>('attach', d2.id);
    const cInstance = await killAt(c, f, DP_GC_PAUSE1, 'C in pause 1', () => c.call('gcCollect', ct));
    await r2PausedR1Refused(f, r1, r2, cInstance, DP_GC_RELEASE_CHECKED, 'R2 found C collecting');
    await l.call('pauseAt', DP_GC_PAUSE1, f2.addr, 1);
    await l.call('reattach', lt);
    const lCollect = l.call('gcCollect', lt);
    await until(f2.paused, 10_000, 'L in its pause 1');
    const mem = () => new Uint32Array(rt.memory.buffer);
    const collecting = () => mem()[(mem()[(d2.id + D_OBJECTS) >>> 2] + OR_GC_COLLECTING) >>> 2];
    expect(collecting(), 'L collects').toBe(lRec);
    // Nothing left of C to reap; L, live and paused holding the role, may also make it give up (EAGAIN: nothing done).
    const again = await within(r1.call('reapInstance', cInstance).then(() => 'OK', (e: PeerError) => e.code), 10_000, 'R1 reaps C\'s instance again');
    expect(['OK', 'EAGAIN']).toContain(again);
    const after = collecting();
    f2.release();
    await within(lCollect, 10_000, 'L\'s collection');
    expect(after, 'D2\'s collector after R2\'s reap, L still in its pause').toBe(lRec);
    await l.call('detach', lt);
    t.attach();
    t.free(f.addr);
    t.free(f2.addr);
  }, TEST_TIMEOUT);

  // Forced: S stops domain D2 and is killed with the stop under way
  // (DP_STW_BEGUN: it holds D2's scope lock). R2 reaps S's instance and stops in
  // stwReleaseDead having read the scope lock as S's (DP_STW_RELEASE_SCOPE); R1
  // reaps S's instance whole (the lock let go); live L, in D2, stops D2 and holds
  // the stop. R2 goes on. Correct: D2's scope lock stays L's. Before: R2 let go
  // of L's scope lock: a second stop of D2 could begin inside L's.
  it('a scope lock let go by one reap is not let go again by another (it is a live requester\'s now)', async () => {
    const { rt, t, f, peers: [s, r1, r2, l] } = await killRig(4);
    const d2 = rt.createDomain();
    t.detach();
    await s.call('attach', d2.id);
    const sInstance = await killAt(s, f, DP_STW_BEGUN, 'S\'s stop under way', () => s.call('stopTimed', 0, {}));
    await r2PausedR1Refused(f, r1, r2, sInstance, DP_STW_RELEASE_SCOPE, 'R2 read the scope lock as S\'s');
    const mem = () => new Uint32Array(rt.memory.buffer);
    const scope = () => mem()[(d2.id + D_STW) >>> 2];
    const lt = await l.call<number>('attach', d2.id);
    const lSerial = mem()[((await l.call<number>('id', lt)) + T_SERIAL) >>> 2];
    const lStop = l.call('stopTimed', lt, { holdMs: 1500 });
    await until(() => scope() === lSerial, 10_000, 'L holds D2\'s scope lock');
    // Nothing left of S to reap; L, live and paused holding the role, may also make it give up (EAGAIN: nothing done).
    const again = await within(r1.call('reapInstance', sInstance).then(() => 'OK', (e: PeerError) => e.code), 10_000, 'R1 reaps S\'s instance again');
    expect(['OK', 'EAGAIN']).toContain(again);
    const after = scope();
    await within(lStop, 10_000, 'L\'s stop');
    expect(after, 'D2\'s scope lock after R2\'s reap, L still in its stop').toBe(lSerial);
    t.attach();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: W (a thread in D2, record X) dies. R2 reaps X (d.reap) and stops
  // after reading X's owner, W's instance, found gone (DP_REAP_OWNER_READ); R1
  // reaps W's instance whole, X is recycled, and live L attaches in D2 (record X
  // again). R2 goes on. Correct: X is no longer W's: R2's reap is refused
  // (EINVAL_STATE) and L's thread lives on. Before: R2 reaped L's live thread
  // (marked EXITED under it: L's next call failed its state assert).
  it('a reap whose thread was reaped and its record reused by a live thread meanwhile leaves it alone', async () => {
    const { rt, t, f, peers: [w, r1, r2, l] } = await killRig(4);
    const d2 = rt.createDomain();
    t.detach();
    const wt = await w.call<number>('attach', d2.id);
    const x = await w.call<number>('id', wt);
    const wInstance = await w.call<number>('instance');
    await w.terminate();
    await r2.call('pauseAt', DP_REAP_OWNER_READ, f.addr, 1);
    const r2Reap = r2.call('reapIn', d2.id, x).then(() => 'OK', (e: { code: string }) => e.code);
    await until(f.paused, 10_000, 'R2 read X\'s owner');
    await within(r1.call('reapInstance', wInstance), 10_000, 'R1 reaps W\'s instance');
    const lt = await l.call<number>('attach', d2.id);
    expect(await l.call<number>('id', lt), 'L\'s record is X, recycled').toBe(x);
    const lInstance = await l.call<number>('instance');
    f.release();
    const got = await within(r2Reap, 10_000, 'R2\'s reap');
    expect(rt.exports.ft_thread_owner(x) >>> 0, 'X still L\'s').toBe(lInstance);
    expect(rt.exports.ft_thread_state(x) >>> 0, 'L\'s thread still attached').toBe(THREAD_ATTACHED);
    expect(got, 'R2\'s reap').toBe('EINVAL_STATE');
    const p = await l.call<number>('alloc', lt, 64);
    await l.call('free', lt, p);
    await l.call('detach', lt);
    t.attach();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: W, a thread in D2, is
  // parked (detached) when C's collection of D2 stops the world; C is killed in
  // pause 1 (DP_GC_PAUSE1: the world stopped, by C). M reaps W's instance alone.
  // Correct: EAGAIN naming C (its collection never moves), or the reap goes
  // through. On 376e113: a collection with its world stopped is not taken for a
  // dead holder (instance.ts worldStoppedBy), so the reap went on and threadReap
  // spun in gcWaitIdle for ever (the kill fuzz hit it: round 5, seed 20261203).
  // Fixed by 9cebb9e: the stop's scope lock, which C holds, is watched too.
  it('a reap while another dead worker\'s collection holds the world stopped: no hang', async () => {
    const { rt, t, f, peers: [w, c, m] } = await killRig(3);
    const d2 = rt.createDomain();
    t.detach();
    const wt = await w.call<number>('attach', d2.id);
    await w.call('detach', wt);
    const wInstance = await w.call<number>('instance');
    const ct = await c.call<number>('attach', d2.id);
    const cInstance = await killAt(c, f, DP_GC_PAUSE1, 'C in pause 1', () => c.call('gcCollect', ct));
    await w.terminate();
    const alone = await within(m.call('reapInstance', wInstance).then(() => 'reaped', (e: { code: string; message: string }) => e),
      10_000, 'reaping W alone');
    if (alone !== 'reaped') expect((alone as { message: string }).message).toContain(`instance ${cInstance}`);
    await within(m.call('reapInstance', [wInstance, cInstance]), 10_000, 'reaping both');
    expect(() => d2.close(), 'D2 has no live thread').not.toThrow();
    t.attach();
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
