// Multi-threaded workloads after the programs of mimalloc-bench, run entirely inside Wasm
// (driven by bench/mimalloc-bench.ts; the C twin for emscripten is bench/c/mt.c, same streams).
// Template: bench/build-wasm.mjs copies this file beside one `alloc.ts` shim per allocator
// (bmalloc/bfree), so ftheap, AssemblyScript's TLSF and thi.ng (imported) run the very same code.
//
// No strings, arrays, `new`, `throw` or static data: per-thread state lives in Wasm globals
// (one instance per thread), shared state in a context block (`ctx`) the coordinating thread
// allocates from the allocator under test (mt_ctx_new). Cross-thread hand-offs go through
// single-producer/single-consumer rings in that block (worker w sends to w+1 mod T).
//
// Workloads (ids must match bench/mt/workloads.ts and bench/c/mt.c); one op = one allocation
// (and the free that eventually matches it), except cache-scratch (one op = malloc, writes, free):
//   0 alloc-test      random slot replacement, log-uniform sizes 8..1023, whole block written
//   1 larson          random slot replacement, sizes 8..1000; every `epoch` ops the slot array
//                     moves to the next worker, which frees what the previous one allocated
//   2 xmalloc-test    64-byte objects in batches of 4096, produced for the next worker, freed there
//   3 cache-scratch   each worker frees an 8-byte object the coordinator allocated (neighbours on
//                     one cache line), then loops malloc(8) / write it W×8 times / free
//   4 mstress         rounds of mixed power-of-two sizes (rare ×100, ×1000, ×10000), pointers
//                     swapped through a 1000-slot shared array; threads restart every round
//   5 rptest          loops of 1000 allocations + 100 replacements, Pareto sizes 8..16000; every
//                     second loop's set goes to the next worker, which frees it
//   6 glibc-simple    n live blocks (25, 100, 400, 1600) of 16/32/64 B, freed half FIFO, half LIFO
//   7 glibc-thread    1024 slots, random replacement, inverse-square sizes 4..32768
//   8 malloc-mt       emscripten's malloc-multithreading: a ring of 1024, malloc(1000 + slot)
import { bmalloc, bfree } from "./alloc";

// @ts-ignore: decorator
@inline const ALLOC_TEST = 0;
// @ts-ignore: decorator
@inline const LARSON = 1;
// @ts-ignore: decorator
@inline const XMALLOC = 2;
// @ts-ignore: decorator
@inline const CACHE_SCRATCH = 3;
// @ts-ignore: decorator
@inline const MSTRESS = 4;
// @ts-ignore: decorator
@inline const RPTEST = 5;
// @ts-ignore: decorator
@inline const GLIBC_SIMPLE = 6;
// @ts-ignore: decorator
@inline const GLIBC_THREAD = 7;
// @ts-ignore: decorator
@inline const MALLOC_MT = 8;

// ---- the context block (bytes) -----------------------------------------------------------
// @ts-ignore: decorator
@inline const C_LIVE: usize = 64;        // i32: live requested bytes, all threads (flushed deltas)
// @ts-ignore: decorator
@inline const C_PEAK: usize = 68;        // i32: peak of C_LIVE
// @ts-ignore: decorator
@inline const C_OBJS: usize = 128;       // cache-scratch: one object per worker (max 16)
// @ts-ignore: decorator
@inline const C_RINGS: usize = 256;      // T rings of RING_BYTES
// @ts-ignore: decorator
@inline const RING_BYTES: usize = 384;   // head (producer) +0, tail (consumer) +64, entries +128
// @ts-ignore: decorator
@inline const RCAP: u32 = 64;            // ring entries (power of two)
// @ts-ignore: decorator
@inline const TRANSFERS: u32 = 1000;     // mstress's shared transfer array
// @ts-ignore: decorator
@inline const MAX_THREADS: u32 = 16;
// @ts-ignore: decorator
@inline const FLUSH: i32 = 16384;        // flush live-byte deltas beyond this many bytes

// ---- this thread's state -----------------------------------------------------------------
let ctx: usize = 0;
let wl: i32 = 0;
let me: u32 = 0;
let nthreads: u32 = 1;
let rng: u32 = 1;
let p0: u32 = 0;
let p1: u32 = 0;
let p2: u32 = 0;
let arr: usize = 0;      // the workload's slot table / pointer array
let arr2: usize = 0;     // a second one (mstress: retained)
let pos: u32 = 0;        // position in the current epoch (larson)
let loops: u32 = 0;      // loops run so far (rptest)
let lv: i32 = 0;         // live requested bytes this thread allocated minus those it freed
let pk: i32 = 0;         // peak of lv (exact when the workload runs on one thread)
let pend: i32 = 0;       // lv change not yet added to C_LIVE
let sink: u32 = 0;       // keeps cache-scratch's reads alive

// @ts-ignore: decorator
@inline function xorshift(x: u32): u32 {
  x ^= x << 13; x ^= x >> 17; return x ^ (x << 5);
}
// @ts-ignore: decorator
@inline function next(): u32 { const x = xorshift(rng); rng = x; return x; }
/** Uniform in 0..n-1 (multiply-shift, no division). */
// @ts-ignore: decorator
@inline function below(n: u32): u32 { return <u32>((<u64>next() * <u64>n) >> 32); }
// @ts-ignore: decorator
@inline function chance(pct: u32): bool { return below(100) < pct; }

function flushLive(): void {
  const now = atomic.add<i32>(ctx + C_LIVE, pend) + pend;
  pend = 0;
  let seen = atomic.load<i32>(ctx + C_PEAK);
  while (now > seen) {
    const prev = atomic.cmpxchg<i32>(ctx + C_PEAK, seen, now);
    if (prev == seen) break;
    seen = prev;
  }
}

// @ts-ignore: decorator
@inline function track(delta: i32): void {
  const l = lv + delta;
  lv = l;
  if (l > pk) pk = l;
  const p = pend + delta;
  pend = p;
  if (<u32>(p + FLUSH) > <u32>(FLUSH << 1)) flushLive();
}

// @ts-ignore: decorator
@inline function alloc(size: u32): usize {
  const p = bmalloc(<usize>size);
  if (!p) unreachable();
  track(<i32>size);
  return p;
}
// @ts-ignore: decorator
@inline function release(p: usize, size: u32): void {
  bfree(p);
  track(-<i32>size);
}

// ---- rings -------------------------------------------------------------------------------
// @ts-ignore: decorator
@inline function ringOf(w: u32): usize { return ctx + C_RINGS + <usize>w * RING_BYTES; }

/** Push v on ring r if it holds fewer than `cap` entries (producer side). */
function ringPush(r: usize, v: u32, cap: u32): bool {
  const head = atomic.load<u32>(r);
  if (head - atomic.load<u32>(r + 64) >= cap) return false;
  store<u32>(r + 128 + (<usize>(head & (RCAP - 1)) << 2), v);
  atomic.store<u32>(r, head + 1);   // publishes the entry; partner: ringPop's head load
  return true;
}

/** Pop from ring r, 0 when empty (consumer side). */
function ringPop(r: usize): u32 {
  const tail = atomic.load<u32>(r + 64);
  if (atomic.load<u32>(r) == tail) return 0;
  const v = load<u32>(r + 128 + (<usize>(tail & (RCAP - 1)) << 2));
  atomic.store<u32>(r + 64, tail + 1);
  return v;
}

/** Spin, then sleep briefly (only reached with 2+ threads, on shared memory). */
function pause(addr: usize, spins: u32): void {
  if (spins > 2000) memory.atomic.wait32(addr, atomic.load<i32>(addr), 20000);
}

function ringPopWait(r: usize): u32 {
  let spins: u32 = 0;
  while (true) {
    const v = ringPop(r);
    if (v) return v;
    pause(r, ++spins);
  }
}

// ---- sizes -------------------------------------------------------------------------------
/** alloc-test: log-uniform-ish 8..1023 (each octave equally likely, uniform within). */
// @ts-ignore: decorator
@inline function sizeAllocTest(): u32 {
  const x = next();
  const base: u32 = 8 << below(7);
  return base + ((x >> 16) & (base - 1));
}
/** Pareto (alpha 1): P(size > s) = min/s, clipped at max. */
// @ts-ignore: decorator
@inline function sizePareto(min: u32, max: u32): u32 {
  const s = (min << 20) / ((next() >> 12) + 1);   // min < 4096
  return s < max ? s : max;
}

// ---- setup / run / drain per workload -----------------------------------------------------

/** Bytes of the context block for `threads` workers. */
export function mt_ctx_size(threads: u32): u32 {
  return <u32>(C_RINGS + <usize>threads * RING_BYTES + (<usize>TRANSFERS << 2));
}

/** Coordinator: a zeroed context block for `threads` workers (0 on bad input). */
export function mt_ctx_new(workload: i32, threads: u32): usize {
  if (threads == 0 || threads > MAX_THREADS) return 0;
  const c = bmalloc(<usize>mt_ctx_size(threads));
  if (!c) unreachable();
  return mt_ctx_init(c, workload, threads);
}

/** Coordinator: make the context block at `c` (mt_ctx_size bytes the caller provides). */
export function mt_ctx_init(c: usize, workload: i32, threads: u32): usize {
  memory.fill(c, 0, mt_ctx_size(threads));
  store<i32>(c, workload);
  store<u32>(c, threads, 4);
  return c;
}

/** Coordinator, before every run: reset the counters; cache-scratch: the objects to hand over. */
export function mt_prepare(c: usize): void {
  atomic.store<i32>(c + C_LIVE, 0);
  atomic.store<i32>(c + C_PEAK, 0);
  const t = load<u32>(c, 4);
  if (load<i32>(c) == CACHE_SCRATCH) {
    for (let w: u32 = 0; w < t; w++) {
      const p = bmalloc(8);
      if (!p) unreachable();
      store<u64>(p, 0);
      atomic.store<u32>(c + C_OBJS + (<usize>w << 2), <u32>p);
    }
  }
}

/** Coordinator, after every run (workers drained): what is left in shared places. */
export function mt_finish(c: usize): void {
  const t = load<u32>(c, 4);
  for (let w: u32 = 0; w < t; w++) {
    const p = atomic.xchg<u32>(c + C_OBJS + (<usize>w << 2), 0);
    if (p) bfree(<usize>p);
  }
  for (let i: u32 = 0; i < TRANSFERS; i++) {
    const p = atomic.xchg<u32>(c + C_RINGS + <usize>t * RING_BYTES + (<usize>i << 2), 0);
    if (p) bfree(<usize>p);
  }
  memory.fill(c + C_RINGS, 0, <usize>t * RING_BYTES);
}

/** Coordinator: free the context block. */
export function mt_ctx_free(c: usize): void { bfree(c); }

/** Peak live requested bytes: this thread's exact peak, and the flushed all-threads peak. */
export function mt_peak_local(): i32 { return pk; }
export function mt_peak_global(c: usize): i32 { return atomic.load<i32>(c + C_PEAK); }
export function mt_sink(): u32 { return sink; }

/**
 * Worker `w` of `threads`: set up its state (not timed): slot tables filled, arrays made.
 * p0..p2 are the workload's parameters (bench/mt/workloads.ts).
 */
export function mt_setup(c: usize, w: u32, threads: u32, seed: u32, a: u32, b: u32, d: u32): void {
  ctx = c; wl = load<i32>(c); me = w; nthreads = threads; rng = seed ? seed : 1;
  p0 = a; p1 = b; p2 = d;
  lv = 0; pk = 0; pend = 0; pos = 0; loops = 0; arr = 0; arr2 = 0;
  if (wl == ALLOC_TEST) {
    arr = alloc(p0 << 3);
    for (let s: u32 = 0; s < p0; s++) {
      const size = sizeAllocTest();
      const p = alloc(size);
      memory.fill(p, <u8>s, size);
      store<u32>(arr + (<usize>s << 3), <u32>p);
      store<u32>(arr + (<usize>s << 3), size, 4);
    }
  } else if (wl == LARSON) {
    arr = alloc(p0 << 3);
    for (let s: u32 = 0; s < p0; s++) {
      const size = 8 + below(993);
      const p = alloc(size);
      store<u8>(p, <u8>s); store<u8>(p + size - 1, <u8>s);
      store<u32>(arr + (<usize>s << 3), <u32>p);
      store<u32>(arr + (<usize>s << 3), size, 4);
    }
  } else if (wl == GLIBC_SIMPLE) {
    arr = alloc(1600 << 2);
  } else if (wl == GLIBC_THREAD) {
    arr = alloc(p0 << 2);
    for (let s: u32 = 0; s < p0; s++) {
      const size = sizePareto(4, 32768);
      const p = alloc(size);
      store<u8>(p + size - 1, <u8>s); store<u32>(p, size);
      store<u32>(arr + (<usize>s << 2), <u32>p);
    }
  } else if (wl == MALLOC_MT) {
    arr = alloc(1024 << 2);
    for (let s: u32 = 0; s < 1024; s++) {
      const p = alloc(1000 + s);
      store<u8>(p, <u8>s);
      store<u32>(arr + (<usize>s << 2), <u32>p);
    }
  }
  flushLive();
}

/** Worker: `units` units of the workload (timed); returns the ops done. */
export function mt_run(units: u32): u32 {
  let ops: u32 = 0;
  if (wl == ALLOC_TEST) ops = runAllocTest(units * 100);
  else if (wl == LARSON) ops = runLarson(units);
  else if (wl == XMALLOC) ops = runXmalloc(units);
  else if (wl == CACHE_SCRATCH) ops = runCacheScratch(units * 100);
  else if (wl == MSTRESS) ops = runMstressRound();
  else if (wl == RPTEST) ops = runRptest(units);
  else if (wl == GLIBC_SIMPLE) ops = runGlibcSimple(units);
  else if (wl == GLIBC_THREAD) ops = runGlibcThread(units * 1000);
  else if (wl == MALLOC_MT) ops = runMallocMt(units * 1000);
  flushLive();
  return ops;
}

/**
 * Worker: drop what it holds without freeing (thi.ng only: its pool is then reset, since
 * freeing 65,536 blocks one by one into a sorted free list takes minutes; not timed either way).
 */
export function mt_forget(): void {
  arr = 0;
  flushLive();
}

/** Worker, after all workers finished the run: free everything it holds or was sent. */
export function mt_drain(): void {
  if (wl == ALLOC_TEST || wl == LARSON) {
    for (let s: u32 = 0; s < p0; s++) {
      const e = arr + (<usize>s << 3);
      release(<usize>load<u32>(e), load<u32>(e, 4));
    }
    release(arr, p0 << 3);
  } else if (wl == XMALLOC) {
    let b = ringPop(ringOf(me));
    while (b) { freeBatch(<usize>b); b = ringPop(ringOf(me)); }
  } else if (wl == RPTEST) {
    let s = ringPop(ringOf(me));
    while (s) { freeSet(<usize>s); s = ringPop(ringOf(me)); }
  } else if (wl == GLIBC_SIMPLE) {
    release(arr, 1600 << 2);
  } else if (wl == GLIBC_THREAD) {
    for (let s: u32 = 0; s < p0; s++) {
      const p = <usize>load<u32>(arr + (<usize>s << 2));
      release(p, load<u32>(p));
    }
    release(arr, p0 << 2);
  } else if (wl == MALLOC_MT) {
    for (let s: u32 = 0; s < 1024; s++) release(<usize>load<u32>(arr + (<usize>s << 2)), 1000 + s);
    release(arr, 1024 << 2);
  }
  arr = 0;
  flushLive();
}

// ---- 0 alloc-test --------------------------------------------------------------------------
function runAllocTest(n: u32): u32 {
  const t = arr;
  for (let i: u32 = 0; i < n; i++) {
    const e = t + (<usize>below(p0) << 3);
    release(<usize>load<u32>(e), load<u32>(e, 4));
    const size = sizeAllocTest();
    const p = alloc(size);
    memory.fill(p, <u8>i, size);
    store<u32>(e, <u32>p);
    store<u32>(e, size, 4);
  }
  return n;
}

// ---- 1 larson ----------------------------------------------------------------------------
// p0: slots, p1: ops per epoch. Every worker runs the same number of epochs, so every
// hand-off finds its partner.
function runLarson(epochs: u32): u32 {
  const n = epochs * p1;
  for (let i: u32 = 0; i < n; i++) {
    const e = arr + (<usize>below(p0) << 3);
    release(<usize>load<u32>(e), load<u32>(e, 4));
    const size = 8 + below(993);
    const p = alloc(size);
    store<u8>(p, <u8>i); store<u8>(p + size - 1, <u8>i);
    store<u32>(e, <u32>p);
    store<u32>(e, size, 4);
    if (++pos == p1) {
      pos = 0;
      if (!ringPush(ringOf((me + 1) % nthreads), <u32>arr, RCAP)) unreachable();
      arr = <usize>ringPopWait(ringOf(me));
    }
  }
  return n;
}

// ---- 2 xmalloc-test ------------------------------------------------------------------------
// p0: objects per batch, p1: object size, p2: batches in flight per ring. `batches` batches are
// produced for the next worker and as many consumed from the previous one.
function freeBatch(b: usize): void {
  const n = p0, size = p1;
  for (let j: u32 = 0; j < n; j++) release(<usize>load<u32>(b + (<usize>j << 2)), size);
  release(b, n << 2);
}

function runXmalloc(batches: u32): u32 {
  const out = ringOf((me + 1) % nthreads), inc = ringOf(me);
  const n = p0, size = p1;
  let made: u32 = 0, freed: u32 = 0, spins: u32 = 0;
  while (made < batches || freed < batches) {
    let progress = false;
    if (made < batches && atomic.load<u32>(out) - atomic.load<u32>(out + 64) < p2) {
      const b = alloc(n << 2);
      for (let j: u32 = 0; j < n; j++) {
        const p = alloc(size);
        store<u32>(p, j); store<u32>(p, made, 4);
        store<u32>(b + (<usize>j << 2), <u32>p);
      }
      if (!ringPush(out, <u32>b, p2)) unreachable();
      made++;
      progress = true;
    }
    if (freed < batches) {
      const b = ringPop(inc);
      if (b) { freeBatch(<usize>b); freed++; progress = true; }
    }
    if (progress) spins = 0; else pause(inc, ++spins);
  }
  return batches * n;
}

// ---- 3 cache-scratch -----------------------------------------------------------------------
// p0: write rounds per object (8 bytes written and read back per round), p1: object size.
function runCacheScratch(n: u32): u32 {
  const given = atomic.xchg<u32>(ctx + C_OBJS + (<usize>me << 2), 0);
  if (given) bfree(<usize>given);
  const rounds = p0, size = p1;
  let acc = sink;
  for (let i: u32 = 0; i < n; i++) {
    const p = alloc(size);
    for (let r: u32 = 0; r < rounds; r++) {
      // 8 byte writes, each read back, summed as a tree: the shape clang gives the C twin
      store<u8>(p, <u8>r); const a0 = <u32>load<u8>(p);
      store<u8>(p, <u8>(r + 1), 1); const a1 = <u32>load<u8>(p, 1);
      store<u8>(p, <u8>(r + 2), 2); const a2 = <u32>load<u8>(p, 2);
      store<u8>(p, <u8>(r + 3), 3); const a3 = <u32>load<u8>(p, 3);
      store<u8>(p, <u8>(r + 4), 4); const a4 = <u32>load<u8>(p, 4);
      store<u8>(p, <u8>(r + 5), 5); const a5 = <u32>load<u8>(p, 5);
      store<u8>(p, <u8>(r + 6), 6); const a6 = <u32>load<u8>(p, 6);
      store<u8>(p, <u8>(r + 7), 7); const a7 = <u32>load<u8>(p, 7);
      acc += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    }
    release(p, size);
  }
  sink = acc;
  return n;
}

// ---- 4 mstress ---------------------------------------------------------------------------
// One round per call (the driver restarts the thread between rounds). p0: allocations per
// round, half as many retained ones on top. Items hold their byte size in the first word and
// 0xA5 in the last byte, checked when freed.
function allocItems(words: u32): usize {
  if (chance(1)) {
    if (chance(1)) words *= 10000;
    else if (chance(10)) words *= 1000;
    else words *= 100;
  }
  const size = words << 3;
  const p = alloc(size);
  store<u32>(p, size);
  memory.fill(p + 4, 0xA5, size - 4);
  return p;
}

function freeItems(p: usize): void {
  if (!p) return;
  const size = load<u32>(p);
  if (load<u8>(p + size - 1) != 0xA5) unreachable();   // a block handed out twice
  release(p, size);
}

function runMstressRound(): u32 {
  let allocs = p0, retain = p0 >> 1;
  const data = alloc(allocs << 2), kept = alloc(retain << 2);
  const transfer = ctx + C_RINGS + <usize>nthreads * RING_BYTES;
  let top: u32 = 0, keptTop: u32 = 0;
  while (allocs > 0 || retain > 0) {
    if (retain == 0 || (chance(50) && allocs > 0)) {
      allocs--;
      const p = allocItems(1 << below(5));
      store<u32>(data + (<usize>top << 2), <u32>p);
      top++;
    } else {
      const p = allocItems(1 << below(7));
      store<u32>(kept + (<usize>keptTop << 2), <u32>p);
      keptTop++;
      retain--;
    }
    if (chance(66) && top > 0) {
      const e = data + (<usize>below(top) << 2);
      freeItems(<usize>load<u32>(e));
      store<u32>(e, 0);
    }
    if (chance(25) && top > 0) {
      const e = data + (<usize>below(top) << 2);
      const slot = transfer + (<usize>below(TRANSFERS) << 2);
      const q = atomic.xchg<u32>(slot, load<u32>(e));
      store<u32>(e, q);
    }
  }
  for (let i: u32 = 0; i < keptTop; i++) freeItems(<usize>load<u32>(kept + (<usize>i << 2)));
  for (let i: u32 = 0; i < top; i++) freeItems(<usize>load<u32>(data + (<usize>i << 2)));
  release(kept, (p0 >> 1) << 2);
  release(data, p0 << 2);
  return p0 + (p0 >> 1);
}

/** mstress, between rounds: free half of this worker's share of the transfer slots (all if `all`). */
export function mt_mstress_sweep(all: bool): void {
  const transfer = ctx + C_RINGS + <usize>nthreads * RING_BYTES;
  for (let i = me; i < TRANSFERS; i += nthreads) {
    if (all || chance(50)) freeItems(<usize>atomic.xchg<u32>(transfer + (<usize>i << 2), 0));
  }
  flushLive();
}

// ---- 5 rptest ----------------------------------------------------------------------------
// p0: allocations per loop, p1: replacements per loop, p2: largest size. A set is a block of
// p0 pointers; its blocks hold their size in the first word.
function freeSet(s: usize): void {
  const n = p0;
  for (let j: u32 = 0; j < n; j++) {
    const p = <usize>load<u32>(s + (<usize>j << 2));
    release(p, load<u32>(p));
  }
  release(s, n << 2);
}

// @ts-ignore: decorator
@inline function rpBlock(j: u32): usize {
  const size = sizePareto(8, p2);
  const p = alloc(size);
  store<u8>(p + size - 1, <u8>j); store<u32>(p, size);
  return p;
}

function runRptest(n: u32): u32 {
  const out = ringOf((me + 1) % nthreads), inc = ringOf(me);
  for (let l: u32 = 0; l < n; l++) {
    let old = ringPop(inc);
    while (old) { freeSet(<usize>old); old = ringPop(inc); }
    const s = alloc(p0 << 2);
    for (let j: u32 = 0; j < p0; j++) store<u32>(s + (<usize>j << 2), <u32>rpBlock(j));
    for (let k: u32 = 0; k < p1; k++) {
      const e = s + (<usize>below(p0) << 2);
      const p = <usize>load<u32>(e);
      release(p, load<u32>(p));
      store<u32>(e, <u32>rpBlock(k));
    }
    if ((++loops & 1) == 0 && ringPush(out, <u32>s, RCAP)) continue;
    freeSet(s);
  }
  return n * (p0 + p1);
}

// ---- 6 glibc-simple ------------------------------------------------------------------------
// One unit = 19,200 allocations: for each count c in 25, 100, 400, 1600 and each size in
// 16, 32, 64, 1600/c rounds of c allocations, freed half in order, half in reverse.
function runGlibcSimple(units: u32): u32 {
  const t = arr;
  for (let u: u32 = 0; u < units; u++) {
    for (let c: u32 = 25; c <= 1600; c <<= 2) {
      for (let size: u32 = 16; size <= 64; size <<= 1) {
        for (let r: u32 = 1600 / c; r > 0; r--) {
          for (let i: u32 = 0; i < c; i++) {
            const p = alloc(size);
            store<u32>(p, i);
            store<u32>(t + (<usize>i << 2), <u32>p);
          }
          const half = c >> 1;
          for (let i: u32 = 0; i < half; i++) release(<usize>load<u32>(t + (<usize>i << 2)), size);
          for (let i = c; i > half; i--) release(<usize>load<u32>(t + (<usize>(i - 1) << 2)), size);
        }
      }
    }
  }
  return units * 19200;
}

// ---- 7 glibc-thread ------------------------------------------------------------------------
function runGlibcThread(n: u32): u32 {
  const t = arr, slots = p0;
  for (let i: u32 = 0; i < n; i++) {
    const e = t + (<usize>below(slots) << 2);
    const old = <usize>load<u32>(e);
    release(old, load<u32>(old));
    const size = sizePareto(4, 32768);
    const p = alloc(size);
    store<u8>(p + size - 1, <u8>i); store<u32>(p, size);
    store<u32>(e, <u32>p);
  }
  return n;
}

// ---- 8 malloc-mt (emscripten's test_malloc_multithreading pattern) ---------------------------
function runMallocMt(n: u32): u32 {
  const t = arr;
  for (let i: u32 = 0; i < n; i++) {
    const slot = i & 1023;
    const e = t + (<usize>slot << 2);
    release(<usize>load<u32>(e), 1000 + slot);
    const p = alloc(1000 + slot);
    store<u8>(p, <u8>i);
    store<u32>(e, <u32>p);
  }
  return n;
}
