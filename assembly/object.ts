// object.ts — refcounted objects: making them, checking a pointer is one,
// their references, deallocation, and merging a thread's queue.
//
// An object is a block of the OBJECT tag (or GC, for types with TF_GC) whose
// first 24 bytes are the header (layout.ts: tid, flags, gc bits, local count,
// shared word, type id, mutex) and the rest its payload. Both tags are held
// tags: their empty pages wait for a QSBR goal before reuse (qsbr-pages.ts),
// so a lock-free reader that loaded a pointer may read the header of an object
// freed since, until its next quiescent state; a freed object's header reads
// as dead (brc.ts brcMarkDead; the debug build's fill keeps the first 16 bytes
// and fills the type word, so a dead object is caught at every call there).
//
// Deallocation (the count reached zero) is iterative: a worklist threaded
// through the dead objects' local-count word (free once dead: only the owner's
// fast path reads it, and a dead object has no owner), so a million-long chain
// freed by one decref needs no stack. Per object, in CPython's order (PEP 442):
//   1. finalize, once per object (OF_FINALIZED), when its type has a finalizer:
//      the object is resurrected for the call (owned by us, count 1); if the
//      finalizer kept a reference it lives on and we let go of ours (without
//      touching it again: gh-130202);
//   2. its references (the type's offsets) are cleared and released; those
//      that die join the worklist;
//   3. its block is freed (another thread's block: a remote free).
// Finalizers are JS functions: the core asks the host (env.finalize) on the
// thread that deallocates; a thread with none registered for the type gets 0
// and the object is counted as unfinalized. A reap deallocates without asking
// (the reaping JS thread is acting as the dead one): counted the same way.
//
// See also: brc.ts (the counts), type.ts (types), layout.ts (the header box).

import { addRelaxed, addRelaxed64, loadAcquire, loadAcquire64, storeRelease, storeRelease64, swapAcqRel } from "./atomics";
import { heapMalloc } from "./alloc";
import { BRC_DEAD, brcDecref, brcDecrefShared, brcExplicitMerge, shMake, SH_MERGED, brcIncref, brcInitOwned, brcIsOwner, brcLooksDead, brcMarkDead,
  brcQueueTake, brcRegister, queueChunkCount, queueChunkFree, queueChunkKeep, queueChunkItem, queueChunkNext, sharedLoad } from "./brc";
import { breakerRequest, BRK_GC_SCHEDULED } from "./breaker";
import { curThread, curTid } from "./current";
import { A_OBJECT, ASSERT_CHEAP, assertThat } from "./assert";
import { DP_OBJ_MERGE_TAKEN, debugPause } from "./debug-delay";
import { EHEAP_LOCKED, EINVAL_ARG, EINVAL_OBJECT, EINVAL_SIZE, EINVAL_TYPE, ENOMEM, EREFCOUNT, EWRONG_DOMAIN, OK } from "./errors";
import { ftFree } from "./free";
import { heapForTag } from "./heap";
import { hostFinalize } from "./host";
import { memFill, unitOf, unitState } from "./os";
import { hugeBlockPage, normalBlockPage } from "./page";
import { segmentOf } from "./segment";
import { typeFlags, typeHasRef, typeRecord, typeRef, typeRefCount, typeSize } from "./type";
import { O_SPARE, D_OBJECTS, FT_DEBUG_BUILD, IMMORTAL_LOCAL, O_FLAGS, O_LOCAL, O_SHARED, O_TID, O_TYPE, OBJECT_HEADER,
  OR_CREATED, OR_DEALLOC, OR_MERGED, OR_QUEUED, OR_UNFINAL, OR_GC_ALLOCATED, OR_GC_AUTO_MIN, OR_GC_COLLECTING,
  OR_GC_FLAGS, OR_GC_LONG_LIVED, OR_GC_THRESHOLD, OR_GC_YOUNG, T_GC_ALLOC, T_GC_LOCK, T_GC_YOUNG, P_TAG, SEG_DOMAIN, T_DOMAIN, T_OBJ_CREATED,
  T_OBJ_DEALLOC, T_OBJ_MERGED, T_OBJ_QUEUED, T_OBJ_UNFINAL, TAG_GC, TAG_OBJECT, TF_FINALIZE, TF_GC, TYPE_SIZE_MAX,
  UNIT_HUGE, UNIT_NORMAL } from "./layout";

// @abi-begin object-flags
export const OF_FINALIZED: u32 = 1;   // its finalizer ran (it never runs twice)
export const OF_OBJECT: u32 = 2;      // an object's block (the collector skips other blocks of its tags); bit 1,
                                      // which an 8-aligned address (the heap's delayed-free link at +4) never sets
export const OBJECT_MAGIC: u8 = 0xB7; // the header's spare byte (+7): with OF_OBJECT, what makes a block an object
// @abi-end

/**
 * A deallocated object's block is no longer an object: OF_OBJECT cleared, and
 * the magic byte too, so that a raw block of an object tag handed out at that
 * address, whose program then stores bit 1 at +4, does not read as an object to
 * the collector or a sweep (object tags are not zeroed on allocation).
 */
// @ts-ignore: decorator
@inline export function objUnmark(o: usize): void {
  store<u16>(o, <u16>(<u32>load<u16>(o, O_FLAGS) & ~OF_OBJECT), O_FLAGS);
  store<u8>(o, 0, O_SPARE);
}

/** Does block `o` carry an object's marks (OF_OBJECT and the magic byte)? Raw data rarely forges both. */
// @ts-ignore: decorator
@inline export function objMarked(o: usize): bool {
  return (load<u32>(o, O_FLAGS) & (0xFF000000 | OF_OBJECT)) == ((<u32>OBJECT_MAGIC << 24) | OF_OBJECT);   // one load
}
export const GCF_DISABLED: u32 = 1;   // OR_GC_FLAGS: no automatic collection
export const GCF_AUTO: u32 = 2;       // the automatic policy (young objects) is on
export const GCF_SWEEPING: u32 = 4;   // sweepAll is running its finalizers: no object may be made
const GC_FLUSH_BYTES: u32 = 4096;     // a thread adds its GC allocations to the domain's count this often

/** False while a reap deallocates as the dead thread: finalizers are not asked for then. */
let finalizeAllowed: bool = true;
/** Finalizers of this instance running now (a collection may not start inside one). */
let finalizing: i32 = 0;
export function objFinalizing(): bool { return finalizing != 0; }
/** Bracket finalizer calls made elsewhere (gc.ts): no collection, exit or detach of this thread inside. */
export function objFinalizeBegin(): void { finalizing++; }
export function objFinalizeEnd(): void { finalizing--; }

// @abi-begin finalize-why
export const FIN_REFCOUNT: u32 = 0;   // env.finalize: the object's count reached zero
export const FIN_GC: u32 = 1;         // ... it is cyclic garbage (or swept by sweepAll)
// @abi-end

// ---- Counters (owner-written; d.stats() sums them) ------------------------------------

// @ts-ignore: decorator
@inline function bump64(field: usize): void {
  storeRelease64(curThread + field, loadAcquire64(curThread + field) + 1);
}
// @ts-ignore: decorator
@inline function bump(field: usize): void {
  storeRelease(curThread + field, loadAcquire(curThread + field) + 1);
}

// ---- Making one ---------------------------------------------------------------------

/**
 * A new object of type `typeId` with `extra` payload bytes past the type's
 * size: payload zeroed, count 1, owned by the current thread. 0 on failure
 * (EINVAL_TYPE, EINVAL_SIZE, ENOMEM in *error).
 */
export function objNew(typeId: u32, extra: u32): usize {
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  const ty = typeRecord(domain, typeId);
  if (ty == 0) return objFail(EINVAL_TYPE);
  const payload = <u64>typeSize(ty) + <u64>extra;
  if (payload > <u64>TYPE_SIZE_MAX) return objFail(EINVAL_SIZE);
  const or = <usize>load<u32>(domain, D_OBJECTS);
  const gc = (typeFlags(ty) & TF_GC) != 0;
  if (gc && load<u32>(curThread, T_GC_LOCK) != 0) return objFail(EHEAP_LOCKED);
  if ((loadAcquire(or + OR_GC_FLAGS) & GCF_SWEEPING) != 0) return objFail(EHEAP_LOCKED);
  // A thread that is leaving (a finalizer run by its exit) must not join a merge-queue bucket
  // again: what it makes then is ownerless (merged) from the start.
  if (!leaving && !brcRegister(curThread)) return objFail(ENOMEM);
  const heap = heapForTag(curThread, gc ? TAG_GC : TAG_OBJECT);
  if (heap == 0) return objFail(ENOMEM);
  const o = heapMalloc(heap, OBJECT_HEADER + <usize>payload);
  if (o == 0) return 0;   // the allocator set the error
  if (gc) gcAccount(or, <u32>OBJECT_HEADER + <u32>payload);
  store<u32>(o, OF_OBJECT | (<u32>OBJECT_MAGIC << 24), O_FLAGS);   // flags, gc bits 0, the magic byte
  store<u32>(o, typeId, O_TYPE);
  storeRelease(o + O_TYPE + 4, 0);   // the mutex
  memFill(o + OBJECT_HEADER, 0, <usize>payload);
  if (!leaving) brcInitOwned(o);
  else { store<u32>(o, 0, O_LOCAL); storeRelease(o + O_SHARED, <u32>shMake(1, SH_MERGED)); storeRelease(o + O_TID, 0); }
  bump64(T_OBJ_CREATED);
  return o;
}

/**
 * Count a GC allocation: the thread's bytes and objects go to the domain's
 * counts every GC_FLUSH_BYTES; a count past the threshold (or the automatic
 * policy's) asks this thread to collect at its next checkpoint (GC_SCHEDULED;
 * the facade runs the collection there, never inside an allocation).
 */
function gcAccount(or: usize, bytes: u32): void {
  const mine = load<u32>(curThread, T_GC_ALLOC) + bytes;
  const young = load<u32>(curThread, T_GC_YOUNG) + 1;
  if (mine < GC_FLUSH_BYTES) { store<u32>(curThread, mine, T_GC_ALLOC); store<u32>(curThread, young, T_GC_YOUNG); return; }
  store<u32>(curThread, 0, T_GC_ALLOC);
  store<u32>(curThread, 0, T_GC_YOUNG);
  const allocated = addRelaxed64(or + OR_GC_ALLOCATED, <u64>mine) + <u64>mine;
  const youngAll = addRelaxed(or + OR_GC_YOUNG, young) + young;
  if (gcDue(or, allocated, youngAll) && loadAcquire(or + OR_GC_COLLECTING) == 0) breakerRequest(curThread, BRK_GC_SCHEDULED);
}

/**
 * Do the domain's policies ask for a collection, with these counts since the
 * last one? The threshold (bytes), or CPython's policy: enough young objects,
 * and at least a quarter of those that survived the last collection (no
 * quadratic work on big heaps). Never while automatic collections are disabled.
 */
export function gcDue(or: usize, allocated: u64, young: u32): bool {
  const flags = loadAcquire(or + OR_GC_FLAGS);
  if ((flags & GCF_DISABLED) != 0) return false;
  const threshold = loadAcquire(or + OR_GC_THRESHOLD);
  if (threshold != 0 && allocated >= <u64>threshold) return true;
  return (flags & GCF_AUTO) != 0 && young >= loadAcquire(or + OR_GC_AUTO_MIN) && young >= loadAcquire(or + OR_GC_LONG_LIVED) >> 2;
}

let objError: i32 = 0;
function objFail(code: i32): usize { objError = code; return 0; }
/** The code of the last objNew failure that was not the allocator's. */
export function objTakeError(): i32 { const e = objError; objError = 0; return e; }

// ---- Checking a pointer ----------------------------------------------------------------

/**
 * OK if `o` is an object of the current thread's domain that is not known dead:
 * the start of a live block of the OBJECT or GC tag whose type id is defined.
 * EINVAL_OBJECT otherwise (a freed object: its type word holds the debug fill,
 * or its header reads dead), EWRONG_DOMAIN for another domain's.
 */
export function objCheck(o: usize): i32 {
  const rc = objCheckBlock(o);
  if (rc != OK) return rc;
  if (!objMarked(o)) return EINVAL_OBJECT;   // a raw block, or freed
  if (typeRecord(<usize>load<u32>(curThread, T_DOMAIN), load<u32>(o, O_TYPE)) == 0) return EINVAL_OBJECT;
  return OK;
}

/** objCheck without the type word: the start of a live block of an object tag, of this domain. */
export function objCheckBlock(o: usize): i32 {
  if ((o & 7) != 0) return EINVAL_OBJECT;
  const state = unitState(unitOf(o));
  let page: usize = 0;
  if (state == UNIT_NORMAL) page = normalBlockPage(o);
  else if (state == UNIT_HUGE) page = hugeBlockPage(o);
  if (page == 0) return EINVAL_OBJECT;
  const tag = <u32>load<u8>(page, P_TAG);
  if (tag != TAG_OBJECT && tag != TAG_GC) return EINVAL_OBJECT;
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  if (<usize>load<u32>(segmentOf(o), SEG_DOMAIN) != domain) return EWRONG_DOMAIN;
  return OK;
}

/** objCheck, and not dead (an incref, setRef or share of a dead object is a use after free). */
export function objCheckLive(o: usize): i32 {
  const rc = objCheck(o);
  if (rc != OK) return rc;
  return brcLooksDead(o) ? EINVAL_OBJECT : OK;
}

// ---- Counting ----------------------------------------------------------------------

/** -1, deallocating what dies. OK or EREFCOUNT (nothing changed). */
export function objDecref(o: usize): i32 {
  const rc = brcDecref(o);
  if (rc == BRC_DEAD) objDealloc(o);
  return rc < 0 ? -rc : OK;
}

/** The payload slot `offset` of `o` holds `v` (0 = none): +1 on v, -1 on the old value. EINVAL_ARG: not a reference offset. */
export function objSetRef(o: usize, offset: u32, v: usize): i32 {
  const ty = typeRecord(<usize>load<u32>(curThread, T_DOMAIN), load<u32>(o, O_TYPE));
  if (!typeHasRef(ty, offset)) return EINVAL_ARG;
  if (v != 0) brcIncref(v);
  const old = <usize>swapAcqRel(o + OBJECT_HEADER + offset, <u32>v);
  if (old != 0) return objDecref(old);
  return OK;
}

/** The object in payload slot `offset` (borrowed: no +1), or -EINVAL_ARG as a u32 0 with the error set by the caller. */
export function objGetRef(o: usize, offset: u32): usize {
  return <usize>loadAcquire(o + OBJECT_HEADER + offset);
}

/** Is `offset` a reference offset of `o`'s type? */
export function objHasRef(o: usize, offset: u32): bool {
  return typeHasRef(typeRecord(<usize>load<u32>(curThread, T_DOMAIN), load<u32>(o, O_TYPE)), offset);
}

// ---- Deallocation -----------------------------------------------------------------------

// The worklist link of a dead object lives in its local-count word.
// @ts-ignore: decorator
@inline function deadNext(o: usize): usize { return <usize>load<u32>(o, O_LOCAL); }
// @ts-ignore: decorator
@inline function deadSetNext(o: usize, next: usize): void { store<u32>(o, <u32>next, O_LOCAL); }

/** `o`'s count reached zero: deallocate it and everything that dies with it (see the file comment). */
export function objDealloc(first: usize): void {
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  brcMarkDead(first);
  deadSetNext(first, 0);
  let list = first;
  while (list != 0) {
    const o = list;
    list = deadNext(o);
    const ty = typeRecord(domain, load<u32>(o, O_TYPE));
    if ((typeFlags(ty) & TF_FINALIZE) != 0 && (<u32>load<u16>(o, O_FLAGS) & OF_FINALIZED) == 0) {
      store<u16>(o, <u16>(<u32>load<u16>(o, O_FLAGS) | OF_FINALIZED), O_FLAGS);
      if (!finalizeAllowed) bump(T_OBJ_UNFINAL);
      else if (!objFinalize(o)) continue;   // resurrected: it lives on
    }
    const n = typeRefCount(ty);
    for (let i: u32 = 0; i < n; i++) {
      const slot = o + OBJECT_HEADER + typeRef(ty, i);
      const v = <usize>swapAcqRel(slot, 0);
      if (v == 0) continue;
      if (brcDecref(v) == BRC_DEAD) {
        brcMarkDead(v);
        deadSetNext(v, list);
        list = v;
      }
    }
    storeRelease64(curThread + T_OBJ_DEALLOC, loadAcquire64(curThread + T_OBJ_DEALLOC) + 1);
    objUnmark(o);   // no longer an object to the collector
    const freed = ftFree(o);
    if (ASSERT_CHEAP) assertThat(freed == OK, A_OBJECT);
  }
}

/**
 * Run `o`'s finalizer with `o` resurrected (owned by us, count 1); true if it
 * died again (its count back to zero, marked dead), false if it lives on.
 */
function objFinalize(o: usize): bool {
  if (leaving) return objFinalizeMerged(o);
  brcRegister(curThread);   // we own it for the call: queued decrefs must find us
  store<u32>(o, 1, O_LOCAL);
  storeRelease(o + O_SHARED, 0);
  storeRelease(o + O_TID, curTid);
  finalizing++;
  const ran = hostFinalize(o, load<u32>(o, O_TYPE), FIN_REFCOUNT);
  finalizing--;
  if (ran == 0) bump(T_OBJ_UNFINAL);
  // Still exactly our reference: dead again.
  if (brcIsOwner(o) && load<u32>(o, O_LOCAL) == 1 && sharedLoad(o) == 0) {
    brcMarkDead(o);
    return true;
  }
  // Someone kept it: drop ours. If that was the last after all, it dies here.
  if (brcDecref(o) == BRC_DEAD) { brcMarkDead(o); return true; }
  return false;
}

/**
 * objFinalize on a thread that is leaving (exit: it is off its merge-queue
 * bucket and must not join one again): `o` is resurrected ownerless (merged,
 * count 1), so every increment and decrement the finalizer makes is atomic.
 */
function objFinalizeMerged(o: usize): bool {
  store<u32>(o, 0, O_LOCAL);
  storeRelease(o + O_TID, 0);
  storeRelease(o + O_SHARED, <u32>shMake(1, SH_MERGED));
  finalizing++;
  const ran = hostFinalize(o, load<u32>(o, O_TYPE), FIN_REFCOUNT);
  finalizing--;
  if (ran == 0) bump(T_OBJ_UNFINAL);
  if (brcDecrefShared(o) == BRC_DEAD) { brcMarkDead(o); return true; }   // only our reference was left
  return false;
}

/** True from objThreadLeave to objLeaveDone: the thread is leaving (exit, reap). */
let leaving: bool = false;

// ---- Merging a queue ---------------------------------------------------------------------

/**
 * Merge `thread`'s queued objects (as their owner: each folds its local count
 * and the queued -1 into its shared word), deallocating what dies. With
 * `leave`, loop until the queue is empty and unregister (exit, reap). The
 * number merged.
 */
export function objMergeQueued(thread: usize, leave: bool): u32 {
  let merged: u32 = 0;
  while (true) {
    const before = merged;
    let c = brcQueueTake(thread, leave);
    if (c == 0) return merged;
    debugPause(DP_OBJ_MERGE_TAKEN);
    while (c != 0) {
      const n = queueChunkCount(c);
      for (let i: u32 = 0; i < n; i++) {
        const o = queueChunkItem(c, i);
        merged++;
        if (brcExplicitMerge(o, -1) <= 0) objDealloc(o);
      }
      const next = queueChunkNext(c);
      if (next == 0 && !leave) queueChunkKeep(thread, c);
      else queueChunkFree(thread, c);
      c = next;
    }
    storeRelease(thread + T_OBJ_MERGED, loadAcquire(thread + T_OBJ_MERGED) + (merged - before));
    if (!leave) return merged;
  }
}

/** A reaped thread's decrement it had marked QUEUED for an owner that has gone (brc.ts brcReleaseDead): merged by the reap. */
let reapOrphan: usize = 0;
export function objSetReapOrphan(o: usize): void { reapOrphan = o; }

/**
 * Exit or reap of `thread` (current on this instance): its queue merged, the
 * thread unregistered (objects queued to it later are merged by the queuing
 * thread). Its counters are folded into the domain's by objLeaveDone.
 */
export function objThreadLeave(thread: usize, reaping: bool): void {
  finalizeAllowed = !reaping;   // until objLeaveDone: the rest of a reap (its delayed decrefs) runs none either
  leaving = true;
  if (reapOrphan != 0) {
    const o = reapOrphan;
    reapOrphan = 0;
    if (brcExplicitMerge(o, -1) <= 0) objDealloc(o);
  }
  objMergeQueued(thread, true);
}

/**
 * The exit or reap is over (lifecycle.ts threadRelease): finalizers run again,
 * and `thread`'s object counters are folded into the domain's.
 */
export function objLeaveDone(thread: usize): void {
  finalizeAllowed = true;
  leaving = false;
  const or = <usize>load<u32>(<usize>load<u32>(thread, T_DOMAIN), D_OBJECTS);
  addRelaxed64(or + OR_CREATED, loadAcquire64(thread + T_OBJ_CREATED));
  addRelaxed64(or + OR_DEALLOC, loadAcquire64(thread + T_OBJ_DEALLOC));
  addRelaxed(or + OR_QUEUED, loadAcquire(thread + T_OBJ_QUEUED));
  addRelaxed(or + OR_MERGED, loadAcquire(thread + T_OBJ_MERGED));
  addRelaxed(or + OR_UNFINAL, loadAcquire(thread + T_OBJ_UNFINAL));
  storeRelease64(thread + T_OBJ_CREATED, 0);
  storeRelease64(thread + T_OBJ_DEALLOC, 0);
  storeRelease(thread + T_OBJ_QUEUED, 0);
  storeRelease(thread + T_OBJ_MERGED, 0);
  storeRelease(thread + T_OBJ_UNFINAL, 0);
}

/** Make `o` immortal: never counted, never freed (the owner, or anyone on a merged object, before sharing it). */
export function objImmortalize(o: usize): void {
  storeRelease(o + O_LOCAL, IMMORTAL_LOCAL);
  storeRelease(o + O_TID, 0);
}
