// abi/stats.ts — looking at the heap: block walks, statistics, page validation.

import { assertCodeGet, assertFirst, ASSERT_LEVEL } from "../assert";
import { curThread } from "../current";
import { instanceIdEnsure } from "../instance";
import { EINVAL_TAG, ENOT_ATTACHED, OK } from "../errors";
import { memSync, osResetPeak } from "../os";
import { pageIsValid } from "../page";
import { statsRelease, statsSnapshot } from "../stats";
import { remoteFlush, remotePending } from "../remote-free";
import { visitBegin, visitNext } from "../visit";
import { TAG_COUNT } from "../layout";
import { threadValidate } from "../lifecycle";
import { fail, failValue } from "./result";

/** Start walking the current thread's live blocks of `tag` (status). */
export function ft_visit_begin(tag: u32): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  if (tag >= TAG_COUNT) return fail(EINVAL_TAG);
  remoteFlush(curThread);   // its own batched remote frees are not met as live
  visitBegin(tag);
  return OK;
}
/** The next live block, or 0 at the end (value). */
export function ft_visit_next(): usize { memSync(); return curThread == 0 ? 0 : visitNext(); }

/** Fill the stats scratch area (thread 0: the whole runtime) and lock it (stamped with this instance's id); its address. */
export function ft_stats_snapshot(thread: usize, tag: u32): usize {
  memSync();
  if (curThread != 0 && remotePending(curThread)) remoteFlush(curThread);   // its own batched remote frees are not counted live
  return statsSnapshot(instanceIdEnsure(), thread, tag);
}
export function ft_stats_release(): void { memSync(); statsRelease(); }
export function ft_stats_reset_peak(): void { memSync(); osResetPeak(); }

/** Debug: re-check a page's counting invariant (owner only). */
export function ft_debug_page_valid(page: usize): bool { return pageIsValid(page); }

/** Debug: run every validator the current thread may run (lifecycle.ts threadValidate): A_NONE or the failing A_* code. */
export function ft_debug_validate(): u32 {
  if (curThread == 0) return <u32>failValue(ENOT_ATTACHED);
  return threadValidate(curThread);
}

/** The code of the assert that trapped on this instance (assert.ts A_*), 0 if none did. */
export function ft_assert_code(): u32 { memSync(); return assertCodeGet(); }
/** The first assert that failed on any thread of the runtime, 0 if none did. */
export function ft_assert_first(): u32 { memSync(); return assertFirst(); }
/** The assert tier compiled in: 0 release, 3 debug (assert.ts). */
export function ft_assert_level(): i32 { memSync(); return ASSERT_LEVEL; }
