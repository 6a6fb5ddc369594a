/**
 * Types and options of the public API. No code lives here.
 * @module
 */

/**
 * Heap tags: every thread has one heap per tag in use, and a page only ever holds
 * blocks of one tag. 0..3 are reserved, 4..15 are for users.
 */
export const Tag = {
  /** Raw bytes (the default). */
  MEM: 0,
  /** Objects the cycle collector does not track. */
  OBJECT: 1,
  /** Objects the cycle collector tracks. */
  GC: 2,
  /** GC objects with a pre-header. */
  GC_PRE: 3,
  /** The first tag free for users (4..15). */
  USER: 4,
} as const;

/** A heap tag, 0..15. */
export type TagValue = number;

/** Options of {@link Runtime.create}. */
export interface RuntimeOptions {
  /**
   * Initial size of the shared memory, in bytes (rounded up to 64 KiB pages).
   * @defaultValue 16 MiB
   */
  initialMemory?: number;
  /**
   * Maximum size of the shared memory, in bytes; at most 4 GiB. Browsers reserve
   * this much address space up front.
   * @defaultValue 1 GiB
   */
  maximumMemory?: number;
  /**
   * Use the debug build of the core: freed blocks are filled with 0xDD and fresh
   * ones with 0xD0. Slower.
   * @defaultValue false
   */
  debug?: boolean;
  /**
   * A compiled module to use instead of the packaged one (it must import
   * `env.memory` and export the ftheap ABI, e.g. a build with extra exports).
   * @defaultValue the packaged `build/ftheap.wasm`
   */
  module?: WebAssembly.Module;
}

/**
 * What {@link Runtime.share} returns: structured-cloneable, so it can be posted
 * to a worker, which passes it to {@link Runtime.join}.
 */
export interface RuntimeHandle {
  readonly kind: 'ftheap-runtime';
  readonly abi: number;
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly maximumPages: number;
}

/** One size class in {@link AllocatorStats}. */
export interface SizeClassStats {
  /** Bin number (1..68). */
  bin: number;
  /** Bytes per block. */
  blockSize: number;
  /** Pages holding blocks of this size. */
  pages: number;
  /** Blocks handed out and not yet freed. */
  blocksUsed: number;
  /** `blocksUsed * blockSize`. */
  bytesUsed: number;
  /** Blocks the pages have made ready (used or free). */
  blocksCapacity: number;
  /** Empty pages kept for reuse for a few slow-path rounds. */
  pagesRetained: number;
}

/** A plain-JSON snapshot of the allocator (exact when threads are quiescent). */
export interface AllocatorStats {
  /** Size classes with at least one page. */
  sizeClasses: SizeClassStats[];
  /** Blocks above 2 MiB, each in a segment of its own. */
  huge: { blocks: number; bytes: number };
  /** Totals over size classes and huge blocks. */
  totals: { blocksUsed: number; bytesUsed: number; pages: number };
  /**
   * Segments (of the filtered thread, if any): `normal` 4 MiB segments and `huge`
   * ones; runtime-wide, `unitsLive` 4 MiB units in use and `unitsFree` in the pool.
   */
  segments: { normal: number; huge: number; unitsLive: number; unitsFree: number };
  /** Bytes. `committed`: segment headers + pages' made-ready blocks + huge blocks. */
  memory: {
    current: number;
    highWater: number;
    maximum: number;
    committed: number;
    committedPeak: number;
  };
  /** Attached threads of the runtime. */
  threads: { live: number };
}
