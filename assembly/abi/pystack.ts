// abi/pystack.ts — the current thread's pystack (pystack.ts): allocate, free in
// LIFO order, pop to a depth (scopes), its size (set at attach), its figures.

import { loadAcquire } from "../atomics";
import { curThread, instanceId } from "../current";
import { EINVAL_ARG, EINVAL_SIZE, EINVAL_STATE, ENOT_ATTACHED, OK } from "../errors";
import { PI_CAPACITY, pystackAlloc, pystackFree, pystackInfo, pystackPopTo, pystackSetSize, pystackSizeValid }
  from "../pystack";
import { threadIsValid, threadState } from "../thread";
import { T_OWNER, T_STACK_COUNT, THREAD_ATTACHED, THREAD_DETACHED, THREAD_SUSPENDED } from "../layout";
import { fail, failSigned, failValue } from "./result";
import { memSync } from "../os";

/**
 * `n` zeroed bytes on the current thread's pystack, 8-aligned (n = 0 takes 8):
 * the address, or 0 with ESTACK_EXHAUSTED (nothing changed), ENOMEM (the region
 * could not be made), ENOT_ATTACHED.
 */
export function ft_pystack_alloc(n: usize): usize {
  memSync();
  if (curThread == 0) return failValue(ENOT_ATTACHED);
  return pystackAlloc(curThread, n);
}

/**
 * Free `p` and every pystack block allocated after it. Status: ENOT_LIFO
 * (nothing changed) unless `p` starts a live block of the current thread;
 * ENOT_ATTACHED.
 */
export function ft_pystack_free(p: usize): i32 {
  memSync();
  if (curThread == 0) return fail(ENOT_ATTACHED);
  const rc = pystackFree(curThread, p);
  return rc == OK ? OK : fail(rc);
}

/** Free every block above the first `depth` (PI_BLOCKS read before): the blocks freed, or -ENOT_ATTACHED. */
export function ft_pystack_pop_to(depth: u32): i32 {
  memSync();
  if (curThread == 0) return failSigned(ENOT_ATTACHED);
  return <i32>pystackPopTo(curThread, depth);
}

/**
 * Set `thread`'s pystack size in bytes (the facade's attach option): a multiple
 * of 8 from PYSTACK_MIN to PYSTACK_MAX, else EINVAL_SIZE. Status: EINVAL_ARG
 * (not a thread), ENOT_ATTACHED (exited, or another instance's), EINVAL_STATE
 * (blocks are live). Any state but exited, from the thread's own instance.
 */
export function ft_pystack_set_size(thread: usize, bytes: u32): i32 {
  memSync();
  if (!threadIsValid(thread)) return fail(EINVAL_ARG);
  const s = threadState(thread);
  if ((s != THREAD_ATTACHED && s != THREAD_DETACHED && s != THREAD_SUSPENDED)
      || instanceId == 0 || loadAcquire(thread + T_OWNER) != instanceId) return fail(ENOT_ATTACHED);
  if (!pystackSizeValid(bytes)) return fail(EINVAL_SIZE);
  if (load<u32>(thread, T_STACK_COUNT) != 0) return fail(EINVAL_STATE);
  pystackSetSize(thread, bytes);
  return OK;
}

/**
 * One figure (PI_*) of `thread`'s pystack (value; EINVAL_ARG gives 0). Exact for
 * the caller's own thread, or one that is stopped, exited or reaped.
 */
export function ft_pystack_info(thread: usize, field: u32): u32 {
  memSync();
  if (!threadIsValid(thread) || field > PI_CAPACITY) return <u32>failValue(EINVAL_ARG);
  return pystackInfo(thread, field);
}
