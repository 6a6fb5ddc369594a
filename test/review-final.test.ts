// review-final.test.ts — review 15 reproducers for "Review 14 fixes" (2ee8de6:
// objFinalizeMerged/`leaving`, delayed-free.ts stopAtDecref) and "Fold repeats"
// (c54c932: shared-map.ts compareAndStore). Each test failed at 3fe0edf. Fixed: an
// object made by a leaving thread is ownerless from the start (no registration);
// a frees-only pass that stops at a decref item publishes that item's goal.
import { describe, expect, it } from 'vitest';
import { SharedObjectMap } from '../src/shared-map.ts';
import { attached, useHarness } from './fixtures/harness.ts';

useHarness();

describe('review 15: a leaving thread\'s finalizer', () => {
  // Interleaving (one JS instance, two threads of one domain), as review 14's
  //   first test, but F's finalizer creates (and drops) a scratch object on t2:
  //   t2.exit -> objThreadLeave (t2 leaves its BRC bucket, leaving = true) ->
  //   delayedAbandon runs F's due decref -> objFinalizeMerged (no brcRegister
  //   there) -> the finalizer's newObject -> objNew -> brcRegister(curThread = t2):
  //   the exiting thread is linked into its bucket again, the very re-registration
  //   objFinalizeMerged was written to avoid. P (owned by t2, its reference handed
  //   to t1) is then queued at t1's last decref to the dead t2's merge queue.
  // Correct: no BRC registration while leaving (objNew on a leaving thread creates
  //   its object ownerless/merged, or is refused); P is deallocated; created = deallocated.
  it('newObject inside a finalizer run during exit re-registers the thread in BRC (P leaks)', async () => {
    const { rt, t: t1 } = await attached({ debug: true });
    const t2 = rt.attach();
    let finalized = 0;
    const Plain = t2.defineType({ name: 'P', size: 8 });
    const F = t2.defineType({
      name: 'F', size: 8,
      finalize: () => { finalized++; const s = t2.newObject(Plain); t2.decref(s); },
    });
    const m = SharedObjectMap.create(t2, 8, { borrowedReads: true });
    const f = t2.newObject(F);
    m.set(1, f);
    t2.decref(f);
    m.delete(1);           // a delayed decref on t2's queue
    const p = t2.newObject(Plain);
    m.destroy();
    t1.detach();
    t2.exit();             // delayedAbandon: F's decref due -> finalizer on leaving t2 -> newObject
    t1.attach();
    t1.checkpoint();
    expect(finalized).toBe(1);
    t1.decref(p);          // last reference: p must be deallocated now
    t1.checkpoint();
    t1.processDelayed();
    expect(rt.domain().stats().objects).toMatchObject({ created: 3, deallocated: 3, live: 0 });
  });
});

describe('review 15: frees-only processing stopped at a decref item', () => {
  // processQueue with stopAtDecref breaks at a decref item BEFORE the goal check,
  //   leaving `oldest` 0, and publishes it: dfOldest (delayedOldestGoal's input)
  //   reads "nothing waits" while the item is pending. Schedule (one thread, a second
  //   attached one never checkpointing; deferLimit 1 so every enqueue processes
  //   frees-only at once): replace a key's object in a borrowed-read map -> decrefDelayed ->
  //   enqueue (dfOldest = goal) -> delayedProcess(freesOnly) -> break at the head
  //   decref -> dfOldest = 0. Domain.blockers() (and ft_qsbr_pending_goal) then
  //   report nothing held back. Control: the same with a plain freeDelayed reports
  //   both threads.
  // Correct: the break publishes the item's goal (oldest = goal), as the
  //   goal-not-reached break does.
  it('Domain.blockers() is empty while a delayed decref waits (dfOldest published 0)', async () => {
    const { rt, t: t1 } = await attached({ debug: true });
    const t2 = rt.attach();
    const d = rt.domain();
    d.configureQsbr({ deferLimit: 1 });
    const F = t1.defineType({ name: 'F', size: 8 });
    const m = SharedObjectMap.create(t1, 8, { borrowedReads: true });
    const f = t1.newObject(F);
    m.set(1, f);
    t1.decref(f);
    t2.checkpoint();
    t1.checkpoint();
    // control: a plain delayed free waits, both threads hold it back
    t1.freeDelayed(t1.alloc(64));
    expect(d.blockers().length).toBeGreaterThan(0);
    t1.checkpoint(); t2.checkpoint(); t1.checkpoint();
    t1.processDelayed();
    expect(d.blockers()).toEqual([]);
    const g = t1.newObject(F);
    m.set(1, g);           // replaces f: a delayed decref of f, pending (set: no table shrink)
    t1.decref(g);
    expect(t1.delayedPending).toBe(1);   // the decref item waits
    expect(d.blockers().length).toBeGreaterThan(0);
    t2.detach();
    t1.checkpoint();
    m.destroy();
    t1.checkpoint();
  });
});
