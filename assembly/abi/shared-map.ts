// abi/shared-map.ts — SharedMap and the object map (shared-map.ts): conventions in
// abi/shared.ts. The ft_omap_* exports take only object maps (OMAP_MAGIC) and the
// ft_map_* ones only u32 maps: EINVAL_PTR otherwise. An object map is used only by
// threads of its domain (EWRONG_DOMAIN); an object stored in it must be a live
// object of that domain (EINVAL_OBJECT, EWRONG_DOMAIN; objCheckLive), nothing changed.

import { EINVAL_ARG, EINVAL_PTR, ENOT_ATTACHED, EWRONG_DOMAIN, OK, setError } from "../errors";
import { objCheckLive } from "../object";
import { mapCapacity, mapCompareAndSet, mapDelete, mapDestroy, mapGet, mapGetLocked, mapIsHandle, mapIsValid, mapNew,
  mapNext, mapNextValue, mapSet, mapSize, mapSwap, mapTake, omapClear, omapCompareAndSet, omapDelete, omapDestroy,
  omapBorrowed, omapGet, omapGetBorrowed, omapGetLocked, omapInDomain, omapIsHandle, omapIsValid, omapNew, omapNext, omapSet, omapSwap, omapTake } from "../shared-map";
import { fail, failValue } from "./result";
import { F_ERROR, failOr, handleCheck, readyCheck, sharedReady } from "./shared";
import { memSync } from "../os";

// @ts-ignore: decorator
@inline function mapCheck(map: usize): i32 {
  const rc = readyCheck();
  return handleCheck(rc, rc == OK && mapIsHandle(map));
}

/** A new map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_map_new(expected: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  return mapNew(expected);
}
/** Lock-free: the value of `key`, -1 when absent, -2 on error. */
export function ft_map_get(map: usize, key: u32): f64 {
  memSync();
  return mapCheck(map) == OK ? mapGet(map, key) : F_ERROR;
}
/** The same read under the map's mutex (benchmarks). */
export function ft_map_get_locked(map: usize, key: u32): f64 {
  memSync();
  return mapCheck(map) == OK ? mapGetLocked(map, key) : F_ERROR;
}
/** Lock-free: 1 present, 0 absent, or -code. */
export function ft_map_has(map: usize, key: u32): i32 {
  memSync();
  const rc = mapCheck(map);
  if (rc != OK) return -rc;
  const v = mapGet(map, key);
  return v >= 0 ? 1 : v == -1 ? 0 : -EINVAL_PTR;
}
/** key -> value: OK, ENOMEM (unchanged). */
export function ft_map_set(map: usize, key: u32, value: u32): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? failOr(mapSet(map, key, value)) : rc;
}
/** Remove: 1 removed, 0 absent, or -code. */
export function ft_map_delete(map: usize, key: u32): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? mapDelete(map, key) : -rc;
}
/** key -> value: the value it replaced, -1 when absent, -2 on error (ENOMEM: unchanged). */
export function ft_map_swap(map: usize, key: u32, value: u32): f64 {
  memSync();
  return mapCheck(map) == OK ? mapSwap(map, key, value) : F_ERROR;
}
/** key -> value if its value is `expected` (-1: if absent): 1 set, 0 not, or -code (EINVAL_ARG, ENOMEM). */
export function ft_map_compare_and_set(map: usize, key: u32, expected: f64, value: u32): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? mapCompareAndSet(map, key, expected, value) : -rc;
}
/** Remove: the value it had, -1 when absent, -2 on error. */
export function ft_map_take(map: usize, key: u32): f64 {
  memSync();
  return mapCheck(map) == OK ? mapTake(map, key) : F_ERROR;
}
/** Lock-free iteration step: the key after `after` (-1: the first) in hash order, -1 when done, -2 on error. */
export function ft_map_next(map: usize, after: f64): f64 {
  memSync();
  return mapCheck(map) == OK ? mapNext(map, after) : F_ERROR;
}
/** The value of the key this instance's last ft_map_next returned. */
export function ft_map_next_value(): u32 { memSync(); return mapNextValue(); }
/** Entries (read under the mutex), or -code. */
export function ft_map_size(map: usize): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? mapSize(map) : -rc;
}
/** Lock-free: slots in the current table, or -code. */
export function ft_map_capacity(map: usize): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? mapCapacity(map) : -rc;
}
/** Free the map (the table after a grace period). No thread may use it afterwards. */
export function ft_map_destroy(map: usize): i32 {
  memSync();
  const rc = mapCheck(map);
  return rc == OK ? failOr(mapDestroy(map)) : rc;
}
/** Debug: re-check the map's invariants (O(capacity) or worse). */
export function ft_debug_map_valid(map: usize): bool { return mapCheck(map) == OK && mapIsValid(map); }

// ---- Object maps (u32 -> object) --------------------------------------------------------

/** OK, or the code (left in lastError): not attached, not a live object map, another domain's map. */
// @ts-ignore: decorator
@inline function omapCheck(map: usize): i32 {
  const rc = readyCheck();
  if (rc != OK || !omapIsHandle(map)) return handleCheck(rc, false);
  return omapInDomain(map) ? OK : fail(EWRONG_DOMAIN);
}

/** omapCheck, then `o` must be a live object of this domain. */
function omapCheckWith(map: usize, o: usize): i32 {
  const rc = omapCheck(map);
  if (rc != OK) return rc;
  const oc = objCheckLive(o);
  return oc == OK ? OK : fail(oc);
}

/** A new object map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM, ENOT_ATTACHED). */
export function ft_omap_new(expected: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  return omapNew(expected);
}
/** A new object map made for borrowed reads (omapGetBorrowed); 0 on error. */
export function ft_omap_new_borrowed(expected: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  return omapNew(expected, true);
}
/**
 * Lock-free, no reference taken: the object of `key` in a map made for borrowed
 * reads, good until this thread's next quiescent state; -1 absent, -2 on error
 * (EINVAL_ARG: not a borrowed-read map).
 */
export function ft_omap_get_borrowed(map: usize, key: u32): f64 {
  memSync();
  if (omapCheck(map) != OK) return F_ERROR;
  if (!omapBorrowed(map)) { setError(EINVAL_ARG); return F_ERROR; }
  return omapGetBorrowed(map, key);
}
/** Lock-free: the object of `key` with a new reference (the caller decrefs it), -1 when absent, -2 on error. */
export function ft_omap_get(map: usize, key: u32): f64 {
  memSync();
  return omapCheck(map) == OK ? omapGet(map, key) : F_ERROR;
}
/** The same read under the map's mutex (benchmarks). */
export function ft_omap_get_locked(map: usize, key: u32): f64 {
  memSync();
  return omapCheck(map) == OK ? omapGetLocked(map, key) : F_ERROR;
}
/** Lock-free: 1 present, 0 absent, or -code (no reference taken). */
export function ft_omap_has(map: usize, key: u32): i32 {
  memSync();
  const rc = omapCheck(map);
  if (rc != OK) return -rc;
  const v = mapGet(map, key);
  return v >= 0 ? 1 : v == -1 ? 0 : -EINVAL_PTR;
}
/** key -> o (the map takes its own reference; the old object released): OK, ENOMEM (unchanged), EINVAL_OBJECT, EWRONG_DOMAIN. */
export function ft_omap_set(map: usize, key: u32, o: usize): i32 {
  memSync();
  const rc = omapCheckWith(map, o);
  return rc == OK ? failOr(omapSet(map, key, o)) : rc;
}
/** key -> o: the object it replaced (the map's reference now the caller's), -1 when absent, -2 on error (unchanged). */
export function ft_omap_swap(map: usize, key: u32, o: usize): f64 {
  memSync();
  return omapCheckWith(map, o) == OK ? omapSwap(map, key, o) : F_ERROR;
}
/** key -> o if its object is `expected` (an address; -1: if absent): 1 set (the old object released), 0 not, or -code. */
export function ft_omap_compare_and_set(map: usize, key: u32, expected: f64, o: usize): i32 {
  memSync();
  const rc = omapCheckWith(map, o);
  return rc == OK ? omapCompareAndSet(map, key, expected, o) : -rc;
}
/** Remove: the object it had (the map's reference now the caller's), -1 when absent, -2 on error. */
export function ft_omap_take(map: usize, key: u32): f64 {
  memSync();
  return omapCheck(map) == OK ? omapTake(map, key) : F_ERROR;
}
/** Remove and release: 1 removed, 0 absent, or -code. */
export function ft_omap_delete(map: usize, key: u32): i32 {
  memSync();
  const rc = omapCheck(map);
  return rc == OK ? omapDelete(map, key) : -rc;
}
/** Remove every entry at once, then release the objects: OK, ENOMEM (unchanged). */
export function ft_omap_clear(map: usize): i32 {
  memSync();
  const rc = omapCheck(map);
  return rc == OK ? failOr(omapClear(map)) : rc;
}
/**
 * Lock-free iteration step (as ft_map_next): the key, its object for
 * ft_map_next_value — with a new reference when `withRef` is 1 (the caller
 * decrefs it), none when 0 (keys only) — -1 when done, -2 on error.
 */
export function ft_omap_next(map: usize, after: f64, withRef: u32): f64 {
  memSync();
  return omapCheck(map) == OK ? omapNext(map, after, withRef != 0) : F_ERROR;
}
/** Entries (read under the mutex), or -code. */
export function ft_omap_size(map: usize): i32 {
  memSync();
  const rc = omapCheck(map);
  return rc == OK ? mapSize(map) : -rc;
}
/** Lock-free: slots in the current table, or -code. */
export function ft_omap_capacity(map: usize): i32 {
  memSync();
  const rc = omapCheck(map);
  return rc == OK ? mapCapacity(map) : -rc;
}
/** Release every object (ft_omap_clear), then free the map as ft_map_destroy. No thread may use it afterwards. */
export function ft_omap_destroy(map: usize): i32 {
  memSync();
  const rc = omapCheck(map);
  return rc == OK ? failOr(omapDestroy(map)) : rc;
}
/** Debug: ft_debug_map_valid for an object map, and every value a live object of this domain. */
export function ft_debug_omap_valid(map: usize): bool { return omapCheck(map) == OK && omapIsValid(map); }
