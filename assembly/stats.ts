// stats.ts — a snapshot of the allocator, written into the root's STATS area.
//
// The walk visits every live segment in the segment table and every page in it.
// It reads other threads' pages without stopping them, so while threads run the
// numbers are approximate; when they are quiescent, they are exact. Live blocks
// of a page = used - |xthreadFree| - (its blocks on its heap's xdelayedFree list):
// remote frees not yet collected are not live.
//
// STATS layout (u32 unless noted), the ST_* offsets below (the facade's src/stats.ts
// reads them from the generated ABI file): the runtime's figures, then one 16-byte
// row per bin at ST_BINS + 16 * bin: pages, liveBlocks, capacityBlocks,
// retainedPages. Filters: `thread` (0 = every thread), `tag` (TAG_ANY = every tag).

import { casAcqRel, loadAcquire, spinLockAs, spinUnlock } from "./atomics";
import { debugPause, DP_STATS_XTF_LOADED } from "./debug-delay";
import { blockNext, normalBlockPage, xtfBlock, xtfLoad } from "./page";
import { loadSynced, memFill, memHas, memSync, memViewPages, osCommitted, osPeak, unitOf, unitState } from "./os";
import { segmentOf, sliceRecord } from "./segment";
import { threadsLive } from "./thread";
import { FIRST_UNIT, H_DELAYED, HEAP_SIZE, P_BIN, P_BLOCK_SIZE, P_CAPACITY, P_DIV_MAGIC, P_EXT_BYTES, P_LOCAL_FREE,
  P_RETIRE, P_SLICE_COUNT, P_START, P_TAG, P_USED, QUEUE_COUNT, R_BRK_UNITS, R_HIGH_WATER_PAGES, R_MAX_PAGES,
  R_SEGS_FREE, R_SEGS_LIVE, R_STATS_LOCK, R_THREAD_LIST, ROOT, SEG_PAGES, SEG_THREAD, SEGMENT_SHIFT,
  SLICES_PER_SEGMENT, STATS, STATS_SIZE, T_HEAPS, T_NEXT_ALL, TAG_COUNT, UNIT_HUGE, UNIT_NORMAL } from "./layout";

// @abi-begin stats
export const TAG_ANY: u32 = 0xFF;
export const ST_UNITS_LIVE: usize = 0;
export const ST_UNITS_FREE: usize = 4;
export const ST_MEMORY_PAGES: usize = 8;
export const ST_HIGH_WATER_PAGES: usize = 12;
export const ST_MAX_PAGES: usize = 16;
export const ST_THREADS_LIVE: usize = 20;
export const ST_COMMITTED: usize = 24;         // u64
export const ST_PEAK: usize = 32;              // u64
export const ST_NORMAL_SEGMENTS: usize = 40;
export const ST_HUGE_BLOCKS: usize = 44;
export const ST_HUGE_BYTES: usize = 48;        // u64
export const ST_BINS: usize = 64;              // + 16 * bin
export const ST_BIN_SHIFT: u32 = 4;            // 16-byte rows
export const ST_BIN_PAGES: usize = 0;
export const ST_BIN_LIVE: usize = 4;
export const ST_BIN_CAPACITY: usize = 8;
export const ST_BIN_RETAINED: usize = 12;
// @abi-end
const DELAYED_LIMIT: u32 = 1 << 20;

/**
 * Blocks on a page's remote-free list. Racy: its owner may take the list and
 * reuse the blocks while we walk it, so a link can be anything; a link that is
 * not a block start of the page ends the count: the walk loads only link words
 * of the page's blocks (a link into the middle of the last block read past the
 * page, past the end of memory for the last page: a trap under the stats lock),
 * and at most `capacity` of them (a cycle through reused blocks ends there).
 */
function xthreadCount(page: usize): u32 {
  const limit = load<u32>(page, P_CAPACITY);
  const start = <usize>load<u32>(page, P_START);
  const bytes = load<u32>(page, P_EXT_BYTES);
  const magic = load<u64>(page, P_DIV_MAGIC);
  let b = xtfBlock(xtfLoad(page));
  let n: u32 = 0;
  if (b != 0) debugPause(DP_STATS_XTF_LOADED);
  while (b != 0 && n < limit && isBlockStart(b, start, bytes, magic)) { n++; b = blockNext(page, b); }
  return n;
}

/** `b` is a block start in [start, start + bytes) (the test of page.ts normalBlockPage, on values read once). */
// @ts-ignore: decorator
@inline function isBlockStart(b: usize, start: usize, bytes: u32, magic: u64): bool {
  if (b < start) return false;
  const off = <u32>(b - start);
  return off < bytes && <u64>off * magic < magic;
}

// @ts-ignore: decorator
@inline function binSlot(bin: u32): usize {
  return STATS + ST_BINS + (<usize>bin << ST_BIN_SHIFT);
}

function countPage(page: usize): void {
  const slot = binSlot(<u32>load<u8>(page, P_BIN));
  const used = load<u32>(page, P_USED);
  const remote = xthreadCount(page);
  store<u32>(slot, load<u32>(slot, ST_BIN_PAGES) + 1, ST_BIN_PAGES);
  store<u32>(slot, load<u32>(slot, ST_BIN_LIVE) + (used > remote ? used - remote : 0), ST_BIN_LIVE);
  store<u32>(slot, load<u32>(slot, ST_BIN_CAPACITY) + load<u32>(page, P_CAPACITY), ST_BIN_CAPACITY);
  if (load<u8>(page, P_RETIRE) != 0) store<u32>(slot, load<u32>(slot, ST_BIN_RETAINED) + 1, ST_BIN_RETAINED);
}

/**
 * Blocks waiting on a heap's xdelayedFree list are free but still counted in their
 * page's `used`: take them off. Every link is validated before it is followed.
 */
function subtractDelayed(thread: usize, tag: u32): void {
  let t = <usize>loadSynced(ROOT + R_THREAD_LIST);
  while (t != 0) {
    for (let g: u32 = 0; g < TAG_COUNT; g++) {
      const heap = <usize>load<u32>(t + T_HEAPS + (<usize>g << 2));
      if (heap == 0) continue;
      memHas(<u64>heap + HEAP_SIZE);   // made since this walk's sync (os.ts)
      let b = <usize>loadAcquire(heap + H_DELAYED);
      for (let n: u32 = 0; b != 0 && n < DELAYED_LIMIT; n++) {
        if (unitState(unitOf(b)) != UNIT_NORMAL) break;
        const page = normalBlockPage(b);
        if (page == 0) break;
        const seg = segmentOf(b);
        if ((thread == 0 || loadAcquire(seg + SEG_THREAD) == <u32>thread)
            && (tag == TAG_ANY || <u32>load<u8>(page, P_TAG) == tag)) {
          const slot = binSlot(<u32>load<u8>(page, P_BIN));
          const live = load<u32>(slot, ST_BIN_LIVE);
          if (live > 0) store<u32>(slot, live - 1, ST_BIN_LIVE);
        }
        b = <usize>load<u32>(b + 4);
      }
    }
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
}

/**
 * Take the stats lock as instance `holder` (non-zero: a reap of that instance
 * releases it, statsReleaseDead), fill STATS, return its address. Release with
 * statsRelease.
 */
export function statsSnapshot(holder: u32, thread: usize, tag: u32): usize {
  spinLockAs(ROOT + R_STATS_LOCK, holder);
  memFill(STATS, 0, STATS_SIZE);
  store<u32>(STATS, load<u32>(ROOT + R_SEGS_LIVE), ST_UNITS_LIVE);
  store<u32>(STATS, load<u32>(ROOT + R_SEGS_FREE), ST_UNITS_FREE);
  memSync();
  store<u32>(STATS, memViewPages(), ST_MEMORY_PAGES);
  store<u32>(STATS, load<u32>(ROOT + R_HIGH_WATER_PAGES), ST_HIGH_WATER_PAGES);
  store<u32>(STATS, load<u32>(ROOT + R_MAX_PAGES), ST_MAX_PAGES);
  store<u32>(STATS, threadsLive(0), ST_THREADS_LIVE);
  const committed = osCommitted();
  store<u64>(STATS, committed, ST_COMMITTED);
  store<u64>(STATS, osPeak(committed), ST_PEAK);
  let normal: u32 = 0;
  let huge: u32 = 0;
  let hugeBytes: u64 = 0;
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  for (let unit = FIRST_UNIT; unit < brk; unit++) {
    const state = unitState(unit);
    if (state != UNIT_NORMAL && state != UNIT_HUGE) continue;
    const seg = <usize>unit << SEGMENT_SHIFT;
    if (thread != 0 && loadAcquire(seg + SEG_THREAD) != <u32>thread) continue;
    if (state == UNIT_HUGE) {
      const page = seg + SEG_PAGES;
      if (loadAcquire(page + P_USED) == 0) continue;
      if (tag != TAG_ANY && <u32>load<u8>(page, P_TAG) != tag) continue;
      huge++;
      hugeBytes += <u64>load<u32>(page, P_LOCAL_FREE);
      continue;
    }
    normal++;
    let index: u32 = 1;
    while (index < SLICES_PER_SEGMENT) {
      const page = sliceRecord(seg, index);
      const count = load<u32>(page, P_SLICE_COUNT);
      if (load<u32>(page, P_BLOCK_SIZE) != 0 && (tag == TAG_ANY || <u32>load<u8>(page, P_TAG) == tag)) {
        if (<u32>load<u8>(page, P_BIN) < QUEUE_COUNT) countPage(page);
      }
      index += count == 0 ? 1 : count;   // 0 only while the owner is mid-update
    }
  }
  subtractDelayed(thread, tag);
  store<u32>(STATS, normal, ST_NORMAL_SEGMENTS);
  store<u32>(STATS, huge, ST_HUGE_BLOCKS);
  store<u64>(STATS, hugeBytes, ST_HUGE_BYTES);
  return STATS;
}

export function statsRelease(): void {
  spinUnlock(ROOT + R_STATS_LOCK);
}

/**
 * Release the stats lock if instance `instance`, whose JS thread is gone (it was
 * terminated inside a snapshot), holds it; true if it did. Its snapshot writes
 * nothing more, so the next one may start.
 */
export function statsReleaseDead(instance: u32): bool {
  return instance != 0 && casAcqRel(ROOT + R_STATS_LOCK, instance, 0);
}
