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
// queue otherwise only grows). Any thread's checkpoint processes the domain queue
// too, but only with a try-lock: processing never blocks (CPython's rule).
//
// With the world stopped by the caller and every other thread offline there are
// no readers: p is freed at once. (A thread paused inside malloc stays online: its
// lock-free pointers survive allocations.) When no chunk can be allocated, the
// caller stops the world and frees p if every other thread is offline then, else
// the call fails with ENOMEM and p stays allocated.
//
// Huge blocks of held tags: their segment's release waits in the same queue (an
// item with bit 0 set), since reusing it would move object memory to another size
// class, heap or domain (qsbr-pages.ts holds pages for the same reason).
//
// Accounting (domain, atomic): queued = freed + failed + pending. `failed` counts
// items whose free was refused when it finally ran (the block was freed twice,
// e.g. by two freeDelayed calls).
//
// See also: qsbr.ts (goals), lifecycle.ts (checkpoints, exit).

import { curThread } from "./current";
import { addRelaxed, addRelaxed64, loadAcquire, spinLock, spinUnlock, storeRelease } from "./atomics";
import { BRK_DELAYED_FREE, breakerRequest } from "./breaker";
import { metaAlloc } from "./meta";
import { blockUsableSize } from "./alloc";
import { EINVAL_PTR, ENOMEM, ENOT_ATTACHED, OK, setError, takeError } from "./errors";
import { ftFree, hugeSegmentFree } from "./free";
import { mutexTryLock, mutexUnlock } from "./mutex";
import { QF_KEEP_SEQ, qsbrDeferredAdvance, qsbrGoalReached, qsbrOthersOffline, qsbrPollIssuing } from "./qsbr";
import { stwIsStopped, stwStart, stwStop } from "./stop-the-world";
import { CHUNK_ITEMS, CHUNK_SIZE, C_ITEMS, C_NEXT, C_RD, C_WR, D_DF_FAILED, D_DF_FREED, D_DF_QUEUED, D_CHUNK_FREE, D_CHUNK_LOCK, D_CHUNKS, D_DQ_HAS_WORK,
  D_DQ_HEAD, D_DQ_MUTEX, D_DQ_TAIL, SEG_DOMAIN, T_DEFERRALS, T_DF_HEAD, T_DF_PENDING, T_DF_TAIL, T_DOMAIN, T_QSBR_FLAGS } from "./layout";
import { lockDetaching } from "./thread";

const ITEM_SHIFT: u32 = 4;   // {ptr u32, size u32, goal u64}
const ITEM_HUGE: usize = 1;  // ptr bit 0: a huge segment to release (segments are 4 MiB-aligned)

/**
 * Free `p` once every thread of the current thread's domain has passed a
 * quiescent state after this call. 0 is ignored. OK or an error code (also left
 * in lastError): ENOT_ATTACHED, EINVAL_PTR (p is not a live block), ENOMEM (no
 * room for the queue and readers online: p is not freed).
 */
export function freeDelayed(p: usize): i32 {
  if (p == 0) return OK;
  const thread = curThread;
  if (thread == 0) { setError(ENOT_ATTACHED); return ENOT_ATTACHED; }
  const size = blockUsableSize(p);
  if (size == 0) { setError(EINVAL_PTR); return EINVAL_PTR; }
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  // With the world stopped by us and every other thread offline, nobody can read p.
  // (A thread paused inside malloc keeps its seq online: then p waits as usual.)
  const stopped = stwIsStopped(thread, false) || stwIsStopped(thread, true);
  if (stopped && qsbrOthersOffline(domain, thread)) return freeCounted(domain, p);
  if (!enqueue(thread, domain, p, <u32>size)) {
    takeError();
    return stopped ? fail(ENOMEM) : freeStopped(thread, domain, p);
  }
  return OK;
}

// ---- The chunk pool ----------------------------------------------------------------

/** A chunk from the domain's pool (made in meta memory when the pool is empty), or 0. */
function chunkNew(domain: usize): usize {
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

function chunkFree(domain: usize, c: usize): void {
  spinLock(domain + D_CHUNK_LOCK);
  store<u32>(c, load<u32>(domain, D_CHUNK_FREE), C_NEXT);
  store<u32>(domain, <u32>c, D_CHUNK_FREE);
  spinUnlock(domain + D_CHUNK_LOCK);
}

/**
 * Append {item, goal} to `thread`'s queue; false when no chunk can be had. A user
 * block is counted in the domain's `queued`; an item with bit 0 set is a huge
 * segment to release (hugeFreeHeld), not counted.
 */
function enqueue(thread: usize, domain: usize, item: usize, size: u32): bool {
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
  store<u32>(at, <u32>item);
  store<u32>(at, size, 4);
  store<u64>(at, goal, 8);
  store<u32>(chunk, wr + 1, C_WR);
  store<u32>(thread, load<u32>(thread, T_DF_PENDING) + 1, T_DF_PENDING);
  if ((item & ITEM_HUGE) == 0) addRelaxed64(domain + D_DF_QUEUED, 1);
  // A full chunk, or a forced advance (every deferLimit-th item, or past freeLimit
  // bytes): process now, and report DELAYED_FREE at the next checkpoint.
  if (wr + 1 == CHUNK_ITEMS || load<u32>(thread, T_DEFERRALS) == 0) {
    breakerRequest(thread, BRK_DELAYED_FREE);
    delayedProcess(thread, false);
  }
  return true;
}

/**
 * A huge block of a held tag was freed (its `used` already claimed): its segment
 * goes back to the pool only after a goal, like a held page. Queued on the
 * freeing thread when it belongs to the block's domain; false (release it now)
 * otherwise, or when no chunk can be had.
 */
export function hugeFreeHeld(seg: usize, bytes: u32): bool {
  const thread = curThread;
  if (thread == 0) return false;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (<usize>load<u32>(seg, SEG_DOMAIN) != domain) return false;
  if (!enqueue(thread, domain, seg | ITEM_HUGE, bytes)) { takeError(); return false; }
  return true;
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
  addRelaxed64(domain + D_DF_QUEUED, 1);
  const rc = ftFree(p);
  if (rc == OK) addRelaxed64(domain + D_DF_FREED, 1);
  else addRelaxed(domain + D_DF_FAILED, 1);
  return rc;
}

/**
 * Free the items of the queue at `headAt`/`tailAt` whose goals are reached, in
 * order, stopping at the first that is not (after one scan). `pendingAt` (or 0)
 * counts the queue's items. `keepLast` keeps the last chunk when it empties.
 * `quiescent`: the processing thread when it is at a checkpoint, else 0.
 * Returns the items freed.
 */
function processQueue(domain: usize, headAt: usize, tailAt: usize, pendingAt: usize, keepLast: bool,
    quiescent: usize): u32 {
  let done: u32 = 0;
  let newest: u64 = 0;   // the queue's last goal (the newest, for the owner's queue), read when needed
  while (true) {
    const chunk = <usize>load<u32>(headAt);
    if (chunk == 0) break;
    const rd = load<u32>(chunk, C_RD);
    if (rd < load<u32>(chunk, C_WR)) {
      const item = chunk + C_ITEMS + (<usize>rd << ITEM_SHIFT);
      const goal = load<u64>(item, 8);
      if (!qsbrGoalReached(domain, goal)) {
        if (newest == 0) {
          const tail = <usize>load<u32>(tailAt);
          newest = load<u64>(tail + C_ITEMS + (<usize>(load<u32>(tail, C_WR) - 1) << ITEM_SHIFT), 8);
        }
        if (!qsbrPollIssuing(domain, goal, newest, quiescent)) break;
      }
      store<u32>(chunk, rd + 1, C_RD);                // consumed before the free: re-entry safe
      if (pendingAt != 0) store<u32>(pendingAt, load<u32>(pendingAt) - 1);
      const ptr = <usize>load<u32>(item);
      if ((ptr & ITEM_HUGE) != 0) hugeSegmentFree(ptr & ~ITEM_HUGE);
      else if (ftFree(ptr) == OK) addRelaxed64(domain + D_DF_FREED, 1);
      else { takeError(); addRelaxed(domain + D_DF_FAILED, 1); }
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
  return done;
}

/** Does `thread` (or its domain's queue) have delayed frees waiting? Cheap. */
// @ts-ignore: decorator
@inline export function delayedHasWork(thread: usize): bool {
  return load<u32>(thread, T_DF_PENDING) != 0
    || loadAcquire(<usize>load<u32>(thread, T_DOMAIN) + D_DQ_HAS_WORK) != 0;
}

/**
 * Free what is due: the thread's own queue, then the domain's if it has work and
 * its lock is free (never waits). The thread is attached; `atCheckpoint`: it is
 * quiescent throughout (see qsbrPollIssuing). Returns the items freed.
 */
export function delayedProcess(thread: usize, atCheckpoint: bool): u32 {
  const quiescent = atCheckpoint ? thread : 0;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let done: u32 = 0;
  if (load<u32>(thread, T_DF_PENDING) != 0) {
    done = processQueue(domain, thread + T_DF_HEAD, thread + T_DF_TAIL, thread + T_DF_PENDING, true, quiescent);
  }
  if (loadAcquire(domain + D_DQ_HAS_WORK) != 0 && mutexTryLock(domain + D_DQ_MUTEX)) {
    done += processQueue(domain, domain + D_DQ_HEAD, domain + D_DQ_TAIL, 0, false, quiescent);
    storeRelease(domain + D_DQ_HAS_WORK, load<u32>(domain, D_DQ_HEAD) != 0 ? 1 : 0);
    mutexUnlock(domain + D_DQ_MUTEX);
  }
  return done;
}

/**
 * Thread exit: free what is due, hand the rest to the domain's queue and process
 * the merged queue now. The thread is attached (and already offline in QSBR).
 */
export function delayedAbandon(thread: usize): void {
  delayedProcess(thread, false);
  const head = <usize>load<u32>(thread, T_DF_HEAD);
  if (head == 0) return;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (load<u32>(thread, T_DF_PENDING) == 0) {
    let c = head;
    while (c != 0) { const next = <usize>load<u32>(c, C_NEXT); chunkFree(domain, c); c = next; }
  } else {
    lockDetaching(thread, domain + D_DQ_MUTEX);
    const tail = <usize>load<u32>(domain, D_DQ_TAIL);
    if (tail != 0) store<u32>(tail, <u32>head, C_NEXT); else store<u32>(domain, <u32>head, D_DQ_HEAD);
    store<u32>(domain, load<u32>(thread, T_DF_TAIL), D_DQ_TAIL);
    processQueue(domain, domain + D_DQ_HEAD, domain + D_DQ_TAIL, 0, false, 0);
    storeRelease(domain + D_DQ_HAS_WORK, load<u32>(domain, D_DQ_HEAD) != 0 ? 1 : 0);
    mutexUnlock(domain + D_DQ_MUTEX);
  }
  store<u32>(thread, 0, T_DF_HEAD);
  store<u32>(thread, 0, T_DF_TAIL);
  store<u32>(thread, 0, T_DF_PENDING);
}

/**
 * Domain teardown (lifecycle.ts domainClose: no thread of the domain is left):
 * drop the domain's queue. Huge segments waiting in it are released; the blocks
 * of the others vanish with their segments, and count as freed. No lock: nobody
 * else can reach the domain any more.
 */
export function delayedDiscardDomain(domain: usize): void {
  let c = <usize>load<u32>(domain, D_DQ_HEAD);
  while (c != 0) {
    const next = <usize>load<u32>(c, C_NEXT);
    const wr = load<u32>(c, C_WR);
    for (let i = load<u32>(c, C_RD); i < wr; i++) {
      const ptr = <usize>load<u32>(c + C_ITEMS + (<usize>i << ITEM_SHIFT));
      if ((ptr & ITEM_HUGE) != 0) hugeSegmentFree(ptr & ~ITEM_HUGE);
      else addRelaxed64(domain + D_DF_FREED, 1);
    }
    chunkFree(domain, c);
    c = next;
  }
  store<u32>(domain, 0, D_DQ_HEAD);
  store<u32>(domain, 0, D_DQ_TAIL);
  storeRelease(domain + D_DQ_HAS_WORK, 0);
}
