// brc.ts — biased reference counting: the object header's two counts, the
// owner's and the others' increments and decrements, merging, and the merge
// queue that carries a non-owner's decrement to the owner.
//
// An object is owned by the thread that made it (O_TID = that thread's serial,
// a thread incarnation: a record reused later has another serial, so it never
// inherits the objects). The owner counts in O_LOCAL with plain loads and
// stores; everyone else adds to O_SHARED atomically. The shared word packs
//
//   bits 2..31  count (signed: other threads may drop references the owner made)
//   bits 0..1   INIT 0 | SHARED 1 (published to lock-free readers: tryIncref may
//               succeed) | QUEUED 2 (the owner's merge queue holds a non-owner's
//               decrement) | MERGED 3 (no owner: the whole count is here)
//
//   true count = local + count - (QUEUED ? 1 : 0)
//
// A non-owner whose decrement would take a non-queued count below zero sets
// QUEUED instead of subtracting, pushes the object on the owner's merge queue
// and sets the owner's EXPLICIT_MERGE breaker bit; the owner merges at its next
// checkpoint: local and the queued -1 fold into the shared word, which becomes
// MERGED, and O_TID 0. The owner's local count reaching zero merges too. The
// object dies when the merged count reaches zero; the caller deallocates it
// (object.ts). Invariants (CPython's, with the bugs they avoid):
//   - O_TID == 0 <=> merged or immortal, for a live object (gh-121794);
//   - a merge writes O_LOCAL and O_TID before the shared word, and nothing
//     after it: once it says MERGED another thread may free the object (gh-119999);
//   - the owner's zero-local path loads the shared word with acquire (gh-117657);
//   - an owned object has local >= 1 (the owner's zero merges or frees it), so an
//     owner's decref that finds local 0 is a decref too many (EREFCOUNT);
//   - MERGED with count 0 is dead: tryIncref fails on it, incref refuses it.
//
// The merge queue: a per-domain table of 64 buckets keyed by owner serial; each
// bucket has a spin lock (its word holds the holder's thread record, so a reap
// releases a dead holder's) and a list of the registered threads that hash
// there. A thread registers when it first owns an object (brcRegister) and
// leaves at exit or reap (brcLeave: its queue merged first). Queuing finds the
// owner under the bucket lock, so an owner cannot leave meanwhile; an owner not
// found has gone, and the queuing thread merges for it. Queue storage is
// chunks from the domain's pool (meta memory), not heap blocks.
//
// See also: object.ts (objects, deallocation), type.ts, layout.ts (the header box).

import { addRelaxed, casAcqRel, loadAcquire, storeRelease, swapAcqRel } from "./atomics";
import { breakerRequest, BRK_EXPLICIT_MERGE } from "./breaker";
import { curThread, curTid } from "./current";
import { DP_BRC_QUEUED, DP_BRC_REGISTERED, DP_BRC_TRY_LOADED, debugPause } from "./debug-delay";
import { chunkFree, chunkNew } from "./delayed-free";
import { EREFCOUNT, OK } from "./errors";
import { stwIsRequester, stwStart, stwStopTimed } from "./stop-the-world";
import { BRC_BUCKET_SIZE, BRC_BUCKETS, C_ITEMS, C_NEXT, C_WR, CHUNK_SIZE, D_OBJECTS, IMMORTAL_LOCAL,
  O_LOCAL, O_SHARED, O_TID, OR_BUCKETS, T_BRC_BUCKET, T_BRC_NEXT, T_BRC_QUEUE, T_DOMAIN, T_OBJ_QUEUED,
  T_SERIAL } from "./layout";

// ---- The shared word ------------------------------------------------------------------

// @abi-begin brc-shared
export const SH_INIT: u32 = 0;
export const SH_SHARED: u32 = 1;     // published: a non-owner's tryIncref may succeed
export const SH_QUEUED: u32 = 2;     // the owner's merge queue holds one decrement
export const SH_MERGED: u32 = 3;     // no owner; a count of 0 means dead
export const SH_SHIFT: u32 = 2;
// @abi-end
const SH_FLAGS: u32 = 3;
const SH_ONE: i32 = 1 << SH_SHIFT;

/** The results of a decrement: the object lives on, or the caller deallocates it. */
export const BRC_ALIVE: i32 = 0;
export const BRC_DEAD: i32 = 1;

// @ts-ignore: decorator
@inline export function shCount(s: i32): i32 { return s >> SH_SHIFT; }
// @ts-ignore: decorator
@inline export function shFlags(s: i32): u32 { return <u32>s & SH_FLAGS; }
// @ts-ignore: decorator
@inline export function shMake(count: i32, flags: u32): i32 { return (count << SH_SHIFT) | <i32>flags; }
/** The shared word (any thread). Partner: the CASes below. */
// @ts-ignore: decorator
@inline export function sharedLoad(o: usize): i32 { return <i32>loadAcquire(o + O_SHARED); }
// @ts-ignore: decorator
@inline function sharedCas(o: usize, expected: i32, value: i32): bool {
  return casAcqRel(o + O_SHARED, <u32>expected, <u32>value);
}
/** Does this thread own `o`? (curTid is never 0 while a thread is current: merged objects are nobody's.) */
// @ts-ignore: decorator
@inline export function brcIsOwner(o: usize): bool { return loadAcquire(o + O_TID) == curTid; }

/** The object's true count (a snapshot unless the caller owns it): IMMORTAL_LOCAL for immortal objects. */
export function brcRefcount(o: usize): u32 {
  const local = loadAcquire(o + O_LOCAL);
  if (local == IMMORTAL_LOCAL) return IMMORTAL_LOCAL;
  const s = sharedLoad(o);
  const n = <i64>local + <i64>shCount(s) - (shFlags(s) == SH_QUEUED ? 1 : 0);
  return n < 0 ? 0 : <u32>n;
}

/** A fresh object of the current thread: count 1, owned. Its block is not yet published. */
// @ts-ignore: decorator
@inline export function brcInitOwned(o: usize): void {
  store<u32>(o, 1, O_LOCAL);
  storeRelease(o + O_SHARED, 0);
  storeRelease(o + O_TID, curTid);
}

/** Dead for good: tid 0, MERGED with count 0 (tryIncref fails on it; so does a late incref). */
// @ts-ignore: decorator
@inline export function brcMarkDead(o: usize): void {
  storeRelease(o + O_TID, 0);
  store<u32>(o, 0, O_LOCAL);
  storeRelease(o + O_SHARED, SH_MERGED);
}

/**
 * Is `o` dead (brcMarkDead)? MERGED with count 0 never describes a live object.
 * The word survives the free (the allocator writes only the first two words of
 * a freed block, and the debug fill keeps the first 16 bytes of an object tag's).
 */
// @ts-ignore: decorator
@inline export function brcLooksDead(o: usize): bool {
  return sharedLoad(o) == <i32>SH_MERGED;
}

// ---- Increments and decrements --------------------------------------------------------

/** +1 (any thread; the caller holds a reference, so `o` is live). */
// @ts-ignore: decorator
@inline export function brcIncref(o: usize): void {
  if (brcIsOwner(o)) {
    const l = load<u32>(o, O_LOCAL);
    if (l != IMMORTAL_LOCAL) store<u32>(o, l + 1, O_LOCAL);   // l + 1 == IMMORTAL_LOCAL: immortal by overflow
    return;
  }
  if (loadAcquire(o + O_LOCAL) == IMMORTAL_LOCAL) return;
  addRelaxed(o + O_SHARED, <u32>SH_ONE);
}

/** -1: BRC_ALIVE, BRC_DEAD (the caller deallocates), or -EREFCOUNT (nothing changed). */
// @ts-ignore: decorator
@inline export function brcDecref(o: usize): i32 {
  if (brcIsOwner(o)) {
    const l = load<u32>(o, O_LOCAL);
    if (l == IMMORTAL_LOCAL) return BRC_ALIVE;
    if (l <= 1) return brcDecrefLastLocal(o, l);
    store<u32>(o, l - 1, O_LOCAL);
    return BRC_ALIVE;
  }
  if (loadAcquire(o + O_LOCAL) == IMMORTAL_LOCAL) return BRC_ALIVE;
  return brcDecrefShared(o);
}

/**
 * Slow: the owner drops its last local reference: free at once when nobody
 * else has one and nobody may take one (shared word 0: no atomic write, which
 * is why lock-free readers need SHARED), else merge (tid 0 first, then MERGED).
 */
function brcDecrefLastLocal(o: usize, l: u32): i32 {
  if (l == 0) return -EREFCOUNT;
  let s = sharedLoad(o);   // acquire: gh-117657
  if (s == 0) { store<u32>(o, 0, O_LOCAL); return BRC_DEAD; }
  // QUEUED holds a decrement not applied yet: a count of 0 there means this one is too many.
  if (shFlags(s) == SH_QUEUED && shCount(s) <= 0) return -EREFCOUNT;
  store<u32>(o, 0, O_LOCAL);
  storeRelease(o + O_TID, 0);
  while (true) {
    const merged = shMake(shCount(s), SH_MERGED);
    if (sharedCas(o, s, merged)) return merged == <i32>SH_MERGED ? BRC_DEAD : BRC_ALIVE;
    s = sharedLoad(o);
  }
}

/**
 * A non-owner's -1 (or an owner's on a merged object): subtract, or, where the
 * count is 0 and not queued yet, set QUEUED and hand the decrement to the
 * owner's merge queue (CPython's _Py_DecRefShared).
 */
export function brcDecrefShared(o: usize): i32 {
  while (true) {
    const s = sharedLoad(o);
    const flags = shFlags(s);
    if (flags == SH_MERGED) {
      if (shCount(s) <= 0) return -EREFCOUNT;
      const next = s - SH_ONE;
      if (sharedCas(o, s, next)) return next == <i32>SH_MERGED ? BRC_DEAD : BRC_ALIVE;
    } else if (flags != SH_QUEUED && shCount(s) <= 0) {
      const rc = brcQueue(o, s);
      if (rc != BRC_RETRY) return rc;
    } else {
      if (sharedCas(o, s, s - SH_ONE)) return BRC_ALIVE;
    }
  }
}

const BRC_RETRY: i32 = 2;

/**
 * Fold the local count and `extra` into the shared word, which becomes MERGED
 * (the owner merging its queue, or any thread merging for an owner that is
 * gone): local and tid are written first, then the shared word, and nothing
 * after it. The new count (0: the caller deallocates; below 0 too: decrements
 * by non-owners beyond the count, which only the merge can see, since the local
 * count is the owner's. The object was over-released and is dead: deallocated
 * rather than left counted live for good, as it was, with a count of 0 or less
 * that no decref or collection would ever free — a user-style hunt).
 */
export function brcExplicitMerge(o: usize, extra: i32): i32 {
  const local = loadAcquire(o + O_LOCAL);
  if (local == IMMORTAL_LOCAL) return 1;   // made immortal while queued: it stays so, nothing to merge
  storeRelease(o + O_LOCAL, 0);
  storeRelease(o + O_TID, 0);
  while (true) {
    const s = sharedLoad(o);
    const rc = shCount(s) + <i32>local + extra;
    if (sharedCas(o, s, shMake(rc, SH_MERGED))) return rc;
  }
}

/**
 * A speculative +1 for a lock-free reader (CPython's _Py_TryIncref): the owner's
 * while its local count lives; anyone's on a published object whose count is
 * not zero. False on a dead object, whose header QSBR keeps readable.
 */
export function brcTryIncref(o: usize): bool {
  if (brcIsOwner(o)) {
    const l = load<u32>(o, O_LOCAL);
    if (l == IMMORTAL_LOCAL) return true;
    if (l == 0) return false;
    store<u32>(o, l + 1, O_LOCAL);
    return true;
  }
  if (loadAcquire(o + O_LOCAL) == IMMORTAL_LOCAL) return true;
  while (true) {
    const s = sharedLoad(o);
    debugPause(DP_BRC_TRY_LOADED);
    if (s == 0 || s == <i32>SH_MERGED) return false;   // unpublished, or dead
    if (sharedCas(o, s, s + SH_ONE)) return true;
  }
}

/** Publish `o` to lock-free readers: SHARED unless a flag is set already (CPython's _PyObject_SetMaybeWeakref). */
export function brcShare(o: usize): void {
  if (loadAcquire(o + O_LOCAL) == IMMORTAL_LOCAL) return;
  while (true) {
    const s = sharedLoad(o);
    if (shFlags(s) != SH_INIT) return;
    if (sharedCas(o, s, s | <i32>SH_SHARED)) return;
  }
}

// ---- The merge queue -------------------------------------------------------------------

// A bucket (BRC_BUCKET_SIZE bytes): {lock, threads, pending, pad}. `pending` is
// the object its lock holder is handing over (set before the QUEUED CAS,
// cleared after the push, all under the lock): a reap that finds a dead holder
// finishes the hand-off (brcReleaseDead).
const B_LOCK: usize = 0;
const B_THREADS: usize = 4;
const B_PENDING: usize = 8;

// @ts-ignore: decorator
@inline function bucketAt(domain: usize, index: u32): usize {
  return <usize>load<u32>(domain, D_OBJECTS) + OR_BUCKETS + <usize>index * BRC_BUCKET_SIZE;
}
// @ts-ignore: decorator
@inline function bucketOf(domain: usize, tid: u32): usize {
  return bucketAt(domain, tid & (BRC_BUCKETS - 1));
}

/** Take a bucket's lock (a few instructions are held under it, never a wait). */
function bucketLock(b: usize, holder: usize): void {
  while (!casAcqRel(b, 0, <u32>holder)) {
    while (loadAcquire(b) != 0) {}
  }
}
// @ts-ignore: decorator
@inline function bucketUnlock(b: usize): void { storeRelease(b, 0); }

/** The registered thread whose serial is `tid`, 0 if gone. Caller holds the bucket's lock. */
function bucketFind(b: usize, tid: u32): usize {
  let t = <usize>load<u32>(b + B_THREADS);
  while (t != 0) {
    if (loadAcquire(t + T_SERIAL) == tid) return t;
    t = <usize>load<u32>(t, T_BRC_NEXT);
  }
  return 0;
}

/** Register the current thread as an owner (once: it is about to own an object). False: no memory. */
export function brcRegister(thread: usize): bool {
  if (load<u32>(thread, T_BRC_BUCKET) != 0) return true;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const tid = loadAcquire(thread + T_SERIAL);
  const b = bucketOf(domain, tid);
  bucketLock(b, thread);
  // The bucket first: a thread killed after linking itself is then found and
  // unlinked by its reap (brcQueueTake), whose unlink tolerates "not listed".
  store<u32>(thread, (tid & (BRC_BUCKETS - 1)) + 1, T_BRC_BUCKET);
  store<u32>(thread, load<u32>(b, B_THREADS), T_BRC_NEXT);
  store<u32>(b, <u32>thread, B_THREADS);
  debugPause(DP_BRC_REGISTERED);
  bucketUnlock(b);
  return true;
}

/**
 * The QUEUED transition (shared word `s`, count <= 0, not queued) and the hand-off
 * of the decrement to the owner's merge queue, under the owner's bucket lock
 * (CPython's _Py_brc_queue_object): the owner cannot leave meanwhile, and a
 * holder killed anywhere in between leaves `pending` for its reap to finish.
 * An owner that has gone leaves the merge to this thread; a merge racing us
 * (tid 0 already) sends us back to the merged path. BRC_RETRY: the word changed.
 */
function brcQueue(o: usize, s: i32): i32 {
  const tid = loadAcquire(o + O_TID);
  if (tid == 0) return BRC_RETRY;   // merging right now: the word says MERGED in a moment
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  const b = bucketOf(domain, tid);
  bucketLock(b, curThread);
  storeRelease(b + B_PENDING, <u32>o);
  if (!sharedCas(o, s, <i32>SH_QUEUED)) {
    storeRelease(b + B_PENDING, 0);
    bucketUnlock(b);
    return BRC_RETRY;
  }
  debugPause(DP_BRC_QUEUED);
  const owner = bucketFind(b, tid);
  if (owner == 0) {
    storeRelease(b + B_PENDING, 0);
    bucketUnlock(b);
    return brcExplicitMerge(o, -1) <= 0 ? BRC_DEAD : BRC_ALIVE;
  }
  if (!queuePush(domain, owner, o)) {
    storeRelease(b + B_PENDING, 0);
    bucketUnlock(b);
    return brcMergeStopped(o);
  }
  storeRelease(b + B_PENDING, 0);
  bucketUnlock(b);
  storeRelease(curThread + T_OBJ_QUEUED, loadAcquire(curThread + T_OBJ_QUEUED) + 1);
  return BRC_ALIVE;
}

/** Push `o` on `owner`'s queue and ask it to merge (caller holds the bucket lock); false: no chunk could be had. */
function queuePush(domain: usize, owner: usize, o: usize): bool {
  let chunk = <usize>load<u32>(owner, T_BRC_QUEUE);
  if (chunk == 0 || load<u32>(chunk, C_WR) == QUEUE_ITEMS) {
    const fresh = chunkNew(domain);
    if (fresh == 0) return false;
    store<u32>(fresh, <u32>chunk, C_NEXT);
    store<u32>(fresh, 0, C_WR);
    storeRelease(owner + T_BRC_QUEUE, <u32>fresh);
    chunk = fresh;
  }
  const n = load<u32>(chunk, C_WR);
  store<u32>(chunk + C_ITEMS + (<usize>n << 2), <u32>o);
  store<u32>(chunk, n + 1, C_WR);
  breakerRequest(owner, BRK_EXPLICIT_MERGE);
  return true;
}

/**
 * No chunk for the owner's queue (meta memory exhausted): CPython's fallback.
 * With the owner paused by a stop-the-world, merge for it (-1) here. Inside a
 * stop of our own the owner is paused already. Where no stop can be had, wait
 * for the owner to drain its queue (a chunk comes back) and try again.
 */
function brcMergeStopped(o: usize): i32 {
  while (true) {
    const requester = stwIsRequester(curThread);
    if (requester || stwStopTimed(curThread, false, -1) == OK) {
      const rc = brcExplicitMerge(o, -1);
      if (!requester) stwStart(curThread, false);
      return rc <= 0 ? BRC_DEAD : BRC_ALIVE;
    }
    const tid = loadAcquire(o + O_TID);
    if (tid == 0) return brcExplicitMerge(o, -1) <= 0 ? BRC_DEAD : BRC_ALIVE;
    const domain = <usize>load<u32>(curThread, T_DOMAIN);
    const b = bucketOf(domain, tid);
    bucketLock(b, curThread);
    const owner = bucketFind(b, tid);
    const pushed = owner != 0 && queuePush(domain, owner, o);
    bucketUnlock(b);
    if (owner == 0) return brcExplicitMerge(o, -1) <= 0 ? BRC_DEAD : BRC_ALIVE;
    if (pushed) return BRC_ALIVE;
  }
}

const QUEUE_ITEMS: u32 = (CHUNK_SIZE - <u32>C_ITEMS) >> 2;   // 1020

/**
 * Take `thread`'s whole queue (a chunk list) — or, with `leave`, when it is
 * empty, unregister the thread under the same lock, so that no object can be
 * queued to it afterwards (the queuing thread then merges by itself). 0: empty.
 */
export function brcQueueTake(thread: usize, leave: bool): usize {
  const bucket = load<u32>(thread, T_BRC_BUCKET);
  if (bucket == 0) return 0;
  const b = bucketAt(<usize>load<u32>(thread, T_DOMAIN), bucket - 1);
  bucketLock(b, curThread != 0 ? curThread : 1);
  const chunks = <usize>swapAcqRel(thread + T_BRC_QUEUE, 0);
  if (chunks == 0 && leave) {
    let at = b + B_THREADS;   // the link that points at `thread`
    while (load<u32>(at) != 0 && <usize>load<u32>(at) != thread) at = <usize>load<u32>(at) + T_BRC_NEXT;
    if (load<u32>(at) != 0) store<u32>(at, load<u32>(thread, T_BRC_NEXT));
    store<u32>(thread, 0, T_BRC_NEXT);
    store<u32>(thread, 0, T_BRC_BUCKET);
  }
  bucketUnlock(b);
  return chunks;
}

/** The items of chunk `c` (brcQueueTake's list): count and i-th. */
// @ts-ignore: decorator
@inline export function queueChunkCount(c: usize): u32 { return load<u32>(c, C_WR); }
// @ts-ignore: decorator
@inline export function queueChunkItem(c: usize, i: u32): usize { return <usize>load<u32>(c + C_ITEMS + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline export function queueChunkNext(c: usize): usize { return <usize>load<u32>(c, C_NEXT); }
/** A drained chunk back to the domain's pool. */
export function queueChunkFree(thread: usize, c: usize): void {
  chunkFree(<usize>load<u32>(thread, T_DOMAIN), c);
}

/**
 * A drained chunk back as `thread`'s (empty) queue if nothing was queued
 * meanwhile, else to the pool: an owner that merges often then leaves its
 * queuers a chunk to push on, and they need not fetch one from the pool.
 */
export function queueChunkKeep(thread: usize, c: usize): void {
  const bucket = load<u32>(thread, T_BRC_BUCKET);
  const b = bucketAt(<usize>load<u32>(thread, T_DOMAIN), bucket - 1);
  store<u32>(c, 0, C_NEXT);
  store<u32>(c, 0, C_WR);
  bucketLock(b, thread);
  const kept = load<u32>(thread, T_BRC_QUEUE) == 0;
  if (kept) storeRelease(thread + T_BRC_QUEUE, <u32>c);
  bucketUnlock(b);
  if (!kept) queueChunkFree(thread, c);
}

/**
 * A reaped thread died holding a bucket lock: finish its hand-off, if it was in
 * one, and release the lock (its list edits are trusted as they are). Only the
 * lock holder makes an object QUEUED, so a pending object that reads QUEUED and
 * is not the last item of its owner's queue was marked by the dead thread and
 * never pushed: it is pushed now (or merged, its owner gone).
 */
export function brcReleaseDead(thread: usize): usize {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let orphan: usize = 0;
  for (let i: u32 = 0; i < BRC_BUCKETS; i++) {
    const b = bucketAt(domain, i);
    if (loadAcquire(b + B_LOCK) != <u32>thread) continue;
    const o = <usize>loadAcquire(b + B_PENDING);
    if (o != 0 && shFlags(sharedLoad(o)) == SH_QUEUED) {
      const owner = bucketFind(b, loadAcquire(o + O_TID));
      if (owner == 0) orphan = o;   // its owner has gone: the reap merges it (object.ts objThreadLeave)
      else {
        const c = <usize>load<u32>(owner, T_BRC_QUEUE);
        const n = c != 0 ? load<u32>(c, C_WR) : 0;
        const last = n != 0 ? <usize>load<u32>(c + C_ITEMS + (<usize>(n - 1) << 2)) : 0;
        if (last != o && !queuePush(domain, owner, o)) orphan = o;
      }
    }
    storeRelease(b + B_PENDING, 0);
    casAcqRel(b + B_LOCK, <u32>thread, 0);
  }
  return orphan;
}
