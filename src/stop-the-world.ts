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
 *
 * Where this JS thread may not block (a browser main thread) the synchronous stop
 * never waits: `EAGAIN` (the world running as before) unless the world stops
 * within about a millisecond of polling. {@link stopTheWorldAsync} works there
 * (and everywhere): it takes the core's stop in steps (ft_stw_begin, then
 * ft_stw_poll until stopped, or ft_stw_cancel), waiting in between with
 * Atomics.waitAsync. While it waits, its JS thread runs other code; the requester
 * stays attached and its instance refuses to exit it or to attach another thread
 * (`EINVAL_STATE`), as inside a synchronous stop. `fn` is synchronous: the world
 * is stopped only while it runs, in the same turn as the last poll, and restarted
 * right after (a promise it returns is refused with `EINVAL_ARG`, after the
 * restart). A timeout, an error or an exception on the way cancels the stop:
 * every thread runs as before (a requester that waited for another stop's scope
 * may be left detached, or parked by that stop: its next call attaches it).
 * @module
 */
import { EAGAIN, ETIMEDOUT, STW_BLOCKERS_MAX, T_STW_BLOCKERS, T_STW_BLOCKERS_N } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { refusedPromise } from './critical-section.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
import { waitAsync } from './platform.ts';

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

// ETIMEDOUT, or EAGAIN (a thread that may not block), naming what held the stop up.
function stopError(t: ThreadCore, global: boolean, rc: number, timeoutMs: number | undefined, recorded = true): FtheapError {
  const { ids, count } = recorded ? blockersOf(t) : { ids: [], count: 0 };   // (not recorded: it never got the scope)
  const who = count === 0 ? 'another stop-the-world held it up'
    : `${count} thread(s) did not pause: ${ids.join(', ')}${count > ids.length ? ', ...' : ''}`;
  const name = global ? 'stopTheWorldGlobal' : 'stopTheWorld';
  if (rc === EAGAIN) {
    return new FtheapError(ErrorCode.EAGAIN, `${name}: this JS thread may not wait (${who}); use ${name}Async()`, ids);
  }
  return new FtheapError(ErrorCode.ETIMEDOUT, `${global ? 'global ' : ''}stop-the-world after ${timeoutMs} ms; ${who}`, ids);
}

/** How long an async requester waits at most between two polls (threads that detach wake it sooner). */
const POLL_SLICE_MS = 2;
/** ... and between two tries to take a scope another stop holds. */
const BUSY_SLICE_MS = 20;
const now = typeof performance !== 'undefined' ? () => performance.now() : () => Date.now();

// Atomics.waitAsync on the word `addr` while it holds `value`, at most `ms`.
function waitWord(t: ThreadCore, addr: number, value: number, ms: number): Promise<unknown> {
  return waitAsync(new Int32Array(t.memory.buffer), addr >>> 2, value | 0, Math.max(0, ms));
}

/**
 * @internal {@link stopTheWorld} without blocking the JS thread (see the module
 * comment): begin, poll until the world is stopped, run `fn` synchronously,
 * restart. `timeoutMs` bounds the whole wait: `ETIMEDOUT` with every thread
 * running as before.
 */
export async function stopTheWorldAsync<T>(t: ThreadCore, global: boolean, fn: () => T, opts?: TimeoutOptions): Promise<T> {
  const timeoutMs = timeoutOf(opts);
  const deadline = timeoutMs === undefined ? Infinity : now() + timeoutMs;
  const g = global ? 1 : 0, x = t.x;
  // 1. Take the scope: while another stop holds it, wait detached (as the synchronous requester).
  for (;;) {
    // Parked meanwhile by the stop it waited for: it waits for that restart too, within the deadline.
    let rc: number;
    try {
      rc = await t.enterAsync(() => x.ft_stw_begin(g), deadline);
    } catch (e) {
      if (e instanceof FtheapError && e.code === ErrorCode.ETIMEDOUT) throw stopError(t, global, ETIMEDOUT, timeoutMs, false);
      throw e;
    }
    if (rc === 0) break;
    x.ft_last_error();
    if (rc !== EAGAIN) throw coreError(rc, global ? 'stopTheWorldGlobalAsync' : 'stopTheWorldAsync');
    if (now() >= deadline) throw stopError(t, global, ETIMEDOUT, timeoutMs, false);
    const u32 = new Uint32Array(t.memory.buffer);
    const scope = x.ft_stw_word(g, 0) >>> 0, rw = x.ft_stw_word(g, 1) >>> 0;
    const [addr, v] = u32[scope >>> 2] !== 0 ? [scope, u32[scope >>> 2]] : [rw, u32[rw >>> 2]];
    await Promise.resolve();   // out of the caller's synchronous callback before detaching
    t.parkForWait();
    await waitWord(t, addr, v, Math.min(BUSY_SLICE_MS, deadline - now()));
  }
  // 2. Requested: poll until every thread in scope is paused, the requester attached
  // throughout (t.reenterFor: even if other code detached it meanwhile).
  let stopped = false;
  try {
    const countdown = x.ft_stw_word(g, 2) >>> 0;
    for (;;) {
      let left = 0;
      t.reenterFor(() => { left = x.ft_stw_poll(g); });
      if (left === 0) { stopped = true; break; }
      if (left < 0) { x.ft_last_error(); throw coreError(-left, 'stopTheWorldAsync: the stop ended meanwhile'); }
      if (now() >= deadline) break;
      await waitWord(t, countdown, left, Math.min(POLL_SLICE_MS, deadline - now()));
    }
  } finally {
    // A timeout, or anything thrown on the way: the world runs as before.
    if (!stopped) t.reenterFor(() => { x.ft_stw_cancel(g); x.ft_last_error(); });
  }
  if (!stopped) throw stopError(t, global, ETIMEDOUT, timeoutMs);
  // 3. Stopped: run fn now, in this turn, and restart whatever it does.
  let r: T;
  try {
    r = fn();
  } finally {
    t.reenterFor(() => { if (x.ft_stw_start(g) !== 0) t.fail(); });
  }
  if (refusedPromise(r)) {
    throw new FtheapError(ErrorCode.EINVAL_ARG, `${global ? 'stopTheWorldGlobalAsync' : 'stopTheWorldAsync'}: fn must be synchronous (it returned a promise; the world was restarted)`);
  }
  return r;
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
    if (rc !== ETIMEDOUT && rc !== EAGAIN) t.fail();
    t.x.ft_last_error();   // (cleared: the error is thrown here)
    throw stopError(t, global, rc, timeoutMs);
  }
  try {
    return fn();
  } finally {
    t.reenterFor(() => { if (t.x.ft_stw_start(g) !== 0) t.fail(); });
  }
}
