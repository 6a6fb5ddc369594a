// qsbr-slots.ts — taking, growing and giving back QSBR slots (CPython's
// _Py_qsbr_reserve and _Py_qsbr_register in one, _Py_qsbr_unregister).
//
// Each thread that ever attached to a domain owns a 64-byte slot in the domain's
// slot array, where it stores its read sequence (qsbr.ts). Threads get a slot the
// first time they attach and give it back when they exit (unregister); free slots
// are on a list under the domain's qsbrMutex. Taking a slot links it and the
// thread both ways in one hold of the mutex, with no call in between: CPython
// reserves and registers in two steps, and a worker killed between the two left
// a slot reserved that no thread named, which no reap could give back. When
// the list is empty the array doubles — under a stop-the-world, because every
// online thread writes its own slot through T_QSBR_SLOT and pollers walk the
// array: with everyone else paused the array is copied and every registered
// thread's pointer rewritten. Old arrays stay in the meta area (their total is
// less than the final array). Nobody waits for qsbrMutex while attached
// (lockDetaching), so the grower's stop cannot deadlock on it (gh-119369).
//
// Slot fields: SL_SEQ (owner stores, pollers load; seq-cst), SL_THREAD (under
// qsbrMutex, read racily by stats), SL_RESERVED and SL_FREE_NEXT (under qsbrMutex).
//
// See also: qsbr.ts (the sequences), lifecycle.ts (first attach, exit).

import { A_QSBR_SLOTS, ASSERT_VALIDATE, assertThat } from "./assert";
import { loadAcquire, storeRelease, storeSeqCst64 } from "./atomics";
import { ENOMEM, OK } from "./errors";
import { metaAlloc } from "./meta";
import { mutexUnlock } from "./mutex";
import { DP_QSBR_REPOINTED, DP_QSBR_SLOT_HELD, DP_QSBR_SLOT_TAKEN, debugPause } from "./debug-delay";
import { QF_EXITING, QSBR_OFFLINE } from "./qsbr";
import { stwStart, stwStop } from "./stop-the-world";
import { lockDetachingOwned, unlockOwned } from "./thread";
import { D_QSBR_COUNT, D_QSBR_FREE, D_QSBR_HOLDER, D_QSBR_MUTEX, D_QSBR_SLOTS, SLOT_SHIFT, SL_FREE_NEXT, SL_RESERVED, SL_SEQ, SL_THREAD,
  T_DOMAIN, T_QSBR_FLAGS, T_QSBR_SLOT } from "./layout";
import { memCopy } from "./os";

/**
 * Take a free slot for `thread` (attached, current, without one) and link the two
 * both ways, growing the array under a stop-the-world if none is free: OK or
 * ENOMEM. The slot starts offline: the caller reports a quiescent state to go
 * online. While the thread has no slot, the attaches inside the lock waits here
 * leave it offline (qsbrOnline has no slot to write). CPython's
 * _Py_qsbr_reserve and _Py_qsbr_register in one.
 */
export function qsbrTakeSlot(thread: usize): i32 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  lockDetachingOwned(thread, domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
  debugPause(DP_QSBR_SLOT_HELD);
  let rc = ENOMEM;
  if (load<u32>(domain, D_QSBR_FREE) != 0 || qsbrGrow(thread, domain) == OK) {
    // No call from here to the last link: a kill (only at a call or a loop's back
    // edge) finds the slot either free or named by the thread, whose reap returns it.
    const index = load<u32>(domain, D_QSBR_FREE) - 1;
    const slot = <usize>load<u32>(domain, D_QSBR_SLOTS) + (<usize>index << SLOT_SHIFT);
    store<u32>(domain, load<u32>(slot, SL_FREE_NEXT), D_QSBR_FREE);
    store<u32>(slot, 0, SL_FREE_NEXT);
    store<u32>(slot, 1, SL_RESERVED);
    storeSeqCst64(slot + SL_SEQ, QSBR_OFFLINE);
    storeRelease(slot + SL_THREAD, <u32>thread);
    storeRelease(thread + T_QSBR_SLOT, <u32>slot);   // from here on a grower rewrites it
    rc = OK;
  }
  if (ASSERT_VALIDATE) assertThat(qsbrSlotsAreValid(domain), A_QSBR_SLOTS);
  unlockOwned(domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
  debugPause(DP_QSBR_SLOT_TAKEN);
  return rc;
}

/**
 * Double the slot array with every other thread of the domain stopped. Under
 * qsbrMutex. The new array is made whole first and published with no call in
 * between (a kill before leaves the old one in force, a kill after the new one);
 * only then are the threads' slot pointers moved (qsbrSlotsRepoint), which the
 * reap of a grower killed on the way finishes before the world restarts.
 */
function qsbrGrow(thread: usize, domain: usize): i32 {
  const count = load<u32>(domain, D_QSBR_COUNT);
  const bigger = metaAlloc((count << 1) << SLOT_SHIFT);
  if (bigger == 0) return ENOMEM;
  if (stwStop(thread, false) != OK) return ENOMEM;   // cannot happen: the thread is attached, not a requester
  memCopy(bigger, <usize>load<u32>(domain, D_QSBR_SLOTS), <usize>count << SLOT_SHIFT);
  for (let i = count; i < count << 1; i++) {
    store<u32>(bigger + (<usize>i << SLOT_SHIFT), i + 1 < count << 1 ? i + 2 : 0, SL_FREE_NEXT);
  }
  storeRelease(domain + D_QSBR_SLOTS, <u32>bigger);   // before the count: readers load the count first
  storeRelease(domain + D_QSBR_COUNT, count << 1);
  store<u32>(domain, count + 1, D_QSBR_FREE);
  qsbrSlotsRepoint(domain);
  stwStart(thread, false);
  return OK;
}

/**
 * Point every thread that has a slot in the published array at it. After a grow,
 * and when a reap lets go of qsbrMutex held by a dead thread (lifecycle.ts
 * rolesReleaseDead, before it restarts a stop the dead thread requested: it may
 * have died growing, with some pointers still in the old array, where a
 * thread's sequence would go unseen by every poller). Under qsbrMutex (or as its
 * dead holder), the slots' threads stopped or not in a grow.
 */
export function qsbrSlotsRepoint(domain: usize): void {
  const count = load<u32>(domain, D_QSBR_COUNT);
  const slots = <usize>load<u32>(domain, D_QSBR_SLOTS);
  for (let i: u32 = 0; i < count; i++) {
    const slot = slots + (<usize>i << SLOT_SHIFT);
    const owner = <usize>loadAcquire(slot + SL_THREAD);
    if (owner != 0 && <usize>loadAcquire(owner + T_QSBR_SLOT) != slot) storeRelease(owner + T_QSBR_SLOT, <u32>slot);
    debugPause(DP_QSBR_REPOINTED);
  }
}

/**
 * Give the slot back (thread exit; the thread is attached and current). The slot
 * pointer is read again under the mutex: the array may have moved while we waited
 * (gh-115103).
 */
export function qsbrUnregister(thread: usize): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_EXITING, T_QSBR_FLAGS);
  lockDetachingOwned(thread, domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
  const slot = <usize>loadAcquire(thread + T_QSBR_SLOT);
  if (slot != 0) {
    storeSeqCst64(slot + SL_SEQ, QSBR_OFFLINE);
    storeRelease(slot + SL_THREAD, 0);
    store<u32>(slot, 0, SL_RESERVED);
    const index = <u32>((slot - <usize>load<u32>(domain, D_QSBR_SLOTS)) >> SLOT_SHIFT);
    store<u32>(slot, load<u32>(domain, D_QSBR_FREE), SL_FREE_NEXT);
    store<u32>(domain, index + 1, D_QSBR_FREE);
    storeRelease(thread + T_QSBR_SLOT, 0);
  }
  if (ASSERT_VALIDATE) assertThat(qsbrSlotsAreValid(domain), A_QSBR_SLOTS);
  unlockOwned(domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
}

/**
 * Validator (caller holds qsbrMutex): the free list and the taken slots
 * partition the array (free + taken = count, no free slot taken, no cycle), and
 * every taken slot names a thread that points back at it. O(slots).
 */
export function qsbrSlotsAreValid(domain: usize): bool {
  const count = load<u32>(domain, D_QSBR_COUNT);
  const slots = <usize>load<u32>(domain, D_QSBR_SLOTS);
  let free: u32 = 0;
  let next = load<u32>(domain, D_QSBR_FREE);
  while (next != 0) {
    if (next > count || ++free > count) return false;
    const slot = slots + (<usize>(next - 1) << SLOT_SHIFT);
    if (load<u32>(slot, SL_RESERVED) != 0) return false;
    next = load<u32>(slot, SL_FREE_NEXT);
  }
  let reserved: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const slot = slots + (<usize>i << SLOT_SHIFT);
    if (load<u32>(slot, SL_RESERVED) == 0) continue;
    reserved++;
    const owner = <usize>loadAcquire(slot + SL_THREAD);
    if (owner == 0 || <usize>loadAcquire(owner + T_QSBR_SLOT) != slot) return false;   // taken means linked
  }
  return free + reserved == count;
}
