// abi/qsbr.ts — QSBR and delayed free, for the current thread's domain.
// Goals are u64 counters passed as f64 (exact below 2^53: 2^52 advances).

import { curThread } from "../current";
import { delayedOldestGoal, delayedPending, freeDelayed } from "../delayed-free";
import { domainIsValid } from "../domain";
import { EINVAL_ARG, EINVAL_DOMAIN, ENOT_ATTACHED, OK } from "../errors";
import { threadProcessDelayed } from "../lifecycle";
import { QI_COUNT, QSBR_KEEP, QSBR_OFFLINE, qsbrAdvance, qsbrConfigure, qsbrDeferredAdvance, qsbrGoalReached, qsbrInfo,
  qsbrPoll, qsbrQuiescent, qsbrThreadSeq, seqLt } from "../qsbr";
import { threadIsValid, threadState } from "../thread";
import { loadAcquire } from "../atomics";
import { D_THREADS, T_DF_PENDING, T_DOMAIN, T_DOMAIN_NEXT, TAG_COUNT, THREAD_EXITED, THREAD_FREE } from "../layout";
import { fail, failSigned, failSigned64 } from "./result";
import { loadSynced, memSync } from "../os";

/** Free `p` after a grace period (delayed-free.ts). 0 is ignored. Status. */
export function ft_free_delayed(p: usize): i32 { memSync(); return freeDelayed(p); }
/** 1 if `p` waits for its delayed free in the current thread's domain (the facade's error messages). */
export function ft_delayed_is_pending(p: usize): i32 { memSync(); return delayedPending(p) ? 1 : 0; }

/** Free the current thread's due delayed frees and held pages now; items freed, or -code. */
export function ft_delayed_process(): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  return <i32>threadProcessDelayed(curThread);
}
/** Items the current thread has queued and not yet freed. */
export function ft_delayed_pending(): u32 { memSync(); return curThread == 0 ? 0 : load<u32>(curThread, T_DF_PENDING); }

/** Advance the domain's write sequence; the new value (a goal), or -code. */
export function ft_qsbr_advance(): f64 {
  memSync();
  if (curThread == 0) return failSigned64(ENOT_ATTACHED);
  return <f64>qsbrAdvance(<usize>load<u32>(curThread, T_DOMAIN));
}
/** A goal that advances only every deferLimit-th call (deferred form otherwise), or -code. */
export function ft_qsbr_deferred_advance(): f64 {
  memSync();
  if (curThread == 0) return failSigned64(ENOT_ATTACHED);
  return <f64>qsbrDeferredAdvance(curThread, 0);
}
function goalValid(goal: f64): bool {
  return goal >= 0 && goal <= 9007199254740992.0 && goal == Math.floor(goal);
}
/** 1 when every thread has passed `goal` (scanning the slots if needed), 0 if not, or -code. */
export function ft_qsbr_poll(goal: f64): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!goalValid(goal)) return failSigned(EINVAL_ARG);
  return qsbrPoll(<usize>load<u32>(curThread, T_DOMAIN), <u64>goal) ? 1 : 0;
}
/** Like ft_qsbr_poll from the cached minimum only (no scan). */
export function ft_qsbr_goal_reached(goal: f64): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!goalValid(goal)) return failSigned(EINVAL_ARG);
  return qsbrGoalReached(<usize>load<u32>(curThread, T_DOMAIN), <u64>goal) ? 1 : 0;
}
/** Report a quiescent state for the current thread (without the rest of a checkpoint). Status. */
export function ft_qsbr_quiescent(): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  qsbrQuiescent(curThread);
  return OK;
}
/** Thread `thread`'s read sequence (0 = offline), or -1 for a bad thread id (signed). */
export function ft_qsbr_thread_seq(thread: usize): f64 {
  memSync();
  if (!threadIsValid(thread)) { failSigned(EINVAL_ARG); return -1; }
  const s = threadState(thread);
  if (s == THREAD_FREE || s == THREAD_EXITED) return 0;
  return <f64>qsbrThreadSeq(thread);
}

/** QSBR figure `field` (QI_*) of domain `d`, or -1 for a bad domain or field (signed). */
export function ft_qsbr_info(d: usize, field: u32): f64 {
  memSync();
  if (!domainIsValid(d)) { failSigned(EINVAL_DOMAIN); return -1; }
  if (field >= QI_COUNT) { failSigned(EINVAL_ARG); return -1; }
  return <f64>qsbrInfo(d, field);
}

/**
 * Configure domain `d`'s QSBR policy; QSBR_KEEP (0xFFFFFFFF) keeps a value.
 * deferLimit >= 1; heldTags: bit per tag whose empty pages wait for a goal
 * (applies to pages that empty from now on). Status.
 */
export function ft_qsbr_configure(d: usize, deferLimit: u32, freeLimit: u32, pageLimit: u32, heldTags: u32): i32 {
  memSync();
  if (!domainIsValid(d)) return fail(EINVAL_DOMAIN);
  if (deferLimit == 0 || (heldTags != QSBR_KEEP && heldTags >= (1 << TAG_COUNT))) return fail(EINVAL_ARG);
  qsbrConfigure(d, deferLimit, freeLimit, pageLimit, heldTags);
  return OK;
}

// ---- Diagnostics: who holds the oldest pending goal back (Domain.blockers) ----

/** The oldest goal a delayed free of domain `d` waits for (0: none), or -1 with EINVAL_DOMAIN (signed f64). */
export function ft_qsbr_pending_goal(d: usize): f64 {
  memSync();
  if (!domainIsValid(d)) { failSigned(EINVAL_DOMAIN); return -1; }
  return <f64>delayedOldestGoal(d);
}

/**
 * The next thread of domain `d` after `prev` (0: from the start of its list) that
 * holds `goal` back: live, online, its seq below the goal. 0 at the end (value;
 * EINVAL_DOMAIN / EINVAL_ARG for a bad domain, goal or prev). Racy: for reports.
 */
export function ft_qsbr_blocker(d: usize, goal: f64, prev: usize): usize {
  memSync();
  if (!domainIsValid(d)) { fail(EINVAL_DOMAIN); return 0; }
  if (!goalValid(goal)) { fail(EINVAL_ARG); return 0; }
  if (prev != 0 && (!threadIsValid(prev) || <usize>load<u32>(prev, T_DOMAIN) != d)) { fail(EINVAL_ARG); return 0; }
  const g = <u64>goal;
  let t = prev == 0 ? <usize>loadSynced(d + D_THREADS) : <usize>loadAcquire(prev + T_DOMAIN_NEXT);
  while (t != 0) {
    const s = threadState(t);
    if (s != THREAD_FREE && s != THREAD_EXITED) {
      const seq = qsbrThreadSeq(t);
      if (seq != QSBR_OFFLINE && seqLt(seq, g)) return t;
    }
    t = <usize>loadAcquire(t + T_DOMAIN_NEXT);
  }
  return 0;
}
