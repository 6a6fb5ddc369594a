// In-Wasm loops for the thread-machinery benchmarks (bench/mutex.ts, bench/stop-the-world.ts),
// compiled together with the core (bench/wasm/sync.entry.ts) so the fast paths inline.
// No strings, arrays, `new`, `throw` or static data: this runs on the shared memory.
import { curThread } from "../../assembly/current";
import { nowMs, waitWhile } from "../../assembly/host";
import { mutexLock, mutexUnlock } from "../../assembly/mutex";
import { stwStart, stwStop } from "../../assembly/stop-the-world";
import { threadCheckpoint } from "../../assembly/lifecycle";

/** A plain test-and-set spin lock, the peer of the mutex in these benchmarks. */
function spinLockBench(m: usize): void {
  while (atomic.cmpxchg<u32>(m, 0, 1) != 0) {
    while (atomic.load<u32>(m) != 0) {}
  }
}

/** Uncontended: n lock+unlock pairs of the mutex at `m`. */
export function sync_mutex_pairs(m: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) { mutexLock(m); mutexUnlock(m); }
}

/** Uncontended: n lock+unlock pairs of the plain spin lock at `m`. */
export function sync_spin_pairs(m: usize, n: u32): void {
  for (let i: u32 = 0; i < n; i++) { spinLockBench(m); atomic.store<u32>(m, 0); }
}

// @ts-ignore: decorator
@inline function criticalWork(shared: usize, len: u32): void {
  let v = load<u32>(shared);
  for (let k: u32 = 0; k < len; k++) v = v * 1664525 + 1013904223;   // dependent adds
  store<u32>(shared, v);
  store<u32>(shared, load<u32>(shared, 4) + 1, 4);                   // the exact counter
}

/**
 * Contended (CPython's lockbench): until `stop` (a word) turns non-zero, lock,
 * do `len` dependent multiply-adds on the shared value, unlock. `spin` selects the
 * plain spin lock. Returns this thread's acquisitions.
 */
export function sync_lock_loop(m: usize, shared: usize, len: u32, stop: usize, spin: bool): u32 {
  let count: u32 = 0;
  while (atomic.load<u32>(stop) == 0) {
    for (let j = 0; j < 16; j++) {
      if (spin) { spinLockBench(m); criticalWork(shared, len); atomic.store<u32>(m, 0); }
      else { mutexLock(m); criticalWork(shared, len); mutexUnlock(m); }
      count++;
    }
  }
  return count;
}

/**
 * A worker that stays attached: busy work for `everyUs` microseconds, then a
 * checkpoint, until `stop` turns non-zero. Returns the checkpoints passed.
 */
export function sync_checkpoint_loop(everyUs: f64, stop: usize): u32 {
  let n: u32 = 0;
  const every = everyUs / 1000;
  while (atomic.load<u32>(stop) == 0) {
    const t0 = nowMs();
    while (nowMs() - t0 < every) {}
    threadCheckpoint(curThread);
    n++;
  }
  return n;
}

let lastMax: f64 = 0;

/**
 * `n` stop-the-world round trips by the current thread, sleeping `gapUs` between
 * them (so the others are back at work when the next stop comes, and the
 * requester does not take a core from them); returns the mean round trip in ms.
 * `sleepWord` is any word that stays 0.
 */
export function sync_stw_roundtrips(n: u32, global: bool, gapUs: f64, sleepWord: usize): f64 {
  let total: f64 = 0;
  let max: f64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    waitWhile(sleepWord, 0, gapUs / 1000);     // a sleep (the core's one wait32 site: see host.ts)
    const t0 = nowMs();
    stwStop(curThread, global);
    stwStart(curThread, global);
    const dt = nowMs() - t0;
    total += dt;
    if (dt > max) max = dt;
  }
  lastMax = max;
  return total / <f64>n;
}

/** The longest round trip of the last sync_stw_roundtrips call, in ms. */
export function sync_stw_last_max(): f64 { return lastMax; }
