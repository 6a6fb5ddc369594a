// abi/mutex.ts — mutexes (any zeroed, 4-aligned word) and critical sections.
// Where the instance may not block, lock, lock_timed and cs_begin* never wait:
// EAGAIN after a brief spin, nothing changed (thread.ts lockOrAgain). The facade's
// async variants wait with ft_mutex_wait_* and hand the lock they took to the
// next synchronous call with ft_mutex_adopt / ft_mutex_adopt_end.

import { curThread, instanceId } from "../current";
import { csBegin, csBegin2, csEnd, csEndDetached } from "../critical-section";
import { casAcqRel, loadAcquire, storeRelease } from "../atomics";
import { EAGAIN, EINVAL_ARG, EINVAL_PTR, EINVAL_STATE, ENOT_ATTACHED, ENOT_LOCKED, ETIMEDOUT, OK } from "../errors";
import { hostCanBlock } from "../host";
import { LOCK_OK, M_LOCKED, mutexAdopt, mutexAdoptEnd, mutexLockSlow, mutexTryLock, mutexUnlock, mutexWaiterAdd, mutexWaiterCancel,
  mutexWaiterStep } from "../mutex";
import { lockDetaching, lockOrAgain, threadIsValid, threadState } from "../thread";
import { stwWaitingHere } from "../stop-the-world";
import { CS_ASYNC_SLOTS, ROOT_END, T_CS_ASYNC, T_CS_DEPTH, T_OWNER, THREAD_DETACHED, THREAD_EXITED, THREAD_FREE, THREAD_SUSPENDED } from "../layout";
import { fail, failSigned, status } from "./result";
import { memHas, memSync } from "../os";

function mutexChecked(m: usize): bool {
  return (m & 3) == 0 && m >= ROOT_END && memHas(<u64>m + 4);
}

// A holder word the facade passes for a lock an async critical section takes: one of
// the T_CS_ASYNC slots of a live thread record this instance owns. It names the lock
// from the CAS that takes it until the section takes it over or lets it go, so a reap
// of a worker killed meanwhile reports it (critical-section.ts csHeldLock). Anything
// else is taken as 0 (not named): a slot of a record that exited, was recycled or is
// another instance's would name the lock in another thread's record.
function holderOwned(h: usize): usize {
  if (h == 0 || h < T_CS_ASYNC) return 0;
  const t = (h - T_CS_ASYNC) & ~(<usize>63);
  if (h - t - T_CS_ASYNC >= (<usize>CS_ASYNC_SLOTS << 2) || (h & 3) != 0 || !threadIsValid(t)) return 0;
  const s = threadState(t);
  return instanceId != 0 && loadAcquire(t + T_OWNER) == instanceId && s != THREAD_EXITED && s != THREAD_FREE ? h : 0;
}

/** Lock (detaching the current thread while it waits, if attached). Status. */
export function ft_mutex_lock(m: usize): i32 {
  memSync();
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  return lockOrAgain(curThread, m) ? OK : fail(EAGAIN);
}
/**
 * Lock, waiting at most `timeoutMs` (>= 0, finite) for the lock (detached, as
 * ft_mutex_lock). Status: ETIMEDOUT when it ran out (nothing changed: the
 * mutex's waiter count is as it was, the thread attached as it was).
 */
export function ft_mutex_lock_timed(m: usize, timeoutMs: f64): i32 {
  memSync();
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  if (!(timeoutMs >= 0) || timeoutMs == Infinity) return fail(EINVAL_ARG);
  if (!hostCanBlock() || stwWaitingHere()) return lockOrAgain(curThread, m) ? OK : fail(EAGAIN);   // (thread.ts lockOrAgain)
  return lockDetaching(curThread, m, timeoutMs) ? OK : fail(ETIMEDOUT);
}

// An asynchronous waiter (the facade's lockAsync): begin, then step after every
// wake-up of Atomics.waitAsync on the word the step returned, until it has the
// lock; cancel when it gives up. It counts as a waiter from begin on, so a
// hand-off's wake may go to it (mutex.ts).

/**
 * Signed: 1 when the lock was taken at once, 0 when the caller now waits (counted),
 * -code (EINVAL_PTR). `holder` (this and the two below): where `m` is stored the
 * instant it is taken (holderOwned: else not named).
 */
export function ft_mutex_wait_begin(m: usize, holder: usize): i32 {
  memSync();
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  holder = holderOwned(holder);
  if (mutexTryLock(m) || mutexLockSlow(m, false, -1) == LOCK_OK) {
    if (holder != 0) storeRelease(holder, <u32>m);
    return 1;
  }
  mutexWaiterAdd(m);
  return 0;
}
/**
 * Value (f64): 0 when the counted waiter took the lock, else the word to wait on
 * (as u32); -1 with EINVAL_PTR for a bad pointer. `startMs`: when it began (env.now).
 */
export function ft_mutex_wait_step(m: usize, startMs: f64, holder: usize): f64 {
  memSync();
  if (!mutexChecked(m)) { failSigned(EINVAL_PTR); return -1; }
  holder = holderOwned(holder);
  const v = mutexWaiterStep(m, startMs);
  if (v == 0 && holder != 0) storeRelease(holder, <u32>m);
  return <f64>v;
}
/** Signed: 1 when the waiter took the lock after all, 0 when it left the count, -code. */
export function ft_mutex_wait_cancel(m: usize, holder: usize): i32 {
  memSync();
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  holder = holderOwned(holder);
  if (!mutexWaiterCancel(m)) return 0;
  if (holder != 0) storeRelease(holder, <u32>m);
  return 1;
}

/**
 * Hand `m`, which this instance locked (through ft_mutex_wait_*), to the next
 * lock of that word here (ft_mutex_lock, ft_cs_begin*, a shared structure's
 * write). Status: EINVAL_PTR, ENOT_LOCKED (not locked), EINVAL_STATE (two
 * adopted already). `holder`: the word naming it (ft_mutex_wait_*), cleared when
 * it is taken over or let go. Always follow with ft_mutex_adopt_end.
 */
export function ft_mutex_adopt(m: usize, holder: usize): i32 {
  memSync();
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  holder = holderOwned(holder);
  if ((loadAcquire(m) & M_LOCKED) == 0) {
    if (holder != 0) casAcqRel(holder, <u32>m, 0);   // not held: named no more
    return fail(ENOT_LOCKED);
  }
  return mutexAdopt(m, holder) ? OK : fail(EINVAL_STATE);
}
/** End the adoption: unlock the words no lock took over; how many (value). */
export function ft_mutex_adopt_end(): u32 { memSync(); return mutexAdoptEnd(); }

/** Signed: 1 when taken, 0 when not (spins briefly first if `spin`). */
export function ft_mutex_trylock(m: usize, spin: bool): i32 {
  memSync();
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  if (mutexTryLock(m)) return 1;
  return spin && mutexLockSlow(m, false, -1) == LOCK_OK ? 1 : 0;
}
/** Status: ENOT_LOCKED when it was not locked. `holder`: a word naming `m`, cleared at the release. */
export function ft_mutex_unlock(m: usize, holder: usize): i32 {
  memSync();
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  holder = holderOwned(holder);
  if (mutexUnlock(m, holder, <u32>m)) return OK;
  if (holder != 0) casAcqRel(holder, <u32>m, 0);   // not held: named no more
  return fail(ENOT_LOCKED);
}

/** Begin a critical section: a token for ft_cs_end (0 or 1), or -code (signed). */
export function ft_cs_begin(m: usize): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  const t = csBegin(curThread, m);
  return t >= 0 ? t : failSigned(-t);
}
export function ft_cs_begin2(a: usize, b: usize): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!mutexChecked(a) || !mutexChecked(b)) return failSigned(EINVAL_PTR);
  const t = csBegin2(curThread, a, b);
  return t >= 0 ? t : failSigned(-t);
}
export function ft_cs_end(token: i32): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(csEnd(curThread, token));
}
/**
 * End the innermost section of `thread` (a record of this instance) that its owner
 * detached inside: DETACHED or SUSPENDED, the section's locks released by that
 * detach; popped without re-taking them (critical-section.ts csEndDetached).
 * Status: ENOT_ATTACHED (not a live record of this instance), EINVAL_STATE
 * (attached, or the section holds its locks), ENOT_LOCKED (no section).
 */
export function ft_cs_end_detached(thread: usize, token: i32): i32 {
  memSync();
  if (!threadIsValid(thread) || instanceId == 0 || loadAcquire(thread + T_OWNER) != instanceId) return fail(ENOT_ATTACHED);
  const s = threadState(thread);
  if (s != THREAD_DETACHED && s != THREAD_SUSPENDED) return fail(EINVAL_STATE);
  return status(csEndDetached(thread, token));
}
export function ft_cs_depth(): u32 { memSync(); return curThread == 0 ? 0 : load<u32>(curThread, T_CS_DEPTH); }
