// handoff-kill.test.ts — a holder of the QSBR slot mutex killed in handoffWithdraw
// (after it handed the lock to a starving waiter that was not parked yet), the waiter
// then taking the hand-off and descheduled before it names itself (pause points
// DP_HANDOFF_WITHDRAW, DP_LOCK_NAMING). Debug build, real workers (review).
//
// Correct: the holder word was cleared with no call after the hand-off, so the dead
// thread is not named and its reap leaves the waiter's lock alone. Before (the first
// fix of unlockOwned, which cleared the word after the whole unlock): the word still
// named the dead thread, and its reap let go of the lock the waiter held.
import { describe, expect, it } from 'vitest';
import { DP_QSBR_SLOT_HELD, DP_LOCK_NAMING, DP_MUTEX_PARKING, DP_HANDOFF_WITHDRAW } from '../src/abi.gen.ts';
import { until, useHarness } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const D_QSBR_MUTEX = 256, D_QSBR_HOLDER = 424, M_LOCKED = 1, M_HANDOFF = 2, M_STARVING = 4;

describe('a holder killed in handoffWithdraw, its waiter taking the hand-off', () => {
  it('the reap does not unlock the waiter\'s lock', async () => {
    const { rt, t, f, peers: [dp, w, e] } = await killRig(3);
    const d = rt.domain();
    const view = () => new Uint32Array(rt.memory.buffer, d.id, 512);
    const word = () => Atomics.load(view(), D_QSBR_MUTEX >> 2);
    const holder = () => Atomics.load(view(), D_QSBR_HOLDER >> 2);
    const g = pauseFlag(rt, t.alloc(8));
    const id = await dp.call<number>('instance');
    await dp.call('pauseAt', DP_QSBR_SLOT_HELD | (DP_HANDOFF_WITHDRAW << 16), f.addr, 1);
    dp.call('attach').catch(() => {});
    await until(f.paused, 10_000, 'D holds the slot mutex');
    const dThread = holder();
    await w.call('pauseAt', DP_MUTEX_PARKING | (DP_LOCK_NAMING << 16), g.addr, 1);
    const wAttached = w.call('attach');
    await until(g.paused, 10_000, 'W counted, not parked');
    Atomics.or(view(), D_QSBR_MUTEX >> 2, M_STARVING);   // W has waited past FAIR_MS
    f.reset(); f.release();
    await until(f.paused, 10_000, 'D in handoffWithdraw');
    expect(word() & M_HANDOFF).toBe(M_HANDOFF);
    await dp.terminate();
    g.reset(); g.release();
    await until(g.paused, 10_000, 'W took the hand-off, not named yet');
    expect(word() & M_LOCKED).toBe(M_LOCKED);
    expect(holder(), 'the dead thread is no longer named').not.toBe(dThread);
    const reaped = e.call<number>('reapInstance', id).then((n) => `reaped ${n}`, (err) => String(err));
    const r = await Promise.race([reaped, new Promise((res) => setTimeout(() => res('reap waiting'), 3_000))]);
    expect(r, 'the reap waits for the lock W holds').toBe('reap waiting');
    const lockedWhileWHolds = word() & M_LOCKED;
    g.release();
    await wAttached;
    await reaped;
    expect(lockedWhileWHolds, 'the mutex W holds was let go by the reap').toBe(M_LOCKED);
  }, 60_000);
});
