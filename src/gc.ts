/**
 * The cycle collector of a domain ({@link Domain.gc}): collections, sweep-all,
 * policies, heap info and the heap lock (assembly/gc.ts). A collection runs on
 * the calling JS thread's thread of the domain.
 * @module
 */
import { GF_ALLOCATED, GF_AUTO, GF_AUTO_MIN, GF_COLLECTED, GF_COLLECTIONS, GF_ENABLED, GF_LAST_PAUSE, GF_LONG_LIVED,
  GF_MAX_PAUSE, GF_THRESHOLD, GF_YOUNG, GF_ZERO_TAGS, GI_FREE, GI_LARGEST_FREE, GI_ONE_RUNS, GI_TOTAL, GI_TWO_RUNS,
  GI_USED, GR_COLLECTED, GR_ERRORS, GR_FINALIZED, GR_FREED_OTHER, GR_PAUSE_MS, GR_RESURRECTED, GR_UNFINALIZED } from './abi.gen.ts';
import type { TagValue } from './api.ts';
import { checkTag } from './checks.ts';
import type { CoreExports } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
import type { Runtime } from './runtime.ts';
import type { Thread } from './thread.ts';

/** What {@link Gc.collect} did. */
export interface CollectResult {
  /** GC objects this collection freed (cyclic garbage). */
  collected: number;
  /** Objects freed as a consequence, through refcounting (what the garbage held, what died during the pause). */
  freedOther: number;
  /** Finalizers run, including those that threw. */
  finalized: number;
  /** Garbage objects kept because a finalizer made them reachable again. */
  resurrected: number;
  /** Finalizers that threw (each was passed to {@link Gc.onFinalizerError}, if set). */
  finalizerErrors: number;
  /** Garbage with a finalizer this JS thread did not register (freed without it). */
  unfinalized: number;
  /** Milliseconds the world was stopped (both pauses); equals `info().lastPauseMs`. */
  pauseMs: number;
}

/** {@link Gc.info}: the GC heaps (pages of the GC tag) and the collector's totals. */
export interface GcInfo {
  /** Bytes of every GC page's blocks (handed out or not; held and abandoned pages too). */
  totalBytes: number;
  /** Block bytes of live blocks. */
  usedBytes: number;
  /** totalBytes - usedBytes. */
  freeBytes: number;
  /** The longest run of free blocks (adjacent, in one page), in bytes. */
  largestFree: number;
  /** Runs of exactly one free block, and of two. */
  oneBlockRuns: number;
  twoBlockRuns: number;
  collections: number;
  /** GC objects ever collected. */
  collected: number;
  lastPauseMs: number;
  maxPauseMs: number;
}

/** The handler of errors thrown by finalizers the collector runs. */
export type FinalizerErrorHandler = (error: unknown, object: number, type: number) => void;

/**
 * A domain's cycle collector. Objects of types defined with `gc: true` live on
 * the GC tag; a collection walks those pages (no list of objects), works out
 * roots from the reference counts (an object referenced from outside the GC
 * heap, or from a pystack, has more references than GC objects give it), marks
 * what they reach, and frees the rest: unreachable cycles. Finalizers run with
 * the world running, once per object ever; an object a finalizer makes
 * reachable again survives.
 *
 * @example
 * ```ts
 * const Node = t.defineType({ name: 'Node', size: 4, refOffsets: [0], gc: true });
 * const a = t.newObject(Node), b = t.newObject(Node);
 * t.setRef(a, 0, b); t.setRef(b, 0, a);   // a cycle
 * t.decref(a); t.decref(b);               // unreachable now, but counts are 1
 * d.gc.collect();                          // { collected: 2, ... }
 * ```
 */
export class Gc {
  private handler: FinalizerErrorHandler | undefined;

  /** @internal Use {@link Domain.gc}. */
  constructor(private readonly runtime: Runtime, private readonly domain: number) {}

  private get x(): CoreExports { return this.runtime.exports; }

  /** The calling JS thread's thread of this domain, made current. */
  private thread(): Thread {
    const t = this.runtime.current;
    if (!t || t.domainId !== this.domain) {
      throw new FtheapError(ErrorCode.ENOT_ATTACHED, 'the collector runs on a current thread of this domain on this JS thread (attach one)');
    }
    t.makeCurrent();
    return t;
  }

  /**
   * Collect now (also while automatic collections are disabled).
   * @throws FtheapError `ENOT_ATTACHED`, `EHEAP_LOCKED` (this thread holds the
   *   heap lock), `EINVAL_STATE` (from inside a finalizer, or a stop-the-world)
   */
  collect(): CollectResult {
    this.thread();
    const rc = this.x.ft_gc_collect();
    if (rc !== 0) throw coreError(rc, 'gc.collect');
    return this.result();
  }

  private result(): CollectResult {
    const r = (f: number) => this.x.ft_gc_result(f);
    return {
      collected: r(GR_COLLECTED), freedOther: r(GR_FREED_OTHER), finalized: r(GR_FINALIZED),
      resurrected: r(GR_RESURRECTED), finalizerErrors: r(GR_ERRORS), unfinalized: r(GR_UNFINALIZED), pauseMs: r(GR_PAUSE_MS),
    };
  }

  /**
   * Free every object of the domain, GC and non-GC, whatever its count, running
   * finalizers first (resurrection is ignored; no object can be made meanwhile):
   * MicroPython's `gc_sweep_all`, for teardown and reset. Every object it lists
   * is immortal until it is freed (another thread's decref cannot free it under
   * the sweep). The objects freed.
   * @throws FtheapError `EBUSY` (a collection is running on another thread: retry
   *   after a checkpoint), `EHEAP_LOCKED`, `EINVAL_STATE` (inside a finalizer)
   */
  sweepAll(): number {
    this.thread();
    const n = this.x.ft_gc_sweep_all();
    if (n < 0) throw coreError(-n, 'gc.sweepAll');
    return n;
  }

  /** Automatic collections (threshold, automatic policy) on; an explicit {@link collect} always runs. */
  enable(): void { this.set(GF_ENABLED, 1); }
  /** Automatic collections off. */
  disable(): void { this.set(GF_ENABLED, 0); }
  isEnabled(): boolean { return this.get(GF_ENABLED) === 1; }

  /**
   * Block bytes allocated on GC tags (all threads of the domain) since the last
   * collection that schedule one (0: off, the default). The allocating thread
   * collects at its next checkpoint ({@link Thread.checkpoint}), never inside an allocation.
   */
  get threshold(): number { return this.get(GF_THRESHOLD); }
  set threshold(bytes: number) {
    if (bytes >>> 0 !== bytes) throw new FtheapError(ErrorCode.EINVAL_ARG, `threshold ${bytes}: bytes, a u32`);
    this.set(GF_THRESHOLD, bytes);
  }

  /**
   * CPython's automatic policy (off unless set): collect when at least
   * `autoMinYoung` GC objects were made since the last collection and they are
   * at least a quarter of the objects that survived it (so big heaps are not
   * collected quadratically often).
   */
  get auto(): boolean { return this.get(GF_AUTO) === 1; }
  set auto(on: boolean) { this.set(GF_AUTO, on ? 1 : 0); }
  get autoMinYoung(): number { return this.get(GF_AUTO_MIN); }
  set autoMinYoung(n: number) {
    if (n >>> 0 !== n) throw new FtheapError(ErrorCode.EINVAL_ARG, `autoMinYoung ${n}`);
    this.set(GF_AUTO_MIN, n);
  }

  /** Zero raw allocations of `tag` in this domain (MicroPython's conservative clear; on for the GC tags by default). */
  zeroOnAlloc(tag: TagValue, on = true): void {
    checkTag(tag);
    if (tag === 0) throw new FtheapError(ErrorCode.EINVAL_TAG, 'tag MEM (0) is never zeroed on allocation (its fast path stays lean): use calloc, or another tag');
    const mask = this.get(GF_ZERO_TAGS);
    this.set(GF_ZERO_TAGS, on ? mask | (1 << tag) : mask & ~(1 << tag));
  }
  /** Whether raw allocations of `tag` are zeroed. */
  zeroesOnAlloc(tag: TagValue): boolean { return (this.get(GF_ZERO_TAGS) & (1 << checkTag(tag))) !== 0; }

  /** The GC heaps' figures (a short stop of the domain's world) and the collector's totals. */
  info(): GcInfo {
    this.thread();
    const rc = this.x.ft_gc_info_scan();
    if (rc !== 0) throw coreError(rc, 'gc.info');
    const i = (f: number) => this.x.ft_gc_info(f);
    return {
      totalBytes: i(GI_TOTAL), usedBytes: i(GI_USED), freeBytes: i(GI_FREE), largestFree: i(GI_LARGEST_FREE),
      oneBlockRuns: i(GI_ONE_RUNS), twoBlockRuns: i(GI_TWO_RUNS), collections: this.get(GF_COLLECTIONS),
      collected: this.get(GF_COLLECTED), lastPauseMs: this.get(GF_LAST_PAUSE), maxPauseMs: this.get(GF_MAX_PAUSE),
    };
  }

  /** Counters the policies use: bytes and young objects since the last collection, survivors of it. */
  counters(): { allocatedBytes: number; young: number; longLived: number } {
    return { allocatedBytes: this.get(GF_ALLOCATED), young: this.get(GF_YOUNG), longLived: this.get(GF_LONG_LIVED) };
  }

  /**
   * The heap lock (MicroPython's `gc_lock`), for this JS thread's current
   * thread only, nestable: while held, making GC objects and collecting throw
   * `EHEAP_LOCKED`; other allocations and frees are allowed; other threads are unaffected.
   */
  lock(): void {
    this.thread();
    const rc = this.x.ft_gc_lock();
    if (rc !== 0) throw coreError(rc);
  }
  /** @throws FtheapError `ENOT_LOCKED` */
  unlock(): void {
    this.thread();
    const rc = this.x.ft_gc_unlock();
    if (rc !== 0) throw coreError(rc, 'gc.unlock: not locked');
  }
  /** This thread's heap-lock depth. */
  get lockDepth(): number {
    this.thread();
    return this.x.ft_gc_lock_depth();
  }

  /**
   * Called with each error a finalizer throws during a collection or a sweep
   * (on this JS thread); without one, errors are only counted. Never thrown out of `collect`.
   */
  get onFinalizerError(): FinalizerErrorHandler | undefined { return this.handler; }
  set onFinalizerError(fn: FinalizerErrorHandler | undefined) {
    this.handler = fn;
    this.runtime.finalizers.setGcErrorHandler(this.domain, fn);
  }

  private get(field: number): number {
    const v = this.x.ft_gc_get(this.domain, field);
    if (v < 0) throw coreError(-v);
    return v;
  }
  private set(field: number, value: number): void {
    const rc = this.x.ft_gc_set(this.domain, field, value >>> 0);
    if (rc !== 0) throw coreError(rc);
  }
}
