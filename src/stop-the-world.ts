/**
 * Stop-the-world from JS: pause every other thread of the caller's domain (or of
 * the whole runtime), run a callback, restart them. {@link Thread.stopTheWorld}
 * and {@link Thread.stopTheWorldGlobal} delegate here; the mechanism is in
 * assembly/stop-the-world.ts.
 *
 * With `timeoutMs`, a stop that cannot pause every thread in time (one that stays
 * attached without reaching a checkpoint, or another requester that keeps the
 * world stopped) throws `ETIMEDOUT`: every thread runs again as before, and
 * {@link FtheapError.blockers} lists the threads that held it up (their
 * {@link Thread.id}s; empty when it was another stop it waited for).
 * @module
 */
import { ETIMEDOUT, STW_BLOCKERS_MAX, T_STW_BLOCKERS, T_STW_BLOCKERS_N } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { ErrorCode, FtheapError } from './errors.ts';

/** Options of a wait that may give up. */
export interface TimeoutOptions {
  /** Give up after this many milliseconds with `ETIMEDOUT` (default: wait as long as it takes). */
  timeoutMs?: number;
}

/**
 * @internal `opts.timeoutMs` checked: undefined (no limit; Infinity too), or a
 * number ≥ 0; anything else is `EINVAL_OPTION` naming it.
 */
export function timeoutOf(opts: TimeoutOptions | undefined): number | undefined {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== 'object') throw new FtheapError(ErrorCode.EINVAL_OPTION, `options must be an object, got ${String(opts)}`);
  const ms = opts.timeoutMs;
  if (ms === undefined || ms === Infinity) return undefined;
  if (typeof ms !== 'number' || !(ms >= 0)) {
    throw new FtheapError(ErrorCode.EINVAL_OPTION, `timeoutMs must be a number >= 0, got ${String(ms)}`);
  }
  return ms;
}

/** The threads a timed-out stop of `t` recorded as holding it up (at most STW_BLOCKERS_MAX), and how many there were. */
function blockersOf(t: ThreadCore): { ids: number[]; count: number } {
  const u32 = new Uint32Array(t.memory.buffer);
  const count = u32[(t.id + T_STW_BLOCKERS_N) >>> 2];
  const ids: number[] = [];
  for (let i = 0; i < Math.min(count, STW_BLOCKERS_MAX); i++) ids.push(u32[((t.id + T_STW_BLOCKERS) >>> 2) + i]);
  return { ids, count };
}

/**
 * @internal Run `fn` with the other threads of `t`'s domain (`global`: of every
 * domain) paused, then restart them — even if `fn` throws or detaches `t`.
 */
export function stopTheWorld<T>(t: ThreadCore, global: boolean, fn: () => T, opts?: TimeoutOptions): T {
  const timeoutMs = timeoutOf(opts);
  t.enter();
  const g = global ? 1 : 0;
  const rc = timeoutMs === undefined ? t.x.ft_stw_stop(g) : t.x.ft_stw_stop_timed(g, timeoutMs);
  if (rc !== 0) {
    if (rc !== ETIMEDOUT) t.fail();
    t.x.ft_last_error();   // (cleared: the error is thrown here)
    const { ids, count } = blockersOf(t);
    const who = count === 0 ? 'another stop-the-world held it up'
      : `${count} thread(s) did not pause: ${ids.join(', ')}${count > ids.length ? ', ...' : ''}`;
    throw new FtheapError(ErrorCode.ETIMEDOUT, `${global ? 'global ' : ''}stop-the-world after ${timeoutMs} ms; ${who}`, ids);
  }
  try {
    return fn();
  } finally {
    t.reenterFor(() => { if (t.x.ft_stw_start(g) !== 0) t.fail(); });
  }
}
