// cs-reap.test.ts — the locks a reap reports for a worker killed in or around a
// critical section (found by test/chaos-public.test.ts: three workers stalled for
// good on a section's mutex that a killed worker held and no reap reported).
// The reap's `heldLocks` must name exactly the section locks the dead thread
// holds: one missing is a mutex locked for ever (every later section on it
// waits), one too many is a lock the caller unlocks under another thread that
// holds it now. Debug build, real workers, pause points force each moment.
//
// - Taken after a detached wait, killed before the re-attach (which may wait out
//   a whole stop): the section's entry did not name it yet, and a thread not
//   attached was reported nothing. Now the lock is named the instant it is taken
//   (T_CS_TAKE_A), whatever the thread's state.
// - A two-lock section ending, killed in the second unlock's slow path: the first
//   lock was let go already, yet the entry still named both. Now both are moved
//   to T_CS_REL_A/B as the entry pops, each cleared at its release.
// - Nested sections, killed inside the inner one: both locks are held (the outer
//   section stays active until a detach), only the inner one was reported.
import { describe, expect, it } from 'vitest';
import { DP_LOCK_TAKEN_DETACHED, DP_UNLOCK_SLOW } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { LOCKED, waiters, word } from './fixtures/locks.ts';

useHarness();

describe('locks a reap reports for a thread killed around a critical section', () => {
  it('taken after a detached wait, not yet attached again: reported', async () => {
    const { rt, t, f, peers: [b] } = await killRig(1);
    const m = t.alloc(8);
    new Int32Array(rt.memory.buffer, m, 2).fill(0);
    t.lock(m);
    await b.call('attach');
    const ib = await killAt(b, f, DP_LOCK_TAKEN_DETACHED, 'B took the lock after its wait', () => b.call('csStack', 0, [m], 10),
      () => {}, async () => {
        await until(() => waiters(rt, m) > 0, 10_000, 'B parked on the lock');
        t.unlock(m);
      });
    const [report] = reapInstance(rt, ib);
    expect(report.heldLocks, 'the lock B took').toEqual([m]);
    expect(word(rt, m) & LOCKED).toBe(LOCKED);
    t.unlock(m);   // as the README says a user does with heldLocks
    expect(t.tryLock(m)).toBe(true);
    t.unlock(m);
    t.free(m);
  }, 60_000);

  it('a two-lock section ending, killed after its first release: only the lock still held is reported', async () => {
    const { rt, t, f, peers: [b, c] } = await killRig(2);
    const a = t.alloc(16), z = a + 8;   // a < z: the section takes a, then z; its end lets go of z, then a
    new Int32Array(rt.memory.buffer, a, 4).fill(0);
    await b.call('attach');
    await c.call('attach');
    const ib = await killAt(b, f, DP_UNLOCK_SLOW, 'B letting go of a, z let go', () => b.call('csPair', 0, a, z, 300),
      () => {}, async () => {
        await until(() => (word(rt, a) & LOCKED) !== 0 && (word(rt, z) & LOCKED) !== 0, 10_000, 'B inside its section');
        c.call('csStack', 0, [a], 0).catch(() => {});   // a waiter on a: B's unlock of a takes the slow path
        await until(() => waiters(rt, a) > 0, 10_000, 'C parked on a');
      });
    expect(word(rt, z) & LOCKED, 'z let go').toBe(0);
    const [report] = reapInstance(rt, ib);
    expect(report.heldLocks, 'a only: z may be another thread\'s by now').toEqual([a]);
    t.unlock(a);
    expect(await within(c.call<boolean>('csStack', 0, [a, z], 0), 10_000, 'C\'s sections after the unlock')).toBe(true);
    t.free(a);
  }, 60_000);

  it('nested sections, killed inside the inner one: both locks reported', async () => {
    const { rt, t, peers: [b] } = await killRig(1);
    const a = t.alloc(16), z = a + 8;
    new Int32Array(rt.memory.buffer, a, 4).fill(0);
    const ib = await b.call<number>('instance');
    await b.call('attach');
    b.call('csStack', 0, [a, z], 60_000).catch(() => {});
    await until(() => (word(rt, a) & LOCKED) !== 0 && (word(rt, z) & LOCKED) !== 0, 10_000, 'B inside both sections');
    await b.terminate();
    const [report] = reapInstance(rt, ib);
    expect([...report.heldLocks].sort((x, y) => x - y)).toEqual([a, z]);
    t.unlock(a);
    t.unlock(z);
    t.free(a);
  }, 60_000);
});
