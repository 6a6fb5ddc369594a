// index.ts — the Wasm ABI. Composes the concepts and exports plain functions;
// see README.md in this folder for each export's contract. No logic lives here.

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { CUR_HEAP_INITIAL_OK, curHeap, curThread } from "./current";
import { EINVAL_HEAP, EINVAL_TAG, ENOMEM, ENOT_ATTACHED, ENOT_INIT, OK, setError, takeError } from "./errors";
import { blockUsableSize, heapAlignedAlloc, heapCalloc, heapMalloc, heapRealloc, MAX_ALLOC_SIZE } from "./alloc";
import { ftFree } from "./free";
import { heapCollect, heapInit } from "./heap";
import { osResetPeak } from "./os";
import { pageIsValid } from "./page";
import { sizeClassInit, binOf, binBlockSize } from "./size-class";
import { statsRelease, statsSnapshot } from "./stats";
import { heapForTag, threadAttach, threadExit, threadSetCurrent, threadState } from "./thread";
import { visitBegin, visitNext } from "./visit";
import { EMPTY_HEAP, EMPTY_PAGE, FIRST_UNIT, H_THREAD, LARGE_OBJ_MAX, ROOT, R_BRK_UNITS, R_INIT, R_MAX_PAGES,
  R_HIGH_WATER_PAGES, PAGE_REC_SIZE, SEGTABLE, TAG_COUNT, T_HEAPS, UNITS, UNIT_NONE } from "./layout";

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
    storeRelease(ROOT + R_INIT, 2);   // partner: the loads below in other threads
  }
  while (loadAcquire(ROOT + R_INIT) != 2) {}
  return ABI_VERSION;
}

// ---- Threads -----------------------------------------------------------------------

/** Attach a new thread on this instance and make it current; its record, or 0. */
export function ft_thread_attach(): usize {
  if (loadAcquire(ROOT + R_INIT) != 2) { setError(ENOT_INIT); return 0; }
  const t = threadAttach();
  if (t == 0) setError(ENOMEM);
  return t;
}

/** Exit the current thread: free what is free, keep live blocks freeable. */
export function ft_thread_exit(): i32 {
  if (curThread == 0) { setError(ENOT_ATTACHED); return ENOT_ATTACHED; }
  threadExit();
  return OK;
}

export function ft_thread_current(): usize { return curThread; }
export function ft_thread_set_current(thread: usize): i32 {
  if (threadSetCurrent(thread)) return OK;
  setError(ENOT_ATTACHED);
  return ENOT_ATTACHED;
}
export function ft_thread_state(thread: usize): u32 { return threadState(thread); }

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
