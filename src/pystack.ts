/**
 * The pystack from JS: a per-thread LIFO region for scoped allocations
 * (MicroPython's pystack), {@link Thread.stack}. The region and its rules are
 * assembly/pystack.ts; its size is set at attach ({@link AttachOptions.stackBytes}).
 * @module
 */
import { PI_BLOCKS, PI_HIGH, PI_SIZE, PI_USE, PYSTACK_ALIGN, PYSTACK_MAX, PYSTACK_MIN } from './abi.gen.ts';
import type { AttachOptions } from './api.ts';
import type { CoreExports, ThreadCore } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';

/**
 * A thread's pystack: memory that is freed in the reverse order it was
 * allocated. {@link alloc} bumps a pointer (zeroed, 8-aligned bytes);
 * {@link free} takes a block and everything allocated after it; {@link scope}
 * frees what a function allocated, however it ends. The collector treats object
 * addresses stored in live pystack memory as roots.
 *
 * Owned by its thread: every call acts for it (and attaches it, as every
 * {@link Thread} call does). Exit drops every block; the memory stays with the
 * thread record for the next thread that gets it.
 *
 * @example
 * ```ts
 * const t = rt.attach({ stackBytes: 16 << 10 });
 * const frame = t.stack.alloc(64);
 * const args = t.stack.alloc(8 * nargs);
 * t.stack.free(frame);                 // frees args too
 * const n = t.stack.scope(() => {      // everything allocated inside is freed on return or throw
 *   const tmp = t.stack.alloc(256);
 *   return fill(tmp);
 * });
 * ```
 */
export class ThreadStack {
  /** @internal Made by its {@link Thread}; `exited` tells whether that thread has exited. */
  constructor(private readonly t: ThreadCore, private readonly exited: () => boolean) {}

  /**
   * `n` zeroed bytes at an 8-aligned address. `alloc(0)` takes 8 bytes, so every
   * block has an address of its own. Each block also takes 4 bytes of index.
   * @throws FtheapError `ESTACK_EXHAUSTED` (it does not fit: nothing changed),
   *   `EINVAL_SIZE` (not a u32), `ENOMEM` (the region could not be made), `ENOT_ATTACHED`
   */
  alloc(n: number): number {
    this.t.enter();
    if (n >>> 0 !== n) throw new FtheapError(ErrorCode.EINVAL_SIZE, String(n));
    const p = this.t.x.ft_pystack_alloc(n) >>> 0;
    if (p === 0) {
      const code = this.t.x.ft_last_error();
      throw coreError(code, `${n} bytes; ${this.info(PI_USE)} of ${this.info(PI_SIZE)} in use`);
    }
    return p;
  }

  /**
   * Free block `p` and every block allocated after it.
   * @throws FtheapError `ENOT_LIFO` unless `p` is the start of a live block of
   *   this thread's pystack (another thread's, an interior pointer, a block freed
   *   already): nothing changed; `ENOT_ATTACHED`
   */
  free(p: number): void {
    this.t.enter();
    if (p >>> 0 !== p) throw new FtheapError(ErrorCode.ENOT_LIFO, String(p));
    const rc = this.t.x.ft_pystack_free(p);
    if (rc !== 0) throw coreError(rc, `ptr ${p}`);
  }

  /**
   * Run `fn` (synchronous) and then free every block it left allocated, whether
   * it returns or throws; returns what `fn` returns. Scopes nest.
   */
  scope<T>(fn: () => T): T {
    const depth = this.depth;
    try {
      return fn();
    } finally {
      // Exit dropped the whole pystack already; a detach inside fn is undone for the pop only.
      if (!this.exited()) this.t.reenterFor(() => { this.t.x.ft_pystack_pop_to(depth); });
    }
  }

  /** Bytes in use: the live blocks, and 4 bytes of index each. */
  use(): number { return this.info(PI_USE); }

  /** The most bytes ever in use at once since the thread attached. */
  get highWater(): number { return this.info(PI_HIGH); }

  /** The pystack's size in bytes ({@link AttachOptions.stackBytes}). */
  get size(): number { return this.info(PI_SIZE); }

  /** Live blocks. */
  get depth(): number { return this.info(PI_BLOCKS); }

  private info(field: number): number {
    this.t.enter();
    return this.t.x.ft_pystack_info(this.t.id, field) >>> 0;
  }
}

/**
 * @internal The `stackBytes` of attach options, checked before the thread is made
 * (undefined: the default).
 * @throws FtheapError `EINVAL_SIZE` naming the range
 */
export function stackBytesOf(opts: AttachOptions | undefined): number | undefined {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') {
    throw new FtheapError(ErrorCode.EINVAL_OPTION, `attach options must be an object, got ${String(opts)}`);
  }
  const bytes = opts.stackBytes;
  if (bytes === undefined) return undefined;
  if (typeof bytes !== 'number' || bytes >>> 0 !== bytes || bytes < PYSTACK_MIN || bytes > PYSTACK_MAX
      || bytes % PYSTACK_ALIGN !== 0) {
    throw new FtheapError(ErrorCode.EINVAL_SIZE,
      `stackBytes must be a multiple of ${PYSTACK_ALIGN} from ${PYSTACK_MIN} to ${PYSTACK_MAX} (the maximum, 1 MiB), got ${String(bytes)}`);
  }
  return bytes;
}

/** @internal Give thread record `id` (just attached on this instance, no block yet) a pystack of `bytes`. */
export function setStackBytes(x: CoreExports, id: number, bytes: number): void {
  const rc = x.ft_pystack_set_size(id, bytes);
  if (rc !== 0) throw coreError(rc, `stackBytes ${bytes}`);
}
