// abi/shared-list.ts — SharedList (shared-list.ts): conventions in abi/shared.ts.

import { ENOT_ATTACHED, OK } from "../errors";
import { listCapacity, listCompact, listDestroy, listGet, listGetLocked, listIsHandle, listIsValid, listLength, listNew,
  listPop, listPush, listResize, listSet } from "../shared-list";
import { failValue } from "./result";
import { F_ERROR, failOr, handleCheck, readyCheck, sharedReady } from "./shared";
import { memSync } from "../os";

// @ts-ignore: decorator
@inline function listCheck(list: usize): i32 {
  const rc = readyCheck();
  return handleCheck(rc, rc == OK && listIsHandle(list));
}

/** A new list with room for `capacity` items (at least 4); 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_list_new(capacity: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  return listNew(capacity);
}
/** Lock-free: item `i`, -1 past the end, -2 on error. */
export function ft_list_get(list: usize, i: u32): f64 {
  memSync();
  return listCheck(list) == OK ? listGet(list, i) : F_ERROR;
}
/** The same read under the list's mutex (benchmarks). */
export function ft_list_get_locked(list: usize, i: u32): f64 {
  memSync();
  return listCheck(list) == OK ? listGetLocked(list, i) : F_ERROR;
}
/** Lock-free: the length, or -code. */
export function ft_list_length(list: usize): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? listLength(list) : -rc;
}
/** Lock-free: the current array's capacity, or -code. */
export function ft_list_capacity(list: usize): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? listCapacity(list) : -rc;
}
/** items[i] = v: OK, ERANGE (i >= length). */
export function ft_list_set(list: usize, i: u32, v: u32): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? failOr(listSet(list, i, v)) : rc;
}
/** Append: OK, ENOMEM (unchanged), EINVAL_SIZE (at the largest capacity). */
export function ft_list_push(list: usize, v: u32): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? failOr(listPush(list, v)) : rc;
}
/** Remove the last item: it, -1 when empty, -2 on error. */
export function ft_list_pop(list: usize): f64 {
  memSync();
  return listCheck(list) == OK ? listPop(list) : F_ERROR;
}
/** Set the length (new items 0): OK, ENOMEM (unchanged), EINVAL_SIZE. */
export function ft_list_resize(list: usize, n: u32): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? failOr(listResize(list, n)) : rc;
}
/** Shrink the capacity to the length (at least 4): OK, ENOMEM (unchanged). */
export function ft_list_compact(list: usize): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? failOr(listCompact(list)) : rc;
}
/** Free the list (the array after a grace period). No thread may use it afterwards. */
export function ft_list_destroy(list: usize): i32 {
  memSync();
  const rc = listCheck(list);
  return rc == OK ? failOr(listDestroy(list)) : rc;
}
/** Debug: re-check the list's invariants. */
export function ft_debug_list_valid(list: usize): bool { return listCheck(list) == OK && listIsValid(list); }

