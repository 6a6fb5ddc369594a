// shared-list.ts — a resizable array of u32 values: lock-free reads, writes under
// the list's mutex, old storage reclaimed after a QSBR grace period.
//
// A list is a header (shared-handle.ts: magic, mutex, atomic storage pointer;
// fixed for the list's life; its address is the handle) and an array block the
// header points to. The array holds its own capacity and a packed
// length/generation word followed by the items, so a reader that loaded the
// array pointer reads a self-consistent (capacity, length, items) without a lock.
//
// Writers (set, push, pop, resize, compact, destroy) take the header's mutex with
// lockDetaching: a thread waiting for it is detached, so a stop-the-world or a
// grace period never waits for it. Under the mutex a writer either changes the
// current array in place, or — when the capacity changes — builds a new array,
// publishes it with one atomic store of the pointer, and hands the old one to
// freeDelayed (handleReplace): it is freed only after every thread of the domain
// has passed a quiescent state (a checkpoint, or a detach), so a reader that still
// holds the old pointer reads valid, frozen memory. A published array that is no
// longer current is never written again.
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
//   header: shared-handle.ts, with magic LIST_MAGIC; its storage is the array
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
// Destroy hands the header and the array to freeDelayed (shared-handle.ts): a
// read racing it returns the old contents or EINVAL_PTR. No thread may use the
// list after its destroy.
//
// See also: shared-handle.ts, shared-map.ts, delayed-free.ts, mutex.ts,
// critical-section.ts (lockDetaching).

import { loadAcquire, loadAcquire64, storeRelease, storeRelease64 } from "./atomics";
import { blockUsableSize, heapMalloc } from "./alloc";
import { curHeap } from "./current";
import { DP_HANDLE_READ, debugPause, debugReadDelay } from "./debug-delay";
import { EINVAL_PTR, EINVAL_SIZE, ENOMEM, ERANGE, OK, setError } from "./errors";
import { FT_DEBUG_BUILD } from "./layout";
import { handleDestroy, handleGone, handleIsLive, handleIsValid, handleLock, handleLockFailed, handleNew, handleReplace, handleStorage,
  handleUnlock } from "./shared-handle";
import { memCopy, memFill } from "./os";

export const LIST_MAGIC: u32 = 0x5453494C;              // "LIST" (little-endian bytes)
export const LIST_MIN_CAPACITY: u32 = 4;
export const LIST_MAX_CAPACITY: u32 = 1 << 28;           // 1 GiB of items
/** get/pop: nothing there (index past the end, empty list). */
export const LIST_NONE: f64 = -1;

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
@inline function listArray(list: usize): usize { return handleStorage(list); }

// ---- Handles --------------------------------------------------------------------------

/** Cheap check that `list` is a live list's header (handleIsLive). */
export function listIsHandle(list: usize): bool {
  return handleIsLive(list, LIST_MAGIC);
}

/** Expensive validator (debug, tests): the invariants of the file comment. */
export function listIsValid(list: usize): bool {
  if (!handleIsValid(list, LIST_MAGIC)) return false;
  const a = listArray(list);
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
  if (from != 0 && keep > 0) memCopy(item(b, 0), item(from, 0), <usize>keep << 2);
  if (len > keep) memFill(item(b, keep), 0, <usize>(len - keep) << 2);
  store<u64>(b, lenGen(len, 0), A_LEN_GEN);
  return b;
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
@inline function listUnlock(list: usize): void {
  debugCheck(list);
  handleUnlock(list);
}

// ---- Creation and destruction ------------------------------------------------------

/** A new empty list with room for `capacity` items; 0 on error (EINVAL_SIZE, ENOMEM). */
export function listNew(capacity: u32): usize {
  if (capacity > LIST_MAX_CAPACITY) { setError(EINVAL_SIZE); return 0; }
  if (capacity < LIST_MIN_CAPACITY) capacity = LIST_MIN_CAPACITY;
  return handleNew(LIST_MAGIC, arrayMake(0, 0, capacity, 0));
}

/**
 * Destroy: the header is freed now, the array after a grace period. Waits for a
 * writer still inside. No other thread may use the list afterwards.
 */
export function listDestroy(list: usize): i32 {
  return handleDestroy(list);
}

// ---- Lock-free reads (the caller is attached) -------------------------------------------

/** The item at `i`, or LIST_NONE past the end. See the file comment for why it is linearizable. */
export function listGet(list: usize, i: u32): f64 {
  debugPause(DP_HANDLE_READ);                        // tests: a destroy between the handle check and here
  while (true) {
    const a = listArray(list);
    if (a == 0) return handleGone();                 // destroyed after the handle check
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

/** The length, or -EINVAL_PTR when destroyed after the handle check. */
export function listLength(list: usize): i32 {
  const a = listArray(list);
  if (a == 0) { setError(EINVAL_PTR); return -EINVAL_PTR; }
  return <i32>lenOf(loadAcquire64(a + A_LEN_GEN));
}

/** The capacity, or -EINVAL_PTR when destroyed after the handle check. */
export function listCapacity(list: usize): i32 {
  const a = listArray(list);
  if (a == 0) { setError(EINVAL_PTR); return -EINVAL_PTR; }
  return <i32>load<u32>(a, A_CAPACITY);   // immutable once published
}

/** get under the mutex (for benchmarks against the lock-free read). */
export function listGetLocked(list: usize, i: u32): f64 {
  if (!handleLock(list)) return -2;
  const a = listArray(list);
  const len = lenOf(loadAcquire64(a + A_LEN_GEN));
  const v = i < len ? <f64>loadAcquire(item(a, i)) : LIST_NONE;
  listUnlock(list);
  return v;
}

// ---- Writes (under the mutex) -------------------------------------------------------------

/** items[i] = v; ERANGE when i >= length. */
export function listSet(list: usize, i: u32, v: u32): i32 {
  if (!handleLock(list)) return handleLockFailed();
  const a = listArray(list);
  let rc = OK;
  if (i < lenOf(loadAcquire64(a + A_LEN_GEN))) storeRelease(item(a, i), v);   // LP
  else rc = ERANGE;
  listUnlock(list);
  return rc;
}

/**
 * Length from len(lg) up to `n` (<= LIST_MAX_CAPACITY): the new items are 0 but
 * the last, which is `last` (push: the value; resize: 0). In place when the
 * capacity allows, else in a new array of grownCapacity. OK, or ENOMEM unchanged.
 */
function growTo(list: usize, a: usize, lg: u64, n: u32, last: u32): i32 {
  const len = lenOf(lg);
  const cap = load<u32>(a, A_CAPACITY);
  if (n > cap) {
    const b = arrayMake(a, len, grownCapacity(cap, n), n);
    if (b == 0) return ENOMEM;
    store<u32>(item(b, n - 1), last);   // `b` is not published yet
    handleReplace(list, a, b);
    return OK;
  }
  // Write the new items before the length covers them: past the length, no
  // reader uses them yet. A reader that still sees an older, longer length saw
  // a shrink since: it retries.
  for (let j = len; j < n - 1; j++) storeRelease(item(a, j), 0);
  storeRelease(item(a, n - 1), last);
  storeRelease64(a + A_LEN_GEN, lenGen(n, genOf(lg)));   // LP
  return OK;
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
    if (b != 0) { handleReplace(list, a, b); return; }
  }
  storeRelease64(a + A_LEN_GEN, lenGen(n, genOf(lg) + 1));   // LP; readers past n retry
}

/** Append v; ENOMEM (unchanged) when a larger array cannot be had, EINVAL_SIZE at LIST_MAX_CAPACITY. */
export function listPush(list: usize, v: u32): i32 {
  if (!handleLock(list)) return handleLockFailed();
  const a = listArray(list);
  const lg = loadAcquire64(a + A_LEN_GEN);
  const len = lenOf(lg);
  const rc = len >= LIST_MAX_CAPACITY ? EINVAL_SIZE : growTo(list, a, lg, len + 1, v);
  listUnlock(list);
  return rc;
}

/** Remove and return the last item, or LIST_NONE when empty. May shrink the array. */
export function listPop(list: usize): f64 {
  if (!handleLock(list)) return -2;
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

/** Set the length to `n`: new items are 0. EINVAL_SIZE above LIST_MAX_CAPACITY, ENOMEM (unchanged). */
export function listResize(list: usize, n: u32): i32 {
  if (n > LIST_MAX_CAPACITY) return EINVAL_SIZE;
  if (!handleLock(list)) return handleLockFailed();
  const a = listArray(list);
  const lg = loadAcquire64(a + A_LEN_GEN);
  const len = lenOf(lg);
  let rc = OK;
  if (n < len) shrinkTo(list, a, lg, n);
  else if (n > len) rc = growTo(list, a, lg, n, 0);
  listUnlock(list);
  return rc;
}

/** Shrink the capacity to max(length, LIST_MIN_CAPACITY). ENOMEM (unchanged). */
export function listCompact(list: usize): i32 {
  if (!handleLock(list)) return handleLockFailed();
  const a = listArray(list);
  const len = lenOf(loadAcquire64(a + A_LEN_GEN));
  const target = len > LIST_MIN_CAPACITY ? len : LIST_MIN_CAPACITY;
  let rc = OK;
  if (target < load<u32>(a, A_CAPACITY)) {
    const b = arrayMake(a, len, target, len);
    if (b == 0) rc = ENOMEM;
    else handleReplace(list, a, b);
  }
  listUnlock(list);
  return rc;
}
