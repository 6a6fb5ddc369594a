// heap.ts — a thread's allocator for one tag.
//
// A heap owns pages (through its queues) and lives as long as its thread record.
// Every page copies the heap's tag; pages only ever serve the heap (hence the
// tag) that made them. Remote frees into pages of the full queue arrive on the
// heap's xdelayedFree list (the only field other threads write) and are drained
// on the owner's slow path.
//
// See also: page.ts, page-queue.ts, alloc.ts, thread.ts.

import { A_HEAP, ASSERT_VALIDATE, assertThat } from "./assert";
import { loadAcquire, stackTakeNamed, storeRelease } from "./atomics";
import { DP_DELAYED_DRAIN, DP_DELAYED_DRAINED, debugPause } from "./debug-delay";
import { segmentOf } from "./segment";
import { heapQueue, queueFirst, queueIsValid } from "./page-queue";
import { pageCollect, pageFree, pageIsValid, pageOfBlock, pageRelease, pageSetDelayed, pageUnfull } from "./page";
import { blockOnPageLists, delayedLinkValid, freeCheckedLocal } from "./free";
import { hookFloatLentRelease } from "./hooks";
import { metaAlloc } from "./meta";
import { FULL_QUEUED, BIN_FULL, DELAY_NEVER, DIRECT_ENTRIES, EMPTY_PAGE, H_DELAYED, H_DIRECT, H_RETIRED_MAX, H_RETIRED_MIN,
  H_TAG, H_THREAD, HEAP_SIZE, P_FREE, P_IN_FULL, P_NEXT, P_RETIRE, P_USED, P_XHEAP, SEG_THREAD, T_DRAIN_BLOCK,
  T_DRAIN_LIST, T_HEAPS } from "./layout";

/** Initialise a zeroed heap record. */
export function heapInit(heap: usize, thread: usize, tag: u32): void {
  store<u32>(heap, <u32>thread, H_THREAD);
  store<u32>(heap, tag, H_TAG);
  store<u32>(heap, 255, H_RETIRED_MIN);
  store<u32>(heap, 0, H_RETIRED_MAX);
  for (let w: u32 = 0; w < DIRECT_ENTRIES; w++) store<u32>(heap + H_DIRECT + (<usize>w << 2), <u32>EMPTY_PAGE);
}

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

/**
 * Free the blocks other threads handed us through xdelayedFree (they belong to
 * pages that were in the full queue). Cheap when the list is empty: one load.
 *
 * Kill-safe (V8 stops a terminated worker only at a call or a loop's back
 * edge): the list taken goes to the thread record in the same breath
 * (T_DRAIN_LIST), and each block leaves it named as the one being freed
 * (T_DRAIN_BLOCK) until its free has returned; a reap finishes both
 * (heapDrainFinish). Taken whole and walked in a local, a kill lost the rest of
 * the list: blocks on no list, pages that never emptied, a unit never given back.
 * Both words are read by other threads' double-free search (free.ts), which
 * looks for a block on the heap's list, then on these two, then on its page's.
 */
export function heapDelayedFreeAll(heap: usize): void {
  if (loadAcquire(heap + H_DELAYED) == 0) return;
  const thread = <usize>load<u32>(heap, H_THREAD);
  // A block is on the heap's list or in the record at every moment: the double-free
  // search looks at both (atomics.ts stackTakeNamed).
  stackTakeNamed(heap + H_DELAYED, thread + T_DRAIN_LIST);
  while (true) {
    const block = <usize>load<u32>(thread, T_DRAIN_LIST);
    if (block == 0) break;
    storeRelease(thread + T_DRAIN_BLOCK, <u32>block);
    storeRelease(thread + T_DRAIN_LIST, load<u32>(block + 4));   // see freeMt: the list's link is the second word
    debugPause(DP_DELAYED_DRAIN);
    freeCheckedLocal(heap, pageOfBlock(block), block);
    debugPause(DP_DELAYED_DRAINED);
    storeRelease(thread + T_DRAIN_BLOCK, 0);
  }
}

/**
 * Reap of `thread`, after its segments are repaired: finish a delayed-list drain
 * it died in. The block it was freeing may be free already (its free ran, in
 * whole or in part: the push on the page's list is a few stores with no call
 * between), and that free may even have given its page or segment back; so it,
 * and each block of the rest, is freed only if it is still a block of a live
 * page of a segment of the thread's and on none of that page's lists. A link
 * that fails that test ends the walk (the rest is lost, never freed twice).
 */
export function heapDrainFinish(thread: usize): void {
  const named = <usize>load<u32>(thread, T_DRAIN_BLOCK);
  if (named != 0) {
    if (drainOwned(thread, named)) drainFinishOne(named);
    storeRelease(thread + T_DRAIN_BLOCK, 0);
  }
  let block = <usize>load<u32>(thread, T_DRAIN_LIST);
  while (block != 0 && drainOwned(thread, block)) {
    const next = load<u32>(block + 4);   // before the free (a debug build fills a freed block)
    storeRelease(thread + T_DRAIN_BLOCK, <u32>block);   // named as the owner's loop names it
    storeRelease(thread + T_DRAIN_LIST, next);
    drainFinishOne(block);
    storeRelease(thread + T_DRAIN_BLOCK, 0);
    block = <usize>next;
  }
  storeRelease(thread + T_DRAIN_LIST, 0);
}

/** Is `block` a block of a live page of a segment `thread` owns? */
function drainOwned(thread: usize, block: usize): bool {
  return delayedLinkValid(block) && loadAcquire(segmentOf(block) + SEG_THREAD) == <u32>thread;
}

/** A reap's free of one block of a dead owner's drain: unless it is on its page's lists already. */
function drainFinishOne(block: usize): void {
  const page = pageOfBlock(block);
  if (!blockOnPageLists(page, block)) freeCheckedLocal(<usize>loadAcquire(page + P_XHEAP), page, block);
}

/** Expire pages kept by pageRetire; `force` frees them all now. */
export function heapCollectRetired(heap: usize, force: bool): void {
  const min = load<u32>(heap, H_RETIRED_MIN);
  const max = load<u32>(heap, H_RETIRED_MAX);
  if (min > max) return;
  let newMin: u32 = 255;
  let newMax: u32 = 0;
  for (let bin = min; bin <= max; bin++) {
    const page = queueFirst(heapQueue(heap, bin));
    if (page == 0) continue;
    const left = load<u8>(page, P_RETIRE);
    if (left == 0) continue;
    if (load<u32>(page, P_USED) == 0) {
      if (force || left == 1) { pageFree(heap, page); continue; }
      store<u8>(page, left - 1, P_RETIRE);
      if (bin < newMin) newMin = bin;
      if (bin > newMax) newMax = bin;
    } else {
      store<u8>(page, 0, P_RETIRE);
    }
  }
  store<u32>(heap, newMin, H_RETIRED_MIN);
  store<u32>(heap, newMax, H_RETIRED_MAX);
}

/**
 * Collect every page: remote frees become local, empty pages are freed (forced
 * when `force`). With `abandon`, pages are first switched to DELAY_NEVER so that
 * no thread ever pushes on this heap's list again (the owner is exiting).
 */
export function heapCollect(heap: usize, force: bool, abandon: bool): void {
  if (abandon) {
    hookFloatLentRelease(<usize>load<u32>(heap, H_THREAD), heap);   // lent pages are not ours to abandon (float.ts)
    for (let bin: u32 = 1; bin <= BIN_FULL; bin++) {
      let page = queueFirst(heapQueue(heap, bin));
      while (page != 0) { pageSetDelayed(page, DELAY_NEVER); page = <usize>load<u32>(page, P_NEXT); }
    }
  }
  heapDelayedFreeAll(heap);
  for (let bin: u32 = 1; bin <= BIN_FULL; bin++) {
    let page = queueFirst(heapQueue(heap, bin));
    while (page != 0) {
      const next = <usize>load<u32>(page, P_NEXT);
      pageCollect(page);
      if (load<u32>(page, P_USED) == 0) {
        // A held page stays held until its goal; others retire (or go, when forced).
        if (force) pageFree(heap, page); else pageRelease(heap, page);
      } else if (load<u8>(page, P_IN_FULL) == FULL_QUEUED && load<u32>(page, P_FREE) != 0) {
        pageUnfull(heap, page);
      }
      page = next;
    }
  }
  heapCollectRetired(heap, force);
  if (ASSERT_VALIDATE) assertThat(heapIsValid(heap), A_HEAP);
}

/**
 * Validator: every queue of the heap is valid (page-queue.ts queueIsValid) and
 * every page in them keeps its counting invariant (page.ts pageIsValid). Owner
 * only; O(pages + their blocks).
 */
export function heapIsValid(heap: usize): bool {
  for (let bin: u32 = 1; bin <= BIN_FULL; bin++) {
    if (!queueIsValid(heap, bin)) return false;
    let page = queueFirst(heapQueue(heap, bin));
    while (page != 0) {
      if (!pageIsValid(page)) return false;
      page = <usize>load<u32>(page, P_NEXT);
    }
  }
  return true;
}
