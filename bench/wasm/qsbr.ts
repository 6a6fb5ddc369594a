// In-Wasm loops for the qsbr suite (bench/qsbr.ts), compiled together with the core and the
// sync loops into build/bench/sync.wasm (bench/wasm/sync.entry.ts), so that the core's fast
// paths inline into them: listGet / mapGet / omapGet (lock-free) and their mutex-guarded twins,
// threadCheckpoint, qsbrPoll, freeDelayed.
//
//   qsbr_list_make / qsbr_map_make / qsbr_omap_make
//                                   the structure the readers read (made by the coordinator)
//   qsbr_read_loop                  a reader: random gets, a checkpoint every `every` reads;
//                                   object map: each get a new reference, its payload read, then
//                                   a decref
//   qsbr_writer_loop                the one writer: a steady, modest rate of sets and of
//                                   reallocations (through freeDelayed), detached while it sleeps;
//                                   object map: each set a new object, the old one released
//   qsbr_poll_loop                  n polls of a goal nobody reaches (each a full slot scan)
//   qsbr_free_latency               freeDelayed → actually freed, timed, while checkpointing
//
// Readers check that every get finds its item / key (the list never gets shorter than n, the
// keys read are never deleted): a miss counts as an error, which the driver reports.
// No strings, arrays, `new`, `throw` or static data: this runs on the shared memory.
import { heapMalloc } from "../../assembly/alloc";
import { curHeap, curThread } from "../../assembly/current";
import { freeDelayed } from "../../assembly/delayed-free";
import { ftFree } from "../../assembly/free";
import { nowMs, waitWhile } from "../../assembly/host";
import { OBJECT_HEADER, T_DF_PENDING, T_DOMAIN } from "../../assembly/layout";
import { objDecref, objNew } from "../../assembly/object";
import { QSBR_INCR, qsbrPoll, qsbrWrSeq } from "../../assembly/qsbr";
import { listCompact, listGet, listGetLocked, listNew, listResize, listSet } from "../../assembly/shared-list";
import { mapDelete, mapGet, mapGetLocked, mapNew, mapSet, omapDelete, omapGet, omapGetBorrowed, omapGetLocked, omapNew,
  omapSet } from "../../assembly/shared-map";
import { threadCheckpoint } from "../../assembly/lifecycle";
import { threadAttach, threadDetach } from "../../assembly/thread";

// @ts-ignore: decorator
@inline const LIST: u32 = 0;
// @ts-ignore: decorator
@inline const MAP: u32 = 1;   // else the object map (2)
// @ts-ignore: decorator
@inline const FRESH_KEYS: u32 = 0x80000000;   // the writer's churn keys (never read)

// @ts-ignore: decorator
@inline function xorshift(x: u32): u32 {
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  return x;
}

/** A uniform index below n from a random word (Lemire's multiply-shift). */
// @ts-ignore: decorator
@inline function below(x: u32, n: u32): u32 { return <u32>((<u64>x * <u64>n) >> 32); }

/** LIST_NONE / MAP_NONE (-1): the get found nothing. */
// @ts-ignore: decorator
@inline function missed(v: f64): bool { return v < 0; }

// ---- The structures -----------------------------------------------------------------------

/** A list of n items, item i = i. 0 on failure. */
export function qsbr_list_make(n: u32): usize {
  const list = listNew(n);
  if (list == 0 || listResize(list, n) != 0) return 0;
  for (let i: u32 = 0; i < n; i++) listSet(list, i, i);
  return list;
}

/** A map of keys 0..n-1, value of k = k. 0 on failure. */
export function qsbr_map_make(n: u32): usize {
  const map = mapNew(n);
  if (map == 0) return 0;
  for (let k: u32 = 0; k < n; k++) if (mapSet(map, k, k) != 0) return 0;
  return map;
}

/** A new object of `type` whose first payload word is `key`, put under `key` (the map's reference only). */
function objPut(map: usize, key: u32, type: u32): i32 {
  const o = objNew(type, 0);
  if (o == 0) return -1;
  store<u32>(o + OBJECT_HEADER, key);   // before the set publishes it
  const rc = omapSet(map, key, o);
  objDecref(o);
  return rc;
}

/** An object map of keys 0..n-1, each a new object of `type` (payload word 0 = its key). 0 on failure. */
export function qsbr_omap_make(n: u32, type: u32, borrowed: bool): usize {
  const map = omapNew(n, borrowed);
  if (map == 0) return 0;
  for (let k: u32 = 0; k < n; k++) if (objPut(map, k, type) != 0) return 0;
  return map;
}

/** An object map read's result: a reference to k's object (-1 / -2: none) — its payload checked, then let go. */
// @ts-ignore: decorator
@inline function usedObject(v: f64, k: u32): bool {
  if (v < 0) return false;
  const o = <usize>v;
  const ok = load<u32>(o + OBJECT_HEADER) == k;
  objDecref(o);
  return ok;
}

/** A borrowed read's result (no reference: good until the next checkpoint): its payload checked. */
// @ts-ignore: decorator
@inline function borrowedObject(v: f64, k: u32): bool {
  return v >= 0 && load<u32>(<usize>v + OBJECT_HEADER) == k;
}

// ---- Readers --------------------------------------------------------------------------------

let readErrors: u32 = 0;

/** Gets that found nothing in this instance's last qsbr_read_loop (should be 0). */
export function qsbr_read_errors(): u32 { return readErrors; }

/**
 * Until `stop` (a word) turns non-zero: `every` gets of random indices (list) or present keys
 * (map, object map) below n, then a checkpoint. `locked` reads under the structure's mutex
 * instead of lock-free (`mode` 1; 2: borrowed reads of an object map made for them). An object map's get takes a reference, reads the object's first payload
 * word (its key: else an error) and decrefs. Returns the reads done.
 */
export function qsbr_read_loop(s: usize, kind: u32, mode: u32, n: u32, every: u32, stop: usize, seed: u32): f64 {
  const locked = mode == 1;   // 0: lock-free, 1: under the mutex, 2: borrowed (an object map made for it)
  const t = curThread;
  let x = seed | 1;
  let bad: u32 = 0;
  let count: f64 = 0;
  while (atomic.load<u32>(stop) == 0) {
    // Four loops, so that each inlines exactly one get.
    if (kind == LIST) {
      if (locked) {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const i = below(x, n); if (missed(listGetLocked(s, i))) bad++; }
      } else {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const i = below(x, n); if (missed(listGet(s, i))) bad++; }
      }
    } else if (kind == MAP) {
      if (locked) {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const k = below(x, n); if (missed(mapGetLocked(s, k))) bad++; }
      } else {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const k = below(x, n); if (missed(mapGet(s, k))) bad++; }
      }
    } else {
      if (locked) {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const k = below(x, n); if (!usedObject(omapGetLocked(s, k), k)) bad++; }
      } else if (mode == 2) {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const k = below(x, n); if (!borrowedObject(omapGetBorrowed(s, k), k)) bad++; }
      } else {
        for (let j: u32 = 0; j < every; j++) { x = xorshift(x); const k = below(x, n); if (!usedObject(omapGet(s, k), k)) bad++; }
      }
    }
    threadCheckpoint(t);
    count += <f64>every;
  }
  readErrors = bad;
  return count;
}

// ---- The writer -----------------------------------------------------------------------------

let writerChurns: u32 = 0;
let writerBusyMs: f64 = 0;

/** Reallocation rounds (list) / churn batches (map) of the last qsbr_writer_loop. */
export function qsbr_writer_churns(): u32 { return writerChurns; }
/** Time the last qsbr_writer_loop spent attached and working, in ms. */
export function qsbr_writer_busy_ms(): f64 { return writerBusyMs; }

/**
 * The one writer, until `stop` turns non-zero: a set of a random item / present key every
 * `setUs` µs, and every `churnUs` µs a churn —
 *   list: resize(n + 1) (a new array of 2n), resize(n) (in place), compact (a new array of n):
 *         two reallocations, each old array through freeDelayed;
 *   map:  `churnKeys` fresh keys set and deleted again: each leaves a tombstone, and once
 *         FULL + TOMBSTONE slots pass 3/4 the table is rebuilt (the old one through freeDelayed).
 * Object map: each set (churn keys too) puts a new object of `type`; the one it replaces, or the
 * one a delete removes, is released (deallocated once its readers let go).
 * Work is due by the clock (it catches up after a late wake-up, at most 2 ms worth). After each
 * burst it checkpoints (its due delayed frees run) and sleeps detached on `stop` until the next
 * piece of work is due, but at least `wakeUs` µs after it woke (each wake-up preempts a reader
 * on a machine with no idle core): it neither eats a core nor holds up grace periods.
 * Returns the sets done.
 */
export function qsbr_writer_loop(s: usize, kind: u32, n: u32, setUs: f64, churnUs: f64, churnKeys: u32, wakeUs: f64,
    stop: usize, seed: u32, type: u32): f64 {
  const t = curThread;
  let x = seed | 1;
  const start = nowMs();
  let sets: u32 = 0, churns: u32 = 0, fresh: u32 = 0;
  let busy: f64 = 0;
  const maxBehindSets = <u32>(2000 / setUs) + 1;
  const maxBehindChurns = <u32>(2000 / churnUs) + 1;
  while (atomic.load<u32>(stop) == 0) {
    const t0 = nowMs();
    const us = (t0 - start) * 1000;
    const wantSets = <u32>(us / setUs);
    if (wantSets - sets > maxBehindSets) sets = wantSets - maxBehindSets;
    for (; sets < wantSets; sets++) {
      x = xorshift(x);
      const i = below(x, n);
      if (kind == LIST) listSet(s, i, sets);
      else if (kind == MAP) mapSet(s, i, sets);
      else objPut(s, i, type);
    }
    const wantChurns = <u32>(us / churnUs);
    if (wantChurns - churns > maxBehindChurns) churns = wantChurns - maxBehindChurns;
    for (; churns < wantChurns; churns++) {
      if (kind == LIST) {
        listResize(s, n + 1);
        listResize(s, n);
        listCompact(s);
      } else {
        for (let j: u32 = 0; j < churnKeys; j++) {
          if (kind == MAP) {
            mapSet(s, FRESH_KEYS | fresh, 0);
            mapDelete(s, FRESH_KEYS | fresh);
          } else {
            objPut(s, FRESH_KEYS | fresh, type);
            omapDelete(s, FRESH_KEYS | fresh);
          }
          fresh = (fresh + 1) & 0x7FFFFFFF;
        }
      }
    }
    threadCheckpoint(t);
    const t1 = nowMs();
    busy += t1 - t0;
    const nextUs = Math.max(Math.min(<f64>(sets + 1) * setUs, <f64>(churns + 1) * churnUs), us + wakeUs);
    const sleepMs = nextUs / 1000 - (t1 - start);
    if (sleepMs > 0) {
      threadDetach(t);
      waitWhile(stop, 0, sleepMs);      // the core's one wait32 site; woken early by the stop
      threadAttach(t, true);
    }
  }
  writerChurns = churns;
  writerBusyMs = busy;
  return <f64>sets;
}

// ---- Poll cost ------------------------------------------------------------------------------

/**
 * n polls of the current thread's domain for a goal nobody reaches (no one advances the
 * write sequence meanwhile): each one misses the cached minimum and scans every slot.
 * Returns how many were reached (0).
 */
export function qsbr_poll_loop(n: u32): u32 {
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  const goal = qsbrWrSeq(domain) + QSBR_INCR;
  let reached: u32 = 0;
  for (let i: u32 = 0; i < n; i++) if (qsbrPoll(domain, goal)) reached++;
  return reached;
}

// ---- freeDelayed latency ---------------------------------------------------------------------

/**
 * `samples` times: checkpoint for a random 0..maxGapUs µs, allocate a `size`-byte block,
 * freeDelayed it, and checkpoint in a tight loop until it is freed (this thread's count of
 * pending delayed frees drops to 0). The time from the freeDelayed call to that moment (µs)
 * goes to out[k] (f64). Returns the samples taken (fewer only if an allocation failed).
 */
export function qsbr_free_latency(samples: u32, size: u32, maxGapUs: f64, out: usize, seed: u32): u32 {
  const t = curThread;
  let x = seed | 1;
  for (let k: u32 = 0; k < samples; k++) {
    x = xorshift(x);
    const gapMs = <f64>x / 4294967296.0 * maxGapUs / 1000;
    const g0 = nowMs();
    while (nowMs() - g0 < gapMs) threadCheckpoint(t);
    const p = heapMalloc(curHeap, size);
    if (p == 0) return k;
    const t0 = nowMs();
    if (freeDelayed(p) != 0) { ftFree(p); return k; }
    while (load<u32>(t, T_DF_PENDING) != 0) threadCheckpoint(t);
    store<f64>(out + (<usize>k << 3), (nowMs() - t0) * 1000);
  }
  return samples;
}
