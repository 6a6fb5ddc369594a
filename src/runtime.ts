/**
 * The runtime: one shared `WebAssembly.Memory` plus the compiled core, and this
 * JS thread's own instance of it.
 *
 * Every JS thread (the main thread, each worker) holds its own `Runtime` object for
 * the same shared memory: the creator makes it with {@link Runtime.create}, posts
 * {@link Runtime.share}'s handle to workers, and each worker calls
 * {@link Runtime.join}. Wasm globals are per instance, so each instance is one
 * thread's: its allocator state lives in a thread record in shared memory, reached
 * through those globals.
 * @module
 */
import type { AllocatorStats, AttachOptions, JoinOptions, RuntimeHandle, RuntimeOptions } from './api.ts';
import type { CoreExports } from './core.ts';
import { Domain } from './domain.ts';
import { assertError, coreError, ErrorCode, FtheapError } from './errors.ts';
import { checkPtr } from './checks.ts';
import { checkSharedMemory, loadCore, mayNotBlock } from './platform.ts';
import { startWorker, type RuntimeWorker, type StartWorkerOptions } from './workers.ts';
import { readStats } from './stats.ts';
import { heapMap, type HeapMap } from './heap-map.ts';
import { FinalizerTable } from './object.ts';
import { attachThread, type Thread } from './thread.ts';

const PAGE = 65536;
const MAX_PAGES = 65536;
const ABI = 1;
const MiB = 1 << 20;
/**
 * The smallest maximumMemory: 4 MiB unit 0 (the root, the segment table, thread
 * and heap records; assembly/layout.ts FIRST_UNIT) plus one 4 MiB segment for
 * the first allocation (SEGMENT_SIZE). Below it not even one block fits.
 */
const MIN_MAXIMUM_BYTES = 8 * MiB;
/** The smallest initialMemory: the root and the first thread records (META_START, 64 KiB, and its page); memory grows from there. */
const MIN_INITIAL_BYTES = 2 * PAGE;
const DEFAULT_INITIAL_BYTES = 16 * MiB;
const DEFAULT_MAXIMUM_BYTES = 1024 * MiB;

/** `bytes` of memory option `what` in 64 KiB pages (rounded up); EINVAL_OPTION saying what is wrong with it. */
function pagesOf(bytes: unknown, what: string, min: number): number {
  const bad = (why: string) => new FtheapError(ErrorCode.EINVAL_OPTION, `${what} ${why}`);
  if (typeof bytes !== 'number') throw bad(`must be a number of bytes, got ${typeof bytes} ${String(bytes)}`);
  if (!Number.isFinite(bytes)) throw bad(`must be a finite number of bytes, got ${bytes}`);
  if (bytes <= 0) {
    throw bad(`must be positive, got ${bytes}${bytes === 0 ? ' (a shift that overflowed, like 4 << 30? write 4 * 2 ** 30)' : ''}`);
  }
  if (bytes < min) throw bad(`is too small: ${bytes} bytes, the core needs at least ${min} (${min / MiB >= 1 ? `${min / MiB} MiB` : `${min / 1024} KiB`})`);
  if (bytes > MAX_PAGES * PAGE) throw bad(`is above 4 GiB (4294967296 bytes), got ${bytes}`);
  return Math.ceil(bytes / PAGE);
}

/** The memory sizes of {@link RuntimeOptions}, in pages: checked, defaults filled in. */
function memoryPages(options: RuntimeOptions): { initial: number; maximum: number } {
  const maximum = options.maximumMemory === undefined ? DEFAULT_MAXIMUM_BYTES / PAGE
    : pagesOf(options.maximumMemory, 'maximumMemory', MIN_MAXIMUM_BYTES);
  if (options.initialMemory === undefined) return { initial: Math.min(DEFAULT_INITIAL_BYTES / PAGE, maximum), maximum };
  const initial = pagesOf(options.initialMemory, 'initialMemory', MIN_INITIAL_BYTES);
  if (initial > maximum) {
    throw new FtheapError(ErrorCode.EINVAL_OPTION, `initialMemory (${options.initialMemory} bytes) is above maximumMemory `
      + `(${maximum * PAGE} bytes${options.maximumMemory === undefined ? ', the default' : ''})`);
  }
  return { initial, maximum };
}

/**
 * A runtime: one shared `WebAssembly.Memory` holding every heap, the compiled
 * core, and this JS thread's instance of it (its raw {@link exports}).
 *
 * Lifecycle: one JS thread makes the runtime with {@link Runtime.create} and
 * posts {@link share}'s handle to its workers; each worker makes its own
 * `Runtime` object for the same memory with {@link Runtime.join}. Each JS thread
 * then {@link attach}es the threads ({@link Thread}) it allocates through. The
 * runtime lives as long as its memory: there is no close; threads {@link Thread.exit}.
 *
 * A `Runtime` object belongs to the JS thread that made it (its instance's Wasm
 * globals say which thread is current there): use it, and the threads and
 * domains it hands out, only on that JS thread. Objects never cross threads;
 * handles and ids (numbers) do.
 *
 * @example
 * ```ts
 * // main thread
 * const rt = await Runtime.create({ maximumMemory: 256 << 20 });
 * const t = rt.attach();
 * const p = t.alloc(1024);
 * worker.postMessage({ handle: rt.share(), p });
 *
 * // worker
 * const rt = await Runtime.join(handle);
 * const t = rt.attach();
 * rt.bytes()[p] = 42;    // the same memory
 * t.free(p);             // any thread may free any block
 * ```
 */
export class Runtime {
  /** The shared memory every thread of this runtime uses. */
  readonly memory: WebAssembly.Memory;
  /** The compiled core (shared with workers through {@link share}). */
  readonly module: WebAssembly.Module;
  /** This thread's instance's raw exports. */
  readonly exports: CoreExports;
  private currentThread: Thread | null = null;
  /**
   * The object finalizers registered on this JS thread (by {@link Thread.defineType}),
   * and `finalizers.onError`: what happens to an error a finalizer throws
   * (default: `console.error`; the deallocation goes on either way).
   */
  readonly finalizers = new FinalizerTable();

  /** Largest size a single allocation may ask for. */
  readonly maxAllocSize: number;
  /** Whether this JS thread may block in `Atomics.wait` (false on a browser's main thread). */
  canBlock = true;
  private readonly maximumPages: number;
  private u8view: Uint8Array;
  private defaultDomain: Domain | undefined;

  /** The thread whose heaps the raw exports use now (each {@link Thread} call makes its thread current). */
  get current(): Thread | null { return this.currentThread; }

  /** @internal Record that `t` (or nobody) is current on this instance; Thread keeps a flag for its fast paths. */
  setCurrent(t: Thread | null): void {
    if (this.currentThread) this.currentThread.active = false;
    this.currentThread = t;
    if (t) t.active = true;
  }

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance,
      maximumPages: number) {
    this.module = module;
    this.memory = memory;
    const raw = instance.exports as unknown as CoreExports;
    this.exports = raw.ft_assert_level() > 0 ? assertingExports(raw) : raw;
    this.maximumPages = maximumPages;
    this.u8view = new Uint8Array(memory.buffer);
    this.maxAllocSize = this.exports.ft_max_alloc_size() >>> 0;
  }

  /**
   * Make a runtime: a new shared memory and the core compiled (the packaged one:
   * once per process or page; or the one passed as `options.module`).
   *
   * @throws FtheapError `EPLATFORM` (no shared memory here: a page that is not
   * cross-origin isolated), `ELOAD` (the core's `.wasm` is missing, not served at
   * its URL, or not WebAssembly; the message names the URL or path),
   * `EINVAL_OPTION` (a memory size that is not a positive number, below the
   * minimum, above 4 GiB, or an initialMemory above maximumMemory)
   *
   * @example
   * ```ts
   * const rt = await Runtime.create({ maximumMemory: 1 << 30 });
   * const t = rt.attach();
   * const p = t.alloc(100);
   * t.free(p);
   * ```
   */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    checkSharedMemory();
    const { initial, maximum } = memoryPages(options);
    const module = await loadCore(options.module, options.debug ?? false);
    const memory = new WebAssembly.Memory({ initial, maximum, shared: true });
    const rt = await Runtime.instantiate(module, memory, maximum, options.blocking);
    if (options.exactPeak && rt.exports.ft_commit_exact() !== 0) {   // a fresh runtime has no thread yet: cannot fail
      throw new FtheapError(ErrorCode.EINVAL_STATE, 'exactPeak: a thread record exists already');
    }
    if (options.sharePages && rt.exports.ft_share_pages() !== 0) {   // likewise
      throw new FtheapError(ErrorCode.EINVAL_STATE, 'sharePages: a thread record exists already');
    }
    return rt;
  }

  /** Join a runtime made elsewhere (typically in a worker) from its {@link share} handle. */
  static async join(handle: RuntimeHandle, options: JoinOptions = {}): Promise<Runtime> {
    checkSharedMemory();
    if (!handle || handle.kind !== 'ftheap-runtime') throw new FtheapError(ErrorCode.EINVAL_OPTION, 'not an ftheap runtime handle');
    if (handle.abi !== ABI) throw new FtheapError(ErrorCode.EINVAL_OPTION, `ABI ${handle.abi} != ${ABI}`);
    const rt = await Runtime.instantiate(handle.module, handle.memory, handle.maximumPages, options.blocking);
    if (handle.instance !== undefined && rt.exports.ft_instance_adopt(handle.instance) !== 0) {
      throw new FtheapError(ErrorCode.EINVAL_OPTION, `instance id ${handle.instance} was not reserved, or is taken: a startWorker handle `
        + 'joins once (pass rt.share() to further workers)');
    }
    return rt;
  }

  private static async instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory, maximumPages: number,
      blocking?: boolean): Promise<Runtime> {
    const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();
    let finalize = (_o: number, _type: number, _why: number): number => 0;   // bound to the runtime below
    const instance = await WebAssembly.instantiate(module,
      { env: { memory, now, finalize: (o: number, type: number, why: number) => finalize(o, type, why) } });
    const rt = new Runtime(module, memory, instance, maximumPages);
    finalize = (o, type, why) => rt.finalizers.run(rt, o, type, why);
    const abi = rt.exports.ft_init(maximumPages);
    if (abi !== ABI) throw new FtheapError(ErrorCode.EINVAL_OPTION, `core ABI ${abi} != ${ABI}`);
    rt.canBlock = blocking ?? !mayNotBlock();
    rt.exports.ft_set_can_block(rt.canBlock ? 1 : 0);
    return rt;
  }

  /** A structured-cloneable handle for {@link Runtime.join} in another thread. */
  share(): RuntimeHandle {
    return { kind: 'ftheap-runtime', abi: ABI, module: this.module, memory: this.memory, maximumPages: this.maximumPages };
  }

  /**
   * Attach a thread on this JS thread: it gets a thread record with its own heaps.
   * A JS thread usually attaches once; several attached threads take turns (each
   * call through a {@link Thread} makes it current). `opts.stackBytes` sizes its
   * pystack ({@link Thread.stack}).
   * @throws FtheapError `EINVAL_SIZE` (a bad `stackBytes`: nothing attached), `ENOMEM`
   */
  attach(opts?: AttachOptions): Thread {
    return attachThread(this, 0, opts);
  }

  /** The default domain. */
  domain(): Domain {
    return this.defaultDomain ??= new Domain(this, this.exports.ft_domain_default() >>> 0);
  }

  /**
   * Start a worker joined to this runtime whose threads are reaped when it dies
   * (see {@link startWorker}).
   */
  startWorker(url: URL | string, options?: StartWorkerOptions): Promise<RuntimeWorker> {
    return startWorker(this, url, options);
  }

  /** This JS thread's instance id: the owner stamped on the threads it attaches. */
  get instance(): number {
    return this.exports.ft_instance_id() >>> 0;
  }

  /** A new domain: its own threads and stop-the-world. Share its {@link Domain.id} with workers. */
  createDomain(): Domain {
    const id = this.exports.ft_domain_create() >>> 0;
    if (id === 0) throw coreError(this.exports.ft_last_error());
    return new Domain(this, id);
  }

  /** The domain whose record is `id` (e.g. an id posted by another worker). */
  domainById(id: number): Domain {
    if (id >>> 0 !== id || this.exports.ft_domain_valid(id) === 0) throw new FtheapError(ErrorCode.EINVAL_DOMAIN, String(id));
    return new Domain(this, id);
  }

  /** Snapshot of the whole runtime, as plain JSON (exact when threads are quiescent). */
  stats(): AllocatorStats {
    return readStats(this.exports, this.memory, 0);
  }

  /**
   * A racy snapshot of every segment and page, for displays (see {@link heapMap}):
   * no lock, no wait, so any JS thread may call it, attached or not.
   */
  heapMap(): HeapMap {
    return heapMap(this);
  }

  /** Restart `stats().memory.committedPeak` from the current committed bytes. */
  resetPeak(): void {
    this.exports.ft_stats_reset_peak();
  }

  /**
   * A byte view of the whole memory, rebuilt only when the memory has grown
   * (reading `memory.buffer` on a shared memory is slow, so it is cached). Its
   * length is this thread's idea of the memory's, which can lag another thread's
   * grow for a moment (V8 tells each thread by an interrupt): for a block another
   * thread allocated just now, {@link view} checks and catches up.
   */
  bytes(): Uint8Array {
    if (this.u8view.byteLength !== this.exports.ft_memory_pages() * PAGE) this.u8view = new Uint8Array(this.memory.buffer);
    return this.u8view;
  }

  /** A DataView of `length` bytes at `ptr` (valid until the memory grows). */
  view(ptr: number, length: number): DataView {
    checkPtr(ptr);
    if (!Number.isInteger(length) || length < 0) throw new FtheapError(ErrorCode.EINVAL_ARG, `view: length ${String(length)}`);
    let b = this.bytes();
    // Memory another thread grew a moment ago: this instance may not have seen it yet.
    if ((ptr >>> 0) + length > b.byteLength && this.exports.ft_memory_sync() * PAGE !== b.byteLength) b = this.bytes();
    if (ptr + length > b.byteLength) {
      throw new FtheapError(ErrorCode.EINVAL_ARG, `view: ${ptr} + ${length} is past the memory's ${b.byteLength} bytes`);
    }
    return new DataView(b.buffer, ptr >>> 0, length);
  }
}

/**
 * The exports of a build with asserts (the debug build), each wrapped so that a
 * failed assert — a trap, since the core has no strings — becomes an
 * FtheapError `EASSERT` naming the assert. The release build (level 0) is used
 * unwrapped: it pays nothing.
 */
function assertingExports(raw: CoreExports): CoreExports {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(raw)) {
    if (typeof f !== 'function') { out[name] = f; continue; }
    out[name] = (...args: unknown[]) => {
      try {
        return (f as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        const code = e instanceof WebAssembly.RuntimeError ? raw.ft_assert_code() : 0;
        if (code === 0) throw e;
        throw assertError(code, name);
      }
    };
  }
  return out as unknown as CoreExports;
}
