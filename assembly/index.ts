// index.ts — the Wasm ABI. Composes the concepts and exports plain functions;
// see README.md in this folder for each export's contract. No logic lives here.

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { CUR_HEAP_INITIAL_OK, curHeap, curThread } from "./current";
import { EINVAL_ARG, EINVAL_DOMAIN, EINVAL_HEAP, EINVAL_PTR, EINVAL_TAG, ENOMEM, ENOT_ATTACHED, ENOT_INIT, ENOT_LOCKED, OK,
  setError, takeError } from "./errors";
import { blockUsableSize, heapAlignedAlloc, heapCalloc, heapMalloc, heapRealloc, MAX_ALLOC_SIZE } from "./alloc";
import { ftFree } from "./free";
import { heapCollect, heapInit } from "./heap";
import { osResetPeak } from "./os";
import { pageIsValid } from "./page";
import { sizeClassInit, binOf, binBlockSize } from "./size-class";
import { statsRelease, statsSnapshot } from "./stats";
import { heapForTag, threadIsValid, threadAttach, threadCheckpoint, threadDetach, threadExit, threadInterrupt, threadNew,
  threadState } from "./thread";
import { csBegin, csBegin2, csEnd, lockDetaching } from "./critical-section";
import { domainCreate, domainDefault, domainIsValid, domainSetVersion } from "./domain";
import { hostSetCanBlock } from "./host";
import { LOCK_OK, mutexLockSlow, mutexTryLock, mutexUnlock } from "./mutex";
import { stwStart, stwStop } from "./stop-the-world";
import { listCapacity, listCompact, listDestroy, listGet, listGetLocked, listIsHandle, listIsValid, listLength, listNew,
  listPop, listPush, listResize, listSet } from "./shared-list";
import { mapCapacity, mapDelete, mapDestroy, mapGet, mapGetLocked, mapIsHandle, mapIsValid, mapNew, mapSet,
  mapSize } from "./shared-map";
import { debugReadDelaySet } from "./debug-delay";
import { visitBegin, visitNext } from "./visit";
import { delayedProcess, freeDelayed } from "./delayed-free";
import { qsbrAdvance, qsbrDeferredAdvance, qsbrGoalReached, qsbrPoll, qsbrQuiescent, qsbrRdSeq, qsbrSlotsUsed,
  qsbrWrSeq } from "./qsbr";
import { heldPagesCollect } from "./qsbr-pages";
import { EMPTY_HEAP, EMPTY_PAGE, FIRST_UNIT, H_THREAD, LARGE_OBJ_MAX, ROOT, R_BRK_UNITS, R_INIT, R_MAX_PAGES,
  R_HIGH_WATER_PAGES, PAGE_REC_SIZE, SEGTABLE, TAG_COUNT, T_HEAPS, UNITS, UNIT_NONE, D_THREADS_LIVE, D_VERSION,
  R_DEFAULT_DOMAIN, ROOT_END, THREAD_ATTACHED, THREAD_DETACHED, THREAD_EXITED, THREAD_FREE, THREAD_SUSPENDED,
  T_BREAKER, T_CS_DEPTH, T_DOMAIN, T_DF_PENDING, T_QSBR_SLOT, SL_SEQ, D_QSBR_COUNT, D_DF_QUEUED, D_DF_FREED,
  D_DF_FAILED, D_PAGES_HELD, D_DEFER_LIMIT, D_FREE_LIMIT, D_PAGE_LIMIT, D_HELD_TAGS, D_CHUNKS } from "./layout";

const ABI_VERSION: u32 = 1;

/**
 * Initialise the runtime root once; every later call (any thread) waits until
 * the first is done. `maxPages` is the memory's maximum in 64 KiB pages.
 * Returns ABI_VERSION.
 */
export function ft_init(maxPages: u32): u32 {
  if (!CUR_HEAP_INITIAL_OK) unreachable();
  if (casAcqRel(ROOT + R_INIT, 0, 1)) {
    store<u32>(ROOT + R_MAX_PAGES, maxPages);
    store<u32>(ROOT + R_BRK_UNITS, FIRST_UNIT);
    store<u32>(ROOT + R_HIGH_WATER_PAGES, <u32>memory.size());
    for (let u: u32 = 0; u < UNITS; u++) store<u8>(SEGTABLE + <usize>u, UNIT_NONE);
    sizeClassInit();
    memory.fill(EMPTY_PAGE, 0, PAGE_REC_SIZE);
    heapInit(EMPTY_HEAP, 0, 0);
    const d = domainCreate();
    if (d == 0) unreachable();   // the first meta record always fits below the first segment
    storeRelease(ROOT + R_DEFAULT_DOMAIN, <u32>d);
    storeRelease(ROOT + R_INIT, 2);   // partner: the loads below in other threads
  }
  while (loadAcquire(ROOT + R_INIT) != 2) {}
  return ABI_VERSION;
}

// ---- Domains ----------------------------------------------------------------------

export function ft_domain_default(): usize { return domainDefault(); }
export function ft_domain_valid(d: usize): bool { return domainIsValid(d); }
/** A new domain, or 0 (ENOMEM). */
export function ft_domain_create(): usize {
  const d = domainCreate();
  if (d == 0) setError(ENOMEM);
  return d;
}
export function ft_domain_version(d: usize): u32 { return domainIsValid(d) ? loadAcquire(d + D_VERSION) : 0; }
export function ft_domain_set_version(d: usize, version: u32): i32 {
  if (!domainIsValid(d)) { setError(EINVAL_DOMAIN); return EINVAL_DOMAIN; }
  domainSetVersion(d, version);
  return OK;
}
export function ft_domain_threads_live(d: usize): u32 { return domainIsValid(d) ? loadAcquire(d + D_THREADS_LIVE) : 0; }

// ---- Threads -----------------------------------------------------------------------

/**
 * A new thread of domain `d` (0 = the default domain), attached and current on
 * this instance; its record, or 0 (ENOMEM, EINVAL_DOMAIN, EAGAIN: a stop is under
 * way and this thread may not wait — it exists, SUSPENDED; attach it later).
 */
export function ft_thread_attach_new(d: usize): usize {
  if (loadAcquire(ROOT + R_INIT) != 2) { setError(ENOT_INIT); return 0; }
  const domain = d == 0 ? domainDefault() : d;
  if (d != 0 && !domainIsValid(d)) { setError(EINVAL_DOMAIN); return 0; }
  if (curThread != 0 && threadState(curThread) == THREAD_ATTACHED) threadDetach(curThread);
  const t = threadNew(domain);
  if (t == 0) { setError(ENOMEM); return 0; }
  const rc = threadAttach(t, true);
  if (rc != OK) setError(rc);
  return t;
}

/** ft_thread_attach_new(0). */
export function ft_thread_attach(): usize { return ft_thread_attach_new(0); }

/**
 * Make `thread` (a record this instance owns) attached and current: the current
 * one, if another, detaches first. Waits while a stop-the-world holds it
 * SUSPENDED, unless `mayBlock` is false (then EAGAIN).
 */
export function ft_thread_enter(thread: usize, mayBlock: bool): i32 {
  if (!threadIsValid(thread)) return fail(ENOT_ATTACHED);
  const s = threadState(thread);
  if (s != THREAD_ATTACHED && s != THREAD_DETACHED && s != THREAD_SUSPENDED) return fail(ENOT_ATTACHED);
  if (curThread != 0 && curThread != thread && threadState(curThread) == THREAD_ATTACHED) threadDetach(curThread);
  const rc = threadAttach(thread, mayBlock);
  return rc == OK ? OK : fail(rc);
}

/** Detach the current thread (it keeps its heaps; ft_thread_enter attaches it again). */
export function ft_thread_detach(): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  threadDetach(curThread);
  return OK;
}

/** Exit the current thread: free what is free, keep live blocks freeable. */
export function ft_thread_exit(): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  threadExit(curThread);
  return OK;
}

export function ft_thread_current(): usize { return curThread; }
// Thread ids from outside are checked against the runtime's list of records (O(threads)):
// a bad one reads as FREE / 0 (EINVAL_ARG) instead of touching arbitrary memory.
export function ft_thread_state(thread: usize): u32 {
  if (!threadIsValid(thread)) { setError(EINVAL_ARG); return THREAD_FREE; }
  return threadState(thread);
}
export function ft_thread_breaker(thread: usize): u32 {
  if (!threadIsValid(thread)) { setError(EINVAL_ARG); return 0; }
  return loadAcquire(thread + T_BREAKER);
}
export function ft_thread_domain(thread: usize): usize {
  if (!threadIsValid(thread)) { setError(EINVAL_ARG); return 0; }
  return <usize>load<u32>(thread, T_DOMAIN);
}

/** Handle the current thread's eval-breaker bits; returns the events (see thread.ts). */
export function ft_checkpoint(): u32 {
  if (curThread == 0) { setError(ENOT_ATTACHED); return 0xFFFFFFFF; }
  return threadCheckpoint(curThread);
}

/** Make `target`'s next checkpoint report ASYNC_INTERRUPT (it alone). */
export function ft_interrupt(target: usize): i32 {
  if (!threadIsValid(target)) return fail(ENOT_ATTACHED);
  const s = threadState(target);
  if (s == THREAD_FREE || s == THREAD_EXITED) return fail(ENOT_ATTACHED);
  threadInterrupt(target);
  return OK;
}

/** This instance may (true) or may not (browser main thread) block in wait32. */
export function ft_set_can_block(value: bool): void { hostSetCanBlock(value); }

// ---- Stop-the-world ----------------------------------------------------------------

export function ft_stw_stop(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  const rc = stwStop(curThread, global);
  return rc == OK ? OK : fail(rc);
}
export function ft_stw_start(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  const rc = stwStart(curThread, global);
  return rc == OK ? OK : fail(rc);
}

// ---- Mutexes and critical sections ---------------------------------------------------

function mutexChecked(m: usize): bool {
  if ((m & 3) != 0 || m < ROOT_END || <u64>m + 4 > (<u64>memory.size() << 16)) { setError(EINVAL_PTR); return false; }
  return true;
}
/** Lock (detaching the current thread while it waits, if attached). */
export function ft_mutex_lock(m: usize): i32 {
  if (!mutexChecked(m)) return EINVAL_PTR;
  lockDetaching(curThread, m);
  return OK;
}
/** 1 when taken, 0 when not (spins briefly first if `spin`). */
export function ft_mutex_trylock(m: usize, spin: bool): i32 {
  if (!mutexChecked(m)) return -EINVAL_PTR;
  if (mutexTryLock(m)) return 1;
  return spin && mutexLockSlow(m, false) == LOCK_OK ? 1 : 0;
}
export function ft_mutex_unlock(m: usize): i32 {
  if (!mutexChecked(m)) return EINVAL_PTR;
  return mutexUnlock(m) ? OK : fail(ENOT_LOCKED);
}
/** Begin a critical section: a token for ft_cs_end (0 or 1), or -code. */
export function ft_cs_begin(m: usize): i32 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  if (!mutexChecked(m)) return -EINVAL_PTR;
  const t = csBegin(curThread, m);
  if (t < 0) setError(-t);
  return t;
}
export function ft_cs_begin2(a: usize, b: usize): i32 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  if (!mutexChecked(a) || !mutexChecked(b)) return -EINVAL_PTR;
  const t = csBegin2(curThread, a, b);
  if (t < 0) setError(-t);
  return t;
}
export function ft_cs_end(token: i32): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  const rc = csEnd(curThread, token);
  return rc == OK ? OK : fail(rc);
}
export function ft_cs_depth(): u32 { return curThread == 0 ? 0 : load<u32>(curThread, T_CS_DEPTH); }

function fail(code: i32): i32 {
  setError(code);
  return code;
}

/** The current thread's heap for `tag` (made on first use), or 0. */
export function ft_heap(tag: u32): usize {
  if (curThread == 0) { setError(ENOT_ATTACHED); return 0; }
  if (tag >= TAG_COUNT) { setError(EINVAL_TAG); return 0; }
  const h = heapForTag(curThread, tag);
  if (h == 0) setError(ENOMEM);
  return h;
}

/** Collect the current thread's heaps: remote frees, empty pages (`force`: no retention). */
export function ft_collect(force: bool): void {
  if (curThread == 0) return;
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(curThread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) heapCollect(heap, force, false);
  }
  heldPagesCollect(curThread, false);
}

// ---- Allocation (tag MEM, the current thread) --------------------------------------

export function ft_malloc(size: usize): usize { return heapMalloc(curHeap, size); }
export function ft_calloc(count: usize, size: usize): usize { return heapCalloc(curHeap, count, size); }
export function ft_realloc(p: usize, size: usize): usize { return heapRealloc(curHeap, p, size); }
export function ft_aligned_alloc(align: usize, size: usize): usize { return heapAlignedAlloc(curHeap, align, size); }
export function ft_free(p: usize): i32 { return ftFree(p); }
export function ft_usable_size(p: usize): usize { return blockUsableSize(p); }

// ---- Allocation from a heap of the current thread (any tag) -----------------------

function heapChecked(heap: usize): bool {
  if (curThread == 0) { setError(ENOT_ATTACHED); return false; }
  if (heap == 0 || load<u32>(heap, H_THREAD) != <u32>curThread) { setError(EINVAL_HEAP); return false; }
  return true;
}
export function ft_heap_malloc(heap: usize, size: usize): usize {
  return heapChecked(heap) ? heapMalloc(heap, size) : 0;
}
export function ft_heap_calloc(heap: usize, count: usize, size: usize): usize {
  return heapChecked(heap) ? heapCalloc(heap, count, size) : 0;
}
export function ft_heap_aligned_alloc(heap: usize, align: usize, size: usize): usize {
  return heapChecked(heap) ? heapAlignedAlloc(heap, align, size) : 0;
}

// ---- QSBR and delayed free (the current thread's domain) ---------------------------
// Goals are u64 counters passed as f64 (exact below 2^53: 2^52 advances).

/** Free `p` after a grace period (delayed-free.ts). 0 is ignored. */
export function ft_free_delayed(p: usize): i32 { return freeDelayed(p); }

/** Free the current thread's due delayed frees and held pages now; items freed, or -code. */
export function ft_delayed_process(): i32 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  const n = delayedProcess(curThread, false);
  heldPagesCollect(curThread, false);
  return <i32>n;
}
/** Items the current thread has queued and not yet freed. */
export function ft_delayed_pending(): u32 { return curThread == 0 ? 0 : load<u32>(curThread, T_DF_PENDING); }

/** Advance the domain's write sequence; the new value (a goal), or -code. */
export function ft_qsbr_advance(): f64 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  return <f64>qsbrAdvance(<usize>load<u32>(curThread, T_DOMAIN));
}
/** A goal that advances only every deferLimit-th call (deferred form otherwise), or -code. */
export function ft_qsbr_deferred_advance(): f64 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  return <f64>qsbrDeferredAdvance(curThread, 0);
}
function goalChecked(goal: f64): bool {
  if (!(goal >= 0 && goal <= 9007199254740992.0) || goal != Math.floor(goal)) { setError(EINVAL_ARG); return false; }
  return true;
}
/** 1 when every thread has passed `goal` (scanning the slots if needed), 0 if not, or -code. */
export function ft_qsbr_poll(goal: f64): i32 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  if (!goalChecked(goal)) return -EINVAL_ARG;
  return qsbrPoll(<usize>load<u32>(curThread, T_DOMAIN), <u64>goal) ? 1 : 0;
}
/** Like ft_qsbr_poll from the cached minimum only (no scan). */
export function ft_qsbr_goal_reached(goal: f64): i32 {
  if (curThread == 0) return -fail(ENOT_ATTACHED);
  if (!goalChecked(goal)) return -EINVAL_ARG;
  return qsbrGoalReached(<usize>load<u32>(curThread, T_DOMAIN), <u64>goal) ? 1 : 0;
}
/** Report a quiescent state for the current thread (without the rest of a checkpoint). */
export function ft_qsbr_quiescent(): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  qsbrQuiescent(curThread);
  return OK;
}
/** Thread `thread`'s read sequence (0 = offline; -1 for a bad thread id). */
export function ft_qsbr_thread_seq(thread: usize): f64 {
  if (!threadIsValid(thread)) return -1;
  const s = threadState(thread);
  if (s == THREAD_FREE || s == THREAD_EXITED) return 0;
  const slot = <usize>loadAcquire(thread + T_QSBR_SLOT);
  return slot == 0 ? 0 : <f64>atomic.load<u64>(slot + SL_SEQ);
}

/** QSBR figures of domain `d`: see QSBR_INFO_* in README.md; -1 for a bad domain or field. */
export function ft_qsbr_info(d: usize, field: u32): f64 {
  if (!domainIsValid(d)) return -1;
  switch (field) {
    case 0: return <f64>qsbrWrSeq(d);
    case 1: return <f64>qsbrRdSeq(d);
    case 2: return <f64>loadAcquire(d + D_QSBR_COUNT);
    case 3: return <f64>qsbrSlotsUsed(d);
    case 4: return <f64>atomic.load<u64>(d + D_DF_QUEUED);
    case 5: return <f64>atomic.load<u64>(d + D_DF_FREED);
    case 6: return <f64>loadAcquire(d + D_DF_FAILED);
    case 7: return <f64>loadAcquire(d + D_PAGES_HELD);
    case 8: return <f64>loadAcquire(d + D_DEFER_LIMIT);
    case 9: return <f64>loadAcquire(d + D_FREE_LIMIT);
    case 10: return <f64>loadAcquire(d + D_PAGE_LIMIT);
    case 11: return <f64>loadAcquire(d + D_HELD_TAGS);
    case 12: return <f64>loadAcquire(d + D_CHUNKS);
  }
  return -1;
}

/**
 * Configure domain `d`'s QSBR policy; 0xFFFFFFFF keeps a value. deferLimit >= 1;
 * heldTags: bit per tag whose empty pages wait for a goal (applies to pages that
 * empty from now on).
 */
export function ft_qsbr_configure(d: usize, deferLimit: u32, freeLimit: u32, pageLimit: u32, heldTags: u32): i32 {
  if (!domainIsValid(d)) return fail(EINVAL_DOMAIN);
  const keep: u32 = 0xFFFFFFFF;
  if (deferLimit == 0 || (heldTags != keep && heldTags > 0xFFFF)) return fail(EINVAL_ARG);
  if (deferLimit != keep) storeRelease(d + D_DEFER_LIMIT, deferLimit);
  if (freeLimit != keep) storeRelease(d + D_FREE_LIMIT, freeLimit);
  if (pageLimit != keep) storeRelease(d + D_PAGE_LIMIT, pageLimit);
  if (heldTags != keep) storeRelease(d + D_HELD_TAGS, heldTags);
  return OK;
}

// ---- Walking, stats, errors ------------------------------------------------------

export function ft_visit_begin(tag: u32): i32 {
  if (curThread == 0) { setError(ENOT_ATTACHED); return ENOT_ATTACHED; }
  if (tag >= TAG_COUNT) { setError(EINVAL_TAG); return EINVAL_TAG; }
  visitBegin(tag);
  return OK;
}
export function ft_visit_next(): usize { return curThread == 0 ? 0 : visitNext(); }

export function ft_stats_snapshot(thread: usize, tag: u32): usize { return statsSnapshot(thread, tag); }
export function ft_stats_release(): void { statsRelease(); }
export function ft_stats_reset_peak(): void { osResetPeak(); }

/** The last error code of this thread (instance), cleared by reading. */
export function ft_last_error(): i32 { return takeError(); }

// ---- Size classes (for tests and tools) ------------------------------------------

export function ft_bin_of(size: usize): u32 { return size > LARGE_OBJ_MAX ? 0 : binOf(size); }
export function ft_bin_size(bin: u32): u32 { return bin == 0 || bin > 68 ? 0 : binBlockSize(bin); }
export function ft_max_alloc_size(): usize { return MAX_ALLOC_SIZE; }
export function ft_memory_pages(): u32 { return <u32>memory.size(); }

/** Debug: re-check a page's counting invariant (owner only). */
export function ft_debug_page_valid(page: usize): bool { return pageIsValid(page); }

// ---- SharedList and SharedMap ----
// Handles are checked (alignment, bounds, magic word) before use: a bad one gets
// EINVAL_PTR. Every call needs an attached current thread: a lock-free read is
// protected from reclamation only while its thread is attached. f64 results are a
// value (0 .. 2^32-1), -1 (nothing there), or -2 (error; the code is in
// ft_last_error). i32 results are OK or a code, or (has, delete, length, size,
// capacity) a non-negative answer or -code.

const F_ERROR: f64 = -2;

function sharedReady(): bool {
  return curThread != 0 && threadState(curThread) == THREAD_ATTACHED;
}
/** OK, or the code (left in lastError) that stops a call on `list`. */
function listCheck(list: usize): i32 {
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  if (!listIsHandle(list)) return fail(EINVAL_PTR);
  return OK;
}
function mapCheck(map: usize): i32 {
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  if (!mapIsHandle(map)) return fail(EINVAL_PTR);
  return OK;
}
function failOr(rc: i32): i32 { return rc == OK ? OK : fail(rc); }

/** A new list with room for `capacity` items (at least 4); 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_list_new(capacity: u32): usize {
  if (!sharedReady()) { setError(ENOT_ATTACHED); return 0; }
  return listNew(capacity);
}
/** Lock-free: item `i`, -1 past the end, -2 on error. */
export function ft_list_get(list: usize, i: u32): f64 {
  return listCheck(list) == OK ? listGet(list, i) : F_ERROR;
}
/** The same read under the list's mutex (benchmarks). */
export function ft_list_get_locked(list: usize, i: u32): f64 {
  return listCheck(list) == OK ? listGetLocked(list, i) : F_ERROR;
}
/** Lock-free: the length, or -code. */
export function ft_list_length(list: usize): i32 {
  const rc = listCheck(list);
  return rc == OK ? <i32>listLength(list) : -rc;
}
/** Lock-free: the current array's capacity, or -code. */
export function ft_list_capacity(list: usize): i32 {
  const rc = listCheck(list);
  return rc == OK ? <i32>listCapacity(list) : -rc;
}
/** items[i] = v: OK, ERANGE (i >= length). */
export function ft_list_set(list: usize, i: u32, v: u32): i32 {
  const rc = listCheck(list);
  return rc == OK ? failOr(listSet(list, i, v)) : rc;
}
/** Append: OK, ENOMEM (unchanged), EINVAL_SIZE (at the largest capacity). */
export function ft_list_push(list: usize, v: u32): i32 {
  const rc = listCheck(list);
  return rc == OK ? failOr(listPush(list, v)) : rc;
}
/** Remove the last item: it, -1 when empty, -2 on error. */
export function ft_list_pop(list: usize): f64 {
  return listCheck(list) == OK ? listPop(list) : F_ERROR;
}
/** Set the length (new items 0): OK, ENOMEM (unchanged), EINVAL_SIZE. */
export function ft_list_resize(list: usize, n: u32): i32 {
  const rc = listCheck(list);
  return rc == OK ? failOr(listResize(list, n)) : rc;
}
/** Shrink the capacity to the length (at least 4): OK, ENOMEM (unchanged). */
export function ft_list_compact(list: usize): i32 {
  const rc = listCheck(list);
  return rc == OK ? failOr(listCompact(list)) : rc;
}
/** Free the list (the array after a grace period). No thread may use it afterwards. */
export function ft_list_destroy(list: usize): i32 {
  const rc = listCheck(list);
  return rc == OK ? listDestroy(list) : rc;
}
/** Debug: re-check the list's invariants. */
export function ft_debug_list_valid(list: usize): bool { return listCheck(list) == OK && listIsValid(list); }

/** A new map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_map_new(expected: u32): usize {
  if (!sharedReady()) { setError(ENOT_ATTACHED); return 0; }
  return mapNew(expected);
}
/** Lock-free: the value of `key`, -1 when absent, -2 on error. */
export function ft_map_get(map: usize, key: u32): f64 {
  return mapCheck(map) == OK ? mapGet(map, key) : F_ERROR;
}
/** The same read under the map's mutex (benchmarks). */
export function ft_map_get_locked(map: usize, key: u32): f64 {
  return mapCheck(map) == OK ? mapGetLocked(map, key) : F_ERROR;
}
/** Lock-free: 1 present, 0 absent, or -code. */
export function ft_map_has(map: usize, key: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? (mapGet(map, key) >= 0 ? 1 : 0) : -rc;
}
/** key -> value: OK, ENOMEM (unchanged). */
export function ft_map_set(map: usize, key: u32, value: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? failOr(mapSet(map, key, value)) : rc;
}
/** Remove: 1 removed, 0 absent, or -code. */
export function ft_map_delete(map: usize, key: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapDelete(map, key) : -rc;
}
/** Entries (read under the mutex), or -code. */
export function ft_map_size(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? <i32>mapSize(map) : -rc;
}
/** Lock-free: slots in the current table, or -code. */
export function ft_map_capacity(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? <i32>mapCapacity(map) : -rc;
}
/** Free the map (the table after a grace period). No thread may use it afterwards. */
export function ft_map_destroy(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapDestroy(map) : rc;
}
/** Debug: re-check the map's invariants (O(capacity) or worse). */
export function ft_debug_map_valid(map: usize): bool { return mapCheck(map) == OK && mapIsValid(map); }
/** Debug build: this instance's lock-free reads of lists and maps spin `spins` times after loading the storage pointer (race tests). */
export function ft_debug_read_delay(spins: u32): void { debugReadDelaySet(spins); }
