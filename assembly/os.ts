// os.ts — the "operating system": memory.grow, the segment table and the pool of
// free units.
//
// Address space is handed out in 4 MiB units, each described by one byte of the
// segment table (layout.ts UNIT_*). A unit is NONE until first handed out; after
// that it is always NORMAL, HUGE/CONT, META or FREE. Freed units go to the pool
// (state FREE) and are reused lowest address first before memory grows again;
// Wasm memory never shrinks. All of it is under ROOT.osLock, a spin lock: these
// are rare operations, and the browser main thread may run them.
//
// Invariant: segsLive + segsFree + (meta units) = brkUnits - FIRST_UNIT (unitsAreValid).
// See also: segment.ts (what lives in a unit), stats.ts (reports the counts).

import { A_UNITS, ASSERT_VALIDATE, assertThat } from "./assert";
import { addRelaxed64, loadAcquire64, loadAcquire8, maxRelaxed64, spinLock, spinUnlock, storeRelease64, storeRelease8,
  subRelaxed64 } from "./atomics";
import { FIRST_UNIT, PAGES_PER_UNIT_SHIFT, ROOT, R_BRK_UNITS, R_COMMITTED, R_HIGH_WATER_PAGES, R_MAX_PAGES,
  R_OS_LOCK, R_PEAK, R_SEGS_FREE, R_SEGS_LIVE, SEGMENT_SHIFT, SEGTABLE, UNITS, UNIT_CONT, UNIT_FREE,
  UNIT_HUGE, UNIT_META, UNIT_NORMAL } from "./layout";

// @ts-ignore: decorator
@inline export function unitState(unit: u32): u8 {
  return loadAcquire8(SEGTABLE + <usize>unit);
}

// @ts-ignore: decorator
@inline export function unitOf(ptr: usize): u32 {
  return <u32>(ptr >>> SEGMENT_SHIFT);
}

/** Make the memory at least `pages` 64 KiB pages long. Caller holds osLock. */
export function osEnsurePages(pages: u32): bool {
  // memory.grow(0), not memory.size(): another instance's grow reaches this one's
  // cached size only later (V8 propagates it by an interrupt), and a stale size
  // here grew the memory by far more than asked (seen with 64 workers: 1.9 GiB
  // for 50 segments, then ENOMEM). grow(0) reads the shared length itself.
  const have = <u32>memory.grow(0);
  if (have >= pages) return true;
  if (pages > load<u32>(ROOT + R_MAX_PAGES)) return false;
  if (memory.grow(<i32>(pages - have)) < 0) return false;
  if (pages > load<u32>(ROOT + R_HIGH_WATER_PAGES)) store<u32>(ROOT + R_HIGH_WATER_PAGES, pages);
  return true;
}

/**
 * Take `count` contiguous units for a segment of kind `headState` (the first unit;
 * the rest become CONT). Reuses pool units first (lowest run that fits), else
 * grows. Returns the base address, or 0 when memory cannot grow.
 */
export function osUnitsAlloc(count: u32, headState: u8): usize {
  spinLock(ROOT + R_OS_LOCK);
  const brk = load<u32>(ROOT + R_BRK_UNITS);
  let start: u32 = 0;
  let run: u32 = 0;
  let found = false;
  if (load<u32>(ROOT + R_SEGS_FREE) > 0) {
    for (let u = FIRST_UNIT; u < brk; u++) {
      if (load<u8>(SEGTABLE + <usize>u) == UNIT_FREE) {
        if (run == 0) start = u;
        if (++run == count) { found = true; break; }
      } else {
        run = 0;
      }
    }
  }
  let fromPool = count;
  if (!found) {
    // A free run that ends at brk can be extended by growing.
    if (run == 0 || start + run != brk) { start = brk; run = 0; }
    const end = start + count;
    if (end > UNITS || !osEnsurePages(end << PAGES_PER_UNIT_SHIFT)) {
      spinUnlock(ROOT + R_OS_LOCK);
      return 0;
    }
    fromPool = run;
    store<u32>(ROOT + R_BRK_UNITS, end);
  }
  store<u32>(ROOT + R_SEGS_FREE, load<u32>(ROOT + R_SEGS_FREE) - fromPool);
  if (headState != UNIT_META) store<u32>(ROOT + R_SEGS_LIVE, load<u32>(ROOT + R_SEGS_LIVE) + count);
  for (let i: u32 = 1; i < count; i++) storeRelease8(SEGTABLE + <usize>(start + i), UNIT_CONT);
  storeRelease8(SEGTABLE + <usize>start, headState);
  if (ASSERT_VALIDATE) assertThat(unitsAreValid(), A_UNITS);
  spinUnlock(ROOT + R_OS_LOCK);
  return <usize>start << SEGMENT_SHIFT;
}

/**
 * Validator (caller holds osLock): every unit below brkUnits has a state, and the
 * counts agree: FREE units = segsFree, NORMAL + HUGE + CONT = segsLive, and with
 * the META units they cover [FIRST_UNIT, brkUnits). O(units).
 */
export function unitsAreValid(): bool {
  const brk = load<u32>(ROOT + R_BRK_UNITS);
  if (brk < FIRST_UNIT || brk > UNITS) return false;
  let free: u32 = 0, live: u32 = 0, meta: u32 = 0;
  for (let u = FIRST_UNIT; u < brk; u++) {
    const s = load<u8>(SEGTABLE + <usize>u);
    if (s == UNIT_FREE) free++;
    else if (s == UNIT_META) meta++;
    else if (s == UNIT_NORMAL || s == UNIT_HUGE || s == UNIT_CONT) live++;
    else return false;
  }
  return free == load<u32>(ROOT + R_SEGS_FREE) && live == load<u32>(ROOT + R_SEGS_LIVE)
    && free + live + meta == brk - FIRST_UNIT;
}

/** Return a segment's `count` units to the pool. */
export function osUnitsFree(base: usize, count: u32): void {
  spinLock(ROOT + R_OS_LOCK);
  const start = unitOf(base);
  for (let i: u32 = 0; i < count; i++) storeRelease8(SEGTABLE + <usize>(start + i), UNIT_FREE);
  store<u32>(ROOT + R_SEGS_FREE, load<u32>(ROOT + R_SEGS_FREE) + count);
  store<u32>(ROOT + R_SEGS_LIVE, load<u32>(ROOT + R_SEGS_LIVE) - count);
  if (ASSERT_VALIDATE) assertThat(unitsAreValid(), A_UNITS);
  spinUnlock(ROOT + R_OS_LOCK);
}

/** Account bytes the allocator starts to use (segment headers, extended pages, huge blocks). */
// @ts-ignore: decorator
@inline export function osCommit(bytes: u32): void {
  const now = addRelaxed64(ROOT + R_COMMITTED, <u64>bytes) + <u64>bytes;
  if (now > loadAcquire64(ROOT + R_PEAK)) maxRelaxed64(ROOT + R_PEAK, now);
}

// @ts-ignore: decorator
@inline export function osDecommit(bytes: u32): void {
  subRelaxed64(ROOT + R_COMMITTED, <u64>bytes);
}

export function osResetPeak(): void {
  storeRelease64(ROOT + R_PEAK, loadAcquire64(ROOT + R_COMMITTED));
}
