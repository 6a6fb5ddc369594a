/**
 * Mutexes from JS: a mutex is any zero-initialised, 4-aligned 32-bit word of the
 * shared memory. {@link Thread.lock}, {@link Thread.tryLock},
 * {@link Thread.lockAsync} and {@link Thread.unlock} delegate here; the lock
 * itself is assembly/mutex.ts.
 *
 * lockAsync is a counted waiter like a parked thread (ft_mutex_wait_begin /
 * step / cancel): a hand-off's wake may reach it, and it takes the handed-off
 * lock. A timeout (lock's and lockAsync's `timeoutMs`) throws `ETIMEDOUT` and
 * leaves the mutex and the thread as they were.
 * @module
 */
import { ETIMEDOUT } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
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
  if (rc === ETIMEDOUT) {
    t.x.ft_last_error();   // (clear it)
    throw new FtheapError(ErrorCode.ETIMEDOUT, `mutex ${m >>> 0}: not acquired within ${timeoutMs} ms`);
  }
  if (rc !== 0) t.fail(`mutex ${m}`);
}

/** @internal Take `m` if it is free (after a brief spin when `spin`); never waits. */
export function tryLock(t: ThreadCore, m: number, spin: boolean): boolean {
  const rc = t.x.ft_mutex_trylock(m >>> 0, spin ? 1 : 0);
  if (rc < 0) throw coreError(-rc, `mutex ${m}`);
  return rc === 1;
}

type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: unknown };
const nativeWaitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

// A counted waiter is always woken by an unlock (it may sleep without a time
// limit); without Atomics.waitAsync, platform.ts polls.
function waitOn(i32: Int32Array, index: number, value: number, ms: number): Promise<unknown> {
  if (nativeWaitAsync) return Promise.resolve(nativeWaitAsync(i32, index, value, ms).value);
  return waitAsync(i32, index, value);
}

const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();

/**
 * @internal Lock `m` without blocking the JS thread: a counted waiter that waits
 * asynchronously on the word between steps.
 */
export async function lockAsync(t: ThreadCore, m: number, o?: LockOptions): Promise<void> {
  const timeoutMs = timeoutOf(o);
  const x = t.x, w = m >>> 0;
  const begun = x.ft_mutex_wait_begin(w);
  if (begun < 0) throw coreError(-begun, `mutex ${w}`);
  if (begun === 1) return;
  const start = now();   // the core's clock is the same (env.now)
  let counted = true;
  try {
    for (;;) {
      const v = x.ft_mutex_wait_step(w, start);
      if (v === 0) { counted = false; return; }
      if (v < 0) throw coreError(x.ft_last_error(), `mutex ${w}`);
      if (timeoutMs >= 0 && now() - start >= timeoutMs) {
        counted = false;
        if (x.ft_mutex_wait_cancel(w) === 1) return;   // it came free just now: taken
        throw new FtheapError(ErrorCode.ETIMEDOUT, `mutex ${w}: not acquired within ${timeoutMs} ms`);
      }
      const left = timeoutMs < 0 ? Infinity : Math.max(0, timeoutMs - (now() - start));
      await waitOn(new Int32Array(t.memory.buffer), w >>> 2, v | 0, left);
    }
  } finally {
    // Never leave a count behind (an exception from the await's machinery).
    if (counted && x.ft_mutex_wait_cancel(w) === 1) x.ft_mutex_unlock(w);
  }
}

/** @internal Unlock `m`; `ENOT_LOCKED` if it was not locked. */
export function unlock(t: ThreadCore, m: number): void {
  const rc = t.x.ft_mutex_unlock(m >>> 0);
  if (rc !== 0) throw coreError(rc, `mutex ${m}`);
}
