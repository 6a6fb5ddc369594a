// hooks.ts — the only calls against the layer order.
//
// Layers point one way (docs/design.md): the allocator (page, free, alloc) does not
// know about QSBR or threads, and the thread states do not know about the layers
// that wait. Where a lower layer must still act on a higher one's behalf, it calls
// one of the named hooks below, the way CPython's obmalloc lists the few mimalloc
// hooks it implements (_PyMem_mi_page_maybe_free, _PyMem_mi_page_clear_qsbr, ...).
// A module cannot call a function it does not import, so this file imports
// upward; test/layers.test.ts allows exactly its imports and no other cycle.
// Later components add theirs here (biased refcounting's merge, the GC's page
// visit, abandonment's reclaim). Every hook is inlined: it costs nothing.
//
//   hook                      caller                  implemented by
//   hookPageHold              page.ts  (pageFree)     qsbr-pages.ts  pageHold
//   hookPageHoldCancel        page.ts, alloc.ts       qsbr-pages.ts  pageHoldCancel
//   hookPageHoldClear         page.ts  (pageRetire)   qsbr-pages.ts  pageHoldClear
//   hookHeldPagesCollect      alloc.ts (fresh page)   qsbr-pages.ts  heldPagesCollect
//   hookTagHeld               free.ts                 qsbr-pages.ts  pageTagHeld
//   hookHugeFreeHeld          free.ts  (huge block)   delayed-free.ts hugeFreeHeld
//   hookDelayedDecref         delayed-free.ts         object.ts      objDecref (a decref due after a grace period)
//   hookCheckpointAlloc       alloc.ts (slow path)    thread.ts      threadCheckpointAlloc
//   hookLockDetaching         critical-section.ts     thread.ts      lockDetaching
//   hookLockOrAgain           critical-section.ts     thread.ts      lockOrAgain
//   hookWaitDetached          (spare)                 thread.ts      waitDetached
//   hookWaitAsRequester       stop-the-world.ts       thread.ts      threadWaitAsRequester
//   hookReclaim               alloc.ts (fresh page)   abandon.ts     abandonedReclaim
//   hookOutOfMemory           alloc.ts (before ENOMEM) lifecycle.ts  threadRelieveMemory
//   hookDelayedPending        free.ts  (freeMany)     delayed-free.ts delayedPending
//   hookPageFloat             page.ts  (pageFree)     float.ts       pageFloat (a lent page emptied)
//   hookFloatLentRelease      heap.ts  (exit collect) float.ts       floatLentRelease

import { abandonedReclaim } from "./abandon";
import { floatLentRelease, pageFloat } from "./float";
import { delayedPending, hugeFreeHeld } from "./delayed-free";
import { objDecref } from "./object";
import { threadRelieveMemory } from "./lifecycle";
import { heldPagesCollect, pageHold, pageHoldCancel, pageHoldClear, pageTagHeld } from "./qsbr-pages";
import { lockDetaching, lockOrAgain, threadCheckpointAlloc, threadWaitAsRequester, waitDetached } from "./thread";

// ---- The allocator's hooks: delayed page reuse and held huge blocks (QSBR) --------------

/** An empty page is about to be freed: true when it must wait for a QSBR goal (it is then held). */
// @ts-ignore: decorator
@inline export function hookPageHold(heap: usize, page: usize): bool { return pageHold(heap, page); }

/** The page is being allocated from, or took remote frees: any hold it had ends. */
// @ts-ignore: decorator
@inline export function hookPageHoldCancel(page: usize): void { pageHoldCancel(page); }

/** The page emptied anew (owner `thread`): a hold needs a fresh goal. */
// @ts-ignore: decorator
@inline export function hookPageHoldClear(thread: usize, page: usize): void { pageHoldClear(thread, page); }

/** Before taking a fresh page: free `thread`'s held pages whose goal is reached. */
// @ts-ignore: decorator
@inline export function hookHeldPagesCollect(thread: usize): void { heldPagesCollect(thread, false); }

/** Does `page`'s tag wait for a goal before reuse in its domain (object memory)? */
// @ts-ignore: decorator
@inline export function hookTagHeld(page: usize): bool { return pageTagHeld(page); }

/** A held-tag huge block was freed: true when its segment's release was queued behind a goal. */
// @ts-ignore: decorator
@inline export function hookHugeFreeHeld(seg: usize, bytes: u32): bool { return hugeFreeHeld(seg, bytes); }

/** A decref queued by decrefDelayed reached its goal: -1 now (deallocating what dies). */
// @ts-ignore: decorator
@inline export function hookDelayedDecref(o: usize): i32 { return o != 0 ? objDecref(o) : 0; }   // 0: voided (a sweep)

/** The allocation slow path: pause here for a pending stop-the-world (keeping the QSBR seq). */
// @ts-ignore: decorator
@inline export function hookCheckpointAlloc(thread: usize): void { threadCheckpointAlloc(thread); }

// ---- Abandoned segments, running out of memory ------------------------------------------

/** Before a fresh page: adopt segments exited threads left in the domain's pool; true if any. */
// @ts-ignore: decorator
@inline export function hookReclaim(thread: usize, heap: usize, bin: u32, slices: u32): bool {
  return abandonedReclaim(thread, heap, bin, slices);
}

/** The user's frees (free.ts freeMany): does `p` wait for its delayed free (delayed-free.ts)? */
// @ts-ignore: decorator
@inline export function hookDelayedPending(p: usize): bool { return delayedPending(p); }

/** Before ENOMEM: the thread releases what it keeps and asks the others to (then one retry). */
// @ts-ignore: decorator
@inline export function hookOutOfMemory(thread: usize): void { threadRelieveMemory(thread); }

// ---- Waiting detached (critical sections, the stop's requester) --------------------------

/** Lock `m`, detaching `thread` while it waits. */
// @ts-ignore: decorator
@inline export function hookLockDetaching(thread: usize, m: usize, holder: usize, value: u32): void { lockDetaching(thread, m, -1, holder, value); }

/** Lock `m` as lockDetaching, or adopted; false where it may not block and must wait (EAGAIN). */
// @ts-ignore: decorator
@inline export function hookLockOrAgain(thread: usize, m: usize, holder: usize, value: u32): bool { return lockOrAgain(thread, m, holder, value); }

/** Detach `thread`, wait while `*ptr == value` (at most `timeoutMs`), attach again. */
// @ts-ignore: decorator
@inline export function hookWaitDetached(thread: usize, ptr: usize, value: u32, timeoutMs: f64): void {
  waitDetached(thread, ptr, value, timeoutMs);
}

/**
 * A stop's requester: detach, wait while `*ptr == value` (at most `timeoutMs`),
 * attach again — waiting (or polling) through any stop that parked it meanwhile.
 */
// @ts-ignore: decorator
@inline export function hookWaitAsRequester(thread: usize, ptr: usize, value: u32, timeoutMs: f64): void {
  threadWaitAsRequester(thread, ptr, value, timeoutMs);
}

// ---- Page sharing (float.ts) -------------------------------------------------------------

/** A lent page emptied: it floats again (or stays queued while the pool lock is held). */
// @ts-ignore: decorator
@inline export function hookPageFloat(heap: usize, page: usize): void { pageFloat(heap, page, false); }

/** An exiting thread's lent pages in `heap` float again before the heap is collected. */
// @ts-ignore: decorator
@inline export function hookFloatLentRelease(thread: usize, heap: usize): void { floatLentRelease(thread, heap); }
