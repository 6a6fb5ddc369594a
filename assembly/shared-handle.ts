// shared-handle.ts — the handle of a shared structure (SharedList, SharedMap): a
// fixed header whose address is the handle, holding a magic word, the writers'
// mutex and an atomic pointer to the structure's current storage block.
//
// Readers load the storage pointer (handleStorage) and read through it without a
// lock. Writers take the mutex (handleLock, lockDetaching: a thread waiting for it
// is detached, so a stop-the-world or a grace period never waits for it). A write
// that needs new storage builds it privately, publishes it with one atomic store
// of the pointer (handleReplace: the linearization point of that write), and hands
// the old block to freeDelayed: it is freed only after every thread of the domain
// has passed a quiescent state (a checkpoint, or a detach), so a reader that still
// holds the old pointer reads valid, frozen memory. A storage block is never
// written again once it stops being current. What a storage block holds, and why
// its lock-free reads are linearizable, is the structure's business: see its file.
//
// Layout (every field is atomic: other threads touch them all):
//
//   header (16 B, a MEM block of the creating thread; the handle)
//   +0   magic    u32 atomic  the structure's magic word while live; 0 once destroyed
//   +4   mutex    u32 atomic  mutex.ts word; serialises writers
//   +8   xstorage u32 atomic  the current storage block; stored by the mutex holder
//                             (or by handleNew before the handle is returned), loaded by all
//   +12  flags   u32, set before the magic and never changed: the structure's mode (HF_*)
//
// Invariants: while magic is set, xstorage is a live, 8-aligned block (the
// structures' validators call handleIsValid); the header never moves and never
// changes its magic until handleDestroy.
//
// Destroy (under the mutex) clears the magic word and the storage pointer, then
// hands both the storage and the header to freeDelayed: a lock-free reader that
// passed the handle check just before may still load the storage pointer, so the
// header too stays valid memory until every thread of the domain has passed a
// quiescent state (before, the header was freed at once: such a reader could load
// a pointer from a reused block — test/races-mutex.test.ts). Such a reader loads
// either the old storage (valid, frozen: its read is before the destroy) or 0 and
// reports EINVAL_PTR (handleGone). A writer that locks the mutex after a destroy
// finds the storage 0 and gives up (handleLock false): EINVAL_PTR. A writer that
// waits on the mutex is detached, so no grace period covers it: using a structure
// concurrently with its destroy is still the caller's bug; this only narrows it.
// Where the instance may not block (a browser main thread), handleLock gives up
// after a brief spin when another writer holds the mutex: EAGAIN, nothing changed
// (thread.ts lockOrAgain). The facade's withLockAsync takes the mutex as an
// asynchronous counted waiter (mutex.ts) and then *holds* it for this instance
// (handleHold): until handleHoldEnd, handleLock on that handle does not lock and
// handleUnlock does not unlock, so every write of a synchronous callback runs
// under the one lock the wait took. Instance-local; one handle at a time.
//
// When a freeDelayed is refused (the caller is of another domain than the block,
// or out of memory), the block leaks rather than being freed under readers.
//
// See also: shared-list.ts, shared-map.ts, delayed-free.ts, mutex.ts,
// critical-section.ts (lockDetaching).

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { heapMalloc } from "./alloc";
import { curHeap, curThread } from "./current";
import { freeDelayed } from "./delayed-free";
import { EAGAIN, EINVAL_PTR, EINVAL_STATE, ENOMEM, OK, peekError, setError } from "./errors";
import { ftFree } from "./free";
import { FIRST_UNIT, SEGMENT_SHIFT, T_HANDLE_HELD } from "./layout";
import { DP_HANDLE_LOCKED, DP_HANDLE_RELEASE_READ, debugPause } from "./debug-delay";
import { mutexUnlock } from "./mutex";
import { lockOrAgain } from "./thread";
import { loadSynced, memHas } from "./os";

const H_MAGIC: usize = 0;
const H_MUTEX: usize = 4;
const H_STORAGE: usize = 8;
const H_FLAGS: usize = 12;
/** A SharedObjectMap made for borrowed reads: what it lets go of is released after a grace period. */
export const HF_BORROWED: u32 = 1;
const HANDLE_HEADER_SIZE: usize = 16;

// ---- Checks ----------------------------------------------------------------------------

/**
 * Cheap check that `h` is a live header with `magic`: 8-aligned, in the segment
 * area of the memory, with that magic word (so a list is not a map). A freed
 * header's first word holds a free-list link, so a destroyed structure fails
 * too, unless the block was reused.
 */
export function handleIsLive(h: usize, magic: u32): bool {
  if ((h & 7) != 0 || h < (<usize>FIRST_UNIT << SEGMENT_SHIFT)) return false;
  if (!memHas(<u64>h + HANDLE_HEADER_SIZE)) return false;
  return loadAcquire(h + H_MAGIC) == magic;
}

/** The flags `h` was made with (HF_*). */
export function handleFlags(h: usize): u32 {
  return loadAcquire(h + H_FLAGS);
}

/** handleIsLive, and the storage pointer is set and 8-aligned (the start of the structures' validators). */
export function handleIsValid(h: usize, magic: u32): bool {
  if (!handleIsLive(h, magic)) return false;
  const s = handleStorage(h);
  return s != 0 && (s & 7) == 0;
}

// ---- Storage --------------------------------------------------------------------------

/** The current storage block (lock-free readers, and writers under the mutex). */
// @ts-ignore: decorator
@inline export function handleStorage(h: usize): usize {
  // Synced: a writer's new storage may lie in memory it grew since this instance looked (os.ts).
  return <usize>loadSynced(h + H_STORAGE);   // partner: storeRelease in handleReplace / handleNew
}

/**
 * Under the mutex: publish `next` in place of the current storage `prev` (the LP
 * of a write that replaces the storage), then retire `prev`.
 */
export function handleReplace(h: usize, prev: usize, next: usize): void {
  storeRelease(h + H_STORAGE, <u32>next);   // partner: handleStorage in readers
  // Readers may still hold `prev`: freed after a grace period. If the delayed
  // free fails, `prev` leaks rather than being freed under a reader.
  freeDelayed(prev);
}

// ---- The writers' mutex --------------------------------------------------------------------

/** The handle whose mutex this instance holds across writes (handleHold), or 0. Instance-local. */
let heldHere: usize = 0;
/** The thread whose record names heldHere (its T_HANDLE_HELD): the callback may make another current (review). */
let heldThread: usize = 0;

/**
 * Hold `h`'s mutex, which the caller (this instance) has locked, across the next
 * writes until handleHoldEnd. EINVAL_STATE when a hold is under way already.
 */
export function handleHold(h: usize): i32 {
  if (heldHere != 0) return EINVAL_STATE;
  heldHere = h;
  heldThread = curThread;
  heldBy(h);
  return OK;
}

/** End the hold: unlock the mutex (unless a destroy under the hold released it). */
export function handleHoldEnd(): void {
  holdRelease();
}

/**
 * End the hold and unlock its mutex, clearing the word of the thread the hold
 * named, whichever thread is current now (a callback may make another thread of
 * this instance current, or destroy the structure through one: the first kept
 * naming a header it no longer held, for its reap to unlock under a writer).
 */
function holdRelease(): void {
  const h = heldHere, thread = heldThread;
  heldHere = 0;
  heldThread = 0;
  if (h != 0) unlockNamed(h, thread);
}

// ---- A writer killed holding the mutex ------------------------------------------------------
//
// The current thread's record names the header whose mutex it holds
// (T_HANDLE_HELD), stored right after the lock is taken and cleared right after
// the CAS that lets it go (or hands it to a waiter), with no call in between, so
// a reap of a thread killed inside a write lets the mutex go (handleReleaseDead):
// left locked, every later writer of the structure — and its destroy — waited for
// ever. (The word was cleared before the unlock, whose slow path is a call, where
// V8 may stop a worker: killed there, the writer left the mutex held with no
// holder named. Any waiter, a dead one's leaked count too, sends every unlock down
// that path; test/handle-unlock-kill.test.ts.) What the write had done stays: lock-free readers see
// every step of a write, so each step leaves a valid structure (a grown table not
// yet published leaks; a count may be off by the write in flight). A thread
// holds one such mutex at a time (a nested one is not recorded).

// @ts-ignore: decorator
@inline function heldBy(h: usize): void {
  if (curThread != 0) storeRelease(curThread + T_HANDLE_HELD, <u32>h);
}

// @ts-ignore: decorator
@inline function unlockHeld(h: usize): void {
  unlockNamed(h, curThread);
}

/** Unlock `h`'s mutex; `thread`'s word (if any) is cleared, if it still names h, right after the releasing CAS. */
// @ts-ignore: decorator
@inline function unlockNamed(h: usize, thread: usize): void {
  if (thread != 0) mutexUnlock(h + H_MUTEX, thread + T_HANDLE_HELD, <u32>h);
  else mutexUnlock(h + H_MUTEX);
}

/**
 * Reap (lifecycle.ts): `thread` is dead. The writers' mutex it held, if any, is
 * let go (the header is live: it cannot be destroyed without that mutex).
 */
export function handleReleaseDead(thread: usize): void {
  const h = <usize>loadAcquire(thread + T_HANDLE_HELD);
  if (h == 0) return;
  debugPause(DP_HANDLE_RELEASE_READ);
  // As the dead writer would have: the word keeps naming h until the releasing CAS
  // (a reaper killed before it leaves the job to the next reap; reaps of one dead
  // thread run one at a time, under the roles lock: lifecycle.ts).
  unlockNamed(h, thread);
}

/**
 * Lock the writers' mutex (detached while it waits); false, not locked, with the
 * code in lastError: EINVAL_PTR when the structure was destroyed meanwhile,
 * EAGAIN where this instance may not block and another writer holds it.
 */
export function handleLock(h: usize): bool {
  if (heldHere == h) {
    if (handleStorage(h) != 0) return true;
    setError(EINVAL_PTR);
    return false;
  }
  // The record names the header as soon as the lock is taken (before a re-attach that may wait out a stop),
  // unless it names a held one already: a write nested in a withLockAsync callback on another
  // structure is not recorded (a kill inside that inner write leaves the inner mutex locked: a
  // known gap), and the outer stays named. Overwritten, then cleared by the inner unlock, it left
  // the outer mutex unnamed until the hold's end (review). The word is never stale: every path
  // that lets a mutex go clears it (holdRelease clears the hold's thread's, whoever destroys).
  const holder = curThread != 0 && load<u32>(curThread, T_HANDLE_HELD) == 0 ? curThread + T_HANDLE_HELD : 0;
  if (!lockOrAgain(curThread, h + H_MUTEX, holder, <u32>h)) {
    setError(EAGAIN);
    return false;
  }
  debugPause(DP_HANDLE_LOCKED);
  if (handleStorage(h) != 0) return true;
  unlockHeld(h);
  setError(EINVAL_PTR);
  return false;
}

/** The code a failed handleLock left (for callers that return a status). */
export function handleLockFailed(): i32 {
  return peekError();
}

/** What a read returns that found the structure destroyed (storage 0): -2 with EINVAL_PTR. */
export function handleGone(): f64 {
  setError(EINVAL_PTR);
  return -2;
}

// @ts-ignore: decorator
@inline export function handleUnlock(h: usize): void {
  if (heldHere != h) unlockHeld(h);
}

// ---- Creation and destruction ------------------------------------------------------

/**
 * A new live header with `magic` for `storage`, a private block it takes over
 * (0: its allocation failed). 0 and ENOMEM when either block is missing; the
 * storage is freed then.
 */
export function handleNew(magic: u32, storage: usize, flags: u32 = 0): usize {
  if (storage == 0) { setError(ENOMEM); return 0; }
  const h = heapMalloc(curHeap, HANDLE_HEADER_SIZE);
  if (h == 0) { ftFree(storage); setError(ENOMEM); return 0; }
  storeRelease(h + H_MUTEX, 0);
  storeRelease(h + H_STORAGE, <u32>storage);
  storeRelease(h + H_FLAGS, flags);
  storeRelease(h + H_MAGIC, magic);   // last: the header is live from here on
  return h;
}

/**
 * Destroy: the storage and the header are freed after a grace period (see the
 * file comment). Waits for a writer still inside (EAGAIN where it may not). EINVAL_PTR when it was
 * destroyed meanwhile. No other thread may use the structure afterwards.
 */
export function handleDestroy(h: usize): i32 {
  if (!handleLock(h)) return handleLockFailed();
  const s = handleStorage(h);
  storeRelease(h + H_MAGIC, 0);
  storeRelease(h + H_STORAGE, 0);
  // A writer waiting on it finds the storage 0. Under a hold, the hold ends with the structure.
  if (heldHere == h) holdRelease(); else unlockHeld(h);
  freeDelayed(s);
  freeDelayed(h);             // a reader may be between the handle check and the storage load
  return OK;
}
