// stop-the-world.ts — pausing every other thread of a domain (or of the runtime).
//
// The requester (an attached thread) serialises with other requesters of the same
// scope (the scope's mutex, waited on detached), then excludes the other kind of
// stop: ROOT.stwRw is a reader/writer word where per-domain stops are readers and
// the runtime-wide stop is the writer. Then, under headLock, it counts the threads
// in scope (ATTACHED or DETACHED, itself excepted) into the countdown and loops:
// park every DETACHED thread directly (CAS -> SUSPENDED), set PLEASE_STOP on every
// ATTACHED one, and wait on the countdown for at most 1 ms *without detaching*
// (detaching would resume the requester's own critical sections, whose locks may
// have been handed to a thread that is already suspended: gh-118332), re-scanning
// each time for threads that detached on their own. Each counted thread is
// accounted exactly once (T_STW_PENDING): parked by the requester, suspended at
// its checkpoint, or exiting — a thread that dies during a stop is not waited for.
// Threads made during a stop start SUSPENDED. Start returns every SUSPENDED
// thread in scope to DETACHED and wakes it.
//
// Where the requester may not block (a browser main thread) the 1 ms waits poll.
//
// Waiting for the scope's mutex and the reader/writer word detaches the requester
// (thread.ts's lockDetaching and waitDetached, reached through hooks.ts: a thread
// waiting is above this file, whose accounting thread.ts uses).
//
// See also: thread.ts (suspend), breaker.ts, domain.ts (headLock).

import { addRelaxed, casAcqRel, loadAcquire, storeRelease, subRelaxed } from "./atomics";
import { BRK_PLEASE_STOP, breakerClear, breakerRequest } from "./breaker";
import { headLock, headUnlock } from "./domain";
import { EINVAL_STATE, OK } from "./errors";
import { hookLockDetaching, hookWaitDetached } from "./hooks";
import { waitWhileSpinning, wake } from "./host";
import { mutexUnlock } from "./mutex";
import { D_NEXT, D_STW, D_THREADS, GLOBAL_STW, ROOT, R_DOMAIN_LIST, R_STW_RW, S_COUNTDOWN, S_MUTEX, S_REQUESTED,
  S_REQUESTER, S_STOPPED, THREAD_ATTACHED, THREAD_DETACHED, THREAD_SUSPENDED, T_DOMAIN,
  T_DOMAIN_NEXT, T_STATE, T_STW_PENDING } from "./layout";

/** How long a paused thread, or a stop's requester, polls before it sleeps. */
export const STW_SPIN_MS: f64 = 0.2;
const RW_WRITER: u32 = 1;
const RW_READER: u32 = 2;
const WAIT_SLICE_MS: f64 = 1.0;

// ---- The reader/writer word: per-domain stops (readers) vs the global one -------

function rwAcquire(thread: usize, writer: bool): void {
  const rw = ROOT + R_STW_RW;
  while (true) {
    const v = loadAcquire(rw);
    const free = writer ? v == 0 : (v & RW_WRITER) == 0;
    if (free) {
      if (casAcqRel(rw, v, writer ? RW_WRITER : v + RW_READER)) return;
      continue;
    }
    // The holder may need us stopped: wait detached.
    hookWaitDetached(thread, rw, v, WAIT_SLICE_MS);
  }
}

function rwRelease(writer: bool): void {
  const rw = ROOT + R_STW_RW;
  if (writer) storeRelease(rw, 0);
  else subRelaxed(rw, RW_READER);
  wake(rw, 0x7FFFFFFF);
}

// ---- A thread's side of a stop (under headLock) --------------------------------

/** The stop-the-world request that applies to `thread` now (global first), or 0. Under headLock. */
export function stwActiveFor(thread: usize): usize {
  if (load<u32>(GLOBAL_STW + S_REQUESTED) != 0 && load<u32>(GLOBAL_STW + S_REQUESTER) != <u32>thread) return GLOBAL_STW;
  const stw = <usize>load<u32>(thread, T_DOMAIN) + D_STW;
  if (load<u32>(stw + S_REQUESTED) != 0 && load<u32>(stw + S_REQUESTER) != <u32>thread) return stw;
  return 0;
}

/** Account a counted thread once in its stop's countdown. Under headLock. */
export function stwAccount(thread: usize, stw: usize): void {
  if (load<u32>(thread, T_STW_PENDING) == 0) return;
  store<u32>(thread, 0, T_STW_PENDING);
  if (subRelaxed(stw + S_COUNTDOWN, 1) == 1) wake(stw + S_COUNTDOWN, 1);
}

// ---- Scope walks (under headLock) ---------------------------------------------

/** Count (`counting`), then park or poke, every thread of one domain's list but the requester. */
function scanDomain(domain: usize, requester: usize, stw: usize, counting: bool): void {
  let t = <usize>load<u32>(domain, D_THREADS);
  while (t != 0) {
    if (t != requester) {
      const s = loadAcquire(t + T_STATE);
      if (counting) {
        if (s == THREAD_ATTACHED || s == THREAD_DETACHED) {
          store<u32>(t, 1, T_STW_PENDING);
          addRelaxed(stw + S_COUNTDOWN, 1);
        }
      } else if (load<u32>(t, T_STW_PENDING) != 0) {
        if (s == THREAD_DETACHED) {
          if (casAcqRel(t + T_STATE, THREAD_DETACHED, THREAD_SUSPENDED)) {
            store<u32>(t, 0, T_STW_PENDING);
            subRelaxed(stw + S_COUNTDOWN, 1);
          }
        } else if (s == THREAD_ATTACHED) {
          breakerRequest(t, BRK_PLEASE_STOP);
        }
      }
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
}

function scan(requester: usize, stw: usize, global: bool, counting: bool): void {
  if (!global) { scanDomain(<usize>load<u32>(requester, T_DOMAIN), requester, stw, counting); return; }
  let d = <usize>load<u32>(ROOT + R_DOMAIN_LIST);
  while (d != 0) { scanDomain(d, requester, stw, counting); d = <usize>load<u32>(d, D_NEXT); }
}

function restartDomain(domain: usize, requester: usize): void {
  let t = <usize>load<u32>(domain, D_THREADS);
  while (t != 0) {
    if (t != requester) {
      breakerClear(t, BRK_PLEASE_STOP);
      store<u32>(t, 0, T_STW_PENDING);
      if (casAcqRel(t + T_STATE, THREAD_SUSPENDED, THREAD_DETACHED)) wake(t + T_STATE, 0x7FFFFFFF);
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
}

// ---- Stop and start -------------------------------------------------------------

// @ts-ignore: decorator
@inline function stwOf(requester: usize, global: bool): usize {
  return global ? GLOBAL_STW : <usize>load<u32>(requester, T_DOMAIN) + D_STW;
}

/** Stop every other thread in scope; `requester` must be attached and current. */
export function stwStop(requester: usize, global: bool): i32 {
  if (loadAcquire(requester + T_STATE) != THREAD_ATTACHED) return EINVAL_STATE;
  const stw = stwOf(requester, global);
  // A stop inside a stop (of either kind) would wait for itself.
  if (loadAcquire(GLOBAL_STW + S_REQUESTER) == <u32>requester
      || loadAcquire(<usize>load<u32>(requester, T_DOMAIN) + D_STW + S_REQUESTER) == <u32>requester) return EINVAL_STATE;
  hookLockDetaching(requester, stw + S_MUTEX);
  rwAcquire(requester, global);
  headLock();
  storeRelease(stw + S_COUNTDOWN, 0);
  storeRelease(stw + S_REQUESTER, <u32>requester);
  storeRelease(stw + S_REQUESTED, 1);
  storeRelease(stw + S_STOPPED, 0);
  scan(requester, stw, global, true);
  while (true) {
    scan(requester, stw, global, false);
    const left = loadAcquire(stw + S_COUNTDOWN);
    headUnlock();
    if (left == 0) break;
    waitWhileSpinning(stw + S_COUNTDOWN, left, STW_SPIN_MS, WAIT_SLICE_MS);   // partner: stwAccount's wake; no detaching
    headLock();
  }
  storeRelease(stw + S_STOPPED, 1);
  return OK;
}

/** Restart the threads `requester` stopped. */
export function stwStart(requester: usize, global: bool): i32 {
  const stw = stwOf(requester, global);
  if (loadAcquire(stw + S_REQUESTER) != <u32>requester || loadAcquire(stw + S_STOPPED) == 0) return EINVAL_STATE;
  headLock();
  storeRelease(stw + S_REQUESTED, 0);
  storeRelease(stw + S_STOPPED, 0);
  storeRelease(stw + S_REQUESTER, 0);
  if (global) {
    let d = <usize>load<u32>(ROOT + R_DOMAIN_LIST);
    while (d != 0) { restartDomain(d, requester); d = <usize>load<u32>(d, D_NEXT); }
  } else {
    restartDomain(<usize>load<u32>(requester, T_DOMAIN), requester);
  }
  headUnlock();
  rwRelease(global);
  mutexUnlock(stw + S_MUTEX);
  return OK;
}

/** Is the world of `requester`'s scope stopped by it? */
export function stwIsStopped(requester: usize, global: bool): bool {
  const stw = stwOf(requester, global);
  return loadAcquire(stw + S_STOPPED) != 0 && loadAcquire(stw + S_REQUESTER) == <u32>requester;
}
