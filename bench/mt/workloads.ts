// The multi-threaded workloads (bench/wasm/mt.ts and its C twin bench/c/mt.c), after the
// programs of mimalloc-bench and emscripten's malloc-multithreading test. Written for this
// project from their descriptions; codes must match the Wasm and C sources.
// Sizes per run are in `units`; a cell first runs `probeUnits` units (the probe), then sizes its
// runs (up or down; quick runs only down; never below `minUnits`) so that one run takes about the
// target time.

export interface Workload {
  id: string;
  /** workload code in mt.ts / mt.c */
  code: number;
  /** thread-local (no cross-thread frees after start-up): the 2-worker speedup target applies */
  local: boolean;
  /** what one op is */
  op: string;
  /** one line: what it does */
  what: string;
  /** p0..p2 of mt_setup, for `threads` workers */
  params: (quick: boolean, threads: number) => [number, number, number];
  /** units per run before the probe sizes them (quick runs: never more) */
  units: (quick: boolean) => number;
  /** the probe's size */
  probeUnits: (quick: boolean) => number;
  /** the smallest run that still is the workload */
  minUnits: number;
  /** the driver runs one unit per call with a barrier and a thread restart in between (mstress) */
  rounds?: boolean;
}

export const WORKLOADS: Workload[] = [
  {
    id: 'alloc-test', code: 0, local: true, op: 'malloc+free',
    what: 'random slot replacement in 65,536 slots split across the workers (as the original splits 2^18), log-uniform sizes 8..1023 B, every byte written',
    params: (q, t) => [Math.floor((q ? 4096 : 65536) / t), 0, 0],
    units: (q) => (q ? 20 : 4000), probeUnits: (q) => (q ? 10 : 20), minUnits: 1,
  },
  {
    id: 'larson', code: 1, local: false, op: 'malloc+free',
    what: 'random slot replacement in 5,000 slots per worker, sizes 8..1000 B; every 10,000 ops the slot array moves to the next worker (its blocks are freed there)',
    params: (q) => [q ? 500 : 5000, q ? 1000 : 10000, 0],
    units: (q) => (q ? 2 : 100), probeUnits: () => 2, minUnits: 2,
  },
  {
    id: 'xmalloc-test', code: 2, local: false, op: 'malloc+free',
    what: 'batches of 4,096 × 64 B produced for the next worker, which frees them (all frees cross-thread with 2+ workers); ≤ 16 batches in flight',
    params: (q) => [q ? 256 : 4096, 64, q ? 4 : 16],
    units: (q) => (q ? 8 : 250), probeUnits: (q) => (q ? 4 : 8), minUnits: 2,
  },
  {
    id: 'cache-scratch', code: 3, local: true, op: 'malloc(8) + 800 byte writes + free',
    what: 'each worker frees an 8 B object the main thread allocated (neighbours share a cache line), then loops malloc(8), 100 rounds of 8 writes+reads, free',
    params: () => [100, 8, 0],
    units: (q) => (q ? 4 : 2000), probeUnits: (q) => (q ? 2 : 20), minUnits: 1,
  },
  {
    id: 'mstress', code: 4, local: false, op: 'malloc+free',
    what: 'rounds of 20,000 + 10,000 retained power-of-two items (8 B..512 B, 1 % ×100, 0.1 % ×1000, 0.01 % ×10000), pointers swapped through a 1,000-slot shared array; a new thread every round',
    params: (q) => [q ? 2000 : 20000, 0, 0],
    units: (q) => (q ? 2 : 8), probeUnits: () => 2, minUnits: 2, rounds: true,
  },
  {
    id: 'rptest', code: 5, local: false, op: 'malloc+free',
    what: 'loops of 1,000 allocations + 100 replacements, Pareto sizes 8..16,000 B; every second loop\'s set is freed by the next worker',
    params: () => [1000, 100, 16000],
    units: (q) => (q ? 4 : 400), probeUnits: (q) => (q ? 2 : 4), minUnits: 1,
  },
  {
    id: 'glibc-simple', code: 6, local: true, op: 'malloc+free',
    what: '25, 100, 400, 1,600 live blocks of 16/32/64 B, freed half FIFO, half LIFO (19,200 ops per unit)',
    params: () => [0, 0, 0],
    units: (q) => (q ? 1 : 60), probeUnits: () => 1, minUnits: 1,
  },
  {
    id: 'glibc-thread', code: 7, local: true, op: 'malloc+free',
    what: 'random slot replacement in 1,024 slots, inverse-square sizes 4..32,768 B',
    params: () => [1024, 0, 0],
    units: (q) => (q ? 4 : 1500), probeUnits: (q) => (q ? 2 : 10), minUnits: 1,
  },
  {
    id: 'malloc-mt', code: 8, local: true, op: 'malloc+free',
    what: 'emscripten\'s malloc-multithreading pattern: a ring of 1,024 slots, free the slot, malloc(1000 + slot), write a byte',
    params: () => [0, 0, 0],
    units: (q) => (q ? 4 : 2500), probeUnits: (q) => (q ? 2 : 10), minUnits: 1,
  },
];

/** Worker `w`'s PRNG seed (the C harness computes the same). */
export function seedFor(seed: number, w: number): number {
  return ((seed ^ Math.imul(w + 1, 0x9E3779B9)) >>> 0) || 1;
}

/**
 * Units for the timed runs after a probe of `probeUnits` units took `probeNs` (the C harness does
 * the same): enough for `targetNs` (rounded up) with `scaleUp`, else `units` cut down to it.
 */
export function fitUnits(units: number, probeUnits: number, minUnits: number, probeNs: number, targetNs: number, scaleUp = false): number {
  const perUnit = probeNs / probeUnits;
  if (scaleUp) return perUnit > 0 ? Math.max(minUnits, Math.min(4e9, Math.ceil(targetNs / perUnit))) : units;
  const fit = perUnit > 0 ? targetNs / perUnit : units;
  return fit < units ? Math.max(minUnits, Math.floor(fit)) : units;
}

/**
 * Warm-ups and timed runs for a cell whose runs take `runNs` each: as asked, except that a cell
 * whose runs take over 4 × target skips its warm-ups (only very slow allocators: thi.ng on
 * mstress and larson). The number of timed runs is never cut.
 */
export function fitRuns(runs: number, warmups: number, runNs: number, targetNs: number): { runs: number; warmups: number } {
  return { runs, warmups: runNs > 4 * targetNs ? 0 : warmups };
}

/** What a cell settled on in its first pass: the size of its runs and how many it makes in all. */
export interface Plan {
  units: number;
  runs: number;
  warmups: number;
}

/** Timed runs of pass `p` of `passes` when a cell makes `total` runs in all (5 over 3: 2, 2, 1). */
export function runsInPass(total: number, passes: number, p: number): number {
  return Math.floor((total + passes - 1 - p) / passes);
}
