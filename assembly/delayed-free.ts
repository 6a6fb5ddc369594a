// delayed-free.ts — free a block only after every thread has passed a quiescent
// state (CPython's _PyMem_FreeDelayed and its queues).
//
// freeDelayed(p) checks p now (a bad pointer is refused at the call, not later),
// takes a goal (qsbrDeferredAdvance: a real advance every deferLimit-th call or
// past freeLimit bytes) and appends {p, size, goal} to the calling thread's queue:
// 4 KiB chunks of 255 items, oldest first. Chunks come from a per-domain pool of
// meta memory (never returned, reused by any thread of the domain): they are not
// user blocks, so they neither show in the heap stats nor keep an exited thread's
// segment alive. Goals of one thread
// never decrease, so processing stops at the first unreached goal.
//
// Checked at the call: p is a live block (EINVAL_PTR), of the caller's domain
// (EWRONG_DOMAIN: blockDomain — its readers are that domain's threads, whose
// goals the caller's domain does not track), and not already pending
// (EDOUBLE_FREE). The last is exact and costs one atomic OR: each domain keeps a
// bit per 8-byte granule of every 4 MiB unit it ever delayed a free in (a 64 KiB
// bitmap per unit, made on first use in meta memory and kept: 1/64 of the units
// used that way, per domain; blocks are 8-aligned, so a bit is exactly one block
// start). freeDelayed sets p's bit (a set bit: EDOUBLE_FREE, nothing queued);
// processing clears it just before the free, so the bit is set exactly while the
// item is pending, whichever thread's or the domain's queue holds it. Rejected
// alternatives: scanning the caller's chunks (O(pending) per call, and blind to
// other threads' queues), a mark in the block (readers may still read it), a
// shared hash set (locking or lock-free resizing on a hot path). A second call
// racing the processing of the first (after the bit is cleared) is an ordinary
// double free: the allocator's check at that free (counted `failed`). When no
// bitmap can be had (memory exhausted) the item is queued unmarked.
//
// Processing (delayedProcess) runs at every checkpoint that has work, at once
// when a chunk fills up or a deferred advance was forced (every deferLimit-th
// item, or past freeLimit bytes), and from the facade on request. It consumes an item
// (bumps `rd`) before freeing it, so a free that re-enters processing (a future
// finaliser) sees a consistent queue (gh-130519). A goal that nobody has issued
// yet (the deferred form: wrSeq + 2) gets its advance there, so a lone delayed
// free is not held until some later advance. The thread's last chunk is kept
// when empty, the others are freed.
//
// A thread that exits hands its queue to its domain's queue (under dqMutex) and
// processes the merged queue right away (gh-130794: with thread churn the domain
// queue otherwise only grows). It takes the queue off its record (head, tail,
// pending = 0) BEFORE splicing it: a free during the processing may queue on the
// exiting thread again (re-entry); those items go to a fresh queue that the next
// round hands over, instead of being appended to chunks the domain queue now owns
// (before, such a re-entry through the held huge-block path wrote into the
// spliced chunks: a chunk was freed twice to the pool, a 4 MiB segment leaked and
// an accepted freeDelayed was dropped — test/races-delayed.test.ts). Any thread's
// checkpoint processes the domain queue too, but only with a try-lock:
// processing never blocks (CPython's rule).
//
// With the world stopped by the caller and every other thread offline there are
// no readers: p is freed at once. (A thread paused inside malloc stays online: its
// lock-free pointers survive allocations.) When no chunk can be allocated, the
// caller stops the world and frees p if every other thread is offline then, else
// the call fails with ENOMEM and p stays allocated.
//
// Huge blocks of held tags: their segment's release waits for a goal, since
// reusing it would move object memory to another size class, heap or domain
// (qsbr-pages.ts holds pages for the same reason). hugeFreeHeld pushes the dead
// segment on its block's domain's hugeHeld stack (lock-free; the goal and the link
// live in the segment's own first page record, so no chunk is needed and it
// cannot fail) with a real advance of that domain as its goal; any thread of the
// domain releases those whose goal is reached when it processes delayed frees.
// Before, the release was queued on the freeing thread's chunks, and done at once
// when the freeing thread was of another domain or no chunk could be had — under
// that domain's readers. Only when every thread of the block's domain (but the
// freer) is offline is the segment released at once: no one can hold it.
//
// Accounting (domain, atomic): queued = freed + failed + pending. `failed` counts
// items whose free was refused when it finally ran.
//
// The oldest goal each queue waits for is published (the thread's dfOldest, the
// domain's dqOldest) for Domain.blockers: the threads that hold it back.
//
// See also: qsbr.ts (goals), lifecycle.ts (checkpoints, exit).

import { curThread } from "./current";
import { addRelaxed, addRelaxed64, andAcqRel, casAcqRel, loadAcquire, loadAcquire64, orAcqRel, spinLock, spinUnlock, stackTakeNamed,
  storeRelease, storeRelease64, swapAcqRel } from "./atomics";
import { BRK_DELAYED_FREE, breakerRequest } from "./breaker";
import { DP_DF_ABANDON, DP_DF_FREEING, DP_DF_SPLICING, DP_DISCARD_HUGE, DP_HUGE_HELD_RELEASING, DP_REVIEW_DQ_LOCKED, debugPause } from "./debug-delay";
import { metaAlloc } from "./meta";
import { blockUsableSize } from "./alloc";
import { EDOUBLE_FREE, EINVAL_PTR, ENOMEM, ENOT_ATTACHED, EWRONG_DOMAIN, OK, setError, takeError } from "./errors";
import { ftFree, hugeSegmentFree } from "./free";
import { hookDelayedDecref } from "./hooks";
import { mutexTryLock, mutexUnlock } from "./mutex";
import { QF_KEEP_SEQ, qsbrAdvance, qsbrDeferredAdvance, qsbrGoalReached, qsbrOthersOffline, qsbrPollIssuing, qsbrScan,
  seqLeq } from "./qsbr";
import { stwIsStopped, stwStart, stwStop } from "./stop-the-world";
import { T_HUGE_LIST, T_HUGE_ONE, SEG_GIVING, D_DISCARD_HUGE, CHUNK_ITEMS, CHUNK_SIZE, C_ITEMS, C_NEXT, C_RD, C_WR, D_DF_FAILED, D_DF_FREED, D_DF_MARKS, D_DF_QUEUED,
  D_CHUNK_FREE, D_CHUNK_LOCK, D_CHUNKS, D_DQ_HAS_WORK, D_DQ_HEAD, D_DQ_HOLDER, D_DQ_MUTEX, D_DQ_OLDEST, D_DQ_TAIL, D_HUGE_HELD,
  D_THREADS, P_QSBR_GOAL, SEG_DOMAIN, P_QSBR_NEXT, SEGMENT_MASK, SEGMENT_SHIFT, SEG_PAGES, SEG_THREAD, T_DEFERRALS, T_DF_HEAD,
  T_DF_OLDEST, T_DF_PENDING, T_DF_TAIL, T_DOMAIN, T_DOMAIN_NEXT, T_QSBR_FLAGS, T_STATE, THREAD_EXITED, THREAD_FREE,
  UNITS } from "./layout";
import { lockDetaching, lockDetachingOwned, tryLockOwned, unlockOwned } from "./thread";
import { loadSynced, osUnitGiving } from "./os";

const ITEM_SHIFT: u32 = 4;   // {ptr u32, size u32, goal u64}

/** The domain a live block belongs to: its segment's (immutable while the segment is live). */
// @ts-ignore: decorator
@inline export function blockDomain(p: usize): usize {
  return <usize>load<u32>(p & ~<usize>SEGMENT_MASK, SEG_DOMAIN);
}

/**
 * Free `p` once every thread of the current thread's domain has passed a
 * quiescent state after this call. 0 is ignored. OK or an error code (also left
 * in lastError): ENOT_ATTACHED, EINVAL_PTR (p is not a live block),
 * EWRONG_DOMAIN (p belongs to another domain), EDOUBLE_FREE (p is already
 * pending), ENOMEM (no room for the queue and readers online: p is not freed).
 */
export function freeDelayed(p: usize): i32 {
  if (p == 0) return OK;
  const thread = curThread;
  if (thread == 0) { setError(ENOT_ATTACHED); return ENOT_ATTACHED; }
  const size = blockUsableSize(p);
  if (size == 0) return fail(takeError());   // EINVAL_PTR, or EWRONG_DOMAIN (another domain's block)
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (blockDomain(p) != domain) return fail(EWRONG_DOMAIN);
  if (!markSet(domain, p)) return fail(EDOUBLE_FREE);
  // With the world stopped by us and every other thread offline, nobody can read p.
  // (A thread paused inside malloc keeps its seq online: then p waits as usual.)
  const stopped = stwIsStopped(thread, false) || stwIsStopped(thread, true);
  if (stopped && qsbrOthersOffline(domain, thread)) { markClear(domain, p); return freeCounted(domain, p); }
  if (!enqueue(thread, domain, p, <u32>size)) {
    takeError();
    markClear(domain, p);
    return stopped ? fail(ENOMEM) : freeStopped(thread, domain, p);
  }
  return OK;
}

/**
 * Drop a reference to object `o` once every thread of the current thread's
 * domain has passed a quiescent state after this call (CPython's
 * _PyObject_XDecRefDelayed): a lock-free reader that loaded `o` and has not
 * reached a quiescent state may keep using it without a reference of its own.
 * The queue item is tagged in its pointer's bit 0 (blocks are 8-aligned), so
 * processing decrefs it through hookDelayedDecref instead of freeing it. False:
 * no room for the queue item (the caller decrefs at once, or keeps the reference).
 */
export function decrefDelayed(o: usize): bool {
  const thread = curThread;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (!enqueue(thread, domain, o | DECREF_ITEM, 0)) { takeError(); return false; }
  return true;
}
const DECREF_ITEM: usize = 1;

/**
 * sweepAll (gc.ts; the domain's world stopped): every object of the domain is
 * being freed, so every pending delayed decref is voided (its item kept, its
 * object 0: processing skips it), in every thread's queue and the domain's.
 */
export function delayedVoidDecrefs(domain: usize): void {
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    const st = loadAcquire(t + T_STATE);
    if (st != THREAD_EXITED && st != THREAD_FREE) voidDecrefsIn(<usize>load<u32>(t, T_DF_HEAD));
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  voidDecrefsIn(<usize>load<u32>(domain, D_DQ_HEAD));
}

function voidDecrefsIn(chunk: usize): void {
  while (chunk != 0) {
    const wr = load<u32>(chunk, C_WR);
    for (let i = load<u32>(chunk, C_RD); i < wr; i++) {
      const item = chunk + C_ITEMS + (<usize>i << ITEM_SHIFT);
      if ((<usize>load<u32>(item) & DECREF_ITEM) != 0) store<u32>(item, <u32>DECREF_ITEM);
    }
    chunk = <usize>load<u32>(chunk, C_NEXT);
  }
}

// ---- Pending marks (EDOUBLE_FREE at the call) ---------------------------------------

const MARK_BITMAP_BYTES: u32 = 1 << (SEGMENT_SHIFT - 3 - 3);   // a bit per 8 B of a 4 MiB unit: 64 KiB

/** The word holding p's mark in `domain`'s bitmaps (made on first use), or 0 when memory is exhausted. */
function markWord(domain: usize, p: usize, make: bool): usize {
  let table = <usize>loadAcquire(domain + D_DF_MARKS);
  if (table == 0) {
    if (!make) return 0;
    const fresh = metaAlloc(UNITS << 2);
    if (fresh == 0) return 0;
    // Lost races leave a record in meta memory (rare, bounded by the racers).
    if (!casAcqRel(domain + D_DF_MARKS, 0, <u32>fresh)) table = <usize>loadAcquire(domain + D_DF_MARKS);
    else table = fresh;
  }
  const at = table + (<usize>(p >>> SEGMENT_SHIFT) << 2);
  let bitmap = <usize>loadAcquire(at);
  if (bitmap == 0) {
    if (!make) return 0;
    const fresh = metaAlloc(MARK_BITMAP_BYTES);
    if (fresh == 0) return 0;
    if (!casAcqRel(at, 0, <u32>fresh)) bitmap = <usize>loadAcquire(at);
    else bitmap = fresh;
  }
  const granule = (p & <usize>SEGMENT_MASK) >>> 3;
  return bitmap + ((granule >>> 5) << 2);
}

/** Mark p pending; false when it already was. (No bitmap to be had: true, unmarked.) */
function markSet(domain: usize, p: usize): bool {
  const w = markWord(domain, p, true);
  if (w == 0) return true;
  const bit: u32 = 1 << <u32>((p >>> 3) & 31);
  return (orAcqRel(w, bit) & bit) == 0;
}

/**
 * Is `p` waiting for its delayed free in the current thread's domain? The frees
 * a JS program calls (ft_free_now, ft_free_many, ft_realloc) refuse such a block
 * with EDOUBLE_FREE: freed now, the delayed free would later free whatever block
 * was made at that address meanwhile. (The raw ft_free a Wasm program calls does
 * not look: it stays lean; the mark is a few dependent loads.)
 */
export function delayedPending(p: usize): bool {
  if (curThread == 0) return false;
  const w = markWord(<usize>load<u32>(curThread, T_DOMAIN), p, false);
  return w != 0 && (loadAcquire(w) & (<u32>1 << <u32>((p >>> 3) & 31))) != 0;
}

/** p is no longer pending (just before it is freed, or when it was not queued after all). */
function markClear(domain: usize, p: usize): void {
  const w = markWord(domain, p, false);
  if (w != 0) andAcqRel(w, ~(<u32>1 << <u32>((p >>> 3) & 31)));
}

// ---- The chunk pool ----------------------------------------------------------------

/** A chunk from the domain's pool (made in meta memory when the pool is empty), or 0. */
export function chunkNew(domain: usize): usize {
  spinLock(domain + D_CHUNK_LOCK);
  let c = <usize>load<u32>(domain, D_CHUNK_FREE);
  if (c != 0) store<u32>(domain, load<u32>(c, C_NEXT), D_CHUNK_FREE);
  spinUnlock(domain + D_CHUNK_LOCK);
  if (c == 0) {
    c = metaAlloc(CHUNK_SIZE);
    if (c == 0) return 0;
    addRelaxed(domain + D_CHUNKS, 1);
  }
  return c;
}

export function chunkFree(domain: usize, c: usize): void {
  spinLock(domain + D_CHUNK_LOCK);
  store<u32>(c, load<u32>(domain, D_CHUNK_FREE), C_NEXT);
  store<u32>(domain, <u32>c, D_CHUNK_FREE);
  spinUnlock(domain + D_CHUNK_LOCK);
}

/** Append {p, goal} to `thread`'s queue (counted in the domain's `queued`); false when no chunk can be had. */
function enqueue(thread: usize, domain: usize, p: usize, size: u32): bool {
  let chunk = <usize>load<u32>(thread, T_DF_TAIL);
  if (chunk == 0 || load<u32>(chunk, C_WR) == CHUNK_ITEMS) {
    const fresh = chunkNew(domain);
    if (fresh == 0) return false;
    store<u32>(fresh, 0, C_NEXT);
    store<u32>(fresh, 0, C_RD);
    store<u32>(fresh, 0, C_WR);
    if (chunk != 0) store<u32>(chunk, <u32>fresh, C_NEXT); else store<u32>(thread, <u32>fresh, T_DF_HEAD);
    store<u32>(thread, <u32>fresh, T_DF_TAIL);
    chunk = fresh;
  }
  const goal = qsbrDeferredAdvance(thread, size);
  const wr = load<u32>(chunk, C_WR);
  const at = chunk + C_ITEMS + (<usize>wr << ITEM_SHIFT);
  store<u32>(at, <u32>p);
  store<u32>(at, size, 4);
  store<u64>(at, goal, 8);
  store<u32>(chunk, wr + 1, C_WR);
  const pending = load<u32>(thread, T_DF_PENDING);
  store<u32>(thread, pending + 1, T_DF_PENDING);
  if (pending == 0) storeRelease64(thread + T_DF_OLDEST, goal);
  addRelaxed64(domain + D_DF_QUEUED, 1);
  // A full chunk, or a forced advance (every deferLimit-th item, or past freeLimit
  // bytes): process now, and report DELAYED_FREE at the next checkpoint.
  if (wr + 1 == CHUNK_ITEMS || load<u32>(thread, T_DEFERRALS) == 0) {
    breakerRequest(thread, BRK_DELAYED_FREE);
    delayedProcess(thread, false, true);   // frees only: the caller may hold a structure's mutex
  }
  return true;
}

// ---- Held huge blocks -----------------------------------------------------------------

/**
 * A huge block of a held tag was freed (its `used` already claimed, so the
 * segment is the caller's): its segment goes back to the pool only after a goal
 * of the block's domain. Pushed on that domain's hugeHeld stack; false (release
 * it now) when every thread of that domain but the caller is offline.
 */
export function hugeFreeHeld(seg: usize, bytes: u32): bool {
  const thread = curThread;
  const domain = blockDomain(seg);
  if (thread != 0 && qsbrOthersOffline(domain, thread)) return false;
  const page = seg + SEG_PAGES;
  storeRelease64(page + P_QSBR_GOAL, qsbrAdvance(domain));
  hugeHeldPush(domain, seg);
  casAcqRel(seg + SEG_GIVING, <u32>thread, 0);   // held: no longer its freer's to finish (free.ts freeSpecial; no call since the push)
  if (thread != 0 && <usize>load<u32>(thread, T_DOMAIN) == domain) breakerRequest(thread, BRK_DELAYED_FREE);
  return true;
}

/**
 * Release the domain's held huge segments whose goal is reached; the others go
 * back. Returns those released.
 *
 * Kill-safe for a current thread (review 4): the stack it takes is named in its
 * record (T_HUGE_LIST) from before the take, each segment leaves that name
 * either marked as the thread's give-back (SEG_GIVING: the reap's sweep finishes
 * it, free.ts hugeGivingFinish) or named while it is pushed back (T_HUGE_ONE),
 * each with no call in between; the reap pushes back what is left
 * (heldHugeFinish). Taken into a local, a kill lost every segment of it.
 */
function heldHugeProcess(domain: usize): u32 {
  if (loadAcquire(domain + D_HUGE_HELD) == 0) return 0;
  const thread = curThread;
  let seg: usize = 0;
  if (thread == 0) {
    seg = <usize>swapAcqRel(domain + D_HUGE_HELD, 0);
  } else {
    seg = <usize>stackTakeNamed(domain + D_HUGE_HELD, thread + T_HUGE_LIST);
  }
  let done: u32 = 0;
  let scanned = false;
  let min: u64 = 0;
  while (seg != 0) {
    const page = seg + SEG_PAGES;
    const next = <usize>loadAcquire(page + P_QSBR_NEXT);
    const goal = loadAcquire64(page + P_QSBR_GOAL);
    let reached = qsbrGoalReached(domain, goal);
    if (!reached) {
      if (!scanned) { min = qsbrScan(domain); scanned = true; }
      reached = seqLeq(goal, min);
    }
    if (reached) {
      if (thread != 0) {
        storeRelease(seg + SEG_GIVING, <u32>thread);
        storeRelease(thread + T_HUGE_LIST, <u32>next);
      }
      debugPause(DP_HUGE_HELD_RELEASING);
      hugeSegmentFree(seg);
      done++;
    } else {
      if (thread != 0) {
        storeRelease(thread + T_HUGE_ONE, <u32>seg);
        storeRelease(thread + T_HUGE_LIST, <u32>next);
      }
      hugeHeldPush(domain, seg);
      if (thread != 0) storeRelease(thread + T_HUGE_ONE, 0);
    }
    seg = next;
  }
  return done;
}

/** Push `seg` back on `domain`'s held huge stack. */
// @ts-ignore: decorator
@inline function hugeHeldPush(domain: usize, seg: usize): void {
  const page = seg + SEG_PAGES;
  while (true) {
    const top = loadAcquire(domain + D_HUGE_HELD);
    storeRelease(page + P_QSBR_NEXT, top);
    if (casAcqRel(domain + D_HUGE_HELD, top, <u32>seg)) break;
  }
}

/**
 * Reap of `thread`: held huge segments it took to process and had not dealt with
 * yet go back on their domain's stack (the one being pushed back first; each
 * taken off the name before it is pushed: a reaper killed here leaks, never
 * pushes twice).
 */
export function heldHugeFinish(thread: usize): void {
  const one = <usize>load<u32>(thread, T_HUGE_ONE);
  if (one != 0) {
    storeRelease(thread + T_HUGE_ONE, 0);
    hugeHeldPush(blockDomain(one), one);
  }
  while (true) {
    const seg = <usize>load<u32>(thread, T_HUGE_LIST);
    if (seg == 0) break;
    storeRelease(thread + T_HUGE_LIST, loadAcquire(seg + SEG_PAGES + P_QSBR_NEXT));
    hugeHeldPush(blockDomain(seg), seg);
  }
}

/**
 * Out of memory for the queue: stop the world and free p if every other thread is
 * offline then; else ENOMEM, and p stays the caller's. The stop's waits must not
 * make this call a quiescent point: the thread keeps its seq meanwhile.
 */
function freeStopped(thread: usize, domain: usize, p: usize): i32 {
  const flags = load<u32>(thread, T_QSBR_FLAGS);
  store<u32>(thread, flags | QF_KEEP_SEQ, T_QSBR_FLAGS);
  let rc = ENOMEM;
  if (stwStop(thread, false) == OK) {
    if (qsbrOthersOffline(domain, thread)) rc = freeCounted(domain, p);
    stwStart(thread, false);
  }
  store<u32>(thread, flags, T_QSBR_FLAGS);
  return rc == OK ? OK : fail(rc);
}

function fail(code: i32): i32 {
  setError(code);
  return code;
}

function freeCounted(domain: usize, p: usize): i32 {
  // Counted queued and freed together, before the free (a call, where a worker may be
  // stopped): a kill inside it loses the block in hand, never leaves one pending for good.
  addRelaxed64(domain + D_DF_QUEUED, 1);
  addRelaxed64(domain + D_DF_FREED, 1);
  const rc = ftFree(p);
  if (rc != OK) countFailed(domain);
  return rc;
}

// An item counted freed whose free (or decref) failed: counted failed instead.
function countFailed(domain: usize): void {
  addRelaxed64(domain + D_DF_FREED, <u64>-1);
  addRelaxed(domain + D_DF_FAILED, 1);
}

/**
 * Free the items of the queue at `headAt`/`tailAt` whose goals are reached, in
 * order, stopping at the first that is not (after one scan). `pendingAt` (or 0)
 * counts the queue's items. `keepLast` keeps the last chunk when it empties.
 * `quiescent`: the processing thread when it is at a checkpoint, else 0.
 * `oldestAt` gets the goal of the first item left (0: none). Returns the items freed.
 */
function processQueue(domain: usize, headAt: usize, tailAt: usize, pendingAt: usize, keepLast: bool,
    quiescent: usize, oldestAt: usize): u32 {
  let done: u32 = 0;
  let newest: u64 = 0;   // the queue's last goal (the newest, for the owner's queue), read when needed
  let oldest: u64 = 0;
  while (true) {
    const chunk = <usize>load<u32>(headAt);
    if (chunk == 0) break;
    const rd = load<u32>(chunk, C_RD);
    if (rd < load<u32>(chunk, C_WR)) {
      const item = chunk + C_ITEMS + (<usize>rd << ITEM_SHIFT);
      const goal = load<u64>(item, 8);
      if (stopAtDecref && (<usize>load<u32>(item) & DECREF_ITEM) != 0) { oldest = goal; break; }   // still pending: say so
      if (!qsbrGoalReached(domain, goal)) {
        if (newest == 0) {
          const tail = <usize>load<u32>(tailAt);
          newest = load<u64>(tail + C_ITEMS + (<usize>(load<u32>(tail, C_WR) - 1) << ITEM_SHIFT), 8);
        }
        if (!qsbrPollIssuing(domain, goal, newest, quiescent)) { oldest = goal; break; }
      }
      // Consumed and counted freed before the free (re-entry safe), with no call
      // between: a worker stopped inside the free loses that block (in hand), and
      // leaves no item counted pending for good.
      store<u32>(chunk, rd + 1, C_RD);
      if (pendingAt != 0) store<u32>(pendingAt, load<u32>(pendingAt) - 1);
      addRelaxed64(domain + D_DF_FREED, 1);
      debugPause(DP_DF_FREEING);
      const ptr = <usize>load<u32>(item);
      if ((ptr & DECREF_ITEM) != 0) {                 // decrefDelayed's: a decref, not a free
        if (hookDelayedDecref(ptr & ~DECREF_ITEM) != OK) { takeError(); countFailed(domain); }
        done++;
        continue;
      }
      markClear(domain, ptr);                         // before the free: the block may be reused at once
      if (ftFree(ptr) != OK) { takeError(); countFailed(domain); }
      done++;
      continue;
    }
    const next = <usize>load<u32>(chunk, C_NEXT);
    if (next == 0 && keepLast) {
      store<u32>(chunk, 0, C_RD);
      store<u32>(chunk, 0, C_WR);
      break;
    }
    store<u32>(headAt, <u32>next);
    if (next == 0) store<u32>(tailAt, 0);
    chunkFree(domain, chunk);
  }
  if (oldestAt != 0) storeRelease64(oldestAt, oldest);
  return done;
}

/** Does `thread` (or its domain's queue, or its held huge blocks) have delayed frees waiting? Cheap. */
// @ts-ignore: decorator
@inline export function delayedHasWork(thread: usize): bool {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  return load<u32>(thread, T_DF_PENDING) != 0 || loadAcquire(domain + D_DQ_HAS_WORK) != 0
    || loadAcquire(domain + D_HUGE_HELD) != 0;
}

/**
 * Free what is due: the thread's own queue, then the domain's if it has work and
 * its lock is free (never waits), then the domain's held huge blocks. The thread
 * is attached; `atCheckpoint`: it is quiescent throughout (see qsbrPollIssuing).
 * Returns the items freed.
 */
export function delayedProcess(thread: usize, atCheckpoint: bool, freesOnly: bool = false): u32 {
  const quiescent = atCheckpoint ? thread : 0;
  stopAtDecref = freesOnly;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let done: u32 = 0;
  if (load<u32>(thread, T_DF_PENDING) != 0) {
    done = processQueue(domain, thread + T_DF_HEAD, thread + T_DF_TAIL, thread + T_DF_PENDING, true, quiescent,
      thread + T_DF_OLDEST);
  }
  if (loadAcquire(domain + D_DQ_HAS_WORK) != 0 && tryLockOwned(thread, domain + D_DQ_MUTEX, domain + D_DQ_HOLDER)) {
    debugPause(DP_REVIEW_DQ_LOCKED);
    done += processQueue(domain, domain + D_DQ_HEAD, domain + D_DQ_TAIL, 0, false, quiescent, domain + D_DQ_OLDEST);
    storeRelease(domain + D_DQ_HAS_WORK, load<u32>(domain, D_DQ_HEAD) != 0 ? 1 : 0);
    unlockOwned(domain + D_DQ_MUTEX, domain + D_DQ_HOLDER);
  }
  heldHugeProcess(domain);
  stopAtDecref = false;
  return done;
}

/**
 * Processing called from inside a write (enqueue's forced processing, maybe
 * under a shared structure's mutex) stops at the first decref item: a decref may
 * run a finalizer, which may use that very structure. The rest waits for the
 * checkpoint (BRK_DELAYED_FREE is requested).
 */
let stopAtDecref: bool = false;

/**
 * Thread exit: free what is due, hand the rest to the domain's queue and process
 * the merged queue now. The thread is attached (and already offline in QSBR).
 * The queue is taken off the thread before it is spliced, in rounds until the
 * thread's queue stays empty: a free below may queue on the thread again (see
 * the file comment).
 */
export function delayedAbandon(thread: usize): void {
  delayedProcess(thread, false);
  debugPause(DP_DF_ABANDON);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  while (true) {
    if (load<u32>(thread, T_DF_HEAD) == 0) break;
    if (load<u32>(thread, T_DF_PENDING) == 0) {   // chunks with nothing pending: freed (a kill leaks chunks, no block)
      let c = <usize>load<u32>(thread, T_DF_HEAD);
      store<u32>(thread, 0, T_DF_HEAD);
      store<u32>(thread, 0, T_DF_TAIL);
      storeRelease64(thread + T_DF_OLDEST, 0);
      while (c != 0) { const next = <usize>load<u32>(c, C_NEXT); chunkFree(domain, c); c = next; }
      continue;
    }
    // The mutex first, then the queue off the record and onto the domain's with no
    // call in between: taken off first, a thread killed at the lock (or while it
    // waited for it) had its pending frees in no queue, and their pages never
    // emptied (review 7). Killed before, the queue is still the record's, and the
    // reap's own delayedAbandon hands it on.
    debugPause(DP_DF_SPLICING);
    lockDetachingOwned(thread, domain + D_DQ_MUTEX, domain + D_DQ_HOLDER);
    const head = <usize>load<u32>(thread, T_DF_HEAD);
    const tail = <usize>load<u32>(thread, T_DF_TAIL);
    store<u32>(thread, 0, T_DF_HEAD);
    store<u32>(thread, 0, T_DF_TAIL);
    store<u32>(thread, 0, T_DF_PENDING);
    storeRelease64(thread + T_DF_OLDEST, 0);
    const dqTail = <usize>load<u32>(domain, D_DQ_TAIL);
    if (dqTail != 0) store<u32>(dqTail, <u32>head, C_NEXT); else store<u32>(domain, <u32>head, D_DQ_HEAD);
    store<u32>(domain, <u32>tail, D_DQ_TAIL);
    processQueue(domain, domain + D_DQ_HEAD, domain + D_DQ_TAIL, 0, false, 0, domain + D_DQ_OLDEST);
    storeRelease(domain + D_DQ_HAS_WORK, load<u32>(domain, D_DQ_HEAD) != 0 ? 1 : 0);
    unlockOwned(domain + D_DQ_MUTEX, domain + D_DQ_HOLDER);
  }
}

// ---- Diagnostics -------------------------------------------------------------------------

/**
 * The oldest goal a delayed free of `domain` waits for (the threads' queues and
 * the domain's queue), 0 when none waits. Racy: for reports (Domain.blockers).
 */
export function delayedOldestGoal(domain: usize): u64 {
  let oldest = loadAcquire64(domain + D_DQ_OLDEST);
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    const g = loadAcquire64(t + T_DF_OLDEST);
    if (g != 0 && (oldest == 0 || !seqLeq(oldest, g))) oldest = g;
    t = <usize>loadAcquire(t + T_DOMAIN_NEXT);
  }
  return oldest;
}

/**
 * Domain teardown (lifecycle.ts domainClose: no thread of the domain is left):
 * drop the domain's queue (its blocks vanish with their segments, and count as
 * freed) and release the held huge segments waiting for a goal. No lock: nobody
 * else can reach the domain any more.
 */
export function delayedDiscardDomain(domain: usize): void {
  // Resumable: a closer killed here is finished by its instance's reap (lifecycle.ts
  // domainCloseFinish). Each chunk leaves the queue before it is freed (a kill leaks
  // it rather than freeing it twice); each held huge segment leaves its stack named
  // (D_DISCARD_HUGE) until it is given back (hugeSegmentFree counts off once).
  let c = <usize>load<u32>(domain, D_DQ_HEAD);
  while (c != 0) {
    const next = <usize>load<u32>(c, C_NEXT);
    const wr = load<u32>(c, C_WR);
    const rd = load<u32>(c, C_RD);
    store<u32>(domain, <u32>next, D_DQ_HEAD);
    if (wr > rd) addRelaxed64(domain + D_DF_FREED, <u64>(wr - rd));   // their blocks vanish with their segments
    chunkFree(domain, c);
    c = next;
  }
  store<u32>(domain, 0, D_DQ_TAIL);
  storeRelease(domain + D_DQ_HAS_WORK, 0);
  const named = <usize>loadAcquire(domain + D_DISCARD_HUGE);
  if (named != 0) {
    // Still live and still marked with this domain (read under the unit lock: a unit
    // handed out again has its mark cleared), else it went back already.
    if (osUnitGiving(named, domain)) hugeSegmentFree(named);
    storeRelease(domain + D_DISCARD_HUGE, 0);
  }
  while (true) {
    const seg = <usize>loadAcquire(domain + D_HUGE_HELD);
    if (seg == 0) break;
    storeRelease(seg + SEG_GIVING, <u32>domain);
    storeRelease(domain + D_DISCARD_HUGE, <u32>seg);
    storeRelease(domain + D_HUGE_HELD, loadAcquire(seg + SEG_PAGES + P_QSBR_NEXT));
    debugPause(DP_DISCARD_HUGE);
    hugeSegmentFree(seg);
    storeRelease(domain + D_DISCARD_HUGE, 0);
  }
}
