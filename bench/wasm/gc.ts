// In-Wasm loops for the gc suite (bench/gc.ts): the heap a full collection is timed on, built
// with the core's objNew / objSetRef / objDecref inlined into the loop (bench/build-wasm.mjs
// copies this file to build/bench/ftheap/ and compiles it with the core, hence the
// ../../../assembly imports), and the mutator loop of the workers that run during a collection.
//
//   gc_build          n objects of a GC type with references at payload offsets 0 and 4, half
//                     live, half cyclic garbage, allocated interleaved (one live, one garbage):
//                       live     4 structures of ~n/8 objects, round robin, each held by one
//                                reference (the root) the caller keeps: two binary trees
//                                (children in slots 0 and 4), two doubly linked lists (next in
//                                0, prev in 4: cycles inside live data)
//                       garbage  the first half 2-cycles (a and b point at each other from both
//                                slots), the rest doubly linked rings of GC_RING objects; every
//                                maker's reference dropped, so each garbage object keeps count 2
//                     bench/gc-v8.ts builds the same shape in JS, in the same order.
//   gc_mutator_loop   until stop: rounds of 2 GC objects made, linked, dropped (both die by
//                     refcounting), a checkpoint every `every` rounds, each checkpoint timed
//
// No strings, arrays, `new`, `throw` or static data: this runs on the shared memory.
import { curThread } from "../../../assembly/current";
import { OK } from "../../../assembly/errors";
import { nowMs } from "../../../assembly/host";
import { threadCheckpoint } from "../../../assembly/lifecycle";
import { objDecref, objNew, objSetRef } from "../../../assembly/object";

// @ts-ignore: decorator
@inline const REF_A: u32 = 0;
// @ts-ignore: decorator
@inline const REF_B: u32 = 4;
/** Objects per garbage ring (bench/gc-v8.ts uses the same). */
// @ts-ignore: decorator
@inline const GC_RING: u32 = 64;
/** Live structures: 0 and 1 trees, 2 and 3 lists (roots[s]). */
// @ts-ignore: decorator
@inline const STRUCTS: u32 = 4;

// ---- Building the heap ----------------------------------------------------------------------

let buildBad: u32 = 0;

/** Calls of the last gc_build that did not return OK (should be 0). */
export function gc_build_errors(): u32 { return buildBad; }

/**
 * The live half's k-th object (k = 0, 1, ...): structure k % 4, position k / 4 in it. A tree
 * node p hangs under node (p - 1) / 2 at slot (p - 1) & 1 (its address from `tree`, u32 ×
 * `cap` per tree); a list node is linked after the structure's tail (`tails`, u32 × 4). The
 * first node of each structure keeps the maker's reference (roots[s]); every other one is
 * held by its links only. False if an object could not be made.
 */
function liveStep(type: u32, k: u32, cap: u32, tree: usize, tails: usize, roots: usize): bool {
  const s = k % STRUCTS, p = k / STRUCTS;
  const x = objNew(type, 0);
  if (x == 0) return false;
  if (p == 0) {
    store<u32>(roots + (<usize>s << 2), <u32>x);
  } else if (s < 2) {
    const parent = <usize>load<u32>(tree + ((<usize>s * cap + (p - 1) / 2) << 2));
    if (objSetRef(parent, ((p - 1) & 1) << 2, x) != OK) buildBad++;
  } else {
    const tail = <usize>load<u32>(tails + (<usize>s << 2));
    if (objSetRef(tail, REF_A, x) != OK) buildBad++;
    if (objSetRef(x, REF_B, tail) != OK) buildBad++;
  }
  if (s < 2) store<u32>(tree + ((<usize>s * cap + p) << 2), <u32>x);
  else store<u32>(tails + (<usize>s << 2), <u32>x);
  if (p != 0 && objDecref(x) != OK) buildBad++;
  return true;
}

// The garbage half's state between steps.
let pairA: usize = 0;
let ringFirst: usize = 0;
let ringCur: usize = 0;
let ringLen: u32 = 0;

/** Close the open ring: last.next = first, first.prev = last, the maker's references dropped. */
function ringClose(): void {
  if (ringFirst == 0) return;
  if (objSetRef(ringCur, REF_A, ringFirst) != OK) buildBad++;
  if (objSetRef(ringFirst, REF_B, ringCur) != OK) buildBad++;
  if (ringCur != ringFirst && objDecref(ringCur) != OK) buildBad++;
  if (objDecref(ringFirst) != OK) buildBad++;
  ringFirst = ringCur = 0;
  ringLen = 0;
}

/** The garbage half's g-th object: below `pairs` one of a 2-cycle, else the next of a ring. */
function garbageStep(type: u32, g: u32, pairs: u32): bool {
  const x = objNew(type, 0);
  if (x == 0) return false;
  if (g < pairs) {
    if ((g & 1) == 0) { pairA = x; return true; }
    const a = pairA;
    if (objSetRef(a, REF_A, x) != OK) buildBad++;
    if (objSetRef(a, REF_B, x) != OK) buildBad++;
    if (objSetRef(x, REF_A, a) != OK) buildBad++;
    if (objSetRef(x, REF_B, a) != OK) buildBad++;
    if (objDecref(a) != OK) buildBad++;
    if (objDecref(x) != OK) buildBad++;
    pairA = 0;
    return true;
  }
  if (ringFirst == 0) {
    ringFirst = ringCur = x;
    ringLen = 1;
  } else {
    if (objSetRef(ringCur, REF_A, x) != OK) buildBad++;
    if (objSetRef(x, REF_B, ringCur) != OK) buildBad++;
    if (ringCur != ringFirst && objDecref(ringCur) != OK) buildBad++;
    ringCur = x;
    ringLen++;
  }
  if (ringLen == GC_RING) ringClose();
  return true;
}

/**
 * Build the heap (see the file comment) on the current thread: n objects of `type` (a GC type,
 * references at 0 and 4), live = n / 2 of them, garbage = n - live. `scratch`: u32 × (2 × cap
 * + 4) with cap = ceil(live / 4) (tree nodes and list tails; a raw block, never walked);
 * `roots`: u32 × 4, each gets one structure's root, whose reference the caller now holds.
 * Returns the objects made: n, or fewer if memory ran out (then the heap is left as it is).
 */
export function gc_build(type: u32, n: u32, scratch: usize, roots: usize): u32 {
  buildBad = 0;
  pairA = ringFirst = ringCur = 0;
  ringLen = 0;
  const live = n >> 1, garbage = n - live;
  const cap = (live + STRUCTS - 1) / STRUCTS;
  const tails = scratch + (<usize>(2 * cap) << 2);
  const pairs = (garbage >> 1) & ~1;   // an even number: whole 2-cycles
  let made: u32 = 0;
  for (let i: u32 = 0; i < garbage; i++) {
    if (i < live) {
      if (!liveStep(type, i, cap, scratch, tails, roots)) return made;
      made++;
    }
    if (!garbageStep(type, i, pairs)) return made;
    made++;
  }
  ringClose();
  return made;
}

// ---- The mutators -----------------------------------------------------------------------------

let mutBad: u32 = 0;
let mutCheckpoints: f64 = 0;
let mutMaxStop: f64 = 0;

/** Calls of the last gc_mutator_loop that failed (should be 0). */
export function gc_mutator_errors(): u32 { return mutBad; }
/** Checkpoints of the last gc_mutator_loop. */
export function gc_mutator_checkpoints(): f64 { return mutCheckpoints; }
/** The longest checkpoint of the last gc_mutator_loop, ms: the longest this thread was held stopped. */
export function gc_mutator_max_stop(): f64 { return mutMaxStop; }

/**
 * Until `stop` (a word) turns non-zero: `every` rounds of a = new, b = new, a.0 = b, b and a
 * dropped (a's death releases b: both die by refcounting, no cycle), then a checkpoint, timed
 * (a collection's stop-the-world holds the thread there). Returns the objects made.
 */
export function gc_mutator_loop(type: u32, every: u32, stop: usize): f64 {
  const t = curThread;
  let bad: u32 = 0;
  let rounds: f64 = 0;
  let checkpoints: f64 = 0;
  let maxStop: f64 = 0;
  while (atomic.load<u32>(stop) == 0) {
    for (let k: u32 = 0; k < every; k++) {
      const a = objNew(type, 0), b = objNew(type, 0);
      if (a == 0 || b == 0) { mutBad = bad + 1; return -1; }
      if (objSetRef(a, REF_A, b) != OK) bad++;
      if (objDecref(b) != OK) bad++;
      if (objDecref(a) != OK) bad++;
    }
    rounds += <f64>every;
    const c0 = nowMs();
    threadCheckpoint(t);
    const held = nowMs() - c0;
    if (held > maxStop) maxStop = held;
    checkpoints++;
  }
  mutBad = bad;
  mutCheckpoints = checkpoints;
  mutMaxStop = maxStop;
  return rounds * 2;
}
