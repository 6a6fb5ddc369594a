/**
 * Domains: isolated worlds inside one runtime, each with its own threads,
 * stop-the-world and QSBR state (CPython's interpreters). A runtime starts with a default one.
 * @module
 */
import type { CoreExports } from './core.ts';
import { coreError } from './errors.ts';
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
   * Attach a new thread of this domain on this JS thread. If another thread is
   * current here, it is detached first (a JS thread runs one thread at a time,
   * and calls through a {@link Thread} switch back to it).
   */
  attach(): Thread {
    return attachThread(this.runtime, this.id);
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
}
