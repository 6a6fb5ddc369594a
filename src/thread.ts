/**
 * A thread of a runtime: allocation and thread states. Stop-the-world, mutexes,
 * critical sections, delayed free, block walking and the pystack live in their
 * own files (src/stop-the-world.ts, mutex.ts, critical-section.ts,
 * delayed-free.ts, visit.ts, pystack.ts); the methods here delegate to them.
 * Pointers are byte offsets into the shared memory, always unsigned numbers.
 * @module
 */
import { Checkpoint, type AllocatorStats, type AttachOptions, type ObjectTypeInfo, type ObjectTypeSpec, type TagValue, type ThreadState } from './api.ts';
import { checkPtr, checkTag, ptrDetail, TAGS } from './checks.ts';
import { EAGAIN, ENOT_ATTACHED as ENOT_ATTACHED_CODE, ETIMEDOUT, T_STATE, THREAD_ATTACHED, THREAD_DETACHED, THREAD_SUSPENDED, VERSION_SHIFT } from './abi.gen.ts';
import type { CoreExports, ThreadCore } from './core.ts';
import * as batch from './alloc-many.ts';
import * as cs from './critical-section.ts';
import * as delayedFree from './delayed-free.ts';
import type { Domain } from './domain.ts';
import { coreError, ErrorCode, FtheapError, InterruptError } from './errors.ts';
import * as mutex from './mutex.ts';
import * as obj from './object.ts';
import { setStackBytes, stackBytesOf, ThreadStack } from './pystack.ts';
import { OBJECT_HEADER } from './abi.gen.ts';
import type { LockOptions } from './mutex.ts';
import { waitAsync } from './platform.ts';
import { ThreadQsbr, type QsbrOptions } from './qsbr.ts';
import type { Runtime } from './runtime.ts';
import { readStats, validate } from './stats.ts';
import * as stw from './stop-the-world.ts';
import * as blocks from './visit.ts';

/**
 * A thread of a {@link Runtime}: a thread record in the shared memory with its
 * own heaps (one per tag), and the calls that act as that thread — allocation,
 * thread states, stop-the-world, mutexes, critical sections, QSBR.
 *
 * Lifecycle: {@link Runtime.attach} (or {@link Domain.attach}) makes one,
 * attached. It may {@link detach} (before blocking or idling) and
 * {@link attach} again; a stop-the-world started elsewhere suspends it at its
 * next checkpoint (or keeps it from attaching) until the world restarts;
 * {@link exit} ends it, and every later call throws `ENOT_ATTACHED`. Blocks it
 * allocated outlive it.
 *
 * Use a `Thread` only on the JS thread whose `Runtime` object made it (a worker
 * attaches its own through its own {@link Runtime.join}). Several threads may
 * share one JS thread: each call makes its thread current on the instance,
 * detaching the one that was. Other workers name a thread by its {@link id}
 * (e.g. for {@link interrupt}).
 *
 * @example
 * ```ts
 * const rt = await Runtime.join(handle);   // in a worker
 * const t = rt.attach();
 * const p = t.alloc(64, Tag.USER);
 * t.free(p);
 * t.checkpoint();                          // regularly, while attached
 * t.detach();                              // before waiting for work
 * // ... later
 * t.attach();
 * t.exit();
 * ```
 */
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
  private userDetached = false;
  /** What the concept files (stop-the-world, mutex, ...) are given of this thread. */
  private readonly core: ThreadCore;
  /** @internal True while this thread is the current one of its runtime's instance. */
  active = false;
  /** QSBR goals and polling for this thread's domain (see {@link ThreadQsbr}). */
  readonly qsbr: ThreadQsbr;
  /** This thread's pystack: LIFO scratch memory whose object addresses the collector treats as roots (see {@link ThreadStack}). */
  readonly stack: ThreadStack;

  /** @internal Use {@link Runtime.attach} or {@link Domain.attach}. */
  constructor(runtime: Runtime, id: number) {
    this.runtime = runtime;
    this.id = id;
    this.x = runtime.exports;
    this.mallocRaw = this.x.ft_malloc;
    this.freeRaw = this.x.ft_free_now;   // publishes a remote free before returning
    this.core = {
      x: this.x, id, memory: runtime.memory,
      enter: () => this.enter(),
      fail: (detail) => this.fail(detail),
      reenterFor: (finish) => this.reenterFor(finish),
      parkForWait: () => this.parkForWait(),
      enterAsync: (fn, deadline) => this.enterAsync(fn, deadline),
      detachedNow: () => !this.exited && (this.userDetached || !this.active),
    };
    this.qsbr = new ThreadQsbr(this.core);
    this.stack = new ThreadStack(this.core, () => this.exited);
  }

  /** Whether {@link exit} has been called. */
  get hasExited(): boolean { return this.exited; }

  // Make this thread attached and current on this instance (the one the raw
  // exports use); the thread that was current here detaches. Throws once the
  // thread has exited or was detached by the user.
  private enter(): void {
    if (this.exited || this.userDetached) throw this.notAttached();
    if (!this.active) {
      if (this.x.ft_thread_enter(this.id, this.runtime.canBlock ? 1 : 0) !== 0) throw this.enterError();
      this.runtime.setCurrent(this);
    }
  }

  // ENOT_ATTACHED saying which: exited, detached by the user (issue 13: it said "exited" for both).
  private notAttached(): FtheapError {
    return new FtheapError(ErrorCode.ENOT_ATTACHED, this.exited
      ? `thread ${this.id} has exited (exit() was called): make a new one with attach()`
      : `thread ${this.id} is detached (detach() was called): call attach() or attachAsync() first`);
  }

  // The error of a failed ft_thread_enter: reaped, exited elsewhere, another instance's, or the core's code.
  private enterError(): FtheapError {
    const code = this.x.ft_last_error();
    // The enter may have detached the thread that was current here before it failed (EAGAIN: this
    // one is parked by a stop): that one is no longer current, its next call attaches it again
    // (it kept thinking it was current, and its calls failed ENOT_ATTACHED: review-13a).
    if (this.x.ft_thread_current() === 0) this.runtime.setCurrent(null);
    if (this.x.ft_thread_reaped(this.id) === 1) {
      this.exited = true;
      return new FtheapError(ErrorCode.ENOT_ATTACHED, `thread ${this.id} was reaped (Domain.reap): its worker was taken for dead`);
    }
    if (code === EAGAIN) {
      return new FtheapError(ErrorCode.EAGAIN, `thread ${this.id} is suspended by a stop-the-world and this JS thread may not block: use attachAsync(), or an async variant`);
    }
    if (code === ENOT_ATTACHED_CODE) {
      return new FtheapError(ErrorCode.ENOT_ATTACHED, `thread ${this.id} is no longer a live thread of this JS thread (exited, or never attached here)`);
    }
    return coreError(code);
  }

  // See ThreadCore.parkForWait: not inside a critical section (detaching would
  // release its locks while its callback runs), nor after the user detached it.
  private parkForWait(): boolean {
    if (!this.active || this.exited || this.x.ft_cs_depth() !== 0) return false;
    this.x.ft_thread_detach();
    this.runtime.setCurrent(null);
    return true;
  }

  // See ThreadCore.enterAsync.
  private async enterAsync<T>(fn: () => T, deadline = Infinity): Promise<T> {
    for (;;) {
      if (this.exited || this.userDetached) throw this.notAttached();
      if (this.active) return fn();
      if (this.x.ft_thread_enter(this.id, 0) === 0) {
        this.runtime.setCurrent(this);
        return fn();
      }
      const err = this.enterError();
      if (err.code !== ErrorCode.EAGAIN) throw err;
      if (performance.now() >= deadline) {
        throw new FtheapError(ErrorCode.ETIMEDOUT, `thread ${this.id} is still suspended by a stop-the-world`);
      }
      await waitAsync(new Int32Array(this.runtime.memory.buffer), (this.id + T_STATE) >>> 2, THREAD_SUSPENDED);   // <= 50 ms
    }
  }

  private fail(detail?: string): never {
    throw coreError(this.x.ft_last_error(), detail);
  }

  // Finish a stop or a critical section even if `fn` detached the thread: attach
  // for the call, then leave it detached as `fn` did.
  private reenterFor(finish: () => void): void {
    const wasDetached = this.userDetached && !this.exited;
    this.userDetached = false;
    try {
      this.enter();
      finish();
    } finally {
      if (wasDetached) this.detach();
    }
  }

  // ---- Allocation -------------------------------------------------------------------

  private heapFor(tag: TagValue): number {
    let h = this.heaps[checkTag(tag)];
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
    checkPtr(ptr);
    this.checkSize(size);
    const p = this.x.ft_realloc(ptr, size);
    if (p === 0) {
      const code = this.x.ft_last_error();   // read once: reading takes it
      throw coreError(code, ptrDetail(this.x, code, ptr));
    }
    return p >>> 0;
  }

  /**
   * Free a block that any thread of this runtime allocated. 0 is ignored.
   * @throws FtheapError `EINVAL_PTR` (not a block start ftheap handed out),
   *   `EDOUBLE_FREE` (see the README for what is detected), `ENOT_ATTACHED`
   */
  free(ptr: number): void {
    if (!this.active) this.enter();
    if (typeof ptr !== 'number' || ptr >>> 0 !== ptr) checkPtr(ptr);   // the check inline first: this is the hot path
    const rc = this.freeRaw(ptr);
    if (rc !== 0) throw coreError(rc, ptrDetail(this.x, rc, ptr));
  }

  /**
   * Allocate many blocks (tag MEM, not zeroed) with one call into the core per
   * 4096 blocks instead of one per block: `allocMany(sizes)` one block per size,
   * `allocMany(count, size)` `count` blocks of `size` bytes. All or nothing: if
   * one allocation fails, every block this call took is freed again before it
   * throws; a bad size is found before its batch of 4096 is allocated, and
   * frees the earlier batches' blocks likewise.
   * `into` (optional, at least as long as the count) receives the addresses
   * from index 0 and is returned: a fresh result array costs V8 an off-heap
   * allocation, which a caller allocating in rounds can save.
   * @returns the blocks' addresses, in the order of the sizes (`into` if given)
   * @throws FtheapError `EINVAL_SIZE` (a size, or the count, not an integer in
   *   range; nothing allocated), `EINVAL_ARG` (`into` too short), `ENOMEM`
   *   (nothing kept), `ENOT_ATTACHED`
   * @example
   * ```ts
   * const blocks = t.allocMany(1000, 48);      // 1000 blocks of 48 bytes
   * const mixed = t.allocMany([16, 256, 4096]);
   * t.freeMany(blocks);
   * t.freeMany(mixed);
   * ```
   */
  allocMany(sizes: ArrayLike<number>, into?: Uint32Array): Uint32Array;
  allocMany(count: number, size: number, into?: Uint32Array): Uint32Array;
  allocMany(sizes: ArrayLike<number> | number, size?: number | Uint32Array, into?: Uint32Array): Uint32Array {
    return batch.allocMany(this.core, sizes, size, into);
  }

  /**
   * Free many blocks with one call into the core per 4096 entries. The entries
   * are freed in list order, each as {@link free} would (any thread's block of
   * this domain; 0 is ignored). An entry that fails changes nothing and the
   * call goes on: every good entry is freed. An address listed again after an
   * earlier entry freed it is `EDOUBLE_FREE` and is not looked at again (never
   * freed twice, even if another thread reused the block meanwhile); one listed
   * again after an entry that failed fails the same way.
   * @throws FtheapError when any entry failed, after every good one was freed:
   *   `code` is the first failed entry's, {@link FtheapError.bad} lists each
   *   failed entry's index and code (`EINVAL_PTR`: not a number 0..2^32-1 or not
   *   a block start; `EDOUBLE_FREE`; `EWRONG_DOMAIN`), and the message the first
   *   few. Also `ENOT_ATTACHED` (nothing freed).
   */
  freeMany(ptrs: ArrayLike<number>): void {
    batch.freeMany(this.core, ptrs);
  }

  /** Bytes usable in the block (at least what was asked for). */
  usableSize(ptr: number): number {
    this.enter();
    checkPtr(ptr);
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
   * Collect remote frees and release empty pages now (`force`: keep none for
   * reuse). Empty pages of held tags (object-holding: see
   * {@link QsbrOptions.heldTags}) are released only once their QSBR goal has
   * passed — by the next checkpoint after every thread has passed one.
   */
  collect(force = false): void {
    this.enter();
    this.x.ft_collect(force ? 1 : 0);
  }

  /** This thread's share of {@link Runtime.stats} (optionally one tag). */
  stats(tag?: TagValue): AllocatorStats {
    this.enter();
    return readStats(this.x, this.runtime.memory, this.id, tag);
  }

  /**
   * Re-check the core's invariants that this thread may check now: its heaps
   * (page queues, and every page's count of used and free blocks), its segments
   * (slices tiled by pages and free spans), its pystack (its index of blocks), the
   * runtime's pool of 4 MiB units, its domain's thread list and QSBR slots. Throws
   * `EASSERT` naming the first that fails. Works on either build; the debug build
   * also runs these checks by itself at the allocator's and the thread machinery's
   * slow paths.
   */
  validate(): void {
    this.enter();
    validate(this.x);
  }

  // ---- Delayed free and block walking (src/delayed-free.ts, src/visit.ts) -----------

  /**
   * Free a block once every thread of this domain has passed a quiescent state
   * (checkpoint, detach, exit) after this call: lock-free readers that may still
   * hold it are done with it. The block is checked now; 0 is ignored. Due frees
   * run at this thread's checkpoints (and exit hands pending ones to the domain).
   * @throws FtheapError `EINVAL_PTR`, `ENOT_ATTACHED`, `EWRONG_DOMAIN` (a block of
   *   another domain), `EDOUBLE_FREE` (the block is already waiting for its delayed
   *   free: detected exactly, at the call)
   */
  freeDelayed(ptr: number): void {
    delayedFree.freeDelayed(this.core, ptr);
  }

  /**
   * Free this thread's due delayed frees and held pages now; returns the blocks
   * freed. Unlike {@link checkpoint} it reports no quiescent state, so items whose
   * goal this thread itself has not passed yet stay queued.
   */
  processDelayed(): number {
    return delayedFree.processDelayed(this.core);
  }

  /** Delayed frees this thread queued that have not run yet. */
  get delayedPending(): number {
    return delayedFree.delayedPending(this.core);
  }

  /**
   * Call `visit(ptr, usableSize)` for every live block of `tag` that this thread's
   * heap holds (pages of all sizes, then huge blocks). The blocks are listed first
   * and visited after, so `visit` may free or allocate.
   */
  visitBlocks(tag: TagValue, visit: (ptr: number, size: number) => void): void {
    blocks.visitBlocks(this.core, tag, visit);
  }

  /**
   * Call `visit(ptr, usableSize)` for every live block of `tag` that exited (or
   * reaped) threads of this domain left in its abandoned pool: pooled pages, then
   * ownerless huge blocks. Listed first, visited after (the pool is locked only
   * while listing), so `visit` may free them.
   */
  visitAbandoned(tag: TagValue, visit: (ptr: number, size: number) => void): void {
    blocks.visitAbandoned(this.core, tag, visit);
  }

  /**
   * Adopt every segment that exited threads of this domain left in its pool
   * (live blocks and all): their pages join this thread's heaps of the same tags,
   * and empty ones are freed. The allocator also does this by itself, a few
   * segments at a time, before it takes fresh memory. Returns the segments adopted.
   */
  reclaimAbandoned(): number {
    this.enter();
    const n = this.x.ft_reclaim_abandoned() | 0;
    if (n < 0) throw coreError(-n);
    return n;
  }

  // ---- Thread states ------------------------------------------------------------

  /**
   * Leave the runtime. Empty pages are released; blocks still live stay valid and
   * other threads may free them. Any later call on this thread throws `ENOT_ATTACHED`.
   * @throws FtheapError `EINVAL_STATE` inside its own stop-the-world, or while a
   *   `criticalSectionAsync` of this thread is under way (its locks are named in
   *   the thread's record, which the exit hands to the next thread)
   */
  exit(): void {
    if (this.exited) throw this.notAttached();
    if (cs.asyncSectionsPending(this.id)) throw new FtheapError(ErrorCode.EINVAL_STATE, 'exit while a criticalSectionAsync of this thread is under way');
    this.userDetached = false;
    this.enter();
    const rc = this.x.ft_thread_exit();   // EINVAL_STATE inside its own stop-the-world: it would never end
    if (rc !== 0) throw coreError(rc, 'exit');
    this.exited = true;
    this.runtime.setCurrent(null);
  }

  /** 'attached', 'detached', 'suspended' (paused by a stop-the-world) or 'exited'. */
  get state(): ThreadState {
    if (this.exited) return 'exited';
    const s = this.x.ft_thread_state(this.id);
    return s === THREAD_ATTACHED ? 'attached' : s === THREAD_SUSPENDED ? 'suspended' : s === THREAD_DETACHED ? 'detached' : 'exited';
  }

  /** The domain this thread belongs to. */
  get domain(): Domain {
    return this.runtime.domainById(this.x.ft_thread_domain(this.id) >>> 0);
  }

  /** This thread's copy of its domain's version (see {@link Domain.version}). */
  get version(): number {
    return this.x.ft_thread_breaker(this.id) >>> VERSION_SHIFT;
  }

  /**
   * Detach: the thread stops touching shared objects (its critical sections
   * release their locks) and counts as stopped for stop-the-world. Call this
   * before blocking or idling. Allocating or freeing through a detached thread
   * throws `ENOT_ATTACHED` until {@link attach}.
   */
  detach(): void {
    if (this.exited) throw this.notAttached();
    if (this.userDetached) return;
    if (this.active) {
      this.x.ft_thread_detach();
      this.runtime.setCurrent(null);
    }
    this.userDetached = true;
  }

  /**
   * Attach again after {@link detach}. Waits while a stop-the-world holds the
   * thread; where this JS thread may not block it throws `EAGAIN` instead — use
   * {@link attachAsync} there. With `timeoutMs`, it gives up after that long with
   * `ETIMEDOUT`, leaving the thread detached (suspended) as it was. Inside a
   * stop-the-world this JS thread requested, attaching another of its threads
   * throws `EINVAL_STATE` (that thread is stopped, and would wait for the stop
   * that waits for it).
   */
  attach(opts?: { timeoutMs?: number }): void {
    if (this.exited) throw this.notAttached();
    const timeoutMs = stw.timeoutOf(opts);
    if (timeoutMs === undefined || this.active) {
      this.userDetached = false;
      this.enter();
      return;
    }
    if (this.x.ft_thread_enter_timed(this.id, timeoutMs) !== 0) {
      const code = this.x.ft_last_error();
      throw coreError(code, code === ETIMEDOUT ? `attach: still suspended by a stop-the-world after ${timeoutMs} ms` : undefined);
    }
    this.userDetached = false;
    this.runtime.setCurrent(this);
  }

  /**
   * {@link attach} that waits asynchronously (for a browser's main thread); with
   * `timeoutMs`, it rejects with `ETIMEDOUT` after that long, the thread still
   * suspended.
   */
  async attachAsync(opts?: { timeoutMs?: number }): Promise<void> {
    if (this.exited) throw this.notAttached();
    const timeoutMs = stw.timeoutOf(opts);
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    const wasDetached = this.userDetached;
    this.userDetached = false;
    const i32 = new Int32Array(this.runtime.memory.buffer);
    for (;;) {
      if (this.active || this.x.ft_thread_enter(this.id, 0) === 0) { this.runtime.setCurrent(this); return; }
      const code = this.x.ft_last_error();
      if (code !== EAGAIN) throw coreError(code);
      const left = deadline - performance.now();
      if (left <= 0) {
        this.userDetached = wasDetached;
        throw new FtheapError(ErrorCode.ETIMEDOUT, `attachAsync: still suspended by a stop-the-world after ${timeoutMs} ms`);
      }
      await waitAsync(i32, (this.id + T_STATE) >>> 2, THREAD_SUSPENDED);   // while SUSPENDED (at most 50 ms)
    }
  }

  /**
   * A checkpoint: report a QSBR quiescent state (pointers read lock-free before
   * it may be reclaimed after it), then handle the requests other threads left in
   * this thread's eval breaker, in order — pause for a stop-the-world, (merge
   * refcounts: later), run due delayed frees and free held pages whose goal
   * passed, (report a due GC: later), refresh the domain version, and throw
   * {@link InterruptError} if {@link interrupt}ed. Threads that stay
   * attached should call this regularly (the allocator's slow path also pauses for
   * a stop-the-world). Returns the {@link Checkpoint} events.
   */
  checkpoint(): number {
    this.enter();
    const ev = this.x.ft_checkpoint();
    if (ev < 0) throw coreError(this.x.ft_last_error() || -ev);
    if (ev & Checkpoint.WOULD_BLOCK) this.runtime.setCurrent(null);   // left suspended
    else if (ev & Checkpoint.GC_SCHEDULED) this.collectScheduled();
    if (ev & Checkpoint.ASYNC_INTERRUPT) throw new InterruptError();
    return ev;
  }

  // A threshold or the automatic policy asked this thread to collect (GC_SCHEDULED): here, at a
  // checkpoint, never inside an allocation. Refused quietly where a collection may not run
  // (inside a finalizer, under the heap lock, inside a stop), and skipped once disabled.
  private collectScheduled(): void {
    if (this.x.ft_gc_collect_scheduled() < 0) this.x.ft_last_error();   // re-checks the policy; refusals are quiet
  }

  /** Make `target`'s next checkpoint throw {@link InterruptError}; no other thread is disturbed. */
  interrupt(target: Thread | number): void {
    if (typeof target !== 'number' && !(target instanceof Thread)) {
      throw new FtheapError(ErrorCode.EINVAL_ARG, `interrupt: a Thread or a thread id, not ${String(target)}`);
    }
    const id = typeof target === 'number' ? target : target.id;
    const rc = this.x.ft_interrupt(id >>> 0);
    if (rc !== 0) throw coreError(rc);
  }

  // ---- Stop-the-world, mutexes, critical sections (src/stop-the-world.ts, mutex.ts, critical-section.ts)

  /**
   * Run `fn` with every other thread of this thread's domain paused (suspended at
   * a checkpoint, or parked while detached). `fn` must not allocate from, or
   * free into, other threads' heaps, nor take locks other threads may hold.
   *
   * With `timeoutMs`, a stop that cannot pause every thread in time throws
   * `ETIMEDOUT` (and `fn` does not run): every thread runs again as before, and
   * the error's `blockers` are the ids of the threads that did not pause. While
   * `fn` runs, this thread may not {@link exit}, nor may another thread of this
   * JS thread attach (`EINVAL_STATE`).
   *
   * @example
   * ```ts
   * t.stopTheWorld(() => { snapshot = readSharedCounters(); });
   * t.stopTheWorld(() => compact(), { timeoutMs: 100 });   // ETIMEDOUT if a thread stays busy
   * ```
   */
  stopTheWorld<T>(fn: () => T, opts?: { timeoutMs?: number }): T {
    return stw.stopTheWorld(this.core, false, fn, opts);
  }

  /** {@link stopTheWorld} for every domain of the runtime (excludes per-domain stops); `timeoutMs` likewise. */
  stopTheWorldGlobal<T>(fn: () => T, opts?: { timeoutMs?: number }): T {
    return stw.stopTheWorld(this.core, true, fn, opts);
  }

  /**
   * {@link stopTheWorld} without blocking the JS thread: works where this JS
   * thread may not block (a browser's main thread, where the synchronous stop
   * throws `EAGAIN`) and everywhere else. It waits with `Atomics.waitAsync` for
   * every other thread of the domain to pause, then runs `fn` — synchronous: the
   * world is stopped only while it runs — and restarts them. With `timeoutMs` it
   * rejects with `ETIMEDOUT` (with `blockers`) after that long, every thread
   * running as before; `fn` did not run. While it waits, other code of this JS
   * thread runs: this thread stays attached, may not {@link exit}, and no other
   * thread may attach on this JS thread (`EINVAL_STATE`). A `fn` that returns a
   * promise is refused (`EINVAL_ARG`, after the restart).
   *
   * @example
   * ```ts
   * const snapshot = await t.stopTheWorldAsync(() => readSharedCounters(), { timeoutMs: 500 });
   * ```
   */
  stopTheWorldAsync<T>(fn: () => T, opts?: { timeoutMs?: number }): Promise<T> {
    return stw.stopTheWorldAsync(this.core, false, fn, opts);
  }

  /** {@link stopTheWorldAsync} for every domain of the runtime (as {@link stopTheWorldGlobal}). */
  stopTheWorldGlobalAsync<T>(fn: () => T, opts?: { timeoutMs?: number }): Promise<T> {
    return stw.stopTheWorldAsync(this.core, true, fn, opts);
  }

  /**
   * Lock the mutex at `m` (any zero-initialised, 4-aligned 32-bit word of the
   * shared memory). While it waits the thread is detached, so a stop-the-world
   * does not wait for it. Where this JS thread may not block (a browser's main
   * thread) it does not wait: a mutex another thread holds is `EAGAIN` after a
   * brief spin, nothing changed — use {@link lockAsync} there. With
   * `timeoutMs` it gives up after that long with `ETIMEDOUT`: the mutex and the
   * thread are left as they were (attached, if it was).
   *
   * @example
   * ```ts
   * const m = t.calloc(1, 4);   // a mutex word; post m to the other workers
   * t.lock(m);
   * try { updateSharedState(); } finally { t.unlock(m); }
   * ```
   */
  lock(m: number, options?: LockOptions): void {
    mutex.lock(this.core, m, options);
  }

  /** Take the mutex if it is free (after a brief spin when `spin`); never waits. */
  tryLock(m: number, spin = false): boolean {
    return mutex.tryLock(this.core, m, spin);
  }

  /**
   * Lock without blocking the JS thread: for a browser's main thread. It waits
   * as a counted waiter of the mutex (a hand-off may go to it), with this thread
   * detached meanwhile (as {@link lock}; attached again, without blocking, once
   * it has the lock), and with `timeoutMs` rejects with `ETIMEDOUT`, leaving the
   * mutex as it was (the thread may be left detached: the next call attaches it).
   */
  lockAsync(m: number, options?: LockOptions): Promise<void> {
    return mutex.lockAsync(this.core, m, options);
  }

  /** Unlock; `ENOT_LOCKED` if it was not locked. */
  unlock(m: number): void {
    mutex.unlock(this.core, m);
  }

  /**
   * Run `fn` holding the mutex `m` in a critical section: if the thread detaches
   * (to wait on another lock, for instance) the lock is released and taken again
   * when it attaches; nested sections on the same mutex are no-ops.
   */
  criticalSection<T>(m: number, fn: () => T): T {
    return cs.criticalSection(this.core, m, fn);
  }

  /** {@link criticalSection} on two mutexes, taken in address order (no lock-order deadlock). */
  criticalSection2<T>(m1: number, m2: number, fn: () => T): T {
    return cs.criticalSection2(this.core, m1, m2, fn);
  }

  /**
   * {@link criticalSection} without blocking the JS thread (where this JS thread
   * may not block, the synchronous one throws `EAGAIN` when `m` is held): waits
   * for `m` with `Atomics.waitAsync` (as {@link lockAsync}), then runs `fn` —
   * synchronous — in the section, in the same turn. A `fn` that returns a
   * promise is refused (`EINVAL_ARG`, after the section ended).
   *
   * @example
   * ```ts
   * const n = await t.criticalSectionAsync(m, () => ++shared[0]);
   * ```
   */
  criticalSectionAsync<T>(m: number, fn: () => T): Promise<T> {
    return cs.criticalSectionAsync(this.core, m, fn);
  }

  /** {@link criticalSection2} without blocking the JS thread (as {@link criticalSectionAsync}). */
  criticalSection2Async<T>(m1: number, m2: number, fn: () => T): Promise<T> {
    return cs.criticalSection2Async(this.core, m1, m2, fn);
  }

  // ---- Objects and biased reference counting (src/object.ts) --------------------------

  private domainRecord = 0;
  private refs: obj.ObjectRefs | undefined;

  /** The domain record this thread belongs to ({@link Domain.id}). */
  get domainId(): number {
    if (this.domainRecord === 0) this.domainRecord = this.x.ft_thread_domain(this.id) >>> 0;
    return this.domainRecord;
  }

  /**
   * Define a type of this thread's domain, or find it by name (the same name and
   * layout give the same id in every worker; another layout is `EINVAL_TYPE`).
   * `spec.finalize` is registered for this JS thread.
   * @returns the type id: a small integer that can be posted to workers
   * @throws FtheapError `EINVAL_ARG`, `EINVAL_SIZE`, `EINVAL_TYPE`, `ENOMEM`
   */
  defineType(spec: ObjectTypeSpec): number {
    return obj.defineType(this.core, this.runtime, this.domainId, spec);
  }

  /** What the registry holds for type `id`. @throws FtheapError `EINVAL_TYPE` */
  typeInfo(id: number): ObjectTypeInfo {
    return obj.typeInfo(this.core, this.runtime, id);
  }

  /**
   * A new object of `type` with `extraBytes` more payload bytes: payload zeroed,
   * count 1, owned by this thread (its increments and decrements pay no atomics).
   * @throws FtheapError `EINVAL_TYPE`, `EINVAL_SIZE`, `ENOMEM`
   */
  newObject(type: number, extraBytes = 0): number {
    return obj.newObject(this.core, type, extraBytes);
  }

  /** +1. @throws FtheapError `EINVAL_OBJECT` (not a live object), `EWRONG_DOMAIN` */
  incref(o: number): void { obj.incref(this.core, o); }

  /**
   * -1; at zero the object is deallocated (its finalizer, then its references
   * released, iteratively). @throws FtheapError `EREFCOUNT` (its count is zero
   * already: nothing changed), `EINVAL_OBJECT`, `EWRONG_DOMAIN`
   */
  decref(o: number): void { obj.decref(this.core, o); }

  /**
   * +1 for a lock-free reader that loaded `o` from a shared slot: false if its
   * count already reached zero (also on a freed object, whose header QSBR keeps
   * readable while this thread stays attached) or if it was never published
   * ({@link share}; storing it in a shared structure does that). Re-check the
   * slot after a success (CPython's `_Py_TryIncrefCompare`): if it changed,
   * {@link decref} and retry.
   */
  tryIncref(o: number): boolean { return obj.tryIncref(this.core, o); }

  /** The true count (local + shared, whatever waits in a merge queue); `Infinity` if immortal. */
  refcount(o: number): number { return obj.refcount(this.core, o); }

  /**
   * Store object `v` (or 0) in `o`'s reference slot `offset` (one of its type's
   * `refOffsets`): +1 on `v`, -1 on the value it replaces.
   * @throws FtheapError `EINVAL_ARG` (not a reference offset of its type), `EINVAL_OBJECT`
   */
  setRef(o: number, offset: number, v: number): void { obj.setRef(this.core, o, offset, v); }

  /** The object in `o`'s reference slot `offset`, 0 if none (borrowed: no +1). */
  getRef(o: number, offset: number): number { return obj.getRef(this.core, o, offset); }

  /** The address of `o`'s payload (its header is the 24 bytes before). */
  payload(o: number): number {
    if (o >>> 0 !== o || o === 0) throw new FtheapError(ErrorCode.EINVAL_OBJECT, String(o));
    return o + OBJECT_HEADER;
  }

  /** Publish `o` for lock-free readers: other threads' {@link tryIncref} may succeed from now on. */
  share(o: number): void { obj.share(this.core, o); }

  /** Make `o` immortal: never counted, never freed. @throws FtheapError `EINVAL_STATE` (another thread owns it) */
  immortalize(o: number): void { obj.immortalize(this.core, o); }

  /** The type id of `o`. */
  typeOf(o: number): number { return obj.typeOf(this.core, o); }

  /** Whether `o` is a live object of this thread's domain (never throws for a bad number). */
  isObject(o: number): boolean { return obj.isObject(this.core, o); }

  /** Merge the decrements other threads queued to this owner now (its next checkpoint would); how many. */
  mergeQueued(): number { return obj.mergeQueued(this.core); }

  /** Opt-in JS wrappers that give their reference back when garbage-collected (see {@link ObjectRefs}). */
  get objectRefs(): obj.ObjectRefs { return this.refs ??= new obj.ObjectRefs(this); }

  // ---- Internal hook for SharedList / SharedMap (src/shared-list.ts, src/shared-map.ts) ----

  /**
   * @internal Make this thread attached and current on its instance before a raw
   * call (as every Thread method does). Throws `ENOT_ATTACHED` after
   * {@link exit} or {@link detach}.
   */
  makeCurrent(): void {
    this.enter();
  }

  /**
   * @internal For SharedList / SharedMap's withLockAsync: take the mutex at `m`
   * asynchronously (as {@link lockAsync}), then run `fn` attached and current in
   * the same turn, with the mutex still held; `fn` must release it. If `fn` is
   * never reached (an error on the way), the mutex is released here.
   */
  async lockedAsync<T>(m: number, fn: () => T): Promise<T> {
    await mutex.acquireAsync(this.core, m, -1);
    let reached = false;
    try {
      return await this.enterAsync(() => { reached = true; return fn(); });
    } finally {
      if (!reached) this.x.ft_mutex_unlock(m >>> 0);
    }
  }
}

/**
 * @internal Attach a new thread of domain record `domain` (0: the default domain)
 * on `runtime`'s instance: what {@link Runtime.attach} and {@link Domain.attach} do.
 * The options are checked before the thread is made.
 */
export function attachThread(runtime: Runtime, domain: number, opts?: AttachOptions): Thread {
  const stackBytes = stackBytesOf(opts);
  const x = runtime.exports;
  const id = x.ft_thread_attach_new(domain) >>> 0;
  if (id === 0) throw coreError(x.ft_last_error());
  if (stackBytes !== undefined) setStackBytes(x, id, stackBytes);
  const t = new Thread(runtime, id);
  // Made during a stop-the-world on a JS thread that may not wait, it stays
  // suspended until its first call (or attachAsync) after the world restarts.
  runtime.setCurrent(x.ft_thread_state(id) === 1 ? t : null);
  return t;
}
