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
 * @module
 */
import type { CoreExports } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
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
    throw coreError(this.x.ft_last_error(), this.detail());
  }

  /** A raw query's non-negative answer; throws for −code. */
  protected answer(n: number): number {
    if (n < 0) throw coreError(-n, this.detail());
    return n;
  }

  /** Throws unless `rc` is OK. */
  protected check(rc: number, detail?: string): void {
    if (rc !== 0) throw coreError(rc, this.detail(detail));
  }

  /** Free the structure through the core's `destroy` export; the handle is 0 afterwards. */
  protected release(destroy: (handle: number) => number): void {
    this.thread.makeCurrent();
    this.check(destroy(this.h));
    this.h = 0;
  }

  private detail(more?: string): string {
    return more ? `${this.kind} ${this.h}, ${more}` : `${this.kind} ${this.h}`;
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
