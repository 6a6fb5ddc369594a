// abi/shared.ts — what the SharedList and SharedMap exports share: the checks
// before a call and the f64 error value.
// Handles are checked (alignment, bounds, magic word) before use: a bad one gets
// EINVAL_PTR. Every call needs an attached current thread: a lock-free read is
// protected from reclamation only while its thread is attached. f64 results are a
// value (0 .. 2^32-1), -1 (nothing there), or -2 (error; the code is in
// ft_last_error). i32 results are OK or a code, or (has, delete, length, size,
// capacity) a non-negative answer or -code.

import { curThread } from "../current";
import { EINVAL_PTR, ENOT_ATTACHED, OK } from "../errors";
import { threadState } from "../thread";
import { THREAD_ATTACHED } from "../layout";
import { fail } from "./result";

export const F_ERROR: f64 = -2;

export function sharedReady(): bool {
  return curThread != 0 && threadState(curThread) == THREAD_ATTACHED;
}
/** OK, or ENOT_ATTACHED (left in lastError). */
export function readyCheck(): i32 {
  return sharedReady() ? OK : fail(ENOT_ATTACHED);
}
/** `rc` (from readyCheck) unless the handle check failed: then EINVAL_PTR. */
export function handleCheck(rc: i32, isHandle: bool): i32 {
  return rc != OK || isHandle ? rc : fail(EINVAL_PTR);
}
export function failOr(rc: i32): i32 { return rc == OK ? OK : fail(rc); }
