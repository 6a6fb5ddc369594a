// abi/object.ts — types and refcounted objects (type.ts, brc.ts, object.ts).
// Every call needs an attached current thread (ENOT_ATTACHED). Objects are
// checked (objCheck: a live block of the OBJECT or GC tag of this domain, with
// a defined type) before use: EINVAL_OBJECT, EWRONG_DOMAIN.

import { loadAcquire, loadAcquire64, orAcqRel } from "../atomics";
import { brcIncref, brcIsOwner, brcLooksDead, brcRefcount, brcShare, brcTryIncref } from "../brc";
import { curThread } from "../current";
import { domainIsValid } from "../domain";
import { peekError, ENOMEM, EINVAL_ARG, EINVAL_DOMAIN, EINVAL_OBJECT, EINVAL_STATE, EREFCOUNT, EINVAL_TYPE, ENOT_ATTACHED, OK } from "../errors";
import { objMarked, objCheck, objCheckBlock, objCheckLive, objDecref, objGetRef, objHasRef, objImmortalize, objMergeQueued, objNew,
  objSetRef, objTakeError } from "../object";
import { typeCount, typeDefine, typeRecord } from "../type";
import { gcCollect } from "../gc";
import { D_OBJECTS, D_THREADS, O_FLAGS, O_TID, O_TYPE, OR_CREATED, OR_DEALLOC, OR_MERGED, OR_QUEUED, OR_UNFINAL, T_DOMAIN,
  T_DOMAIN_NEXT, T_OBJ_CREATED, T_OBJ_DEALLOC, T_OBJ_MERGED, T_OBJ_QUEUED, T_OBJ_UNFINAL, T_STATE, TF_FINALIZE,
  THREAD_EXITED, THREAD_FREE, TY_FLAGS } from "../layout";
import { fail, failSigned, failSigned64, failValue } from "./result";
import { sharedReady } from "./shared";
import { loadSynced, memSync } from "../os";

// @ts-ignore: decorator
@inline function ready(): i32 { return sharedReady() ? OK : ENOT_ATTACHED; }

/** OK if `o` may be used as a live object now; else the code. */
function liveCheck(o: usize): i32 {
  const rc = ready();
  return rc != OK ? rc : objCheckLive(o);
}

// ---- Types ----------------------------------------------------------------------------

/**
 * Define (or find, by name) a type of the current thread's domain: see type.ts
 * typeDefine. The id (>= 1), or -code: EINVAL_ARG, EINVAL_SIZE, EINVAL_TYPE, ENOMEM.
 */
export function ft_type_define(name: usize, nameLength: u32, size: u32, flags: u32, refs: usize, nRefs: u32): i32 {
  memSync();
  if (!sharedReady()) return failSigned(ENOT_ATTACHED);
  const rc = typeDefine(name, nameLength, size, flags, refs, nRefs);
  return rc < 0 ? failSigned(-rc) : rc;
}

/** The record of type `id` of the current thread's domain (read it with the TY_* offsets); 0: EINVAL_TYPE. */
export function ft_type_record(id: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  const ty = typeRecord(<usize>load<u32>(curThread, T_DOMAIN), id);
  return ty != 0 ? ty : failValue(EINVAL_TYPE);
}

/** Types defined in the current thread's domain. */
export function ft_type_count(): u32 {
  memSync();
  if (!sharedReady()) return <u32>failValue(ENOT_ATTACHED);
  return typeCount(<usize>load<u32>(curThread, T_DOMAIN));
}

/** Type `id` has a finalizer somewhere: deallocations ask the host from now on. Status. */
export function ft_type_set_finalize(id: u32): i32 {
  memSync();
  if (!sharedReady()) return fail(ENOT_ATTACHED);
  const ty = typeRecord(<usize>load<u32>(curThread, T_DOMAIN), id);
  if (ty == 0) return fail(EINVAL_TYPE);
  orAcqRel(ty + TY_FLAGS, TF_FINALIZE);
  return OK;
}

// ---- Objects ----------------------------------------------------------------------------

/** A new object of type `type` with `extra` more payload bytes (zeroed), count 1, owned by this thread; 0 on error. */
export function ft_obj_new(type: u32, extra: u32): usize {
  memSync();
  if (!sharedReady()) return failValue(ENOT_ATTACHED);
  let o = objNew(type, extra);
  if (o == 0) {
    const e = objTakeError();
    if (e != 0) return failValue(e);
    // Out of memory: at most one collection (it may free cycles), then one retry, then ENOMEM.
    if (peekError() == ENOMEM && gcCollect() == OK) {
      o = objNew(type, extra);
      if (o == 0) { const e2 = objTakeError(); if (e2 != 0) return failValue(e2); }
    }
  }
  return o;
}

/** +1. Status: OK, EINVAL_OBJECT (not an object, or dead), EWRONG_DOMAIN, ENOT_ATTACHED. */
export function ft_obj_incref(o: usize): i32 {
  memSync();
  const rc = liveCheck(o);
  if (rc != OK) return fail(rc);
  brcIncref(o);
  return OK;
}

/** -1, deallocating what dies. Status: OK, EREFCOUNT (its count is zero already: nothing changed), EINVAL_OBJECT, ... */
export function ft_obj_decref(o: usize): i32 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheckBlock(o);
  if (rc == OK && brcLooksDead(o)) rc = EREFCOUNT;   // its count is zero: freed, or about to be
  if (rc == OK) rc = objCheck(o);
  if (rc == OK) rc = objDecref(o);
  return rc == OK ? OK : fail(rc);
}

/**
 * A lock-free reader's +1: 1 taken, 0 refused (its count reached zero, it was
 * freed — the debug build's fill leaves no type in its header — or it was not
 * published: see t.share), or -code for a pointer that is no object's block.
 */
export function ft_obj_try_incref(o: usize): i32 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheckBlock(o);
  if (rc != OK) return failSigned(rc);
  if (!objMarked(o)) return 0;   // freed (or never an object)
  if (typeRecord(<usize>load<u32>(curThread, T_DOMAIN), load<u32>(o, O_TYPE)) == 0) return 0;
  return brcTryIncref(o) ? 1 : 0;
}

/** The true count (local + shared, less a queued decrement), or -code. Immortal: 4294967295. */
export function ft_obj_refcount(o: usize): f64 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheck(o);
  if (rc != OK) return failSigned64(rc);
  return <f64>brcRefcount(o);
}

/** Store `v` (an object or 0) in `o`'s reference slot `offset`: +1 on v, -1 on the old value. Status; EINVAL_ARG: not a reference offset of its type. */
export function ft_obj_set_ref(o: usize, offset: u32, v: usize): i32 {
  memSync();
  let rc = liveCheck(o);
  if (rc == OK && v != 0) rc = objCheckLive(v);
  if (rc == OK && !objHasRef(o, offset)) rc = EINVAL_ARG;
  if (rc == OK) rc = objSetRef(o, offset, v);
  return rc == OK ? OK : fail(rc);
}

/** The object in `o`'s reference slot `offset` (borrowed: no +1), 0 if none, or -code. */
export function ft_obj_get_ref(o: usize, offset: u32): f64 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheck(o);
  if (rc == OK && !objHasRef(o, offset)) rc = EINVAL_ARG;
  if (rc != OK) return failSigned64(rc);
  return <f64>objGetRef(o, offset);
}

/** Publish `o` for lock-free readers (tryIncref by other threads may succeed from now on). Status. */
export function ft_obj_share(o: usize): i32 {
  memSync();
  const rc = liveCheck(o);
  if (rc != OK) return fail(rc);
  brcShare(o);
  return OK;
}

/** Make `o` immortal (never counted or freed). Status; EINVAL_STATE: another thread owns it. */
export function ft_obj_immortalize(o: usize): i32 {
  memSync();
  const rc = liveCheck(o);
  if (rc != OK) return fail(rc);
  if (loadAcquire(o + O_TID) != 0 && !brcIsOwner(o)) return fail(EINVAL_STATE);
  objImmortalize(o);
  return OK;
}

/** The type id of object `o`, or -code. */
export function ft_obj_type(o: usize): i32 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheck(o);
  return rc == OK ? <i32>load<u32>(o, O_TYPE) : failSigned(rc);
}

/** 1 if `o` is a live object of this domain, else 0 (no error). */
export function ft_obj_is_live(o: usize): i32 {
  memSync();
  if (ready() != OK) return failSigned(ENOT_ATTACHED);
  return objCheck(o) == OK && !brcLooksDead(o) ? 1 : 0;
}

/** 1 if the current thread owns `o` (its local count is this thread's), else 0. */
export function ft_obj_is_owned(o: usize): i32 {
  memSync();
  let rc = ready();
  if (rc == OK) rc = objCheck(o);
  if (rc != OK) return failSigned(rc);
  return brcIsOwner(o) ? 1 : 0;
}

/** Merge this thread's queue now (what its next checkpoint would do); the number merged, or -code. */
export function ft_obj_merge_queued(): i32 {
  memSync();
  if (!sharedReady()) return failSigned(ENOT_ATTACHED);
  return <i32>objMergeQueued(curThread, false);
}

/**
 * Object counters of domain `d` (field 0 created, 1 deallocated, 2 queued, 3
 * merged, 4 unfinalized): its live threads' plus those that left. -code.
 */
export function ft_obj_stats(d: usize, field: u32): f64 {
  memSync();
  if (!domainIsValid(d)) return failSigned64(EINVAL_DOMAIN);
  if (field > 4) return failSigned64(EINVAL_ARG);
  const or = <usize>load<u32>(d, D_OBJECTS);
  let total: u64 = field == 0 ? loadAcquire64(or + OR_CREATED) : field == 1 ? loadAcquire64(or + OR_DEALLOC)
    : <u64>loadAcquire(or + (field == 2 ? OR_QUEUED : field == 3 ? OR_MERGED : OR_UNFINAL));
  let t = <usize>loadSynced(d + D_THREADS);
  while (t != 0) {
    const s = loadAcquire(t + T_STATE);
    if (s != THREAD_EXITED && s != THREAD_FREE) {
      total += field == 0 ? loadAcquire64(t + T_OBJ_CREATED) : field == 1 ? loadAcquire64(t + T_OBJ_DEALLOC)
        : <u64>loadAcquire(t + (field == 2 ? T_OBJ_QUEUED : field == 3 ? T_OBJ_MERGED : T_OBJ_UNFINAL));
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return <f64>total;
}
