// abi/stop-the-world.ts — stopping every other thread of the current thread's
// domain (`global` false) or of the runtime (true). Status results.

import { curThread } from "../current";
import { ENOT_ATTACHED } from "../errors";
import { stwStart, stwStop } from "../stop-the-world";
import { fail, status } from "./result";

export function ft_stw_stop(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStop(curThread, global));
}
export function ft_stw_start(global: bool): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(stwStart(curThread, global));
}
