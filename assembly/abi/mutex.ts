// abi/mutex.ts — mutexes (any zeroed, 4-aligned word) and critical sections.

import { curThread } from "../current";
import { csBegin, csBegin2, csEnd } from "../critical-section";
import { EINVAL_PTR, ENOT_ATTACHED, ENOT_LOCKED, OK } from "../errors";
import { LOCK_OK, mutexLockSlow, mutexTryLock, mutexUnlock } from "../mutex";
import { lockDetaching } from "../thread";
import { ROOT_END, T_CS_DEPTH } from "../layout";
import { fail, failSigned, status } from "./result";

function mutexChecked(m: usize): bool {
  return (m & 3) == 0 && m >= ROOT_END && <u64>m + 4 <= (<u64>memory.size() << 16);
}

/** Lock (detaching the current thread while it waits, if attached). Status. */
export function ft_mutex_lock(m: usize): i32 {
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  lockDetaching(curThread, m);
  return OK;
}
/** Signed: 1 when taken, 0 when not (spins briefly first if `spin`). */
export function ft_mutex_trylock(m: usize, spin: bool): i32 {
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  if (mutexTryLock(m)) return 1;
  return spin && mutexLockSlow(m, false) == LOCK_OK ? 1 : 0;
}
/** Status: ENOT_LOCKED when it was not locked. */
export function ft_mutex_unlock(m: usize): i32 {
  if (!mutexChecked(m)) return fail(EINVAL_PTR);
  return mutexUnlock(m) ? OK : fail(ENOT_LOCKED);
}

/** Begin a critical section: a token for ft_cs_end (0 or 1), or -code (signed). */
export function ft_cs_begin(m: usize): i32 {
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!mutexChecked(m)) return failSigned(EINVAL_PTR);
  const t = csBegin(curThread, m);
  return t >= 0 ? t : failSigned(-t);
}
export function ft_cs_begin2(a: usize, b: usize): i32 {
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  if (!mutexChecked(a) || !mutexChecked(b)) return failSigned(EINVAL_PTR);
  const t = csBegin2(curThread, a, b);
  return t >= 0 ? t : failSigned(-t);
}
export function ft_cs_end(token: i32): i32 {
  if (curThread == 0) return fail(ENOT_ATTACHED);
  return status(csEnd(curThread, token));
}
export function ft_cs_depth(): u32 { return curThread == 0 ? 0 : load<u32>(curThread, T_CS_DEPTH); }
