// shared-list.ts — a resizable array of u32 values: lock-free reads, writes under
// the list's mutex, old storage reclaimed after a QSBR grace period.
//
// A list is a header (fixed for its life; its address is the handle) and an array
// block the header points to. The array holds its own capacity and a packed
// length/generation word followed by the items, so a reader that loaded the
// array pointer reads a self-consistent (capacity, length, items) without a lock.
//
// Writers (set, push, pop, resize, compact, destroy) take the header's mutex with
// lockDetaching: a thread waiting for it is detached, so a stop-the-world or a
// grace period never waits for it. Under the mutex a writer either changes the
// current array in place, or — when the capacity changes — builds a new array,
// publishes it with one atomic store of the pointer, and hands the old one to
// freeDelayed: it is freed only after every thread of the domain has passed a
// quiescent state (a checkpoint, or a detach), so a reader that still holds the
// old pointer reads valid, frozen memory. A published array that is no longer
// current is never written again.
//
// Capacity: grows to max(needed, 2·capacity); shrinks (reallocates) when the
// length drops below capacity/4, to max(2·length, LIST_MIN_CAPACITY); compact
// shrinks it to max(length, LIST_MIN_CAPACITY). So a writer alternating
// resize(100)/resize(3000) reallocates every time.
//
// ---- Linearizability of get(i) (lock-free) --------------------------------------
// Every write has one linearization point (LP), an atomic store by the mutex
// holder: set — the item store; push, pop, resize in place — the store of
// xlenGen; a reallocation — the store of the header's array pointer. A shrink in
// place (pop, resize down) increments the generation in the same store as the
// length. Items at or past the length are written (a push's item, a grow's zeros)
// before the store of xlenGen that makes them part of the list.
// get(i): a = array; g1 = xlenGen; if i >= len(g1): out of range (LP: the load of
// g1); v = items[i]; g2 = xlenGen; if gen(g2) != gen(g1): retry. Otherwise no
// shrink happened in `a` between the two loads, and the length only grows without
// one, so when items[i] was loaded the list's length was > i and items[i] held v:
// LP = that load. If `a` stopped being current meanwhile, it was frozen from the
// pointer store on: the LP is just before that store (after our pointer load).
// The retry happens only when a writer completed a shrink: lock-free, not
// wait-free. (The generation is 32 bits; a reader would need 2^32 shrinks within
// one read to be fooled.) length() is one load of xlenGen: its LP.
//
// A lock-free reader's thread must be attached for the whole read, and must not
// keep an array pointer across a checkpoint or a detach (the facade never does).
//
// Layout (every field other threads touch is atomic):
//
//   header (16 B, a MEM block of the creating thread; the handle)
//   +0   magic    u32 atomic  LIST_MAGIC while live; 0 once destroyed
//   +4   mutex    u32 atomic  mutex.ts word; serialises writers
//   +8   xarray   u32 atomic  the current array; stored by the mutex holder, loaded by all
//   +12  (unused)
//
//   array (16 + 4·capacity B, a MEM block of the writer that made it)
//   +0   capacity u32         immutable once published
//   +4   (unused)
//   +8   xlenGen  u64 atomic  length (bits 0..31) | shrink generation (bits 32..63);
//                             stored by the mutex holder
//   +16  items    u32[capacity] atomic; stored by the mutex holder
//
// Invariants: LIST_MIN_CAPACITY <= capacity <= LIST_MAX_CAPACITY; length <= capacity;
// the array is a block of at least 16 + 4·capacity bytes (listIsValid checks them).
//
// Destroy frees the header at once and the array with freeDelayed: call it only
// when no other thread will use the list again.
//
// See also: shared-map.ts, delayed-free.ts, mutex.ts, critical-section.ts (lockDetaching).

import { loadAcquire, loadAcquire64, storeRelease, storeRelease64 } from "./atomics";
import { blockUsableSize, heapMalloc } from "./alloc";
import { lockDetaching } from "./critical-section";
import { curHeap, curThread } from "./current";
import { debugReadDelay } from "./debug-delay";
import { freeDelayed } from "./delayed-free";
import { EINVAL_SIZE, ENOMEM, ERANGE, OK, setError } from "./errors";
import { ftFree } from "./free";
import { FIRST_UNIT, FT_DEBUG_BUILD, SEGMENT_SHIFT } from "./layout";
import { mutexUnlock } from "./mutex";

export const LIST_MAGIC: u32 = 0x5453494C;              // "LIST" (little-endian bytes)
export const LIST_MIN_CAPACITY: u32 = 4;
export const LIST_MAX_CAPACITY: u32 = 1 << 28;           // 1 GiB of items
/** get/pop: nothing there (index past the end, empty list). */
export const LIST_NONE: f64 = -1;

const L_MAGIC: usize = 0;
const L_MUTEX: usize = 4;
const L_ARRAY: usize = 8;
const LIST_HEADER_SIZE: usize = 16;

const A_CAPACITY: usize = 0;
const A_LEN_GEN: usize = 8;
const A_ITEMS: usize = 16;

// ---- The packed length/generation word ---------------------------------------------

// @ts-ignore: decorator
@inline function lenOf(lg: u64): u32 { return <u32>lg; }
// @ts-ignore: decorator
@inline function genOf(lg: u64): u32 { return <u32>(lg >> 32); }
// @ts-ignore: decorator
@inline function lenGen(len: u32, gen: u32): u64 { return <u64>len | (<u64>gen << 32); }

// @ts-ignore: decorator
@inline function item(a: usize, i: u32): usize { return a + A_ITEMS + (<usize>i << 2); }
// @ts-ignore: decorator
@inline function arrayBytes(capacity: u32): usize { return A_ITEMS + (<usize>capacity << 2); }
// @ts-ignore: decorator
@inline function listArray(list: usize): usize {
  return <usize>loadAcquire(list + L_ARRAY);   // partner: storeRelease in listReplace / listNew
}

// ---- Handles --------------------------------------------------------------------------

/**
 * Cheap check that `list` is a live list's header: 8-aligned, in the segment area
 * of the memory, with the magic word. (A freed header's first word holds a
 * free-list link, so a destroyed list fails too, unless the block was reused.)
 */
export function listIsHandle(list: usize): bool {
  if ((list & 7) != 0 || list < (<usize>FIRST_UNIT << SEGMENT_SHIFT)) return false;
  if (<u64>list + LIST_HEADER_SIZE > (<u64>memory.size() << 16)) return false;
  return loadAcquire(list + L_MAGIC) == LIST_MAGIC;
}

/** Expensive validator (debug, tests): the invariants of the file comment. */
export function listIsValid(list: usize): bool {
  if (!listIsHandle(list)) return false;
  const a = listArray(list);
  if (a == 0 || (a & 7) != 0) return false;
  const cap = load<u32>(a, A_CAPACITY);
  if (cap < LIST_MIN_CAPACITY || cap > LIST_MAX_CAPACITY) return false;
  if (lenOf(loadAcquire64(a + A_LEN_GEN)) > cap) return false;
  return blockUsableSize(a) >= arrayBytes(cap);
}

// @ts-ignore: decorator
@inline function debugCheck(list: usize): void {
  if (FT_DEBUG_BUILD) {
    if (!listIsValid(list)) unreachable();
  }
}

// ---- Arrays ---------------------------------------------------------------------------

/**
 * A new, private array of `capacity` holding `len` items: the first min(len, from's
 * length `fromLen`) copied from `from` (0: none), the rest zero. 0 on ENOMEM.
 */
function arrayMake(from: usize, fromLen: u32, capacity: u32, len: u32): usize {
  const b = heapMalloc(curHeap, arrayBytes(capacity));
  if (b == 0) return 0;
  if (FT_DEBUG_BUILD) {
    if ((b & 7) != 0) unreachable();   // xlenGen must be 8-aligned for the 64-bit atomics
  }
  store<u32>(b, capacity, A_CAPACITY);
  store<u32>(b, 0, 4);
  const keep = len < fromLen ? len : fromLen;
  // Plain copies: `b` is not published yet, and `from` is only read (its writers
  // hold the mutex we hold).
  if (from != 0 && keep > 0) memory.copy(item(b, 0), item(from, 0), <usize>keep << 2);
  if (len > keep) memory.fill(item(b, keep), 0, <usize>(len - keep) << 2);
  store<u64>(b, lenGen(len, 0), A_LEN_GEN);
  return b;
}

/** Publish `b` in place of `a` (the LP of a reallocating write), then retire `a`. */
function listReplace(list: usize, a: usize, b: usize): void {
  storeRelease(list + L_ARRAY, <u32>b);   // partner: listArray in readers
  // Readers may still hold `a`: freed after a grace period. If the delayed free
  // fails, `a` leaks rather than being freed under a reader.
  freeDelayed(a);
}

/** The capacity to grow to for `needed` items (needed <= LIST_MAX_CAPACITY). */
function grownCapacity(capacity: u32, needed: u32): u32 {
  let c = <u64>capacity << 1;
  if (c < <u64>needed) c = <u64>needed;
  if (c < <u64>LIST_MIN_CAPACITY) c = <u64>LIST_MIN_CAPACITY;
  if (c > <u64>LIST_MAX_CAPACITY) c = <u64>LIST_MAX_CAPACITY;
  return <u32>c;
}

/** The capacity to shrink to when the length drops to `len`, or 0 to stay. */
function shrunkCapacity(capacity: u32, len: u32): u32 {
  if (len >= (capacity >> 2)) return 0;
  let c = len << 1;
  if (c < LIST_MIN_CAPACITY) c = LIST_MIN_CAPACITY;
  return c < capacity ? c : 0;
}

// @ts-ignore: decorator
@inline function listLock(list: usize): void {
  lockDetaching(curThread, list + L_MUTEX);   // detached while it waits
}

// @ts-ignore: decorator
@inline function listUnlock(list: usize): void {
  debugCheck(list);
  mutexUnlock(list + L_MUTEX);
}

// ---- Creation and destruction ------------------------------------------------------

/** A new empty list with room for `capacity` items; 0 on error (EINVAL_SIZE, ENOMEM). */
export function listNew(capacity: u32): usize {
  if (capacity > LIST_MAX_CAPACITY) { setError(EINVAL_SIZE); return 0; }
  if (capacity < LIST_MIN_CAPACITY) capacity = LIST_MIN_CAPACITY;
  const list = heapMalloc(curHeap, LIST_HEADER_SIZE);
  if (list == 0) return 0;
  const a = arrayMake(0, 0, capacity, 0);
  if (a == 0) { ftFree(list); setError(ENOMEM); return 0; }
  storeRelease(list + L_MUTEX, 0);
  storeRelease(list + L_ARRAY, <u32>a);
  storeRelease(list + 12, 0);
  storeRelease(list + L_MAGIC, LIST_MAGIC);
  return list;
}

/**
 * Destroy: the header is freed now, the array after a grace period. Waits for a
 * writer still inside. No other thread may use the list afterwards.
 */
export function listDestroy(list: usize): i32 {
  listLock(list);
  const a = listArray(list);
  storeRelease(list + L_MAGIC, 0);
  storeRelease(list + L_ARRAY, 0);
  freeDelayed(a);
  ftFree(list);   // with its mutex: nobody may be waiting on it
  return OK;
}

// ---- Lock-free reads (the caller is attached) -------------------------------------------

/** The item at `i`, or LIST_NONE past the end. See the file comment for why it is linearizable. */
export function listGet(list: usize, i: u32): f64 {
  while (true) {
    const a = listArray(list);
    debugReadDelay();                                // tests: widen the window a free would hit
    const before = loadAcquire64(a + A_LEN_GEN);     // partner: the writers' storeRelease64
    if (i >= lenOf(before)) return LIST_NONE;
    const v = loadAcquire(item(a, i));               // partner: listSet / listPush's item stores
    const after = loadAcquire64(a + A_LEN_GEN);
    if (genOf(after) == genOf(before)) return <f64>v;
    // A shrink in between: slot i may have been reused. Read again.
  }
  return LIST_NONE;
}

export function listLength(list: usize): u32 {
  return lenOf(loadAcquire64(listArray(list) + A_LEN_GEN));
}

export function listCapacity(list: usize): u32 {
  return load<u32>(listArray(list), A_CAPACITY);   // immutable once published
}

/** get under the mutex (for benchmarks against the lock-free read). */
export function listGetLocked(list: usize, i: u32): f64 {
  listLock(list);
  const a = listArray(list);
  const len = lenOf(loadAcquire64(a + A_LEN_GEN));
  const v = i < len ? <f64>loadAcquire(item(a, i)) : LIST_NONE;
  listUnlock(list);
  return v;
}

// ---- Writes (under the mutex) -------------------------------------------------------------

/** items[i] = v; ERANGE when i >= length. */
export function listSet(list: usize, i: u32, v: u32): i32 {
  listLock(list);
  const a = listArray(list);
  let rc = OK;
  if (i < lenOf(loadAcquire64(a + A_LEN_GEN))) storeRelease(item(a, i), v);   // LP
  else rc = ERANGE;
  listUnlock(list);
  return rc;
}

/** Append v; ENOMEM (unchanged) when a larger array cannot be had, EINVAL_SIZE at LIST_MAX_CAPACITY. */
export function listPush(list: usize, v: u32): i32 {
  listLock(list);
  const a = listArray(list);
  const lg = loadAcquire64(a + A_LEN_GEN);
  const len = lenOf(lg);
  const cap = load<u32>(a, A_CAPACITY);
  let rc = OK;
  if (len < cap) {
    storeRelease(item(a, len), v);                               // past the length: no reader uses it yet
    storeRelease64(a + A_LEN_GEN, lenGen(len + 1, genOf(lg)));   // LP
  } else if (len >= LIST_MAX_CAPACITY) {
    rc = EINVAL_SIZE;
  } else {
    const b = arrayMake(a, len, grownCapacity(cap, len + 1), len + 1);
    if (b == 0) rc = ENOMEM;
    else {
      store<u32>(item(b, len), v);
      listReplace(list, a, b);
    }
  }
  listUnlock(list);
  return rc;
}

/** Remove and return the last item, or LIST_NONE when empty. May shrink the array. */
export function listPop(list: usize): f64 {
  listLock(list);
  const a = listArray(list);
  const lg = loadAcquire64(a + A_LEN_GEN);
  const len = lenOf(lg);
  let v = LIST_NONE;
  if (len > 0) {
    v = <f64>loadAcquire(item(a, len - 1));
    shrinkTo(list, a, lg, len - 1);
  }
  listUnlock(list);
  return v;
}

/**
 * Length from len(lg) down to `n`: a smaller array when the length falls below a
 * quarter of the capacity (in place, with a new generation, if that array cannot
 * be had — shrinking never fails).
 */
function shrinkTo(list: usize, a: usize, lg: u64, n: u32): void {
  const smaller = shrunkCapacity(load<u32>(a, A_CAPACITY), n);
  if (smaller != 0) {
    const b = arrayMake(a, lenOf(lg), smaller, n);
    if (b != 0) { listReplace(list, a, b); return; }
  }
  storeRelease64(a + A_LEN_GEN, lenGen(n, genOf(lg) + 1));   // LP; readers past n retry
}

/** Set the length to `n`: new items are 0. EINVAL_SIZE above LIST_MAX_CAPACITY, ENOMEM (unchanged). */
export function listResize(list: usize, n: u32): i32 {
  if (n > LIST_MAX_CAPACITY) return EINVAL_SIZE;
  listLock(list);
  const a = listArray(list);
  const lg = loadAcquire64(a + A_LEN_GEN);
  const len = lenOf(lg);
  const cap = load<u32>(a, A_CAPACITY);
  let rc = OK;
  if (n > cap) {
    const b = arrayMake(a, len, grownCapacity(cap, n), n);
    if (b == 0) rc = ENOMEM;
    else listReplace(list, a, b);
  } else if (n < len) {
    shrinkTo(list, a, lg, n);
  } else if (n > len) {
    // Zero the new items before the length covers them. A reader that still
    // sees an older, longer length saw a shrink since: it retries.
    for (let j = len; j < n; j++) storeRelease(item(a, j), 0);
    storeRelease64(a + A_LEN_GEN, lenGen(n, genOf(lg)));         // LP
  }
  listUnlock(list);
  return rc;
}

/** Shrink the capacity to max(length, LIST_MIN_CAPACITY). ENOMEM (unchanged). */
export function listCompact(list: usize): i32 {
  listLock(list);
  const a = listArray(list);
  const len = lenOf(loadAcquire64(a + A_LEN_GEN));
  const target = len > LIST_MIN_CAPACITY ? len : LIST_MIN_CAPACITY;
  let rc = OK;
  if (target < load<u32>(a, A_CAPACITY)) {
    const b = arrayMake(a, len, target, len);
    if (b == 0) rc = ENOMEM;
    else listReplace(list, a, b);
  }
  listUnlock(list);
  return rc;
}
