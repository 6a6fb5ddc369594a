// heap-map.ts — a picture of the heap for displays: every live segment and the
// pages and free spans that tile it, written as fixed-size records.
//
// The walk reads the segment table and other threads' segment headers and page
// records without any lock and without stopping anyone, so it may be called by
// any instance, attached or not, that may not block (a browser main thread): it
// takes no lock, never waits, and every load is an atomic load (atomics.ts), so
// a racing owner can make a record stale or inconsistent, never trap it. Every
// walk is bounded: units up to min(brk, UNITS), and within a normal segment
// slice indexes that only grow (a slice count of 0, or one past the segment's
// end, which a mid-update owner may show, steps one slice). Memory never shrinks
// and every unit below brk was grown, so each address read exists.
//
// Output (all 16-byte records, little-endian, at `buf`):
//
//   header     +0  segments u32   segment records written by this call
//              +4  records  u32   records after the header (segments + pages)
//              +8  next     u32   the unit to resume from (a further call), 0 = walk complete
//              +12 brk      u32   units ever handed out (the table's extent)
//   segment    +0  base     u32   the segment's address (unit << 22)
//              +4  pages    u16   page/span records that follow it
//              +6  kind     u8    UNIT_NORMAL (1) / UNIT_HUGE (2)
//              +7  flags    u8    HMS_* below
//              +8  owner    u32   owning thread record; 0 = abandoned (or just freed)
//              +12 units    u32   4 MiB units it covers
//   page       +0  slice    u8    first slice index (0 for a huge segment's block)
//              +1  slices   u8    slices it covers (capped at 255: a huge block says 0)
//              +2  flags    u8    HMP_* below
//              +3  tag      u8
//              +4  blockSize u32  0 for a free span
//              +8  used     u32   blocks handed out (remote frees not yet collected included)
//              +12 capacity u32   blocks that fit the page (its `reserved`)
//
// See also: layout.ts (segment header, page record), stats.ts (the same walk, counted).

import { loadAcquire, loadAcquire64, loadAcquire8, spinLock, spinUnlock } from "./atomics";
import { metaAlloc } from "./meta";
import { loadSynced, unitState } from "./os";
import { sliceRecord } from "./segment";
import { FULL_QUEUED, FIRST_UNIT, P_BLOCK_SIZE, P_EXT_BYTES, P_IN_FULL, P_QSBR_GOAL, P_RESERVED, P_RETIRE, P_SLICE_COUNT, P_TAG,
  P_USED, ROOT, R_BRK_UNITS, R_HM_SCRATCH, R_META_LOCK, SEGMENT_SHIFT, SEG_PAGES, SEG_THREAD, SEG_UNITS, SLICES_PER_SEGMENT, UNITS, UNIT_HUGE,
  UNIT_NORMAL } from "./layout";

// @abi-begin heap-map
export const HM_RECORD: u32 = 16;          // bytes per record (header, segment, page)
export const HM_SEGMENTS: usize = 0;       // header fields
export const HM_RECORDS: usize = 4;
export const HM_NEXT: usize = 8;
export const HM_BRK: usize = 12;
export const HMS_BASE: usize = 0;          // segment record fields
export const HMS_PAGES: usize = 4;
export const HMS_KIND: usize = 6;
export const HMS_FLAGS: usize = 7;
export const HMS_OWNER: usize = 8;
export const HMS_UNITS: usize = 12;
export const HMS_ABANDONED: u32 = 1;       // segment flag: no owner (its thread exited or was reaped)
export const HMP_SLICE: usize = 0;         // page record fields
export const HMP_SLICES: usize = 1;
export const HMP_FLAGS: usize = 2;
export const HMP_TAG: usize = 3;
export const HMP_BLOCK_SIZE: usize = 4;
export const HMP_USED: usize = 8;
export const HMP_CAPACITY: usize = 12;
export const HMP_FREE: u32 = 1;            // a free span (no blocks)
export const HMP_QSBR_WAIT: u32 = 2;       // an empty page of a held tag waiting for its QSBR goal
export const HMP_ABANDONED: u32 = 4;       // in an abandoned segment
export const HMP_FULL: u32 = 8;            // in its heap's full queue
export const HMP_RETIRED: u32 = 16;        // an empty page kept for a while before it is freed
export const HMP_HUGE: u32 = 32;           // the one block of a huge segment
export const HM_SCRATCH_BYTES: u32 = 65536; // ft_heap_map_scratch's buffer
// @abi-end

/** Records a normal segment needs at most: itself and 127 pages/spans. */
const MAX_SEGMENT_RECORDS: u32 = SLICES_PER_SEGMENT;

/**
 * Walk the segment table from unit `from` (FIRST_UNIT if lower) and write one
 * group of records per live segment into `buf` (`bytes` long) until the next
 * group might not fit. Returns the segments written; the header says where to
 * resume. Takes no lock and never waits.
 */
export function heapMapWrite(buf: usize, bytes: u32, from: u32): u32 {
  const slots = bytes / HM_RECORD;   // the header takes one
  let brk = loadSynced(ROOT + R_BRK_UNITS);
  if (brk > UNITS) brk = UNITS;
  let unit = from < FIRST_UNIT ? FIRST_UNIT : from;
  let segments: u32 = 0;
  let used: u32 = 1;
  let next: u32 = 0;
  for (; unit < brk; unit++) {
    const state = unitState(unit);
    if (state != UNIT_NORMAL && state != UNIT_HUGE) continue;
    const need: u32 = state == UNIT_HUGE ? 2 : 1 + MAX_SEGMENT_RECORDS;
    if (used + need > slots) { next = unit; break; }
    const seg = <usize>unit << SEGMENT_SHIFT;
    const rec = buf + (<usize>used << 4);
    used += 1 + (state == UNIT_HUGE ? hugeWrite(seg, rec + HM_RECORD) : normalWrite(seg, rec + HM_RECORD));
    segments++;
  }
  store<u32>(buf, segments, HM_SEGMENTS);
  store<u32>(buf, used - 1, HM_RECORDS);
  store<u32>(buf, next, HM_NEXT);
  store<u32>(buf, brk, HM_BRK);
  return segments;
}

/** The segment record at `rec`: `pages` records follow it; `owner` as the caller read it once. */
function segmentWrite(seg: usize, rec: usize, kind: u32, pages: u32, owner: u32): void {
  store<u32>(rec, <u32>seg, HMS_BASE);
  store<u16>(rec, <u16>pages, HMS_PAGES);
  store<u8>(rec, <u8>kind, HMS_KIND);
  store<u8>(rec, owner == 0 ? <u8>HMS_ABANDONED : 0, HMS_FLAGS);
  store<u32>(rec, owner, HMS_OWNER);
  store<u32>(rec, loadAcquire(seg + SEG_UNITS), HMS_UNITS);
}

/** A page record at `out` from page record `page`, with `flags` already known. */
function pageWrite(page: usize, out: usize, slice: u32, slices: u32, flags: u32): void {
  const blockSize = loadAcquire(page + P_BLOCK_SIZE);
  if (blockSize == 0) flags |= HMP_FREE;
  else {
    if (loadAcquire64(page + P_QSBR_GOAL) != 0) flags |= HMP_QSBR_WAIT;
    if (loadAcquire8(page + P_IN_FULL) == FULL_QUEUED) flags |= HMP_FULL;   // not a floating or lent page (float.ts)
    if (loadAcquire8(page + P_RETIRE) != 0) flags |= HMP_RETIRED;
  }
  store<u8>(out, <u8>slice, HMP_SLICE);
  store<u8>(out, <u8>(slices > 255 ? 0 : slices), HMP_SLICES);
  store<u8>(out, <u8>flags, HMP_FLAGS);
  store<u8>(out, blockSize == 0 ? 0 : loadAcquire8(page + P_TAG), HMP_TAG);
  store<u32>(out, blockSize, HMP_BLOCK_SIZE);
  store<u32>(out, blockSize == 0 ? 0 : loadAcquire(page + P_USED), HMP_USED);
  store<u32>(out, blockSize == 0 ? 0 : loadAcquire(page + P_RESERVED), HMP_CAPACITY);
}

/** A huge segment: its record and its one block's. Records written after the segment's: 1. */
function hugeWrite(seg: usize, out: usize): u32 {
  const owner = loadAcquire(seg + SEG_THREAD);
  segmentWrite(seg, out - HM_RECORD, UNIT_HUGE, 1, owner);
  const page = seg + SEG_PAGES;
  pageWrite(page, out, 0, 0, HMP_HUGE | (owner == 0 ? HMP_ABANDONED : 0));
  store<u32>(out, loadAcquire(page + P_USED) != 0 ? 1 : 0, HMP_CAPACITY);
  return 1;
}

/** A normal segment: its record, then its pages and free spans in slice order. Records after the segment's. */
function normalWrite(seg: usize, out: usize): u32 {
  const owner = loadAcquire(seg + SEG_THREAD);
  const base = owner == 0 ? HMP_ABANDONED : 0;
  let n: u32 = 0;
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {   // index only grows: at most 127 steps
    const page = sliceRecord(seg, index);
    let count = loadAcquire(page + P_SLICE_COUNT);
    if (count == 0 || count > SLICES_PER_SEGMENT - index) count = 1;   // mid-update: step one slice
    // A record that is neither a live page nor a free span's first slice (an owner mid-split) is skipped.
    if (loadAcquire(page + P_BLOCK_SIZE) != 0 || loadAcquire(page + P_EXT_BYTES) == 0) {
      pageWrite(page, out + (<usize>n << 4), index, count, base);
      n++;
    }
    index += count;
  }
  segmentWrite(seg, out - HM_RECORD, UNIT_NORMAL, n, owner);
  return n;
}

/**
 * An HM_SCRATCH_BYTES buffer for a walk: one given back (heapMapScratchGive),
 * else a new one from meta memory; 0 when memory is exhausted. Buffers are taken
 * per call and given back, not kept per instance: meta memory is never freed, and
 * an instance kept one for good (64 KiB per short-lived worker that drew a map).
 */
export function heapMapScratchTake(): usize {
  spinLock(ROOT + R_META_LOCK);
  const buf = <usize>load<u32>(ROOT + R_HM_SCRATCH);
  if (buf != 0) store<u32>(ROOT + R_HM_SCRATCH, load<u32>(buf));
  spinUnlock(ROOT + R_META_LOCK);
  return buf != 0 ? buf : metaAlloc(HM_SCRATCH_BYTES);
}

/** Give back a buffer of heapMapScratchTake (the caller's, validated by it). */
export function heapMapScratchGive(buf: usize): void {
  spinLock(ROOT + R_META_LOCK);
  store<u32>(buf, load<u32>(ROOT + R_HM_SCRATCH));
  store<u32>(ROOT + R_HM_SCRATCH, <u32>buf);
  spinUnlock(ROOT + R_META_LOCK);
}
