/**
 * Types and options of the public API (and the two tables of numbers users pass
 * or receive, taken from the core's generated ABI constants). No code lives here.
 * @module
 */
import { BRK_ASYNC_INTERRUPT, BRK_DELAYED_FREE, BRK_EXPLICIT_MERGE, BRK_GC_SCHEDULED, BRK_PLEASE_STOP, EV_STOPPED,
  EV_VERSION_CHANGED, EV_WOULD_BLOCK, TAG_GC, TAG_GC_PRE, TAG_MEM, TAG_OBJECT, TAG_USER } from './abi.gen.ts';

/**
 * Heap tags: every thread has one heap per tag in use, and a page only ever holds
 * blocks of one tag. 0..3 are reserved, 4..15 are for users.
 */
export const Tag = {
  /** Raw bytes (the default). */
  MEM: TAG_MEM,
  /** Objects the cycle collector does not track. */
  OBJECT: TAG_OBJECT,
  /** Objects the cycle collector tracks. */
  GC: TAG_GC,
  /** GC objects with a pre-header. */
  GC_PRE: TAG_GC_PRE,
  /** The first tag free for users (4..15). */
  USER: TAG_USER,
} as const;

/** A heap tag, 0..15. */
export type TagValue = number;

/** Options of {@link Runtime.create}. */
export interface RuntimeOptions {
  /**
   * Initial size of the shared memory, in bytes (rounded up to 64 KiB pages): at
   * least 128 KiB, at most `maximumMemory`. The memory grows as needed.
   * Anything else (not a number, 0, negative, too small, above the maximum) is
   * `EINVAL_OPTION`.
   * @defaultValue 16 MiB (or `maximumMemory`, if that is smaller)
   */
  initialMemory?: number;
  /**
   * Maximum size of the shared memory, in bytes (rounded up to 64 KiB pages):
   * from 8 MiB (the runtime area and one 4 MiB segment) to 4 GiB. Browsers
   * reserve this much address space up front. Anything else is `EINVAL_OPTION`;
   * beware `4 << 30`, which is 0 in JS (write `4 * 2 ** 30`).
   * @defaultValue 1 GiB
   */
  maximumMemory?: number;
  /**
   * Use the debug build of the core (`ftheap.debug.wasm`): freed blocks are
   * filled with 0xDD and fresh ones with 0xD0, and internal asserts are checked.
   * Slower. Ignored when {@link RuntimeOptions.module} is given.
   * @defaultValue false
   */
  debug?: boolean;
  /**
   * Keep `stats().memory.committed` and `committedPeak` exact at every moment.
   * By default each thread counts what it commits in its own record and adds it
   * to the runtime's counter once it passes ±256 KiB (no shared atomic on the
   * allocator's paths), so the peak can miss a rise and fall of up to 256 KiB per
   * thread between two of those — a large share of a small heap's figure. With
   * `exactPeak`, every commit (a page extended, a segment or huge block taken:
   * not a `malloc` that finds a free block) is one atomic add on the shared
   * counter and raises the peak: use it to measure memory (the benchmarks do).
   * @defaultValue false
   */
  exactPeak?: boolean;
  /**
   * Let threads take over each other's full pages (docs/design.md, "Page
   * sharing"). A page that fills up leaves its thread's heap and floats; a
   * thread that needs a page of that size class takes one into which blocks were
   * freed before it takes fresh memory. Where threads free each other's blocks
   * (a producer and a consumer, work handed between workers), each thread
   * otherwise keeps its own highest count of pages, and memory peaks at about
   * twice the live bytes; with sharing it stays nearer the live bytes. Only a
   * heap whose blocks other threads free lets its full pages float. The cost
   * there: a thread's frees into its own floating pages are remote frees (a
   * CAS) until it takes them back, and `visitBlocks` lists the blocks in the
   * pages a thread holds, which may include blocks other threads allocated (it
   * first takes back every floating page of its own segments). Pages of tags
   * that QSBR holds and of the GC's tags never float.
   * @defaultValue false
   */
  sharePages?: boolean;
  /**
   * The core to use instead of finding the packaged one:
   * - a compiled `WebAssembly.Module` (used as it is; e.g. a build with extra exports),
   * - its URL, a `URL` or a string (relative strings resolve against the page; in
   *   Node a string may also be a file path), fetched (Node: read) and compiled,
   * - its bytes (an `ArrayBuffer` or a view of one), compiled.
   *
   * By default the facade loads `new URL('../build/ftheap.wasm', import.meta.url)`
   * (the package's `dist/build/ftheap.wasm`), which Vite, webpack, Rollup and
   * Parcel see and emit as an asset. esbuild does not: copy
   * `node_modules/ftheap/dist/build/ftheap.wasm` next to your bundle and pass its URL.
   * Workers need nothing: {@link Runtime.join} takes the module from the handle.
   *
   * A missing file, an HTTP error, an HTML page (a dev server's fallback) or bytes
   * that are not an ftheap core are `ELOAD`, naming the URL.
   *
   * @example
   * ```ts
   * // esbuild: the .wasm copied next to the bundle
   * const rt = await Runtime.create({ module: new URL('./ftheap.wasm', import.meta.url) });
   * // bytes you have already
   * const rt2 = await Runtime.create({ module: await (await fetch('/static/ftheap.wasm')).arrayBuffer() });
   * ```
   * @defaultValue the packaged `dist/build/ftheap.wasm` (or `ftheap.debug.wasm` with {@link RuntimeOptions.debug})
   */
  module?: WebAssembly.Module | URL | string | ArrayBuffer | ArrayBufferView;
  /**
   * Whether this JS thread may block in `Atomics.wait`. Where it may not (a
   * browser's main thread), waits poll, and calls that would have to park throw
   * `EAGAIN` (use the async variants there).
   * @defaultValue false on a browser's main thread, true elsewhere
   */
  blocking?: boolean;
}

/** Options of {@link Runtime.attach} and {@link Domain.attach}. */
export interface AttachOptions {
  /**
   * Bytes of the thread's pystack ({@link Thread.stack}): a multiple of 8 from
   * 64 to 1 MiB (1048576); anything else is `EINVAL_SIZE`. The region is made on
   * the first allocation, and reused by later threads of the same thread record.
   * @defaultValue 65536 (64 KiB)
   */
  stackBytes?: number;
}

/** Options of {@link Runtime.join}. */
export interface JoinOptions {
  /** As {@link RuntimeOptions.blocking}. */
  blocking?: boolean;
}

/**
 * Events a checkpoint reports (a bitmask): the eval-breaker requests it handled,
 * in this order, plus what happened to the thread.
 */
export const Checkpoint = {
  /** A stop-the-world asked this thread to pause. */
  PLEASE_STOP: BRK_PLEASE_STOP,
  /** Biased refcounting asks for a merge (handled by a later component). */
  EXPLICIT_MERGE: BRK_EXPLICIT_MERGE,
  /** The cycle collector is due (handled by a later component). */
  GC_SCHEDULED: BRK_GC_SCHEDULED,
  /** A delayed free forced an advance since the last checkpoint (due frees run at every checkpoint). */
  DELAYED_FREE: BRK_DELAYED_FREE,
  /** Another thread interrupted this one (the facade throws InterruptError). */
  ASYNC_INTERRUPT: BRK_ASYNC_INTERRUPT,
  /** The domain's version changed; this thread's copy was refreshed. */
  VERSION_CHANGED: EV_VERSION_CHANGED,
  /** This thread was paused by a stop-the-world and has resumed. */
  STOPPED: EV_STOPPED,
  /** It must pause but may not wait here: it is left suspended (see {@link Thread.attachAsync}). */
  WOULD_BLOCK: EV_WOULD_BLOCK,
} as const;

/** State of a thread, as {@link Thread.state} reports it. */
export type ThreadState = 'attached' | 'detached' | 'suspended' | 'exited';

/**
 * What {@link Runtime.share} returns: structured-cloneable, so it can be posted
 * to a worker, which passes it to {@link Runtime.join}.
 */
export interface RuntimeHandle {
  /** Marks the object as an ftheap handle. */
  readonly kind: 'ftheap-runtime';
  /** The core's ABI version; {@link Runtime.join} refuses another one. */
  readonly abi: number;
  /** The compiled core, instantiated again by the joining thread. */
  readonly module: WebAssembly.Module;
  /** The shared memory. */
  readonly memory: WebAssembly.Memory;
  /** The memory's maximum size, in 64 KiB pages. */
  readonly maximumPages: number;
  /**
   * An instance id reserved for the joining thread ({@link Runtime.startWorker}):
   * its threads can then be reaped by that id when the worker dies. Adopted once: a
   * second join with it fails (give further workers `rt.share()`).
   */
  readonly instance?: number;
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
    /** Exact when no thread is allocating (each thread's unfolded count is included). */
    committed: number;
    /**
     * The highest `committed` seen at a thread's fold (every 256 KiB of its own
     * commits or decommits, its exit or reap) or at a stats read: ≥ `committed`,
     * never lower than at an earlier read unless {@link Runtime.resetPeak} was
     * called; a peak that came and went between two of those within threads'
     * unfolded counts (at most 256 KiB per thread) is missed.
     */
    committedPeak: number;
  };
  /** Attached threads of the runtime. */
  threads: { live: number };
}

/**
 * A domain's pool of abandoned segments: what threads that exited (or were
 * reaped) left with live blocks in them ({@link Domain.abandoned}).
 */
export interface AbandonInfo {
  /** Segments in the pool now (4 MiB each). */
  segments: number;
  /** Segments the pool gave back to the runtime once their last block was freed. */
  freed: number;
  /** Segments live threads of the domain adopted (reclaimed) for their allocations. */
  reclaimed: number;
  /**
   * The thread id holding the pool's lock (an odd number, 2 × instance id + 1: a
   * call with no current thread), 0 if nobody. Non-zero for long only if that
   * holder died inside the allocator and was not reaped yet.
   */
  lockHolder: number;
  /** Page sharing ({@link RuntimeOptions.sharePages}): full pages ever put on the domain's float lists. */
  floated: number;
  /** Page sharing: floating pages ever taken by a thread that does not own their segment (lent). */
  lent: number;
}

/** One thread of a domain, as {@link Domain.threads} lists it. */
export interface ThreadInfo {
  /** The thread id (its record's address). */
  id: number;
  /**
   * 'attached', 'detached', 'suspended' (paused by a stop-the-world), 'exited', or
   * 'reaped' (recovered by {@link Domain.reap}); an exited or reaped record shows
   * so until a new thread reuses it.
   */
  state: ThreadState | 'reaped';
  /**
   * Milliseconds since the thread was last seen: attached, detached, or at a
   * checkpoint (sampled: every 64th checkpoint of its JS thread stamps the clock,
   * so a busy thread may read up to 63 checkpoints old). -1: never.
   */
  idleMs: number;
  /** The instance (JS thread) that may enter it; 0 once it exited or was reaped. */
  instance: number;
}

/** What {@link Domain.reap} recovered. */
export interface ReapReport {
  /** The thread reaped. */
  id: number;
  /**
   * Mutexes the dead thread held in its critical sections: those of every
   * section still active (nested ones included), and one it was taking or letting
   * go at that instant if the lock was its own then. Exactly those: a mutex
   * it had let go is not listed (another thread may hold it now). They stay
   * locked: what it left half done under them cannot be known (like a
   * non-robust pthread mutex). Unlock them only if your data can be repaired.
   * A plain `lock()` outside a section is not tracked.
   */
  heldLocks: number[];
}

/**
 * What {@link Thread.defineType} (or {@link Domain.defineType}) is told of a type.
 *
 * @example
 * ```ts
 * const Node = t.defineType({ name: 'Node', size: 8, refOffsets: [0], finalize: (t, o) => log(o) });
 * const n = t.newObject(Node);
 * t.setRef(n, 0, t.newObject(Node));   // the child's count is now 2: drop ours
 * ```
 */
export interface ObjectTypeSpec {
  /** Unique in its domain: defining it again with the same layout returns the same id (in any worker). */
  name: string;
  /** Payload bytes (after the 24-byte header). */
  size: number;
  /** Payload byte offsets that hold object references (u32 addresses, 0 = none): released when the object dies. */
  refOffsets?: readonly number[];
  /** Instances live on the GC tag (the cycle collector's heap) rather than the OBJECT tag. @defaultValue false */
  gc?: boolean;
  /**
   * Runs once per object, on the thread that deallocates it, before its
   * references are released; it may keep the object alive by increfing it.
   * Registered for this JS thread only: every worker that may deallocate such
   * objects defines the type too (by name) with its own `finalize`.
   */
  finalize?: (thread: import('./thread.ts').Thread, object: number) => void;
}

/** A type as the registry holds it ({@link Thread.typeInfo}). */
export interface ObjectTypeInfo {
  id: number;
  name: string;
  size: number;
  refOffsets: number[];
  gc: boolean;
  /** Some thread registered a finalizer for it. */
  finalizer: boolean;
}

/** Object counters of a domain ({@link Domain.stats}). Exact once its threads are quiet. */
export interface ObjectStats {
  created: number;
  deallocated: number;
  /** created - deallocated */
  live: number;
  /** Non-owner decrefs handed to an owner's merge queue. */
  queued: number;
  /** Queued objects merged (by their owner, or for an owner that had gone). */
  merged: number;
  /** Objects deallocated by a thread with no finalizer registered for their type (or by a reap). */
  unfinalized: number;
}

/** {@link Domain.stats}. */
export interface DomainStats {
  objects: ObjectStats;
  /** Threads of the domain that have not exited. */
  threadsLive: number;
}
