// atomics.ts — the one file that touches `atomic.*`.
//
// Every field that two threads may touch goes through one of these wrappers. The
// name says the intent; the comment at each call site names its partner. Wasm
// threads give sequentially consistent atomics only, so "acquire"/"release" here
// are documentation of the pairing, not weaker instructions.
//
// See also: mutex-free spin lock below (os.ts, meta.ts), free.ts (xthreadFree CAS).

// @ts-ignore: decorator
@inline export function loadAcquire(ptr: usize): u32 {
  return atomic.load<u32>(ptr);
}

// @ts-ignore: decorator
@inline export function loadAcquire64(ptr: usize): u64 {
  return atomic.load<u64>(ptr);
}

// @ts-ignore: decorator
@inline export function storeRelease(ptr: usize, value: u32): void {
  atomic.store<u32>(ptr, value);
}

// @ts-ignore: decorator
@inline export function storeRelease64(ptr: usize, value: u64): void {
  atomic.store<u64>(ptr, value);
}

// @ts-ignore: decorator
@inline export function storeRelease8(ptr: usize, value: u8): void {
  atomic.store<u8>(ptr, value);
}

// @ts-ignore: decorator
@inline export function loadAcquire8(ptr: usize): u8 {
  return atomic.load<u8>(ptr);
}

/** Compare-and-swap; true when `ptr` held `expected` and now holds `value`. */
// @ts-ignore: decorator
@inline export function casAcqRel(ptr: usize, expected: u32, value: u32): bool {
  return atomic.cmpxchg<u32>(ptr, expected, value) == expected;
}

// @ts-ignore: decorator
@inline export function cas8AcqRel(ptr: usize, expected: u8, value: u8): bool {
  return atomic.cmpxchg<u8>(ptr, expected, value) == expected;
}

/** Exchange; returns the old value. */
// @ts-ignore: decorator
@inline export function swapAcqRel(ptr: usize, value: u32): u32 {
  return atomic.xchg<u32>(ptr, value);
}

/** Fetch-add; returns the old value. */
// @ts-ignore: decorator
@inline export function addRelaxed(ptr: usize, delta: u32): u32 {
  return atomic.add<u32>(ptr, delta);
}

// @ts-ignore: decorator
@inline export function addRelaxed64(ptr: usize, delta: u64): u64 {
  return atomic.add<u64>(ptr, delta);
}

// @ts-ignore: decorator
@inline export function subRelaxed64(ptr: usize, delta: u64): u64 {
  return atomic.sub<u64>(ptr, delta);
}

/** Raise a 64-bit high-water mark to at least `value`. */
export function maxRelaxed64(ptr: usize, value: u64): void {
  let seen = atomic.load<u64>(ptr);
  while (value > seen) {
    const prev = atomic.cmpxchg<u64>(ptr, seen, value);
    if (prev == seen) return;
    seen = prev;
  }
}

/**
 * A spin lock for rare, short runtime-wide sections (growing memory, the segment
 * pool, thread records). It never waits with `wait32`, so the browser main thread
 * may take it. Partner: spinUnlock's release store.
 */
export function spinLock(ptr: usize): void {
  while (true) {
    if (atomic.cmpxchg<u32>(ptr, 0, 1) == 0) return;
    // Spin on a plain load until the word looks free, then retry the CAS.
    while (atomic.load<u32>(ptr) != 0) {}
  }
}

// @ts-ignore: decorator
@inline export function spinUnlock(ptr: usize): void {
  atomic.store<u32>(ptr, 0);
}
