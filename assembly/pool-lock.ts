// pool-lock.ts — the lock over a domain's pool: its abandoned segments (abandon.ts)
// and its floating pages (float.ts).
//
// A spin lock whose word (D_ABANDON_LOCK) holds the holder's thread record (when
// there is no current thread, the caller's instance as an odd word: instance.ts
// instanceLockWord). Its holder acts as the owner of every pooled segment and
// floating page. A holder that dies is let go by its reap: a thread's
// (lifecycle.ts holdsReleaseDead), an instance's with no thread (instance.ts
// instanceLocksReleaseDead); what it left half done stays so.

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { instanceLockWord } from "./instance";
import { D_ABANDON_LOCK } from "./layout";

/**
 * Try the pool lock for `holder`: a thread record, or 0 (a caller with no
 * current thread), recorded as this instance's odd lock word, which the reap of
 * a dead instance releases (instance.ts instanceLockWord).
 */
// @ts-ignore: decorator
@inline export function poolTryLock(domain: usize, holder: usize): bool {
  return casAcqRel(domain + D_ABANDON_LOCK, 0, holder != 0 ? <u32>holder : instanceLockWord());
}

export function poolLock(domain: usize, holder: usize): void {
  while (!poolTryLock(domain, holder)) {}
}

/** Reads of a held pool lock a slow-path adoption makes before it gives up (some µs: holds are short). */
const POOL_SPINS: i32 = 4096;

/**
 * The pool lock, or false once it stayed held for POOL_SPINS reads: an
 * allocation does not wait for it without bound (its holder may be a thread a
 * stop paused, or a dead one not yet reaped), but it does not give up at the
 * first try either. It did: with two threads attaching, allocating and exiting
 * at once, the one that found the lock taken (the other abandoning its
 * segment) took a fresh segment every time, and the pool grew until the memory
 * was full of segments holding one block each (ENOMEM: a user-style hunt).
 */
export function poolTryLockSpinning(domain: usize, holder: usize): bool {
  for (let i = 0; i < POOL_SPINS; i++) {
    if (loadAcquire(domain + D_ABANDON_LOCK) == 0 && poolTryLock(domain, holder)) return true;
  }
  return false;
}

// @ts-ignore: decorator
@inline export function poolUnlock(domain: usize): void {
  storeRelease(domain + D_ABANDON_LOCK, 0);
}

