// host.ts — what the core needs from the embedder, and how this thread may wait.
//
// Imported functions: `env.now` (milliseconds, a monotonic f64: performance.now()),
// which the mutex uses for its fairness hand-off, and `env.finalize` (object.ts). `canBlock` is
// per instance: false on a browser main thread, where memory.atomic.wait32 traps.
// There every wait becomes polling (a requester of stop-the-world may poll), and
// callers that would park return EAGAIN instead (see thread.ts).

import { loadAcquire, notify, wait32 } from "./atomics";

// @ts-ignore: decorator
@external("env", "now")
declare function hostNow(): f64;

// @ts-ignore: decorator
@external("env", "finalize")
declare function hostFinalizeImport(o: u32, type: u32, why: u32): i32;

/**
 * Run the finalizer this JS thread registered for `type` on object `o`
 * (object.ts, gc.ts; `why`: FIN_REFCOUNT or FIN_GC): 1 if one ran, 2 if it ran
 * and threw (the host catches it and reports it), 0 if none is registered.
 */
export function hostFinalize(o: usize, type: u32, why: u32): i32 {
  return hostFinalizeImport(<u32>o, type, why);
}

/** Milliseconds, monotonic. */
export function nowMs(): f64 {
  return hostNow();
}

let canBlock: bool = true;

export function hostSetCanBlock(value: bool): void {
  canBlock = value;
}

export function hostCanBlock(): bool {
  return canBlock;
}

/**
 * Wait while the word at `ptr` holds `expected`, at most `timeoutMs` (< 0: no
 * limit). Polls where this thread may not block. This is the core's only wait32,
 * and callers re-check their condition rather than trust its result: in Node 20
 * (V8 11.3) code compiled by the baseline tier (Liftoff) gets wrong results from
 * memory.atomic.wait32 (a timed-out wait reads as "ok"), and a loop with the
 * wait inlined was seen to spin forever. Returns false when it timed out (as far
 * as that result can be trusted).
 */
export function waitWhile(ptr: usize, expected: u32, timeoutMs: f64): bool {
  if (canBlock) {
    const ns: i64 = timeoutMs < 0 ? -1 : <i64>(timeoutMs * 1e6);
    return wait32(ptr, expected, ns) != 2;
  }
  const deadline = timeoutMs < 0 ? Infinity : nowMs() + timeoutMs;
  while (loadAcquire(ptr) == expected) {
    if (nowMs() >= deadline) return false;
  }
  return true;
}

/**
 * waitWhile, but first poll for up to `spinMs`: a short pause (a stop-the-world
 * round trip) ends sooner than the operating system wakes a sleeping thread.
 */
export function waitWhileSpinning(ptr: usize, expected: u32, spinMs: f64, timeoutMs: f64): bool {
  const start = nowMs();
  while (loadAcquire(ptr) == expected) {
    const waited = nowMs() - start;
    if (waited >= spinMs) {
      return waitWhile(ptr, expected, timeoutMs < 0 ? -1 : timeoutMs - waited > 0 ? timeoutMs - waited : 0);
    }
  }
  return true;
}

/** Wake up to `count` threads waiting on `ptr`. */
// @ts-ignore: decorator
@inline export function wake(ptr: usize, count: i32): void {
  notify(ptr, count);
}
