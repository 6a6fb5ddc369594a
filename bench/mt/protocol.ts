// What the multi-threaded harness (harness.ts) and its workers (worker.ts) exchange, the Wasm
// exports of bench/wasm/mt.ts, and the barrier they share.

export type WasmKind = 'ftheap' | 'ftheap-calls' | 'tlsf' | 'thing';
/** ftheap's two builds: the fast paths inlined into the loops, or called (ft_malloc / ft_free). */
export const isFtheap = (k: WasmKind) => k === 'ftheap' || k === 'ftheap-calls';

export interface WorkerInit {
  kind: WasmKind;
  module: WebAssembly.Module;
  index: number;
  threads: number;
  /** the barrier's SharedArrayBuffer (two Int32 words) */
  ctl: SharedArrayBuffer;
  /** thi.ng: memory size in 64 KiB pages */
  thingPages?: number;
}

export type WorkerRequest =
  | { id: number; cmd: 'ctx'; workload: number; threads: number }
  | { id: number; cmd: 'prepare' | 'finish' | 'free-ctx'; ctx: number }
  | { id: number; cmd: 'peak' }
  | { id: number; cmd: 'run'; ctx: number; seed: number; params: [number, number, number]; units: number; rounds: boolean };

export interface WorkerReply {
  id: number;
  ready?: boolean;
  error?: string;
  ctx?: number;
  /** run: the worker's own timestamps (ns, process.hrtime) around its timed loop */
  t0?: number;
  t1?: number;
  ops?: number;
  /** run: this worker's exact peak of live bytes; the flushed all-threads peak */
  localPeak?: number;
  globalPeak?: number;
  /** peak memory of the allocator (worker 0; ftheap: committedPeak of the runtime) */
  heapPeak?: number;
}

/** Exports of bench/wasm/mt.ts (pointers are i32: `>>> 0`). */
export interface MtExports {
  mt_ctx_new(workload: number, threads: number): number;
  mt_ctx_init(ctx: number, workload: number, threads: number): number;
  mt_ctx_free(ctx: number): void;
  mt_ctx_size(threads: number): number;
  mt_forget(): void;
  mt_prepare(ctx: number): void;
  mt_finish(ctx: number): void;
  mt_setup(ctx: number, w: number, threads: number, seed: number, p0: number, p1: number, p2: number): void;
  mt_run(units: number): number;
  mt_drain(): void;
  mt_mstress_sweep(all: number): void;
  mt_peak_local(): number;
  mt_peak_global(ctx: number): number;
}

/**
 * All `n` parties arrive, then all go on. Spins (the parties run on their own cores), then
 * sleeps in 1 ms waits so that an oversubscribed machine still makes progress.
 * ctl[0] counts arrivals, ctl[1] is the generation.
 */
export function barrier(ctl: Int32Array, n: number): void {
  if (n <= 1) return;
  const gen = Atomics.load(ctl, 1);
  if (Atomics.add(ctl, 0, 1) === n - 1) {
    Atomics.store(ctl, 0, 0);
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    return;
  }
  let spins = 0;
  while (Atomics.load(ctl, 1) === gen) {
    if (++spins > 200_000) Atomics.wait(ctl, 1, gen, 1);
  }
}
