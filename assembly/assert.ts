// assert.ts — asserts in three tiers, compiled in by a flag (asconfig.json `use`):
//
//   FT_ASSERT=1  cheap      O(1) checks of what callers hand in and of states
//   FT_ASSERT=2  internal   O(1) checks of the allocator's and threads' own invariants
//   FT_ASSERT=3  validate   validators (pageIsValid, heapIsValid, segmentIsValid,
//                           unitsAreValid, threadsAreValid, qsbrSlotsAreValid) at
//                           slow-path boundaries; O(page), O(heap), O(units)
//
// The debug build sets 3, the release build 0. Call sites guard with the tier's
// constant, `if (ASSERT_INTERNAL) assertThat(cond, A_CODE)`, so a disabled tier
// compiles to nothing (its condition is never evaluated). A failed assert records
// its code in this instance (ft_assert_code) and, if it is the first anywhere, in
// the root (R_ASSERT_FIRST), then traps: the core has no strings to say more. The
// facade turns the trap into FtheapError EASSERT naming the code (src/runtime.ts).
//
// Thread-local except R_ASSERT_FIRST (CAS 0 -> code, never reset).
// See also: the validators in page.ts, heap.ts, segment.ts, os.ts, thread.ts, qsbr-slots.ts, pystack.ts.

import { casAcqRel } from "./atomics";
import { ROOT, R_ASSERT_FIRST } from "./layout";

// @ts-ignore: decorator
@lazy export const ASSERT_LEVEL: i32 = isDefined(FT_ASSERT) ? <i32>FT_ASSERT : 0;
// @ts-ignore: decorator
@lazy export const ASSERT_CHEAP: bool = ASSERT_LEVEL >= 1;
// @ts-ignore: decorator
@lazy export const ASSERT_INTERNAL: bool = ASSERT_LEVEL >= 2;
// @ts-ignore: decorator
@lazy export const ASSERT_VALIDATE: bool = ASSERT_LEVEL >= 3;

// What failed (the facade names them from the generated ABI file).
// @abi-begin asserts
export const A_NONE: u32 = 0;
export const A_PAGE: u32 = 1;            // pageIsValid: capacity = used + |free| + |localFree|, lists in the page
export const A_HEAP: u32 = 2;            // heapIsValid: queues linked both ways, pages of this heap, bin and tag
export const A_SEGMENT: u32 = 3;         // segmentIsValid: slices tiled by pages and spans, usedPages counted
export const A_UNITS: u32 = 4;           // unitsAreValid: segsLive + segsFree + meta units = brkUnits - FIRST_UNIT
export const A_THREADS: u32 = 5;         // threadsAreValid: the domain's list (states, domain, links)
export const A_QSBR_SLOTS: u32 = 6;      // qsbrSlotsAreValid: reserved + free = count, owners point back
export const A_OWNER: u32 = 7;           // a heap's owner is not the calling thread
export const A_STATE: u32 = 8;           // a thread in a state the call cannot be in
export const A_PAGE_NOT_EMPTY: u32 = 9;  // a page freed (or held) with blocks in use
export const A_QSBR: u32 = 10;           // a QSBR sequence out of order (seq ahead of wrSeq, even seq)
export const A_PYSTACK: u32 = 11;        // pystackIsValid: use = top + 4 x count <= size <= cap, index ascending
export const A_OBJECT: u32 = 12;         // an object's block could not be freed (freed twice: a count went wrong)
// @abi-end

let assertCode: u32 = 0;

/** The code of the assert that failed on this instance (0: none). */
export function assertCodeGet(): u32 { return assertCode; }

/** The first failed assert of any thread (0: none). */
export function assertFirst(): u32 { return load<u32>(ROOT + R_ASSERT_FIRST); }

/** Record `code` and trap. Not inlined: the failure path stays out of the callers. */
export function assertFail(code: u32): void {
  assertCode = code;
  casAcqRel(ROOT + R_ASSERT_FIRST, 0, code);
  unreachable();
}

/** Trap with `code` unless `ok`. Guard the call with ASSERT_CHEAP/INTERNAL/VALIDATE. */
// @ts-ignore: decorator
@inline export function assertThat(ok: bool, code: u32): void {
  if (!ok) assertFail(code);
}
