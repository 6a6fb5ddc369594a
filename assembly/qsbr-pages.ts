// qsbr-pages.ts — delayed page reuse for object-holding tags (CPython's _PyMem_mi_page_*).
//
// Lock-free readers may still read the header (owner, refcounts) of an object
// that was just freed. Reuse for the same size class in the same heap keeps those
// words at the same offsets, so that is allowed at once; but a page of a held tag
// (the domain's heldTags: OBJECT, GC and GC_PRE by default) that becomes empty
// must not change size class, move to another heap or go back to its segment
// until a QSBR goal has passed. Such a page gets a goal and joins its owner
// thread's list of held pages (goal order: goals only grow); it stays in its
// bin's queue and keeps serving allocations of its size.
//
// The hold is cancelled (goal 0, unlinked) when the page is picked for
// allocation, when it becomes empty again (pageRetire), and when remote frees are
// collected into it — each of those may mean a block was freed after the goal was
// taken, so the next time it is empty it needs a fresh goal. A held page that was
// allocated from on the fast path is found non-empty by the list walk and
// unlinked there. So a goal on an empty page always postdates its last free.
//
// The walk (heldPagesCollect) runs at checkpoints, before a heap takes a fresh
// page, and when heaps are collected; it stops at the first goal not reached.
//
// The goal stays on the page record, so it survives abandonment: a thread that
// exits with held pages leaves them in its abandoned segments with their goals
// (heldPagesDetach); the domain's pool frees them once due, or a thread that
// adopts the segment puts them on its own held list (heldPageAdopt). See abandon.ts.
//
// Owner only. The allocator reaches this file through hooks.ts. See also:
// qsbr.ts (goals), page.ts (pageFree), abandon.ts.

import { pageFreeNow, pageUnfull } from "./page";
import { addRelaxed, subRelaxed } from "./atomics";
import { segmentOf } from "./segment";
import { qsbrGoalReached, qsbrHoldsTag, qsbrPageGoal, qsbrPollIssuing, seqLt } from "./qsbr";
import { FULL_QUEUED, D_PAGES_HELD, H_THREAD, P_BLOCK_SIZE, P_CAPACITY, P_IN_FULL, P_QSBR_GOAL, P_QSBR_NEXT, P_QSBR_PREV,
  P_RETIRE, P_TAG, P_USED, P_XHEAP, SEG_DOMAIN, T_DOMAIN, T_HELD_FIRST, T_HELD_LAST } from "./layout";

/** Cancel a page's hold, if it has one: goal 0, off its thread's list. */
export function pageHoldClear(thread: usize, page: usize): void {
  if (load<u64>(page, P_QSBR_GOAL) == 0) return;
  store<u64>(page, 0, P_QSBR_GOAL);
  const next = <usize>load<u32>(page, P_QSBR_NEXT);
  const prev = <usize>load<u32>(page, P_QSBR_PREV);
  if (next != 0) store<u32>(next, <u32>prev, P_QSBR_PREV); else store<u32>(thread, <u32>prev, T_HELD_LAST);
  if (prev != 0) store<u32>(prev, <u32>next, P_QSBR_NEXT); else store<u32>(thread, <u32>next, T_HELD_FIRST);
  store<u32>(page, 0, P_QSBR_NEXT);
  store<u32>(page, 0, P_QSBR_PREV);
  subRelaxed(<usize>load<u32>(thread, T_DOMAIN) + D_PAGES_HELD, 1);
}

/** pageHoldClear for a page known only by itself (its heap's thread is the owner). */
// @ts-ignore: decorator
@inline export function pageHoldCancel(page: usize): void {
  if (load<u64>(page, P_QSBR_GOAL) != 0) {
    pageHoldClear(<usize>load<u32>(<usize>load<u32>(page, P_XHEAP), H_THREAD), page);
  }
}

/**
 * Is `page`'s tag one whose memory waits for a goal before reuse, in the domain
 * the page's segment belongs to? (Normal pages and huge blocks alike; owned or
 * abandoned.)
 */
export function pageTagHeld(page: usize): bool {
  return qsbrHoldsTag(<usize>load<u32>(segmentOf(page), SEG_DOMAIN), <u32>load<u8>(page, P_TAG));
}

/**
 * The hook before an empty page is really freed: true when it must wait (it is
 * held, now or still), false when it may be freed (not a held tag, or its goal
 * is reached; then it is already unlinked).
 */
export function pageHold(heap: usize, page: usize): bool {
  const thread = <usize>load<u32>(heap, H_THREAD);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const held = pageTagHeld(page);
  const goal = load<u64>(page, P_QSBR_GOAL);
  if (goal != 0) {
    if (held && !qsbrGoalReached(domain, goal)) return true;
    pageHoldClear(thread, page);   // reached, or its tag is no longer held
    return false;
  }
  if (!held) return false;
  // A page in the full queue is never searched: it would be lost until exit (gh-145615).
  if (load<u8>(page, P_IN_FULL) == FULL_QUEUED) pageUnfull(heap, page);
  store<u8>(page, 0, P_RETIRE);
  const g = qsbrPageGoal(thread, load<u32>(page, P_CAPACITY) * load<u32>(page, P_BLOCK_SIZE));
  store<u64>(page, g, P_QSBR_GOAL);
  const last = <usize>load<u32>(thread, T_HELD_LAST);
  store<u32>(page, <u32>last, P_QSBR_PREV);
  store<u32>(page, 0, P_QSBR_NEXT);
  if (last != 0) store<u32>(last, <u32>page, P_QSBR_NEXT); else store<u32>(thread, <u32>page, T_HELD_FIRST);
  store<u32>(thread, <u32>page, T_HELD_LAST);
  addRelaxed(domain + D_PAGES_HELD, 1);
  return true;
}

/**
 * Walk the thread's held pages in goal order: unlink those allocated from since,
 * free those whose goal is reached, stop at the first that must still wait (one
 * scan of the slots at most; a goal nobody has issued yet gets its advance).
 * `atCheckpoint`: the thread is quiescent throughout (see qsbrPollIssuing).
 * Returns the pages freed.
 */
export function heldPagesCollect(thread: usize, atCheckpoint: bool): u32 {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  let freed: u32 = 0;
  let scanned = false;
  let page = <usize>load<u32>(thread, T_HELD_FIRST);
  if (page == 0) return 0;
  const newest = load<u64>(<usize>load<u32>(thread, T_HELD_LAST), P_QSBR_GOAL);
  while (page != 0) {
    const next = <usize>load<u32>(page, P_QSBR_NEXT);
    if (load<u32>(page, P_USED) != 0) { pageHoldClear(thread, page); page = next; continue; }
    const goal = load<u64>(page, P_QSBR_GOAL);
    if (!qsbrGoalReached(domain, goal)) {
      if (scanned || !qsbrPollIssuing(domain, goal, newest, atCheckpoint ? thread : 0)) break;
      scanned = true;
    }
    pageHoldClear(thread, page);
    pageFreeNow(<usize>load<u32>(page, P_XHEAP), page);
    freed++;
    page = next;
  }
  return freed;
}

// ---- Abandonment: held pages change owners ------------------------------------------------

/**
 * The owner exits (abandon.ts): its held list dissolves. Pages allocated from
 * since they were held lose their goal; empty ones keep it (the goal stays on
 * the record, and the abandoned pool or an adopter honours it). Returns the
 * smallest goal kept, 0 if none.
 */
export function heldPagesDetach(thread: usize): u64 {
  let min: u64 = 0;
  let page = <usize>load<u32>(thread, T_HELD_FIRST);
  while (page != 0) {
    const next = <usize>load<u32>(page, P_QSBR_NEXT);
    if (load<u32>(page, P_USED) != 0) {
      pageHoldClear(thread, page);
    } else {
      const goal = load<u64>(page, P_QSBR_GOAL);
      if (min == 0 || seqLt(goal, min)) min = goal;
      store<u32>(page, 0, P_QSBR_NEXT);
      store<u32>(page, 0, P_QSBR_PREV);
    }
    page = next;
  }
  store<u32>(thread, 0, T_HELD_FIRST);
  store<u32>(thread, 0, T_HELD_LAST);
  return min;
}

/**
 * An adopted empty page still waiting for its goal joins `thread`'s held list,
 * in goal order (searched from the newest end: adopted goals are usually old, so
 * this is at worst O(held pages), and adoption is rare).
 */
export function heldPageAdopt(thread: usize, page: usize): void {
  const goal = load<u64>(page, P_QSBR_GOAL);
  let after = <usize>load<u32>(thread, T_HELD_LAST);
  while (after != 0 && seqLt(goal, load<u64>(after, P_QSBR_GOAL))) after = <usize>load<u32>(after, P_QSBR_PREV);
  const before = after != 0 ? <usize>load<u32>(after, P_QSBR_NEXT) : <usize>load<u32>(thread, T_HELD_FIRST);
  store<u32>(page, <u32>after, P_QSBR_PREV);
  store<u32>(page, <u32>before, P_QSBR_NEXT);
  if (after != 0) store<u32>(after, <u32>page, P_QSBR_NEXT); else store<u32>(thread, <u32>page, T_HELD_FIRST);
  if (before != 0) store<u32>(before, <u32>page, P_QSBR_PREV); else store<u32>(thread, <u32>page, T_HELD_LAST);
}
