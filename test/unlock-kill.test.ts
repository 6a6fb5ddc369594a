// unlock-kill.test.ts — a worker killed while it lets go of a mutex that names its
// holder (thread.ts unlockOwned: the domain's QSBR slot mutex, the delayed-free queue's),
// with another thread parked on it: killed at the entry of the unlock's slow path
// (DP_UNLOCK_SLOW, a call, where V8 may stop a worker), before the lock is let go.
// Debug build, real workers on the shared memory.
//
// Correct: the holder word still names the dying thread until the lock is let go, so
// the reap of its instance lets the lock go and the parked thread gets it. Before: the
// holder word was cleared first, so the lock stayed held with no holder named; no reap
// could let it go. The reap itself then never returned (acting as the dead thread it
// gives the slot back under that mutex: this test hung the whole run), and the parked
// thread, and every later first attach or exit of the domain, waited for ever.
import { describe, expect, it } from 'vitest';
import { DP_QSBR_SLOT_HELD, DP_UNLOCK_SLOW } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';

useHarness();
const D_QSBR_MUTEX = 256;   // assembly/layout.ts: the domain's slot mutex word
const M_WAITER = 8;         // assembly/mutex.ts: one counted waiter

describe('a worker killed letting go of the slot mutex, a thread parked on it', () => {
  it('is reaped, and the parked thread gets the lock', async () => {
    const { rt, t, f, peers: [a, b] } = await killRig(2);
    const d = rt.domain();
    const word = () => Atomics.load(new Uint32Array(rt.memory.buffer, d.id + D_QSBR_MUTEX, 1), 0);
    const instance = await a.call<number>('instance');
    // A's first attach pauses holding the slot mutex, then again entering the unlock's slow path.
    await a.call('pauseAt', DP_QSBR_SLOT_HELD | (DP_UNLOCK_SLOW << 16), f.addr, 1);
    a.call('attach').catch(() => {});
    await until(f.paused, 10_000, 'A holds the slot mutex');
    const bAttached = b.call('attach');            // B's first attach parks on the mutex
    await until(() => word() >= M_WAITER, 10_000, 'B parked on the mutex');
    f.release();
    await until(f.paused, 10_000, 'A in the unlock\'s slow path');
    await a.terminate();
    expect(reapInstance(rt, instance).length, 'A\'s thread was reaped').toBe(1);
    await within(bAttached, 10_000, 'B\'s attach (the mutex let go)');
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
