// abi/gc.ts — the cycle collector (gc.ts): collect, sweep-all, heap info, the
// heap lock, and the domain's policies. Every call but ft_gc_get/ft_gc_set
// needs an attached current thread (ENOT_ATTACHED); the collection runs on it.

import { loadAcquire, loadAcquire64, storeRelease } from "../atomics";
import { curThread } from "../current";
import { domainIsValid } from "../domain";
import { EINVAL_ARG, EINVAL_DOMAIN, ENOT_ATTACHED, ENOT_LOCKED, OK } from "../errors";
import { GF_ALLOCATED, GF_AUTO, GF_AUTO_MIN, GF_COLLECTED, GF_COLLECTIONS, GF_ENABLED, GF_LAST_PAUSE, GF_LONG_LIVED,
  GF_MAX_PAUSE, GF_THRESHOLD, GF_YOUNG, GF_ZERO_TAGS, gcCollect, gcFlagSet, gcInfo, gcInfoScan, gcLock, gcResult, gcSweepAll, gcUnlock } from "../gc";
import { GCF_AUTO, GCF_DISABLED, gcDue } from "../object";
import { T_DOMAIN, D_OBJECTS, OR_GC_ALLOCATED, OR_GC_AUTO_MIN, OR_GC_COLLECTED, OR_GC_COUNT, OR_GC_FLAGS, OR_GC_LAST_PAUSE,
  OR_GC_LONG_LIVED, OR_GC_MAX_PAUSE, OR_GC_THRESHOLD, OR_GC_YOUNG, OR_ZERO_TAGS, T_GC_LOCK } from "../layout";
import { fail, failSigned, failSigned64 } from "./result";
import { sharedReady } from "./shared";
import { memSync } from "../os";

/** Collect the current thread's domain now (see gc.ts). Status: OK, EHEAP_LOCKED, EINVAL_STATE (inside a finalizer). */
export function ft_gc_collect(): i32 {
  memSync();
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  const rc = gcCollect();
  return rc == OK ? OK : fail(rc);
}

/**
 * The collection a policy scheduled (GC_SCHEDULED at a checkpoint): run only if
 * the policy still asks for it (another thread may have collected meanwhile).
 * 1 collected, 0 not due any more, or -code.
 */
export function ft_gc_collect_scheduled(): i32 {
  memSync();
  if (!sharedReady()) return failSigned(ENOT_ATTACHED);
  const or = <usize>load<u32>(<usize>load<u32>(curThread, T_DOMAIN), D_OBJECTS);
  if (!gcDue(or, loadAcquire64(or + OR_GC_ALLOCATED), loadAcquire(or + OR_GC_YOUNG))) return 0;
  const rc = gcCollect();
  return rc == OK ? 1 : failSigned(rc);
}

/** Field GR_* of this instance's last collection or sweep (f64). */
export function ft_gc_result(field: u32): f64 {
  memSync();
  return gcResult(field);
}

/** Free every object of the domain, finalizers first (teardown). The number freed, or -code. */
export function ft_gc_sweep_all(): i32 {
  memSync();
  if (!sharedReady()) return failSigned(ENOT_ATTACHED);
  const rc = gcSweepAll();
  return rc < 0 ? failSigned(-rc) : rc;
}

/** Walk the domain's GC pages (a short stop) for ft_gc_info. Status. */
export function ft_gc_info_scan(): i32 {
  memSync();
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  const rc = gcInfoScan();
  return rc == OK ? OK : fail(rc);
}

/** Field GI_* of the last ft_gc_info_scan (f64). */
export function ft_gc_info(field: u32): f64 {
  memSync();
  return gcInfo(field);
}

/** The heap lock (nestable, this thread only). */
export function ft_gc_lock(): i32 {
  memSync();
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  gcLock(curThread);
  return OK;
}
/** Status: ENOT_LOCKED when not locked. */
export function ft_gc_unlock(): i32 {
  memSync();
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  return gcUnlock(curThread) ? OK : fail(ENOT_LOCKED);
}
/** This thread's heap-lock depth. */
export function ft_gc_lock_depth(): i32 {
  memSync();
  if (!sharedReady()) return failSigned(ENOT_ATTACHED);
  return <i32>load<u32>(curThread, T_GC_LOCK);
}


/** Field GF_* of domain `d` (f64), or -code. */
export function ft_gc_get(d: usize, field: u32): f64 {
  memSync();
  if (!domainIsValid(d)) return failSigned64(EINVAL_DOMAIN);
  const or = <usize>load<u32>(d, D_OBJECTS);
  switch (field) {
    case GF_ENABLED: return (loadAcquire(or + OR_GC_FLAGS) & GCF_DISABLED) == 0 ? 1 : 0;
    case GF_AUTO: return (loadAcquire(or + OR_GC_FLAGS) & GCF_AUTO) != 0 ? 1 : 0;
    case GF_THRESHOLD: return <f64>loadAcquire(or + OR_GC_THRESHOLD);
    case GF_ZERO_TAGS: return <f64>loadAcquire(or + OR_ZERO_TAGS);
    case GF_AUTO_MIN: return <f64>loadAcquire(or + OR_GC_AUTO_MIN);
    case GF_COLLECTIONS: return <f64>loadAcquire(or + OR_GC_COUNT);
    case GF_COLLECTED: return <f64>loadAcquire64(or + OR_GC_COLLECTED);
    case GF_LAST_PAUSE: return reinterpret<f64>(loadAcquire64(or + OR_GC_LAST_PAUSE));
    case GF_MAX_PAUSE: return reinterpret<f64>(loadAcquire64(or + OR_GC_MAX_PAUSE));
    case GF_ALLOCATED: return <f64>loadAcquire64(or + OR_GC_ALLOCATED);
    case GF_YOUNG: return <f64>loadAcquire(or + OR_GC_YOUNG);
    case GF_LONG_LIVED: return <f64>loadAcquire(or + OR_GC_LONG_LIVED);
    default: return failSigned64(EINVAL_ARG);
  }
}

/** Set field GF_ENABLED .. GF_AUTO_MIN of domain `d`. Status. */
export function ft_gc_set(d: usize, field: u32, value: u32): i32 {
  memSync();
  if (!domainIsValid(d)) return fail(EINVAL_DOMAIN);
  const or = <usize>load<u32>(d, D_OBJECTS);
  switch (field) {
    case GF_ENABLED: gcFlagSet(or, GCF_DISABLED, value == 0); return OK;
    case GF_AUTO: gcFlagSet(or, GCF_AUTO, value != 0); return OK;
    case GF_THRESHOLD: storeRelease(or + OR_GC_THRESHOLD, value); return OK;
    case GF_ZERO_TAGS: if (value > 0xFFFF) return fail(EINVAL_ARG); storeRelease(or + OR_ZERO_TAGS, value); return OK;
    case GF_AUTO_MIN: storeRelease(or + OR_GC_AUTO_MIN, value); return OK;
    default: return fail(EINVAL_ARG);
  }
}

