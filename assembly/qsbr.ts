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
// of `slotCount` slots: no allocation, O(slots). Taking and giving back slots,
// and growing the array under a stop-the-world, is qsbr-slots.ts: this file is
// only the sequence arithmetic, so the layers below stop-the-world can use it.
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
// See also: qsbr-slots.ts (registration, growth), delayed-free.ts (freeDelayed), qsbr-pages.ts (delayed page reuse),
// thread.ts (checkpoints, attach/detach), domain.ts.

import { A_QSBR, ASSERT_INTERNAL, assertThat } from "./assert";
import { addSeqCst64, casAcqRel64, loadAcquire, loadAcquire64, loadSeqCst64, storeRelease, storeSeqCst64 } from "./atomics";
import { metaAlloc } from "./meta";
import { D_CHUNKS, D_DEFER_LIMIT, D_DF_FAILED, D_DF_FREED, D_DF_QUEUED, D_FREE_LIMIT, D_HELD_TAGS, D_PAGES_HELD, D_PAGE_LIMIT,
  D_QSBR_COUNT, D_QSBR_FREE,
  D_QSBR_RD, D_QSBR_SLOTS, D_QSBR_WR, SLOT_SHIFT, SL_FREE_NEXT, SL_SEQ, SL_THREAD, T_DEFERRALS, T_DEFER_BYTES,
  T_DEFER_PAGES, T_DOMAIN, T_QSBR_FLAGS, T_QSBR_SLOT } from "./layout";
import { loadSynced } from "./os";

export const QSBR_OFFLINE: u64 = 0;
export const QSBR_INITIAL: u64 = 1;
export const QSBR_INCR: u64 = 2;
export const QSBR_MIN_SLOTS: u32 = 8;
export const DEFAULT_DEFER_LIMIT: u32 = 10;
export const DEFAULT_FREE_LIMIT: u32 = 1 << 20;          // 1 MiB
export const DEFAULT_PAGE_LIMIT: u32 = 80 << 10;         // 80 KiB
export const DEFAULT_HELD_TAGS: u32 = 0b1110;           // OBJECT, GC, GC_PRE

// T_QSBR_FLAGS (owner only)
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
  storeSeqCst64(domain + D_QSBR_WR, QSBR_INITIAL);
  storeSeqCst64(domain + D_QSBR_RD, QSBR_INITIAL);
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
@inline export function qsbrWrSeq(domain: usize): u64 { return loadSeqCst64(domain + D_QSBR_WR); }
// @ts-ignore: decorator
@inline export function qsbrRdSeq(domain: usize): u64 { return loadSeqCst64(domain + D_QSBR_RD); }

// ---- Online, offline, quiescent ------------------------------------------------------

/**
 * Attach: the thread is online from here on, if it has a slot (the first attach
 * takes one: qsbr-slots.ts). Skipped while it resumes from a suspension in malloc
 * (QF_KEEP_SEQ) and once it is exiting.
 */
export function qsbrOnline(thread: usize): void {
  if ((load<u32>(thread, T_QSBR_FLAGS) & (QF_KEEP_SEQ | QF_EXITING)) != 0) return;
  qsbrQuiescent(thread);
}

/** The seq in `thread`'s slot (0: offline or no slot). Any thread (racy: for reports). */
export function qsbrThreadSeq(thread: usize): u64 {
  const slot = <usize>loadAcquire(thread + T_QSBR_SLOT);
  return slot == 0 ? QSBR_OFFLINE : loadSeqCst64(slot + SL_SEQ);
}

/** Detach: the thread holds no protected pointer until it is online again. */
// @ts-ignore: decorator
@inline export function qsbrOffline(thread: usize): void {
  const slot = <usize>load<u32>(thread, T_QSBR_SLOT);
  if (slot != 0) storeSeqCst64(slot + SL_SEQ, QSBR_OFFLINE);
}

/** Report a quiescent state: the thread holds no pointer it read lock-free before now. */
// @ts-ignore: decorator
@inline export function qsbrQuiescent(thread: usize): void {
  const slot = <usize>load<u32>(thread, T_QSBR_SLOT);
  if (slot != 0) {
    const seq = qsbrWrSeq(<usize>load<u32>(thread, T_DOMAIN));
    if (ASSERT_INTERNAL) assertThat((seq & 1) == 1, A_QSBR);   // wrSeq is odd: 0 means offline
    storeSeqCst64(slot + SL_SEQ, seq);
  }
}

// ---- Goals ----------------------------------------------------------------------------

/** Advance wrSeq; returns the NEW value (the goal), never the old one (PR #135473). */
// @ts-ignore: decorator
@inline export function qsbrAdvance(domain: usize): u64 {
  return addSeqCst64(domain + D_QSBR_WR, QSBR_INCR) + QSBR_INCR;
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
  const slots = <usize>loadSynced(domain + D_QSBR_SLOTS);   // a grown array: maybe in memory grown since (os.ts)
  const end = slots + (<usize>count << SLOT_SHIFT);
  for (let s = slots; s < end; s += 1 << SLOT_SHIFT) {
    const seq = loadSeqCst64(s + SL_SEQ);
    if (seq != QSBR_OFFLINE && seqLt(seq, min)) min = seq;
  }
  const old = qsbrRdSeq(domain);
  if (seqLt(old, min)) casAcqRel64(domain + D_QSBR_RD, old, min);
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
  const slots = <usize>loadSynced(domain + D_QSBR_SLOTS);   // a grown array: maybe in memory grown since (os.ts)
  for (let i: u32 = 0; i < count; i++) {
    const s = slots + (<usize>i << SLOT_SHIFT);
    if (s != own && loadSeqCst64(s + SL_SEQ) != QSBR_OFFLINE) return false;
  }
  return true;
}

/** Slots with a thread registered (racy: for stats). */
export function qsbrSlotsUsed(domain: usize): u32 {
  const count = loadAcquire(domain + D_QSBR_COUNT);   // before the array: see qsbrScan
  const slots = <usize>loadSynced(domain + D_QSBR_SLOTS);   // a grown array: maybe in memory grown since (os.ts)
  let used: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    if (loadAcquire(slots + (<usize>i << SLOT_SHIFT) + SL_THREAD) != 0) used++;
  }
  return used;
}

/** Is this domain's tag `tag` one whose empty pages wait for a goal? */
// @ts-ignore: decorator
@inline export function qsbrHoldsTag(domain: usize, tag: u32): bool {
  return ((loadAcquire(domain + D_HELD_TAGS) >> tag) & 1) != 0;
}

// ---- Reporting --------------------------------------------------------------------------

// Fields of qsbrInfo (the facade's Domain.qsbrInfo()).
// @abi-begin qsbr-info
export const QI_WR_SEQ: u32 = 0;
export const QI_RD_SEQ: u32 = 1;
export const QI_SLOTS: u32 = 2;
export const QI_SLOTS_USED: u32 = 3;
export const QI_DELAYED_QUEUED: u32 = 4;
export const QI_DELAYED_FREED: u32 = 5;
export const QI_DELAYED_FAILED: u32 = 6;
export const QI_PAGES_HELD: u32 = 7;
export const QI_DEFER_LIMIT: u32 = 8;
export const QI_FREE_LIMIT: u32 = 9;
export const QI_PAGE_LIMIT: u32 = 10;
export const QI_HELD_TAGS: u32 = 11;
export const QI_CHUNKS: u32 = 12;
export const QI_COUNT: u32 = 13;
export const QSBR_KEEP: u32 = 0xFFFFFFFF;   // qsbrConfigure: keep this value
// @abi-end

/** One QSBR figure of `domain` (a QI_* field; racy: for reports). */
export function qsbrInfo(domain: usize, field: u32): u64 {
  switch (field) {
    case QI_WR_SEQ: return qsbrWrSeq(domain);
    case QI_RD_SEQ: return qsbrRdSeq(domain);
    case QI_SLOTS: return loadAcquire(domain + D_QSBR_COUNT);
    case QI_SLOTS_USED: return qsbrSlotsUsed(domain);
    case QI_DELAYED_QUEUED: return loadAcquire64(domain + D_DF_QUEUED);
    case QI_DELAYED_FREED: return loadAcquire64(domain + D_DF_FREED);
    case QI_DELAYED_FAILED: return loadAcquire(domain + D_DF_FAILED);
    case QI_PAGES_HELD: return loadAcquire(domain + D_PAGES_HELD);
    case QI_DEFER_LIMIT: return loadAcquire(domain + D_DEFER_LIMIT);
    case QI_FREE_LIMIT: return loadAcquire(domain + D_FREE_LIMIT);
    case QI_PAGE_LIMIT: return loadAcquire(domain + D_PAGE_LIMIT);
    case QI_HELD_TAGS: return loadAcquire(domain + D_HELD_TAGS);
    default: return loadAcquire(domain + D_CHUNKS);   // QI_CHUNKS
  }
}

/** Set the domain's policy; KEEP (0xFFFFFFFF) keeps a value. The caller checked the values. */
export function qsbrConfigure(domain: usize, deferLimit: u32, freeLimit: u32, pageLimit: u32, heldTags: u32): void {
  if (deferLimit != QSBR_KEEP) storeRelease(domain + D_DEFER_LIMIT, deferLimit);
  if (freeLimit != QSBR_KEEP) storeRelease(domain + D_FREE_LIMIT, freeLimit);
  if (pageLimit != QSBR_KEEP) storeRelease(domain + D_PAGE_LIMIT, pageLimit);
  if (heldTags != QSBR_KEEP) storeRelease(domain + D_HELD_TAGS, heldTags);
}
