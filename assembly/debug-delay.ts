// debug-delay.ts — delay injection for race tests (debug build only).
//
// A lock-free reader holds a pointer it loaded for a few nanoseconds, so a test
// would almost never see a writer free that memory under it, even if the
// reclamation were wrong. In the debug build, readers of shared-list.ts and
// shared-map.ts call debugReadDelay() between loading a structure's storage
// pointer and reading through it; a test sets a spin count per instance (i.e.
// per thread) with ft_debug_read_delay, which widens that window to microseconds.
// The release build compiles the call away; the count defaults to 0.
//
// Thread-local only: nothing here is shared.

import { loadAcquire, storeRelease } from "./atomics";
import { waitWhile, wake } from "./host";
import { FT_DEBUG_BUILD } from "./layout";

let readDelaySpins: u32 = 0;
let sink: u32 = 0;

/** This instance's spin count for debugReadDelay (debug build; ignored in release). */
export function debugReadDelaySet(spins: u32): void {
  readDelaySpins = spins;
}

/** Spin `readDelaySpins` times (debug build only). */
// @ts-ignore: decorator
@inline export function debugReadDelay(): void {
  if (FT_DEBUG_BUILD) {
    if (readDelaySpins != 0) debugSpin(readDelaySpins);
  }
}

function debugSpin(n: u32): void {
  let x = sink;
  for (let i: u32 = 0; i < n; i++) x = x * 1664525 + 1013904223;   // not optimised away: stored below
  sink = x;
}

// ---- Pause points: a deterministic schedule for race tests (debug build only) ----
//
// A race test needs one thread stopped at an exact instruction while another
// does its part. Code on a racy path calls debugPause(DP_*). A test arms a point
// on one instance with ft_debug_pause_at(point, flag, hits): the `hits`-th time
// that instance reaches the point it stores 1 in the shared word `flag`, wakes
// waiters on it, and waits until the test (from another thread) stores 2 there;
// then it disarms and goes on. The release build compiles every call away.
// The high 16 bits of `point`, if set, name a second point armed (same flag,
// first hit) once the first pause is over: one thread stopped twice on one path.
//
// Points are numbered in ranges by area so they stay stable:
//   1..19   thread records, states, stop-the-world, critical sections
//   20..39  mutex, delayed free, QSBR, shared structures
//   40..59  abandonment, reaping, exit, domain teardown
// @abi-begin delay-points
export const DP_NONE: u32 = 0;
export const DP_THREAD_REUSE: u32 = 1;      // threadNew: a reused record reset, not yet listed again
export const DP_STW_REQ_WAITED: u32 = 2;    // a stop's requester waited detached (scope mutex / rw word), about to re-attach
export const DP_STW_BEGUN: u32 = 3;         // stop-the-world.ts stwStopTimed: request posted and counted, headLock released, before the first poll (review-13a)
export const DP_EXIT_BEFORE_ABANDON: u32 = 40;    // lifecycle.ts threadExit: heaps collected, segments not yet abandoned
export const DP_REVIEW_FREE_MT_PUSHED: u32 = 50;  // remote-free.ts pushOne/pushChain: block(s) pushed on xthreadFree, owner word not yet read
export const DP_RF_FLUSH_LINKED: u32 = 57;        // remote-free.ts pushChain: the chain's tail linked to the page's list, not yet pushed
export const DP_RF_SEARCH_HEAD: u32 = 120;        // remote-free.ts remoteBatchesContain: a slot's head read, not yet walked (review-rf3)
export const DP_RF_TAIL_SENT: u32 = 121;          // remote-free.ts pushChain: the chain's tail sent the delayed way, the rest not yet pushed (review-rf4)
export const DP_COMMIT_RAISING: u32 = 122;        // os.ts commitPeakRaise: bytes counted (and marked, osCommitMarked), the peak not yet raised (review3)
export const DP_LOCK_TAKEN_DETACHED: u32 = 123;   // thread.ts lockDetaching: a lock taken after a detached wait (and named, if it has a holder word), not yet attached again
export const DP_UNLOCK_RELEASED: u32 = 124;      // mutex.ts mutexUnlockSlow: the lock let go or handed over (holder word cleared), no waiter woken yet
export const DP_DF_FREEING: u32 = 125;           // delayed-free.ts processQueue: an item consumed and counted freed, its block not yet freed
export const DP_GC_FREEING: u32 = 126;           // gc.ts freeGarbage: pause 2, slots cleared, an object counted freed, its block not yet freed
export const DP_FLOAT_MOVING: u32 = 127;         // float.ts pageFloat: the page named and MOVING, still in its heap queue
export const DP_FLOAT_TAKEN: u32 = 128;          // float.ts floatClaim: a page taken off the float list (MOVING, named), not yet in the taker's queue
export const DP_FLOAT_QUEUED: u32 = 129;         // float.ts floatInstall: the page in the taker's queue, its state not yet LENT or NONE
export const DP_PAGE_LOCAL_TAKEN: u32 = 130;     // page.ts pageCollect: localFree made the free list, not yet emptied
export const DP_FLOAT_UNPOOLING: u32 = 131;      // float.ts floatClaim: a floating page whose segment reads ownerless, not yet given back to it (pool lock held)
export const DP_DIRECT_UPDATE: u32 = 132;        // page-queue.ts directUpdate: a queue's head stored, its direct-table entries not yet
export const DP_REVIEW_POOL_LOCKED: u32 = 51;     // abandon.ts abandonedCollect: pool lock taken
export const DP_REVIEW_REAP_RELEASE: u32 = 52;    // lifecycle.ts threadReap: record EXITED, not yet released
export const DP_REVIEW_CLOSE_ENTER: u32 = 53;     // lifecycle.ts domainClose: validated by the caller, before headLock
export const DP_REVIEW_COLLECT_EMPTY: u32 = 54;   // abandon.ts abandonedCollect: read an empty pool, dirty not yet cleared
export const DP_REVIEW_DQ_LOCKED: u32 = 55;       // delayed-free.ts delayedProcess: the domain queue's mutex taken
export const DP_REVIEW_FREE_MT_DELAYED: u32 = 56;  // remote-free.ts pushOne: block pushed on the heap's delayed list, page still FREEING
export const DP_MUTEX_WOKEN: u32 = 20;     // mutex.ts: a parked waiter woke up, before it looks at the word
export const DP_DF_ABANDON: u32 = 21;      // delayed-free.ts delayedAbandon: own queue processed, not yet handed over
export const DP_BRC_TRY_LOADED: u32 = 23;  // brc.ts brcTryIncref: the shared word loaded, not yet CASed
export const DP_BRC_QUEUED: u32 = 24;      // brc.ts brcQueue: QUEUED set, the owner not yet looked up
export const DP_HANDLE_READ: u32 = 22;
export const DP_OMAP_LOADED: u32 = 39;      // shared-map.ts object map get / next: a FULL slot's object loaded, not yet tryIncref'd     // shared-list/map: a reader checked the handle, storage not loaded yet
export const DP_OBJ_MERGE_TAKEN: u32 = 25;   // object.ts objMergeQueued: a non-empty queue taken, not yet merged (review11)
export const DP_BRC_REGISTERED: u32 = 26;    // brc.ts brcRegister: linked in its bucket and unlocked, T_BRC_BUCKET not yet set (review11)
export const DP_GC_PAUSE1: u32 = 27;         // gc.ts gcCollect: pause 1, PH_INIT done (gc_refs in the tid words), world stopped (review12)
export const DP_GC_RESURRECT_SCRATCH: u32 = 28;  // gc.ts handleResurrected (pause 2): local words hold scratch counts (review13)
export const DP_STATS_XTF_LOADED: u32 = 29;  // stats.ts xthreadCount: a non-empty remote-free list head loaded, not yet walked (review13b)
export const DP_RF_SEARCH_GAP: u32 = 61;     // free.ts blockIsFree: the remote-free slots searched, the page's lists not yet (review-rf2)
export const DP_ATTACH_CAS_FAILED: u32 = 62;  // thread.ts threadAttachTimed: the DETACHED -> ATTACHED CAS failed, the state not yet re-read (stwflake)
export const DP_ABANDON_POOL_LOCKED: u32 = 63;  // abandon.ts abandonSegments: the pool lock taken for the leaving thread, its segments not yet pooled (rev15)
export const DP_OS_LOCKED: u32 = 64;            // os.ts osUnitsAlloc: osLock taken, nothing changed yet
export const DP_RES_CLAIM: u32 = 65;            // instance.ts instanceClaim: a reserved id being claimed (adopt, unreserve) (rev16)
export const DP_OS_FREE_PARTIAL: u32 = 66;      // os.ts osUnitsFree: the segment's first unit marked FREE, the rest not yet (rev16)
export const DP_RES_RESERVE: u32 = 67;          // instance.ts instanceReserve: resLock taken (rev16)
export const DP_THREAD_LISTING: u32 = 68;       // thread.ts threadNew: a new record being listed under headLock, at the runtime list's CAS loop (rev16)
export const DP_STW_RESTARTING: u32 = 69;       // stop-the-world.ts restartDomain: a thread restarted, the ones after it not yet (rev16)
export const DP_THREAD_STARTED: u32 = 70;        // lifecycle.ts threadStart: the new record live (listed, counted), not yet entered
export const DP_THREAD_STARTING: u32 = 71;       // lifecycle.ts threadStart: the domain checked open by the caller, no record made yet (rev17)
export const DP_THREAD_START_CLOSED: u32 = 72;   // lifecycle.ts threadStart: the domain found closed after the record went live, not yet retired (rev17)
export const DP_EXIT_GONE: u32 = 73;             // lifecycle.ts threadExit: the record EXITED, headLock released, not yet recycled
export const DP_REAP_RELEASED: u32 = 74;         // lifecycle.ts threadReap: the record released (reaped = 1), not yet recycled
export const DP_STW_RW_TAKEN: u32 = 75;          // stop-the-world.ts stwBegin: the reader/writer word taken, not yet the requester
export const DP_STW_RW_RELEASING: u32 = 76;      // stop-the-world.ts stwStart: the world restarted, the request cleared, the word not yet released
export const DP_HANDLE_LOCKED: u32 = 95;         // shared-handle.ts handleLock: a SharedList/SharedMap writers' mutex just taken (and recorded)
export const DP_SEGMENT_TAKING: u32 = 78;        // segment.ts segmentPageTake: a span taken off its queue and split, the page's records not yet written
export const DP_REAPS_CLAIMED: u32 = 77;         // lifecycle.ts reapsReleaseDead: a dead reaper's release claimed, what it held not yet let go (rev18b)
export const DP_ABANDON_SEG_DONE: u32 = 79;       // abandon.ts abandonSegments: one segment made ownerless, the walk at its back edge (rev18c)
export const DP_HANDLE_RELEASE_READ: u32 = 80;    // shared-handle.ts handleReleaseDead: the dead writer's header read, its mutex not yet let go (rev18d)
export const DP_GC_RELEASE_CHECKED: u32 = 81;     // gc.ts gcReleaseDead: the dead thread found holding the collection, not yet repaired (rev18d)
export const DP_STW_RELEASE_SCOPE: u32 = 82;      // stop-the-world.ts stwReleaseDead: the scope lock read as the dead thread's, not yet let go (rev18d)
export const DP_REAP_OWNER_READ: u32 = 83;        // abi/reap.ts ft_thread_reap: the owner read and found gone, the record not yet reaped (rev18d)
export const DP_POOL_GIVING: u32 = 85;            // abandon.ts segmentCollect: a pooled segment's last page empty, the segment out of the pool and marked, not yet freed
export const DP_POOL_GIVEN: u32 = 86;             // abandon.ts segmentCollect: that segment's unit given back, the domain's mark not yet cleared
export const DP_QSBR_REPOINTED: u32 = 87;         // qsbr-slots.ts qsbrSlotsRepoint: one slot's thread pointed at it, the loop at its back edge
export const DP_QSBR_SLOT_HELD: u32 = 88;         // qsbr-slots.ts qsbrTakeSlot: the slot mutex taken (and its holder named), nothing taken yet
export const DP_UNLOCK_SLOW: u32 = 89;            // mutex.ts mutexUnlockSlow: entered (waiters counted), the lock not yet let go
export const DP_MUTEX_PARKING: u32 = 90;          // mutex.ts mutexLockSlow: a counted waiter about to park (review4)
export const DP_HANDOFF_WITHDRAW: u32 = 91;       // mutex.ts handoffWithdraw: entered (a hand-off woke nobody), nothing withdrawn yet (review4)
export const DP_LOCK_NAMING: u32 = 92;            // thread.ts lockDetaching: a parked lock taken, its holder word not yet named (review4)
export const DP_QSBR_SLOT_TAKEN: u32 = 84;        // qsbr-slots.ts qsbrTakeSlot: a slot taken (and linked), the mutex let go, not yet online
export const DP_COLLECT_WALK: u32 = 93;          // page.ts pageCollectRemote: walking the remote-free list, one link followed (not yet taken)
export const DP_SEGMENT_PAGE_FREEING: u32 = 96;  // segment.ts segmentPageFree: the page's slices made a free span, the segment's page count not yet lowered
export const DP_DELAYED_DRAIN: u32 = 98;         // heap.ts delayedDrain: a block taken off the delayed list being freed, not yet freed
export const DP_DELAYED_DRAINED: u32 = 99;       // heap.ts delayedDrain: that block freed, not yet cleared from the thread record
export const DP_SEGMENT_UNLISTED: u32 = 100;     // segment.ts segmentFree: off its owner's list, its unit not yet free (= a kill at segmentRelease's entry)
export const DP_PAGE_DECOMMITTED: u32 = 101;     // page.ts pageSlicesFree (an owner's page, or a pooled one): out of its queue, counted off and no longer live, its slices not yet free
export const DP_SEGMENT_COLLECT: u32 = 102;      // abandon.ts segmentCollect: entered, D_ABANDON_WORKING names the segment (= a kill at its entry)
export const DP_SEGMENT_ALLOCED: u32 = 103;      // segment.ts segmentAlloc: the unit taken and named, not yet on the thread's list (= a kill at osCommit's entry)
export const DP_HUGE_ALLOCED: u32 = 110;         // alloc.ts hugeAlloc: the units taken, the header made and counted, the block not yet made
export const DP_HUGE_CLAIMED: u32 = 111;         // free.ts freeSpecial: a huge block's used claimed and its segment marked, not yet held or given back
export const DP_UNIT_RELEASING: u32 = 112;       // segment.ts segmentRelease: counted off and marked so, the units not yet free
export const DP_FREE_SEARCH_SPLIT: u32 = 113;     // free.ts blockIsFree: the delayed lists searched, the page's own not yet
export const DP_DRAIN_SEARCH_READ: u32 = 114;    // free.ts delayedListContains: the owner's T_DRAIN_LIST read, not yet walked
export const DP_PAGE_TO_FULL_MID: u32 = 115;     // page.ts pageToFull: out of its bin's queue, not yet in the full queue (= a kill at queuePushBack's entry)
export const DP_DISCARD_SEG: u32 = 116;          // abandon.ts abandonedDiscardAll: one pooled segment given back, the next not yet
export const DP_DISCARD_HUGE: u32 = 117;         // delayed-free.ts delayedDiscardDomain: a held huge segment off its stack and named, not yet given back
export const DP_HUGE_HELD_RELEASING: u32 = 118;  // delayed-free.ts heldHugeProcess: a held huge segment whose goal is reached, marked and off the taken list, not yet given back
export const DP_DF_SPLICING: u32 = 119;          // delayed-free.ts delayedAbandon: pending delayed frees to hand on, the domain queue's mutex not yet taken
export const DP_ADOPT_TAKEN: u32 = 97;           // abandon.ts abandonedReclaim: a segment taken out of the pool, not yet adopted
// @abi-end

let pausePoint: u32 = 0;
let pauseFlag: usize = 0;
let pauseHits: u32 = 0;
let pauseNext: u32 = 0;

/** Arm pause point `point` (low 16 bits; the high 16: the next one) on this instance (0 disarms); see above. */
export function debugPauseArm(point: u32, flag: usize, hits: u32): void {
  pausePoint = point & 0xFFFF;
  pauseNext = point >>> 16;
  pauseFlag = flag;
  pauseHits = hits == 0 ? 1 : hits;
}

/** A pause point: stop here when a test armed `point` on this instance (debug build). */
// @ts-ignore: decorator
@inline export function debugPause(point: u32): void {
  if (FT_DEBUG_BUILD) {
    if (pausePoint == point) debugPauseHit();
  }
}

function debugPauseHit(): void {
  if (--pauseHits != 0) return;
  const flag = pauseFlag;
  pausePoint = pauseNext;   // armed from here on: this thread reaches nothing while it waits below
  pauseNext = 0;
  pauseHits = 1;
  storeRelease(flag, 1);
  wake(flag, -1);
  while (loadAcquire(flag) == 1) waitWhile(flag, 1, 50);
}
