// review-borrowed.test.ts — review 14 reproducers: SharedObjectMap borrowed reads
// (decrefDelayed items in the delayed-free queues, assembly/delayed-free.ts;
// their processing at checkpoints and exits). Each test failed at the reviewed
// code (78971d8). Fixed: a finalizer run while its thread leaves resurrects the
// object ownerless (no re-registration); processing inside a write (enqueue's)
// stops at decref items, the checkpoint runs them; sweepAll voids pending decrefs.
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
    t1.attach();
    t1.checkpoint();
    expect(finalized).toBe(1);
    t1.decref(p);          // last reference: p must be deallocated now
    t1.checkpoint();
    t1.processDelayed();
    expect(rt.domain().stats().objects).toMatchObject({ created: 2, deallocated: 2, live: 0 });
  });
});

describe('review 14: delayed decrefs run where finalizers must not', () => {
  // Interleaving (one thread t1, deferLimit 1 so every delayed-free call
  //   processes the caller's queue at once):
  //   t1 deletes key 100 of a borrowed-read map M: a delayed decref X of the
  //   finalizable F (M's was its only reference); not due (t1 has not passed its
  //   goal). t1 detaches and attaches again (a quiescent state that processes
  //   nothing): X is due, still queued. t1 inserts new keys into M until the table
  //   rebuilds: tableStore -> handleReplace -> freeDelayed(old table) -> enqueue ->
  //   delayedProcess, UNDER M's MUTEX -> X's objDecref -> F's finalizer runs with
  //   M's mutex held by its own thread (a finalizer that uses M — which the map
  //   promises is allowed — would deadlock in handleLock).
  // Correct: no delayed decref (no finalizer) runs inside a map write (or any
  //   freeDelayed caller that holds a lock): F's finalizer sees M's mutex free.
  it('a table rebuild\'s freeDelayed does not run a due delayed decref\'s finalizer under the map mutex', async () => {
    const { rt, t: t1 } = await attached({ debug: true });
    rt.domain().configureQsbr({ deferLimit: 1 });
    let m!: SharedObjectMap;
    const mutexAtFinalize: number[] = [];
    const F = t1.defineType({ name: 'F', size: 8, finalize: () => {
      mutexAtFinalize.push(Atomics.load(new Int32Array(rt.memory.buffer), (m.handle + 4) >>> 2));
    } });
    const Plain = t1.defineType({ name: 'P', size: 8 });
    m = SharedObjectMap.create(t1, 4, { borrowedReads: true });
    const f = t1.newObject(F);
    m.set(100, f);
    t1.decref(f);
    m.delete(100);         // X: a delayed decref, not due yet
    t1.detach();
    t1.attach();           // X due now, still on t1's queue
    expect(mutexAtFinalize).toEqual([]);
    const cap0 = m.capacity;
    const plain: number[] = [];
    for (let k = 0; k < 16 && mutexAtFinalize.length === 0; k++) {
      const p = t1.newObject(Plain);
      plain.push(p);
      m.set(k, p);         // new keys: no release of their own; the growth rebuilds the table
    }
    expect(m.capacity).toBeGreaterThan(cap0);
    // Fixed: processing inside a write stops at a decref item; the checkpoint runs it, the mutex free.
    expect(mutexAtFinalize).toEqual([]);
    t1.checkpoint();
    expect(mutexAtFinalize).toEqual([0]);
    for (const p of plain) t1.decref(p);
    m.destroy();
  });
});

describe('review 14: delayed decrefs outlive gc.sweepAll', () => {
  // Interleaving (one thread t):
  //   t deletes key 1 of a borrowed-read map: a delayed decref X of object A (the
  //   map's was A's only reference), not due yet. gc.sweepAll() frees every object
  //   "whatever its count: queued decrefs are moot" — it discards the BRC merge
  //   queues (discardAllQueues) but not the delayed-free queues: X stays queued on
  //   A's address. A new object B takes A's block; at t's next checkpoint X runs
  //   objDecref(A) = objDecref(B): B's count drops from 1 (its creator's) to 0 and
  //   B is deallocated under its owner (use after free; stats count a death that
  //   never happened).
  // Correct: a sweep drops (or neutralises) the pending delayed decrefs of the
  //   objects it frees; B keeps its one reference and stays live.
  it('a delayed decref queued before sweepAll does not hit the object that reuses the swept block', async () => {
    const { rt, t } = await attached({ debug: true });
    const Plain = t.defineType({ name: 'P', size: 8 });
    const m = SharedObjectMap.create(t, 8, { borrowedReads: true });
    const a = t.newObject(Plain);
    m.set(1, a);
    t.decref(a);
    m.delete(1);                     // X: decref of A, pending
    m.destroy();
    expect(rt.domain().gc.sweepAll()).toBe(1);   // A freed, X still queued
    const made: number[] = [];
    let b = 0;
    for (let i = 0; i < 256 && b === 0; i++) {
      const o = t.newObject(Plain);
      if (o === a) b = o; else made.push(o);
    }
    expect(b).toBe(a);               // precondition: B reuses A's block
    t.checkpoint();
    t.processDelayed();              // X due
    expect(t.isObject(b)).toBe(true);
    expect(t.refcount(b)).toBe(1);
    t.decref(b);
    for (const o of made) t.decref(o);
  });
});
