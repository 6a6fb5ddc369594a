// thread.ts — thread records: states, the eval breaker, attach/detach, exit.
//
// A thread record is what a worker gets when it attaches to a domain: its heaps
// (one per tag, made on first use), its segments and free spans, its eval breaker,
// its critical-section stack. The record's address is the thread id stored in
// every segment it owns. Allocator data belongs to the record, not to the Wasm
// instance: one worker may hold records in several domains and switch between them.
//
// States (T_STATE), CPython's machine:
//
//   ATTACHED <--(owner)--> DETACHED <--(stop-the-world requester)--> SUSPENDED
//
// Only the owner moves DETACHED -> ATTACHED (CAS); a SUSPENDED thread waits in
// attach until the world restarts. A detached thread holds no unprotected
// pointers and has released its critical sections; it cannot allocate or free.
//
// Eval breaker (T_BREAKER): request bits in bits 0..7, the domain's version in
// bits 8..31. Others set bits with an atomic OR; the owner handles them at a
// checkpoint (threadCheckpoint, the allocator's slow path, attach), in this order:
//   0. QSBR              a quiescent state is reported (qsbr.ts)
//   1. PLEASE_STOP       suspend for a stop-the-world, wait, re-attach
//   2. EXPLICIT_MERGE    reported (biased refcounting merges here, later issue)
//   3. delayed frees     due delayed frees and held pages (its own, and those exited
//                        threads left) are freed whenever there are any
//                        (delayed-free.ts, qsbr-pages.ts); DELAYED_FREE (set when a
//                        deferred advance was forced) is reported
//   4. GC_SCHEDULED      reported (the facade runs the collector, later issue)
//   5. version           the copy is refreshed if the domain's changed
//   6. ASYNC_INTERRUPT   reported: the facade throws InterruptError
// The allocator's slow path handles PLEASE_STOP only, and reports no quiescent
// state: it keeps the thread's QSBR seq while suspended, so a pointer read
// lock-free stays protected across an allocation.
//
// QSBR: attach puts the thread online (seq = wrSeq; the first attach registers a
// slot), detach and exit offline (seq 0).
//
// Exit (before abandonment exists): the thread goes offline, every page is
// switched to DELAY_NEVER, remote frees are drained, empty pages and segments are
// freed (held pages whose goal is not reached wait on the domain's orphan list,
// freed by a live thread's checkpoint later), pending
// delayed frees go to the domain's queue, the QSBR slot is given back; pages with
// live blocks stay owned by the exited record, and other threads can still free
// into them.
//
// See also: current.ts, domain.ts, stop-the-world.ts, critical-section.ts.

import { addRelaxed, casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { csResumeTop, csSuspendAll } from "./critical-section";
import { currentSet, curThread } from "./current";
import { breakerSetVersion, headLock, headUnlock, VERSION_MASK, VERSION_SHIFT } from "./domain";
import { EAGAIN, ENOMEM, ENOT_ATTACHED, OK } from "./errors";
import { delayedAbandon, delayedHasWork, delayedProcess } from "./delayed-free";
import { heapCollect, heapInit } from "./heap";
import { QF_EXITING, QF_KEEP_SEQ, qsbrOffline, qsbrOnline, qsbrQuiescent, qsbrUnregister } from "./qsbr";
import { heldPagesCollect, heldPagesCollectOrphans, heldPagesOrphan } from "./qsbr-pages";
import { hostCanBlock, waitWhileSpinning, wake } from "./host";
import { metaAlloc } from "./meta";
import { D_FREE_THREADS, D_ORPHANS, D_STW, D_THREADS, D_THREADS_LIVE, D_VERSION, EMPTY_HEAP, GLOBAL_STW, HEAP_SIZE, ROOT,
  R_THREADS_LIVE, R_THREAD_LIST, R_THREAD_SERIAL, S_COUNTDOWN, S_REQUESTED, S_REQUESTER, T_BREAKER,
  T_CS_DEPTH, T_DOMAIN, T_DOMAIN_NEXT, T_HELD_FIRST, T_QSBR_FLAGS, T_FREE_NEXT, T_HEAPS, T_HUGE_COUNT, T_NEXT_ALL, T_SEG_COUNT, T_SERIAL,
  T_STATE, T_STW_PENDING, TAG_COUNT, THREAD_ATTACHED, THREAD_DETACHED, THREAD_EXITED, THREAD_FREE,
  THREAD_SIZE, THREAD_SUSPENDED } from "./layout";

/** How long a paused thread, or a stop's requester, polls before it sleeps. */
export const STW_SPIN_MS: f64 = 0.2;

// ---- Eval breaker bits ---------------------------------------------------------
export const BRK_PLEASE_STOP: u32 = 1 << 0;
export const BRK_EXPLICIT_MERGE: u32 = 1 << 1;
export const BRK_GC_SCHEDULED: u32 = 1 << 2;
export const BRK_DELAYED_FREE: u32 = 1 << 3;
export const BRK_ASYNC_INTERRUPT: u32 = 1 << 4;
export const BRK_REQUESTS: u32 = 0xFF;
// Events a checkpoint reports besides the request bits it handled:
export const EV_VERSION_CHANGED: u32 = 1 << 8;
export const EV_STOPPED: u32 = 1 << 9;       // this thread was paused by a stop-the-world
export const EV_WOULD_BLOCK: u32 = 1 << 10;  // it must pause but cannot wait here: left SUSPENDED

/** The heap of `thread` for `tag`, made on first use; 0 when memory is exhausted. */
export function heapForTag(thread: usize, tag: u32): usize {
  const slot = thread + T_HEAPS + (<usize>tag << 2);
  let heap = <usize>load<u32>(slot);
  if (heap == 0) {
    heap = metaAlloc(HEAP_SIZE);
    if (heap == 0) return 0;
    heapInit(heap, thread, tag);
    store<u32>(slot, <u32>heap);
  }
  return heap;
}

// ---- Creation -----------------------------------------------------------------

/** The stop-the-world request that applies to `thread` now (global first), or 0. Under headLock. */
export function stwActiveFor(thread: usize): usize {
  if (load<u32>(GLOBAL_STW + S_REQUESTED) != 0 && load<u32>(GLOBAL_STW + S_REQUESTER) != <u32>thread) return GLOBAL_STW;
  const stw = <usize>load<u32>(thread, T_DOMAIN) + D_STW;
  if (load<u32>(stw + S_REQUESTED) != 0 && load<u32>(stw + S_REQUESTER) != <u32>thread) return stw;
  return 0;
}

/**
 * A new thread record of `domain`, DETACHED (SUSPENDED when a stop-the-world is
 * under way in its scope), with its MEM heap. 0 when memory is exhausted.
 */
export function threadNew(domain: usize): usize {
  headLock();
  let thread = <usize>load<u32>(domain, D_FREE_THREADS);
  if (thread != 0) store<u32>(domain, load<u32>(thread, T_FREE_NEXT), D_FREE_THREADS);
  headUnlock();
  const recycled = thread != 0;
  if (!recycled) {
    thread = metaAlloc(THREAD_SIZE);
    if (thread == 0) return 0;
  } else {
    // Keep the heap records (they are the thread's) and the list links; reset the rest.
    for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
      const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
      if (heap != 0) { memory.fill(heap, 0, HEAP_SIZE); heapInit(heap, thread, tag); }
    }
    const nextAll = load<u32>(thread, T_NEXT_ALL);
    const domainNext = load<u32>(thread, T_DOMAIN_NEXT);
    memory.fill(thread + 4, 0, T_HEAPS - 4);           // the state word stays FREE until listed below
    memory.fill(thread + T_HEAPS + (<usize>TAG_COUNT << 2), 0, <usize>THREAD_SIZE - T_HEAPS - (<usize>TAG_COUNT << 2));
    store<u32>(thread, nextAll, T_NEXT_ALL);
    store<u32>(thread, domainNext, T_DOMAIN_NEXT);
  }
  store<u32>(thread, <u32>domain, T_DOMAIN);
  store<u32>(thread, addRelaxed(ROOT + R_THREAD_SERIAL, 1) + 1, T_SERIAL);
  if (heapForTag(thread, 0) == 0) return 0;
  headLock();
  storeRelease(thread + T_BREAKER, (loadAcquire(domain + D_VERSION) & VERSION_MASK) << VERSION_SHIFT);
  storeRelease(thread + T_STATE, stwActiveFor(thread) != 0 ? THREAD_SUSPENDED : THREAD_DETACHED);
  if (!recycled) {
    store<u32>(thread, load<u32>(domain, D_THREADS), T_DOMAIN_NEXT);
    storeRelease(domain + D_THREADS, <u32>thread);
    while (true) {   // the runtime-wide list (stats) is push-only too
      const head = loadAcquire(ROOT + R_THREAD_LIST);
      store<u32>(thread, head, T_NEXT_ALL);
      if (casAcqRel(ROOT + R_THREAD_LIST, head, <u32>thread)) break;
    }
  }
  headUnlock();
  addRelaxed(ROOT + R_THREADS_LIVE, 1);
  addRelaxed(domain + D_THREADS_LIVE, 1);
  return thread;
}

// ---- Attach and detach ---------------------------------------------------------

/**
 * Owner: DETACHED -> ATTACHED and make the record current; a SUSPENDED thread
 * waits for the world to restart (EAGAIN where it may not block, or when
 * `mayBlock` is false). Resumes the innermost critical section and puts the
 * thread online in QSBR (ENOMEM, detached again, when it has no slot and none
 * can be made).
 */
export function threadAttach(thread: usize, mayBlock: bool): i32 {
  while (true) {
    if (casAcqRel(thread + T_STATE, THREAD_DETACHED, THREAD_ATTACHED)) break;
    const s = loadAcquire(thread + T_STATE);
    if (s == THREAD_SUSPENDED) {
      if (!mayBlock || !hostCanBlock()) return EAGAIN;
      waitWhileSpinning(thread + T_STATE, THREAD_SUSPENDED, STW_SPIN_MS, -1);   // partner: stwStart's wake
      continue;
    }
    if (s == THREAD_ATTACHED) break;
    return ENOT_ATTACHED;
  }
  currentSet(thread, <usize>load<u32>(thread, T_HEAPS));
  csResumeTop(thread);
  if (qsbrOnline(thread) != OK) { threadDetach(thread); return ENOMEM; }
  return OK;
}

/** Owner: release critical sections, ATTACHED -> DETACHED, no current thread. */
export function threadDetach(thread: usize): void {
  csSuspendAll(thread);
  // Not while resuming from a pause in malloc: a lock wait there (re-taking a
  // critical section) must not end the thread's read-side section.
  if ((load<u32>(thread, T_QSBR_FLAGS) & QF_KEEP_SEQ) == 0) qsbrOffline(thread);
  storeRelease(thread + T_STATE, THREAD_DETACHED);
  if (curThread == thread) currentSet(0, EMPTY_HEAP);
  // A requester waiting for us re-scans sooner (it would anyway within 1 ms).
  headLock();
  const stw = stwActiveFor(thread);
  headUnlock();
  if (stw != 0) wake(stw + S_COUNTDOWN, 1);
}

/** Account a counted thread once in its stop's countdown. Under headLock. */
export function stwAccount(thread: usize, stw: usize): void {
  if (load<u32>(thread, T_STW_PENDING) == 0) return;
  store<u32>(thread, 0, T_STW_PENDING);
  if (atomic.sub<u32>(stw + S_COUNTDOWN, 1) == 1) wake(stw + S_COUNTDOWN, 1);
}

/**
 * PLEASE_STOP: detach into SUSPENDED, count ourselves, wait for the restart and
 * attach again. Returns EV_STOPPED, EV_WOULD_BLOCK (left suspended: the thread
 * may not wait here), or 0 (the request was already over: a plain detach/attach).
 * `keepSeq` (the allocator's slow path): the QSBR seq stays as it was throughout.
 */
function threadSuspend(thread: usize, keepSeq: bool): u32 {
  csSuspendAll(thread);
  if (keepSeq) store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_KEEP_SEQ, T_QSBR_FLAGS);
  else qsbrOffline(thread);
  headLock();
  atomic.and<u32>(thread + T_BREAKER, ~BRK_PLEASE_STOP);
  const stw = stwActiveFor(thread);
  storeRelease(thread + T_STATE, stw != 0 ? THREAD_SUSPENDED : THREAD_DETACHED);
  if (stw != 0) stwAccount(thread, stw);
  headUnlock();
  currentSet(0, EMPTY_HEAP);
  const rc = threadAttach(thread, true);
  if (keepSeq) store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) & ~QF_KEEP_SEQ, T_QSBR_FLAGS);
  if (rc != OK) return EV_WOULD_BLOCK;
  return stw != 0 ? EV_STOPPED : 0;
}

// ---- Checkpoint -----------------------------------------------------------------

/** Handle the breaker's bits in the documented order; returns what happened (EV_*, BRK_*). */
export function threadCheckpoint(thread: usize): u32 {
  let events: u32 = 0;
  qsbrQuiescent(thread);
  let b = loadAcquire(thread + T_BREAKER);
  if ((b & BRK_PLEASE_STOP) != 0) {
    events |= threadSuspend(thread, false);
    if ((events & EV_WOULD_BLOCK) != 0) return events;
    b = loadAcquire(thread + T_BREAKER);
  }
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (delayedHasWork(thread)) delayedProcess(thread, true);
  if (load<u32>(thread, T_HELD_FIRST) != 0) heldPagesCollect(thread, true);
  if (loadAcquire(domain + D_ORPHANS) != 0) heldPagesCollectOrphans(domain);
  const reported = b & (BRK_EXPLICIT_MERGE | BRK_DELAYED_FREE | BRK_GC_SCHEDULED | BRK_ASYNC_INTERRUPT);
  if (reported != 0) atomic.and<u32>(thread + T_BREAKER, ~reported);
  events |= reported;
  const dv = loadAcquire(domain + D_VERSION) & VERSION_MASK;
  if ((b >> VERSION_SHIFT) != dv) {
    breakerSetVersion(thread, dv);
    events |= EV_VERSION_CHANGED;
  }
  return events;
}

/**
 * The allocator's slow path: only a pending stop is handled there (nothing else
 * can be reported from inside malloc), and only where the thread may wait.
 */
// @ts-ignore: decorator
@inline export function threadCheckpointAlloc(thread: usize): void {
  if ((loadAcquire(thread + T_BREAKER) & BRK_PLEASE_STOP) != 0 && hostCanBlock()) threadSuspend(thread, true);
}

/** Ask `target` to stop at its next checkpoint with an interrupt (only that thread). */
export function threadInterrupt(target: usize): void {
  atomic.or<u32>(target + T_BREAKER, BRK_ASYNC_INTERRUPT);
}

// ---- Exit -----------------------------------------------------------------------

/** Owner: leave for good (see the file comment). The thread must be attached. */
export function threadExit(thread: usize): void {
  // Offline for good: an exiting thread holds no protected pointer (and must not
  // come online again when a lock wait below re-attaches it).
  store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_EXITING, T_QSBR_FLAGS);
  qsbrOffline(thread);
  delayedAbandon(thread);
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) heapCollect(heap, true, true);
  }
  heldPagesCollect(thread, false);
  qsbrUnregister(thread);
  csSuspendAll(thread);
  store<u32>(thread, 0, T_CS_DEPTH);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  headLock();
  // A stop that counted us must not wait for a thread that is gone.
  const stw = stwActiveFor(thread);
  if (stw != 0) stwAccount(thread, stw);
  storeRelease(thread + T_STATE, THREAD_EXITED);
  headUnlock();
  addRelaxed(ROOT + R_THREADS_LIVE, <u32>-1);
  addRelaxed(domain + D_THREADS_LIVE, <u32>-1);
  if (curThread == thread) currentSet(0, EMPTY_HEAP);
  // Held pages still waiting: a live thread frees them later (qsbr-pages.ts) and
  // recycles the record then; otherwise it is recycled now if it owns nothing.
  if (load<u32>(thread, T_HELD_FIRST) != 0) heldPagesOrphan(thread);
  else threadRecycleExited(thread);
}

/**
 * An EXITED record that owns no segment any more goes back to its domain's free
 * records (at exit, or once another thread freed its held pages). No-op otherwise.
 */
export function threadRecycleExited(thread: usize): void {
  if (load<u32>(thread, T_SEG_COUNT) != 0 || loadAcquire(thread + T_HUGE_COUNT) != 0) return;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  headLock();
  if (casAcqRel(thread + T_STATE, THREAD_EXITED, THREAD_FREE)) {
    store<u32>(thread, load<u32>(domain, D_FREE_THREADS), T_FREE_NEXT);
    store<u32>(domain, <u32>thread, D_FREE_THREADS);
  }
  headUnlock();
}

/** Is `thread` a thread record of this runtime (any state)? Walks the push-only list. */
export function threadIsValid(thread: usize): bool {
  if (thread == 0 || (thread & 63) != 0) return false;
  let t = <usize>loadAcquire(ROOT + R_THREAD_LIST);
  while (t != 0) {
    if (t == thread) return true;
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
  return false;
}

export function threadState(thread: usize): u32 {
  return loadAcquire(thread + T_STATE);
}
