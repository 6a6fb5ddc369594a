/**
 * Domains: isolated worlds inside one runtime, each with its own threads,
 * stop-the-world and QSBR state (CPython's interpreters). A runtime starts with a default one.
 * @module
 */
import { coreError } from './errors.ts';
import { qsbrConfigure, qsbrInfo, type QsbrInfo, type QsbrOptions } from './qsbr.ts';
import type { CoreExports, Runtime } from './runtime.ts';
import type { Thread } from './thread.ts';

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
    return this.runtime.attachTo(this.id);
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
   * Set the QSBR policy: how often deferred advances really advance, the byte
   * limits that force an advance, and which tags' empty pages wait for a goal
   * (see {@link QsbrOptions}). Omitted fields keep their values.
   * @throws FtheapError `EINVAL_ARG`, `EINVAL_TAG`
   */
  configureQsbr(options: QsbrOptions): void {
    qsbrConfigure(this.x, this.id, options);
  }
}
