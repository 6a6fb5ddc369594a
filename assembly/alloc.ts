// alloc.ts — handing out blocks.
//
// Fast path (heapMalloc): for sizes up to DIRECT_MAX one load from the heap's
// direct table gives the page, for larger ones (up to LARGE_OBJ_MAX) the bin's
// queue head does; one pop from its `free` list gives the block. Everything
// else — an empty `free`, huge sizes, no thread attached — goes to
// mallocGeneric, which also does the heap's periodic chores: drain remote frees
// into full pages, now and then collect every page; before taking a fresh page it
// expires retired ones.
// Larger than LARGE_OBJ_MAX: a huge segment of its own.
//
// See also: free.ts, page.ts (extend, collect), segment.ts (fresh pages).

import { floatAllowed, floatClaim, floatHomeAll, pageFloat } from "./float";
import { A_HEAP, A_OWNER, A_PAGE, ASSERT_INTERNAL, ASSERT_VALIDATE, assertThat } from "./assert";
import { addRelaxed, loadAcquire, storeRelease } from "./atomics";
import { DP_HUGE_ALLOCED, debugPause } from "./debug-delay";
import { EINVAL_ALIGN, EINVAL_PTR, EINVAL_SIZE, ENOMEM, ENOT_ATTACHED, EWRONG_DOMAIN, OK, peekError, setError } from "./errors";
import { heapCollect, heapCollectRetired, heapDelayedFreeAll, heapForTag } from "./heap";
import { hookCheckpointAlloc, hookHeldPagesCollect, hookOutOfMemory, hookPageHoldCancel, hookReclaim } from "./hooks";
import { heapQueue, queueFirst, queueIsValid, queueMoveToFront, queuePushFront } from "./page-queue";
import { hugeBlockPage, normalBlockPage, pageCollect, pageExtend, pageInit, pageIsValid, pagePop, pageRelease, pageToFull,
  xtfInit, xtfMake } from "./page";
import { blockInDomain, blockIsFree, ftFree } from "./free";
import { qsbrHoldsTag } from "./qsbr";
import { remoteFlush } from "./remote-free";
import { curOwnerWord, curThread } from "./current";
import { memCopy, memFill, memHas, memSync, osCommit, osCommitMarked, osDecommit, osUnitsAlloc, unitOf, unitState } from "./os";
import { segmentIsLocal, segmentOf, segmentPageAlloc } from "./segment";
import { binBlockSize, binOf, pageSlicesFor } from "./size-class";
import { FULL_FLOAT, H_DELAYED, H_REMOTE_AT, P_IN_FULL, DELAY_NEVER, DIRECT_MAX, EMPTY_PAGE, H_DIRECT, H_GENERIC, H_TAG, H_THREAD, HUGE_BLOCK_OFFSET, LARGE_OBJ_MAX,
  MAX_ALIGN, P_BLOCK_SIZE, P_CAPACITY, P_FREE, P_KEY, P_LOCAL_FREE, P_NEXT, P_RESERVED, P_RETIRE,
  P_START, P_TAG, P_USED, P_XHEAP, SEGMENT_SHIFT, SEGMENT_SIZE, SEG_KIND, SEG_PAGES,
  SEG_DOMAIN, SEG_THREAD, SEG_UNITS, SEG_USED, T_DOMAIN, SLICE_SIZE, PAGE_REC_SIZE, T_HELD_FIRST, T_HUGE_COUNT, T_SEG_NEW, UNIT_HUGE, UNIT_NORMAL, WORD_SHIFT } from "./layout";

/** Largest request ever considered: the 4 GiB address space less the runtime area. */
export const MAX_ALLOC_SIZE: usize = 0xFFFFFFFF - (SEGMENT_SIZE << 1);
const GENERIC_COLLECT_MASK: u32 = 8191;   // collect every page every 8192 slow-path calls

// @ts-ignore: decorator
@inline export function heapMalloc(heap: usize, size: usize): usize {
  let page: usize;
  if (size <= DIRECT_MAX) {
    page = <usize>load<u32>(heap + H_DIRECT + ((size + 7) >> WORD_SHIFT << 2));
  } else if (size <= LARGE_OBJ_MAX) {
    page = queueFirst(heapQueue(heap, binOf(size)));
    page = select<usize>(page, EMPTY_PAGE, page != 0);
  } else {
    return mallocGeneric(heap, size);
  }
  const block = <usize>load<u32>(page, P_FREE);
  if (block != 0) return pagePop(page, block);
  return mallocGeneric(heap, size);
}

// Slow: the direct page is dry, the size is not small, or no thread is attached.
export function mallocGeneric(heap: usize, size: usize): usize {
  memSync();   // the slow path may touch other threads' memory (os.ts)
  if (load<u32>(heap, H_THREAD) == 0) { setError(ENOT_ATTACHED); return 0; }
  if (size > MAX_ALLOC_SIZE) { setError(EINVAL_SIZE); return 0; }
  if (ASSERT_INTERNAL) assertThat(load<u32>(heap, H_THREAD) == <u32>curThread, A_OWNER);
  const calls = load<u32>(heap, H_GENERIC) + 1;
  store<u32>(heap, calls, H_GENERIC);
  hookCheckpointAlloc(<usize>load<u32>(heap, H_THREAD));   // a pending stop-the-world pauses us here
  if (loadAcquire(heap + H_DELAYED) != 0) {
    store<u32>(heap, calls, H_REMOTE_AT);   // other threads freed into our full pages
    heapDelayedFreeAll(heap);
  }
  if ((calls & GENERIC_COLLECT_MASK) == 0) {
    heapCollect(heap, false, false);
    floatHomeAll(<usize>load<u32>(heap, H_THREAD), false);   // its floating pages with room come home (float.ts)
    remoteFlush(<usize>load<u32>(heap, H_THREAD));   // bounds how long this thread's remote frees wait
  }
  if (size > LARGE_OBJ_MAX) return hugeAlloc(heap, size, 0);
  const bin = binOf(size);
  let page = findPage(heap, bin);
  if (page == 0) {
    // Before ENOMEM: release what this thread (and its domain's pool) keeps, ask
    // the other threads to release theirs, and try once more.
    hookOutOfMemory(<usize>load<u32>(heap, H_THREAD));
    page = findPage(heap, bin);
    if (page == 0) { setError(ENOMEM); return 0; }
  }
  if (ASSERT_VALIDATE) {
    assertThat(pageIsValid(page), A_PAGE);
    assertThat(queueIsValid(heap, bin), A_HEAP);
  }
  return pagePop(page, <usize>load<u32>(page, P_FREE));
}

/**
 * A page of `bin` with a free block, moved to the front of its queue; 0 on OOM.
 * Pages in use come first. The first empty page met on the way (all its blocks
 * freed, remotely freed ones included) stays as a spare, taken only when no page
 * in use has room; every further empty page is released at once. So a thread
 * whose blocks other threads freed gives those pages back the next time it looks
 * instead of keeping its highest count of pages, and one that empties and
 * refills a page does not churn it.
 */
function findPage(heap: usize, bin: u32): usize {
  let page = queueWalk(heap, bin);
  if (page != 0) return page;
  // Floating pages of this class that blocks were freed into (float.ts) join the
  // queue's front: the walk runs once more, over them.
  if (floatClaim(heap, bin) != 0) {
    page = queueWalk(heap, bin);
    if (page != 0) return page;
  }
  heapCollectRetired(heap, false);   // perhaps frees a kept page, making room
  const thread = <usize>load<u32>(heap, H_THREAD);
  if (load<u32>(thread, T_HELD_FIRST) != 0) hookHeldPagesCollect(thread);   // or a held one
  // Segments of exited threads before fresh memory (abandon.ts): then search again.
  if (hookReclaim(thread, heap, bin, pageSlicesFor(binBlockSize(bin)))) {
    page = queueFirst(heapQueue(heap, bin));
    while (page != 0) {
      if (load<u32>(page, P_FREE) != 0 || load<u32>(page, P_CAPACITY) < load<u32>(page, P_RESERVED)) {
        return pageTake(heap, bin, page);
      }
      page = <usize>load<u32>(page, P_NEXT);
    }
  }
  return pageFresh(heap, bin);
}

/** findPage's walk of the bin's queue: a page with room, taken; else 0. */
function queueWalk(heap: usize, bin: u32): usize {
  // A held tag's empty page waits in its queue for its goal (qsbr-pages.ts) rather
  // than go: releasing it frees nothing yet, and a walk past such pages on every
  // slow path made refilling N of them O(N^2) (review). Such a heap takes the
  // first empty page, as it did before.
  let spare: usize = 0;
  let page = queueFirst(heapQueue(heap, bin));
  while (page != 0) {
    const next = <usize>load<u32>(page, P_NEXT);
    if (pageCollect(page)) store<u32>(heap, load<u32>(heap, H_GENERIC), H_REMOTE_AT);   // other threads free our blocks
    if (load<u32>(page, P_USED) == 0) {
      if (qsbrHoldsTag(<usize>load<u32>(<usize>load<u32>(heap, H_THREAD), T_DOMAIN), load<u32>(heap, H_TAG))) {
        return pageTake(heap, bin, page);
      }
      if (spare == 0) spare = page; else pageRelease(heap, page);
      page = next;
      continue;
    }
    if (load<u32>(page, P_FREE) == 0) {
      if (load<u32>(page, P_CAPACITY) < load<u32>(page, P_RESERVED)) {
        pageExtend(page);
      } else if (load<u8>(page, P_IN_FULL) == FULL_FLOAT) {
        pageFloat(heap, page, false);   // lent and full: it floats again (float.ts), or stays if the lock stayed held
        page = next;
        continue;
      } else if (floatAllowed(heap) && pageFloat(heap, page, false)) {
        page = next;                    // full: another thread may take it over (float.ts)
        continue;
      } else if (pageToFull(heap, page)) {   // (also when the pool lock stayed held: not walked again and again)
        page = next;
        continue;
      }
    }
    return pageTake(heap, bin, page);
  }
  return spare != 0 ? pageTake(heap, bin, spare) : 0;
}

function pageTake(heap: usize, bin: u32, page: usize): usize {
  if (load<u32>(page, P_FREE) == 0) pageExtend(page);
  store<u8>(page, 0, P_RETIRE);
  hookPageHoldCancel(page);        // allocating from a held page ends its wait
  queueMoveToFront(heap, bin, page);
  return page;
}

function pageFresh(heap: usize, bin: u32): usize {
  const page = segmentPageAlloc(<usize>load<u32>(heap, H_THREAD), pageSlicesFor(binBlockSize(bin)));
  if (page == 0) return 0;
  pageInit(heap, page, bin, load<u32>(heap, H_TAG));
  queuePushFront(heap, bin, page);
  pageExtend(page);
  return page;
}

// ---- Huge blocks ---------------------------------------------------------------

/**
 * A block in a segment of its own, at HUGE_BLOCK_OFFSET (or at `align` when that
 * is larger). Any thread may free it (free.ts freeSpecial).
 */
function hugeAlloc(heap: usize, size: usize, align: u32): usize {
  const offset: u32 = align > HUGE_BLOCK_OFFSET ? align : HUGE_BLOCK_OFFSET;
  const bytes = <u64>offset + <u64>size;
  const units = <u32>((bytes + <u64>SEGMENT_SIZE - 1) >> SEGMENT_SHIFT);
  if (bytes > <u64>MAX_ALLOC_SIZE) { setError(ENOMEM); return 0; }
  const thread = <usize>load<u32>(heap, H_THREAD);
  // Named (T_SEG_NEW) from the moment its units are taken until the block is made,
  // as segment.ts segmentAlloc does: a thread killed in between has its reap give
  // the units back (segmentNewFinish). Before, they were nobody's for good.
  let seg = osUnitsAlloc(units, UNIT_HUGE, thread + T_SEG_NEW);
  if (seg == 0) {
    hookOutOfMemory(thread);   // as in mallocGeneric
    seg = osUnitsAlloc(units, UNIT_HUGE, thread + T_SEG_NEW);
    if (seg == 0) { setError(ENOMEM); return 0; }
  }
  memFill(seg, 0, SEG_PAGES + PAGE_REC_SIZE);
  store<u32>(seg, UNIT_HUGE, SEG_KIND);
  store<u32>(seg, 1, SEG_USED);
  store<u32>(seg, units, SEG_UNITS);
  store<u32>(seg, load<u32>(thread, T_DOMAIN), SEG_DOMAIN);
  const page = seg + SEG_PAGES;
  const usable = <u32>((<u64>units << SEGMENT_SHIFT) - <u64>offset);
  const committed = offset + <u32>size;
  store<u32>(page, <u32>seg + offset, P_START);
  store<u32>(page, usable, P_BLOCK_SIZE);
  store<u32>(page, 1, P_CAPACITY);
  store<u32>(page, 1, P_RESERVED);
  store<u32>(page, committed, P_LOCAL_FREE);      // huge records keep their committed bytes here
  store<u8>(page, <u8>load<u32>(heap, H_TAG), P_TAG);
  store<u32>(page, <u32>heap, P_XHEAP);
  xtfInit(page, xtfMake(0, DELAY_NEVER));
  osCommitMarked(committed, thread + T_SEG_NEW, <u32>seg | 1);   // counted and marked, no call between
  debugPause(DP_HUGE_ALLOCED);
  // No call from here to the end: the count, the owner and the name change together.
  addRelaxed(thread + T_HUGE_COUNT, 1);
  storeRelease(seg + SEG_THREAD, <u32>thread);
  storeRelease(page + P_USED, 1);                  // the block is now freeable
  storeRelease(thread + T_SEG_NEW, 0);
  return seg + offset;
}

// ---- calloc, realloc, aligned, usable size --------------------------------------

export function heapCalloc(heap: usize, count: usize, size: usize): usize {
  const total = <u64>count * <u64>size;
  if (total > <u64>MAX_ALLOC_SIZE) { setError(EINVAL_SIZE); return 0; }
  const p = heapMalloc(heap, <usize>total);
  if (p != 0) memFill(p, 0, <usize>total);
  return p;
}

/**
 * Usable bytes of a live block ftheap handed out, or 0 (EINVAL_PTR) for anything
 * else, a freed block included (as far as free() can tell one, see free.ts).
 */
export function blockUsableSize(p: usize): usize {
  memHas(<u64>p + 1);
  const state = unitState(unitOf(p));
  let page: usize = 0;
  if (state == UNIT_NORMAL) {
    page = normalBlockPage(p);
    if (page != 0 && blockIsFree(page, p, segmentIsLocal(segmentOf(p), <usize>curOwnerWord))) page = 0;
  } else if (state == UNIT_HUGE) {
    page = hugeBlockPage(p);
    if (page != 0 && loadAcquire(page + P_USED) == 0) page = 0;
  }
  if (page == 0) { setError(EINVAL_PTR); return 0; }
  if (!blockInDomain(p)) { setError(EWRONG_DOMAIN); return 0; }
  return <usize>load<u32>(page, P_BLOCK_SIZE);
}

/**
 * Resize: in place when the new size fits the block and uses at least half of it
 * (huge blocks: whenever it fits their segment); else allocate in the same tag,
 * copy, free. On failure the old block is untouched and 0 is returned.
 */
export function heapRealloc(heap: usize, p: usize, size: usize): usize {
  if (p == 0) return heapMalloc(heap, size);
  if (load<u32>(heap, H_THREAD) == 0) { setError(ENOT_ATTACHED); return 0; }
  if (size > MAX_ALLOC_SIZE) { setError(EINVAL_SIZE); return 0; }
  const usable = blockUsableSize(p);
  if (usable == 0) return 0;
  const state = unitState(unitOf(p));
  let page: usize;
  if (state == UNIT_HUGE) {
    page = hugeBlockPage(p);
    if (size <= usable) {
      const old = load<u32>(page, P_LOCAL_FREE);
      const now = <u32>(p - (p & ~(<usize>SEGMENT_SIZE - 1))) + <u32>size;
      store<u32>(page, now, P_LOCAL_FREE);
      if (now > old) osCommit(now - old); else osDecommit(old - now);
      return p;
    }
  } else {
    page = normalBlockPage(p);
    if (size <= usable && size >= (usable >> 1)) return p;
  }
  const target = heapForTag(<usize>load<u32>(heap, H_THREAD), <u32>load<u8>(page, P_TAG));
  if (target == 0) { setError(ENOMEM); return 0; }
  const q = heapMalloc(target, size);
  if (q == 0) return 0;
  memCopy(q, p, size < usable ? size : usable);
  const rc = ftFree(p);
  if (rc != 0) { ftFree(q); setError(rc); return 0; }   // cannot happen after the checks above
  return q;
}

/** A block of `size` bytes at a multiple of `align` (a power of two up to MAX_ALIGN). */
export function heapAlignedAlloc(heap: usize, align: usize, size: usize): usize {
  if (align == 0 || (align & (align - 1)) != 0 || align > MAX_ALIGN) { setError(EINVAL_ALIGN); return 0; }
  if (align <= 8) return heapMalloc(heap, size);
  if (load<u32>(heap, H_THREAD) == 0) { setError(ENOT_ATTACHED); return 0; }
  if (size > MAX_ALLOC_SIZE) { setError(EINVAL_SIZE); return 0; }
  if (align <= SLICE_SIZE) {
    // Pages start on a slice boundary, so a bin whose block size is a multiple of
    // `align` has every block aligned. At most a few steps up from the rounded size.
    let s = (size + align - 1) & ~(align - 1);
    if (s == 0) s = align;
    while (s <= LARGE_OBJ_MAX) {
      const bs = <usize>binBlockSize(binOf(s));
      if ((bs & (align - 1)) == 0) return heapMalloc(heap, s);
      s = (bs + align) & ~(align - 1);
    }
  }
  return hugeAlloc(heap, size == 0 ? 1 : size, <u32>align);
}

// ---- Batches (ft_malloc_many, ft_malloc_sizes: one call from JS for many blocks) ----

/**
 * `n` blocks of `size` bytes into the u32 array at `buf`, all or nothing: on a
 * failure the blocks taken so far are freed again → OK, or the code (also in
 * lastError).
 */
export function mallocMany(heap: usize, buf: usize, n: u32, size: usize): i32 {
  for (let i: u32 = 0; i < n; i++) {
    const p = heapMalloc(heap, size);
    if (p == 0) return mallocUndo(buf, i);
    store<u32>(buf + (<usize>i << 2), <u32>p);
  }
  return OK;
}

/** As mallocMany, the sizes read from `buf` itself, each replaced by its block. */
export function mallocSizes(heap: usize, buf: usize, n: u32): i32 {
  for (let i: u32 = 0; i < n; i++) {
    const at = buf + (<usize>i << 2);
    const p = heapMalloc(heap, <usize>load<u32>(at));
    if (p == 0) return mallocUndo(buf, i);
    store<u32>(at, <u32>p);
  }
  return OK;
}

// The batch's first `got` blocks, just taken by this thread, go back (they are
// valid: their frees cannot fail); the failure's code stays the last error.
function mallocUndo(buf: usize, got: u32): i32 {
  const code = peekError();
  for (let i: u32 = 0; i < got; i++) ftFree(<usize>load<u32>(buf + (<usize>i << 2)));
  setError(code);
  return code;
}
