// mutex.ts — a 32-bit word lock (PyMutex's behaviour, futex-style).
//
// A mutex is any zero-initialised, 4-aligned u32 in linear memory: creating one
// allocates nothing. Word layout:
//
//   bit 0     LOCKED
//   bit 1     HANDOFF   the lock was handed to the next waiter; it stays LOCKED
//   bit 2     STARVING  a waiter has waited more than FAIR_MS
//   bits 3..  waiters   threads parked (or about to park) on the word
//
// lock: CAS 0 -> LOCKED; else spin briefly; else count ourselves as a waiter and
// wait32 on the word. unlock: CAS LOCKED -> 0; else (waiters) wake one. Waiters
// are woken in FIFO order (wait32's list), so when a waiter has starved, unlock
// hands the lock straight over (HANDOFF) instead of letting newcomers barge.
// A thread that must not block (a browser main thread) polls instead.
//
// Every thread that waits on the word counts itself as a waiter first, including
// an asynchronous waiter (the facade's lockAsync: mutexWaiterAdd, then
// mutexWaiterStep after each Atomics.waitAsync wake-up): a hand-off's wake can
// land on any thread in the word's wait list, and only a counted waiter takes a
// handed-off lock. (Before, lockAsync waited uncounted: woken by a hand-off it
// could not take it, and the counted waiter the hand-off was meant for slept on.)
//
// Timeouts (mutexLockSlow's timeoutMs, the async waiter's cancel): a waiter that
// gives up leaves with mutexWaiterCancel, which takes the lock instead if it is
// free or handed off at that moment (the wake meant for someone is never lost),
// and otherwise uncounts itself (clearing STARVING when no waiter is left).
//
// A waiter that dies parked (its worker terminated) cannot uncount itself: the
// count is only a hint. Nothing depends on it being exact: tryLock takes a free
// word whatever its count (grab), and a hand-off whose wake woke nobody
// (notifyCount: no live thread was parked; a counted thread that is not parked yet
// re-reads the word before it parks) is given a short grace to be taken, then
// withdrawn: the lock is released normally with STARVING cleared (handoffWithdraw).
// The leaked count costs only the slow path on that mutex's unlocks.
//
// Attached threads detach while parked (thread.ts lockDetaching wraps the lock),
// so a stop-the-world never waits for a thread that sleeps on a lock. Where the
// instance may not block, the user-facing locks (lockOrAgain: ft_mutex_lock,
// critical sections, shared structures' writers) give up after the spin: EAGAIN.
//
// Adoption (the facade's async variants): a JS thread that took a mutex
// asynchronously (a counted waiter, above) hands it to the next lock of that word
// on this instance with mutexAdopt; lockOrAgain takes an adopted word over
// instead of locking it. The facade adopts just before its synchronous call and
// calls mutexAdoptEnd right after, which unlocks a word the call did not take
// over (it failed before locking): an adopted lock is never left held.
// Instance-local (Wasm globals are per instance), two words (a two-mutex section).
//
// See also: critical-section.ts, host.ts (waiting).

import { addRelaxed, casAcqRel, casSeenAcqRel, loadAcquire, notifyCount } from "./atomics";
import { DP_HANDOFF_WITHDRAW, DP_MUTEX_PARKING, DP_MUTEX_WOKEN, DP_UNLOCK_RELEASED, DP_UNLOCK_SLOW, debugPause } from "./debug-delay";
import { hostCanBlock, nowMs, waitWhile, wake } from "./host";

export const M_LOCKED: u32 = 1;
export const M_HANDOFF: u32 = 2;
export const M_STARVING: u32 = 4;
export const M_WAITER: u32 = 8;
/** Threads parked (or about to park) on a mutex word. */
// @ts-ignore: decorator
@inline export function mutexWaiters(v: u32): u32 { return v >> 3; }

const SPIN_LIMIT: i32 = 40;
const FAIR_MS: f64 = 1.0;

/** Take the lock if it is free (a waiter count left by a dead waiter does not stop it). */
// @ts-ignore: decorator
@inline export function mutexTryLock(m: usize): bool {
  return casAcqRel(m, 0, M_LOCKED) || grab(m);
}

/** Lock, spinning then parking (a thread that must detach while it waits uses lockDetaching). */
// @ts-ignore: decorator
@inline export function mutexLock(m: usize): void {
  if (!casAcqRel(m, 0, M_LOCKED)) mutexLockSlow(m, true, -1);
}

/**
 * Unlock. With a `holder` word (thread.ts unlockOwned), it is cleared if it still
 * reads `me`, right after the CAS that lets the lock go or hands it over, with no
 * call in between.
 */
// @ts-ignore: decorator
@inline export function mutexUnlock(m: usize, holder: usize = 0, me: u32 = 0): bool {
  if (casAcqRel(m, M_LOCKED, 0)) {
    if (holder != 0) casAcqRel(holder, me, 0);
    return true;
  }
  return mutexUnlockSlow(m, holder, me);
}

/** Try to take a free lock without queueing (keeps the other bits). */
function grab(m: usize): bool {
  let v = loadAcquire(m);
  while ((v & (M_LOCKED | M_HANDOFF)) == 0) {
    const seen = casSeenAcqRel(m, v, v | M_LOCKED);
    if (seen == v) return true;
    v = seen;
  }
  return false;
}

// ---- Adoption: a lock taken asynchronously, handed to the next lock of its word ----

let adoptedA: usize = 0;
let adoptedB: usize = 0;
// The word naming each adopted lock (a thread's T_CS_ASYNC slot; 0: none): cleared
// when the lock is taken over (adoptedHolder says by the caller of mutexAdoptTake) or
// let go, with no call in between (critical-section.ts, on what a reap reports).
let adoptedHolderA: usize = 0;
let adoptedHolderB: usize = 0;
/** The holder word of the lock mutexAdoptTake just took over (0: none), for its caller to clear. */
export let adoptedHolder: usize = 0;

/** Hand `m` (locked by this instance; named at `holder`, or 0) to its next lockOrAgain here; false when both slots are in use. */
export function mutexAdopt(m: usize, holder: usize): bool {
  if (adoptedA == 0) { adoptedA = m; adoptedHolderA = holder; return true; }
  if (adoptedB == 0) { adoptedB = m; adoptedHolderB = holder; return true; }
  return false;
}

/** Take an adopted `m` over (the caller now holds it as if it had locked it; it clears adoptedHolder). */
export function mutexAdoptTake(m: usize): bool {
  if (m == 0) return false;
  if (adoptedA == m) { adoptedA = 0; adoptedHolder = adoptedHolderA; adoptedHolderA = 0; return true; }
  if (adoptedB == m) { adoptedB = 0; adoptedHolder = adoptedHolderB; adoptedHolderB = 0; return true; }
  return false;
}

/** End an adoption: unlock what was not taken over (clearing its holder word); how many words that was. */
export function mutexAdoptEnd(): u32 {
  let n: u32 = 0;
  if (adoptedA != 0) { mutexUnlock(adoptedA, adoptedHolderA, <u32>adoptedA); adoptedA = 0; adoptedHolderA = 0; n++; }
  if (adoptedB != 0) { mutexUnlock(adoptedB, adoptedHolderB, <u32>adoptedB); adoptedB = 0; adoptedHolderB = 0; n++; }
  return n;
}

export const LOCK_OK: i32 = 0;
export const LOCK_WOULD_BLOCK: i32 = 1;
export const LOCK_TIMEOUT: i32 = 2;

/**
 * Slow path. With `mayPark` false (or on a thread that cannot block) it gives up
 * after spinning and returns LOCK_WOULD_BLOCK. `timeoutMs` >= 0 bounds the parked
 * wait: LOCK_TIMEOUT, with the waiter count as it was.
 */
export function mutexLockSlow(m: usize, mayPark: bool, timeoutMs: f64): i32 {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (grab(m)) return LOCK_OK;
  }
  if (!mayPark || !hostCanBlock()) {
    if (grab(m)) return LOCK_OK;
    return LOCK_WOULD_BLOCK;
  }
  const start = nowMs();
  mutexWaiterAdd(m);
  while (true) {
    const v = mutexWaiterStep(m, start);
    if (v == 0) return LOCK_OK;
    debugPause(DP_MUTEX_PARKING);
    if (timeoutMs < 0) {
      waitWhile(m, v, -1);   // partner: wake() in mutexUnlockSlow
    } else {
      const left = start + timeoutMs - nowMs();
      if (left <= 0) return mutexWaiterCancel(m) ? LOCK_OK : LOCK_TIMEOUT;
      waitWhile(m, v, left);
    }
    debugPause(DP_MUTEX_WOKEN);
  }
  return LOCK_OK;
}

// ---- A counted waiter, step by step (the slow path above; the facade's lockAsync) ----

/** Count the caller as a waiter of `m` (it must then step until it has the lock, or cancel). */
// @ts-ignore: decorator
@inline export function mutexWaiterAdd(m: usize): void {
  addRelaxed(m, M_WAITER);
}

/**
 * One look by a counted waiter that started waiting at `startMs`: 0 when it took
 * the lock (and is no longer counted), else the word to wait on (never 0: it
 * counts this waiter). Marks the mutex STARVING once the wait passed FAIR_MS.
 */
export function mutexWaiterStep(m: usize, startMs: f64): u32 {
  while (true) {
    const v = loadAcquire(m);
    if ((v & M_HANDOFF) != 0) {
      // Handed to us (the first waiter woken): take it, leave the queue.
      if (casAcqRel(m, v, (v & ~(M_HANDOFF | M_STARVING)) - M_WAITER)) return 0;
      continue;
    }
    if ((v & M_LOCKED) == 0) {
      if (casAcqRel(m, v, (v | M_LOCKED) - M_WAITER)) return 0;
      continue;
    }
    if ((v & M_STARVING) == 0 && nowMs() - startMs > FAIR_MS) {
      casAcqRel(m, v, v | M_STARVING);
      continue;
    }
    return v;
  }
  return 0;
}

/**
 * A counted waiter gives up: true when it took the lock after all (it was free or
 * handed off: a wake meant for a waiter is never lost), false when it left the
 * count (and STARVING, if it was the last waiter).
 */
export function mutexWaiterCancel(m: usize): bool {
  while (true) {
    const v = loadAcquire(m);
    if ((v & M_HANDOFF) != 0) {
      if (casAcqRel(m, v, (v & ~(M_HANDOFF | M_STARVING)) - M_WAITER)) return true;
      continue;
    }
    if ((v & M_LOCKED) == 0) {
      if (casAcqRel(m, v, (v | M_LOCKED) - M_WAITER)) return true;
      continue;
    }
    let next = v - M_WAITER;
    if (mutexWaiters(next) == 0) next &= ~M_STARVING;
    if (casAcqRel(m, v, next)) return false;
  }
  return false;
}

/** false when the mutex was not locked (a bug in the caller). */
export function mutexUnlockSlow(m: usize, holder: usize = 0, me: u32 = 0): bool {
  debugPause(DP_UNLOCK_SLOW);   // a call: where V8 may stop a worker before the lock is let go
  while (true) {
    const v = loadAcquire(m);
    if ((v & M_LOCKED) == 0) return false;
    const waiters = mutexWaiters(v);
    if (waiters == 0) {
      if (casAcqRel(m, v, v & ~(M_LOCKED | M_STARVING | M_HANDOFF))) {
        if (holder != 0) casAcqRel(holder, me, 0);
        return true;
      }
      continue;
    }
    // A starving waiter gets the lock handed over; otherwise it is released and
    // the woken waiter competes with newcomers.
    const handoff = (v & M_STARVING) != 0;
    const next = handoff ? v | M_HANDOFF : v & ~M_LOCKED;
    if (casAcqRel(m, v, next)) {
      // A holder word (thread.ts unlockOwned) is cleared with no call since the
      // release: a kill from here on finds neither the lock nor the word ours.
      if (holder != 0) casAcqRel(holder, me, 0);
      debugPause(DP_UNLOCK_RELEASED);
      const woken = notifyCount(m, 1);
      // Nobody parked: the counted waiters are dead, or not parked yet (those
      // re-read the word before parking and take the hand-off).
      if (handoff && woken == 0) handoffWithdraw(m);
      return true;
    }
  }
  return false;
}

const HANDOFF_GRACE_SPINS: i32 = 200;

/**
 * A reap's look at a mutex whose holder it may have lost: a hand-off nobody took
 * (its unlocker died withdrawing it, its waiters dead) is withdrawn, as its
 * unlocker would have; refused by tryLock and grab, it stayed for good. Safe
 * whenever it runs (handoffWithdraw): a live waiter still takes it or competes.
 */
export function mutexHandoffReap(m: usize): void {
  if ((loadAcquire(m) & M_HANDOFF) != 0) handoffWithdraw(m);
}

/**
 * A hand-off that woke nobody: give a waiter about to park a moment to take it,
 * then release the lock normally (clearing STARVING), so a waiter count left by a
 * dead waiter cannot keep the lock handed to nobody. Safe whenever it runs: a
 * live waiter that did not take the hand-off finds the lock free, or held by a
 * newcomer whose unlock wakes it.
 */
function handoffWithdraw(m: usize): void {
  debugPause(DP_HANDOFF_WITHDRAW);
  for (let i = 0; i < HANDOFF_GRACE_SPINS; i++) {
    if ((loadAcquire(m) & M_HANDOFF) == 0) return;
  }
  while (true) {
    const v = loadAcquire(m);
    if ((v & M_HANDOFF) == 0) return;
    if (casAcqRel(m, v, v & ~(M_HANDOFF | M_LOCKED | M_STARVING))) {
      wake(m, 1);
      return;
    }
  }
}
