// pystack.ts — a per-thread LIFO region for scoped allocations (MicroPython's
// pystack): call frames, argument arrays, temporaries that die in reverse order.
//
// Each thread record has one region of meta memory (never heap blocks), made on
// its first allocation, `size` bytes long (PYSTACK_DEFAULT unless set at attach).
// Data grows up from the base; an index of block starts grows down from the end:
//
//   base                    base+top                       base+size-4n      base+size
//   | block 0 | block 1 | ... |            free              | e[n-1] ... e[0] |
//   '------ live part -------'                              '- block index --'
//
//   e[i]  u32 at base + size - 4(i+1): block i's offset from base (e[0] = 0, ascending)
//   use = top + 4n <= size;   top = the end of block n-1 (0 when n = 0)
//
// alloc bumps `top` by the size rounded up to 8 (0 counts as 8, so every block
// has its own address) and pushes the block's offset; the bytes are zeroed, so
// the collector never reads a stale word in a fresh frame (a stale object address
// would keep garbage alive). free(p) must name a live block start of this thread
// (found in the index: O(1) for the last block, else a binary search) and frees
// it and every block above it; anything else — another thread's pystack, an
// interior pointer, a released block — is ENOT_LIFO and changes nothing. The
// live part [base, base+top) holds only user data: the index lives above it, and
// holds offsets, never addresses.
//
// The cycle collector scans every aligned u32 word of the live part of every
// thread's pystack — detached and suspended threads included — and treats exact
// object addresses as roots (pystackLive). Exited and reaped threads have an
// empty live part: exit and reap drop it (pystackRelease).
//
// Regions and recycled records: a thread record is reused by a later thread of
// its domain (thread.ts threadNew). Meta memory never returns, so the region
// stays with the record (threadResetOwned keeps T_STACK_BASE and T_STACK_CAP and
// zeroes the rest) and the next thread reuses it when its size fits. A larger
// size gets a new region of max(size, 2 x the old one), capped at PYSTACK_MAX;
// the old one is dropped, so what a record ever dropped stays below what it holds.
//
// Ownership: every field is the owner's (plain loads and stores); pystack calls
// need the thread attached and current. Others read BASE and TOP only while the
// owner cannot run a pystack call: the collector, with the world stopped; a reap,
// which zeroes TOP (release store) after the record became EXITED; ft_pystack_info
// (exact for the caller's own thread, or one that is stopped or gone).
//
// See also: layout.ts (the thread record's T_STACK_* fields), abi/pystack.ts,
// lifecycle.ts (exit and reap drop the live part).

import { A_PYSTACK, ASSERT_INTERNAL, assertThat } from "./assert";
import { loadAcquire, storeRelease } from "./atomics";
import { ENOMEM, ENOT_LIFO, ESTACK_EXHAUSTED, OK, setError } from "./errors";
import { metaAlloc } from "./meta";
import { T_STACK_BASE, T_STACK_CAP, T_STACK_COUNT, T_STACK_HIGH, T_STACK_SIZE, T_STACK_TOP } from "./layout";
import { memFill } from "./os";

// @abi-begin pystack
export const PYSTACK_ALIGN: u32 = 8;              // block addresses and sizes
export const PYSTACK_MIN: u32 = 64;               // smallest size a thread may ask for
export const PYSTACK_DEFAULT: u32 = 1 << 16;      // 64 KiB
export const PYSTACK_MAX: u32 = 1 << 20;          // 1 MiB: regions are meta memory, which never returns
export const PYSTACK_ENTRY: u32 = 4;              // bytes of index per block (use counts them)
// ft_pystack_info fields
export const PI_BASE: u32 = 0;                    // the region's address (0: none yet)
export const PI_SIZE: u32 = 1;                    // this thread's size in bytes
export const PI_USE: u32 = 2;                     // bytes in use: data + PYSTACK_ENTRY per block
export const PI_HIGH: u32 = 3;                    // the most ever in use since attach
export const PI_BLOCKS: u32 = 4;                  // live blocks (the depth)
export const PI_TOP: u32 = 5;                     // the end of the live part (base + top)
export const PI_CAPACITY: u32 = 6;                // the region's bytes (>= size once made)
// @abi-end

/** This thread's size in bytes (T_STACK_SIZE; 0 there means PYSTACK_DEFAULT). */
// @ts-ignore: decorator
@inline export function pystackSize(thread: usize): u32 {
  const size = load<u32>(thread, T_STACK_SIZE);
  return size != 0 ? size : PYSTACK_DEFAULT;
}

/** Is `bytes` a size a thread may ask for: a multiple of PYSTACK_ALIGN in [PYSTACK_MIN, PYSTACK_MAX]? */
export function pystackSizeValid(bytes: u32): bool {
  return bytes >= PYSTACK_MIN && bytes <= PYSTACK_MAX && (bytes & (PYSTACK_ALIGN - 1)) == 0;
}

/** Index entry `i` (block i's offset) of a region of `size` bytes at `base`. */
// @ts-ignore: decorator
@inline function entryAt(base: usize, size: u32, i: u32): usize {
  return base + <usize>size - (<usize>(i + 1) << 2);
}

// ---- Allocation ----------------------------------------------------------------

/**
 * `n` bytes (zeroed, 8-aligned; n = 0 takes 8) on `thread`'s pystack (owner,
 * attached). 0 with ESTACK_EXHAUSTED when they do not fit — nothing changed — or
 * ENOMEM when the region cannot be made.
 */
export function pystackAlloc(thread: usize, n: usize): usize {
  const size = pystackSize(thread);
  const top = load<u32>(thread, T_STACK_TOP);
  const count = load<u32>(thread, T_STACK_COUNT);
  const bytes = n == 0 ? <u64>PYSTACK_ALIGN : (<u64>n + <u64>(PYSTACK_ALIGN - 1)) & ~<u64>(PYSTACK_ALIGN - 1);
  const use = <u64>top + bytes + (<u64>(count + 1) << 2);
  if (use > <u64>size) { setError(ESTACK_EXHAUSTED); return 0; }
  let base = <usize>load<u32>(thread, T_STACK_BASE);
  if (base == 0 || load<u32>(thread, T_STACK_CAP) < size) {
    base = pystackRegion(thread, size);
    if (base == 0) { setError(ENOMEM); return 0; }
  }
  store<u32>(entryAt(base, size, count), top);
  store<u32>(thread, count + 1, T_STACK_COUNT);
  store<u32>(thread, top + <u32>bytes, T_STACK_TOP);
  if (<u32>use > load<u32>(thread, T_STACK_HIGH)) store<u32>(thread, <u32>use, T_STACK_HIGH);
  const p = base + <usize>top;
  memFill(p, 0, <usize>bytes);
  return p;
}

/**
 * The first allocation, or the first after the size outgrew the record's region
 * (which only happens while the pystack is empty: ft_pystack_set_size needs
 * that): a region of at least `size` bytes. Slow: takes the meta lock. 0 when
 * meta memory is exhausted (the old region, if any, is kept).
 */
function pystackRegion(thread: usize, size: u32): usize {
  if (ASSERT_INTERNAL) assertThat(load<u32>(thread, T_STACK_COUNT) == 0, A_PYSTACK);
  const old = load<u32>(thread, T_STACK_CAP);
  let cap = old << 1;
  if (cap > PYSTACK_MAX) cap = PYSTACK_MAX;
  if (cap < size) cap = size;
  const base = metaAlloc(cap);
  if (base == 0) return 0;
  store<u32>(thread, cap, T_STACK_CAP);
  store<u32>(thread, <u32>base, T_STACK_BASE);
  return base;
}

// ---- Free --------------------------------------------------------------------------

/**
 * Free block `p` of `thread`'s pystack and every block allocated after it
 * (owner, attached). ENOT_LIFO, nothing changed, unless `p` is the start of a
 * live block of this thread.
 */
export function pystackFree(thread: usize, p: usize): i32 {
  const count = load<u32>(thread, T_STACK_COUNT);
  const base = <usize>load<u32>(thread, T_STACK_BASE);
  const top = load<u32>(thread, T_STACK_TOP);
  // Every live block lies in [base, base + top); `count` 0 covers "no region yet".
  if (count == 0 || p < base || p - base >= <usize>top) return ENOT_LIFO;
  const off = <u32>(p - base);
  if ((off & (PYSTACK_ALIGN - 1)) != 0) return ENOT_LIFO;
  const size = pystackSize(thread);
  let i = count - 1;
  if (load<u32>(entryAt(base, size, i)) != off) {   // not the last block: binary search below it
    let lo: u32 = 0, hi = i;                        // e[lo..hi) may hold off
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (load<u32>(entryAt(base, size, mid)) < off) lo = mid + 1; else hi = mid;
    }
    if (lo == i || load<u32>(entryAt(base, size, lo)) != off) return ENOT_LIFO;   // an interior pointer
    i = lo;
  }
  store<u32>(thread, off, T_STACK_TOP);
  store<u32>(thread, i, T_STACK_COUNT);
  return OK;
}

/** Free every block above the first `depth` (owner; t.stack.scope). The blocks freed. */
export function pystackPopTo(thread: usize, depth: u32): u32 {
  const count = load<u32>(thread, T_STACK_COUNT);
  if (depth >= count) return 0;
  const base = <usize>load<u32>(thread, T_STACK_BASE);
  store<u32>(thread, load<u32>(entryAt(base, pystackSize(thread), depth)), T_STACK_TOP);
  store<u32>(thread, depth, T_STACK_COUNT);
  return count - depth;
}

/**
 * Set `thread`'s size (a valid one: pystackSizeValid) while its pystack is empty
 * (owner, any live state; the facade's attach). The region follows on the next
 * allocation if it is too small.
 */
export function pystackSetSize(thread: usize, bytes: u32): void {
  if (ASSERT_INTERNAL) assertThat(load<u32>(thread, T_STACK_COUNT) == 0 && pystackSizeValid(bytes), A_PYSTACK);
  store<u32>(thread, bytes, T_STACK_SIZE);
}

/**
 * Drop the live part (exit, and reap from another instance once the record is
 * EXITED): the collector finds no roots there any more. The region stays with
 * the record for its next thread.
 */
export function pystackRelease(thread: usize): void {
  store<u32>(thread, 0, T_STACK_COUNT);
  storeRelease(thread + T_STACK_TOP, 0);   // partner: pystackLive's acquire (a collector may be reading)
}

// ---- Reading ------------------------------------------------------------------------

/**
 * For the collector: the live range [start, end) of `thread`'s pystack as
 * `end << 32 | start`, 0 when empty (no block, no region, exited, reaped).
 * The GC scans every aligned u32 word of the live part of every thread's
 * pystack (detached threads included) and treats exact object addresses as
 * roots; the part holds only user data (zeroed when allocated). Call it while
 * the world is stopped (the owner cannot change it then).
 */
export function pystackLive(thread: usize): u64 {
  const top = loadAcquire(thread + T_STACK_TOP);
  if (top == 0) return 0;
  const base = <u64>loadAcquire(thread + T_STACK_BASE);
  return (base + <u64>top) << 32 | base;
}

/** Bytes in use: the live part and its index entries. */
// @ts-ignore: decorator
@inline export function pystackUse(thread: usize): u32 {
  return load<u32>(thread, T_STACK_TOP) + (load<u32>(thread, T_STACK_COUNT) << 2);
}

/** One figure (PI_*) of `thread`'s pystack; 0 for an unknown field. */
export function pystackInfo(thread: usize, field: u32): u32 {
  const base = load<u32>(thread, T_STACK_BASE);
  switch (field) {
    case PI_BASE: return base;
    case PI_SIZE: return pystackSize(thread);
    case PI_USE: return pystackUse(thread);
    case PI_HIGH: return load<u32>(thread, T_STACK_HIGH);
    case PI_BLOCKS: return load<u32>(thread, T_STACK_COUNT);
    case PI_TOP: return base + load<u32>(thread, T_STACK_TOP);
    case PI_CAPACITY: return load<u32>(thread, T_STACK_CAP);
  }
  return 0;
}

/**
 * Validator (owner, or with the world stopped): use <= size <= capacity when a
 * region exists; the index starts at 0, ascends by multiples of 8, and stays
 * below top; top is 8-aligned; the high water covers use. O(blocks).
 */
export function pystackIsValid(thread: usize): bool {
  const base = <usize>load<u32>(thread, T_STACK_BASE);
  const size = pystackSize(thread);
  const top = load<u32>(thread, T_STACK_TOP);
  const count = load<u32>(thread, T_STACK_COUNT);
  if ((top & (PYSTACK_ALIGN - 1)) != 0 || <u64>top + (<u64>count << 2) > <u64>size) return false;
  if (pystackUse(thread) > load<u32>(thread, T_STACK_HIGH)) return false;
  if (count == 0) return top == 0;
  if (base == 0 || load<u32>(thread, T_STACK_CAP) < size) return false;
  let prev: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const e = load<u32>(entryAt(base, size, i));
    if ((i == 0 ? e != 0 : e <= prev) || e >= top || (e & (PYSTACK_ALIGN - 1)) != 0) return false;
    prev = e;
  }
  return true;
}
