// reap-together.test.ts — reapInstance given several dead instances that block each
// other (found by a kill-leak run in CI: 3 workers killed at random moments, reaped
// together, and the call gave up with EAGAIN naming one of the three).
//
// Forced: worker A is killed holding the domain queue's mutex (a role: a reap waits
// 50 ms for a role held unchanged, DP_REVIEW_DQ_LOCKED), worker B is killed holding
// osLock (a spin lock: 10 ms, DP_OS_LOCKED). reapInstance(rt, [A, B]): the try of A
// lets A's own spin locks go (none), finds B's osLock and gives up; the try of B lets
// osLock go, then its own roles (none), finds A's mutex and gives up. Neither is
// reaped in that pass, yet each let go of what stopped the other. Correct: the list
// is tried again, and both are reaped. Before: a pass that reaped nothing threw.
import { describe, expect, it } from 'vitest';
import { DP_OS_LOCKED, DP_REVIEW_DQ_LOCKED } from '../src/abi.gen.ts';
import { ErrorCode, FtheapError, reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

describe('reapInstance with a list', () => {
  it('two dead instances, each holding what the other\'s reap waits for, are reaped together', async () => {
    const { rt, t, f, peers: [a, b, x] } = await killRig(3);
    // work on the domain queue: a checkpoint of A takes its mutex
    await x.call('attach');
    await x.call('freeDelayedMany', 0, await x.call<number[]>('allocMany', 0, 10, 64));
    await x.call('exit', 0);
    await a.call('attach');
    const ia = await killAt(a, f, DP_REVIEW_DQ_LOCKED, 'A holds the domain queue\'s mutex', () => a.call('checkpoint', 0));
    const g = pauseFlag(rt, t.alloc(8));
    await b.call('attach');
    const ib = await killAt(b, g, DP_OS_LOCKED, 'B holds osLock', () => b.call('allocMany', 0, 1, 8 << 20));
    let reports: ReturnType<typeof reapInstance> = [];
    let err: unknown;
    try { reports = reapInstance(rt, [ia, ib]); } catch (e) { err = e; }
    expect(err, 'reapInstance gave up').toBeUndefined();
    expect(reports.length, 'A\'s and B\'s threads').toBe(2);
    t.attach();
    // both let go: the queue drains and memory grows
    for (let i = 0; i < 3; i++) { t.checkpoint(); t.processDelayed(); }
    expect(rt.domain().qsbrInfo().delayedPending).toBe(0);
    const big = t.alloc(8 << 20);
    t.free(big);
    t.validate();
    t.free(f.addr);
    t.free(g.addr);
  }, 60_000);

  it('an instance outside the list holding a lock: EAGAIN naming it, what was reaped stays reaped', async () => {
    const { rt, t, f, peers: [a, b] } = await killRig(2);
    await a.call('attach');
    const ib = await b.call<number>('instance');
    await b.call('attach');   // before A holds osLock: an attach may take memory
    const ia = await killAt(a, f, DP_OS_LOCKED, 'A holds osLock', () => a.call('allocMany', 0, 1, 8 << 20));
    await b.terminate();
    let err: unknown;
    try { reapInstance(rt, [ib]); } catch (e) { err = e; }
    expect(err instanceof FtheapError && err.code === ErrorCode.EAGAIN, String(err)).toBe(true);
    expect((err as Error).message).toContain(`instance ${ia} holds`);
    expect(reapInstance(rt, [ib, ia]).length).toBe(2);
    t.attach();
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
