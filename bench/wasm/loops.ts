// Single-thread malloc+free pair loops that run entirely inside Wasm (bench/single-thread.ts).
// Template: bench/build-wasm.mjs copies this file beside one `alloc.ts` shim per allocator
// (bmalloc/bfree), so ftheap and AssemblyScript's TLSF run the very same loop code.
// No strings, arrays, `new`, `throw` or static data: the ring (1024 × [ptr, size]) lives in
// memory obtained from the allocator under test; state between calls is in Wasm globals.
// Patterns (must match bench/loop.ts): 0 lifo32, 1 ring8-256, 2 rand16-1024, 3 em1000.
import { bmalloc, bfree } from "./alloc";

// @ts-ignore: decorator
@inline const LIFO = 0;
// @ts-ignore: decorator
@inline const RING8 = 1;
// @ts-ignore: decorator
@inline const RAND = 2;
// @ts-ignore: decorator
@inline const SLOTS: u32 = 1024;

let ring: usize = 0; // SLOTS entries of [ptr: u32, size: u32]
let rng: u32 = 1;    // xorshift32 state
let live: u32 = 0;   // live requested bytes
let peak: u32 = 0;   // peak of `live`

// @ts-ignore: decorator
@inline function xorshift(x: u32): u32 {
  x ^= x << 13; x ^= x >> 17; return x ^ (x << 5);
}

// @ts-ignore: decorator
@inline function place(e: usize, size: u32, tag: u32): u32 {
  const p = bmalloc(<usize>size);
  if (!p) unreachable();
  store<u8>(p, <u8>tag);
  store<u32>(e, <u32>p);
  store<u32>(e, size, 4);
  return size;
}

// One timed batch of n pairs; `pattern` is a constant at every call site, so each copy is specialised.
// @ts-ignore: decorator
@inline function pairs(pattern: i32, n: u32): void {
  let x = rng, lv = live, pk = peak;
  if (pattern == LIFO) {
    for (let i: u32 = 0; i < n; i++) {
      const p = bmalloc(32);
      if (!p) unreachable();
      store<u8>(p, <u8>i);
      lv += 32; if (lv > pk) pk = lv;
      bfree(p);
      lv -= 32;
    }
  } else {
    const r = ring;
    for (let i: u32 = 0; i < n; i++) {
      let slot = i & (SLOTS - 1);
      if (pattern == RAND) { x = xorshift(x); slot = x & (SLOTS - 1); }
      const e = r + (<usize>slot << 3);
      bfree(<usize>load<u32>(e));
      lv -= load<u32>(e, 4);
      let size: u32 = 1000 + slot;
      if (pattern == RING8) { x = xorshift(x); size = 8 + x % 249; }
      else if (pattern == RAND) { x = xorshift(x); size = 16 + x % 1009; }
      lv += place(e, size, i);
      if (lv > pk) pk = lv;
    }
  }
  rng = x; live = lv; peak = pk;
}

/** Seeds the PRNG and fills the ring (not timed). */
export function bench_fill(pattern: i32, seed: u32): void {
  rng = seed ? seed : 1; live = 0; peak = 0;
  if (pattern == LIFO) return;
  ring = bmalloc(<usize>SLOTS << 3);
  if (!ring) unreachable();
  let x = rng, lv: u32 = 0;
  for (let slot: u32 = 0; slot < SLOTS; slot++) {
    let size: u32 = 1000 + slot;
    if (pattern == RING8) { x = xorshift(x); size = 8 + x % 249; }
    else if (pattern == RAND) { x = xorshift(x); size = 16 + x % 1009; }
    lv += place(ring + (<usize>slot << 3), size, slot);
  }
  rng = x; live = lv; peak = lv;
}

/** Runs n timed malloc+free pairs of `pattern` on the filled ring. */
export function bench_run(pattern: i32, n: u32): void {
  if (pattern == LIFO) pairs(LIFO, n);
  else if (pattern == RING8) pairs(RING8, n);
  else if (pattern == RAND) pairs(RAND, n);
  else pairs(3, n);
}

/** Frees the ring and everything in it (not timed). */
export function bench_drain(): void {
  if (ring) {
    for (let slot: u32 = 0; slot < SLOTS; slot++) bfree(<usize>load<u32>(ring + (<usize>slot << 3)));
    bfree(ring);
    ring = 0;
  }
  live = 0;
}

/** Peak live requested bytes since the last bench_fill. */
export function bench_peak_live(): u32 { return peak; }
