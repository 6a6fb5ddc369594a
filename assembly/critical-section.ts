// critical-section.ts — locking one object, or two, in a way stop-the-world and
// blocking cannot deadlock (CPython's Py_BEGIN_CRITICAL_SECTION).
//
// Each thread keeps a stack of sections in its record (T_CS_STACK, up to
// CS_MAX_DEPTH entries of {m1, m2, flags}). Only the innermost section is
// guaranteed to hold its lock(s): when a thread detaches — to wait on a lock, or
// on purpose — every active section releases its mutexes and is marked INACTIVE;
// attaching resumes the innermost one only, and ending a section resumes the one
// below it. Two mutexes are always taken in address order, so (a, b) and (b, a)
// never deadlock. A section on the mutex the innermost one already holds is a
// no-op (re-entrant use of the same object).
//
// A section is suspended only where its thread detaches (waiting on a lock, or on
// purpose, or pausing for a stop-the-world at a checkpoint), never inside an
// allocation: the allocator's slow path does not pause for a stop while the
// thread is inside a section (thread.ts threadCheckpointAlloc; issue 10, item 6).
//
// A section is pushed with empty mutex fields *before* its lock may block: if the
// wait detaches, suspend walks past it and releases the outer sections' locks.
//
// Where the instance may not block (a browser main thread), beginning a section
// whose lock is held elsewhere gives up after a brief spin: -EAGAIN, the entry
// popped and nothing held (hookLockOrAgain). A word the facade adopted (its
// criticalSectionAsync took it asynchronously, mutex.ts) is taken over.
//
// Entries: {m1 u32, m2 u32, flags u32} (CS_M1, CS_M2, CS_FLAGS below).
//
// A reap reports the section locks a dead thread holds (csHeldLock), exactly: one
// left out stays locked for good, one too many is unlocked by the caller under
// whoever holds it now. V8 stops a worker at a call or a loop back-edge, so while
// a lock changes hands it is named in the thread record's TAKE_A/B (stored by the
// lock routine right after its winning CAS; cleared once the entry names it) or
// REL_A/B (stored as the entry pops or goes inactive; cleared by the unlock right
// after its releasing CAS), each with no call between the two stores that hand
// the name over. A lock taken after a detached wait is held through the
// re-attach, which may wait out a whole stop (cs-reap.test.ts).
//
// Owner only. Lock waits detach through thread.ts's lockDetaching, reached via
// hooks.ts (attach and detach, below that, call csResumeTop and csSuspendAll).
// See also: mutex.ts, thread.ts.

import { EAGAIN, ECS_DEPTH, EINVAL_STATE, ENOT_LOCKED, OK } from "./errors";
import { hookLockDetaching, hookLockOrAgain } from "./hooks";
import { mutexUnlock } from "./mutex";
import { CS_ASYNC_SLOTS, CS_ENTRY_SIZE, CS_MAX_DEPTH, T_CS_ASYNC, T_CS_DEPTH, T_CS_REL_A, T_CS_REL_B, T_CS_STACK, T_CS_TAKE_A, T_CS_TAKE_B } from "./layout";

const CS_M1: usize = 0;
const CS_M2: usize = 4;
const CS_FLAGS: usize = 8;
const CS_INACTIVE: u32 = 1;
/** csBegin's token for a section that pushed nothing (re-entrant no-op). */
export const CS_NOOP: i32 = 0;
export const CS_PUSHED: i32 = 1;

// @ts-ignore: decorator
@inline function entry(thread: usize, i: u32): usize {
  return thread + T_CS_STACK + <usize>(i * CS_ENTRY_SIZE);
}

/** Begin a section on `m`: CS_PUSHED, CS_NOOP (already held by the innermost), -ECS_DEPTH, or -EAGAIN (nothing changed). */
export function csBegin(thread: usize, m: usize): i32 {
  const depth = load<u32>(thread, T_CS_DEPTH);
  if (depth > 0) {
    const top = entry(thread, depth - 1);
    if (load<u32>(top, CS_M1) == <u32>m && load<u32>(top, CS_M2) == 0 && (load<u32>(top, CS_FLAGS) & CS_INACTIVE) == 0) return CS_NOOP;
  }
  if (depth >= CS_MAX_DEPTH) return -ECS_DEPTH;
  const e = entry(thread, depth);
  store<u32>(e, 0, CS_M1); store<u32>(e, 0, CS_M2); store<u32>(e, 0, CS_FLAGS);
  store<u32>(thread, depth + 1, T_CS_DEPTH);
  if (!hookLockOrAgain(thread, m, thread + T_CS_TAKE_A, <u32>m)) { store<u32>(thread, depth, T_CS_DEPTH); return -EAGAIN; }
  // Named in the entry, then no longer in TAKE_A: no call between (see the header).
  store<u32>(e, <u32>m, CS_M1);
  store<u32>(thread, 0, T_CS_TAKE_A);
  return CS_PUSHED;
}

/** Begin a section on two mutexes (taken in address order). */
export function csBegin2(thread: usize, a: usize, b: usize): i32 {
  if (a == b) return csBegin(thread, a);
  const lo = a < b ? a : b;
  const hi = a < b ? b : a;
  const depth = load<u32>(thread, T_CS_DEPTH);
  if (depth >= CS_MAX_DEPTH) return -ECS_DEPTH;
  const e = entry(thread, depth);
  store<u32>(e, 0, CS_M1); store<u32>(e, 0, CS_M2); store<u32>(e, 0, CS_FLAGS);
  store<u32>(thread, depth + 1, T_CS_DEPTH);
  if (!hookLockOrAgain(thread, lo, thread + T_CS_TAKE_A, <u32>lo)) { store<u32>(thread, depth, T_CS_DEPTH); return -EAGAIN; }
  if (!hookLockOrAgain(thread, hi, thread + T_CS_TAKE_B, <u32>hi)) {
    mutexUnlock(lo, thread + T_CS_TAKE_A, <u32>lo);   // TAKE_A cleared at the release
    store<u32>(thread, depth, T_CS_DEPTH);
    return -EAGAIN;
  }
  store<u32>(e, <u32>lo, CS_M1);
  store<u32>(e, <u32>hi, CS_M2);
  store<u32>(thread, 0, T_CS_TAKE_A);
  store<u32>(thread, 0, T_CS_TAKE_B);
  return CS_PUSHED;
}

/** End the innermost section (the token csBegin returned); resumes the one below. */
export function csEnd(thread: usize, token: i32): i32 {
  if (token == CS_NOOP) return OK;
  const depth = load<u32>(thread, T_CS_DEPTH);
  if (depth == 0) return ENOT_LOCKED;
  const e = entry(thread, depth - 1);
  const m1 = <usize>load<u32>(e, CS_M1);
  const m2 = <usize>load<u32>(e, CS_M2);
  // Popped with its locks moved to REL_A/B (no call between), each cleared at its release.
  store<u32>(thread, <u32>m1, T_CS_REL_A);
  store<u32>(thread, <u32>m2, T_CS_REL_B);
  store<u32>(thread, depth - 1, T_CS_DEPTH);
  if (m2 != 0) mutexUnlock(m2, thread + T_CS_REL_B, <u32>m2);
  if (m1 != 0) mutexUnlock(m1, thread + T_CS_REL_A, <u32>m1);
  relCleared(thread);
  if (depth > 1) csResumeTop(thread);
  return OK;
}

/**
 * End the innermost section of `thread` while it is detached (or parked): its owner
 * detached inside it, which released its locks (csSuspendAll), so it is popped
 * without re-taking them. Re-taking them only to release them (attach, then
 * csEnd) polled where the instance may not block — a freeze for as long as another
 * thread held the lock — and could not attach at all while a stop held the thread
 * (EAGAIN), leaving the section pushed: its lock was re-taken by the next attach
 * and never released (review-13a). ENOT_LOCKED: none; EINVAL_STATE: it holds its
 * locks (active). Owner only.
 */
export function csEndDetached(thread: usize, token: i32): i32 {
  if (token == CS_NOOP) return OK;
  const depth = load<u32>(thread, T_CS_DEPTH);
  if (depth == 0) return ENOT_LOCKED;
  if ((load<u32>(entry(thread, depth - 1), CS_FLAGS) & CS_INACTIVE) == 0) return EINVAL_STATE;
  store<u32>(thread, depth - 1, T_CS_DEPTH);   // the sections below stay inactive: the next attach resumes the top one
  return OK;
}

/** Detaching: release every active section's locks, innermost first; mark them INACTIVE. */
export function csSuspendAll(thread: usize): void {
  let i = load<u32>(thread, T_CS_DEPTH);
  while (i > 0) {
    const e = entry(thread, --i);
    const flags = load<u32>(e, CS_FLAGS);
    if ((flags & CS_INACTIVE) != 0) break;      // deeper ones are inactive already
    const m1 = <usize>load<u32>(e, CS_M1);
    const m2 = <usize>load<u32>(e, CS_M2);
    // Inactive (it keeps its words, to resume) with its locks in REL_A/B: no call between.
    store<u32>(thread, <u32>m1, T_CS_REL_A);
    store<u32>(thread, <u32>m2, T_CS_REL_B);
    store<u32>(e, flags | CS_INACTIVE, CS_FLAGS);
    if (m2 != 0) mutexUnlock(m2, thread + T_CS_REL_B, <u32>m2);
    if (m1 != 0) mutexUnlock(m1, thread + T_CS_REL_A, <u32>m1);
    relCleared(thread);
  }
}

// After the unlocks: a word an unlock did not clear named a lock that was not held
// (unlocked under the section by someone else): it names nothing now.
// @ts-ignore: decorator
@inline function relCleared(thread: usize): void {
  store<u32>(thread, 0, T_CS_REL_A);
  store<u32>(thread, 0, T_CS_REL_B);
}

/**
 * Re-take the innermost section's locks if it is inactive. Its fields are emptied
 * first, so that a detach while re-locking does not unlock what is not held.
 */
export function csResumeTop(thread: usize): void {
  const depth = load<u32>(thread, T_CS_DEPTH);
  if (depth == 0) return;
  const e = entry(thread, depth - 1);
  if ((load<u32>(e, CS_FLAGS) & CS_INACTIVE) == 0) return;
  const m1 = <usize>load<u32>(e, CS_M1);
  const m2 = <usize>load<u32>(e, CS_M2);
  store<u32>(e, 0, CS_M1); store<u32>(e, 0, CS_M2);
  if (m1 != 0) hookLockDetaching(thread, m1, thread + T_CS_TAKE_A, <u32>m1);
  if (m2 != 0) hookLockDetaching(thread, m2, thread + T_CS_TAKE_B, <u32>m2);
  store<u32>(e, <u32>m1, CS_M1);
  store<u32>(e, <u32>m2, CS_M2);
  store<u32>(e, load<u32>(e, CS_FLAGS) & ~CS_INACTIVE, CS_FLAGS);
  // Only the words this call named: nested (the attach ending a lock wait of csBegin*,
  // or of this function) it takes nothing, and TAKE_A/B name the outer call's locks.
  if (m1 != 0) store<u32>(thread, 0, T_CS_TAKE_A);
  if (m2 != 0) store<u32>(thread, 0, T_CS_TAKE_B);
}

/**
 * The `i`-th lock word (0..) `thread`'s sections hold, else 0: those of its
 * active sections, innermost first (an outer section stays active, its locks
 * held, until its thread detaches), then those in TAKE_A/B and REL_A/B (changing
 * hands), then those an async section took and has not taken over yet
 * (T_CS_ASYNC, abi/mutex.ts). Any thread, for a thread that cannot run (reap): at every point where
 * V8 may stop a worker (a call, a loop's back edge) these name exactly the
 * section locks it holds.
 */
export function csHeldLock(thread: usize, i: u32): usize {
  let n: u32 = 0;
  let depth = load<u32>(thread, T_CS_DEPTH);
  if (depth > CS_MAX_DEPTH) depth = 0;
  while (depth > 0) {
    const e = entry(thread, --depth);
    if ((load<u32>(e, CS_FLAGS) & CS_INACTIVE) != 0) break;   // deeper ones are inactive too
    for (let f: usize = CS_M1; f <= CS_M2; f += 4) {
      const m = <usize>load<u32>(e + f);
      if (m != 0 && n++ == i) return m;
    }
  }
  for (let w = thread + T_CS_TAKE_A; w <= thread + T_CS_REL_B; w += 4) {
    const m = <usize>load<u32>(w);
    if (m != 0 && n++ == i) return m;
  }
  for (let k: u32 = 0; k < CS_ASYNC_SLOTS; k++) {   // taken by an async section, not yet its own
    const m = <usize>load<u32>(thread + T_CS_ASYNC + (<usize>k << 2));
    if (m != 0 && n++ == i) return m;
  }
  return 0;
}

/** How many lock words csHeldLock names for `thread`. */
export function csHeldCount(thread: usize): u32 {
  let n: u32 = 0;
  while (csHeldLock(thread, n) != 0) n++;
  return n;
}
