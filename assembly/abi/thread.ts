// abi/thread.ts — thread records: start, enter, detach, exit, checkpoint, interrupt,
// and reading a thread's state from outside.
// Thread ids from outside are checked against the runtime's list of records
// (O(threads)): a bad one is EINVAL_ARG instead of a touch of arbitrary memory.
// While this instance's thread has a stop under way (stop-the-world.ts
// stwRequestingHere), it may not exit (its stop would never end) nor attach or
// enter another thread here (that one would wait, SUSPENDED, for the requester
// that waits for it): EINVAL_STATE (issue 10, items 5 and 7).

import { objFinalizing } from "../object";
import { loadAcquire } from "../atomics";
import { curThread, instanceId } from "../current";
import { domainDefault, domainIsValid } from "../domain";
import { EAGAIN, EINVAL_ARG, EINVAL_DOMAIN, EINVAL_STATE, ENOT_ATTACHED, ENOT_INIT, ETIMEDOUT, OK } from "../errors";
import { hostCanBlock, nowMs, waitWhileSpinning } from "../host";
import { STW_SPIN_MS, stwIsRequester, stwRequestingHere } from "../stop-the-world";
import { runtimeReady } from "../init";
import { threadCheckpoint, threadEnter, threadExit, threadStart } from "../lifecycle";
import { threadDetach, threadInterrupt, threadIsValid, threadState } from "../thread";
import { T_BREAKER, T_DOMAIN, T_OWNER, T_STATE, THREAD_ATTACHED, THREAD_DETACHED, THREAD_EXITED, THREAD_FREE,
  THREAD_SUSPENDED } from "../layout";
import { fail, failSigned, failValue, status } from "./result";
import { memSync } from "../os";

/**
 * A new thread of domain `d` (0 = the default domain), attached and current on
 * this instance; its record, or 0 (ENOMEM, EINVAL_DOMAIN, ENOT_INIT). A record
 * with lastError EAGAIN: a stop is under way and this thread may not wait — it
 * exists, SUSPENDED; enter it later.
 */
export function ft_thread_attach_new(d: usize): usize {
  memSync();
  if (!runtimeReady()) return failValue(ENOT_INIT);
  if (stwRequestingHere() != 0) return failValue(EINVAL_STATE);
  if (d != 0 && !domainIsValid(d)) return failValue(EINVAL_DOMAIN);
  return threadStart(d == 0 ? domainDefault() : d);
}

/** ft_thread_attach_new(0). */
export function ft_thread_attach(): usize { memSync(); return ft_thread_attach_new(0); }

/**
 * Make `thread` (a record this instance owns) attached and current: the current
 * one, if another, detaches first. Waits while a stop-the-world holds it
 * SUSPENDED, unless `mayBlock` is false (then EAGAIN). Status.
 */
export function ft_thread_enter(thread: usize, mayBlock: bool): i32 {
  memSync();
  if (!threadIsValid(thread)) return fail(ENOT_ATTACHED);
  // Only the instance that started it (an exited or reaped record has no owner).
  // An instance with no id started none: it never matches an owner word of 0,
  // which exit and reap store just before EXITED, in one headLock section.
  if (instanceId == 0 || loadAcquire(thread + T_OWNER) != instanceId) return fail(ENOT_ATTACHED);
  const s = threadState(thread);
  if (s != THREAD_ATTACHED && s != THREAD_DETACHED && s != THREAD_SUSPENDED) return fail(ENOT_ATTACHED);
  const requester = stwRequestingHere();
  if (requester != 0 && requester != thread) return fail(EINVAL_STATE);
  return status(threadEnter(thread, mayBlock));
}

/**
 * ft_thread_enter(thread, true), waiting at most `timeoutMs` while a stop holds
 * the thread SUSPENDED: ETIMEDOUT leaves every state as it was (the thread
 * suspended, the current one unchanged). EAGAIN at once where this instance may
 * not block. Status.
 */
export function ft_thread_enter_timed(thread: usize, timeoutMs: f64): i32 {
  memSync();
  if (!threadIsValid(thread)) return fail(ENOT_ATTACHED);
  if (instanceId == 0 || loadAcquire(thread + T_OWNER) != instanceId) return fail(ENOT_ATTACHED);   // as ft_thread_enter
  const requester = stwRequestingHere();
  if (requester != 0 && requester != thread) return fail(EINVAL_STATE);
  const deadline = nowMs() + (timeoutMs < 0 ? 0 : timeoutMs);
  while (true) {
    const s = threadState(thread);
    if (s != THREAD_ATTACHED && s != THREAD_DETACHED && s != THREAD_SUSPENDED) return fail(ENOT_ATTACHED);
    if (s == THREAD_SUSPENDED) {
      if (!hostCanBlock()) return fail(EAGAIN);
      const left = deadline - nowMs();
      if (left <= 0) return fail(ETIMEDOUT);
      waitWhileSpinning(thread + T_STATE, THREAD_SUSPENDED, STW_SPIN_MS, left);   // partner: the restart's wake
      continue;
    }
    const rc = threadEnter(thread, false);   // parked again meanwhile: EAGAIN, wait again
    if (rc != EAGAIN) return status(rc);
  }
}

/** Detach the current thread (it keeps its heaps; ft_thread_enter attaches it again). */
export function ft_thread_detach(): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  if (objFinalizing()) return fail(EINVAL_STATE);   // a finalizer's deallocation needs its thread
  threadDetach(curThread);
  return OK;
}

/** Exit the current thread: free what is free, keep live blocks freeable. EINVAL_STATE during its own stop. */
export function ft_thread_exit(): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  if (stwIsRequester(curThread) || stwRequestingHere() != 0) return fail(EINVAL_STATE);   // its stop would never end
  if (objFinalizing()) return fail(EINVAL_STATE);   // inside a finalizer: the deallocation needs its thread
  threadExit(curThread);
  return OK;
}

export function ft_thread_current(): usize { memSync(); return curThread; }

/** `thread`'s state (value: THREAD_FREE with EINVAL_ARG for a bad id). */
export function ft_thread_state(thread: usize): u32 {
  memSync();
  if (!threadIsValid(thread)) return <u32>failValue(EINVAL_ARG);
  return threadState(thread);
}
export function ft_thread_breaker(thread: usize): u32 {
  memSync();
  if (!threadIsValid(thread)) return <u32>failValue(EINVAL_ARG);
  return loadAcquire(thread + T_BREAKER);
}
export function ft_thread_domain(thread: usize): usize {
  memSync();
  if (!threadIsValid(thread)) return failValue(EINVAL_ARG);
  return <usize>load<u32>(thread, T_DOMAIN);
}

/** Handle the current thread's eval-breaker bits: the events (breaker.ts), or -code (signed). */
export function ft_checkpoint(): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  return <i32>threadCheckpoint(curThread);
}

/** Make `target`'s next checkpoint report ASYNC_INTERRUPT (it alone). */
export function ft_interrupt(target: usize): i32 {
  memSync();
  if (!threadIsValid(target)) return fail(ENOT_ATTACHED);
  const s = threadState(target);
  if (s == THREAD_FREE || s == THREAD_EXITED) return fail(ENOT_ATTACHED);
  threadInterrupt(target);
  return OK;
}
