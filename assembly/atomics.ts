// atomics.ts — the one file that touches `atomic.*` (a test checks).
//
// Every field that two threads may touch goes through one of these wrappers. The
// name says the intent, the suffix the width (none = 32 bits, `8`, `64`); the
// comment at each call site names its partner. Wasm threads give sequentially
// consistent atomics only, so "acquire", "release" and "relaxed" here document
// the pairing, not weaker instructions; `SeqCst` marks the places whose
// correctness needs the total order (QSBR's seq stores against a poller's scan).
//
// Waiting (wait32/notify) is here too; host.ts decides whether this thread may
// wait at all (a browser main thread may not) and polls instead.
//
// See also: host.ts (waiting), mutex.ts, the spin lock below (os.ts, meta.ts).

// ---- Loads and stores --------------------------------------------------------------

// @ts-ignore: decorator
@inline export function loadAcquire(ptr: usize): u32 { return atomic.load<u32>(ptr); }
// @ts-ignore: decorator
@inline export function loadAcquire8(ptr: usize): u8 { return atomic.load<u8>(ptr); }
// @ts-ignore: decorator
@inline export function loadAcquire64(ptr: usize): u64 { return atomic.load<u64>(ptr); }
// @ts-ignore: decorator
@inline export function loadSeqCst64(ptr: usize): u64 { return atomic.load<u64>(ptr); }

/**
 * A plain load of a word other threads may write, for a test where any value is
 * safe to read: only a value this thread stored there itself is acted on, anything
 * else sends the caller down a path that loads the word again atomically. Used
 * where an atomic load could trap: V8 bounds-checks atomics against its instance's
 * copy of the memory's length, which lags another thread's grow, and plain loads
 * only by guard pages (os.ts memSync).
 */
// @ts-ignore: decorator
@inline export function loadHint(ptr: usize): u32 { return load<u32>(ptr); }

// @ts-ignore: decorator
@inline export function storeRelease(ptr: usize, value: u32): void { atomic.store<u32>(ptr, value); }
// @ts-ignore: decorator
@inline export function storeRelease8(ptr: usize, value: u8): void { atomic.store<u8>(ptr, value); }
// @ts-ignore: decorator
@inline export function storeRelease64(ptr: usize, value: u64): void { atomic.store<u64>(ptr, value); }
// @ts-ignore: decorator
@inline export function storeSeqCst64(ptr: usize, value: u64): void { atomic.store<u64>(ptr, value); }

// ---- Read-modify-write (each returns the OLD value, except the CAS) ---------------------

/** Compare-and-swap; true when `ptr` held `expected` and now holds `value`. */
// @ts-ignore: decorator
@inline export function casAcqRel(ptr: usize, expected: u32, value: u32): bool {
  return atomic.cmpxchg<u32>(ptr, expected, value) == expected;
}
/** Compare-and-swap returning what `ptr` held (== expected when it succeeded). */
// @ts-ignore: decorator
@inline export function casSeenAcqRel(ptr: usize, expected: u32, value: u32): u32 {
  return atomic.cmpxchg<u32>(ptr, expected, value);
}
// @ts-ignore: decorator
@inline export function casAcqRel64(ptr: usize, expected: u64, value: u64): bool {
  return atomic.cmpxchg<u64>(ptr, expected, value) == expected;
}
// @ts-ignore: decorator
@inline export function swapAcqRel(ptr: usize, value: u32): u32 { return atomic.xchg<u32>(ptr, value); }
// @ts-ignore: decorator
@inline export function addRelaxed(ptr: usize, delta: u32): u32 { return atomic.add<u32>(ptr, delta); }
// @ts-ignore: decorator
@inline export function addRelaxed64(ptr: usize, delta: u64): u64 { return atomic.add<u64>(ptr, delta); }
// @ts-ignore: decorator
@inline export function addSeqCst64(ptr: usize, delta: u64): u64 { return atomic.add<u64>(ptr, delta); }
// @ts-ignore: decorator
@inline export function subRelaxed(ptr: usize, delta: u32): u32 { return atomic.sub<u32>(ptr, delta); }
// @ts-ignore: decorator
@inline export function subRelaxed64(ptr: usize, delta: u64): u64 { return atomic.sub<u64>(ptr, delta); }
/** Set bits; returns the old word. */
// @ts-ignore: decorator
@inline export function orAcqRel(ptr: usize, bits: u32): u32 { return atomic.or<u32>(ptr, bits); }
/** Keep only `mask`'s bits; returns the old word. */
// @ts-ignore: decorator
@inline export function andAcqRel(ptr: usize, mask: u32): u32 { return atomic.and<u32>(ptr, mask); }

/** Raise a 64-bit high-water mark to at least `value`. */
export function maxRelaxed64(ptr: usize, value: u64): void {
  let seen = atomic.load<u64>(ptr);
  while (value > seen) {
    const prev = atomic.cmpxchg<u64>(ptr, seen, value);
    if (prev == seen) return;
    seen = prev;
  }
}

// ---- Waiting ----------------------------------------------------------------------------

/**
 * wait32: sleep while the word at `ptr` holds `expected`, at most `timeoutNs`
 * (< 0: no limit). 0 woken, 1 not equal, 2 timed out. Traps on a thread that may
 * not block (host.ts never calls it there).
 */
// @ts-ignore: decorator
@inline export function wait32(ptr: usize, expected: u32, timeoutNs: i64): i32 {
  return memory.atomic.wait32(ptr, <i32>expected, timeoutNs);
}
/** Wake up to `count` threads waiting on `ptr`. Partner: wait32. */
// @ts-ignore: decorator
@inline export function notify(ptr: usize, count: i32): void { atomic.notify(ptr, count); }
/** notify, returning how many waiters it woke (mutex.ts: a hand-off nobody can take). */
// @ts-ignore: decorator
@inline export function notifyCount(ptr: usize, count: i32): i32 { return atomic.notify(ptr, count); }

// ---- A spin lock --------------------------------------------------------------------------

/**
 * A spin lock for rare, short runtime-wide sections (growing memory, the segment
 * pool, thread records). It never waits with `wait32`, so the browser main thread
 * may take it. Partner: spinUnlock's release store.
 */
export function spinLock(ptr: usize): void { spinLockAs(ptr, spinHolder); }

/**
 * What spinLock stamps in the word: this instance's id once it has one
 * (current.ts instanceSet), so that the reap of a dead instance can let its
 * locks go (instance.ts instanceLocksReleaseDead); before that, a value no id takes.
 */
let spinHolder: u32 = 0xFFFFFFFF;

/** Set spinLock's stamp (current.ts instanceSet only). */
export function spinHolderSet(id: u32): void { spinHolder = id != 0 ? id : 0xFFFFFFFF; }

/** spinLock storing `holder` (non-zero) in the word: a lock a reap can release for a dead holder. */
export function spinLockAs(ptr: usize, holder: u32): void {
  while (true) {
    if (atomic.cmpxchg<u32>(ptr, 0, holder) == 0) return;
    // Spin on a plain load until the word looks free, then retry the CAS.
    while (atomic.load<u32>(ptr) != 0) {}
  }
}

// @ts-ignore: decorator
@inline export function spinUnlock(ptr: usize): void { atomic.store<u32>(ptr, 0); }

/**
 * Take the spin lock at `ptr` over from `holder`, a dead instance (instance.ts
 * instanceLocksReleaseDead), as spinLock would take it: true if `holder` held
 * it, and this instance holds it now (spinUnlock it).
 */
export function spinTakeOver(ptr: usize, holder: u32): bool {
  return atomic.cmpxchg<u32>(ptr, holder, spinHolder) == holder;
}

/**
 * Take a whole lock-free stack (the word at `stack`: its top, pushed onto with
 * CAS) into the word at `name`, a record a reap reads: the name is stored before
 * the taking CAS, and cleared before a retry's back edge, so the stack's items
 * are in one of the two words at every moment a worker may be stopped, and never
 * in both once the CAS failed. Returns the top taken (also left in `name`).
 * Inlined: no call between the name and the CAS.
 */
// @ts-ignore: decorator
@inline export function stackTakeNamed(stack: usize, name: usize): u32 {
  while (true) {
    const top = atomic.load<u32>(stack);
    atomic.store<u32>(name, top);
    if (atomic.cmpxchg<u32>(stack, top, 0) == top) return top;
    atomic.store<u32>(name, 0);
  }
}
