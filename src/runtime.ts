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
import type { AllocatorStats, JoinOptions, RuntimeHandle, RuntimeOptions } from './api.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
import { Domain } from './domain.ts';
import { checkSharedMemory, mayNotBlock, packagedModule } from './platform.ts';
import { readStats } from './stats.ts';
import { Thread } from './thread.ts';

const PAGE = 65536;
const MAX_PAGES = 65536;
const ABI = 1;

/** The raw Wasm exports (`ft_*`), callable with no facade cost. Pointers are i32: use `>>> 0`. */
export interface CoreExports {
  ft_init(maxPages: number): number;
  ft_domain_default(): number;
  ft_domain_create(): number;
  ft_domain_version(domain: number): number;
  ft_domain_set_version(domain: number, version: number): number;
  ft_domain_threads_live(domain: number): number;
  ft_domain_valid(domain: number): number;
  ft_thread_attach(): number;
  ft_thread_attach_new(domain: number): number;
  ft_thread_enter(thread: number, mayBlock: number): number;
  ft_thread_detach(): number;
  ft_thread_exit(): number;
  ft_thread_current(): number;
  ft_thread_state(thread: number): number;
  ft_thread_breaker(thread: number): number;
  ft_thread_domain(thread: number): number;
  ft_checkpoint(): number;
  ft_interrupt(thread: number): number;
  ft_set_can_block(value: number): void;
  ft_stw_stop(global: number): number;
  ft_stw_start(global: number): number;
  ft_mutex_lock(m: number): number;
  ft_mutex_trylock(m: number, spin: number): number;
  ft_mutex_unlock(m: number): number;
  ft_cs_begin(m: number): number;
  ft_cs_begin2(a: number, b: number): number;
  ft_cs_end(token: number): number;
  ft_cs_depth(): number;
  ft_heap(tag: number): number;
  ft_collect(force: number): void;
  ft_malloc(size: number): number;
  ft_calloc(count: number, size: number): number;
  ft_realloc(ptr: number, size: number): number;
  ft_aligned_alloc(align: number, size: number): number;
  ft_free(ptr: number): number;
  ft_usable_size(ptr: number): number;
  ft_heap_malloc(heap: number, size: number): number;
  ft_heap_calloc(heap: number, count: number, size: number): number;
  ft_heap_aligned_alloc(heap: number, align: number, size: number): number;
  ft_visit_begin(tag: number): number;
  ft_visit_next(): number;
  ft_stats_snapshot(thread: number, tag: number): number;
  ft_stats_release(): void;
  ft_stats_reset_peak(): void;
  ft_last_error(): number;
  ft_bin_of(size: number): number;
  ft_bin_size(bin: number): number;
  ft_max_alloc_size(): number;
  ft_memory_pages(): number;
  ft_debug_page_valid(page: number): number;
  ft_free_delayed(ptr: number): number;
  ft_delayed_process(): number;
  ft_delayed_pending(): number;
  ft_qsbr_advance(): number;
  ft_qsbr_deferred_advance(): number;
  ft_qsbr_poll(goal: number): number;
  ft_qsbr_goal_reached(goal: number): number;
  ft_qsbr_quiescent(): number;
  ft_qsbr_thread_seq(thread: number): number;
  ft_qsbr_info(domain: number, field: number): number;
  ft_qsbr_configure(domain: number, deferLimit: number, freeLimit: number, pageLimit: number, heldTags: number): number;
  // ---- SharedList and SharedMap (assembly/shared-list.ts, shared-map.ts) ----
  // f64 results: a value, -1 (nothing there) or -2 (error: ft_last_error); i32: OK/code, or an answer / -code.
  ft_list_new(capacity: number): number;
  ft_list_get(list: number, index: number): number;
  ft_list_get_locked(list: number, index: number): number;
  ft_list_length(list: number): number;
  ft_list_capacity(list: number): number;
  ft_list_set(list: number, index: number, value: number): number;
  ft_list_push(list: number, value: number): number;
  ft_list_pop(list: number): number;
  ft_list_resize(list: number, length: number): number;
  ft_list_compact(list: number): number;
  ft_list_destroy(list: number): number;
  ft_debug_list_valid(list: number): number;
  ft_map_new(expected: number): number;
  ft_map_get(map: number, key: number): number;
  ft_map_get_locked(map: number, key: number): number;
  ft_map_has(map: number, key: number): number;
  ft_map_set(map: number, key: number, value: number): number;
  ft_map_delete(map: number, key: number): number;
  ft_map_size(map: number): number;
  ft_map_capacity(map: number): number;
  ft_map_destroy(map: number): number;
  ft_debug_map_valid(map: number): number;
  ft_debug_read_delay(spins: number): void;
  [name: string]: unknown;
}

function pagesOf(bytes: number | undefined, fallback: number, what: string): number {
  if (bytes === undefined) return fallback;
  if (!Number.isFinite(bytes) || bytes < 0 || bytes > MAX_PAGES * PAGE) {
    throw new FtheapError(ErrorCode.EINVAL_OPTION, `${what} must be 0..4 GiB, got ${bytes}`);
  }
  return Math.max(2, Math.ceil(bytes / PAGE));
}

export class Runtime {
  /** The shared memory every thread of this runtime uses. */
  readonly memory: WebAssembly.Memory;
  /** The compiled core (shared with workers through {@link share}). */
  readonly module: WebAssembly.Module;
  /** This thread's instance's raw exports. */
  readonly exports: CoreExports;
  private currentThread: Thread | null = null;

  /** The thread whose heaps the raw exports use now (each {@link Thread} call makes its thread current). */
  get current(): Thread | null { return this.currentThread; }

  /** @internal Record that `t` (or nobody) is current on this instance; Thread keeps a flag for its fast paths. */
  setCurrent(t: Thread | null): void {
    if (this.currentThread) this.currentThread.active = false;
    this.currentThread = t;
    if (t) t.active = true;
  }
  /** Largest size a single allocation may ask for. */
  readonly maxAllocSize: number;
  /** Whether this JS thread may block in `Atomics.wait` (false on a browser's main thread). */
  canBlock = true;
  private readonly maximumPages: number;
  private u8view: Uint8Array;
  private defaultDomain: Domain | undefined;

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, instance: WebAssembly.Instance,
      maximumPages: number) {
    this.module = module;
    this.memory = memory;
    this.exports = instance.exports as unknown as CoreExports;
    this.maximumPages = maximumPages;
    this.u8view = new Uint8Array(memory.buffer);
    this.maxAllocSize = this.exports.ft_max_alloc_size() >>> 0;
  }

  /**
   * Make a runtime: a new shared memory and the core compiled (once per process).
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
    const maximum = pagesOf(options.maximumMemory, 16384, 'maximumMemory');
    const initial = Math.min(pagesOf(options.initialMemory, 256, 'initialMemory'), maximum);
    const module = options.module ?? await packagedModule(options.debug ?? false);
    const memory = new WebAssembly.Memory({ initial, maximum, shared: true });
    return Runtime.instantiate(module, memory, maximum, options.blocking);
  }

  /** Join a runtime made elsewhere (typically in a worker) from its {@link share} handle. */
  static async join(handle: RuntimeHandle, options: JoinOptions = {}): Promise<Runtime> {
    checkSharedMemory();
    if (!handle || handle.kind !== 'ftheap-runtime') throw new FtheapError(ErrorCode.EINVAL_OPTION, 'not an ftheap runtime handle');
    if (handle.abi !== ABI) throw new FtheapError(ErrorCode.EINVAL_OPTION, `ABI ${handle.abi} != ${ABI}`);
    return Runtime.instantiate(handle.module, handle.memory, handle.maximumPages, options.blocking);
  }

  private static async instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory, maximumPages: number,
      blocking?: boolean): Promise<Runtime> {
    const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();
    const instance = await WebAssembly.instantiate(module, { env: { memory, now } });
    const rt = new Runtime(module, memory, instance, maximumPages);
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
   * call through a {@link Thread} makes it current).
   */
  attach(): Thread {
    return this.attachTo(0);
  }

  /** @internal A new thread of domain record `domain` (0: the default domain). */
  attachTo(domain: number): Thread {
    const id = this.exports.ft_thread_attach_new(domain) >>> 0;
    if (id === 0) throw coreError(this.exports.ft_last_error());
    const t = new Thread(this, id);
    // Made during a stop-the-world on a JS thread that may not wait, it stays
    // suspended until its first call (or attachAsync) after the world restarts.
    this.setCurrent(this.exports.ft_thread_state(id) === 1 ? t : null);
    return t;
  }

  /** The default domain. */
  domain(): Domain {
    return this.defaultDomain ??= new Domain(this, this.exports.ft_domain_default() >>> 0);
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

  /** Restart `stats().memory.committedPeak` from the current committed bytes. */
  resetPeak(): void {
    this.exports.ft_stats_reset_peak();
  }

  /**
   * A byte view of the whole memory, rebuilt only when the memory has grown
   * (reading `memory.buffer` on a shared memory is slow, so it is cached).
   */
  bytes(): Uint8Array {
    if (this.u8view.byteLength !== this.exports.ft_memory_pages() * PAGE) this.u8view = new Uint8Array(this.memory.buffer);
    return this.u8view;
  }

  /** A DataView of `length` bytes at `ptr` (valid until the memory grows). */
  view(ptr: number, length: number): DataView {
    const b = this.bytes();
    return new DataView(b.buffer, ptr >>> 0, length);
  }
}
