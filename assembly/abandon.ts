// abandon.ts — segments of exited threads: the domain's abandoned pool, reclaim.
//
// mimalloc v2's abandonment, per domain as CPython keeps it per interpreter. A
// thread that exits with live blocks cannot free its segments, and nobody else
// may touch them while it owns them. So at exit (and when a dead thread is
// reaped) every normal segment it owns is *abandoned*: its free spans leave the
// thread's span queues, its pages leave the heaps' queues, its xthreadId becomes
// 0, and it joins its domain's pool. Huge segments (one block each) are only
// marked ownerless: whoever frees the block frees them, as before.
//
// Blocks in an abandoned segment stay freeable from any thread at any time: a
// free there is a remote free (the page's xthreadFree, state DELAY_NEVER), after
// which the freer marks the pool dirty (free.ts). Then:
//   - collect (abandonedCollect): the next checkpoint of any thread of the domain
//     (try-lock, never waits) takes the remote frees of every pooled page, frees
//     the pages that became empty (pages of a held tag first wait for a QSBR goal,
//     as at their owner), and gives a segment left with no page back to the
//     runtime's free pool at once;
//   - reclaim (abandonedReclaim): a thread of the same domain that needs a page
//     adopts up to RECLAIM_TRIES pooled segments before it takes a fresh one (and
//     all of them on t.reclaimAbandoned()). Each page goes to the adopter's heap of
//     the page's own tag (never another tag's), with its held state: an empty page
//     still waiting for its goal joins the adopter's held list in goal order.
//
// Order of exit vs a remote free (Wasm atomics are sequentially consistent): the
// exiting thread stores xthreadId 0 in every segment and only then sets `dirty`;
// a freer pushes its block and then reads xthreadId. Either the freer reads 0 and
// sets `dirty` itself, or its push came before the exit's store, hence before
// `dirty` was set, and the collection that `dirty` triggers sees the block.
//
// The pool's lock (abandonLock) is a spin lock whose word holds the holder's
// thread record (when there is no current thread, the caller's instance as an
// odd word: instance.ts instanceLockWord): it guards the list and every
// pooled segment's records; its holder acts as their owner. Checkpoints and the
// allocation slow path only try it. A holder that dies is let go by its reap:
// a thread's (lifecycle.ts holdsReleaseDead), an instance's with no thread
// (instance.ts instanceLocksReleaseDead); what it left half done stays so.
//
// See also: segment.ts (spans, thread 0 = abandoned), page.ts, qsbr-pages.ts (held
// pages change owners), lifecycle.ts (exit, checkpoint), free.ts (the dirty mark).

import { addRelaxed, casAcqRel, loadAcquire, loadAcquire64, orAcqRel, storeRelease, storeRelease64, subRelaxed,
  swapAcqRel } from "./atomics";
import { DP_ABANDON_POOL_LOCKED, DP_ABANDON_SEG_DONE, DP_ADOPT_TAKEN, DP_DISCARD_SEG, DP_SEGMENT_COLLECT, DP_POOL_GIVEN, DP_POOL_GIVING, DP_REVIEW_COLLECT_EMPTY, DP_REVIEW_POOL_LOCKED, debugPause } from "./debug-delay";
import { heapForTag, heapInit } from "./heap";
import { hugeSegmentFree } from "./free";
import { loadSynced, memFill, memHas, osDecommit, osUnitGiving, osUnitsFree, unitState } from "./os";
import { pageAdoptDelayed, pageCollectRemote, pageFree, pageSetDelayed, pageSlicesFree } from "./page";
import { queuePushBack } from "./page-queue";
import { visitHugeFrom, visitMarkPage, visitNextInPage } from "./visit";
import { qsbrAdvance, qsbrGoalReached, qsbrHoldsTag, qsbrPollIssuing, seqLt } from "./qsbr";
import { heldPageAdopt, heldPagesDetach } from "./qsbr-pages";
import { poolLock, poolTryLock, poolTryLockSpinning, poolUnlock } from "./pool-lock";
import { floatDiscardAll, floatUnpoolAll, pageIsShared } from "./float";
import { segmentIsValid, segmentLastPage, segmentListPush, segmentPageFree, segmentRelease, segmentRepair, segmentSpansMove, sliceRecord } from "./segment";
import { A_SEGMENT, ASSERT_VALIDATE, assertThat } from "./assert";
import { BIN_FULL, DELAY_NEVER, D_ABANDONED, D_ABANDON_COUNT, D_ABANDON_DIRTY, D_ABANDON_FREED, D_ABANDON_GIVING, D_ABANDON_WORKING, D_DISCARD_HUGE, D_ABANDON_GOAL, D_ABANDON_LOCK, D_FLOATED, D_FLOAT_TAKEN,
  D_PAGES_HELD, D_RECLAIMED, FIRST_UNIT, HEAP_SIZE, H_TAG, P_BIN, P_BLOCK_SIZE, P_CAPACITY, P_EXT_BYTES, P_FREE, P_IN_FULL,
  P_LOCAL_FREE, P_NEXT, P_PREV, P_QSBR_GOAL, P_QSBR_NEXT, P_QSBR_PREV, P_RESERVED, P_RETIRE, P_SLICE_COUNT, P_TAG,
  P_START, P_USED, P_XHEAP, ROOT, R_BRK_UNITS, SEGMENT_SHIFT, SEG_ABANDON_NEXT, SEG_DOMAIN, SEG_GIVING, SEG_META_BYTES, SEG_PAGES, SEG_NEXT, SEG_PREV, SEG_THREAD, SEG_USED,
  SLICES_PER_SEGMENT, TAG_COUNT, T_DOMAIN, T_HEAPS, T_VISIT_BIN, T_VISIT_NEXT, T_VISIT_PAGE, T_VISIT_TAG, T_VISIT_UNIT, T_ADOPTING, T_HUGE_COUNT, T_SEG_COUNT, T_SEG_FIRST, UNIT_HUGE } from "./layout";

/** Pooled segments a slow-path allocation adopts at most before it takes a fresh one. */
export const RECLAIM_TRIES: u32 = 8;

/** The thread record holding the pool lock (odd: a caller with no thread, 2 × its instance id + 1), 0 if free. */
export function abandonLockHolder(domain: usize): u32 {
  return loadAcquire(domain + D_ABANDON_LOCK);
}

// ---- Abandoning ----------------------------------------------------------------------

/**
 * `thread` leaves for good (exit, or reap on its behalf): every normal segment it
 * owns goes to its domain's pool, its huge segments become ownerless, its heaps
 * and held list are emptied. The caller has collected its heaps (remote frees
 * taken, empty pages freed or held, pages set to DELAY_NEVER). Returns false when
 * a huge block's concurrent freer had not finished with the thread's huge count
 * yet (then the record must not be recycled: see abandonHuge).
 */
export function abandonSegments(thread: usize): bool {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const minGoal = heldPagesDetach(thread);
  // Kill-safe order (a worker killed in its exit is reaped: the reap runs this
  // again): the heaps are reset before their pages' links are cut (a reap walks
  // them), and the segment list stays whole (SEG_NEXT untouched) until the
  // segments are in the pool, when it is cleared with no call in between (a
  // reap walks it; cut earlier, it lost the segments after the cut, review-18c).
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) { memFill(heap, 0, HEAP_SIZE); heapInit(heap, thread, tag); }
  }
  let first: usize = 0;
  let last: usize = 0;
  let count: u32 = 0;
  let seg = <usize>load<u32>(thread, T_SEG_FIRST);
  while (seg != 0) {
    const next = <usize>load<u32>(seg, SEG_NEXT);
    segmentSpansMove(thread, seg, false);
    let index: u32 = 1;
    while (index < SLICES_PER_SEGMENT) {   // pages leave their queues (the heaps were reset above)
      const rec = sliceRecord(seg, index);
      if (load<u32>(rec, P_BLOCK_SIZE) != 0 && !pageIsShared(rec)) {   // a floating or lent page stays so (float.ts)
        store<u32>(rec, 0, P_NEXT);
        store<u32>(rec, 0, P_PREV);
        store<u8>(rec, 0, P_IN_FULL);
        store<u8>(rec, 0, P_RETIRE);
        // Every page, not only those the heaps' queues listed: an owner killed between
        // two queues left one in neither, still DELAY_USE, and a remote free then
        // pushed on the dead record's heap instead of the page (review 3).
        pageSetDelayed(rec, DELAY_NEVER);
      }
      index += load<u32>(rec, P_SLICE_COUNT);
    }
    store<u32>(seg, <u32>first, SEG_ABANDON_NEXT);   // SEG_NEXT/SEG_PREV: rewritten by an adopter's segmentListPush
    if (last == 0) last = seg;
    first = seg;
    count++;
    storeRelease(seg + SEG_THREAD, 0);
    seg = next;
    debugPause(DP_ABANDON_SEG_DONE);
  }
  if (count == 0) {
    store<u32>(thread, 0, T_SEG_FIRST);
    store<u32>(thread, 0, T_SEG_COUNT);
  } else {
    poolLock(domain, thread);
    debugPause(DP_ABANDON_POOL_LOCKED);
    store<u32>(last, load<u32>(domain, D_ABANDONED), SEG_ABANDON_NEXT);
    store<u32>(domain, <u32>first, D_ABANDONED);
    store<u32>(thread, 0, T_SEG_FIRST);   // pooled: no longer the thread's (no call since the link above)
    store<u32>(thread, 0, T_SEG_COUNT);
    storeRelease(domain + D_ABANDON_COUNT, loadAcquire(domain + D_ABANDON_COUNT) + count);
    poolGoalLower(domain, minGoal);
    poolUnlock(domain);
    storeRelease(domain + D_ABANDON_DIRTY, 1);   // after every xthreadId 0: see the file comment
  }
  return abandonHuge(thread);
}

/** Pool lock held: the pool's smallest pending goal becomes min(it, goal). */
function poolGoalLower(domain: usize, goal: u64): void {
  if (goal == 0) return;
  const g = loadAcquire64(domain + D_ABANDON_GOAL);
  if (g == 0 || seqLt(goal, g)) storeRelease64(domain + D_ABANDON_GOAL, goal);
}

const HUGE_COUNT_SPINS: u32 = 1 << 20;

/**
 * Make `thread`'s huge segments ownerless (xthreadId 0). A freer takes the owner
 * with a swap and decrements that owner's huge count (free.ts hugeSegmentFree):
 * whichever of the two wins a segment decrements once. A freer between its swap
 * and its decrement is a few instructions from done: wait that out (bounded);
 * false if the count did not reach 0 (the record must then not be reused).
 */
function abandonHuge(thread: usize): bool {
  if (loadAcquire(thread + T_HUGE_COUNT) == 0) return true;
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  for (let unit = FIRST_UNIT; unit < brk; unit++) {
    if (unitState(unit) != UNIT_HUGE) continue;
    const seg = <usize>unit << SEGMENT_SHIFT;
    if (casAcqRel(seg + SEG_THREAD, <u32>thread, 0)) subRelaxed(thread + T_HUGE_COUNT, 1);
  }
  for (let n: u32 = 0; n < HUGE_COUNT_SPINS; n++) {
    if (loadAcquire(thread + T_HUGE_COUNT) == 0) return true;
  }
  return false;
}

// ---- Collecting the pool ---------------------------------------------------------------

/** This instance's checkpoints since its last look at the pool's goal (thread-local). */
let goalPolls: u32 = 0;
const GOAL_POLL_EVERY: u32 = 8;

/**
 * Does the pool have work for a checkpoint: a block was freed into it, or its
 * held pages' smallest goal is reached (as far as the cached minimum knows; and
 * every GOAL_POLL_EVERY-th checkpoint, so that a goal nobody else polls for is
 * still reached: the collection then scans). Two loads, mostly.
 */
// @ts-ignore: decorator
@inline export function abandonedHasWork(domain: usize): bool {
  if (loadAcquire(domain + D_ABANDON_DIRTY) != 0) return true;
  const g = loadAcquire64(domain + D_ABANDON_GOAL);
  if (g == 0) return false;
  return qsbrGoalReached(domain, g) || (++goalPolls % GOAL_POLL_EVERY) == 0;
}

/**
 * Take the remote frees of every pooled page, free the pages that are empty (and
 * whose goal, if their tag is held, is reached), give segments left with no page
 * back to the runtime. `wait`: take the lock even if that means waiting; else
 * only try it (checkpoints). `atCheckpoint`: `holder` is quiescent. Returns the
 * segments given back.
 */
export function abandonedCollect(domain: usize, holder: usize, wait: bool, atCheckpoint: bool): u32 {
  if (loadAcquire(domain + D_ABANDON_COUNT) == 0 && loadAcquire(domain + D_ABANDON_GIVING) == 0) {
    debugPause(DP_REVIEW_COLLECT_EMPTY);
    storeRelease(domain + D_ABANDON_DIRTY, 0);
    // An exit raises the count before it marks the pool, and a reap names a give-back
    // a dead holder left before it marks it: seen clear again, their marks come after ours.
    if (loadAcquire(domain + D_ABANDON_COUNT) == 0 && loadAcquire(domain + D_ABANDON_GIVING) == 0) return 0;
  }
  if (wait) poolLock(domain, holder);
  else if (!poolTryLock(domain, holder)) return 0;
  debugPause(DP_REVIEW_POOL_LOCKED);
  storeRelease(domain + D_ABANDON_DIRTY, 0);   // frees from here on mark it again
  floatUnpoolAll(domain);   // floating pages of pooled segments are theirs again (float.ts)
  poolGivingFinish(domain);
  poolWorkingRepair(domain);
  // Held pages wait: make sure their goal is issued and the cached minimum fresh
  // (at a checkpoint `holder` is quiescent, so it may report itself again).
  const pending = loadAcquire64(domain + D_ABANDON_GOAL);
  if (pending != 0) qsbrPollIssuing(domain, pending, pending, atCheckpoint ? holder : 0);
  let goal: u64 = 0;
  let freed: u32 = 0;
  let prev: usize = 0;
  let seg = <usize>load<u32>(domain, D_ABANDONED);
  while (seg != 0) {
    const next = <usize>load<u32>(seg, SEG_ABANDON_NEXT);
    storeRelease(domain + D_ABANDON_WORKING, <u32>seg);   // cleared by segmentCollect
    const g = segmentCollect(domain, seg, prev);   // 1: freed (unlinked), else the smallest goal left (0 none) + 2
    if (g == 1) {
      freed++;
    } else {
      if (g > 2 && (goal == 0 || seqLt(g - 2, goal))) goal = g - 2;
      prev = seg;
    }
    seg = next;
  }
  storeRelease64(domain + D_ABANDON_GOAL, goal);
  if (freed != 0) addRelaxed(domain + D_ABANDON_FREED, freed);
  poolUnlock(domain);
  return freed;
}

/**
 * Pool lock held. Collect one pooled segment (`prev`: the one before it in the
 * pool, 0 if first); 1 when it was given back (unlinked from the pool first: it
 * is no longer ours to read), else 2 + the smallest goal of a held page left in
 * it (2: none). A page of a held tag that became empty here gets a fresh goal
 * and waits for it.
 */
function segmentCollect(domain: usize, seg: usize, prev: usize): u64 {
  debugPause(DP_SEGMENT_COLLECT);
  // No page left: its owner died between freeing its last page and giving the unit
  // back, and its reap pooled it as it was.
  if (load<u32>(seg, SEG_USED) == 0) { poolGive(domain, prev, seg); return 1; }
  let goal: u64 = 0;
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {
    const page = sliceRecord(seg, index);
    const n = load<u32>(page, P_SLICE_COUNT);
    if (load<u32>(page, P_BLOCK_SIZE) != 0 && !pageIsShared(page)) {   // lent: another thread's (float.ts)
      pageCollectRemote(page);
      if (load<u32>(page, P_USED) == 0) {
        let g = load<u64>(page, P_QSBR_GOAL);
        if (g == 0 && qsbrHoldsTag(domain, <u32>load<u8>(page, P_TAG))) {
          g = qsbrAdvance(domain);
          store<u64>(page, g, P_QSBR_GOAL);
          addRelaxed(domain + D_PAGES_HELD, 1);
        }
        if (g == 0 || qsbrGoalReached(domain, g)) {
          if (g != 0) { store<u64>(page, 0, P_QSBR_GOAL); subRelaxed(domain + D_PAGES_HELD, 1); }
          if (segmentLastPage(page)) { poolGive(domain, prev, seg); return 1; }
          pooledPageFree(page);
          index = 1;   // the free may have merged spans on both sides: walk again from the start
          continue;
        }
        if (goal == 0 || seqLt(g, goal)) goal = g;
      }
    }
    index += n;
  }
  storeRelease(domain + D_ABANDON_WORKING, 0);
  return goal + 2;
}

/**
 * Pool lock held: give back `seg` (after `prev` in the pool), whose pages are all
 * empty. Out of the pool before the unit goes back (a collector killed in the
 * give-back must not leave the pool listing a unit osUnitsRepair then hands to a
 * new segment: two owners, review-18c), marked as being given back in the same
 * breath (no call in between: a kill finds it either pooled or marked), so that
 * a collector killed before the unit is free leaves it to the next holder
 * (poolGivingFinish) rather than to nobody.
 */
function poolGive(domain: usize, prev: usize, seg: usize): void {
  storeRelease(domain + D_ABANDON_WORKING, 0);   // from here the giving mark speaks for it
  storeRelease(seg + SEG_GIVING, <u32>domain);
  storeRelease(domain + D_ABANDON_GIVING, <u32>seg);
  poolUnlink(domain, prev, seg);
  debugPause(DP_POOL_GIVING);
  segmentGiveBack(domain, seg);
  debugPause(DP_POOL_GIVEN);
  storeRelease(domain + D_ABANDON_GIVING, 0);
}

/** Pool lock held: take `seg` (after `prev`, 0 if first) out of the pool. */
// @ts-ignore: decorator
@inline function poolUnlink(domain: usize, prev: usize, seg: usize): void {
  const next = load<u32>(seg, SEG_ABANDON_NEXT);
  if (prev != 0) store<u32>(prev, next, SEG_ABANDON_NEXT); else store<u32>(domain, next, D_ABANDONED);
  storeRelease(domain + D_ABANDON_COUNT, loadAcquire(domain + D_ABANDON_COUNT) - 1);
}

/**
 * Pool lock held: finish a give-back the last holder died in (D_ABANDON_GIVING
 * set: the segment is out of the pool, its last page freed or being freed). If
 * its unit is still live and marked, nobody will ever free it but us: release it
 * (the page's own accounting may have been done already; the segment header's is
 * redone, at worst counted off twice). Freed already, or freed and handed out
 * again (osUnitsAlloc clears the mark), there is nothing left to do.
 */
function poolGivingFinish(domain: usize): void {
  const seg = <usize>loadAcquire(domain + D_ABANDON_GIVING);
  if (seg == 0) return;
  if (osUnitGiving(seg, domain)) { segmentGiveBack(domain, seg); addRelaxed(domain + D_ABANDON_FREED, 1); }
  storeRelease(domain + D_ABANDON_GIVING, 0);
}

/**
 * Pool lock held: give back the unit of `seg`, out of the pool and marked with
 * `domain` (SEG_GIVING): its header and the blocks its pages made ready (none is
 * live) are counted off, the unit freed (segmentRelease). Its pages' records are
 * left as they are: the unit goes back whole.
 */
function segmentGiveBack(domain: usize, seg: usize): void {
  let bytes: u32 = SEG_META_BYTES;
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {
    const rec = sliceRecord(seg, index);
    if (load<u32>(rec, P_BLOCK_SIZE) != 0) bytes += load<u32>(rec, P_CAPACITY) * load<u32>(rec, P_BLOCK_SIZE);
    index += load<u32>(rec, P_SLICE_COUNT);
  }
  segmentRelease(seg, domain, bytes);
}

/**
 * A dead holder's pool lock was just let go: if it died giving a segment back or
 * in the middle of a pooled segment, mark the pool so that the next checkpoint's
 * collection finishes or repairs it.
 */
export function abandonedMarkUnfinished(domain: usize): void {
  if (loadAcquire(domain + D_ABANDON_GIVING) != 0 || loadAcquire(domain + D_ABANDON_WORKING) != 0) {
    storeRelease(domain + D_ABANDON_DIRTY, 1);
  }
}

/**
 * Pool lock held: the last holder died collecting the segment the domain names
 * (D_ABANDON_WORKING). Its remote frees were either taken or not (page.ts
 * pageCollectRemote), an emptied page either still live or already counted off
 * and no longer live (pooledPageFree); but a page's slices may be half merged
 * into a span and the segment's page count one high, which would keep the unit
 * from ever going back. Re-tile its free slices and recount its pages, as the reap
 * does for a dead owner's segments (segmentRepair). Idempotent: the mark stays
 * until the repair is done. The segment is still in the pool (one whose last page
 * went is given back under the giving mark instead), perhaps with no page left
 * (pooled so by a dead owner's reap: segmentCollect gives it back).
 */
function poolWorkingRepair(domain: usize): void {
  const seg = <usize>loadAcquire(domain + D_ABANDON_WORKING);
  if (seg == 0) return;
  segmentRepair(seg);
  if (ASSERT_VALIDATE) assertThat(segmentIsValid(0, seg, 0), A_SEGMENT);
  storeRelease(domain + D_ABANDON_WORKING, 0);
}

/** Free an empty pooled page (pool lock held) that is not its segment's last (page.ts pageSlicesFree). */
function pooledPageFree(page: usize): void {
  const gone = pageSlicesFree(0, page);
  if (ASSERT_VALIDATE) assertThat(!gone, A_SEGMENT);   // a pooled segment's last page goes by poolGive
}

// ---- Reclaiming ------------------------------------------------------------------------

/**
 * The slow path of `heap` (owner `thread`) found no page of `bin` and is about
 * to take fresh memory: adopt pooled segments of the domain first, up to
 * RECLAIM_TRIES or until one brought room for the request. Waits for the pool
 * lock only briefly (poolTryLockSpinning). True when something was adopted (the
 * caller searches again).
 */
export function abandonedReclaim(thread: usize, heap: usize, bin: u32, slices: u32): bool {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (loadAcquire(domain + D_ABANDON_COUNT) == 0) return false;
  let adopted = false;
  for (let n: u32 = 0; n < RECLAIM_TRIES; n++) {
    const seg = poolTake(domain, thread, false);
    if (seg == 0) break;
    debugPause(DP_ADOPT_TAKEN);
    const room = segmentAdopt(thread, seg, load<u32>(heap, H_TAG), bin, slices);
    if (room < 0) { poolPutBack(domain, thread, seg); break; }   // no heap record could be made
    adopted = true;
    if (room > 0) break;
  }
  return adopted;
}

/**
 * Reap of `thread`, its segments repaired, before its heaps are drained and
 * collected: every page of its segments to DELAY_NEVER (sticky), so that no
 * remote free goes on its heaps' delayed lists any more. The heaps' own sweep
 * (heapCollect) reaches only pages in their queues: one an owner killed between
 * two queues is in neither, and a free into it after the drain went on a list
 * the reset heap never drains again (review 4).
 */
export function abandonPagesNever(thread: usize): void {
  let seg = <usize>load<u32>(thread, T_SEG_FIRST);
  for (let n = load<u32>(thread, T_SEG_COUNT); seg != 0 && n > 0; n--) {
    let index: u32 = 1;
    while (index < SLICES_PER_SEGMENT) {
      const rec = sliceRecord(seg, index);
      if (load<u32>(rec, P_BLOCK_SIZE) != 0 && !pageIsShared(rec)) pageSetDelayed(rec, DELAY_NEVER);
      index += load<u32>(rec, P_SLICE_COUNT);
    }
    seg = <usize>load<u32>(seg, SEG_NEXT);
  }
}

/**
 * Reap of `thread`, before its segments are repaired: a segment it had taken out
 * of the pool and not yet listed (T_ADOPTING) joins its list untouched (its pages
 * are as the pool left them), to be abandoned again with the rest. Without this
 * the segment was in no pool and no list: 4 MiB lost for good.
 */
export function abandonedAdoptingRecover(thread: usize): void {
  const seg = <usize>load<u32>(thread, T_ADOPTING);
  if (seg == 0) return;
  memHas(<u64>seg + (<u64>1 << SEGMENT_SHIFT));   // taken in memory this instance may not have seen grow
  storeRelease(seg + SEG_THREAD, <u32>thread);
  segmentListPush(thread, seg);
  store<u32>(thread, 0, T_ADOPTING);   // no call since the push: a reaper killed here pushes it once
}

/** Adopt every pooled segment of `thread`'s domain (t.reclaimAbandoned()); the count. */
export function abandonedReclaimAll(thread: usize): u32 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let count: u32 = 0;
  while (true) {
    const seg = poolTake(domain, thread, true);
    if (seg == 0) break;
    if (segmentAdopt(thread, seg, TAG_COUNT, 0, 0) < 0) { poolPutBack(domain, thread, seg); break; }
    count++;
  }
  return count;
}

/**
 * Unlink the first pooled segment (0 if none, or if the lock is busy and !wait)
 * for thread `holder` to adopt; the thread names it (T_ADOPTING) until it is on
 * the thread's list (segmentAdopt) or back in the pool (poolPutBack).
 */
function poolTake(domain: usize, holder: usize, wait: bool): usize {
  if (loadAcquire(domain + D_ABANDON_COUNT) == 0) return 0;
  if (wait) poolLock(domain, holder);
  else if (!poolTryLockSpinning(domain, holder)) return 0;
  poolWorkingRepair(domain);   // a segment a dead collector left half done is mended before it is handed out
  const seg = <usize>load<u32>(domain, D_ABANDONED);
  if (seg != 0) {
    // Named before it leaves the pool (no call in between): a thread killed from here
    // until the segment is on its list has it recovered by its reap (abandonedAdoptingRecover).
    store<u32>(holder, <u32>seg, T_ADOPTING);
    // Owned from here, under the lock: a floating page of a segment that reads
    // ownerless is a pooled segment's (float.ts floatUnpool), and one taken for
    // adoption is no longer pooled (unpooled once the adopter had walked past it,
    // the page was in no queue and no list, review of page sharing).
    storeRelease(seg + SEG_THREAD, <u32>holder);
    store<u32>(domain, load<u32>(seg, SEG_ABANDON_NEXT), D_ABANDONED);
    store<u32>(seg, 0, SEG_ABANDON_NEXT);
    storeRelease(domain + D_ABANDON_COUNT, loadAcquire(domain + D_ABANDON_COUNT) - 1);
  }
  poolUnlock(domain);
  return seg;
}

function poolPutBack(domain: usize, holder: usize, seg: usize): void {
  poolLock(domain, holder);
  storeRelease(seg + SEG_THREAD, 0);
  store<u32>(seg, load<u32>(domain, D_ABANDONED), SEG_ABANDON_NEXT);
  store<u32>(domain, <u32>seg, D_ABANDONED);
  store<u32>(holder, 0, T_ADOPTING);   // pooled again: no call since the link above
  storeRelease(domain + D_ABANDON_COUNT, loadAcquire(domain + D_ABANDON_COUNT) + 1);
  poolUnlock(domain);
  storeRelease(domain + D_ABANDON_DIRTY, 1);
}

/**
 * Make `seg` (taken from the pool: nobody else owns it) `thread`'s. Every page
 * goes to the thread's heap of the page's tag: queued, remote frees taken, its
 * delayed state NO; an empty page waiting for its goal joins the held list; other
 * empty pages are freed (or held, for a held tag). Returns -1 when a heap record
 * could not be made (nothing changed), 1 when the segment brought room for a
 * request of `tag`/`bin` (a page of it with free blocks, or a free span of
 * `slices`), else 0.
 */
function segmentAdopt(thread: usize, seg: usize, tag: u32, bin: u32, slices: u32): i32 {
  memHas(<u64>seg + (<u64>1 << SEGMENT_SHIFT));   // grown by another thread: visible to this instance (os.ts)
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let index: u32 = 1;
  while (index < SLICES_PER_SEGMENT) {   // every heap first, so nothing can fail half-way
    const page = sliceRecord(seg, index);
    if (load<u32>(page, P_BLOCK_SIZE) != 0 && heapForTag(thread, <u32>load<u8>(page, P_TAG)) == 0) return -1;
    index += load<u32>(page, P_SLICE_COUNT);
  }
  storeRelease(seg + SEG_THREAD, <u32>thread);
  segmentListPush(thread, seg);
  store<u32>(thread, 0, T_ADOPTING);   // on its list (no call since): a reap of ours now finds it there
  segmentSpansMove(thread, seg, true);
  let room: i32 = 0;
  index = 1;
  while (index < SLICES_PER_SEGMENT) {
    const page = sliceRecord(seg, index);
    const n = load<u32>(page, P_SLICE_COUNT);
    if (load<u32>(page, P_BLOCK_SIZE) == 0) {
      if (n >= slices && slices != 0) room = 1;
    } else if (!pageIsShared(page)) {   // a floating or lent page stays so (float.ts)
      const ptag = <u32>load<u8>(page, P_TAG);
      const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>ptag << 2));
      storeRelease(page + P_XHEAP, <u32>heap);
      pageAdoptDelayed(page);
      pageCollectRemote(page);
      store<u8>(page, 0, P_IN_FULL);
      store<u8>(page, 0, P_RETIRE);
      queuePushBack(heap, <u32>load<u8>(page, P_BIN), page);
      const goal = load<u64>(page, P_QSBR_GOAL);
      if (goal != 0) {
        if (load<u32>(page, P_USED) == 0 && !qsbrGoalReached(domain, goal)) {
          heldPageAdopt(thread, page);
        } else {
          store<u64>(page, 0, P_QSBR_GOAL);
          subRelaxed(domain + D_PAGES_HELD, 1);
        }
      }
      if (ptag == tag && <u32>load<u8>(page, P_BIN) == bin
          && (load<u32>(page, P_FREE) != 0 || load<u32>(page, P_LOCAL_FREE) != 0
              || load<u32>(page, P_CAPACITY) < load<u32>(page, P_RESERVED))) room = 1;
    }
    index += n;
  }
  addRelaxed(domain + D_RECLAIMED, 1);
  // Empty pages that wait for nothing go back to the segment now (a held tag's
  // get their goal there). A free may merge spans, and the last one frees the
  // segment: walk again from the start after each.
  index = 1;
  while (index < SLICES_PER_SEGMENT) {
    const page = sliceRecord(seg, index);
    if (load<u32>(page, P_BLOCK_SIZE) != 0 && !pageIsShared(page) && load<u32>(page, P_USED) == 0 && load<u64>(page, P_QSBR_GOAL) == 0) {
      const heap = <usize>loadAcquire(page + P_XHEAP);
      const last = segmentLastPage(page) && !qsbrHoldsTag(domain, <u32>load<u8>(page, P_TAG));
      pageFree(heap, page);
      if (last) return room;
      if (load<u64>(page, P_QSBR_GOAL) == 0) { room = slices != 0 ? 1 : room; index = 1; continue; }
    }
    index += load<u32>(page, P_SLICE_COUNT);
  }
  return room;
}

// ---- Walking the pool by tag -------------------------------------------------------------

/**
 * Walk the live blocks of `tag` in the domain's pool (the collector will need
 * them: its objects live in every thread's pages and in abandoned ones): pooled
 * normal segments, then ownerless huge blocks of the domain. Begin takes the pool
 * lock (so nothing is adopted or collected meanwhile) and the walk's last step
 * (abandonedVisitNext returning 0) releases it: the caller must walk to the end
 * without calling back into ftheap. Uses `thread`'s visit cursor and bitmap.
 */
export function abandonedVisitBegin(thread: usize, tag: u32): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  poolLock(domain, thread);
  floatUnpoolAll(domain);   // floating pages of pooled segments are walked with them (float.ts)
  store<u32>(thread, tag, T_VISIT_TAG);
  store<u32>(thread, load<u32>(domain, D_ABANDONED), T_VISIT_UNIT);   // the segment being walked
  store<u32>(thread, 1, T_VISIT_BIN);                                 // its next slice
  store<u32>(thread, 0, T_VISIT_PAGE);
  store<u32>(thread, 0, T_VISIT_NEXT);                                // 0: pooled segments, 1: huge units
}

/** The next live block of the walk begun by abandonedVisitBegin, or 0 (the lock is released). */
export function abandonedVisitNext(thread: usize): usize {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const tag = load<u32>(thread, T_VISIT_TAG);
  while (load<u32>(thread, T_VISIT_NEXT) == 0) {
    const b = visitNextInPage(thread);
    if (b != 0) return b;
    store<u32>(thread, 0, T_VISIT_PAGE);
    let seg = <usize>load<u32>(thread, T_VISIT_UNIT);
    if (seg == 0) { store<u32>(thread, 1, T_VISIT_NEXT); store<u32>(thread, FIRST_UNIT, T_VISIT_UNIT); break; }
    let index = load<u32>(thread, T_VISIT_BIN);
    while (index < SLICES_PER_SEGMENT) {
      const page = sliceRecord(seg, index);
      index += load<u32>(page, P_SLICE_COUNT);
      if (load<u32>(page, P_BLOCK_SIZE) != 0 && !pageIsShared(page) && <u32>load<u8>(page, P_TAG) == tag) {
        pageCollectRemote(page);
        if (load<u32>(page, P_USED) != 0) { visitMarkPage(thread, page); break; }
      }
    }
    if (index >= SLICES_PER_SEGMENT) {
      store<u32>(thread, load<u32>(seg, SEG_ABANDON_NEXT), T_VISIT_UNIT);
      index = 1;
    }
    store<u32>(thread, index, T_VISIT_BIN);
  }
  const huge = visitHugeFrom(thread, 0, domain);
  if (huge != 0) return huge;
  if (load<u32>(thread, T_VISIT_NEXT) == 1) { store<u32>(thread, 2, T_VISIT_NEXT); poolUnlock(domain); }
  return 0;
}

// ---- Domain teardown ---------------------------------------------------------------------

/**
 * The domain is being closed (no thread of it is left): give every pooled
 * segment back to the runtime, whatever it holds, and every huge segment of the
 * domain too. Blocks of the domain vanish. Returns the units given back.
 */
export function abandonedDiscardAll(domain: usize): u32 {
  poolLock(domain, 0);
  poolGivingFinish(domain);
  storeRelease(domain + D_ABANDON_WORKING, 0);   // every unit goes back whole: nothing to repair
  let units: u32 = 0;
  let seg = <usize>load<u32>(domain, D_ABANDONED);
  while (seg != 0) {
    const next = <usize>load<u32>(seg, SEG_ABANDON_NEXT);
    // Out of the pool before its unit goes back, marked (as segmentCollect).
    storeRelease(seg + SEG_GIVING, <u32>domain);
    storeRelease(domain + D_ABANDON_GIVING, <u32>seg);
    store<u32>(domain, <u32>next, D_ABANDONED);
    let index: u32 = 1;
    while (index < SLICES_PER_SEGMENT) {
      const page = sliceRecord(seg, index);
      if (load<u32>(page, P_BLOCK_SIZE) != 0 && load<u64>(page, P_QSBR_GOAL) != 0) subRelaxed(domain + D_PAGES_HELD, 1);
      index += load<u32>(page, P_SLICE_COUNT);
    }
    segmentGiveBack(domain, seg);
    storeRelease(domain + D_ABANDON_GIVING, 0);
    units++;
    seg = next;
    debugPause(DP_DISCARD_SEG);
  }
  store<u32>(domain, 0, D_ABANDONED);
  floatDiscardAll(domain);   // the float lists named pages of the segments given back (float.ts)
  storeRelease(domain + D_ABANDON_COUNT, 0);
  storeRelease64(domain + D_ABANDON_GOAL, 0);
  storeRelease(domain + D_ABANDON_DIRTY, 0);
  addRelaxed(domain + D_ABANDON_FREED, units);
  poolUnlock(domain);
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  for (let unit = FIRST_UNIT; unit < brk; unit++) {
    if (unitState(unit) != UNIT_HUGE) continue;
    const huge = <usize>unit << SEGMENT_SHIFT;
    if (<usize>load<u32>(huge, SEG_DOMAIN) != domain) continue;
    if (casAcqRel(huge + SEG_PAGES + P_USED, 1, 0)) {
      // Marked and named with no call since the claim: a close killed here is
      // finished by its reap (delayed-free.ts delayedDiscardDomain; review 5).
      storeRelease(huge + SEG_GIVING, <u32>domain);
      storeRelease(domain + D_DISCARD_HUGE, <u32>huge);
      hugeSegmentFree(huge);
      storeRelease(domain + D_DISCARD_HUGE, 0);
      units++;
    }
  }
  return units;
}

// ---- Facts -----------------------------------------------------------------------------

// @abi-begin abandon-info
export const AI_SEGMENTS: u32 = 0;       // segments in the pool now
export const AI_FREED: u32 = 1;          // segments the pool gave back to the runtime
export const AI_RECLAIMED: u32 = 2;      // segments adopted by live threads
export const AI_LOCK_HOLDER: u32 = 3;    // thread record holding the pool lock (0 = free; odd: an instance with no thread)
export const AI_FLOATED: u32 = 4;        // full pages ever put on the float lists (page sharing, float.ts)
export const AI_LENT: u32 = 5;           // floating pages ever taken by a thread not owning their segment
// @abi-end

/** One figure of the domain's pool (racy: for reports). */
export function abandonedInfo(domain: usize, field: u32): u32 {
  if (field == AI_SEGMENTS) return loadAcquire(domain + D_ABANDON_COUNT);
  if (field == AI_FREED) return loadAcquire(domain + D_ABANDON_FREED);
  if (field == AI_RECLAIMED) return loadAcquire(domain + D_RECLAIMED);
  if (field == AI_LOCK_HOLDER) return loadAcquire(domain + D_ABANDON_LOCK);
  if (field == AI_FLOATED) return loadAcquire(domain + D_FLOATED);
  if (field == AI_LENT) return loadAcquire(domain + D_FLOAT_TAKEN);
  return 0;
}
