// visit.ts — walking the live blocks of one tag (heap walking; the GC finds its
// objects this way, there is no separate object list).
//
// A cursor in the thread record makes the walk resumable from JS or Wasm:
// visitBegin(tag) then visitNext() until it returns 0. Per page, the free lists
// are first collected, then a bitmap marks every free block, and the walk yields
// the blocks below `capacity` that are not marked. Pages come from the heap's
// queues (every bin, then the full queue); huge blocks from the segment table.
// Freeing the block just returned is allowed (it may free the page, even its
// segment: the walk then moves on); allocating from the same tag
// during a walk may skip or repeat blocks (pages move between queues).
//
// Owner thread only. See also: heap.ts, page.ts.

import { floatHomeAll, floatSharing } from "./float";
import { loadAcquire } from "./atomics";
import { curThread } from "./current";
import { heapDelayedFreeAll } from "./heap";
import { loadSynced, memFill, unitState } from "./os";
import { blockIndex, blockNext, pageCollect } from "./page";
import { heapQueue, queueFirst } from "./page-queue";
import { segmentIsLocal, segmentOf } from "./segment";
import { BIN_FULL, FIRST_UNIT, P_BLOCK_SIZE, P_CAPACITY, P_FREE, P_LOCAL_FREE, P_NEXT, P_START, P_TAG, P_USED, P_XHEAP,
  ROOT, R_BRK_UNITS, SEGMENT_SHIFT, SEG_DOMAIN, SEG_PAGES, SEG_THREAD, T_HEAPS, T_VISIT_BIN, T_VISIT_BITMAP,
  T_VISIT_INDEX, T_VISIT_NEXT, T_VISIT_PAGE, T_VISIT_TAG, T_VISIT_UNIT, UNIT_HUGE } from "./layout";

const HUGE_PHASE: u32 = BIN_FULL + 1;

function markList(page: usize, bitmap: usize, head: usize, capacity: u32): void {
  let b = head;
  for (let n: u32 = 0; b != 0 && n < capacity; n++) {
    const i = blockIndex(page, b);
    store<u8>(bitmap + (i >> 3), load<u8>(bitmap + (i >> 3)) | <u8>(1 << <u8>(i & 7)));
    b = blockNext(page, b);
  }
}

function visitPrepare(thread: usize, page: usize): void {
  pageCollect(page);
  visitMarkPage(thread, page);
}

/**
 * Make `page` the walk's current page: mark its free blocks (free and localFree
 * lists) in `thread`'s bitmap. The caller collected remote frees first. Also the
 * abandoned pool's walk (abandon.ts), under the pool lock.
 */
export function visitMarkPage(thread: usize, page: usize): void {
  const bitmap = thread + T_VISIT_BITMAP;
  const capacity = load<u32>(page, P_CAPACITY);
  memFill(bitmap, 0, (capacity + 7) >> 3);
  markList(page, bitmap, <usize>load<u32>(page, P_FREE), capacity);
  markList(page, bitmap, <usize>load<u32>(page, P_LOCAL_FREE), capacity);
  store<u32>(thread, <u32>page, T_VISIT_PAGE);
  store<u32>(thread, load<u32>(page, P_NEXT), T_VISIT_NEXT);   // survives the page being freed
  store<u32>(thread, 0, T_VISIT_INDEX);
}

/** Start walking the current thread's blocks of `tag`. */
export function visitBegin(tag: u32): void {
  const thread = curThread;
  const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
  if (heap != 0) heapDelayedFreeAll(heap);   // blocks other threads freed are not live
  if (floatSharing()) floatHomeAll(thread, true);   // its floating pages are walked as its own (float.ts)
  store<u32>(thread, tag, T_VISIT_TAG);
  store<u32>(thread, 0, T_VISIT_BIN);
  store<u32>(thread, 0, T_VISIT_PAGE);
  store<u32>(thread, FIRST_UNIT, T_VISIT_UNIT);
  if (load<u32>(thread + T_HEAPS + (<usize>tag << 2)) == 0) store<u32>(thread, HUGE_PHASE, T_VISIT_BIN);
}

/** The next live block of the current page (visitMarkPage), or 0 when it has no more. */
export function visitNextInPage(thread: usize): usize {
  const page = <usize>load<u32>(thread, T_VISIT_PAGE);
  if (page == 0) return 0;
  const bitmap = thread + T_VISIT_BITMAP;
  const capacity = load<u32>(page, P_CAPACITY);
  let i = load<u32>(thread, T_VISIT_INDEX);
  while (i < capacity && (load<u8>(bitmap + (i >> 3)) & (1 << (i & 7))) != 0) i++;
  if (i >= capacity) return 0;
  store<u32>(thread, i + 1, T_VISIT_INDEX);
  return <usize>load<u32>(page, P_START) + <usize>i * load<u32>(page, P_BLOCK_SIZE);
}

/** The next live block, or 0 when the walk is over. */
export function visitNext(): usize {
  const thread = curThread;
  const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>load<u32>(thread, T_VISIT_TAG) << 2));
  const bitmap = thread + T_VISIT_BITMAP;
  while (true) {
    const bin0 = load<u32>(thread, T_VISIT_BIN);
    if (bin0 >= HUGE_PHASE) return visitNextHuge(thread);
    let bin = bin0;
    let page = <usize>load<u32>(thread, T_VISIT_PAGE);
    if (page != 0) {
      // Freeing the block just returned may have freed the page (pageRetire), and
      // its segment with it, which another thread may own by now: the page is done.
      // (Its heap word is 0 once it is freed, and another's once a lent page floats.)
      if (loadAcquire(page + P_XHEAP) == <u32>heap && load<u32>(page, P_BLOCK_SIZE) != 0) {
        const capacity = load<u32>(page, P_CAPACITY);
        let i = load<u32>(thread, T_VISIT_INDEX);
        while (i < capacity && (load<u8>(bitmap + (i >> 3)) & (1 << (i & 7))) != 0) i++;
        if (i < capacity) {
          store<u32>(thread, i + 1, T_VISIT_INDEX);
          return <usize>load<u32>(page, P_START) + <usize>i * load<u32>(page, P_BLOCK_SIZE);
        }
      }
      page = <usize>load<u32>(thread, T_VISIT_NEXT);
    } else {
      bin++;
      store<u32>(thread, bin, T_VISIT_BIN);
      if (bin >= HUGE_PHASE) continue;
      page = queueFirst(heapQueue(heap, bin));
    }
    // The next page of the queue, unless it left the heap meanwhile (a page that
    // floated, float.ts: its links are the float list's; the rest of the bin is skipped).
    if (page != 0 && loadAcquire(page + P_XHEAP) == <u32>heap) visitPrepare(thread, page);
    else store<u32>(thread, 0, T_VISIT_PAGE);
  }
  return 0;
}

function visitNextHuge(thread: usize): usize {
  return visitHugeFrom(thread, thread, 0);
}

/**
 * The walk's next huge block of its tag whose segment's owner is `owner` (0:
 * ownerless, i.e. abandoned) and, when `domain` is not 0, of that domain; from
 * the unit in the cursor on. 0 when there is none left.
 */
export function visitHugeFrom(thread: usize, owner: usize, domain: usize): usize {
  const tag = load<u32>(thread, T_VISIT_TAG);
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  let unit = load<u32>(thread, T_VISIT_UNIT);
  while (unit < brk) {
    const u = unit++;
    if (unitState(u) != UNIT_HUGE) continue;
    const seg = <usize>u << SEGMENT_SHIFT;
    const page = seg + SEG_PAGES;
    if (loadAcquire(seg + SEG_THREAD) == <u32>owner && (domain == 0 || <usize>load<u32>(seg, SEG_DOMAIN) == domain)
        && <u32>load<u8>(page, P_TAG) == tag && loadAcquire(page + P_USED) == 1) {
      store<u32>(thread, unit, T_VISIT_UNIT);
      return <usize>load<u32>(page, P_START);
    }
  }
  store<u32>(thread, unit, T_VISIT_UNIT);
  return 0;
}

