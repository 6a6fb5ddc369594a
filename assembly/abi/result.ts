// abi/result.ts — the ABI's three result conventions (the table in README.md):
//
//   status  i32          OK (0), or a positive error code
//   value   u32 / bool   the answer; 0 (false) is "none", and then ft_last_error()
//                        says whether that was an error (non-zero) or the answer
//   signed  i32 / f64    a non-negative answer, or negative: no answer. Most return
//                        -code; the list/map reads return -1 (nothing there) and -2
//                        (error). Either way ft_last_error() holds the code.
//
// Every failing call leaves its code in this instance's lastError (errors.ts),
// so the facade needs one way to read it whatever the convention.

import { setError } from "../errors";

/** status: fail with `code`. */
export function fail(code: i32): i32 {
  setError(code);
  return code;
}
/** signed (i32): fail with -`code`. */
export function failSigned(code: i32): i32 {
  setError(code);
  return -code;
}
/** signed (f64): fail with -`code`. */
export function failSigned64(code: i32): f64 {
  setError(code);
  return -<f64>code;
}
/** value: fail with 0. */
export function failValue(code: i32): usize {
  setError(code);
  return 0;
}
/** status: OK, or fail with `rc`. */
export function status(rc: i32): i32 {
  return rc == 0 ? 0 : fail(rc);
}
