// abi/shared-map.ts — SharedMap (shared-map.ts): conventions in abi/shared.ts.

import { EINVAL_PTR, ENOT_ATTACHED, OK } from "../errors";
import { mapCapacity, mapCompareAndSet, mapDelete, mapDestroy, mapGet, mapGetLocked, mapIsHandle, mapIsValid, mapNew,
  mapNext, mapNextValue, mapSet, mapSize, mapSwap, mapTake } from "../shared-map";
import { failValue } from "./result";
import { F_ERROR, failOr, handleCheck, readyCheck, sharedReady } from "./shared";

// @ts-ignore: decorator
@inline function mapCheck(map: usize): i32 {
  const rc = readyCheck();
  return handleCheck(rc, rc == OK && mapIsHandle(map));
}

/** A new map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_map_new(expected: u32): usize {
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  return mapNew(expected);
}
/** Lock-free: the value of `key`, -1 when absent, -2 on error. */
export function ft_map_get(map: usize, key: u32): f64 {
  return mapCheck(map) == OK ? mapGet(map, key) : F_ERROR;
}
/** The same read under the map's mutex (benchmarks). */
export function ft_map_get_locked(map: usize, key: u32): f64 {
  return mapCheck(map) == OK ? mapGetLocked(map, key) : F_ERROR;
}
/** Lock-free: 1 present, 0 absent, or -code. */
export function ft_map_has(map: usize, key: u32): i32 {
  const rc = mapCheck(map);
  if (rc != OK) return -rc;
  const v = mapGet(map, key);
  return v >= 0 ? 1 : v == -1 ? 0 : -EINVAL_PTR;
}
/** key -> value: OK, ENOMEM (unchanged). */
export function ft_map_set(map: usize, key: u32, value: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? failOr(mapSet(map, key, value)) : rc;
}
/** Remove: 1 removed, 0 absent, or -code. */
export function ft_map_delete(map: usize, key: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapDelete(map, key) : -rc;
}
/** key -> value: the value it replaced, -1 when absent, -2 on error (ENOMEM: unchanged). */
export function ft_map_swap(map: usize, key: u32, value: u32): f64 {
  return mapCheck(map) == OK ? mapSwap(map, key, value) : F_ERROR;
}
/** key -> value if its value is `expected` (-1: if absent): 1 set, 0 not, or -code (EINVAL_ARG, ENOMEM). */
export function ft_map_compare_and_set(map: usize, key: u32, expected: f64, value: u32): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapCompareAndSet(map, key, expected, value) : -rc;
}
/** Remove: the value it had, -1 when absent, -2 on error. */
export function ft_map_take(map: usize, key: u32): f64 {
  return mapCheck(map) == OK ? mapTake(map, key) : F_ERROR;
}
/** Lock-free iteration step: the key after `after` (-1: the first) in hash order, -1 when done, -2 on error. */
export function ft_map_next(map: usize, after: f64): f64 {
  return mapCheck(map) == OK ? mapNext(map, after) : F_ERROR;
}
/** The value of the key this instance's last ft_map_next returned. */
export function ft_map_next_value(): u32 { return mapNextValue(); }
/** Entries (read under the mutex), or -code. */
export function ft_map_size(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapSize(map) : -rc;
}
/** Lock-free: slots in the current table, or -code. */
export function ft_map_capacity(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? mapCapacity(map) : -rc;
}
/** Free the map (the table after a grace period). No thread may use it afterwards. */
export function ft_map_destroy(map: usize): i32 {
  const rc = mapCheck(map);
  return rc == OK ? failOr(mapDestroy(map)) : rc;
}
/** Debug: re-check the map's invariants (O(capacity) or worse). */
export function ft_debug_map_valid(map: usize): bool { return mapCheck(map) == OK && mapIsValid(map); }
