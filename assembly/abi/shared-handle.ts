// abi/shared-handle.ts — holding a shared structure's writers' mutex across
// several writes (shared-handle.ts handleHold): the facade's withLockAsync takes
// the mutex asynchronously (ft_mutex_wait_*), then holds it for its callback.

import { loadAcquire } from "../atomics";
import { EINVAL_PTR, ENOT_LOCKED, OK } from "../errors";
import { M_LOCKED } from "../mutex";
import { handleHold, handleHoldEnd } from "../shared-handle";
import { listIsHandle } from "../shared-list";
import { mapIsHandle, omapIsHandle } from "../shared-map";
import { fail, status } from "./result";
import { readyCheck } from "./shared";
import { memSync } from "../os";

/**
 * Hold the writers' mutex of the live list or map `h` (at h + 4), which this
 * instance locked, across the writes until ft_handle_hold_end: they neither lock
 * nor unlock it. Status: ENOT_ATTACHED, EINVAL_PTR (not a live structure),
 * ENOT_LOCKED, EINVAL_STATE (a hold is under way on this instance). On failure
 * the mutex is as it was (the caller unlocks it).
 */
export function ft_handle_hold(h: usize): i32 {
  memSync();
  const rc = readyCheck();
  if (rc != OK) return rc;
  if (!listIsHandle(h) && !mapIsHandle(h) && !omapIsHandle(h)) return fail(EINVAL_PTR);
  if ((loadAcquire(h + 4) & M_LOCKED) == 0) return fail(ENOT_LOCKED);
  return status(handleHold(h));
}
/** End the hold: the mutex is unlocked (unless a destroy under the hold freed the structure). */
export function ft_handle_hold_end(): void { memSync(); handleHoldEnd(); }
