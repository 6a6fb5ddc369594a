// In-Wasm loops for the brc suite (bench/brc.ts): what biased reference counting costs, with
// the core's fast paths inlined (brcIncref / brcDecref are @inline). Compiled into the ftheap
// bench module (bench/build-wasm.mjs copies this file to build/bench/ftheap/, hence the
// ../../../assembly imports), so no JS call sits in any timed loop.
//
//   brc_pairs           n × (incref, decref) of one object: the owner's (plain loads and stores of
//                       the local count) or, with another thread current, a non-owner's (atomic
//                       add, then a compare-and-swap on the shared word)
//   brc_atomic_pairs    n × (atomic add, atomic sub + zero test) on a payload word of the object:
//                       what a plain atomic refcount pays
//   brc_private_loop    rounds of 4 private objects made, linked, used and destroyed, until stop
//   brc_make_batch      the merge-queue workload: n objects owned with count 2
//   brc_decref_batch    one decref of each (a non-owner's: every one goes through the queue)
//   brc_merge           the owner merges its queue once
//   brc_merge_until     the owner checkpoints until n more objects were merged (brc_merge_batches:
//                       how many of its checkpoints merged)
//
// No strings, arrays, `new`, `throw` or static data: this runs on the shared memory.
import { loadAcquire, loadAcquire64, addRelaxed, subRelaxed } from "../../../assembly/atomics";
import { BRC_ALIVE, brcDecref, brcIncref } from "../../../assembly/brc";
import { BRK_EXPLICIT_MERGE } from "../../../assembly/breaker";
import { curThread } from "../../../assembly/current";
import { OK } from "../../../assembly/errors";
import { nowMs } from "../../../assembly/host";
import { OBJECT_HEADER, T_OBJ_CREATED, T_OBJ_DEALLOC, T_OBJ_MERGED, T_OBJ_QUEUED } from "../../../assembly/layout";
import { threadCheckpoint } from "../../../assembly/lifecycle";
import { objDecref, objGetRef, objMergeQueued, objNew, objSetRef } from "../../../assembly/object";

/** The payload offsets of the bench type (bench/brc.ts defines it: 16 bytes, references at 0 and 4). */
// @ts-ignore: decorator
@inline const REF_A: u32 = 0;
// @ts-ignore: decorator
@inline const REF_B: u32 = 4;
// @ts-ignore: decorator
@inline const WORD: usize = 8;   // a plain u32 of the payload: the atomic pair's count

// ---- Pairs ----------------------------------------------------------------------------------

/**
 * n × (brcIncref, brcDecref) of `o`, whose count stays ≥ 1 throughout (the caller holds a
 * reference): the owner's pairs if the current thread owns `o`, a non-owner's otherwise (its
 * shared count goes 0 → 1 → 0, never below: nothing is queued). Returns the decrefs that did
 * not report ALIVE (should be 0).
 */
export function brc_pairs(o: usize, n: u32): u32 {
  let bad: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    brcIncref(o);
    if (brcDecref(o) != BRC_ALIVE) bad++;
  }
  return bad;
}

/**
 * n × (atomic add 1, atomic sub 1 and test for zero) on payload word WORD of `o`, which starts
 * at 1 (a plain atomic refcount of an object someone holds) and is put back to 0. Returns the
 * decrements that found zero (should be 0).
 */
export function brc_atomic_pairs(o: usize, n: u32): u32 {
  const w = o + OBJECT_HEADER + WORD;
  store<u32>(w, 1);
  let dead: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    addRelaxed(w, 1);
    if (subRelaxed(w, 1) == 1) dead++;
  }
  store<u32>(w, 0);
  return dead;
}

// ---- Private objects ------------------------------------------------------------------------

let privateErrors: u32 = 0;
let privateLeaked: f64 = 0;

/** Calls that failed in this instance's last brc_private_loop (should be 0). */
export function brc_private_errors(): u32 { return privateErrors; }
/** Objects the last brc_private_loop made and did not deallocate (should be 0). */
export function brc_private_leaked(): f64 { return privateLeaked; }

/**
 * Until `stop` (a word) turns non-zero, rounds of: make 4 objects of `type` (root, a, b, leaf),
 * link root → a, root → b, a → leaf, b → leaf (setRef: +1 on the target), drop the maker's
 * references to a, b and leaf (only root holds them now), then `uses` times read a child and its
 * leaf from their slots and take and drop a reference to each, and finally drop root: all four
 * die in that one decref (iterative deallocation). A checkpoint every `every` rounds. Every
 * object is private to this thread, so every count is the owner's. Returns the objects made.
 */
export function brc_private_loop(type: u32, uses: u32, every: u32, stop: usize): f64 {
  const t = curThread;
  const created0 = loadAcquire64(t + T_OBJ_CREATED), dealloc0 = loadAcquire64(t + T_OBJ_DEALLOC);
  let bad: u32 = 0;
  let rounds: f64 = 0;
  while (atomic.load<u32>(stop) == 0) {
    for (let k: u32 = 0; k < every; k++) {
      const root = objNew(type, 0), a = objNew(type, 0), b = objNew(type, 0), leaf = objNew(type, 0);
      if (root == 0 || a == 0 || b == 0 || leaf == 0) { privateErrors = bad + 1; return -1; }
      if (objSetRef(root, REF_A, a) != OK) bad++;
      if (objSetRef(root, REF_B, b) != OK) bad++;
      if (objSetRef(a, REF_A, leaf) != OK) bad++;
      if (objSetRef(b, REF_B, leaf) != OK) bad++;
      if (objDecref(a) != OK) bad++;
      if (objDecref(b) != OK) bad++;
      if (objDecref(leaf) != OK) bad++;
      for (let j: u32 = 0; j < uses; j++) {
        const slot = (j & 1) << 2;   // a at REF_A holds leaf at REF_A; b at REF_B, at REF_B
        const child = objGetRef(root, slot);
        brcIncref(child);
        const grand = objGetRef(child, slot);
        brcIncref(grand);
        if (objDecref(grand) != OK) bad++;
        if (objDecref(child) != OK) bad++;
      }
      if (objDecref(root) != OK) bad++;
    }
    threadCheckpoint(t);
    rounds += <f64>every;
  }
  privateErrors = bad;
  privateLeaked = <f64>(loadAcquire64(t + T_OBJ_CREATED) - created0) - <f64>(loadAcquire64(t + T_OBJ_DEALLOC) - dealloc0);
  return rounds * 4;
}

// ---- The merge queue ------------------------------------------------------------------------

/**
 * n objects of `type`, owned by the current thread with local count 2 (its own reference and
 * the one it hands to another thread), their addresses to out[0..n) (u32). Returns how many
 * were made (n unless memory ran out).
 */
export function brc_make_batch(type: u32, n: u32, out: usize): u32 {
  for (let i: u32 = 0; i < n; i++) {
    const o = objNew(type, 0);
    if (o == 0) return i;
    brcIncref(o);
    store<u32>(out + (<usize>i << 2), <u32>o);
  }
  return n;
}

/**
 * One decref of each of out[0..n) by the current thread. A non-owner's on brc_make_batch's
 * objects: their shared count is 0, so each sets QUEUED and goes on the owner's merge queue.
 * Returns the number this thread queued (its queued counter's growth); -1 if a decref failed.
 */
export function brc_decref_batch(out: usize, n: u32): i32 {
  const q0 = loadAcquire(curThread + T_OBJ_QUEUED);
  for (let i: u32 = 0; i < n; i++) {
    if (objDecref(<usize>load<u32>(out + (<usize>i << 2))) != OK) return -1;
  }
  return <i32>(loadAcquire(curThread + T_OBJ_QUEUED) - q0);
}

/** Merge the current thread's queue once (what its checkpoint does when asked); the number merged. */
export function brc_merge(): u32 {
  return objMergeQueued(curThread, false);
}

let mergeBatches: u32 = 0;

/** Checkpoints of the last brc_merge_until that merged (each takes the whole queue so far). */
export function brc_merge_batches(): u32 { return mergeBatches; }

/**
 * Checkpoint until `n` more objects were merged into this (owning) thread, or `stop` turns
 * non-zero: the non-owner's queue pushes ask for the merge (EXPLICIT_MERGE), the checkpoint
 * does it. `gapUs` > 0: busy work (reading the clock) for that long between checkpoints, as an
 * owner with work of its own would; 0: checkpoint back to back. Returns the number merged.
 */
export function brc_merge_until(n: u32, gapUs: f64, stop: usize): u32 {
  const t = curThread;
  const gap = gapUs / 1000;
  const m0 = loadAcquire(t + T_OBJ_MERGED);
  let batches: u32 = 0;
  while (loadAcquire(t + T_OBJ_MERGED) - m0 < n && atomic.load<u32>(stop) == 0) {
    if (gap > 0) { const t0 = nowMs(); while (nowMs() - t0 < gap) {} }
    if ((threadCheckpoint(t) & BRK_EXPLICIT_MERGE) != 0) batches++;
  }
  mergeBatches = batches;
  return loadAcquire(t + T_OBJ_MERGED) - m0;
}
