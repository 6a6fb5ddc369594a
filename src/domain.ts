/**
 * Domains: isolated worlds inside one runtime, each with its own threads,
 * stop-the-world and QSBR state (CPython's interpreters). A runtime starts with a default one.
 * @module
 */
import { AI_FREED, AI_FLOATED, AI_LENT, AI_LOCK_HOLDER, AI_RECLAIMED, AI_SEGMENTS } from './abi.gen.ts';
import type { AbandonInfo, AttachOptions, DomainStats, ObjectTypeSpec, ReapReport, ThreadInfo } from './api.ts';
import { objectStats } from './object.ts';
import { Gc } from './gc.ts';
import { EAGAIN, EBUSY, THREAD_ATTACHED, THREAD_DETACHED, THREAD_EXITED, THREAD_SUSPENDED } from './abi.gen.ts';
import type { CoreExports } from './core.ts';
import { coreError, ErrorCode, FtheapError, reapBlockedError } from './errors.ts';
import { qsbrConfigure, qsbrInfo, type QsbrInfo, type QsbrOptions } from './qsbr.ts';
import type { Runtime } from './runtime.ts';
import { attachThread, type Thread } from './thread.ts';

/**
 * A domain of a runtime: a group of threads with their own stop-the-world,
 * QSBR sequences and delayed-free policy, and a version every thread of it
 * mirrors. Threads of other domains are not paused by its stop-the-world and do
 * not hold up its QSBR goals. A runtime starts with one ({@link Runtime.domain}).
 *
 * Lifecycle: {@link Runtime.createDomain} makes one; other JS threads reach it by
 * its {@link id} with {@link Runtime.domainById}, and {@link attach} threads to
 * it. A domain is never destroyed; it lives as long as the runtime. A `Domain`
 * object is only a view (several may name one domain): use it on the JS thread
 * whose `Runtime` object made it.
 *
 * @example
 * ```ts
 * const d = rt.createDomain();
 * d.configureQsbr({ deferLimit: 4 });
 * worker.postMessage({ handle: rt.share(), domain: d.id });
 * // worker
 * const t = rt.domainById(domain).attach();
 * t.stopTheWorld(() => inspect());   // pauses only this domain's threads
 * ```
 */
export class Domain {
  /** The domain record's address (the same in every worker). */
  readonly id: number;
  /** The runtime (this JS thread's view of it). */
  readonly runtime: Runtime;
  private readonly x: CoreExports;

  /** @internal Use {@link Runtime.domain} or {@link Runtime.createDomain}. */
  constructor(runtime: Runtime, id: number) {
    this.runtime = runtime;
    this.id = id;
    this.x = runtime.exports;
  }

  /**
   * Define a type of this domain (see {@link Thread.defineType}) through this JS
   * thread's current thread, which must belong to this domain.
   * @throws FtheapError `ENOT_ATTACHED` (no current thread of this domain here), and as Thread.defineType
   */
  defineType(spec: ObjectTypeSpec): number {
    const t = this.runtime.current;
    if (!t || t.domainId !== this.id) {
      throw new FtheapError(ErrorCode.ENOT_ATTACHED, 'defineType needs a current thread of this domain on this JS thread (attach one)');
    }
    return t.defineType(spec);
  }

  private gcView: Gc | undefined;
  /** The domain's cycle collector (see {@link Gc}). */
  get gc(): Gc { return this.gcView ??= new Gc(this.runtime, this.id); }

  /** The domain's counters: objects (see {@link ObjectStats}) and live threads. */
  stats(): DomainStats {
    return { objects: objectStats(this.x, this.id), threadsLive: this.x.ft_domain_threads_live(this.id) >>> 0 };
  }

  /**
   * Attach a new thread of this domain on this JS thread. If another thread is
   * current here, it is detached first (a JS thread runs one thread at a time,
   * and calls through a {@link Thread} switch back to it). `opts.stackBytes`
   * sizes its pystack ({@link Thread.stack}).
   * @throws FtheapError `EINVAL_SIZE` (a bad `stackBytes`: nothing attached), `ENOMEM`, `EINVAL_DOMAIN`
   */
  attach(opts?: AttachOptions): Thread {
    return attachThread(this.runtime, this.id, opts);
  }

  /**
   * The domain's version, mirrored into every thread's eval breaker: threads
   * compare their copy ({@link Thread.version}) to find out cheaply that something
   * domain-wide changed (as CPython does for instrumentation).
   */
  get version(): number {
    return this.x.ft_domain_version(this.id) >>> 0;
  }

  /**
   * Set the version (24 bits; 0 resets it). Every thread's copy is rewritten at
   * the same time, so none keeps a stale one.
   */
  setVersion(version: number): void {
    if (!Number.isInteger(version) || version < 0 || version > 0xFFFFFF) {
      throw new FtheapError(ErrorCode.EINVAL_ARG, `setVersion: ${String(version)} (an integer 0 to 2^24 - 1)`);
    }
    const rc = this.x.ft_domain_set_version(this.id, version >>> 0);
    if (rc !== 0) throw coreError(rc);
  }

  /** Threads of this domain that are attached, detached or suspended (not exited). */
  get threadsLive(): number {
    return this.x.ft_domain_threads_live(this.id) >>> 0;
  }

  /** QSBR sequences, slots, delayed-free accounting and held pages (a snapshot). */
  qsbrInfo(): QsbrInfo {
    return qsbrInfo(this.x, this.id);
  }

  /**
   * Which threads hold back the oldest goal a delayed free of this domain waits
   * for: their ids ({@link Thread.id}), the live threads that are online (attached)
   * and have not passed a quiescent state (a checkpoint) since that goal was
   * issued. Empty when nothing waits or nobody holds it back. A snapshot: threads
   * move on while it is taken. Held pages are not looked at.
   */
  blockers(): number[] {
    const goal = this.x.ft_qsbr_pending_goal(this.id);
    if (goal < 0) throw coreError(this.x.ft_last_error());
    const out: number[] = [];
    if (goal === 0) return out;
    for (let t = this.x.ft_qsbr_blocker(this.id, goal, 0) >>> 0; t !== 0; t = this.x.ft_qsbr_blocker(this.id, goal, t) >>> 0) {
      out.push(t);
    }
    return out;
  }

  /**
   * Set the QSBR policy: how often deferred advances really advance, the byte
   * limits that force an advance, and which tags' empty pages wait for a goal
   * (see {@link QsbrOptions}). Omitted fields keep their values.
   * @throws FtheapError `EINVAL_ARG`, `EINVAL_TAG`
   */
  configureQsbr(options: QsbrOptions): void {
    qsbrConfigure(this.x, this.id, options);
  }

  /** The pool of segments exited threads abandoned here (a snapshot). */
  abandoned(): AbandonInfo {
    const f = (field: number) => this.x.ft_abandon_info(this.id, field) >>> 0;
    return { segments: f(AI_SEGMENTS), freed: f(AI_FREED), reclaimed: f(AI_RECLAIMED), lockHolder: f(AI_LOCK_HOLDER),
      floated: f(AI_FLOATED), lent: f(AI_LENT) };
  }

  /**
   * Collect the abandoned pool now rather than at the next checkpoint: take
   * blocks freed into it, free its empty pages, give segments with no live block
   * back to the runtime. Returns the segments given back. Callable on any JS
   * thread of the runtime, with or without a current thread.
   */
  collectAbandoned(): number {
    const n = this.x.ft_abandoned_collect(this.id) | 0;
    if (n < 0) throw coreError(-n);
    return n;
  }

  /**
   * Recover thread `id`, whose worker died (terminated, crashed, or gone): what
   * its `exit()` would have done, from outside. It goes offline for QSBR, its
   * pending delayed frees pass to the domain, its segments are abandoned to the
   * domain's pool (its live blocks stay valid and freeable by anyone), a
   * stop-the-world waiting for it stops waiting, and its record refuses its old
   * JS thread forever (`ENOT_ATTACHED`, saying it was reaped).
   *
   * The caller asserts the worker is gone: a dead thread cannot be told from a
   * slow one. {@link Runtime.startWorker} does this for you on the worker's exit.
   * Callable on any JS thread of the runtime, with or without a current thread (a
   * current thread of this JS thread is detached first; its next call attaches it).
   * @throws FtheapError `EINVAL_ARG` (no thread), `EWRONG_DOMAIN` (another
   *   domain's), `EINVAL_STATE` (exited or reaped already, or this JS thread's
   *   current thread), `EAGAIN` (nothing reaped: another instance has held a lock
   *   or role the reap needs unchanged for 10–50 ms; the message names it. If its
   *   JS thread is gone too, reap it first; else retry later)
   */
  reap(id: number): ReapReport {
    if (!Number.isInteger(id) || id <= 0) throw new FtheapError(ErrorCode.EINVAL_ARG, `thread id ${id}`);
    const cur = this.runtime.current;
    if (cur && cur.id === id) throw new FtheapError(ErrorCode.EINVAL_STATE, 'a thread cannot reap itself: call exit()');
    const n = this.x.ft_thread_reap(this.id, id >>> 0) | 0;
    if (cur) this.runtime.setCurrent(null);   // detached by the reap, EAGAIN too (nothing else done then)
    if (n === -EAGAIN) throw reapBlockedError(this.x.ft_reap_blocker() >>> 0, `thread ${id}`);
    if (n < 0) throw coreError(-n, `thread ${id}`);
    const heldLocks: number[] = [];
    for (let i = 0; i < n; i++) heldLocks.push(this.x.ft_thread_held_lock(id >>> 0, i) >>> 0);
    return { id, heldLocks };
  }

  /** Every thread of this domain, in the order they were made (newest first), with its state. */
  threads(): ThreadInfo[] {
    const out: ThreadInfo[] = [];
    for (let t = this.x.ft_domain_thread_next(this.id, 0) >>> 0; t !== 0; t = this.x.ft_domain_thread_next(this.id, t) >>> 0) {
      const raw = this.x.ft_thread_state(t) >>> 0;
      const state = raw === THREAD_ATTACHED ? 'attached' : raw === THREAD_DETACHED ? 'detached'
        : raw === THREAD_SUSPENDED ? 'suspended' : raw === THREAD_EXITED
          ? (this.x.ft_thread_reaped(t) === 1 ? 'reaped' : 'exited') : undefined;
      if (state === undefined) continue;
      out.push({ id: t, state, idleMs: this.x.ft_thread_idle_ms(t), instance: this.x.ft_thread_owner(t) >>> 0 });
    }
    return out;
  }

  /**
   * Close this domain for good: its objects are swept first ({@link Gc.sweepAll},
   * finalizers run on this JS thread, on a thread attached for the purpose),
   * then every block of it is freed and its segments go
   * back to the runtime's pool (a new domain then reuses that memory without the
   * memory growing). Every thread of it must have exited (or been reaped); the
   * default domain cannot be closed. Afterwards every use of the domain throws
   * `EINVAL_DOMAIN`; pointers into its blocks are dangling. Callable on any JS
   * thread, with or without a current thread; returns the 4 MiB units given back.
   * @throws FtheapError `EBUSY` (its `blockers` are the threads that have not
   *   exited), `EINVAL_DOMAIN` (the default domain, or closed already)
   */
  close(): number {
    if (this.id === this.x.ft_domain_default() >>> 0) {
      throw new FtheapError(ErrorCode.EINVAL_DOMAIN, 'the default domain cannot be closed');
    }
    const busy = () => {
      const blockers = this.threads().filter((t) => t.state !== 'exited' && t.state !== 'reaped').map((t) => t.id);
      return new FtheapError(ErrorCode.EBUSY, `threads not exited: ${blockers.join(', ')}`, blockers);
    };
    if (this.x.ft_domain_valid(this.id) !== 1) throw coreError(12, `domain ${this.id}`);
    if ((this.x.ft_domain_threads_live(this.id) >>> 0) !== 0) throw busy();
    // Objects left: a sweep first, on a thread of its own, so their finalizers run (here, on this JS thread).
    if (this.stats().objects.live > 0) this.sweepObjects();
    const n = this.x.ft_domain_close(this.id) | 0;
    if (n >= 0) return n;
    if (-n === EBUSY) throw busy();
    throw coreError(-n, `domain ${this.id}`);
  }

  // d.close()'s sweep: a thread of the domain attached for it (the caller's current thread comes back at its next call).
  private sweepObjects(): void {
    const t = this.attach();
    try {
      this.gc.sweepAll();
    } finally {
      t.exit();
    }
  }
}
