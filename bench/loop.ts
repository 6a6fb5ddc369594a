// The single-thread pair loops driven from JS (the JS twin of bench/wasm/loops.ts: same patterns,
// same xorshift32 stream, same live-byte accounting). One source for every JS-driven allocator:
// thi.ng MemPool, ftheap's raw exports and ftheap's facade; see freshLoop() for why each cell
// gets its own compiled copy.

export type Malloc = (size: number) => number;
export type Free = (ptr: number) => unknown;

/** Pattern ids shared with the Wasm loops. */
export const PATTERNS = { lifo32: 0, 'ring8-256': 1, 'rand16-1024': 2, em1000: 3 } as const;
export type Workload = keyof typeof PATTERNS;

export interface LoopResult {
  /** wall time of the n timed pairs (fill and drain excluded) */
  ns: number;
  /** peak live requested bytes */
  peakLive: number;
}

/**
 * Fills the ring (untimed), runs n timed malloc+free pairs, drains (untimed).
 * `view` returns a byte view of the allocator's memory; it is re-read only when a pointer falls
 * past the current view (memory grew). Must stay self-contained (no outer references).
 */
export function jsPairs(pattern: number, n: number, seed: number, malloc: Malloc, free: Free,
  view: () => Uint8Array): LoopResult {
  const SLOTS = 1024;
  const ptrs = new Uint32Array(SLOTS), sizes = new Uint32Array(SLOTS);
  let u8 = view();
  let x = seed >>> 0 || 1, live = 0, peak = 0;
  if (pattern !== 0) {
    for (let slot = 0; slot < SLOTS; slot++) {
      let size = 1000 + slot;
      if (pattern !== 3) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        size = pattern === 1 ? 8 + x % 249 : 16 + x % 1009;
      }
      const p = malloc(size) >>> 0;
      if (p === 0) throw new Error(`malloc(${size}) failed`);
      if (p >= u8.length) u8 = view();
      u8[p] = slot;
      ptrs[slot] = p; sizes[slot] = size; live += size;
    }
    peak = live;
  }
  const t0 = performance.now();
  if (pattern === 0) {
    for (let i = 0; i < n; i++) {
      const p = malloc(32) >>> 0;
      if (p === 0) throw new Error('malloc(32) failed');
      if (p >= u8.length) u8 = view();
      u8[p] = i;
      live += 32; if (live > peak) peak = live;
      free(p);
      live -= 32;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let slot = i & (SLOTS - 1);
      if (pattern === 2) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; slot = x & (SLOTS - 1); }
      free(ptrs[slot]);
      live -= sizes[slot];
      let size = 1000 + slot;
      if (pattern === 1) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; size = 8 + x % 249; }
      else if (pattern === 2) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; size = 16 + x % 1009; }
      const p = malloc(size) >>> 0;
      if (p === 0) throw new Error(`malloc(${size}) failed`);
      if (p >= u8.length) u8 = view();
      u8[p] = i;
      ptrs[slot] = p; sizes[slot] = size;
      live += size; if (live > peak) peak = live;
    }
  }
  const ns = (performance.now() - t0) * 1e6;
  if (pattern !== 0) for (let slot = 0; slot < SLOTS; slot++) free(ptrs[slot]);
  return { ns, peakLive: peak };
}

/**
 * A separately compiled copy of jsPairs. V8 keeps type feedback per function, so one shared
 * copy would see several malloc/free targets and go megamorphic; one copy per benchmark cell
 * keeps each call site monomorphic, as it would be in an application.
 */
export function freshLoop(): typeof jsPairs {
  return new Function(`return (${jsPairs.toString()})`)();
}
