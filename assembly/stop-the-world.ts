// stop-the-world.ts — pausing every other thread of a domain (or of the runtime).
//
// The requester (an attached thread) serialises with other requesters of the same
// scope (the scope's lock word S_MUTEX), then excludes the other kind of stop:
// ROOT.stwRw is a reader/writer word where per-domain stops are readers and the
// runtime-wide stop is the writer. It waits for both detached, so a stop under way
// need not wait for it (thread.ts threadWaitAsRequester, through hooks.ts): if
// that stop parks it meanwhile, it waits for the restart before it goes on — even
// where it may not block (it polls) — and never resumes itself while SUSPENDED.
// Then, under headLock, it counts the threads in scope (ATTACHED or DETACHED,
// itself excepted) into the countdown and loops: park every DETACHED thread
// directly (CAS -> SUSPENDED), set PLEASE_STOP on every ATTACHED one, and wait on
// the countdown for at most 1 ms *without detaching* (detaching would resume the
// requester's own critical sections, whose locks may have been handed to a thread
// that is already suspended: gh-118332), re-scanning each time for threads that
// detached on their own. Each counted thread is accounted exactly once
// (T_STW_PENDING): parked by the requester, suspended at its checkpoint, or
// exiting — a thread that dies during a stop is not waited for. Threads made
// during a stop start SUSPENDED. Start returns every SUSPENDED thread in scope to
// DETACHED and wakes it.
//
// A stop is identified by its requester's serial (T_SERIAL, new for every
// incarnation of a record), not by the record's address: a record reused after
// its thread exited never inherits a requester's role. A requester may not exit,
// nor attach or enter another thread on its instance, while its stop is under way
// (EINVAL_STATE, abi/thread.ts): its stop would never end, or the thread it
// attached would wait, SUSPENDED, for the requester that waits for it
// (`stwRequestingHere`, this instance's own record of it).
//
// Timeouts (stwStopTimed): the waits for the scope's lock and the reader/writer
// word, and for the countdown, end at one deadline. On ETIMEDOUT the requester
// records the threads that held the stop up (still counted, not accounted) in its
// record (T_STW_BLOCKERS*), restarts every thread it parked or asked to stop
// exactly as stwStart does, and releases the words: the world runs as before.
//
// Where the requester may not block (a browser main thread) the user's
// synchronous stop (ft_stw_stop*: failFast) never waits: EAGAIN when another stop
// holds the scope, or when the world does not stop within STW_TRY_MS of polling
// (restarted as on a timeout); the runtime's own stops (QSBR slots, BRC, delayed
// free, the GC) still poll there, as every wait of a requester did before. The steps
// stwBegin / stwPoll / stwCancel let the facade's stopTheWorldAsync wait between
// them without blocking: while it waits, its JS thread runs other code, but the
// requester stays attached and requesting (requestingHere), so that code can
// neither exit it nor attach another thread here, nor start a second stop
// (EINVAL_STATE). Only a thread parked by our own stop-in-progress (not the
// requester) can be held up by it, exactly as in the synchronous stop. Nor may
// that code wait for a user-facing lock (thread.ts lockOrAgain: EAGAIN, even where
// the instance may block): its holder may be a thread this stop parked, which
// runs again only when the stop ends, and the stop ends only when this JS thread
// polls it — a deadlock (review-13a).
//
// The alternatives ruled out (issue 10): a thread inside a critical section does
// not pause in the allocator's slow path (thread.ts threadCheckpointAlloc), so a
// stop never suspends a section in the middle of an allocation.
//
// See also: thread.ts (suspend), breaker.ts, domain.ts (headLock).

import { addRelaxed, casAcqRel, loadAcquire, storeRelease, subRelaxed } from "./atomics";
import { BRK_PLEASE_STOP, breakerClear, breakerRequest } from "./breaker";
import { DP_STW_BEGUN, DP_STW_RELEASE_SCOPE, DP_STW_RESTARTING, DP_STW_RW_RELEASING, DP_STW_RW_TAKEN, debugPause } from "./debug-delay";
import { headLock, headUnlock } from "./domain";
import { EAGAIN, EINVAL_STATE, ETIMEDOUT, OK } from "./errors";
import { hookWaitAsRequester } from "./hooks";
import { nowMs, waitWhileSpinning, wake } from "./host";
import { remoteFlush, remotePending } from "./remote-free";
import { D_NEXT, D_STW, D_THREADS, GLOBAL_STW, ROOT, R_DOMAIN_LIST, R_STW_RW, S_COUNTDOWN, S_MUTEX, S_REQUESTED, S_RW_HELD,
  S_REQUESTER, S_STOPPED, STW_BLOCKERS_MAX, THREAD_ATTACHED, THREAD_DETACHED, THREAD_SUSPENDED, T_DOMAIN,
  T_DOMAIN_NEXT, T_NEXT_ALL, T_OWNER, T_SERIAL, T_STATE, T_STW_BLOCKERS, T_STW_BLOCKERS_N, T_STW_PENDING, R_THREAD_LIST } from "./layout";
import { loadSynced } from "./os";

/** How long a paused thread, or a stop's requester, polls before it sleeps. */
export const STW_SPIN_MS: f64 = 0.2;
const RW_WRITER: u32 = 1;
const RW_READER: u32 = 2;
const WAIT_SLICE_MS: f64 = 1.0;
/** Where the requester may not block: how long a stop polls for the world to stop before EAGAIN. */
const STW_TRY_MS: f64 = 1.0;

/** This instance's requester of a stop under way (a thread record), or 0. Instance-local. */
let requestingHere: usize = 0;

/** The thread record on this instance whose stop is under way, or 0. */
export function stwRequestingHere(): usize { return requestingHere; }

/**
 * Is this instance's requester waiting for its stop (begun, not stopped yet)? Only
 * an async requester (stopTheWorldAsync) runs other code then: a lock it waits for
 * may be held by a thread its own stop parked, which runs again only when the stop
 * ends — and the stop ends only when this JS thread polls it (thread.ts lockOrAgain).
 */
export function stwWaitingHere(): bool {
  const r = requestingHere;
  return r != 0 && !stwIsStopped(r, false) && !stwIsStopped(r, true);
}

// @ts-ignore: decorator
@inline function serialOf(thread: usize): u32 { return loadAcquire(thread + T_SERIAL); }

/** Milliseconds left before `deadline` (Infinity: none), at most `slice`; 0 when it passed. */
function sliceLeft(deadline: f64, slice: f64): f64 {
  if (deadline == Infinity) return slice;
  if (deadline == -Infinity) return 0;   // one try (stwBegin without waiting)
  const left = deadline - nowMs();
  if (left <= 0) return 0;
  return left < slice ? left : slice;
}

// ---- The scope's lock: one requester at a time -----------------------------------

/** Take the scope's lock word before `deadline`, waiting detached; false when it passed. */
function scopeLock(requester: usize, m: usize, deadline: f64): bool {
  // The word holds the holder's serial, so a reap can release it (stwReleaseDead).
  const serial = serialOf(requester);
  while (!casAcqRel(m, 0, serial)) {
    const slice = sliceLeft(deadline, WAIT_SLICE_MS);
    if (slice == 0) return false;
    const v = loadAcquire(m);
    if (v != 0) hookWaitAsRequester(requester, m, v, slice);   // partner: scopeUnlock's wake
  }
  return true;
}

function scopeUnlock(m: usize): void {
  storeRelease(m, 0);
  wake(m, 0x7FFFFFFF);
}

// ---- The reader/writer word: per-domain stops (readers) vs the global one -------

// Who holds the word is stamped in the scope's record (S_RW_HELD: one holder per
// scope, its scope lock's). The CAS that takes the word and the stamp, and the
// unstamping swap and the release, have no call and no loop edge between them:
// V8 stops a worker only at one of those, so a requester killed anywhere has
// either both or neither done, and its reap (stwReleaseDead) releases what it
// held. Unstamped, a requester killed between its restart (which clears the
// request) and the release, or between the CAS and listing itself as the
// requester, left the word taken for good: every later stop of the other kind
// waited for it.

function rwAcquire(thread: usize, stw: usize, writer: bool, deadline: f64): bool {
  const rw = ROOT + R_STW_RW;
  const serial = serialOf(thread);
  while (true) {
    const v = loadAcquire(rw);
    const free = writer ? v == 0 : (v & RW_WRITER) == 0;
    if (free) {
      if (casAcqRel(rw, v, writer ? RW_WRITER : v + RW_READER)) {
        storeRelease(stw + S_RW_HELD, serial);   // no call since the CAS (above)
        return true;
      }
      continue;
    }
    const slice = sliceLeft(deadline, WAIT_SLICE_MS);
    if (slice == 0) return false;
    // The holder may need us stopped: wait detached (re-attached after, even if parked meanwhile).
    hookWaitAsRequester(thread, rw, v, slice);
  }
}

/** Release the word if `serial` holds it for `stw` (a no-op otherwise: idempotent for reaps). */
function rwRelease(stw: usize, serial: u32): void {
  const rw = ROOT + R_STW_RW;
  if (!casAcqRel(stw + S_RW_HELD, serial, 0)) return;
  if (stw == GLOBAL_STW) storeRelease(rw, 0);   // no call since the CAS (above)
  else subRelaxed(rw, RW_READER);
  wake(rw, 0x7FFFFFFF);
}

// ---- A thread's side of a stop (under headLock) --------------------------------

/** The stop-the-world request that applies to `thread` now (global first), or 0. Under headLock. */
export function stwActiveFor(thread: usize): usize {
  const serial = serialOf(thread);
  if (loadAcquire(GLOBAL_STW + S_REQUESTED) != 0 && loadAcquire(GLOBAL_STW + S_REQUESTER) != serial) return GLOBAL_STW;
  const stw = <usize>load<u32>(thread, T_DOMAIN) + D_STW;
  if (loadAcquire(stw + S_REQUESTED) != 0 && loadAcquire(stw + S_REQUESTER) != serial) return stw;
  return 0;
}

/** Is `thread` the requester of a stop under way (its domain's or the global one)? */
export function stwIsRequester(thread: usize): bool {
  const serial = serialOf(thread);
  return loadAcquire(GLOBAL_STW + S_REQUESTER) == serial
    || loadAcquire(<usize>load<u32>(thread, T_DOMAIN) + D_STW + S_REQUESTER) == serial;
}

/** Account a counted thread once in its stop's countdown. Under headLock. */
export function stwAccount(thread: usize, stw: usize): void {
  if (load<u32>(thread, T_STW_PENDING) == 0) return;
  store<u32>(thread, 0, T_STW_PENDING);
  if (subRelaxed(stw + S_COUNTDOWN, 1) == 1) wake(stw + S_COUNTDOWN, 1);
}

/**
 * A reap's first step (abi/reap.ts): instance `instance`'s JS thread is gone, so
 * none of its threads will reach a checkpoint again. Each one a stop waits for
 * is counted off it now, as its reap does later: a stop, and a collection behind
 * it, that waits only for dead threads then goes on, and lets go of what it
 * holds, before the reap looks at who holds what. The records stay as they are
 * (a later stop counts them again, until they are reaped).
 */
export function stwCountOffDead(instance: u32): void {
  headLock();
  for (let t = <usize>loadSynced(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if (loadAcquire(t + T_OWNER) != instance || load<u32>(t, T_STW_PENDING) == 0) continue;
    const stw = stwActiveFor(t);
    if (stw != 0) stwAccount(t, stw);
  }
  headUnlock();
}

// ---- Scope walks (under headLock) ---------------------------------------------
//
// The lists are push-only and their links are never rewritten (thread.ts's
// threadNew resets a reused record without touching them), so a walk sees every
// thread ever listed in the domain.

/** Count (`counting`), then park or poke, every thread of one domain's list but the requester. */
function scanDomain(domain: usize, requester: usize, stw: usize, counting: bool): void {
  let t = <usize>loadSynced(domain + D_THREADS);
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

/** Record the threads still counted (they held the stop up) in the requester's record. */
function blockersDomain(domain: usize, requester: usize, n: u32): u32 {
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    if (t != requester && load<u32>(t, T_STW_PENDING) != 0) {
      if (n < STW_BLOCKERS_MAX) store<u32>(requester + T_STW_BLOCKERS + (<usize>n << 2), <u32>t);
      n++;
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return n;
}

function blockers(requester: usize, global: bool): void {
  let n: u32 = 0;
  if (!global) n = blockersDomain(<usize>load<u32>(requester, T_DOMAIN), requester, 0);
  else {
    let d = <usize>load<u32>(ROOT + R_DOMAIN_LIST);
    while (d != 0) { n = blockersDomain(d, requester, n); d = <usize>load<u32>(d, D_NEXT); }
  }
  store<u32>(requester, n, T_STW_BLOCKERS_N);
}

function restartDomain(domain: usize, requester: usize): void {
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    if (t != requester) {
      breakerClear(t, BRK_PLEASE_STOP);
      store<u32>(t, 0, T_STW_PENDING);
      if (casAcqRel(t + T_STATE, THREAD_SUSPENDED, THREAD_DETACHED)) wake(t + T_STATE, 0x7FFFFFFF);
      debugPause(DP_STW_RESTARTING);   // a kill at the loop's back edge
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
}

/**
 * End the stop of `stw` (requested or stopped) and restart its scope. Under
 * headLock. The request is cleared last: a requester killed part way through
 * the walk (V8 stops a worker at a loop's back edge; the reap then lets headLock
 * go) still reads as this stop's, and its reap's stwReleaseDead restarts the
 * rest (it did not, and those threads stayed SUSPENDED for good). Walking first
 * is safe: every reader of the request (stwActiveFor) holds headLock.
 */
function restart(requester: usize, stw: usize, global: bool): void {
  if (global) {
    let d = <usize>load<u32>(ROOT + R_DOMAIN_LIST);
    while (d != 0) { restartDomain(d, requester); d = <usize>load<u32>(d, D_NEXT); }
  } else {
    restartDomain(<usize>load<u32>(requester, T_DOMAIN), requester);
  }
  storeRelease(stw + S_REQUESTED, 0);
  storeRelease(stw + S_STOPPED, 0);
  storeRelease(stw + S_REQUESTER, 0);
}

// ---- Stop and start -------------------------------------------------------------

// @ts-ignore: decorator
@inline function stwOf(requester: usize, global: bool): usize {
  return global ? GLOBAL_STW : <usize>load<u32>(requester, T_DOMAIN) + D_STW;
}

/** Stop every other thread in scope; `requester` must be attached and current. */
export function stwStop(requester: usize, global: bool): i32 {
  return stwStopTimed(requester, global, -1);
}

/**
 * stwStop, giving up after `timeoutMs` (< 0: never): ETIMEDOUT with every thread
 * restarted, the words released and the blockers in the requester's record (see
 * the file comment). The requester returns attached either way. With `failFast`
 * (the user's stop, ft_stw_stop*, where the instance may not block) it never
 * waits: EAGAIN (nothing changed) when another stop holds the scope, or when the
 * world does not stop within STW_TRY_MS of polling (the threads that held it up
 * are in the record, as for ETIMEDOUT). The runtime's own stops (QSBR slots,
 * BRC, delayed free, the GC) poll there instead: they must complete.
 */
export function stwStopTimed(requester: usize, global: bool, timeoutMs: f64, failFast: bool = false): i32 {
  const mayWait = !failFast;
  const deadline = !mayWait ? nowMs() + STW_TRY_MS : timeoutMs < 0 ? Infinity : nowMs() + timeoutMs;
  const rc = stwBegin(requester, global, mayWait ? deadline : -Infinity);
  if (rc != OK) return rc == ETIMEDOUT && !mayWait ? EAGAIN : rc;
  const stw = stwOf(requester, global);
  debugPause(DP_STW_BEGUN);   // threads may attach, detach, exit or be reaped here, before the first poll
  while (true) {
    const left = stwPoll(requester, global);
    if (left == 0) return OK;
    const slice = sliceLeft(deadline, WAIT_SLICE_MS);
    if (slice == 0) {
      stwCancel(requester, global);
      return mayWait ? ETIMEDOUT : EAGAIN;
    }
    waitWhileSpinning(stw + S_COUNTDOWN, left, STW_SPIN_MS, slice);   // partner: stwAccount's wake; no detaching
  }
  return OK;
}

// ---- A stop in steps: begin, poll until stopped, or cancel (stwStopTimed; the facade's
// stopTheWorldAsync, which waits between the steps with Atomics.waitAsync) -------------

/**
 * Take the scope's lock and the reader/writer word (waiting, detached, until
 * `deadline`; -Infinity: not at all, ETIMEDOUT at once when either is taken) and
 * post the request: every thread in scope is counted and asked to stop. OK: the
 * request is under way (poll it, then stwStart, or stwCancel); ETIMEDOUT: nothing
 * changed; EINVAL_STATE: not attached, or a stop inside a stop.
 */
export function stwBegin(requester: usize, global: bool, deadline: f64): i32 {
  if (loadAcquire(requester + T_STATE) != THREAD_ATTACHED) return EINVAL_STATE;
  const stw = stwOf(requester, global);
  // A stop inside a stop (of either kind) would wait for itself.
  if (stwIsRequester(requester) || requestingHere != 0) return EINVAL_STATE;
  store<u32>(requester, 0, T_STW_BLOCKERS_N);
  if (!scopeLock(requester, stw + S_MUTEX, deadline)) return ETIMEDOUT;
  if (!rwAcquire(requester, stw, global, deadline)) { scopeUnlock(stw + S_MUTEX); return ETIMEDOUT; }
  debugPause(DP_STW_RW_TAKEN);
  headLock();
  storeRelease(stw + S_COUNTDOWN, 0);
  storeRelease(stw + S_REQUESTER, serialOf(requester));
  storeRelease(stw + S_REQUESTED, 1);
  storeRelease(stw + S_STOPPED, 0);
  requestingHere = requester;
  scan(requester, stw, global, true);
  headUnlock();
  return OK;
}

/**
 * One look at a stop `requester` began: park the DETACHED threads in scope, poke
 * the ATTACHED ones; 0 once every counted thread is accounted (the world is
 * stopped: S_STOPPED set), else the countdown (wait while it holds that value,
 * at most a slice: threads that detach on their own are found by the next poll).
 * Never waits. The requester stays attached (gh-118332, file comment).
 */
export function stwPoll(requester: usize, global: bool): u32 {
  const stw = stwOf(requester, global);
  if (loadAcquire(stw + S_REQUESTER) != serialOf(requester)) return 0;   // not a stop of ours (the caller checks)
  if (loadAcquire(stw + S_STOPPED) != 0) return 0;
  headLock();
  scan(requester, stw, global, false);
  const left = loadAcquire(stw + S_COUNTDOWN);
  if (left == 0) storeRelease(stw + S_STOPPED, 1);
  headUnlock();
  // Stopped: every other thread flushed its batched remote frees when it paused
  // or detached (thread.ts); the requester's own go now (the GC walks heaps next).
  if (left == 0 && remotePending(requester)) remoteFlush(requester);
  return left;
}

/**
 * Give up a stop `requester` began and that is not stopped yet: record the
 * threads that held it up (T_STW_BLOCKERS*), restart every thread it parked or
 * asked to stop, release the words. The world runs as before.
 */
export function stwCancel(requester: usize, global: bool): void {
  const stw = stwOf(requester, global);
  headLock();
  blockers(requester, global);
  restart(requester, stw, global);
  if (requestingHere == requester) requestingHere = 0;
  headUnlock();
  rwRelease(stw, serialOf(requester));
  scopeUnlock(stw + S_MUTEX);
}

/** Is `requester`'s stop of this scope under way (begun, stopped or not)? */
export function stwIsBegun(requester: usize, global: bool): bool {
  const stw = stwOf(requester, global);
  return loadAcquire(stw + S_REQUESTED) != 0 && loadAcquire(stw + S_REQUESTER) == serialOf(requester);
}

/** The word an async requester waits on: 0 the scope's lock, 1 the reader/writer word, 2 the countdown. */
export function stwWord(requester: usize, global: bool, which: u32): usize {
  const stw = stwOf(requester, global);
  return which == 0 ? stw + S_MUTEX : which == 1 ? ROOT + R_STW_RW : stw + S_COUNTDOWN;
}

/** Restart the threads `requester` stopped. */
export function stwStart(requester: usize, global: bool): i32 {
  const stw = stwOf(requester, global);
  if (loadAcquire(stw + S_REQUESTER) != serialOf(requester) || loadAcquire(stw + S_STOPPED) == 0) return EINVAL_STATE;
  headLock();
  restart(requester, stw, global);
  if (requestingHere == requester) requestingHere = 0;
  headUnlock();
  debugPause(DP_STW_RW_RELEASING);
  rwRelease(stw, serialOf(requester));
  scopeUnlock(stw + S_MUTEX);
  return OK;
}

/**
 * Reap (lifecycle.ts): `thread` is dead. A stop it requested (domain or global,
 * under way or done) ends as stwStart would end it, so the threads it parked run
 * again; a scope lock and the reader/writer word it held (stamped: S_RW_HELD),
 * request or not, are released.
 */
export function stwReleaseDead(thread: usize): void {
  const serial = serialOf(thread);
  for (let g: i32 = 0; g < 2; g++) {
    const global = g == 1;
    const stw = stwOf(thread, global);
    headLock();
    const mine = loadAcquire(stw + S_REQUESTED) != 0 && loadAcquire(stw + S_REQUESTER) == serial;
    if (mine) restart(thread, stw, global);
    headUnlock();
    rwRelease(stw, serial);   // held with or without a request (S_RW_HELD)
    if (loadAcquire(stw + S_MUTEX) == serial) {
      debugPause(DP_STW_RELEASE_SCOPE);
      if (casAcqRel(stw + S_MUTEX, serial, 0)) wake(stw + S_MUTEX, 0x7FFFFFFF);   // not a live requester's since
    }
  }
}

/** Is the world of `requester`'s scope stopped by it? */
export function stwIsStopped(requester: usize, global: bool): bool {
  const stw = stwOf(requester, global);
  return loadAcquire(stw + S_STOPPED) != 0 && loadAcquire(stw + S_REQUESTER) == serialOf(requester);
}
