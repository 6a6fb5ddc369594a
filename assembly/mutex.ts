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
// Attached threads detach while parked (thread.ts lockDetaching wraps the lock),
// so a stop-the-world never waits for a thread that sleeps on a lock.
//
// See also: critical-section.ts, host.ts (waiting).

import { addRelaxed, casAcqRel, casSeenAcqRel, loadAcquire } from "./atomics";
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

// @ts-ignore: decorator
@inline export function mutexTryLock(m: usize): bool {
  return casAcqRel(m, 0, M_LOCKED);
}

/** Lock, spinning then parking (a thread that must detach while it waits uses lockDetaching). */
// @ts-ignore: decorator
@inline export function mutexLock(m: usize): void {
  if (!casAcqRel(m, 0, M_LOCKED)) mutexLockSlow(m, true);
}

// @ts-ignore: decorator
@inline export function mutexUnlock(m: usize): bool {
  if (casAcqRel(m, M_LOCKED, 0)) return true;
  return mutexUnlockSlow(m);
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

export const LOCK_OK: i32 = 0;
export const LOCK_WOULD_BLOCK: i32 = 1;

/**
 * Slow path. With `mayPark` false (or on a thread that cannot block) it gives up
 * after spinning and returns LOCK_WOULD_BLOCK.
 */
export function mutexLockSlow(m: usize, mayPark: bool): i32 {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (grab(m)) return LOCK_OK;
  }
  if (!mayPark || !hostCanBlock()) {
    if (grab(m)) return LOCK_OK;
    return LOCK_WOULD_BLOCK;
  }
  const start = nowMs();
  addRelaxed(m, M_WAITER);
  while (true) {
    let v = loadAcquire(m);
    if ((v & M_HANDOFF) != 0) {
      // Handed to us (the first waiter woken): take it, leave the queue.
      if (casAcqRel(m, v, (v & ~(M_HANDOFF | M_STARVING)) - M_WAITER)) return LOCK_OK;
      continue;
    }
    if ((v & M_LOCKED) == 0) {
      if (casAcqRel(m, v, (v | M_LOCKED) - M_WAITER)) return LOCK_OK;
      continue;
    }
    if ((v & M_STARVING) == 0 && nowMs() - start > FAIR_MS) {
      casAcqRel(m, v, v | M_STARVING);
      continue;
    }
    waitWhile(m, v, -1);   // partner: wake() in mutexUnlockSlow
  }
  return LOCK_OK;
}

/** false when the mutex was not locked (a bug in the caller). */
export function mutexUnlockSlow(m: usize): bool {
  while (true) {
    const v = loadAcquire(m);
    if ((v & M_LOCKED) == 0) return false;
    const waiters = mutexWaiters(v);
    if (waiters == 0) {
      if (casAcqRel(m, v, v & ~(M_LOCKED | M_STARVING))) return true;
      continue;
    }
    // A starving waiter gets the lock handed over; otherwise it is released and
    // the woken waiter competes with newcomers.
    const next = (v & M_STARVING) != 0 ? v | M_HANDOFF : v & ~M_LOCKED;
    if (casAcqRel(m, v, next)) {
      wake(m, 1);
      return true;
    }
  }
  return false;
}
