// abi/stop-the-world.ts — stopping every other thread of the current thread's
// domain (`global` false) or of the runtime (true). Status results.
// Where the instance may not block, ft_stw_stop* never wait: EAGAIN (the facade's
// stopTheWorldAsync uses the steps ft_stw_begin / poll / cancel instead).

import { curThread } from "../current";
import { hostCanBlock } from "../host";
import { EAGAIN, EINVAL_STATE, ENOT_ATTACHED, ETIMEDOUT } from "../errors";
import { stwBegin, stwCancel, stwIsBegun, stwPoll, stwStart, stwStopTimed, stwWord } from "../stop-the-world";
import { fail, failSigned, failValue, status } from "./result";
import { memSync } from "../os";

export function ft_stw_stop(global: bool): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStopTimed(curThread, global, -1, !hostCanBlock()));
}
/**
 * ft_stw_stop giving up after `timeoutMs` (< 0: never): ETIMEDOUT with every
 * thread running again; the threads that held it up are in the requester's record
 * (T_STW_BLOCKERS_N, T_STW_BLOCKERS: the generated ABI).
 */
export function ft_stw_stop_timed(global: bool, timeoutMs: f64): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStopTimed(curThread, global, timeoutMs, !hostCanBlock()));
}
export function ft_stw_start(global: bool): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStart(curThread, global));
}

// ---- A stop in steps (the facade's stopTheWorldAsync) ---------------------------------

/**
 * Begin a stop without waiting: OK (requested: poll it), EAGAIN (another stop
 * holds the scope's lock or the reader/writer word: nothing changed; wait on
 * ft_stw_word 0 or 1 and retry), EINVAL_STATE (a stop inside a stop), ENOT_ATTACHED.
 */
export function ft_stw_begin(global: bool): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  const rc = stwBegin(curThread, global, -Infinity);
  return status(rc == ETIMEDOUT ? EAGAIN : rc);
}
/**
 * Signed: 0 once the world is stopped (then run, and ft_stw_start), else the
 * countdown, to Atomics.waitAsync on at ft_stw_word 2 (a slice at most: poll
 * again after); -EINVAL_STATE when no stop of the current thread is under way.
 */
export function ft_stw_poll(global: bool): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!stwIsBegun(curThread, global)) return failSigned(EINVAL_STATE);
  return <i32>stwPoll(curThread, global);
}
/**
 * Give up a begun stop that is not stopped yet: every thread runs as before; the
 * threads that held it up are in the requester's record (as ETIMEDOUT's). Status.
 */
export function ft_stw_cancel(global: bool): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  if (!stwIsBegun(curThread, global)) return fail(EINVAL_STATE);
  stwCancel(curThread, global);
  return 0;
}
/** Value: the address of the word to wait on (0 the scope's lock, 1 the reader/writer word, 2 the countdown). */
export function ft_stw_word(global: bool, which: u32): usize {
  memSync();
  if (curThread == 0) return failValue(ENOT_ATTACHED);
  return stwWord(curThread, global, which);
}
