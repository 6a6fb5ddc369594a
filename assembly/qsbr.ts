// qsbr.ts — quiescent-state-based reclamation, per domain (CPython's qsbr.c).
//
// A writer that unlinks memory lock-free readers may still be reading asks for a
// goal (advance, or the deferred form) and frees the memory once the goal is
// reached: once every thread that was online when it asked has since passed a
// quiescent state (stored a read sequence >= goal) or gone offline.
//
//   wrSeq   the domain's write sequence: 1, 3, 5, ... (+2 per advance; never 0)
//   seq     each thread's slot: the wrSeq it saw at its last quiescent state,
//           0 while it is offline (detached, suspended at a checkpoint, exited)
//   rdSeq   cached minimum of the online seqs; only grows (one CAS per poll)
//
// Slots are 64-byte records in one array per domain, so a poll is a linear walk
// of `slotCount` slots: no allocation, O(slots). Threads get a slot the first
// time they attach (reserve, then register) and give it back when they exit
// (unregister);
// free slots are on a list under the domain's qsbrMutex. When the list is empty
// the array doubles — under a stop-the-world, because every online thread writes
// its own slot through T_QSBR_SLOT and pollers walk the array: with everyone else
// paused the array is copied and every registered thread's pointer rewritten
// (CPython's _Py_qsbr_reserve). Old arrays stay in the meta area (their total is
// less than the final array). Nobody waits for qsbrMutex while attached
// (lockDetaching), so the grower's stop cannot deadlock on it (gh-119369).
//
// Quiescent states are reported at checkpoints (thread.ts), attach sets the seq
// (a quiescent state too), detach and exit set it to 0. A thread suspended in the
// allocator's slow path keeps its seq: a pointer read lock-free stays protected
// across an allocation (QF_KEEP_SEQ); one suspended at an explicit checkpoint goes
// offline while it waits.
//
// Ordering: a reader stores its seq (seq-cst) before it reads shared pointers; a
// writer unlinks, then reads wrSeq for its goal; a poller fences, then reads the
// seqs. Wasm atomics are sequentially consistent. Comparisons are wrap-safe.
//
// See also: delayed-free.ts (freeDelayed), qsbr-pages.ts (delayed page reuse),
// thread.ts (checkpoints, attach/detach), domain.ts.

import { loadAcquire, storeRelease } from "./atomics";
import { lockDetaching } from "./critical-section";
import { ENOMEM, OK } from "./errors";
import { metaAlloc } from "./meta";
import { mutexUnlock } from "./mutex";
import { stwStart, stwStop } from "./stop-the-world";
import { D_DEFER_LIMIT, D_FREE_LIMIT, D_HELD_TAGS, D_PAGE_LIMIT, D_QSBR_COUNT, D_QSBR_FREE, D_QSBR_MUTEX,
  D_QSBR_RD, D_QSBR_SLOTS, D_QSBR_WR, SLOT_SHIFT, SL_FREE_NEXT, SL_RESERVED, SL_SEQ, SL_THREAD, T_DEFERRALS, T_DEFER_BYTES,
  T_DEFER_PAGES, T_DOMAIN, T_QSBR_FLAGS, T_QSBR_SLOT } from "./layout";

export const QSBR_OFFLINE: u64 = 0;
export const QSBR_INITIAL: u64 = 1;
export const QSBR_INCR: u64 = 2;
export const QSBR_MIN_SLOTS: u32 = 8;
export const DEFAULT_DEFER_LIMIT: u32 = 10;
export const DEFAULT_FREE_LIMIT: u32 = 1 << 20;          // 1 MiB
export const DEFAULT_PAGE_LIMIT: u32 = 80 << 10;         // 80 KiB
export const DEFAULT_HELD_TAGS: u32 = 0b1110;           // OBJECT, GC, GC_PRE

// T_QSBR_FLAGS (owner only)
export const QF_REGISTERING: u32 = 1;   // taking a slot: its re-attach (lock waits) must not take another
export const QF_KEEP_SEQ: u32 = 2;      // suspended in malloc: attach keeps the old seq
export const QF_EXITING: u32 = 4;       // unregistered for good

// ---- Wrap-safe comparisons --------------------------------------------------------

// @ts-ignore: decorator
@inline export function seqLt(a: u64, b: u64): bool { return <i64>(a - b) < 0; }
// @ts-ignore: decorator
@inline export function seqLeq(a: u64, b: u64): bool { return <i64>(a - b) <= 0; }

// ---- Domain state -------------------------------------------------------------------

/** Set up a zeroed domain's QSBR state with QSBR_MIN_SLOTS free slots; false on OOM. */
export function qsbrInit(domain: usize): bool {
  const slots = metaAlloc(QSBR_MIN_SLOTS << SLOT_SHIFT);
  if (slots == 0) return false;
  for (let i: u32 = 0; i < QSBR_MIN_SLOTS; i++) {
    store<u32>(slots + (<usize>i << SLOT_SHIFT), i + 1 < QSBR_MIN_SLOTS ? i + 2 : 0, SL_FREE_NEXT);
  }
  atomic.store<u64>(domain + D_QSBR_WR, QSBR_INITIAL);
  atomic.store<u64>(domain + D_QSBR_RD, QSBR_INITIAL);
  store<u32>(domain, <u32>slots, D_QSBR_SLOTS);
  store<u32>(domain, QSBR_MIN_SLOTS, D_QSBR_COUNT);
  store<u32>(domain, 1, D_QSBR_FREE);
  storeRelease(domain + D_DEFER_LIMIT, DEFAULT_DEFER_LIMIT);
  storeRelease(domain + D_FREE_LIMIT, DEFAULT_FREE_LIMIT);
  storeRelease(domain + D_PAGE_LIMIT, DEFAULT_PAGE_LIMIT);
  storeRelease(domain + D_HELD_TAGS, DEFAULT_HELD_TAGS);
  return true;
}

// @ts-ignore: decorator
@inline export function qsbrWrSeq(domain: usize): u64 { return atomic.load<u64>(domain + D_QSBR_WR); }
// @ts-ignore: decorator
@inline export function qsbrRdSeq(domain: usize): u64 { return atomic.load<u64>(domain + D_QSBR_RD); }

// ---- Registration -----------------------------------------------------------------

/**
 * Reserve a free slot for `thread` (attached, current, unregistered), growing the
 * array under a stop-the-world if none is free: its index (the array may move, a
 * slot's index does not), or -ENOMEM. CPython's _Py_qsbr_reserve.
 */
export function qsbrReserve(thread: usize): i32 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  lockDetaching(thread, domain + D_QSBR_MUTEX);
  let index: i32 = -ENOMEM;
  if (load<u32>(domain, D_QSBR_FREE) != 0 || qsbrGrow(thread, domain) == OK) {
    index = <i32>load<u32>(domain, D_QSBR_FREE) - 1;
    const slot = <usize>load<u32>(domain, D_QSBR_SLOTS) + (<usize>index << SLOT_SHIFT);
    store<u32>(domain, load<u32>(slot, SL_FREE_NEXT), D_QSBR_FREE);
    store<u32>(slot, 0, SL_FREE_NEXT);
    store<u32>(slot, 1, SL_RESERVED);
    atomic.store<u64>(slot + SL_SEQ, QSBR_OFFLINE);
  }
  mutexUnlock(domain + D_QSBR_MUTEX);
  return index;
}

/**
 * Link the reserved slot `index` and `thread` both ways. From here on a grower
 * rewrites the thread's slot pointer. CPython's _Py_qsbr_register.
 */
export function qsbrRegister(thread: usize, index: u32): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  lockDetaching(thread, domain + D_QSBR_MUTEX);
  const slot = <usize>load<u32>(domain, D_QSBR_SLOTS) + (<usize>index << SLOT_SHIFT);   // reloaded: it may have moved
  atomic.store<u32>(slot + SL_THREAD, <u32>thread);
  storeRelease(thread + T_QSBR_SLOT, <u32>slot);
  mutexUnlock(domain + D_QSBR_MUTEX);
}

/** Reserve and register (a thread's first attach). OK or ENOMEM. The slot starts offline. */
function qsbrTakeSlot(thread: usize): i32 {
  const flags = load<u32>(thread, T_QSBR_FLAGS);
  store<u32>(thread, flags | QF_REGISTERING, T_QSBR_FLAGS);
  const index = qsbrReserve(thread);
  if (index >= 0) qsbrRegister(thread, <u32>index);
  store<u32>(thread, flags & ~QF_REGISTERING, T_QSBR_FLAGS);
  return index >= 0 ? OK : -index;
}

/** Double the slot array with every other thread of the domain stopped. Under qsbrMutex. */
function qsbrGrow(thread: usize, domain: usize): i32 {
  const count = load<u32>(domain, D_QSBR_COUNT);
  const bigger = metaAlloc((count << 1) << SLOT_SHIFT);
  if (bigger == 0) return ENOMEM;
  if (stwStop(thread, false) != OK) return ENOMEM;   // cannot happen: the thread is attached, not a requester
  const old = <usize>load<u32>(domain, D_QSBR_SLOTS);
  memory.copy(bigger, old, <usize>count << SLOT_SHIFT);
  for (let i: u32 = 0; i < count; i++) {
    const slot = bigger + (<usize>i << SLOT_SHIFT);
    const owner = <usize>load<u32>(slot, SL_THREAD);
    if (owner != 0) storeRelease(owner + T_QSBR_SLOT, <u32>slot);
  }
  for (let i = count; i < count << 1; i++) {
    store<u32>(bigger + (<usize>i << SLOT_SHIFT), i + 1 < count << 1 ? i + 2 : 0, SL_FREE_NEXT);
  }
  store<u32>(domain, count + 1, D_QSBR_FREE);
  storeRelease(domain + D_QSBR_SLOTS, <u32>bigger);
  storeRelease(domain + D_QSBR_COUNT, count << 1);
  stwStart(thread, false);
  return OK;
}

/**
 * Give the slot back (thread exit; the thread is attached and current). The slot
 * pointer is read again under the mutex: the array may have moved while we waited
 * (gh-115103).
 */
export function qsbrUnregister(thread: usize): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_EXITING, T_QSBR_FLAGS);
  lockDetaching(thread, domain + D_QSBR_MUTEX);
  const slot = <usize>loadAcquire(thread + T_QSBR_SLOT);
  if (slot != 0) {
    atomic.store<u64>(slot + SL_SEQ, QSBR_OFFLINE);
    atomic.store<u32>(slot + SL_THREAD, 0);
    store<u32>(slot, 0, SL_RESERVED);
    const index = <u32>((slot - <usize>load<u32>(domain, D_QSBR_SLOTS)) >> SLOT_SHIFT);
    store<u32>(slot, load<u32>(domain, D_QSBR_FREE), SL_FREE_NEXT);
    store<u32>(domain, index + 1, D_QSBR_FREE);
    storeRelease(thread + T_QSBR_SLOT, 0);
  }
  mutexUnlock(domain + D_QSBR_MUTEX);
}

// ---- Online, offline, quiescent ------------------------------------------------------

/**
 * Attach: the thread is online from here on (registering it first if needed).
 * Skipped while it resumes from a suspension in malloc (QF_KEEP_SEQ). ENOMEM when
 * no slot could be had.
 */
export function qsbrOnline(thread: usize): i32 {
  const flags = load<u32>(thread, T_QSBR_FLAGS);
  if ((flags & (QF_KEEP_SEQ | QF_REGISTERING | QF_EXITING)) != 0) return OK;
  if (load<u32>(thread, T_QSBR_SLOT) == 0) {
    const rc = qsbrTakeSlot(thread);
    if (rc != OK) return rc;
  }
  qsbrQuiescent(thread);
  return OK;
}

/** Detach: the thread holds no protected pointer until it is online again. */
// @ts-ignore: decorator
@inline export function qsbrOffline(thread: usize): void {
  const slot = <usize>load<u32>(thread, T_QSBR_SLOT);
  if (slot != 0) atomic.store<u64>(slot + SL_SEQ, QSBR_OFFLINE);
}

/** Report a quiescent state: the thread holds no pointer it read lock-free before now. */
// @ts-ignore: decorator
@inline export function qsbrQuiescent(thread: usize): void {
  const slot = <usize>load<u32>(thread, T_QSBR_SLOT);
  if (slot != 0) atomic.store<u64>(slot + SL_SEQ, qsbrWrSeq(<usize>load<u32>(thread, T_DOMAIN)));
}

// ---- Goals ----------------------------------------------------------------------------

/** Advance wrSeq; returns the NEW value (the goal), never the old one (PR #135473). */
// @ts-ignore: decorator
@inline export function qsbrAdvance(domain: usize): u64 {
  return atomic.add<u64>(domain + D_QSBR_WR, QSBR_INCR) + QSBR_INCR;
}

/**
 * A goal without writing wrSeq: the value the next advance will produce. Safe
 * because the caller unlinked before reading wrSeq; the memory is freed one
 * advance later.
 */
// @ts-ignore: decorator
@inline export function qsbrSharedNext(domain: usize): u64 {
  return qsbrWrSeq(domain) + QSBR_INCR;
}

/**
 * Goal for a delayed free of `bytes`: a real advance every deferLimit-th call, or
 * once the bytes waiting (or this block alone) pass freeLimit; else the deferred
 * goal. `advanced` reports which (the caller then asks for processing soon).
 */
export function qsbrDeferredAdvance(thread: usize, bytes: u32): u64 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const n = load<u32>(thread, T_DEFERRALS) + 1;
  const held = load<u32>(thread, T_DEFER_BYTES);
  const total = held + bytes < held ? 0xFFFFFFFF : held + bytes;
  const freeLimit = loadAcquire(domain + D_FREE_LIMIT);
  if (n >= loadAcquire(domain + D_DEFER_LIMIT) || total > freeLimit) {
    store<u32>(thread, 0, T_DEFERRALS);
    store<u32>(thread, 0, T_DEFER_BYTES);
    return qsbrAdvance(domain);
  }
  store<u32>(thread, n, T_DEFERRALS);
  store<u32>(thread, total, T_DEFER_BYTES);
  return qsbrSharedNext(domain);
}

/** Goal for holding an empty page of `bytes`: advances once pageLimit bytes are held. */
export function qsbrPageGoal(thread: usize, bytes: u32): u64 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const held = load<u32>(thread, T_DEFER_PAGES);
  const total = held + bytes < held ? 0xFFFFFFFF : held + bytes;
  if (total > loadAcquire(domain + D_PAGE_LIMIT)) {
    store<u32>(thread, 0, T_DEFER_PAGES);
    return qsbrAdvance(domain);
  }
  store<u32>(thread, total, T_DEFER_PAGES);
  return qsbrSharedNext(domain);
}

/** Has every thread passed `goal`, as far as the cached minimum knows? No scan. */
// @ts-ignore: decorator
@inline export function qsbrGoalReached(domain: usize, goal: u64): bool {
  return seqLeq(goal, qsbrRdSeq(domain));
}

/** Scan every slot; publish the new minimum (one CAS, losing is fine) and return it. */
export function qsbrScan(domain: usize): u64 {
  // No fence: Wasm atomic accesses are sequentially consistent, which is what the
  // fence buys in C (and binaryen 0.28 rejects atomic.fence as unordered).
  let min = qsbrWrSeq(domain);
  // Count before array: a grower publishes the array first, so this pairing never
  // reads past the array it walks.
  const count = loadAcquire(domain + D_QSBR_COUNT);
  const slots = <usize>loadAcquire(domain + D_QSBR_SLOTS);
  const end = slots + (<usize>count << SLOT_SHIFT);
  for (let s = slots; s < end; s += 1 << SLOT_SHIFT) {
    const seq = atomic.load<u64>(s + SL_SEQ);
    if (seq != QSBR_OFFLINE && seqLt(seq, min)) min = seq;
  }
  const old = qsbrRdSeq(domain);
  if (seqLt(old, min)) atomic.cmpxchg<u64>(domain + D_QSBR_RD, old, min);
  return min;
}

/** Is `goal` reached? Scans the slots when the cached minimum does not tell. Attached only. */
export function qsbrPoll(domain: usize, goal: u64): bool {
  if (qsbrGoalReached(domain, goal)) return true;
  return seqLeq(goal, qsbrScan(domain));
}

/**
 * qsbrPoll for queued work whose newest goal is `newest`: goals nobody has issued
 * yet (the deferred form, wrSeq + 2) get their advance first — one advance issues
 * them all, since every deferred goal is at most wrSeq + 2 — so a lone delayed
 * free is not held until some later advance. `quiescent` (a thread inside a
 * checkpoint, or 0) reports its quiescent state again after that advance, so a
 * thread alone is not held up by itself.
 */
export function qsbrPollIssuing(domain: usize, goal: u64, newest: u64, quiescent: usize): bool {
  if (qsbrGoalReached(domain, goal)) return true;
  if (seqLt(qsbrWrSeq(domain), newest)) {
    qsbrAdvance(domain);
    if (quiescent != 0) qsbrQuiescent(quiescent);
  }
  return seqLeq(goal, qsbrScan(domain));
}

/** Is every slot but `thread`'s offline (no other thread can hold a protected pointer)? */
export function qsbrOthersOffline(domain: usize, thread: usize): bool {
  const own = <usize>load<u32>(thread, T_QSBR_SLOT);
  const count = loadAcquire(domain + D_QSBR_COUNT);
  const slots = <usize>loadAcquire(domain + D_QSBR_SLOTS);
  for (let i: u32 = 0; i < count; i++) {
    const s = slots + (<usize>i << SLOT_SHIFT);
    if (s != own && atomic.load<u64>(s + SL_SEQ) != QSBR_OFFLINE) return false;
  }
  return true;
}

/** Slots with a thread registered (racy: for stats). */
export function qsbrSlotsUsed(domain: usize): u32 {
  const count = loadAcquire(domain + D_QSBR_COUNT);   // before the array: see qsbrScan
  const slots = <usize>loadAcquire(domain + D_QSBR_SLOTS);
  let used: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    if (atomic.load<u32>(slots + (<usize>i << SLOT_SHIFT) + SL_THREAD) != 0) used++;
  }
  return used;
}

/** Is this domain's tag `tag` one whose empty pages wait for a goal? */
// @ts-ignore: decorator
@inline export function qsbrHoldsTag(domain: usize, tag: u32): bool {
  return ((loadAcquire(domain + D_HELD_TAGS) >> tag) & 1) != 0;
}
