/**
 * Mutexes from JS: a mutex is any zero-initialised, 4-aligned 32-bit word of the
 * shared memory. {@link Thread.lock}, {@link Thread.tryLock},
 * {@link Thread.lockAsync} and {@link Thread.unlock} delegate here; the lock
 * itself is assembly/mutex.ts.
 *
 * lockAsync is a counted waiter like a parked thread (ft_mutex_wait_begin /
 * step / cancel): a hand-off's wake may reach it, and it takes the handed-off
 * lock. Like a synchronous lock's wait, it waits with its thread detached (when
 * that thread was the attached, current one outside any critical section; from
 * the next microtask on, never inside the caller's callback), and attaches it
 * again, without blocking, once it has the lock. A timeout (lock's and
 * lockAsync's `timeoutMs`) throws `ETIMEDOUT` and leaves the mutex as it was.
 *
 * Where this JS thread may not block (a browser main thread), `lock` does not
 * wait: `EAGAIN` after a brief spin, nothing changed (use lockAsync).
 * {@link acquireAsync} is the wait the other async variants share
 * (criticalSectionAsync, the shared structures' withLockAsync).
 * @module
 */
import { EAGAIN, EINVAL_PTR, ETIMEDOUT } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { coreError, ErrorCode, FtheapError, mutexAddressError } from './errors.ts';
import { waitAsync } from './platform.ts';

/** Options of {@link Thread.lock} and {@link Thread.lockAsync}. */
export interface LockOptions {
  /** Give up after this many milliseconds of waiting (a finite number >= 0): `ETIMEDOUT`. Default: wait as long as it takes. */
  timeoutMs?: number;
}

function timeoutOf(o: LockOptions | undefined): number {
  const ms = o?.timeoutMs;
  if (ms === undefined) return -1;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new FtheapError(ErrorCode.EINVAL_ARG, `timeoutMs must be a finite number >= 0, got ${String(ms)}`);
  }
  return ms;
}

/** @internal Lock `m`, waiting detached (polling where this JS thread may not block). */
export function lock(t: ThreadCore, m: number, o?: LockOptions): void {
  const timeoutMs = timeoutOf(o);
  t.enter();
  const rc = timeoutMs < 0 ? t.x.ft_mutex_lock(m >>> 0) : t.x.ft_mutex_lock_timed(m >>> 0, timeoutMs);
  if (rc === 0) return;
  t.x.ft_last_error();   // (cleared: thrown here)
  throw lockError(rc, m, timeoutMs);
}

function lockError(rc: number, m: number, timeoutMs: number): FtheapError {
  if (rc === ETIMEDOUT) return new FtheapError(ErrorCode.ETIMEDOUT, `mutex ${m >>> 0}: not acquired within ${timeoutMs} ms`);
  return mutexError(rc, `mutex ${m >>> 0}`, 'lockAsync()');
}

/**
 * @internal The error for a failed call on `what` ("mutex 8", "mutexes 8, 12")
 * that returned the code `rc`; `hint` names the async variant to use for EAGAIN.
 */
export function mutexError(rc: number, what: string, hint: string): FtheapError {
  if (rc === EAGAIN) return new FtheapError(ErrorCode.EAGAIN, `${what}: held by another thread; use ${hint} on this thread`);
  if (rc === EINVAL_PTR) return mutexAddressError(what);
  return coreError(rc, what);
}

/** @internal Take `m` if it is free (after a brief spin when `spin`); never waits. */
export function tryLock(t: ThreadCore, m: number, spin: boolean): boolean {
  const rc = t.x.ft_mutex_trylock(m >>> 0, spin ? 1 : 0);
  if (rc < 0) throw mutexError(-rc, `mutex ${m}`, 'lockAsync()');
  return rc === 1;
}

const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();

/**
 * @internal Lock `m` without blocking the JS thread: a counted waiter that waits
 * asynchronously on the word between steps, its thread detached meanwhile (see
 * the module comment); attached again after, unless it was not attached before.
 */
export async function lockAsync(t: ThreadCore, m: number, o?: LockOptions): Promise<void> {
  const parked = await acquireAsync(t, m, timeoutOf(o));
  if (!parked) return;
  try {
    await t.enterAsync(() => undefined);
  } catch (e) {
    t.x.ft_mutex_unlock(m >>> 0);   // nothing changed
    throw e;
  }
}

/**
 * @internal Take `m` as an asynchronous counted waiter (never blocking); with
 * `timeoutMs` >= 0, `ETIMEDOUT` after that long with the count as it was. True
 * when it detached `t` to wait (the caller re-attaches it with t.enterAsync).
 * The waiter is uncounted on every path: taken, timed out, or an exception.
 */
export async function acquireAsync(t: ThreadCore, m: number, timeoutMs: number, holder = 0): Promise<boolean> {
  const x = t.x, w = m >>> 0;
  const begun = x.ft_mutex_wait_begin(w, holder);
  if (begun < 0) { x.ft_last_error(); throw mutexError(-begun, `mutex ${m}`, 'lockAsync()'); }
  if (begun === 1) return false;
  const start = now();   // the core's clock is the same (env.now)
  let counted = true, parked = false;
  try {
    // Out of the caller's synchronous callback (a section or a stop it runs in) before detaching.
    await Promise.resolve();
    parked = t.parkForWait();
    for (;;) {
      const v = x.ft_mutex_wait_step(w, start, holder);
      if (v === 0) { counted = false; return parked; }
      if (v < 0) throw mutexError(x.ft_last_error(), `mutex ${m}`, 'lockAsync()');
      if (timeoutMs >= 0 && now() - start >= timeoutMs) {
        counted = false;
        if (x.ft_mutex_wait_cancel(w, holder) === 1) return parked;   // it came free just now: taken
        throw new FtheapError(ErrorCode.ETIMEDOUT, `mutex ${w}: not acquired within ${timeoutMs} ms`);
      }
      const left = timeoutMs < 0 ? Infinity : Math.max(0, timeoutMs - (now() - start));
      // A counted waiter is always woken by an unlock: it may sleep without a time limit.
      await waitAsync(new Int32Array(t.memory.buffer), w >>> 2, v | 0, left);
    }
  } finally {
    // Never leave a count behind (an exception from the await's machinery).
    if (counted && x.ft_mutex_wait_cancel(w, holder) === 1) x.ft_mutex_unlock(w, holder);
  }
}

/** @internal Unlock `m`; `ENOT_LOCKED` if it was not locked. */
export function unlock(t: ThreadCore, m: number): void {
  const rc = t.x.ft_mutex_unlock(m >>> 0);
  if (rc !== 0) throw mutexError(rc, `mutex ${m}`, 'lockAsync()');
}
