// abi/abandon.ts — segments of exited threads (abandon.ts): reclaiming them on
// request, and the pool's figures.

import { AI_LENT, AI_LOCK_HOLDER, abandonedCollect, abandonedInfo, abandonedVisitBegin, abandonedVisitNext } from "../abandon";
import { remoteFlush } from "../remote-free";
import { curThread } from "../current";
import { domainIsValid } from "../domain";
import { EINVAL_ARG, EINVAL_DOMAIN, EINVAL_TAG, ENOT_ATTACHED, OK } from "../errors";
import { TAG_COUNT } from "../layout";
import { threadReclaimAbandoned } from "../lifecycle";
import { fail, failSigned, failValue } from "./result";
import { memSync } from "../os";

/** Adopt every segment of the current thread's domain's pool; the count, or -code (signed). */
export function ft_reclaim_abandoned(): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  return <i32>threadReclaimAbandoned(curThread);
}

/**
 * Collect domain `d`'s pool now (waits for its lock): take remote frees, free
 * empty pages, give empty segments back. The segments given back, or -code.
 */
export function ft_abandoned_collect(d: usize): i32 {
  memSync();
  if (!domainIsValid(d)) return failSigned(EINVAL_DOMAIN);
  return <i32>abandonedCollect(d, curThread, true, false);
}

/** One figure (abandon.ts AI_*) of domain `d`'s pool (value; EINVAL_ARG / EINVAL_DOMAIN give 0). */
export function ft_abandon_info(d: usize, field: u32): u32 {
  memSync();
  if (!domainIsValid(d)) return <u32>failValue(EINVAL_DOMAIN);
  if (field > AI_LENT) return <u32>failValue(EINVAL_ARG);
  return abandonedInfo(d, field);
}

/** Begin walking the live blocks of `tag` in the current thread's domain's pool (abandon.ts): status. */
export function ft_abandoned_visit_begin(tag: u32): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  if (tag >= TAG_COUNT) return fail(EINVAL_TAG);
  remoteFlush(curThread);   // its own batched remote frees are not met as live (as ft_visit_begin)
  abandonedVisitBegin(curThread, tag);
  return OK;
}

/** The next block of that walk, 0 at the end (which releases the pool lock). */
export function ft_abandoned_visit_next(): usize {
  memSync();
  return curThread == 0 ? 0 : abandonedVisitNext(curThread);
}
