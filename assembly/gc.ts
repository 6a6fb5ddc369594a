// gc.ts — the cycle collector: mark-and-sweep over the GC-tagged pages of a
// domain, with reference counts as the source of roots (CPython's
// gc_free_threading.c, in our words), and MicroPython's sweep-all and heap info.
//
// There is no list of objects: a collection walks every GC-tag page of every
// segment of the domain — threads' and abandoned ones alike — and every huge
// GC segment, and takes the blocks that carry the object marker (OF_OBJECT).
// Blocks of other tags are never read.
//
// One collection (gcCollect), by a thread of the domain:
//   pause 1 (the domain's world stopped)
//     1. every thread's merge queue is merged (due delayed frees run after the restart); an object whose count reaches 0
//        there is not freed in the pause: it gets +1 and a list (`later`), and
//        is decref'd after the restart;
//     2. update (one walk): every GC object's gc_refs (kept in its tid word) =
//        its true count minus the references it gets from other GC objects (its
//        type's refOffsets; an object a reference reaches before the walk does
//        joins the set there); exact object addresses in live pystack memory
//        count as outside references;
//     3. roots: objects with gc_refs > 0; everything reachable from them is
//        marked REACHABLE (an intrusive stack through the tid word: no
//        recursion, no allocation);
//     4. scan: a reachable object gets its owner back (tid: the owner of its
//        segment if that thread is registered for merges, else the object is
//        merged); an unreachable one is merged with +1 (the garbage list's
//        reference) and linked on the garbage list (through its tid word).
//   restart; the `later` objects are decref'd; every garbage object whose type
//   has a finalizer and that was never finalized is finalized (FINALIZED set
//   first), on this thread, through the host's protected call;
//   pause 2
//     5. resurrection (if a finalizer ran): for each garbage object, its count
//        minus the list's reference minus the references from other garbage
//        objects (in its local word, scratch: merged objects have none); > 0
//        means a finalizer made it reachable: it and what it reaches leave the
//        list (their list reference dropped);
//     6. the rest is freed here: every thread is quiescent, so nobody holds a
//        borrowed pointer into it; references it held on live objects go to
//        `later` (their objects may die, and finalizers never run in a pause);
//   restart; the `later` references are dropped.
//
// Invariants: outside a collection no object has a gc bit set; a garbage object
// holds the list's reference until step 6, so no cycle member is freed while
// still on the list; finalizers run with the world running, never in a pause.
//
// See also: object.ts (deallocation), brc.ts, visit.ts (block walking), docs/design.md.

import { addRelaxed, addRelaxed64, casAcqRel, loadAcquire, loadAcquire64, storeRelease, storeRelease64, swapAcqRel } from "./atomics";
import { brcExplicitMerge, brcMarkDead, brcQueueTake, queueChunkCount, queueChunkFree, queueChunkItem, queueChunkNext, shCount,
  shFlags, shMake, SH_MERGED, sharedLoad } from "./brc";
import { curThread } from "./current";
import { chunkFree, chunkNew, delayedProcess, delayedVoidDecrefs } from "./delayed-free";
import { A_OBJECT, ASSERT_CHEAP, assertThat } from "./assert";
import { DP_GC_FREEING, DP_GC_PAUSE1, DP_GC_RELEASE_CHECKED, DP_GC_RESURRECT_SCRATCH, debugPause } from "./debug-delay";
import { EBUSY, EHEAP_LOCKED, EINVAL_STATE, OK } from "./errors";
import { ftFree } from "./free";
import { hostFinalize, nowMs } from "./host";
import { FIN_GC, GCF_SWEEPING, OF_FINALIZED, objDecref, objFinalizeBegin, objFinalizeEnd, objFinalizing, objMarked, objUnmark } from "./object";
import { loadSynced, memFill, unitOf, unitState } from "./os";
import { blockIndex, blockNext, hugeBlockPage, normalBlockPage, xtfBlock, xtfLoad } from "./page";
import { pystackLive } from "./pystack";
import { segmentOf, sliceRecord } from "./segment";
import { stwStart, stwStopTimed } from "./stop-the-world";
import { typeFlags, typeRecord, typeRef, typeRefCount } from "./type";
import { C_ITEMS, C_NEXT, C_WR, CHUNK_SIZE, D_OBJECTS, D_THREADS, FIRST_UNIT, IMMORTAL_LOCAL, O_FLAGS, O_GC_BITS,
  O_LOCAL, O_SHARED, O_TID, O_TYPE, OBJECT_HEADER, OR_GC_ALLOCATED, OR_GC_COLLECTED, OR_GC_COLLECTING, OR_GC_COUNT,
  OR_GC_FLAGS, OR_GC_LAST_PAUSE, OR_GC_LONG_LIVED, OR_GC_MAX_PAUSE, OR_GC_YOUNG, P_BLOCK_SIZE, P_CAPACITY, P_FREE,
  P_LOCAL_FREE, P_RESERVED, P_SLICE_COUNT, P_START, P_TAG, P_USED, R_BRK_UNITS, ROOT, SEG_DOMAIN, SEG_PAGES,
  SEG_THREAD, SEGMENT_SHIFT, SLICES_PER_SEGMENT, T_BRC_BUCKET, T_DOMAIN, T_DOMAIN_NEXT, T_GC_LOCK, T_HEAPS,
  T_OBJ_DEALLOC, T_OBJ_MERGED, T_OBJ_UNFINAL, T_SERIAL, T_STATE, T_VISIT_BITMAP, TAG_GC, TAG_OBJECT, TF_FINALIZE, TF_GC,
  THREAD_EXITED, THREAD_FREE, UNIT_HUGE, UNIT_NORMAL } from "./layout";

// @abi-begin gc-bits
export const GB_COLLECTING: u8 = 1;   // in this collection's set: its tid word holds gc_refs (or a link)
export const GB_REACHABLE: u8 = 2;    // reachable from a root
export const GB_GARBAGE: u8 = 4;      // on the garbage list
export const GB_RESURRECTED: u8 = 8;  // a finalizer made it reachable again
// @abi-end

// @abi-begin gc-result
export const GR_COLLECTED: u32 = 0;
export const GR_FINALIZED: u32 = 1;
export const GR_RESURRECTED: u32 = 2;
export const GR_ERRORS: u32 = 3;
export const GR_FREED_OTHER: u32 = 4;
export const GR_PAUSE_MS: u32 = 5;
export const GR_UNFINALIZED: u32 = 6;
// @abi-end

// The last collection's result on this instance (ft_gc_result reads it).
let resCollected: u32 = 0;
let resFinalized: u32 = 0;
let resResurrected: u32 = 0;
let resErrors: u32 = 0;
let resFreedOther: u32 = 0;
let resUnfinalized: u32 = 0;
let resPauseMs: f64 = 0;

/** True while this instance runs finalizers for a collection or a sweep: no collection may start. */
let inFinalizers: bool = false;

export function gcResult(field: u32): f64 {
  switch (field) {
    case GR_COLLECTED: return <f64>resCollected;
    case GR_FINALIZED: return <f64>resFinalized;
    case GR_RESURRECTED: return <f64>resResurrected;
    case GR_ERRORS: return <f64>resErrors;
    case GR_FREED_OTHER: return <f64>resFreedOther;
    case GR_PAUSE_MS: return resPauseMs;
    case GR_UNFINALIZED: return <f64>resUnfinalized;
    default: return -1;
  }
}

// ---- Header scratch -------------------------------------------------------------------

// @ts-ignore: decorator
@inline function bits(o: usize): u8 { return load<u8>(o, O_GC_BITS); }
// @ts-ignore: decorator
@inline function setBits(o: usize, b: u8): void { store<u8>(o, b, O_GC_BITS); }
// gc_refs, and the stack/list links, live in the tid word while the world is stopped.
// @ts-ignore: decorator
@inline function gcRefs(o: usize): i32 { return <i32>load<u32>(o, O_TID); }
// @ts-ignore: decorator
@inline function gcRefsAdd(o: usize, d: i32): void { store<u32>(o, <u32>(<i32>load<u32>(o, O_TID) + d), O_TID); }
// @ts-ignore: decorator
@inline function link(o: usize): usize { return <usize>load<u32>(o, O_TID); }
// @ts-ignore: decorator
@inline function setLink(o: usize, next: usize): void { store<u32>(o, <u32>next, O_TID); }

// A one-entry type cache: the walk meets the same few types over and over.
let cacheId: u32 = 0;
let cacheType: usize = 0;
let walkDomain: usize = 0;
/** The thread record whose visit bitmap the walk uses (the collector's; a dead one's in a reap's repair). */
let walkThread: usize = 0;

// @ts-ignore: decorator
@inline function typeOfObject(o: usize): usize {
  const id = load<u32>(o, O_TYPE);
  if (id != cacheId) { cacheId = id; cacheType = typeRecord(walkDomain, id); }
  return cacheType;
}

/** Is `o` (a live block of a GC page) an object the collector handles: marked, a GC type, not immortal? */
function isGcObject(o: usize): bool {
  if (!objMarked(o)) return false;
  const ty = typeOfObject(o);
  if (ty == 0 || (typeFlags(ty) & TF_GC) == 0) return false;
  // Dead (MERGED, 0: waiting on a deallocation worklist of a thread paused in a
  // finalizer, its local word a link) and immortal objects are left alone.
  return sharedLoad(o) != <i32>SH_MERGED && load<u32>(o, O_LOCAL) != IMMORTAL_LOCAL;
}

/** `o` joins the set: gc_refs (its tid word) starts at its true count. */
// @ts-ignore: decorator
@inline function enterSet(o: usize): void {
  if ((bits(o) & GB_GARBAGE) != 0) dropStaleGarbage(o);
  setBits(o, GB_COLLECTING);
  store<u32>(o, <u32>trueCount(o), O_TID);
}

/**
 * `o` was garbage of a collection whose collector died (reaped) before freeing
 * it: it still holds that garbage list's reference. Drop it; if that was its
 * last, it waits on `later` (+1 again) and dies after the restart.
 */
function dropStaleGarbage(o: usize): void {
  const s = sharedLoad(o);
  const rc = shCount(s) - 1;
  if (rc > 0 || <i32>load<u32>(o, O_LOCAL) > 0) storeRelease(o + O_SHARED, <u32>shMake(rc, shFlags(s)));
  else laterPush(walkDomain, o);   // keeps its +1, for the decref after the restart
}

/** Is the word `p` a live-or-free block start of a GC page of this domain? (Checked: a slot may hold anything.) */
function gcBlock(p: usize): bool {
  if ((p & 7) != 0) return false;
  const state = unitState(unitOf(p));
  let page: usize = 0;
  if (state == UNIT_NORMAL) page = normalBlockPage(p);
  else if (state == UNIT_HUGE) page = hugeBlockPage(p);
  if (page == 0 || <u32>load<u8>(page, P_TAG) != TAG_GC) return false;
  return <usize>load<u32>(segmentOf(p), SEG_DOMAIN) == walkDomain;
}

/**
 * Is the word `p` (a reference slot's or a pystack word's) the address of an
 * object in this collection's set? Checked without trusting it: a live block
 * start of a GC page of this domain, marked COLLECTING.
 */
function inSet(p: usize): bool {
  if (p == 0 || !gcBlock(p)) return false;
  // The marker too: a free block's +4 word may hold a stale link whose byte 6 looks like bits.
  return (bits(p) & GB_COLLECTING) != 0 && objMarked(p);
}

/** A GC object's true count (local + shared; no queue is pending during a pause). */
// @ts-ignore: decorator
@inline function trueCount(o: usize): i32 {
  return <i32>load<u32>(o, O_LOCAL) + shCount(sharedLoad(o));
}

// ---- Walking the GC pages ---------------------------------------------------------------

const PH_UPDATE: u32 = 0;   // in the set: gc_refs = the true count - references from other members
const PH_ROOTS: u32 = 1;    // gc_refs > 0: mark from it
const PH_SCAN: u32 = 2;     // reachable: owner back; else garbage
const PH_SWEEP: u32 = 3;    // sweepAll: every object onto the list
const PH_INFO: u32 = 4;     // info(): page and run figures
const PH_REPAIR: u32 = 6;   // a reap of a collector that died in a pause: bits off, owners back

let garbage: usize = 0;     // the garbage list (through tid)
let markStack: usize = 0;   // the mark stack (through tid)
let survivors: u32 = 0;

/** Walk every live block of the domain's pages of `tag` (the world is stopped), doing `phase` on it. */
function gcWalk(domain: usize, tag: u32, phase: u32): void {
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  for (let u = FIRST_UNIT; u < brk; u++) {
    const state = unitState(u);
    if (state != UNIT_NORMAL && state != UNIT_HUGE) continue;
    const seg = <usize>u << SEGMENT_SHIFT;
    if (<usize>load<u32>(seg, SEG_DOMAIN) != domain) continue;
    if (state == UNIT_HUGE) {
      const page = seg + SEG_PAGES;
      if (<u32>load<u8>(page, P_TAG) == tag && loadAcquire(page + P_USED) == 1) {
        if (phase == PH_INFO) infoHuge(page);
        else gcVisit(<usize>load<u32>(page, P_START), phase);
      }
      continue;
    }
    let index: u32 = 1;
    while (index < SLICES_PER_SEGMENT) {
      const page = sliceRecord(seg, index);
      const n = load<u32>(page, P_SLICE_COUNT);
      index += n != 0 ? n : 1;
      if (load<u32>(page, P_BLOCK_SIZE) == 0 || <u32>load<u8>(page, P_TAG) != tag) continue;
      if (phase == PH_INFO) { infoPage(page); continue; }
      if (load<u32>(page, P_USED) == 0) continue;
      gcWalkPage(page, phase);
    }
  }
}

/**
 * Mark the page's free blocks (its three lists, read only: the world is
 * stopped, so nobody pushes on xthreadFree meanwhile) in this thread's visit
 * bitmap. Blocks freed into a full page wait on their heap's delayed list and
 * read as live here; they no longer carry the object marker, so the walk skips them.
 */
function markFree(page: usize): void {
  const bitmap = walkThread + T_VISIT_BITMAP;
  const capacity = load<u32>(page, P_CAPACITY);
  memFill(bitmap, 0, (capacity + 7) >> 3);
  for (let l: u32 = 0; l < 3; l++) {
    let b = l == 0 ? <usize>load<u32>(page, P_FREE) : l == 1 ? <usize>load<u32>(page, P_LOCAL_FREE) : xtfBlock(xtfLoad(page));
    for (let n: u32 = 0; b != 0 && n < capacity; n++) {
      const i = blockIndex(page, b);
      store<u8>(bitmap + (i >> 3), load<u8>(bitmap + (i >> 3)) | <u8>(1 << <u8>(i & 7)));
      b = blockNext(page, b);
    }
  }
}

// @ts-ignore: decorator
@inline function isFree(i: u32): bool {
  return (load<u8>(walkThread + T_VISIT_BITMAP + (i >> 3)) & <u8>(1 << <u8>(i & 7))) != 0;
}

function gcWalkPage(page: usize, phase: u32): void {
  markFree(page);
  const capacity = load<u32>(page, P_CAPACITY);
  const start = <usize>load<u32>(page, P_START);
  const size = <usize>load<u32>(page, P_BLOCK_SIZE);
  for (let i: u32 = 0; i < capacity; i++) {
    if (!isFree(i)) gcVisit(start + <usize>i * size, phase);
  }
}

function gcVisit(o: usize, phase: u32): void {
  switch (phase) {
    case PH_UPDATE: {
      // gc_refs = the true count, less the references from other objects of the set. An
      // object a reference reaches before the walk does is put in the set there (lazily).
      if (!objMarked(o)) return;   // a block on a delayed-free list, a raw block: its +6 byte is no gc bits
      if ((bits(o) & GB_COLLECTING) == 0) {
        if (!isGcObject(o)) return;
        enterSet(o);
      }
      const ty = typeOfObject(o);
      const n = typeRefCount(ty);
      for (let i: u32 = 0; i < n; i++) {
        const r = <usize>load<u32>(o + OBJECT_HEADER + typeRef(ty, i));
        if (r == 0 || !gcBlock(r)) continue;
        if ((bits(r) & GB_COLLECTING) == 0) {
          if (!isGcObject(r)) continue;
          enterSet(r);
        } else if (!objMarked(r)) continue;   // stale bits of a free block
        gcRefsAdd(r, -1);
      }
      return;
    }
    case PH_ROOTS: {
      const b = bits(o);
      if ((b & GB_COLLECTING) == 0 || (b & GB_REACHABLE) != 0 || !objMarked(o) || gcRefs(o) <= 0) return;
      markFrom(o);
      return;
    }
    case PH_SCAN: {
      const b = bits(o);
      if ((b & GB_COLLECTING) == 0 || !objMarked(o)) return;
      if ((b & GB_REACHABLE) != 0) { restoreOwner(o); setBits(o, 0); survivors++; return; }
      // Garbage: merged, with the list's reference.
      const rc = trueCount(o);
      store<u32>(o, 0, O_LOCAL);
      storeRelease(o + O_SHARED, <u32>shMake(rc + 1, SH_MERGED));
      setBits(o, GB_GARBAGE);
      setLink(o, garbage);
      garbage = o;
      return;
    }
    case PH_REPAIR: {
      const b = bits(o);
      if (b == 0 || !objMarked(o)) return;
      if ((b & GB_GARBAGE) != 0) {
        // Merged, with the list's +1 (the next collection drops it); its local word may hold
        // pause 2's scratch (a count, or a stack link): a merged object's local is 0.
        store<u32>(o, 0, O_LOCAL);
        setBits(o, GB_GARBAGE);
        return;
      }
      restoreOwner(o);
      setBits(o, 0);
      return;
    }
    case PH_SWEEP: {
      // Every live object (not one dead on a paused thread's worklist), made immortal while
      // the sweep runs: nobody's decref can free it under the sweep, whatever it was.
      if (!objMarked(o) || sharedLoad(o) == <i32>SH_MERGED) return;
      storeRelease(o + O_LOCAL, IMMORTAL_LOCAL);
      setBits(o, GB_GARBAGE);
      setLink(o, garbage);
      garbage = o;
      return;
    }
  }
}

/** Mark `root` and everything reachable from it REACHABLE (a stack through the tid words). */
function markFrom(root: usize): void {
  setBits(root, bits(root) | GB_REACHABLE);
  setLink(root, 0);
  markStack = root;
  while (markStack != 0) {
    const o = markStack;
    markStack = link(o);
    const ty = typeOfObject(o);
    const n = typeRefCount(ty);
    for (let i: u32 = 0; i < n; i++) {
      const r = <usize>load<u32>(o + OBJECT_HEADER + typeRef(ty, i));
      if (r == 0 || !inSet(r)) continue;
      const b = bits(r);
      if ((b & GB_REACHABLE) != 0) continue;
      setBits(r, b | GB_REACHABLE);
      setLink(r, markStack);
      markStack = r;
    }
  }
}

/**
 * A surviving object's tid back: 0 if merged; else the owner of its segment if
 * that thread can take merges (registered), else the object is merged now (its
 * owner has gone, or the segment is abandoned). CPython does the same (the
 * owner may change to the segment's: gh-144969).
 */
function restoreOwner(o: usize): void {
  const s = sharedLoad(o);
  if (shFlags(s) == SH_MERGED) { storeRelease(o + O_TID, 0); return; }
  const owner = <usize>loadAcquire(segmentOf(o) + SEG_THREAD);
  if (owner != 0 && load<u32>(owner, T_BRC_BUCKET) != 0) {
    const st = loadAcquire(owner + T_STATE);
    if (st != THREAD_EXITED && st != THREAD_FREE) { storeRelease(o + O_TID, loadAcquire(owner + T_SERIAL)); return; }
  }
  const local = load<u32>(o, O_LOCAL);
  store<u32>(o, 0, O_LOCAL);
  storeRelease(o + O_TID, 0);
  storeRelease(o + O_SHARED, <u32>shMake(shCount(s) + <i32>local, SH_MERGED));
}

// ---- Pause 1: queues, and objects that die in the pause ------------------------------------

let later: usize = 0;   // chunks of objects to decref after the restart

// The list is this instance's: a collector killed after the restart, before it
// dropped these references, leaks their objects (each keeps a reference; never a
// use after free). Kept in the thread record for its reap to drain, a sweepAll
// running meanwhile freed objects under the reap's decrefs (review): a known gap.
function laterPush(domain: usize, o: usize): void {
  let c = later;
  if (c == 0 || load<u32>(c, C_WR) == LATER_ITEMS) {
    const fresh = chunkNew(domain);
    if (fresh == 0) return;   // no meta memory: the object keeps its +1 (a leak, never a use after free)
    store<u32>(fresh, <u32>c, C_NEXT);
    store<u32>(fresh, 0, C_WR);
    later = c = fresh;
  }
  const n = load<u32>(c, C_WR);
  store<u32>(c + C_ITEMS + (<usize>n << 2), <u32>o);
  store<u32>(c, n + 1, C_WR);
}
const LATER_ITEMS: u32 = (CHUNK_SIZE - <u32>C_ITEMS) >> 2;

/** Merge every thread's queue (the owners are paused): what reaches 0 gets +1 and the `later` list. */
function mergeAllQueues(domain: usize): void {
  let t = <usize>loadSynced(domain + D_THREADS);
  let merged: u32 = 0;
  while (t != 0) {
    const st = loadAcquire(t + T_STATE);
    if (st != THREAD_EXITED && st != THREAD_FREE) {
      let c = brcQueueTake(t, false);
      while (c != 0) {
        const n = queueChunkCount(c);
        for (let i: u32 = 0; i < n; i++) {
          const o = queueChunkItem(c, i);
          merged++;
          if (brcExplicitMerge(o, -1) <= 0) {
            storeRelease(o + O_SHARED, <u32>shMake(1, SH_MERGED));
            laterPush(domain, o);
          }
        }
        const next = queueChunkNext(c);
        queueChunkFree(t, c);
        c = next;
      }
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  storeRelease(curThread + T_OBJ_MERGED, loadAcquire(curThread + T_OBJ_MERGED) + merged);
}

/** sweepAll: every thread's merge queue emptied without merging (the objects are all swept). */
function discardAllQueues(domain: usize): void {
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    const st = loadAcquire(t + T_STATE);
    if (st != THREAD_EXITED && st != THREAD_FREE) {
      let c = brcQueueTake(t, false);
      while (c != 0) {
        const next = queueChunkNext(c);
        queueChunkFree(t, c);
        c = next;
      }
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
}

/**
 * A reap found `dead` holding the domain's collection (lifecycle.ts). If it
 * died inside a pause (`stopped`: the world is still stopped for it), the walk
 * it left half done is undone here, before the world restarts: set members get
 * their owners back and lose their bits; objects it had already turned into
 * garbage keep that bit and the list's reference, which the next collection
 * drops (dropStaleGarbage). Then the collection (or sweep) is over. Objects a
 * dead sweep made immortal stay so (teardown); a dead collector's `later`
 * objects keep their +1 (a leak, never a use after free).
 */
export function gcReleaseDead(domain: usize, dead: usize, stopped: bool): void {
  const or = <usize>load<u32>(domain, D_OBJECTS);
  if (loadAcquire(or + OR_GC_COLLECTING) != <u32>dead) return;
  debugPause(DP_GC_RELEASE_CHECKED);
  if (stopped) {
    walkDomain = domain;
    walkThread = dead;
    cacheId = 0;
    gcWalk(domain, TAG_GC, PH_REPAIR);
  }
  gcFlagSet(or, GCF_SWEEPING, false);
  casAcqRel(or + OR_GC_COLLECTING, <u32>dead, 0);
}

/** A reap waits for a collection under way on another thread to end before it changes the dead thread's heaps. */
export function gcWaitIdle(domain: usize, dead: usize): void {
  const or = <usize>load<u32>(domain, D_OBJECTS);
  while (true) {
    const c = loadAcquire(or + OR_GC_COLLECTING);
    if (c == 0 || c == <u32>dead) return;
  }
}

/** Exact object addresses in the live part of every thread's pystack count as outside references. */
function scanPystacks(domain: usize): void {
  let t = <usize>loadSynced(domain + D_THREADS);
  while (t != 0) {
    const st = loadAcquire(t + T_STATE);
    if (st != THREAD_EXITED && st != THREAD_FREE) {
      const live = pystackLive(t);   // end << 32 | start, 0: empty
      const top = <usize>(live >> 32);
      for (let p = <usize>(live & 0xFFFFFFFF); p < top; p += 4) {
        const w = <usize>load<u32>(p);
        if (w != 0 && inSet(w)) gcRefsAdd(w, 1);
      }
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
}

// ---- A collection ---------------------------------------------------------------------------

/** Stop the domain's world (polling where this thread may not block); -1 if it cannot (a stop of its own is under way). */
function stopWorld(): f64 {
  const rc = stwStopTimed(curThread, false, -1);
  return rc == OK ? nowMs() : -1;
}

function startWorld(since: f64): void {
  resPauseMs += nowMs() - since;
  stwStart(curThread, false);
}

/**
 * Collect the current thread's domain (see the file comment). OK, EHEAP_LOCKED
 * (this thread holds the heap lock), EINVAL_STATE (called from a finalizer
 * this instance is running, or inside a stop-the-world). A collection already
 * running on another thread: OK at once, with an empty result.
 */
export function gcCollect(): i32 {
  const thread = curThread;
  if (load<u32>(thread, T_GC_LOCK) != 0) return EHEAP_LOCKED;
  if (inFinalizers || objFinalizing()) return EINVAL_STATE;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const or = <usize>load<u32>(domain, D_OBJECTS);
  resCollected = resFinalized = resResurrected = resErrors = resFreedOther = resUnfinalized = 0;
  resPauseMs = 0;
  if (!casAcqRel(or + OR_GC_COLLECTING, 0, <u32>thread)) return OK;
  walkDomain = domain;
  walkThread = thread;
  cacheId = 0;
  const dealloc0 = loadAcquire64(thread + T_OBJ_DEALLOC);

  // Pause 1.
  let t0 = stopWorld();
  if (t0 < 0) { storeRelease(or + OR_GC_COLLECTING, 0); return EINVAL_STATE; }
  mergeAllQueues(domain);
  garbage = 0; survivors = 0;
  gcWalk(domain, TAG_GC, PH_UPDATE);
  debugPause(DP_GC_PAUSE1);
  scanPystacks(domain);
  gcWalk(domain, TAG_GC, PH_ROOTS);
  gcWalk(domain, TAG_GC, PH_SCAN);
  startWorld(t0);

  // The world runs: objects that died in the pause, due delayed frees (some are delayed
  // decrefs, whose deallocations may run finalizers: never in a pause), then finalizers.
  decrefLater(domain);
  delayedProcess(thread, false);
  finalizeGarbage(thread);

  // Pause 2: what the finalizers made reachable leaves the list; the rest is freed in
  // the pause (every thread is quiescent, so nobody holds a borrowed pointer into it),
  // and the references it held on live objects are dropped after it.
  let freed: u32 = 0;
  if (garbage != 0) {
    t0 = stopWorld();
    cacheId = 0;
    if (t0 >= 0) {
      if (resFinalized != 0) handleResurrected();
      freed = freeGarbage(domain, thread);
      startWorld(t0);
      decrefLater(domain);
    } else {
      releaseGarbage();   // no second pause: nothing is freed (a finalizer may have resurrected any of it)
    }
  }
  resCollected = freed;
  const deallocated = <u32>(loadAcquire64(thread + T_OBJ_DEALLOC) - dealloc0);
  resFreedOther = deallocated > freed ? deallocated - freed : 0;

  // Books.
  storeRelease64(or + OR_GC_ALLOCATED, 0);
  storeRelease(or + OR_GC_YOUNG, 0);
  storeRelease(or + OR_GC_LONG_LIVED, survivors);
  addRelaxed(or + OR_GC_COUNT, 1);
  addRelaxed64(or + OR_GC_COLLECTED, <u64>freed);
  storeRelease64(or + OR_GC_LAST_PAUSE, reinterpret<u64>(resPauseMs));
  if (resPauseMs > reinterpret<f64>(loadAcquire64(or + OR_GC_MAX_PAUSE))) storeRelease64(or + OR_GC_MAX_PAUSE, reinterpret<u64>(resPauseMs));
  storeRelease(or + OR_GC_COLLECTING, 0);
  return OK;
}

/** Run the garbage's finalizers (once per object ever), the world running, on this thread. */
function finalizeGarbage(thread: usize): void {
  inFinalizers = true;
  objFinalizeBegin();
  let o = garbage;
  while (o != 0) {
    const next = link(o);
    const ty = typeOfObject(o);
    const flags = <u32>load<u16>(o, O_FLAGS);
    if ((typeFlags(ty) & TF_FINALIZE) != 0 && (flags & OF_FINALIZED) == 0) {
      store<u16>(o, <u16>(flags | OF_FINALIZED), O_FLAGS);
      const r = hostFinalize(o, load<u32>(o, O_TYPE), FIN_GC);
      if (r == 0) { resUnfinalized++; storeRelease(thread + T_OBJ_UNFINAL, loadAcquire(thread + T_OBJ_UNFINAL) + 1); }
      else { resFinalized++; if (r == 2) resErrors++; }
    }
    o = next;
  }
  inFinalizers = false;
  objFinalizeEnd();
}

/**
 * A reference between two garbage objects vanishes with its slot (pause 2): it is
 * counted off its target too (merged: the shared word), so that the counts stay
 * true if the collector is killed before it frees them all (ftFree is a call): its
 * reap's repair leaves them garbage, holding the list's reference only, and the
 * next collection drops that (dropStaleGarbage) and frees them. Uncounted, each
 * kept its partner's vanished reference: a root for good (a user-style hunt saw
 * tens of thousands of emptied 2-cycles stay live after a kill).
 */
// @ts-ignore: decorator
@inline function garbageRefDrop(v: usize): void {
  const s = sharedLoad(v);
  storeRelease(v + O_SHARED, <u32>shMake(shCount(s) - 1, shFlags(s)));
}

/**
 * In pause 2: free every object left on the garbage list. First every slot is
 * cleared, its reference to a live object kept for `later` (dropped after the
 * restart: that object may die, and its finalizer must not run in a pause);
 * a reference to another garbage object is counted off it (garbageRefDrop).
 * Then every block is freed. Two passes, so no slot is read after its target's
 * block was freed. The count.
 */
function freeGarbage(domain: usize, thread: usize): u32 {
  let o = garbage;
  while (o != 0) {
    const ty = typeOfObject(o);
    const n = typeRefCount(ty);
    for (let i: u32 = 0; i < n; i++) {
      const slot = o + OBJECT_HEADER + typeRef(ty, i);
      const v = <usize>load<u32>(slot);
      if (v == 0) continue;
      store<u32>(slot, 0);
      if (!isGarbage(v)) laterPush(domain, v);
      else garbageRefDrop(v);   // no call since the slot's store
    }
    o = link(o);
  }
  let freed: u32 = 0;
  o = garbage;
  garbage = 0;
  while (o != 0) {
    const next = link(o);
    setBits(o, 0);
    brcMarkDead(o);
    objUnmark(o);
    // Counted one by one, before its free (a call): a collector killed in this loop
    // left every object it had freed counted live for good.
    storeRelease64(thread + T_OBJ_DEALLOC, loadAcquire64(thread + T_OBJ_DEALLOC) + 1);
    debugPause(DP_GC_FREEING);
    const rc = ftFree(o);
    if (ASSERT_CHEAP) assertThat(rc == OK, A_OBJECT);
    freed++;
    o = next;
  }
  return freed;
}

function decrefLater(domain: usize): void {
  let c = later;
  later = 0;
  while (c != 0) {
    const n = load<u32>(c, C_WR);
    for (let i: u32 = 0; i < n; i++) objDecref(<usize>load<u32>(c + C_ITEMS + (<usize>i << 2)));
    const next = <usize>load<u32>(c, C_NEXT);
    chunkFree(domain, c);
    c = next;
  }
}

/**
 * Pause 2 (CPython's handle_resurrected_objects): per garbage object, its count
 * less the list's reference less the references from other garbage objects, in
 * its local word (scratch: garbage objects are merged). Those left > 0 were
 * made reachable by a finalizer; they and the garbage they reach leave the list.
 */
function handleResurrected(): void {
  let o = garbage;
  while (o != 0) {
    store<u32>(o, <u32>(shCount(sharedLoad(o)) - 1), O_LOCAL);
    o = link(o);
  }
  debugPause(DP_GC_RESURRECT_SCRATCH);
  o = garbage;
  while (o != 0) {
    const ty = typeOfObject(o);
    const n = typeRefCount(ty);
    for (let i: u32 = 0; i < n; i++) {
      const r = <usize>load<u32>(o + OBJECT_HEADER + typeRef(ty, i));
      if (r != 0 && isGarbage(r)) store<u32>(r, load<u32>(r, O_LOCAL) - 1, O_LOCAL);
    }
    o = link(o);
  }
  // Resurrect transitively: a stack through the local words (their scratch is no longer needed once decided).
  let stack: usize = 0;
  o = garbage;
  while (o != 0) {
    if (<i32>load<u32>(o, O_LOCAL) > 0 && (bits(o) & GB_RESURRECTED) == 0) {
      setBits(o, bits(o) | GB_RESURRECTED);
      store<u32>(o, <u32>stack, O_LOCAL);
      stack = o;
      while (stack != 0) {
        const x = stack;
        stack = <usize>load<u32>(x, O_LOCAL);
        const ty = typeOfObject(x);
        const n = typeRefCount(ty);
        for (let i: u32 = 0; i < n; i++) {
          const r = <usize>load<u32>(x + OBJECT_HEADER + typeRef(ty, i));
          if (r == 0 || !isGarbage(r) || (bits(r) & GB_RESURRECTED) != 0) continue;
          setBits(r, bits(r) | GB_RESURRECTED);
          store<u32>(r, <u32>stack, O_LOCAL);
          stack = r;
        }
      }
    }
    o = link(o);
  }
  // Rebuild the list without them; they drop the list's reference (they have others: count >= 2).
  let kept: usize = 0;
  o = garbage;
  while (o != 0) {
    const next = link(o);
    store<u32>(o, 0, O_LOCAL);
    if ((bits(o) & GB_RESURRECTED) != 0) {
      setBits(o, 0);
      storeRelease(o + O_TID, 0);
      storeRelease(o + O_SHARED, <u32>(<i32>loadAcquire(o + O_SHARED) - (1 << 2)));
      resResurrected++;
    } else {
      setLink(o, kept);
      kept = o;
    }
    o = next;
  }
  garbage = kept;
}

/** Give every garbage object back as a survivor (merged; the list's reference dropped). */
function releaseGarbage(): void {
  let o = garbage;
  while (o != 0) {
    const next = link(o);
    setBits(o, 0);
    storeRelease(o + O_TID, 0);
    storeRelease(o + O_SHARED, <u32>(<i32>loadAcquire(o + O_SHARED) - (1 << 2)));
    resResurrected++;
    o = next;
  }
  garbage = 0;
}

/** Is `r` on the garbage list? (A checked block first: a slot may hold anything.) */
function isGarbage(r: usize): bool {
  return r != 0 && gcBlock(r) && (bits(r) & GB_GARBAGE) != 0 && objMarked(r);
}

// ---- Sweep-all ------------------------------------------------------------------------------

/**
 * Free every object of the current thread's domain, GC tag and OBJECT tag,
 * whatever its count (MicroPython's gc_sweep_all: teardown and reset): the
 * world stopped to list them, finalizers run (once each; no object may be made
 * meanwhile, and resurrection is ignored), then every block is freed. The
 * number freed; -EHEAP_LOCKED / -EINVAL_STATE as gcCollect.
 */
export function gcSweepAll(): i32 {
  const thread = curThread;
  if (load<u32>(thread, T_GC_LOCK) != 0) return -EHEAP_LOCKED;
  if (inFinalizers || objFinalizing()) return -EINVAL_STATE;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const or = <usize>load<u32>(domain, D_OBJECTS);
  // A collection under way: EBUSY (waiting here, attached, would hold up its next pause).
  if (!casAcqRel(or + OR_GC_COLLECTING, 0, <u32>thread)) return -EBUSY;
  walkDomain = domain;
  walkThread = thread;
  cacheId = 0;
  resCollected = resFinalized = resResurrected = resErrors = resFreedOther = resUnfinalized = 0;
  resPauseMs = 0;
  const t0 = stopWorld();
  if (t0 < 0) { storeRelease(or + OR_GC_COLLECTING, 0); return -EINVAL_STATE; }
  discardAllQueues(domain);   // every object goes, whatever its count: queued decrefs are moot,
  delayedVoidDecrefs(domain); // and so are delayed ones (their blocks may hold new objects by then)
  garbage = 0;
  gcWalk(domain, TAG_GC, PH_SWEEP);
  gcWalk(domain, TAG_OBJECT, PH_SWEEP);
  gcFlagSet(or, GCF_SWEEPING, true);
  startWorld(t0);
  decrefLater(domain);
  finalizeGarbage(thread);
  let freed: u32 = 0;
  let o = garbage;
  garbage = 0;
  while (o != 0) {
    const next = link(o);
    setBits(o, 0);
    storeRelease(o + O_SHARED, SH_MERGED);   // dead
    store<u32>(o, 0, O_LOCAL);
    objUnmark(o);
    storeRelease64(thread + T_OBJ_DEALLOC, loadAcquire64(thread + T_OBJ_DEALLOC) + 1);   // as freeGarbage
    ftFree(o);
    freed++;
    o = next;
  }
  gcFlagSet(or, GCF_SWEEPING, false);
  storeRelease64(or + OR_GC_ALLOCATED, 0);
  storeRelease(or + OR_GC_YOUNG, 0);
  storeRelease(or + OR_GC_LONG_LIVED, 0);
  storeRelease(or + OR_GC_COLLECTING, 0);
  resCollected = freed;
  return <i32>freed;
}

// ---- Heap info ------------------------------------------------------------------------------

// The fields of ft_gc_get / ft_gc_set (abi/gc.ts).
// @abi-begin gc-fields
export const GF_ENABLED: u32 = 0;       // 1 / 0 (automatic collections)
export const GF_AUTO: u32 = 1;          // 1 / 0: the young-object policy
export const GF_THRESHOLD: u32 = 2;     // bytes (0: off)
export const GF_ZERO_TAGS: u32 = 3;     // bit per tag
export const GF_AUTO_MIN: u32 = 4;      // young objects
export const GF_COLLECTIONS: u32 = 5;   // read only from here on
export const GF_COLLECTED: u32 = 6;
export const GF_LAST_PAUSE: u32 = 7;
export const GF_MAX_PAUSE: u32 = 8;
export const GF_ALLOCATED: u32 = 9;
export const GF_YOUNG: u32 = 10;
export const GF_LONG_LIVED: u32 = 11;
// @abi-end

// @abi-begin gc-info
export const GI_TOTAL: u32 = 0;
export const GI_USED: u32 = 1;
export const GI_FREE: u32 = 2;
export const GI_LARGEST_FREE: u32 = 3;
export const GI_ONE_RUNS: u32 = 4;
export const GI_TWO_RUNS: u32 = 5;
// @abi-end
let infoTotal: u64 = 0;
let infoUsed: u64 = 0;
let infoLargest: u64 = 0;
let infoOne: u32 = 0;
let infoTwo: u32 = 0;

function infoRun(blocks: u32, size: usize): void {
  if (blocks == 0) return;
  if (blocks == 1) infoOne++;
  else if (blocks == 2) infoTwo++;
  const bytes = <u64>blocks * <u64>size;
  if (bytes > infoLargest) infoLargest = bytes;
}

/** A GC page's figures: blocks are its `reserved` slots (handed out or not); a run is adjacent free ones. */
function infoPage(page: usize): void {
  const size = <usize>load<u32>(page, P_BLOCK_SIZE);
  const reserved = load<u32>(page, P_RESERVED);
  const capacity = load<u32>(page, P_CAPACITY);
  infoTotal += <u64>reserved * <u64>size;
  if (load<u32>(page, P_USED) == 0) { infoRun(reserved, size); return; }
  markFree(page);
  let run: u32 = 0;
  for (let i: u32 = 0; i < reserved; i++) {
    if (i < capacity && !isFree(i)) {
      infoUsed += <u64>size;
      infoRun(run, size);
      run = 0;
    } else run++;
  }
  infoRun(run, size);
}

function infoHuge(page: usize): void {
  const size = <u64>load<u32>(page, P_BLOCK_SIZE);
  infoTotal += size;
  infoUsed += size;
}

/** Walk the domain's GC pages (the world stopped) and keep their figures for gcInfo. OK or EINVAL_STATE. */
export function gcInfoScan(): i32 {
  if (inFinalizers) return EINVAL_STATE;
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  walkDomain = domain;
  walkThread = curThread;
  infoTotal = infoUsed = infoLargest = 0;
  infoOne = infoTwo = 0;
  if (stopWorld() < 0) return EINVAL_STATE;
  gcWalk(domain, TAG_GC, PH_INFO);
  stwStart(curThread, false);
  return OK;
}

export function gcInfo(field: u32): f64 {
  switch (field) {
    case GI_TOTAL: return <f64>infoTotal;
    case GI_USED: return <f64>infoUsed;
    case GI_FREE: return <f64>(infoTotal - infoUsed);
    case GI_LARGEST_FREE: return <f64>infoLargest;
    case GI_ONE_RUNS: return <f64>infoOne;
    case GI_TWO_RUNS: return <f64>infoTwo;
    default: return -1;
  }
}

/** Set or clear GCF_* `flag` of a domain's object record (a CAS loop: the other bits stay). */
export function gcFlagSet(or: usize, flag: u32, on: bool): void {
  while (true) {
    const f = loadAcquire(or + OR_GC_FLAGS);
    const next = on ? f | flag : f & ~flag;
    if (f == next || casAcqRel(or + OR_GC_FLAGS, f, next)) return;
  }
}

/** Heap lock (MicroPython's gc_lock): per thread, nestable. */
export function gcLock(thread: usize): void {
  store<u32>(thread, load<u32>(thread, T_GC_LOCK) + 1, T_GC_LOCK);
}
/** False if it was not locked. */
export function gcUnlock(thread: usize): bool {
  const d = load<u32>(thread, T_GC_LOCK);
  if (d == 0) return false;
  store<u32>(thread, d - 1, T_GC_LOCK);
  return true;
}
