// handoff-stuck.test.ts — the holder of the domain's delayed-free queue mutex killed in
// handoffWithdraw (its hand-off woke nobody: the only counted waiter was killed before
// it parked; pause points DP_REVIEW_DQ_LOCKED, DP_HANDOFF_WITHDRAW, DP_MUTEX_PARKING).
// Debug build, real workers (review).
//
// Correct: the reap finds the hand-off that nobody named or took and withdraws it, as
// the dead unlocker would have; the queue's mutex is free after the reaps and after
// live checkpoints. Before: the word stayed LOCKED|HANDOFF with no holder
// named; tryLock and grab refuse a handed-off word, so no checkpoint could take the
// queue's mutex again (until some thread parked on it).
import { describe, expect, it } from 'vitest';
import { DP_REVIEW_DQ_LOCKED, DP_HANDOFF_WITHDRAW, DP_MUTEX_PARKING } from '../src/abi.gen.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const D_DQ_MUTEX = 320, D_DQ_HOLDER = 420;
const M_LOCKED = 1, M_HANDOFF = 2, M_STARVING = 4, M_WAITER = 8;

describe('the queue mutex\'s holder killed withdrawing a hand-off, its only waiter dead', () => {
  it('the mutex is takeable again after the reaps', async () => {
    const { rt, t, f, peers: [a, b, c, e] } = await killRig(4);
    const d = rt.domain();
    const view = () => new Uint32Array(rt.memory.buffer, d.id, 512);
    const word = () => Atomics.load(view(), D_DQ_MUTEX >> 2);
    const holder = () => Atomics.load(view(), D_DQ_HOLDER >> 2);
    await a.call('attach');
    await a.call('freeDelayedMany', 0, await a.call<number[]>('allocMany', 0, 10, 64));
    await a.call('exit', 0);
    const ib = await b.call<number>('instance'), ic = await c.call<number>('instance');
    await b.call('attach');
    await b.call('pauseAt', DP_REVIEW_DQ_LOCKED | (DP_HANDOFF_WITHDRAW << 16), f.addr, 1);
    b.call('checkpoint', 0).catch(() => {});
    await until(f.paused, 10_000, 'B holds the dq mutex');
    expect(holder()).not.toBe(0);
    const g = pauseFlag(rt, t.alloc(8));
    await c.call('attach');
    await c.call('freeDelayedMany', 0, await c.call<number[]>('allocMany', 0, 10, 64));
    await c.call('pauseAt', DP_MUTEX_PARKING, g.addr, 1);
    c.call('exit', 0).catch(() => {});
    await until(g.paused, 10_000, 'C counted on the dq mutex, not parked');
    expect(word()).toBeGreaterThanOrEqual(M_WAITER);
    await c.terminate();
    Atomics.or(view(), D_DQ_MUTEX >> 2, M_STARVING);   // C had waited past FAIR_MS
    f.reset(); f.release();
    await until(f.paused, 10_000, 'B in handoffWithdraw');
    expect(word() & M_HANDOFF).toBe(M_HANDOFF);
    await b.terminate();
    const namedAfterKill = holder();
    await within(e.call('reapInstance', [ib, ic]), 15_000, 'the reaps');
    const after = word();
    // A live thread's checkpoints: delayedProcess tries the domain queue each time.
    await e.call('attach');
    for (let i = 0; i < 5; i++) await e.call('checkpoint', 0);
    const afterCheckpoints = word();
    expect(namedAfterKill, 'nobody named after the hand-off').toBe(0);
    expect(after & (M_LOCKED | M_HANDOFF), 'the dq mutex after the reaps').toBe(0);
    expect(afterCheckpoints & (M_LOCKED | M_HANDOFF), 'after live checkpoints').toBe(0);
    await e.call('exit', 0);
  }, 60_000);
});
