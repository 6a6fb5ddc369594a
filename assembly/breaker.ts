// breaker.ts — the eval breaker word (T_BREAKER of a thread record): the one
// table of its bits, and the only code that packs or unpacks it.
//
//   bits 0..7    requests: other threads set them with an atomic OR, the owner
//                handles and clears them at a checkpoint (lifecycle.ts)
//   bits 8..31   the domain's version (24 bits), mirrored into every thread's
//                word under headLock (domain.ts), so a checkpoint sees a change
//                with the same load that sees the requests
//
// A checkpoint returns events: the request bits it handled and reports, plus the
// EV_* bits below (which live only in that result, never in the word). The
// facade reads the same numbers from the generated ABI file.
//
// See also: thread.ts (suspend), lifecycle.ts (the checkpoint's order), domain.ts.

import { andAcqRel, casAcqRel, loadAcquire, orAcqRel } from "./atomics";
import { T_BREAKER } from "./layout";

// @abi-begin breaker
export const BRK_PLEASE_STOP: u32 = 1 << 0;       // pause for a stop-the-world
export const BRK_EXPLICIT_MERGE: u32 = 1 << 1;    // merge biased refcounts (reported)
export const BRK_GC_SCHEDULED: u32 = 1 << 2;      // run the collector (reported)
export const BRK_DELAYED_FREE: u32 = 1 << 3;      // a forced advance: delayed frees are due (reported)
export const BRK_ASYNC_INTERRUPT: u32 = 1 << 4;   // this thread alone is interrupted (reported)
export const BRK_RELEASE: u32 = 1 << 5;           // another thread ran out of memory: release kept pages
export const EV_VERSION_CHANGED: u32 = 1 << 8;    // the domain's version changed since the last checkpoint
export const EV_STOPPED: u32 = 1 << 9;            // this thread was paused by a stop-the-world
export const EV_WOULD_BLOCK: u32 = 1 << 10;       // it must pause but may not wait here: left SUSPENDED
export const VERSION_SHIFT: u32 = 8;
export const VERSION_MASK: u32 = 0xFFFFFF;        // 24 bits
// @abi-end
const REQUEST_MASK: u32 = (1 << VERSION_SHIFT) - 1;

/** The bits a checkpoint reports (and clears) besides pausing for a stop. */
export const BRK_REPORTED: u32 = BRK_EXPLICIT_MERGE | BRK_DELAYED_FREE | BRK_GC_SCHEDULED | BRK_ASYNC_INTERRUPT;

// @ts-ignore: decorator
@inline export function breakerLoad(thread: usize): u32 { return loadAcquire(thread + T_BREAKER); }
/** Any thread: ask `thread` for `bits` at its next checkpoint. */
// @ts-ignore: decorator
@inline export function breakerRequest(thread: usize, bits: u32): void { orAcqRel(thread + T_BREAKER, bits); }
/** Clear request `bits` (the owner handling them, or a stop's requester withdrawing). */
// @ts-ignore: decorator
@inline export function breakerClear(thread: usize, bits: u32): void { andAcqRel(thread + T_BREAKER, ~bits); }
/** Is any of `bits` requested in breaker word `b`? */
// @ts-ignore: decorator
@inline export function breakerHas(b: u32, bits: u32): bool { return (b & bits) != 0; }
/** The version mirrored in breaker word `b`. */
// @ts-ignore: decorator
@inline export function breakerVersion(b: u32): u32 { return b >> VERSION_SHIFT; }
/** A version as stored: its low 24 bits. */
// @ts-ignore: decorator
@inline export function versionOf(v: u32): u32 { return v & VERSION_MASK; }

/** A fresh thread's word: no requests, the domain's version `v`. */
// @ts-ignore: decorator
@inline export function breakerInitial(v: u32): u32 { return versionOf(v) << VERSION_SHIFT; }

/** Replace the version bits of a thread's breaker, keeping its request bits. */
export function breakerSetVersion(thread: usize, v: u32): void {
  while (true) {
    const b = breakerLoad(thread);
    if (casAcqRel(thread + T_BREAKER, b, (b & REQUEST_MASK) | breakerInitial(v))) return;
  }
}
