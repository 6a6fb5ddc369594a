// cs-async-slot-review.test.ts — review of c4e0c12 (async sections name their locks).
//
// The async-section slots are addressed by the thread record (t.id + T_CS_ASYNC),
// fixed when the section starts. If the thread exits while the section is still
// waiting, its record goes back on the free list and another worker's attach
// takes it (zeroing the slots); the pending section then stores the lock it takes
// into the NEW owner's record (holderChecked accepted any listed record). A reap of
// that other worker reports a lock it never held (its caller unlocks it under the
// live section), and the dead-or-alive worker that really holds it is named nowhere.
// Fixed twice: Thread.exit refuses while an async section of the thread is under
// way (EINVAL_STATE), and the core names a lock only in a slot of a live record
// its caller's instance owns (abi/mutex.ts holderOwned), so an exit made through
// the raw exports, around the facade, leaves the lock unnamed rather than named in
// another worker's record.
import { describe, expect, it } from 'vitest';
import { T_CS_ASYNC } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until, useHarness } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { asyncTookFirst, expectDeadHoldsFirst, heldPair, LOCKED, waiters, word } from './fixtures/locks.ts';

useHarness();

describe('review: an async section whose thread exited writes into the recycled record', () => {
  it('C, which took over the record, is reported holding the lock B\'s pending section took', async () => {
    const { rt, t, peers: [b, c] } = await killRig(2);
    const { a, z } = heldPair(rt, t);
    await b.call('attach');
    const x = await b.call<number>('id', 0);
    b.call('csPairAsync', 0, a, z, 0).catch(() => {});
    await until(() => waiters(rt, a) > 0, 10_000, 'B waiting on a');
    await expect(b.call('exit', 0), 'the facade refuses').rejects.toMatchObject({ code: 'EINVAL_STATE' });
    expect(await b.call<number>('exitRaw', 0), 'the raw exit').toBe(0);   // the section is still pending
    const ic = await c.call<number>('instance');
    await c.call('attach');
    expect(await c.call<number>('id', 0), 'C recycled B\'s record').toBe(x);
    t.unlock(a);                                   // B's section takes a, then waits on z
    await until(() => (word(rt, a) & LOCKED) !== 0 && waiters(rt, a) === 0 && waiters(rt, z) > 0, 10_000, 'B took a, waits on z');
    const slot0 = Atomics.load(new Int32Array(rt.memory.buffer, x + T_CS_ASYNC, 1), 0) >>> 0;
    await c.terminate();
    const [report] = reapInstance(rt, ic);
    expect({ slot0, held: report.heldLocks }, 'C held no lock; a is the live B\'s').toEqual({ slot0: 0, held: [] });
    t.unlock(z);
  }, 60_000);
});

describe('review: a lock an async section holds, named nowhere once its thread exited', () => {
  it('B may not exit while its section holds a (the next attach would zero the slot): killed, a is reported', async () => {
    const { rt, t, peers: [b] } = await killRig(1);
    const { a, z } = heldPair(rt, t);
    const ib = await b.call<number>('instance');
    await b.call('attach');
    await asyncTookFirst(rt, t, b, a, z);
    // An exit here would hand the record, whose slot names a, to the next attach (which zeroes it).
    await expect(b.call('exit', 0), 'the facade refuses').rejects.toMatchObject({ code: 'EINVAL_STATE' });
    await expectDeadHoldsFirst(rt, t, b, ib, a, z);
  }, 60_000);
});
