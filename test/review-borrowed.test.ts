// review-borrowed.test.ts — review 14 reproducers: SharedObjectMap borrowed reads
// (decrefDelayed items in the delayed-free queues, assembly/delayed-free.ts;
// their processing at checkpoints and exits). Each test FAILS at the reviewed code.
import { describe, expect, it } from 'vitest';
import { SharedObjectMap } from '../src/shared-map.ts';
import { attached, useHarness } from './fixtures/harness.ts';

useHarness();

describe('review 14: delayed decrefs at thread exit', () => {
  // Interleaving (one JS instance, two threads of one domain):
  //   t2 puts a finalizable object F in a borrowed-read map and deletes it: a
  //   delayed decref on t2's queue. t1 detaches (no reader online), t2 exits:
  //   threadRelease -> objThreadLeave unregisters t2 from BRC (brcQueueTake leave),
  //   then delayedAbandon runs the due decref -> F dies -> objFinalize ->
  //   brcRegister(t2): the exiting thread is linked into its BRC bucket again and
  //   exits so. An object P still owned by t2 (its one reference handed to t1) is then
  //   queued, at t1's last decref, to the dead t2's merge queue (its owner looks
  //   present) instead of being merged by t1: P is never deallocated.
  // Correct: a thread that has left BRC stays out of it (no finalizer after
  //   objThreadLeave, or unregister again after delayedAbandon); P is deallocated
  //   at t1's decref; created = deallocated.
  it('a finalizer run by an exiting thread\'s delayed decref does not re-register it in BRC (P leaks)', async () => {
    const { rt, t: t1 } = await attached({ debug: true });
    const t2 = rt.attach();
    let finalized = 0;
    const F = t2.defineType({ name: 'F', size: 8, finalize: () => { finalized++; } });
    const Plain = t2.defineType({ name: 'P', size: 8 });
    const m = SharedObjectMap.create(t2, 8, { borrowedReads: true });
    const f = t2.newObject(F);
    m.set(1, f);
    t2.decref(f);          // the map's only
    m.delete(1);           // a delayed decref on t2's queue
    const p = t2.newObject(Plain);
    // p's one reference (t2's local count) is handed to t1: t1's decref below makes
    // the shared count -1, which goes to p's owner's merge queue if it looks present.
    m.destroy();
    t1.detach();
    t2.exit();             // delayedAbandon: F's decref due (nobody online) -> finalizer on t2
    console.log('finalized at exit', finalized, rt.domain().stats().objects);
    t1.attach();
    t1.checkpoint();
    expect(finalized).toBe(1);
    t1.decref(p);          // last reference: p must be deallocated now
    t1.checkpoint();
    t1.processDelayed();
    expect(rt.domain().stats().objects).toMatchObject({ created: 2, deallocated: 2, live: 0 });
  });
});
