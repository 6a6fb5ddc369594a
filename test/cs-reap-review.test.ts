// cs-reap-review.test.ts — review of the exact held-lock report (a369f63).
//
// csResumeTop clears T_CS_TAKE_A/B unconditionally at its end. It also runs
// nested, from the threadAttach at the end of lockDetaching's detached wait; the
// section entry on top then is the fresh (csBegin/csBegin2) or emptied
// (csResumeTop) one, marked INACTIVE by the detach, so the nested csResumeTop
// takes nothing, yet wipes the TAKE word that names the lock just taken. In a
// two-lock section whose first lock came after a wait, the first lock is then
// held, named nowhere, for the whole (detached) wait for the second: a kill there
// leaves it locked for good, and the reap reports nothing. Fixed: csResumeTop
// clears only the TAKE words it set.
//
// An async two-lock section took its first lock with Atomics.waitAsync and held
// it, named nowhere, through the wait for the second and the re-attach: a kill
// there left it locked for good. Fixed: a lock taken for an async section is named
// in one of its thread's T_CS_ASYNC slots from the CAS that takes it until the
// section takes it over (adoption) or lets it go.
//
// The reap recycled the record before Domain.reap read its lock words
// (ft_thread_held_lock): another worker's attach could take the record and zero it
// in between. Fixed: the reap copies them into a buffer of the reaping instance.
import { describe, expect, it } from 'vitest';
import { DP_MUTEX_PARKING } from '../src/abi.gen.ts';
import { until, useHarness } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { asyncTookFirst, expectDeadHoldsFirst, heldPair, LOCKED, waiters, word } from './fixtures/locks.ts';

useHarness();

describe('review: held locks of a thread killed in a two-lock section\'s waits', () => {
  it('first lock taken after a detached wait, killed parked on the second: the first is reported', async () => {
    const { rt, t, f, peers: [b] } = await killRig(1);
    const { a, z } = heldPair(rt, t);   // a < z: taken a, then z
    const ib = await b.call<number>('instance');
    await b.call('attach');
    // The 2nd park: the 1st is on a (not paused), the 2nd on z, with a held.
    await b.call('pauseAt', DP_MUTEX_PARKING, f.addr, 2);
    b.call('csPair', 0, a, z, 0).catch(() => {});
    await until(() => waiters(rt, a) > 0, 10_000, 'B parked on a');
    t.unlock(a);
    await until(f.paused, 10_000, 'B took a, about to park on z');
    await expectDeadHoldsFirst(rt, t, b, ib, a, z);
    t.free(a);
  }, 60_000);
});

describe('review: held locks of a thread killed in an async two-lock section\'s wait', () => {
  it('first lock taken asynchronously, killed waiting (async) for the second: the first is reported', async () => {
    const { rt, t, peers: [b] } = await killRig(1);
    const { a, z } = heldPair(rt, t);
    const ib = await b.call<number>('instance');
    await b.call('attach');
    await asyncTookFirst(rt, t, b, a, z);
    await expectDeadHoldsFirst(rt, t, b, ib, a, z);
    t.free(a);
  }, 60_000);
});

describe('review: held locks read after the reap returned', () => {
  it('the reaped record, recycled by another thread before ft_thread_held_lock: still the dead thread\'s locks', async () => {
    const { rt, t, peers: [b, c] } = await killRig(2);
    const a = t.alloc(8);
    new Int32Array(rt.memory.buffer, a, 2).fill(0);
    const x = rt.exports;
    const ib = await b.call<number>('instance');
    await b.call('attach');
    b.call('csStack', 0, [a], 60_000).catch(() => {});
    await until(() => (word(rt, a) & LOCKED) !== 0, 10_000, 'B inside its section');
    await b.terminate();
    let id = 0;
    for (let r = x.ft_thread_next_all(0) >>> 0; r !== 0; r = x.ft_thread_next_all(r) >>> 0) if (x.ft_thread_owner(r) >>> 0 === ib) id = r;
    // What Domain.reap does, with another worker's attach between its two calls.
    const n = x.ft_thread_reap(x.ft_thread_domain(id) >>> 0, id) | 0;
    expect(n).toBe(1);
    await c.call('attach');   // threadNew takes the FREE record the reap just recycled
    expect(x.ft_thread_held_lock(id, 0) >>> 0, 'the lock B died holding').toBe(a);
    t.unlock(a);
    t.detach(); t.attach();   // the raw reap detached it (Domain.reap tells the facade; this test went around it)
    t.free(a);
  }, 60_000);
});
