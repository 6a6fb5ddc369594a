// page-queue.ts — a heap's page queues and its direct table.
//
// A heap has one doubly-linked queue of pages per bin plus the full queue
// (BIN_FULL). The head of a bin's queue is the page the fast path allocates from:
// for bins of blocks up to DIRECT_MAX the heap's direct table maps size>>3 straight
// to that head (or to EMPTY_PAGE), so malloc is one table load and one list pop.
// Every change of a head goes through queueSetFirst, which keeps the table in step.
//
// Owner-thread only. See also: heap.ts, page.ts, alloc.ts (the fast path).

import { DP_DIRECT_UPDATE, debugPause } from "./debug-delay";
import { binBlockSize } from "./size-class";
import { FULL_QUEUED, BIN_FULL, DIRECT_MAX, EMPTY_PAGE, H_DIRECT, H_QUEUES, H_TAG, P_BIN, P_IN_FULL, P_NEXT, P_PREV, P_TAG, P_XHEAP,
  WORD_SHIFT } from "./layout";

// @ts-ignore: decorator
@inline export function heapQueue(heap: usize, bin: u32): usize {
  return heap + H_QUEUES + (<usize>bin << 3);
}

// @ts-ignore: decorator
@inline export function queueFirst(q: usize): usize {
  return <usize>load<u32>(q);
}

// @ts-ignore: decorator
@inline export function queueLast(q: usize): usize {
  return <usize>load<u32>(q, 4);
}

/**
 * Point the direct-table entries of `bin` at its queue's head. A call after the
 * head is stored, with a loop: an owner killed here leaves the table behind the
 * queue, which its reap mends (queueDirectRepair) before it walks the heap.
 */
function directUpdate(heap: usize, bin: u32, first: usize): void {
  const size = binBlockSize(bin);
  if (bin == BIN_FULL || size > DIRECT_MAX) return;
  debugPause(DP_DIRECT_UPDATE);
  const page = first != 0 ? first : EMPTY_PAGE;
  const hi = size >> WORD_SHIFT;
  const lo: u32 = bin == 1 ? 0 : (binBlockSize(bin - 1) >> WORD_SHIFT) + 1;
  for (let w = lo; w <= hi; w++) store<u32>(heap + H_DIRECT + (<usize>w << 2), <u32>page);
}

/** Reap of the heap's dead owner: every direct-table entry points at its queue's head again. */
export function queueDirectRepair(heap: usize): void {
  for (let bin: u32 = 1; bin < BIN_FULL; bin++) directUpdate(heap, bin, queueFirst(heapQueue(heap, bin)));
}

// @ts-ignore: decorator
@inline function queueSetFirst(heap: usize, bin: u32, q: usize, first: usize): void {
  store<u32>(q, <u32>first);
  directUpdate(heap, bin, first);
}

export function queuePushFront(heap: usize, bin: u32, page: usize): void {
  const q = heapQueue(heap, bin);
  const first = queueFirst(q);
  store<u32>(page, <u32>first, P_NEXT);
  store<u32>(page, 0, P_PREV);
  if (first != 0) store<u32>(first, <u32>page, P_PREV); else store<u32>(q, <u32>page, 4);
  queueSetFirst(heap, bin, q, page);
}

export function queuePushBack(heap: usize, bin: u32, page: usize): void {
  const q = heapQueue(heap, bin);
  const last = queueLast(q);
  store<u32>(page, 0, P_NEXT);
  store<u32>(page, <u32>last, P_PREV);
  store<u32>(q, <u32>page, 4);
  if (last != 0) store<u32>(last, <u32>page, P_NEXT); else queueSetFirst(heap, bin, q, page);
}

export function queueRemove(heap: usize, bin: u32, page: usize): void {
  const q = heapQueue(heap, bin);
  const next = <usize>load<u32>(page, P_NEXT);
  const prev = <usize>load<u32>(page, P_PREV);
  // In no queue (a reap finishing the work of an owner killed between taking a page
  // out of one queue and putting it in another): unlinking it would empty this one.
  if (prev == 0 && <usize>load<u32>(q) != page) return;
  if (next != 0) store<u32>(next, <u32>prev, P_PREV); else store<u32>(q, <u32>prev, 4);
  if (prev != 0) store<u32>(prev, <u32>next, P_NEXT); else queueSetFirst(heap, bin, q, next);
  store<u32>(page, 0, P_NEXT);
  store<u32>(page, 0, P_PREV);
}

/**
 * Validator: the queue of `bin` is linked both ways, holds only pages of `heap`
 * (bin, tag, full flag as the queue says), and its head is what the direct table
 * shows. Owner only; O(pages in the queue).
 */
export function queueIsValid(heap: usize, bin: u32): bool {
  const q = heapQueue(heap, bin);
  let prev: usize = 0;
  let page = queueFirst(q);
  for (let n: u32 = 0; page != 0; n++) {
    if (n > QUEUE_LIMIT || <usize>load<u32>(page, P_PREV) != prev) return false;
    if (<usize>load<u32>(page, P_XHEAP) != heap || <u32>load<u8>(page, P_TAG) != load<u32>(heap, H_TAG)) return false;
    if (pageQueueBin(page) != bin) return false;
    prev = page;
    page = <usize>load<u32>(page, P_NEXT);
  }
  if (queueLast(q) != prev) return false;
  const size = binBlockSize(bin);
  if (bin != BIN_FULL && size <= DIRECT_MAX) {
    const head = queueFirst(q);
    if (<usize>load<u32>(heap + H_DIRECT + (<usize>(size >> WORD_SHIFT) << 2)) != (head != 0 ? head : EMPTY_PAGE)) return false;
  }
  return true;
}

const QUEUE_LIMIT: u32 = 1 << 20;   // pages in one queue, far beyond any 4 GiB heap

/** The queue a page currently sits in: its bin's, or the full queue. */
// @ts-ignore: decorator
@inline export function pageQueueBin(page: usize): u32 {
  return load<u8>(page, P_IN_FULL) == FULL_QUEUED ? BIN_FULL : <u32>load<u8>(page, P_BIN);
}

export function queueMoveToFront(heap: usize, bin: u32, page: usize): void {
  if (queueFirst(heapQueue(heap, bin)) == page) return;
  queueRemove(heap, bin, page);
  queuePushFront(heap, bin, page);
}
