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
// Committed bytes: a root counter plus per-thread deltas (below).
// See also: segment.ts (what lives in a unit), stats.ts (reports the counts).

import { A_UNITS, ASSERT_VALIDATE, assertThat } from "./assert";
import { addRelaxed64, loadAcquire, loadAcquire64, loadAcquire8, maxRelaxed64, spinLock, spinUnlock, storeRelease,
  storeRelease64, storeRelease8, swapAcqRel } from "./atomics";
import { curThread } from "./current";
import { DP_COMMIT_RAISING, DP_OS_FREE_PARTIAL, DP_OS_LOCKED, debugPause } from "./debug-delay";
import { FIRST_UNIT, PAGES_PER_UNIT_SHIFT, R_BRK_UNITS, R_COMMIT_EXACT, R_COMMITTED, R_HIGH_WATER_PAGES, R_MAX_PAGES, R_OS_LOCK,
  R_PEAK, R_SEGS_FREE, R_SEGS_LIVE, R_THREAD_LIST, ROOT, SEGMENT_SHIFT, SEG_GIVING, SEG_PAGES, SEGTABLE, T_COMMIT_DELTA, T_NEXT_ALL,
  UNIT_CONT, UNIT_FREE, UNIT_HUGE, UNIT_META, UNIT_NONE, UNIT_NORMAL, UNITS } from "./layout";

// @ts-ignore: decorator
@inline export function unitState(unit: u32): u8 {
  return loadAcquire8(SEGTABLE + <usize>unit);
}

// @ts-ignore: decorator
@inline export function unitOf(ptr: usize): u32 {
  return <u32>(ptr >>> SEGMENT_SHIFT);
}

// ---- The memory's length as this instance sees it --------------------------------
//
// V8 keeps each instance's own copy of the memory's length. After another thread
// grows the memory, the copy is brought up to date only when this thread next
// handles interrupts, which it does not do inside Wasm code: it can stay short for
// a whole call. Plain loads and stores do not consult it (guard pages catch what is
// out of bounds), but memory.size, memory.fill, memory.copy and the atomic
// accesses do: a bulk operation or an atomic on memory another thread grew traps
// as out of bounds (seen in the web demo under load: a huge block taken from units
// another worker had grown, zeroed with memory.fill, trapped in the middle of
// malloc; the main thread's stats walk trapped on a new worker's thread record).
// memory.grow(0) reads the shared length and brings this instance's copy up to
// date at once. So the core never uses
// memory.fill, memory.copy or memory.size directly (a test checks): memFill,
// memCopy and memHas below; and osUnitsAlloc and segment adoption make a thread's
// own segments visible to its instance, so a Wasm program's bulk operations on
// blocks its own thread allocated are safe (on blocks from other threads: call
// ft_memory_sync first, see assembly/README.md). memory.grow(0) is costly
// (memPages): memHas calls it only when the cheap test fails.

/** True when [0, end) lies inside the memory; refreshes this instance's length first when it looks too short. */
// @ts-ignore: decorator
@inline export function memHas(end: u64): bool {
  return end <= (<u64>memory.size() << 16) || end <= (<u64><u32>memory.grow(0) << 16);
}

/**
 * Bring this instance's copy of the length up to the memory the allocator has
 * grown so far (R_HIGH_WATER_PAGES, stored after each grow): one load of a word
 * that changes only when the memory grows, and a compare. Every core export that
 * may reach another thread's memory starts with it (atomics, like the bulk
 * operations, check the copy: a stats walk on the browser's main thread trapped
 * on a new worker's thread record); malloc's and free's fast paths touch only
 * memory their own thread made visible, and freeSlow checks the block itself.
 */
// @ts-ignore: decorator
@inline export function memSync(): void {
  if (loadAcquire(ROOT + R_HIGH_WATER_PAGES) > <u32>memory.size()) memory.grow(0);
}

/**
 * The word at `ptr` that starts a walk (brkUnits, a thread list's head, a
 * structure's storage pointer), loaded first and then memSync: what it leads to
 * was grown before it was stored, so it is visible to this instance afterwards.
 */
// @ts-ignore: decorator
@inline export function loadSynced(ptr: usize): u32 {
  const v = loadAcquire(ptr);
  memSync();
  return v;
}

/** memory.fill that cannot trap on memory another thread grew. */
// @ts-ignore: decorator
@inline export function memFill(dst: usize, value: u8, n: usize): void {
  memHas(<u64>dst + <u64>n);
  memory.fill(dst, value, n);
}

/** memory.copy that cannot trap on memory another thread grew. */
// @ts-ignore: decorator
@inline export function memCopy(dst: usize, src: usize, n: usize): void {
  memHas(<u64>(dst > src ? dst : src) + <u64>n);
  memory.copy(dst, src, n);
}

/**
 * The memory's length in 64 KiB pages now, this instance's copy brought up to
 * date. Costly (V8: a runtime call that signals every other thread sharing the
 * memory, ~2 µs with 3 of them): slow paths only.
 */
// @ts-ignore: decorator
@inline export function memPages(): u32 {
  return <u32>memory.grow(0);
}

/** This instance's copy of the memory's length in pages: cheap, but may lag another thread's grow. */
// @ts-ignore: decorator
@inline export function memViewPages(): u32 {
  return <u32>memory.size();
}

/** Make the memory at least `pages` 64 KiB pages long. Caller holds osLock. */
export function osEnsurePages(pages: u32): bool {
  // memPages, not memory.size(): a stale length here grew the memory by far more
  // than asked (seen with 64 workers: 1.9 GiB for 50 segments, then ENOMEM).
  const have = memPages();
  if (have >= pages) return true;
  if (pages > load<u32>(ROOT + R_MAX_PAGES)) return false;
  if (memory.grow(<i32>(pages - have)) < 0) return false;
  if (pages > load<u32>(ROOT + R_HIGH_WATER_PAGES)) storeRelease(ROOT + R_HIGH_WATER_PAGES, pages);   // memSync's partner
  return true;
}

/**
 * Take `count` contiguous units for a segment of kind `headState` (the first unit;
 * the rest become CONT). Reuses pool units first (lowest run that fits), else
 * grows. Returns the base address, or 0 when memory cannot grow. `claim`, if
 * not 0, is the address of a word that receives the base address under the lock,
 * right after the unit is marked taken (no call in between): a caller killed from
 * there on leaves the unit named where its reap finds it (segment.ts segmentAlloc).
 */
export function osUnitsAlloc(count: u32, headState: u8, claim: usize = 0): usize {
  spinLock(ROOT + R_OS_LOCK);
  debugPause(DP_OS_LOCKED);
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
    storeRelease(ROOT + R_BRK_UNITS, end);   // after the grow (osEnsurePages): loadSynced's partner
  }
  store<u32>(ROOT + R_SEGS_FREE, load<u32>(ROOT + R_SEGS_FREE) - fromPool);
  if (headState != UNIT_META) store<u32>(ROOT + R_SEGS_LIVE, load<u32>(ROOT + R_SEGS_LIVE) + count);
  for (let i: u32 = 1; i < count; i++) storeRelease8(SEGTABLE + <usize>(start + i), UNIT_CONT);
  storeRelease8(SEGTABLE + <usize>start, headState);
  if (claim != 0) storeRelease(claim, start << SEGMENT_SHIFT);
  // A unit handed out again is no longer one a dead pool collector was giving back
  // (abandon.ts poolGivingFinish reads the two under this lock). It may lie in memory
  // another thread grew: made visible to this instance before the atomic store.
  if (headState != UNIT_META) {
    memHas((<u64>start + 1) << SEGMENT_SHIFT);
    storeRelease((<usize>start << SEGMENT_SHIFT) + SEG_GIVING, 0);
  }
  if (ASSERT_VALIDATE) assertThat(unitsAreValid(), A_UNITS);
  spinUnlock(ROOT + R_OS_LOCK);
  memHas(<u64>(start + count) << SEGMENT_SHIFT);   // units another thread grew: visible to this instance (above)
  return <usize>start << SEGMENT_SHIFT;
}

/**
 * Is the normal segment at `seg` still one `domain`'s pool collector was giving
 * back: its unit live (not freed, or freed and handed out again, which clears the
 * mark) and marked with that domain (SEG_GIVING, its low bit a stage: another
 * domain's give-back of the same unit handed out again is not ours)? Read under
 * osLock, where units change hands.
 */
export function osUnitGiving(seg: usize, domain: usize): bool {
  memHas(<u64>seg + SEG_PAGES);
  spinLock(ROOT + R_OS_LOCK);
  const state = load<u8>(SEGTABLE + (seg >> SEGMENT_SHIFT));
  const giving = (state == UNIT_NORMAL || state == UNIT_HUGE) && (loadAcquire(seg + SEG_GIVING) & ~1) == <u32>domain;
  spinUnlock(ROOT + R_OS_LOCK);
  return giving;
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

/**
 * osLock's holder died inside it, and this instance took the lock over
 * (instance.ts instanceLocksReleaseDead; the caller holds osLock). V8 stops a
 * worker at a call or a loop's back edge, so osUnitsAlloc or osUnitsFree may
 * have stopped half way: units below brkUnits still NONE (grown, not marked
 * yet), CONT units with no HUGE head before them (a huge segment half taken:
 * its head is marked last; or half freed: its head is marked first), the counts
 * not updated. Nobody has those units (the allocation never returned; the freed
 * segment was gone): they go to the pool, and segsFree and segsLive are
 * recounted from the table. Without this the books stayed off for good (and the
 * debug build's unitsAreValid failed at every later unit operation).
 */
export function osUnitsRepair(): void {
  const brk = load<u32>(ROOT + R_BRK_UNITS);
  let free: u32 = 0, live: u32 = 0;
  let inHuge = false;   // the unit before was a huge segment's head or continuation
  for (let u = FIRST_UNIT; u < brk; u++) {
    let s = load<u8>(SEGTABLE + <usize>u);
    if (s == UNIT_NONE || (s == UNIT_CONT && !inHuge)) {
      s = UNIT_FREE;
      storeRelease8(SEGTABLE + <usize>u, UNIT_FREE);
    }
    inHuge = s == UNIT_HUGE || s == UNIT_CONT;
    if (s == UNIT_FREE) free++;
    else if (s != UNIT_META) live++;
  }
  store<u32>(ROOT + R_SEGS_FREE, free);
  store<u32>(ROOT + R_SEGS_LIVE, live);
  if (ASSERT_VALIDATE) assertThat(unitsAreValid(), A_UNITS);
}

/** The units of the segment at `base` (its head and the CONT units after it): for a header that may not be written. */
export function osUnitsRun(base: usize): u32 {
  let unit = unitOf(base) + 1;
  while (unit < UNITS && load<u8>(SEGTABLE + <usize>unit) == UNIT_CONT) unit++;
  return unit - unitOf(base);
}

/** Return a segment's `count` units to the pool. */
export function osUnitsFree(base: usize, count: u32): void {
  spinLock(ROOT + R_OS_LOCK);
  const start = unitOf(base);
  for (let i: u32 = 0; i < count; i++) {
    storeRelease8(SEGTABLE + <usize>(start + i), UNIT_FREE);
    if (i == 0) debugPause(DP_OS_FREE_PARTIAL);   // a kill at the loop's back edge (V8 checks interrupts there)
  }
  store<u32>(ROOT + R_SEGS_FREE, load<u32>(ROOT + R_SEGS_FREE) + count);
  store<u32>(ROOT + R_SEGS_LIVE, load<u32>(ROOT + R_SEGS_LIVE) - count);
  if (ASSERT_VALIDATE) assertThat(unitsAreValid(), A_UNITS);
  spinUnlock(ROOT + R_OS_LOCK);
}

// ---- Committed bytes -----------------------------------------------------------------
//
// committed = ROOT.committed + the sum of every thread record's commitDelta.
// A thread accounts its own commits and decommits in its record (owner-only,
// one atomic store, no shared cache line) and folds the delta into the root's
// counter once it passes ±COMMIT_FOLD, at exit and at reap (threadRelease), and
// an instance with no current thread adds to the root directly. The peak is
// raised at folds and when stats are read, so it can miss a short excursion of
// at most COMMIT_FOLD per thread between two of those. Every record is summed,
// live or not (a delta left in a recycled record is still counted), so the sum is
// exact whenever no thread is changing it; while threads run it is as racy as
// the rest of a snapshot.
//
// An exact runtime (ft_commit_exact, set before any thread exists; the bench's, a
// user who measures memory) keeps no deltas: every commit and decommit is one
// atomic add on the root's counter, and a rise raises the peak to the value that
// add made, so committedPeak is the true high point. The cost is that shared
// atomic on every page extension, segment and huge block (not on malloc's fast
// path).

/** ±256 KiB: a thread's unfolded commit delta stays inside this. */
const COMMIT_FOLD: i64 = 256 << 10;

/** This instance's copy of ROOT.commitExact (-1: not read yet). */
let commitExact: i32 = -1;

/**
 * Make the runtime's committed bytes and peak exact (see above): EINVAL_STATE once
 * a thread record exists (a delta may be held). Runtime.create({ exactPeak }).
 */
export function osCommitExact(): bool {
  if (loadAcquire(ROOT + R_THREAD_LIST) != 0) return false;
  storeRelease(ROOT + R_COMMIT_EXACT, 1);
  commitExact = 1;
  return true;
}

/** Account bytes the allocator starts to use (segment headers, extended pages, huge blocks). */
// @ts-ignore: decorator
@inline export function osCommit(bytes: u32): void {
  commitAdd(<i64>bytes);
}

// @ts-ignore: decorator
@inline export function osDecommit(bytes: u32): void {
  commitAdd(-<i64>bytes);
}

// Inlined, as is commitCount: a caller stores the state the count matches (a
// page's capacity, a huge block's size) right before it, and a call in between
// was a point where V8 may stop a terminated worker, leaving state and count
// apart for good (review4: a page extension killed there counted 4 KiB off
// twice; a huge realloc left 4 MiB counted, or wrapped the counter below zero).
// The peak raise after the count stays a call.
// @ts-ignore: decorator
@inline function commitAdd(delta: i64): void {
  const raise = commitCount(delta);
  if (raise != 0) commitPeakRaise(raise);
}

/** commitCount's answer when the root's counter rose in the default mode: raise the peak to the whole sum. */
const RAISE_TO_SUM: u64 = u64.MAX_VALUE;

/**
 * Count `delta` committed bytes: into the current thread's delta, folded into the
 * root's counter past ±COMMIT_FOLD (zeroed first and added with no call between,
 * so a kill moves it whole or not at all). What the caller raises the peak to
 * after it (commitPeakRaise: after osCommitMarked's mark, so a kill between the
 * count and the mark cannot fall in a call or loop): 0 nothing; RAISE_TO_SUM, the
 * root's counter rose, the sum of every delta (which walks the thread list); in
 * an exact runtime, the value its add made. A rise
 * raises the peak to the whole sum (osCommitted), not to the root's part: that
 * runs ahead of the total while another thread holds a negative delta, and the
 * peak would report a value committed never had (review 14). Signed: the root's
 * part alone may be below zero while a thread holds the matching commit in its
 * delta.
 */
// @ts-ignore: decorator
@inline function commitCount(delta: i64): u64 {
  if (commitExact < 0) commitExact = <i32>loadAcquire(ROOT + R_COMMIT_EXACT);   // set at init, before any commit
  if (commitExact != 0) {
    const now = <i64>addRelaxed64(ROOT + R_COMMITTED, <u64>delta) + delta;   // every delta is 0: this is committed
    return delta > 0 && now > 0 ? <u64>now : 0;   // never a wrapped counter as the peak
  }
  const t = curThread;
  if (t == 0) { addRelaxed64(ROOT + R_COMMITTED, <u64>delta); return delta > 0 ? RAISE_TO_SUM : 0; }
  const d = <i64><i32>load<u32>(t, T_COMMIT_DELTA) + delta;   // owner-only: its own last store
  if (d < COMMIT_FOLD && d > -COMMIT_FOLD) {
    storeRelease(t + T_COMMIT_DELTA, <u32><i32>d);               // partner: osCommitted's loads
    return 0;
  }
  storeRelease(t + T_COMMIT_DELTA, 0);
  addRelaxed64(ROOT + R_COMMITTED, <u64>d);
  return d > 0 ? RAISE_TO_SUM : 0;
}

/**
 * osCommit(bytes), then store `value` at `addr` (a caller's "counted" mark), with
 * no call between the count and the mark; the peak is raised after. segment.ts
 * segmentAlloc and alloc.ts hugeAlloc: a reap then knows whether to count off.
 */
export function osCommitMarked(bytes: u32, addr: usize, value: u32): void {
  const raise = commitCount(<i64>bytes);
  storeRelease(addr, value);
  if (raise != 0) commitPeakRaise(raise);
}

/** Raise the peak to `to` (commitCount's answer): a value, or RAISE_TO_SUM. */
function commitPeakRaise(to: u64): void {
  debugPause(DP_COMMIT_RAISING);
  // RAISE_TO_SUM: one pass over the thread list, once per ≥ 256 KiB committed
  const now = to == RAISE_TO_SUM ? osCommitted() : to;
  if (now > loadAcquire64(ROOT + R_PEAK)) maxRelaxed64(ROOT + R_PEAK, now);
}

/** Fold `thread`'s delta now (its exit, its reap: the record may be reused). */
export function osCommitFold(thread: usize): void {
  const d = <i64><i32>swapAcqRel(thread + T_COMMIT_DELTA, 0);
  if (d == 0) return;
  addRelaxed64(ROOT + R_COMMITTED, <u64>d);   // no call since the swap
  if (d > 0) commitPeakRaise(RAISE_TO_SUM);
}

/** committed: the root's counter plus every record's delta (see above). */
export function osCommitted(): u64 {
  let sum = <i64>loadAcquire64(ROOT + R_COMMITTED);
  let t = <usize>loadSynced(ROOT + R_THREAD_LIST);
  while (t != 0) {
    sum += <i64><i32>loadAcquire(t + T_COMMIT_DELTA);
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
  return sum > 0 ? <u64>sum : 0;
}

/** The peak, raised to committed now (stats reads: it never decreases but by osResetPeak). */
export function osPeak(committed: u64): u64 {
  maxRelaxed64(ROOT + R_PEAK, committed);
  return loadAcquire64(ROOT + R_PEAK);
}

export function osResetPeak(): void {
  storeRelease64(ROOT + R_PEAK, osCommitted());
}
