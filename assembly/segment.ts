// segment.ts — segments, and the spans of slices that pages are cut from.
//
// A normal segment is one 4 MiB unit owned by one thread. Slice 0 holds the header
// and the 128 page records; slices 1..127 are tiled by live pages and free spans.
// A thread keeps its free spans in span queues bucketed by slice count (1, 2, 3-4,
// 5-8, ... 65-128). Taking a page splits the first span that fits; freeing one
// coalesces it with free neighbours; a segment whose pages are all free goes back
// to the pool. Huge segments (blocks above LARGE_OBJ_MAX, or large alignments) hold
// one block and are freed whole by whichever thread frees the block.
//
// Ownership: only the owning thread touches a segment's spans, records and its
// place in the owner's segment list; other threads read the header's xthreadId
// (to know the block is not theirs) and the page records' immutable fields. An
// abandoned segment (xthreadId 0, abandon.ts) has no owner: its free spans are
// marked in its records but queued nowhere, and the holder of its domain's pool
// lock acts as its owner (the functions below take `thread` 0 for that).
//
// Free span record (first slice): blockSize = extBytes = 0, sliceCount = n, next/prev in a
// span queue; the last slice (n > 1): sliceOffset = (n-1) * PAGE_REC_SIZE (128), blockSize = 0.
// See also: os.ts (units), page.ts (what a page holds), layout.ts (the boxes).

import { A_SEGMENT, ASSERT_VALIDATE, assertThat } from "./assert";
import { loadAcquire, loadHint, storeRelease } from "./atomics";
import { DP_SEGMENT_ALLOCED, DP_UNIT_RELEASING, DP_SEGMENT_PAGE_FREEING, DP_SEGMENT_TAKING, DP_SEGMENT_UNLISTED, debugPause } from "./debug-delay";
import { memFill, memHas, osCommit, osCommitMarked, osDecommit, osUnitGiving, osUnitsAlloc, osUnitsFree, osUnitsRun, unitOf, unitState } from "./os";
import { PAGE_REC_SHIFT, P_BLOCK_SIZE, P_EXT_BYTES, P_LOCAL_FREE, P_NEXT, P_PREV, P_SLICE_COUNT, P_SLICE_OFFSET,
  SEGMENT_MASK, SEGMENT_SIZE, SEG_DOMAIN, SEG_KIND, SEG_META_BYTES, SEG_GIVING, SEG_NEXT, SEG_PAGES, SEG_PREV, SEG_THREAD, SEG_UNITS, SEG_USED,
  SLICES_PER_SEGMENT, SLICE_SHIFT, SPAN_BINS, T_DOMAIN, T_SEG_COUNT, T_SEG_FIRST, T_SEG_GIVING, T_SEG_NEW, T_SPANS, UNIT_HUGE, UNIT_NORMAL } from "./layout";

// @ts-ignore: decorator
@inline export function segmentOf(ptr: usize): usize {
  return ptr & ~<usize>SEGMENT_MASK;
}

// @ts-ignore: decorator
@inline export function sliceRecord(seg: usize, index: u32): usize {
  return seg + SEG_PAGES + (<usize>index << PAGE_REC_SHIFT);
}

// @ts-ignore: decorator
@inline export function recordIndex(seg: usize, rec: usize): u32 {
  return <u32>((rec - seg - SEG_PAGES) >> PAGE_REC_SHIFT);
}

/** Address of the first byte of slice `index`. */
// @ts-ignore: decorator
@inline export function sliceStart(seg: usize, index: u32): usize {
  return seg + (<usize>index << SLICE_SHIFT);
}

// ---- Span queues ----------------------------------------------------------------

// @ts-ignore: decorator
@inline function spanBin(slices: u32): u32 {
  return slices <= 1 ? 0 : 32 - clz<u32>(slices - 1);   // 1, 2, 3-4, 5-8, ..., 65-128
}

// @ts-ignore: decorator
@inline function spanQueue(thread: usize, bin: u32): usize {
  return thread + T_SPANS + (<usize>bin << 3);
}

function spanQueuePush(thread: usize, rec: usize): void {
  if (thread == 0) return;   // abandoned: spans are marked in the records only
  const q = spanQueue(thread, spanBin(load<u32>(rec, P_SLICE_COUNT)));
  const first = load<u32>(q);
  store<u32>(rec, first, P_NEXT);
  store<u32>(rec, 0, P_PREV);
  if (first != 0) store<u32>(first, <u32>rec, P_PREV); else store<u32>(q, <u32>rec, 4);
  store<u32>(q, <u32>rec);
}

function spanQueueRemove(thread: usize, rec: usize): void {
  if (thread == 0) return;
  const q = spanQueue(thread, spanBin(load<u32>(rec, P_SLICE_COUNT)));
  const next = load<u32>(rec, P_NEXT);
  const prev = load<u32>(rec, P_PREV);
  if (prev != 0) store<u32>(prev, next, P_NEXT); else store<u32>(q, next);
  if (next != 0) store<u32>(next, prev, P_PREV); else store<u32>(q, prev, 4);
  store<u32>(rec, 0, P_NEXT);
  store<u32>(rec, 0, P_PREV);
}

/** Mark slices [index, index+count) as one free span and queue it. */
function spanMakeFree(thread: usize, seg: usize, index: u32, count: u32): void {
  spanMark(seg, index, count);
  spanQueuePush(thread, sliceRecord(seg, index));
}

/** Mark slices [index, index+count) as one free span (its first and last records). */
function spanMark(seg: usize, index: u32, count: u32): void {
  const rec = sliceRecord(seg, index);
  store<u32>(rec, 0, P_BLOCK_SIZE);
  store<u32>(rec, 0, P_EXT_BYTES);
  store<u32>(rec, count, P_SLICE_COUNT);
  store<u32>(rec, 0, P_SLICE_OFFSET);
  if (count > 1) {
    const last = sliceRecord(seg, index + count - 1);
    store<u32>(last, 0, P_BLOCK_SIZE);
    store<u32>(last, 0, P_EXT_BYTES);
    store<u32>(last, 0, P_SLICE_COUNT);
    store<u32>(last, (count - 1) << PAGE_REC_SHIFT, P_SLICE_OFFSET);
  }
}

// ---- Segments ------------------------------------------------------------------

// @ts-ignore: decorator
@inline export function segmentListPush(thread: usize, seg: usize): void {
  const first = load<u32>(thread, T_SEG_FIRST);
  store<u32>(seg, first, SEG_NEXT);
  store<u32>(seg, 0, SEG_PREV);
  if (first != 0) store<u32>(first, <u32>seg, SEG_PREV);
  store<u32>(thread, <u32>seg, T_SEG_FIRST);
  store<u32>(thread, load<u32>(thread, T_SEG_COUNT) + 1, T_SEG_COUNT);
}

// @ts-ignore: decorator
@inline export function segmentListRemove(thread: usize, seg: usize): void {
  const next = load<u32>(seg, SEG_NEXT);
  const prev = load<u32>(seg, SEG_PREV);
  if (prev != 0) store<u32>(prev, next, SEG_NEXT); else store<u32>(thread, next, T_SEG_FIRST);
  if (next != 0) store<u32>(next, prev, SEG_PREV);
  store<u32>(thread, load<u32>(thread, T_SEG_COUNT) - 1, T_SEG_COUNT);
}

/**
 * A fresh normal segment for `thread`, its slices 1..127 one free span. 0 on OOM.
 * Named in the thread record (T_SEG_NEW) from the moment its unit is taken (under
 * the unit lock) until it is on the thread's list, with the low bit set once its
 * header is counted committed: a thread killed in between has its reap give the
 * unit back (segmentNewFinish). Before, it was on no list: 4 MiB lost for good.
 */
function segmentAlloc(thread: usize): usize {
  const seg = osUnitsAlloc(1, UNIT_NORMAL, thread + T_SEG_NEW);
  if (seg == 0) return 0;
  osCommitMarked(SEG_META_BYTES, thread + T_SEG_NEW, <u32>seg | 1);   // counted and marked, no call between
  debugPause(DP_SEGMENT_ALLOCED);
  // A pool unit may hold old records: the header and all records start clean.
  memFill(seg, 0, SEG_META_BYTES);
  store<u32>(seg, UNIT_NORMAL, SEG_KIND);
  store<u32>(seg, 1, SEG_UNITS);
  store<u32>(seg, load<u32>(thread, T_DOMAIN), SEG_DOMAIN);
  storeRelease(seg + SEG_THREAD, <u32>thread);
  segmentListPush(thread, seg);
  storeRelease(thread + T_SEG_NEW, 0);   // listed: no call since the push
  spanMakeFree(thread, seg, 1, SLICES_PER_SEGMENT - 1);
  return seg;
}

/**
 * Reap of `thread`: units it took for a new segment and had not listed yet, or
 * for a huge block not yet made (T_SEG_NEW), go back to the runtime, what was
 * counted counted off (the low bit: a normal segment's header, or the huge
 * block's committed bytes, kept in its record). Nobody else can have them: taken
 * under the unit lock, on no list and in no pool, and the block not handed out.
 */
export function segmentNewFinish(thread: usize): void {
  const word = load<u32>(thread, T_SEG_NEW);
  if (word == 0) return;
  const seg = <usize>(word & ~1);
  memHas(<u64>seg + SEGMENT_SIZE);
  const huge = unitState(unitOf(seg)) == UNIT_HUGE;
  if ((word & 1) != 0) osDecommit(huge ? load<u32>(seg + SEG_PAGES, P_LOCAL_FREE) : SEG_META_BYTES);
  storeRelease(seg + SEG_THREAD, 0);
  storeRelease(thread + T_SEG_NEW, 0);
  osUnitsFree(seg, huge ? osUnitsRun(seg) : 1);
}

/**
 * `thread`'s segment has no page left: its unit goes back. Marked (SEG_GIVING)
 * and named in the thread record (T_SEG_GIVING) before it leaves the thread's
 * list, with no call in between: a thread killed from there on leaves it to its
 * reap (segmentGivingFinish); before, it was on no list and its unit live for
 * good. Killed earlier, it is still listed, with no page: the reap pools it and
 * the pool gives it back.
 */
function segmentFree(thread: usize, seg: usize): void {
  // All pages are free, so coalescing left exactly one span [1, 128).
  spanQueueRemove(thread, sliceRecord(seg, 1));
  if (thread != 0) {   // (0: an abandoned one, unlinked by its pool's collector)
    storeRelease(seg + SEG_GIVING, <u32>thread);
    store<u32>(thread, <u32>seg, T_SEG_GIVING);
    segmentListRemove(thread, seg);
  }
  debugPause(DP_SEGMENT_UNLISTED);
  segmentRelease(seg, thread, SEG_META_BYTES);
  if (thread != 0) store<u32>(thread, 0, T_SEG_GIVING);
}

/**
 * Give a normal segment's unit back to the runtime, marked (SEG_GIVING) with
 * `mark`, its giver (a thread, or the domain whose pool held it): count off
 * `bytes` (its header, and whatever of its pages is still counted), then mark
 * that done (`mark | 1`, no call in between), then free the unit. A finish after
 * a kill (when osUnitGiving still finds the unit live and so marked) redoes only
 * what the mark says is not done; osUnitsAlloc clears the mark of a unit it
 * hands out again.
 */
export function segmentRelease(seg: usize, mark: usize, bytes: u32, units: u32 = 1): void {
  if ((loadAcquire(seg + SEG_GIVING) & 1) == 0) {
    storeRelease(seg + SEG_THREAD, 0);
    osDecommit(bytes);
    storeRelease(seg + SEG_GIVING, <u32>mark | 1);
  }
  debugPause(DP_UNIT_RELEASING);
  osUnitsFree(seg, units);
}

/**
 * Reap of `thread`: finish the give-back of a segment of its own it died in
 * (T_SEG_GIVING), unless the unit is free already or handed out again.
 */
export function segmentGivingFinish(thread: usize): void {
  const seg = <usize>load<u32>(thread, T_SEG_GIVING);
  if (seg == 0) return;
  if (osUnitGiving(seg, thread)) segmentRelease(seg, thread, SEG_META_BYTES);
  store<u32>(thread, 0, T_SEG_GIVING);
}

/**
 * Take `count` slices for a page: first fit in the span queues, else a new
 * segment. Returns the page's first record (blockSize still 0), or 0 on OOM.
 * Interior records get their sliceOffset (pointers into any slice find the page)
 * and blockSize 0 (they are never mistaken for a live page).
 */
export function segmentPageAlloc(thread: usize, count: u32): usize {
  const rec = segmentPageTake(thread, count);
  if (ASSERT_VALIDATE && rec != 0) assertThat(segmentIsValid(thread, segmentOf(rec), rec), A_SEGMENT);
  return rec;
}

function segmentPageTake(thread: usize, count: u32): usize {
  let rec: usize = 0;
  for (let bin = spanBin(count); bin < SPAN_BINS && rec == 0; bin++) {
    let r = <usize>load<u32>(spanQueue(thread, bin));
    while (r != 0) {
      if (load<u32>(r, P_SLICE_COUNT) >= count) { rec = r; break; }
      r = load<u32>(r, P_NEXT);
    }
  }
  if (rec == 0) {
    const seg = segmentAlloc(thread);
    if (seg == 0) return 0;
    rec = sliceRecord(seg, 1);
  }
  spanQueueRemove(thread, rec);
  const seg = segmentOf(rec);
  const index = recordIndex(seg, rec);
  const have = load<u32>(rec, P_SLICE_COUNT);
  if (have > count) spanMakeFree(thread, seg, index + count, have - count);
  debugPause(DP_SEGMENT_TAKING);
  store<u32>(rec, count, P_SLICE_COUNT);
  store<u32>(rec, 0, P_SLICE_OFFSET);
  for (let i: u32 = 1; i < count; i++) {
    const r = rec + (<usize>i << PAGE_REC_SHIFT);
    store<u32>(r, 0, P_BLOCK_SIZE);
    store<u32>(r, 0, P_EXT_BYTES);
    store<u32>(r, 0, P_SLICE_COUNT);
    store<u32>(r, i << PAGE_REC_SHIFT, P_SLICE_OFFSET);
  }
  store<u32>(seg, load<u32>(seg, SEG_USED) + 1, SEG_USED);
  return rec;
}

/**
 * Give a page's slices back: coalesce with free neighbours; free an empty segment
 * (true then: its memory is no longer ours to read). `thread` 0: the segment is
 * abandoned and the caller holds its pool's lock (and unlinked it from the pool
 * if this was its last page: see segmentLastPage).
 */
export function segmentPageFree(thread: usize, rec: usize): bool {
  const seg = segmentOf(rec);
  let index = recordIndex(seg, rec);
  let count = load<u32>(rec, P_SLICE_COUNT);
  store<u32>(rec, 0, P_EXT_BYTES);
  store<u32>(rec, 0, P_BLOCK_SIZE);
  // Right neighbour: a first record.
  const after = index + count;
  if (after < SLICES_PER_SEGMENT) {
    const r = sliceRecord(seg, after);
    if (load<u32>(r, P_BLOCK_SIZE) == 0) {
      count += load<u32>(r, P_SLICE_COUNT);
      spanQueueRemove(thread, r);
    }
  }
  // Left neighbour: its last record leads to its first.
  if (index > 1) {
    let r = sliceRecord(seg, index - 1);
    r -= load<u32>(r, P_SLICE_OFFSET);
    if (load<u32>(r, P_BLOCK_SIZE) == 0) {
      spanQueueRemove(thread, r);
      const n = load<u32>(r, P_SLICE_COUNT);
      index -= n;
      count += n;
    }
  }
  spanMakeFree(thread, seg, index, count);
  debugPause(DP_SEGMENT_PAGE_FREEING);
  const used = load<u32>(seg, SEG_USED) - 1;
  store<u32>(seg, used, SEG_USED);
  if (used == 0) { segmentFree(thread, seg); return true; }
  if (ASSERT_VALIDATE) assertThat(segmentIsValid(thread, seg, 0), A_SEGMENT);
  return false;
}

/** Is `page` the last live page of its segment (freeing it frees the segment)? */
// @ts-ignore: decorator
@inline export function segmentLastPage(page: usize): bool {
  return load<u32>(segmentOf(page), SEG_USED) == 1;
}

/**
 * Abandon (`adopt` false) or adopt (`adopt` true) the free spans of `seg`:
 * take them out of `thread`'s span queues, or put them in. Owner (or the
 * adopter, which holds the segment exclusively).
 */
export function segmentSpansMove(thread: usize, seg: usize, adopt: bool): void {
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {
    const rec = sliceRecord(seg, index);
    const n = load<u32>(rec, P_SLICE_COUNT);
    if (load<u32>(rec, P_BLOCK_SIZE) == 0) {
      if (adopt) spanQueuePush(thread, rec); else spanQueueRemove(thread, rec);
    }
    index += n;
  }
}

/**
 * Make a dead owner's segments and span queues whole again: the reap, acting as
 * the owner, does this before it touches them. V8 stops a worker only at a call
 * or a loop's back edge, and taking or freeing a page passes several: killed
 * there, the slices were left tiled wrong (a span off its queue but not split
 * yet, a page's records half written, usedPages off by one, a queue's links
 * half rewritten), and the reap's own frees then took or coalesced slices that
 * were not free — two pages on the same memory. Every slice that is not part of
 * a live page (a first record with blockSize set) goes back into a free span,
 * coalesced with its free neighbours; usedPages is recounted; the span queues are
 * emptied and refilled from the segments. A page taken but not yet made
 * (blockSize still 0) is given back. Up to T_SEG_COUNT segments of the list.
 */
export function segmentsRepair(thread: usize): void {
  for (let bin: u32 = 0; bin < SPAN_BINS; bin++) {
    store<u32>(spanQueue(thread, bin), 0);
    store<u32>(spanQueue(thread, bin), 0, 4);
  }
  let seg = <usize>load<u32>(thread, T_SEG_FIRST);
  for (let n = load<u32>(thread, T_SEG_COUNT); seg != 0 && n > 0; n--) {
    segmentRepair(seg);
    segmentSpansMove(thread, seg, true);
    seg = <usize>load<u32>(seg, SEG_NEXT);
  }
}

export function segmentRepair(seg: usize): void {
  let pages: u32 = 0;
  let free: u32 = 0;   // first slice of the free run being gathered (0: none)
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {
    const rec = sliceRecord(seg, index);
    const n = load<u32>(rec, P_SLICE_COUNT);
    if (load<u32>(rec, P_BLOCK_SIZE) != 0 && load<u32>(rec, P_SLICE_OFFSET) == 0 && n != 0
        && index + n <= SLICES_PER_SEGMENT) {
      if (free != 0) { spanMark(seg, free, index - free); free = 0; }
      for (let i: u32 = 1; i < n; i++) {   // its other records point back (idempotent)
        const r = sliceRecord(seg, index + i);
        store<u32>(r, 0, P_BLOCK_SIZE);
        store<u32>(r, 0, P_EXT_BYTES);
        store<u32>(r, 0, P_SLICE_COUNT);
        store<u32>(r, i << PAGE_REC_SHIFT, P_SLICE_OFFSET);
      }
      pages++;
      index += n;
    } else {
      if (free == 0) free = index;
      index++;
    }
  }
  if (free != 0) spanMark(seg, free, SLICES_PER_SEGMENT - free);
  store<u32>(seg, pages, SEG_USED);
}

/** Is `thread` the owner of the segment holding `ptr`? One atomic load. */
// @ts-ignore: decorator
@inline export function segmentIsLocal(seg: usize, thread: usize): bool {
  return loadAcquire(seg + SEG_THREAD) == <u32>thread;
}

/**
 * segmentIsLocal for free's fast paths, with a plain load (loadHint): the owner
 * word holds `thread` only if this thread stored it (its segments are abandoned
 * or adopted only once it is gone), and any other value takes freeSlow, which
 * first makes the block visible (os.ts memHas) and then loads it atomically. An
 * atomic load here trapped on another thread's segment in memory grown since this
 * instance looked.
 */
// @ts-ignore: decorator
@inline export function segmentIsMine(seg: usize, thread: usize): bool {
  return loadHint(seg + SEG_THREAD) == <u32>thread;
}

/**
 * Validator: slices 1..127 of a normal segment are tiled by pages and free spans
 * (each run's first record has sliceCount n; a page's other records point back
 * with sliceOffset; a span's last record does), its page count is usedPages, and
 * `thread` owns it. `taking`: a page record just taken whose blockSize is still 0
 * (or 0). Owner only; O(slices).
 */
export function segmentIsValid(thread: usize, seg: usize, taking: usize): bool {
  if (loadAcquire(seg + SEG_THREAD) != <u32>thread || load<u32>(seg, SEG_KIND) != UNIT_NORMAL) return false;
  if (thread != 0 && load<u32>(seg, SEG_DOMAIN) != load<u32>(thread, T_DOMAIN)) return false;
  let pages: u32 = 0;
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {
    const rec = sliceRecord(seg, index);
    const n = load<u32>(rec, P_SLICE_COUNT);
    if (n == 0 || index + n > SLICES_PER_SEGMENT || load<u32>(rec, P_SLICE_OFFSET) != 0) return false;
    if (load<u32>(rec, P_BLOCK_SIZE) != 0 || rec == taking) {
      pages++;
      for (let i: u32 = 1; i < n; i++) {
        const r = sliceRecord(seg, index + i);
        if (load<u32>(r, P_SLICE_OFFSET) != i << PAGE_REC_SHIFT || load<u32>(r, P_BLOCK_SIZE) != 0) return false;
      }
    } else if (n > 1 && load<u32>(sliceRecord(seg, index + n - 1), P_SLICE_OFFSET) != (n - 1) << PAGE_REC_SHIFT) {
      return false;
    }
    index += n;
  }
  return pages == load<u32>(seg, SEG_USED);
}
