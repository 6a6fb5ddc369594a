// float.ts — full pages another thread may take over (page sharing).
//
// Why: a page belongs to its segment's owner, and only the owner takes back the
// blocks other threads freed into it. When two threads hand blocks to each other
// (a producer and a consumer, larson's slot exchange), each one's pages fill with
// blocks the other frees while their owner is busy elsewhere or waiting, and the
// other thread meanwhile takes fresh pages for its own allocations: each thread
// keeps its own highest count of pages, and the peak is about twice the live
// bytes. mimalloc 3 answers this by letting go of full pages; so do we.
//
// A page of a tag that QSBR does not hold that fills up (no free block, no room
// to extend) leaves its owner's heap queues instead of going to the full queue:
// it *floats* on its domain's float list for its size class (D_FLOAT_BINS, under
// the pool lock, pool-lock.ts). A floating page has no owner: its P_IN_FULL reads
// FULL_FLOAT, so free()'s owner fast path falls through, and free.ts routes every
// free into it as another thread's (a CAS on xthreadFree, its delayed state NO).
//
// A thread that needs a page of that tag and class, and has none with room, takes
// a floating page that has remote frees on it before it takes fresh memory
// (floatClaim): it collects them and allocates from the page. If the page's
// segment is its own, the page is home again (FLOAT_NONE, P_IN_FULL 0). Otherwise
// the page is *lent* (FLOAT_LENT, P_IN_FULL stays FULL_FLOAT): in the taker's
// queue, allocated from and collected by the taker only, freed into by everyone
// (the taker included) through xthreadFree. A lent page is never given back to
// its segment by the taker: full or empty again, it floats again (pageFloat; an
// empty one from pageFree, through hooks.ts). Only the segment's owner frees a
// page's slices: it takes its own floating pages home when it finds remote frees
// on them (floatClaim, and every page of every class at a heap collection,
// floatHomeAll), and an empty one goes back to the segment from there. Once the
// segment's owner has exited (SEG_THREAD 0: the segment is in the abandoned pool),
// the pool lock's holder, the owner of pooled segments, takes its floating pages
// back into it (floatUnpool): the pool's collection and adoption treat them as
// the segment's pages again.
//
// Who writes what: P_FLOAT, and a floating page's links (P_NEXT/P_PREV, its queue
// links while it is in a queue), are written under the pool lock or by the thread
// whose queue holds the page; P_IN_FULL goes to FULL_FLOAT only by the page's
// owner when it floats the page, and back to 0 only when its segment's owner (or
// the pool lock's holder, for a pooled segment) takes it home, so a segment's
// owner reads its own pages' P_IN_FULL without a race. Every walk over a
// segment's pages (abandon.ts, and the segment owner's own fast path) skips a page
// whose P_IN_FULL is FULL_FLOAT: it is not the segment owner's.
//
// Kill safety (V8 stops a terminated worker at a call or a loop's back edge): a
// page between a queue and the list is named in its mover's record
// (T_FLOAT_PAGE) and reads FLOAT_MOVING; the list's link changes are runs of
// stores with no call between. A reap finishes a move (floatReapFinish) before it
// collects the dead thread's heaps: a page still in the dead thread's queue stays
// there (and its heaps' collection floats it again if it is lent); one in no
// queue goes back to the float list.
//
// Not shared: pages of a tag QSBR holds (object memory: their reuse waits for a
// grace period, qsbr-pages.ts), and huge blocks (any thread frees those already).
// Opt-in: Runtime.create({ sharePages: true }) (ft_share_pages), before any thread.
//
// See also: alloc.ts findPage (where pages float and are claimed), free.ts
// (routing), abandon.ts (pooled segments), lifecycle.ts (exit and reap).

import { addRelaxed, loadAcquire, storeRelease } from "./atomics";
import { DP_FLOAT_MOVING, DP_FLOAT_QUEUED, DP_FLOAT_TAKEN, DP_FLOAT_UNPOOLING, debugPause } from "./debug-delay";
import { heapForTag } from "./heap";
import { hookPageHoldClear } from "./hooks";
import { memFill } from "./os";
import { pageAdoptDelayed, pageCollect, pageSetDelayed, xtfBlock, xtfLoad } from "./page";
import { heapQueue, queueFirst, queuePushFront, queueRemove } from "./page-queue";
import { poolLock, poolTryLockSpinning, poolUnlock } from "./pool-lock";
import { qsbrHoldsTag } from "./qsbr";
import { segmentOf } from "./segment";
import { BIN_FULL, D_ABANDON_DIRTY, D_FLOAT_BINS, D_FLOAT_TAKEN, D_FLOATED, DELAY_NEVER, FLOAT_LENT, FLOAT_MOVING, FLOAT_NONE,
  FLOAT_POOLED, FULL_FLOAT, H_GENERIC, H_REMOTE_AT, H_TAG, H_THREAD, P_BIN, P_FLOAT, P_IN_FULL, P_NEXT, P_PREV, P_RESERVED, P_RETIRE, P_USED, P_TAG, P_XHEAP, QUEUE_COUNT,
  ROOT, R_SHARE_PAGES, R_THREAD_LIST, SEG_THREAD, TAG_GC, TAG_GC_PRE, T_DOMAIN, T_FLOAT_PAGE } from "./layout";

/** Floating pages of its class a claim looks at before it gives up. */
const CLAIM_SCAN: u32 = 16;

/** This instance's copy of ROOT's switch (-1: not read yet). */
let shareOn: i32 = -1;

/**
 * Turn page sharing on for the runtime: false once a thread record exists (a
 * page may be in a full queue). Runtime.create({ sharePages: true }).
 */
export function floatSharingOn(): bool {
  if (loadAcquire(ROOT + R_THREAD_LIST) != 0) return false;
  storeRelease(ROOT + R_SHARE_PAGES, 1);
  shareOn = 1;
  return true;
}

/** Is page sharing on for the runtime? */
export function floatSharing(): bool {
  if (shareOn < 0) shareOn = <i32>loadAcquire(ROOT + R_SHARE_PAGES);   // set before any thread
  return shareOn != 0;
}

/**
 * Slow paths of a heap after the last one that found blocks other threads freed
 * (H_REMOTE_AT) during which its full pages still float. A heap whose blocks
 * only its own thread frees keeps its full pages: floating them made each of
 * its frees into them a remote free and each page a trip through the list
 * (malloc-mt, thread-local: 13 → 30 ns per malloc+free pair at 1 worker).
 */
const REMOTE_WINDOW: u32 = 1024;

/** May a full page of `heap` float? */
export function floatAllowed(heap: usize): bool {
  if (!floatSharing()) return false;
  const at = load<u32>(heap, H_REMOTE_AT);
  if (at == 0 || load<u32>(heap, H_GENERIC) - at > REMOTE_WINDOW) return false;
  const tag = load<u32>(heap, H_TAG);
  if (tag == TAG_GC || tag == TAG_GC_PRE) return false;   // the collector walks these pages as their owners' (gc.ts)
  const domain = <usize>load<u32>(<usize>load<u32>(heap, H_THREAD), T_DOMAIN);
  return !qsbrHoldsTag(domain, tag);
}

/** Is `page` floating or lent: not its segment owner's? (The segment owner's, or the pool holder's, read.) */
// @ts-ignore: decorator
@inline export function pageIsShared(page: usize): bool {
  return load<u8>(page, P_IN_FULL) == FULL_FLOAT;
}

/**
 * Pool lock held: has the floating `page` a block to give, freed remotely since it
 * floated, or left by its last owner (a lent page that floated empty)?
 */
// @ts-ignore: decorator
@inline function pageHasRoom(page: usize): bool {
  return xtfBlock(xtfLoad(page)) != 0 || load<u32>(page, P_USED) < load<u32>(page, P_RESERVED);
}

// ---- The list (pool lock held; runs of stores, no call: a kill cannot split them) ----------

// @ts-ignore: decorator
@inline function binHead(domain: usize, bin: u32): usize {
  return <usize>load<u32>(domain, D_FLOAT_BINS) + (<usize>bin << 2);
}

// Each class's list has a head word and, QUEUE_COUNT words further, a tail word:
// a page floats at the tail, and a claim looks from the head, so the pages that
// floated first, the likeliest to have had blocks freed since, are looked at first;
// those it passes without room go to the tail (listRotate).

// @ts-ignore: decorator
@inline function binTail(head: usize): usize {
  return head + (<usize>QUEUE_COUNT << 2);
}

// @ts-ignore: decorator
@inline function listPush(domain: usize, page: usize): void {
  const head = binHead(domain, <u32>load<u8>(page, P_BIN));
  const tail = binTail(head);
  const last = load<u32>(tail);
  store<u32>(page, 0, P_NEXT);
  store<u32>(page, last, P_PREV);
  store<u8>(page, FLOAT_POOLED, P_FLOAT);
  store<u32>(tail, <u32>page);
  if (last != 0) store<u32>(<usize>last, <u32>page, P_NEXT);
  else storeRelease(head, <u32>page);   // partner: the unlocked peek in floatClaim
}

// @ts-ignore: decorator
@inline function listUnlink(domain: usize, page: usize): void {
  const head = binHead(domain, <u32>load<u8>(page, P_BIN));
  const next = load<u32>(page, P_NEXT);
  const prev = load<u32>(page, P_PREV);
  if (prev != 0) store<u32>(<usize>prev, next, P_NEXT);
  else storeRelease(head, next);
  if (next != 0) store<u32>(<usize>next, prev, P_PREV);
  else store<u32>(binTail(head), prev);
  store<u8>(page, FLOAT_MOVING, P_FLOAT);
}

/** A page a claim passed without room goes to the tail (it stays POOLED throughout: no call between). */
// @ts-ignore: decorator
@inline function listRotate(domain: usize, page: usize): void {
  listUnlink(domain, page);
  listPush(domain, page);
}

// ---- Floating ---------------------------------------------------------------------------

/**
 * `heap`'s owner lets go of `page`, which is in its bin's queue: full (no free
 * block, no room to extend; floatAllowed), or lent and empty (pageFree). `wait`:
 * take the pool lock even if that means waiting (an exit); else false when it
 * stayed held (the page stays in the queue).
 */
export function pageFloat(heap: usize, page: usize, wait: bool): bool {
  const thread = <usize>load<u32>(heap, H_THREAD);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  // A page still held (it emptied while its tag was held, and the fast path filled
  // it since) lets its hold go here, on its own thread's list: its taker would
  // cancel it on the taker's (qsbr-pages.ts), cutting both lists (review).
  hookPageHoldClear(thread, page);
  if (wait) poolLock(domain, thread);
  else if (!poolTryLockSpinning(domain, thread)) return false;
  storeRelease(thread + T_FLOAT_PAGE, <u32>page);
  store<u8>(page, FLOAT_MOVING, P_FLOAT);
  debugPause(DP_FLOAT_MOVING);
  queueRemove(heap, <u32>load<u8>(page, P_BIN), page);
  // No call from here to the end of listPush: out of the queue, marked, on the list.
  store<u8>(page, FULL_FLOAT, P_IN_FULL);
  store<u8>(page, 0, P_RETIRE);
  storeRelease(page + P_XHEAP, 0);
  listPush(domain, page);
  storeRelease(thread + T_FLOAT_PAGE, 0);
  poolUnlock(domain);
  addRelaxed(domain + D_FLOATED, 1);
  floatMarkPooled(domain, page);
  return true;
}

/**
 * A page just put on the list whose segment is pooled (a lent page its owner
 * exited from): the pool is marked for collection, which gives the page back to
 * the segment (floatUnpoolAll); else nothing might collect the pool again and
 * the segment stayed live (review of page sharing).
 */
// @ts-ignore: decorator
@inline function floatMarkPooled(domain: usize, page: usize): void {
  if (loadAcquire(segmentOf(page) + SEG_THREAD) == 0) storeRelease(domain + D_ABANDON_DIRTY, 1);
}

/** Pages of its own segments a claim takes home at most (besides the one it may borrow). */
const CLAIM_HOME: u32 = 8;

/**
 * Floating pages of `bin` with room (remote frees on them, or left free) come
 * into `heap`, at the front of its queue, collected: first every such page of
 * the thread's own segments among the first CLAIM_SCAN (up to CLAIM_HOME: they
 * are home again, and the caller's queue walk keeps one empty page as a spare and
 * frees the others, as for pages emptied in the queue); failing those, one page
 * of another thread's segment, lent. The number taken: 0 if none (or the lock
 * stayed held). Pages of the tag's other classes are not looked at; pages whose
 * segment is pooled go back to it on the way (floatUnpool).
 */
export function floatClaim(heap: usize, bin: u32): u32 {
  const thread = <usize>load<u32>(heap, H_THREAD);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const head = binHead(domain, bin);
  const tag = <u8>load<u32>(heap, H_TAG);
  let taken: u32 = 0;
  while (taken < CLAIM_HOME) {
    if (loadAcquire(head) == 0) break;
    if (!poolTryLockSpinning(domain, thread)) break;
    let page = <usize>load<u32>(head);
    let home: usize = 0;
    let lend: usize = 0;
    for (let n: u32 = 0; page != 0 && n < CLAIM_SCAN; n++) {
      const next = <usize>load<u32>(page, P_NEXT);
      const owner = loadAcquire(segmentOf(page) + SEG_THREAD);
      if (owner == 0) {
        pageSetDelayed(page, DELAY_NEVER);
        debugPause(DP_FLOAT_UNPOOLING);
        floatUnpool(domain, page);
      } else if (load<u8>(page, P_TAG) == tag && pageHasRoom(page)) {
        if (owner == <u32>thread) { home = page; break; }
        if (lend == 0) lend = page;
      } else if (next != 0) {
        listRotate(domain, page);   // no room yet: looked at again after the others
      }
      page = next;
    }
    const found = home != 0 ? home : taken == 0 ? lend : 0;
    if (found == 0) { poolUnlock(domain); break; }
    storeRelease(thread + T_FLOAT_PAGE, <u32>found);
    listUnlink(domain, found);
    poolUnlock(domain);
    debugPause(DP_FLOAT_TAKEN);
    floatInstall(thread, heap, found);
    taken++;
    if (home == 0) break;   // borrowed: enough
  }
  return taken;
}

/**
 * `page` (MOVING, named in `thread`'s T_FLOAT_PAGE, in no queue) becomes a page
 * of `heap`: collected, at the front of its bin's queue, then home (its segment
 * is the thread's) or lent.
 */
function floatInstall(thread: usize, heap: usize, page: usize): void {
  storeRelease(page + P_XHEAP, <u32>heap);
  pageAdoptDelayed(page);   // NO (a page unpooled and floated again may read NEVER)
  pageCollect(page);
  queuePushFront(heap, <u32>load<u8>(page, P_BIN), page);
  debugPause(DP_FLOAT_QUEUED);
  floatSettle(thread, page, true);
  storeRelease(thread + T_FLOAT_PAGE, 0);
}

/** A page just queued in one of `thread`'s heaps: home if its segment is the thread's, else lent. */
// @ts-ignore: decorator
@inline function floatSettle(thread: usize, page: usize, count: bool): void {
  if (loadAcquire(segmentOf(page) + SEG_THREAD) == <u32>thread) {
    store<u8>(page, FLOAT_NONE, P_FLOAT);
    store<u8>(page, 0, P_IN_FULL);
  } else {
    store<u8>(page, FLOAT_LENT, P_FLOAT);
    if (count) addRelaxed(<usize>load<u32>(thread, T_DOMAIN) + D_FLOAT_TAKEN, 1);
  }
}

/**
 * Pool lock held: a floating page whose segment is pooled (its owner exited) is
 * the pool's again: off the list, an ordinary page of the segment (delayed state
 * NEVER, as the exit left the others), and the pool is marked for collection.
 */
// @ts-ignore: decorator
@inline function floatUnpool(domain: usize, page: usize): void {
  listUnlink(domain, page);
  store<u32>(page, 0, P_NEXT);
  store<u32>(page, 0, P_PREV);
  store<u8>(page, 0, P_IN_FULL);
  store<u8>(page, FLOAT_NONE, P_FLOAT);
  storeRelease(domain + D_ABANDON_DIRTY, 1);
}

/**
 * Pool lock held (abandon.ts, before it collects or adopts pooled segments):
 * every floating page of a pooled segment goes back to it.
 */
export function floatUnpoolAll(domain: usize): void {
  const bins = <usize>load<u32>(domain, D_FLOAT_BINS);
  if (bins == 0) return;
  for (let bin: u32 = 1; bin < QUEUE_COUNT; bin++) {
    let page = <usize>load<u32>(bins + (<usize>bin << 2));
    while (page != 0) {
      const next = <usize>load<u32>(page, P_NEXT);
      if (loadAcquire(segmentOf(page) + SEG_THREAD) == 0) {
        pageSetDelayed(page, DELAY_NEVER);
        floatUnpool(domain, page);
      }
      page = next;
    }
  }
}

/** Pool lock held, the domain closing with no thread left: its pooled segments were given back, and the lists are emptied. */
export function floatDiscardAll(domain: usize): void {
  const bins = <usize>load<u32>(domain, D_FLOAT_BINS);
  if (bins != 0) memFill(bins, 0, QUEUE_COUNT << 3);
}

/** Pages a collection's floatHomeAll takes home at most. */
const HOME_MAX: u32 = 64;

/**
 * `thread`'s floating pages (of any class) with room come home (a heap
 * collection: ft_collect, every few thousand slow paths), so that emptied ones
 * go back to their segment; `all`: every one of them (a visit of its blocks,
 * an exit), waiting for the lock. Else it stops when the lock stays held.
 */
export function floatHomeAll(thread: usize, all: bool): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  const bins = <usize>load<u32>(domain, D_FLOAT_BINS);
  if (bins == 0) return;
  let left = HOME_MAX;
  for (let bin: u32 = 1; bin < QUEUE_COUNT; bin++) {
    while (true) {
      if (loadAcquire(bins + (<usize>bin << 2)) == 0) break;
      if (!all && left-- == 0) return;   // each page costs a walk of its list: bounded, but for a visit or an exit
      // A visit waits for the lock (it promises every page: review of page sharing);
      // a collection only tries.
      if (all) poolLock(domain, thread);
      else if (!poolTryLockSpinning(domain, thread)) return;
      let page = <usize>load<u32>(bins + (<usize>bin << 2));
      while (page != 0) {
        if (loadAcquire(segmentOf(page) + SEG_THREAD) == <u32>thread && (all || pageHasRoom(page))) break;
        page = <usize>load<u32>(page, P_NEXT);
      }
      if (page == 0) { poolUnlock(domain); break; }
      const heap = heapForTag(thread, <u32>load<u8>(page, P_TAG));
      // (A heap whose thread word is not the thread's: a reap of a thread killed in
      // the middle of its exit's heap reset, abandon.ts. Its pages go with their segments.)
      if (heap == 0 || load<u32>(heap, H_THREAD) != <u32>thread) { poolUnlock(domain); return; }
      storeRelease(thread + T_FLOAT_PAGE, <u32>page);
      listUnlink(domain, page);
      poolUnlock(domain);
      floatInstall(thread, heap, page);
    }
  }
}

/**
 * `thread` exits (or is reaped): its lent pages float again, before its heaps are
 * collected and its segments pooled. Its own pages stay (they go with their segment).
 */
export function floatLentRelease(thread: usize, heap: usize): void {
  for (let bin: u32 = 1; bin < BIN_FULL; bin++) {
    let page = queueFirst(heapQueue(heap, bin));
    while (page != 0) {
      const next = <usize>load<u32>(page, P_NEXT);
      if (pageIsShared(page)) pageFloat(heap, page, true);
      page = next;
    }
  }
}

/**
 * Reap of `thread`: finish a page it died moving (T_FLOAT_PAGE), before its heaps
 * are collected. A page still in one of its queues stays there, settled as after
 * a claim (its heaps' collection then floats it again if it is lent); one in no
 * queue goes back on the float list. Pages of a segment that is pooled by now are
 * handled by floatUnpoolAll at the pool's next collection.
 */
export function floatReapFinish(thread: usize): void {
  const page = <usize>load<u32>(thread, T_FLOAT_PAGE);
  if (page == 0) return;
  if (load<u8>(page, P_FLOAT) == FLOAT_MOVING) {
    const heap = <usize>loadAcquire(page + P_XHEAP);
    const bin = <u32>load<u8>(page, P_BIN);
    let queued = false;
    if (heap != 0) {
      let q = queueFirst(heapQueue(heap, bin));
      while (q != 0 && !queued) { queued = q == page; q = <usize>load<u32>(q, P_NEXT); }
    }
    if (queued) {
      if (pageIsShared(page)) floatSettle(thread, page, false);   // counted when it was taken, if it was
      else store<u8>(page, FLOAT_NONE, P_FLOAT);   // killed before it left the queue: nothing changed
    } else {
      const domain = <usize>load<u32>(thread, T_DOMAIN);
      poolLock(domain, thread);
      store<u8>(page, FULL_FLOAT, P_IN_FULL);
      store<u8>(page, 0, P_RETIRE);
      storeRelease(page + P_XHEAP, 0);
      listPush(domain, page);
      poolUnlock(domain);
      floatMarkPooled(domain, page);
    }
  }
  storeRelease(thread + T_FLOAT_PAGE, 0);
}
