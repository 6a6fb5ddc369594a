/**
 * SharedHandle: what `SharedList` and `SharedMap` have in common — a
 * structure in the shared memory reached through a handle (the address of its
 * header: magic word, writers' mutex, atomic pointer to the current storage; see
 * assembly/shared-handle.ts), used through one thread of a runtime, and freed
 * once by `destroy()`.
 *
 * The raw exports' conventions, decoded here: f64 reads return a value
 * (0 .. 2^32 − 1), −1 (nothing there) or −2 (error, code in `ft_last_error`);
 * i32 calls return OK or a code, or for queries a non-negative answer or −code.
 *
 * Writes take the structure's mutex. Where the thread's JS thread may not block
 * (a browser's main thread) a write that finds another writer inside throws
 * `EAGAIN` (nothing changed): do the writes in {@link SharedHandle.withLockAsync}
 * there, which waits for the mutex asynchronously and holds it for its callback.
 * @module
 */
import { EAGAIN, EINVAL_PTR } from './abi.gen.ts';
import type { CoreExports } from './core.ts';
import { refusedPromise } from './critical-section.ts';
import { coreError, ErrorCode, errorSaying, FtheapError } from './errors.ts';
import type { Thread } from './thread.ts';

/** What a raw f64 read returns when nothing is there (past the end, empty, absent). */
const NONE = -1;

/**
 * The base of `SharedList` and `SharedMap`: the thread, the handle and
 * the decoding of the raw exports' results into values and {@link FtheapError}s.
 */
export abstract class SharedHandle {
  /** The thread every call goes through (made current first). */
  readonly thread: Thread;
  /** The handle, 0 after `destroy()`. */
  protected h: number;
  protected readonly x: CoreExports;
  /** 'list' or 'map': names the structure in error details. */
  private readonly kind: string;

  protected constructor(thread: Thread, handle: number, kind: string) {
    this.thread = thread;
    this.h = handle;
    this.x = thread.runtime.exports;
    this.kind = kind;
  }

  /** The structure's address in the shared memory: post it to other workers. 0 after `destroy()`. */
  get handle(): number { return this.h; }

  /** A raw f64 read's result: the value, `undefined` for −1 (nothing there); throws the core's error for −2. */
  protected decode(raw: number): number | undefined {
    if (raw >= 0) return raw;
    if (raw === NONE) return undefined;
    throw this.error(this.x.ft_last_error());
  }

  /** A raw query's non-negative answer; throws for −code. */
  protected answer(n: number): number {
    if (n < 0) throw this.error(-n);
    return n;
  }

  /** Throws unless `rc` is OK. */
  protected check(rc: number, detail?: string): void {
    if (rc !== 0) throw this.error(rc, detail);
  }

  /**
   * Run `fn` holding this structure's writers' mutex, taken without blocking the
   * JS thread (`Atomics.waitAsync`; the thread detached meanwhile, as for
   * {@link Thread.lockAsync}): every write `fn` makes on this structure runs
   * under that one lock, none of them waits. `fn` is synchronous and runs in the
   * same turn as the lock's acquisition; the lock is released when it returns or
   * throws (a promise it returns is refused: `EINVAL_ARG`, after the release).
   * For a browser's main thread, where a write that would wait throws `EAGAIN`;
   * it works on every thread. Lock-free reads never wait, in or out of `fn`.
   * Writes `fn` makes on *other* structures lock them as usual.
   *
   * @example
   * ```ts
   * await map.withLockAsync(() => { map.set(1, 10); map.delete(2); });
   * const n = await list.withLockAsync(() => { list.push(7); return list.length; });
   * ```
   * @throws FtheapError `EINVAL_PTR` (destroyed), `ENOT_ATTACHED`, `EINVAL_STATE` (inside another
   *   structure's withLockAsync callback), and whatever `fn` throws
   */
  async withLockAsync<T>(fn: () => T): Promise<T> {
    if (this.h === 0) throw this.error(EINVAL_PTR);
    const h = this.h;
    const r = await this.thread.lockedAsync(h + 4, () => {   // +4: the header's mutex (assembly/shared-handle.ts)
      const rc = this.x.ft_handle_hold(h);
      if (rc !== 0) { this.x.ft_last_error(); this.x.ft_mutex_unlock(h + 4); throw this.error(rc); }
      try {
        return fn();
      } finally {
        this.x.ft_handle_hold_end();
      }
    });
    if (refusedPromise(r)) throw new FtheapError(ErrorCode.EINVAL_ARG, `withLockAsync: fn must be synchronous (it returned a promise; the ${this.kind}'s lock was released)`);
    return r;
  }

  /** The error for the core's code `rc` on this structure, saying what to do where it helps. */
  private error(rc: number, more?: string): FtheapError {
    if (rc === EAGAIN) {
      return new FtheapError(ErrorCode.EAGAIN, this.detail(`another thread is writing it; use withLockAsync() on this thread${more ? `; ${more}` : ''}`));
    }
    if (rc === EINVAL_PTR) {
      // Not "not the start of a block": the handle is not (or no longer) a live structure of its kind.
      return errorSaying(ErrorCode.EINVAL_PTR, this.h === 0
        ? `invalid ${this.kind}: it was destroyed`
        : `invalid ${this.kind} handle: not a live ${this.kind} (destroyed, or never one)`, this.detail(more));
    }
    return coreError(rc, this.detail(more));
  }

  /** Free the structure through the core's `destroy` export; the handle is 0 afterwards. */
  protected release(destroy: (handle: number) => number): void {
    this.thread.makeCurrent();
    this.check(destroy(this.h));
    this.destroyedAt = this.h;
    this.h = 0;
  }

  /** The handle this object had before its destroy() (0: not destroyed through it). */
  private destroyedAt = 0;

  private detail(more?: string): string {
    const what = this.h !== 0 ? `${this.kind} ${this.h}`
      : `this ${this.kind} was destroyed (destroy() was called on it; it was ${this.destroyedAt})`;
    return more ? `${what}, ${more}` : what;
  }
}

/**
 * @internal The handle of a new structure: `make(n)` on `thread`'s instance (made
 * current first). `what` names `n` in errors.
 * @throws FtheapError `EINVAL_SIZE` (n not an integer 0..2^32-1), the core's error when `make` returns 0
 */
export function newHandle(thread: Thread, n: number, what: string, make: (x: CoreExports, n: number) => number): number {
  if (n >>> 0 !== n) throw new FtheapError(ErrorCode.EINVAL_SIZE, `${what} ${n}`);
  thread.makeCurrent();
  const x = thread.runtime.exports;
  const h = make(x, n) >>> 0;
  if (h === 0) throw coreError(x.ft_last_error(), `${what} ${n}`);
  return h;
}

/** @internal `handle`, for `open()`; `EINVAL_PTR` unless it is an integer 0..2^32-1 (the core checks the rest). */
export function checkHandle(handle: number, kind: string): number {
  if (handle >>> 0 !== handle) throw new FtheapError(ErrorCode.EINVAL_PTR, `${kind} ${handle}`);
  return handle;
}

/** @internal Throw `EINVAL_ARG` unless `v` is an integer 0..2^32-1. */
export function checkU32(v: number, what: string): void {
  if (v >>> 0 !== v) throw new FtheapError(ErrorCode.EINVAL_ARG, `${what} ${v}: not an unsigned 32-bit integer`);
}
