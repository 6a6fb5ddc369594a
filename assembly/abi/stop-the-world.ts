// abi/stop-the-world.ts — stopping every other thread of the current thread's
// domain (`global` false) or of the runtime (true). Status results.

import { curThread } from "../current";
import { ENOT_ATTACHED } from "../errors";
import { stwStart, stwStopTimed } from "../stop-the-world";
import { fail, status } from "./result";

export function ft_stw_stop(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStopTimed(curThread, global, -1));
}
/**
 * ft_stw_stop giving up after `timeoutMs` (< 0: never): ETIMEDOUT with every
 * thread running again; the threads that held it up are in the requester's record
 * (T_STW_BLOCKERS_N, T_STW_BLOCKERS: the generated ABI).
 */
export function ft_stw_stop_timed(global: bool, timeoutMs: f64): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStopTimed(curThread, global, timeoutMs));
}
export function ft_stw_start(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStart(curThread, global));
}
