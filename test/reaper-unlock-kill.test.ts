// reaper-unlock-kill.test.ts — a reaper killed while it lets go of a dead thread's QSBR
// slot mutex (thread.ts lockReleaseDead), a thread parked on it: killed at the entry
// of the unlock's slow path (DP_UNLOCK_SLOW). Debug build, real workers (review).
//
// Correct: the holder word keeps naming the dead thread until the lock is let go, so
// the reap of the dead reaper's instance (with the dead thread's again) lets it go and
// the parked thread gets it. Before: the release cleared the holder word first (the
// old unlockOwned order), the lock stayed held with no holder named, and no later reap
// could let it go: the parked attach never completed.
import { describe, expect, it } from 'vitest';
import { DP_QSBR_SLOT_HELD, DP_UNLOCK_SLOW } from '../src/abi.gen.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const D_QSBR_MUTEX = 256, D_QSBR_HOLDER = 424, M_LOCKED = 1, M_WAITER = 8;

describe('a reaper killed letting go of a dead thread\'s slot mutex', () => {
  it('the mutex is still let go by a later reap', async () => {
    const { rt, t, f, peers: [a, b, c, e] } = await killRig(4);
    const d = rt.domain();
    const w32 = (off: number) => Atomics.load(new Uint32Array(rt.memory.buffer, d.id + off, 1), 0);
    const ia = await a.call<number>('instance'), ic = await c.call<number>('instance');
    await a.call('pauseAt', DP_QSBR_SLOT_HELD, f.addr, 1);
    a.call('attach').catch(() => {});
    await until(f.paused, 10_000, 'A holds the slot mutex');
    const bAttached = b.call('attach');
    await until(() => w32(D_QSBR_MUTEX) >= M_WAITER, 10_000, 'B parked');
    await a.terminate();
    // C reaps A and is killed in lockReleaseDead's mutexUnlock (slow: B is counted).
    const g = pauseFlag(rt, t.alloc(8));
    await c.call('pauseAt', DP_UNLOCK_SLOW, g.addr, 1);
    c.call('reapInstance', ia).catch(() => {});
    await until(g.paused, 10_000, 'C in mutexUnlockSlow of the reap');
    const word = w32(D_QSBR_MUTEX), holder = w32(D_QSBR_HOLDER);
    await c.terminate();
    expect(word & M_LOCKED).toBe(M_LOCKED);
    expect(holder, 'the holder word still names the dead thread').not.toBe(0);
    // Reap the dead reaper, then A again (in a peer: may hang).
    const reaped = e.call('reapInstance', [ic, ia]).catch((err) => String(err));
    const outcome = await Promise.race([
      bAttached.then(() => 'B attached'),
      new Promise((r) => setTimeout(() => r('timeout'), 8_000)),
    ]);
    expect(outcome, 'B\'s attach (the mutex let go)').toBe('B attached');
    await within(reaped, 5_000, 'the reaps');
    t.free(f.addr); t.free(g.addr);
  }, 60_000);
});
