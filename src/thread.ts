/**
 * A thread of a runtime: the allocator API. Pointers are byte offsets into the
 * shared memory, always unsigned numbers.
 * @module
 */
import type { AllocatorStats, TagValue } from './api.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
import { readStats } from './stats.ts';
import type { CoreExports, Runtime } from './runtime.ts';

const TAGS = 16;

export class Thread {
  /** The runtime this thread belongs to. */
  readonly runtime: Runtime;
  /** The thread record's address: the id stored as owner of its segments. */
  readonly id: number;
  private readonly x: CoreExports;
  // The two hottest exports, held directly: a property lookup on the exports object costs more.
  private readonly mallocRaw: (size: number) => number;
  private readonly freeRaw: (ptr: number) => number;
  private readonly heaps: number[] = new Array(TAGS).fill(0);
  private exited = false;
  /** @internal True while this thread is the current one of its runtime's instance. */
  active = false;

  /** @internal Use {@link Runtime.attach}. */
  constructor(runtime: Runtime, id: number) {
    this.runtime = runtime;
    this.id = id;
    this.x = runtime.exports;
    this.mallocRaw = this.x.ft_malloc;
    this.freeRaw = this.x.ft_free;
  }

  /** Whether {@link exit} has been called. */
  get hasExited(): boolean { return this.exited; }

  // Make this thread the one the raw exports use; throws once it has exited.
  private enter(): void {
    if (this.exited) throw new FtheapError(ErrorCode.ENOT_ATTACHED);
    if (!this.active) {
      if (this.x.ft_thread_set_current(this.id) !== 0) throw coreError(this.x.ft_last_error());
      this.runtime.setCurrent(this);
    }
  }

  private fail(detail?: string): never {
    throw coreError(this.x.ft_last_error(), detail);
  }

  private heapFor(tag: TagValue): number {
    if (tag >>> 0 !== tag || tag >= TAGS) throw new FtheapError(ErrorCode.EINVAL_TAG, String(tag));
    let h = this.heaps[tag];
    if (h === 0) {
      h = this.x.ft_heap(tag) >>> 0;
      if (h === 0) this.fail();
      this.heaps[tag] = h;
    }
    return h;
  }

  private checkSize(size: number): void {
    if (size >>> 0 !== size || size > this.runtime.maxAllocSize) throw new FtheapError(ErrorCode.EINVAL_SIZE, String(size));
  }

  /**
   * Allocate `size` bytes (not zeroed) from this thread's heap for `tag`.
   * @returns the block's address (never 0)
   * @throws FtheapError `EINVAL_SIZE`, `EINVAL_TAG`, `ENOMEM`, `ENOT_ATTACHED`
   */
  alloc(size: number, tag: TagValue = 0): number {
    if (!this.active || size >>> 0 !== size || tag !== 0) return this.allocSlow(size, tag);
    const p = this.mallocRaw(size);
    if (p === 0) this.fail(`size ${size}`);
    return p >>> 0;
  }

  private allocSlow(size: number, tag: TagValue): number {
    this.enter();
    this.checkSize(size);
    const p = tag === 0 ? this.x.ft_malloc(size) : this.x.ft_heap_malloc(this.heapFor(tag), size);
    if (p === 0) this.fail(`size ${size}`);
    return p >>> 0;
  }

  /** Allocate `count * size` zeroed bytes. */
  calloc(count: number, size: number, tag: TagValue = 0): number {
    this.enter();
    this.checkSize(count);
    this.checkSize(size);
    if (count * size > this.runtime.maxAllocSize) throw new FtheapError(ErrorCode.EINVAL_SIZE, `${count} * ${size}`);
    const p = tag === 0 ? this.x.ft_calloc(count, size) : this.x.ft_heap_calloc(this.heapFor(tag), count, size);
    if (p === 0) this.fail();
    return p >>> 0;
  }

  /**
   * Resize a block, keeping its contents up to the smaller size and its tag. In
   * place when the new size fits and uses at least half of the block. `ptr` 0
   * allocates. On failure the old block is untouched.
   */
  realloc(ptr: number, size: number): number {
    this.enter();
    this.checkPtr(ptr);
    this.checkSize(size);
    const p = this.x.ft_realloc(ptr, size);
    if (p === 0) this.fail();
    return p >>> 0;
  }

  /**
   * Free a block that any thread of this runtime allocated. 0 is ignored.
   * @throws FtheapError `EINVAL_PTR` (not a block start ftheap handed out),
   *   `EDOUBLE_FREE` (see the README for what is detected), `ENOT_ATTACHED`
   */
  free(ptr: number): void {
    if (!this.active) this.enter();
    if (ptr >>> 0 !== ptr) this.checkPtr(ptr);
    const rc = this.freeRaw(ptr);
    if (rc !== 0) throw coreError(rc, `ptr ${ptr >>> 0}`);
  }

  /** Bytes usable in the block (at least what was asked for). */
  usableSize(ptr: number): number {
    this.enter();
    this.checkPtr(ptr);
    const n = this.x.ft_usable_size(ptr) >>> 0;
    if (n === 0) this.fail(`ptr ${ptr}`);
    return n;
  }

  /**
   * Allocate `size` bytes at a multiple of `alignment` (a power of two, at most
   * 2 MiB). Alignments up to 32 KiB come from ordinary pages; larger ones get a
   * segment of their own.
   */
  alignedAlloc(alignment: number, size: number, tag: TagValue = 0): number {
    this.enter();
    if (alignment >>> 0 !== alignment) throw new FtheapError(ErrorCode.EINVAL_ALIGN, String(alignment));
    this.checkSize(size);
    const p = tag === 0 ? this.x.ft_aligned_alloc(alignment, size)
      : this.x.ft_heap_aligned_alloc(this.heapFor(tag), alignment, size);
    if (p === 0) this.fail(`alignment ${alignment}, size ${size}`);
    return p >>> 0;
  }

  /**
   * Call `visit(ptr, usableSize)` for every live block of `tag` that this thread's
   * heap holds (pages of all sizes, then huge blocks). The blocks are listed first
   * and visited after, so `visit` may free or allocate.
   */
  visitBlocks(tag: TagValue, visit: (ptr: number, size: number) => void): void {
    this.enter();
    if (tag >>> 0 !== tag || tag >= TAGS) throw new FtheapError(ErrorCode.EINVAL_TAG, String(tag));
    const blocks: number[] = [];
    if (this.x.ft_visit_begin(tag) !== 0) this.fail();
    for (let p = this.x.ft_visit_next() >>> 0; p !== 0; p = this.x.ft_visit_next() >>> 0) blocks.push(p);
    for (const p of blocks) visit(p, this.x.ft_usable_size(p) >>> 0);
  }

  /** Collect remote frees and release empty pages now (`force`: keep none for reuse). */
  collect(force = false): void {
    this.enter();
    this.x.ft_collect(force ? 1 : 0);
  }

  /** This thread's share of {@link Runtime.stats} (optionally one tag). */
  stats(tag?: TagValue): AllocatorStats {
    this.enter();
    if (tag !== undefined && (tag >>> 0 !== tag || tag >= TAGS)) throw new FtheapError(ErrorCode.EINVAL_TAG, String(tag));
    return readStats(this.x, this.runtime.memory, this.id, tag);
  }

  /**
   * Leave the runtime. Empty pages are released; blocks still live stay valid and
   * other threads may free them. Any later call on this thread throws `ENOT_ATTACHED`.
   */
  exit(): void {
    this.enter();
    this.x.ft_thread_exit();
    this.exited = true;
    this.runtime.setCurrent(null);
  }

  private checkPtr(ptr: number): void {
    if (ptr >>> 0 !== ptr) throw new FtheapError(ErrorCode.EINVAL_PTR, String(ptr));
  }
}
