// lifecycle.ts — a thread's life above its states: the first attach, entering,
// the checkpoint, collecting, exit. These use the reclamation layers (QSBR slots,
// delayed frees, held pages), which sit above the thread states (thread.ts).
//
// Checkpoint: the owner handles its eval breaker (breaker.ts) in this order:
//   0. QSBR              a quiescent state is reported (qsbr.ts)
//   1. PLEASE_STOP       suspend for a stop-the-world, wait, re-attach (thread.ts)
//   2. EXPLICIT_MERGE    the thread's merge queue is merged (brc.ts, object.ts), and reported
//   3. delayed frees     due delayed frees and held pages (its own, and those exited
//                        threads handed to the domain) are freed whenever there are
//                        any (delayed-free.ts, qsbr-pages.ts); DELAYED_FREE (set when
//                        a deferred advance was forced) is reported; the domain's
//                        abandoned pool is collected when a block was freed into it
//                        (abandon.ts); RELEASE (another thread ran out of memory):
//                        the thread frees every empty page it keeps
//   4. GC_SCHEDULED      reported (the facade runs the collector, later)
//   5. version           the copy is refreshed if the domain's changed
//   6. ASYNC_INTERRUPT   reported: the facade throws InterruptError
// The allocator's slow path handles PLEASE_STOP only, and reports no quiescent
// state (thread.ts threadCheckpointAlloc): it keeps the thread's QSBR seq while
// suspended, so a pointer read lock-free stays protected across an allocation.
//
// Exit: the thread goes offline, every page is switched to DELAY_NEVER, remote
// frees are drained, empty pages and segments are freed (a held tag's empty pages
// keep waiting for their goal), pending delayed frees go to the domain's queue,
// every segment left is abandoned to the domain's pool (abandon.ts: other threads
// free into it, collect it, adopt it), the QSBR slot is given back, the pystack's
// live part is dropped (its region stays with the record: pystack.ts) and the
// record is recycled.
//
// Owner only: every function here runs on the thread's own instance.
// See also: thread.ts, breaker.ts, qsbr-slots.ts, delayed-free.ts, qsbr-pages.ts.

import { queueDirectRepair } from "./page-queue";
import { floatHomeAll, floatReapFinish, floatSharing } from "./float";
import { A_HEAP, A_NONE, A_PYSTACK, A_QSBR_SLOTS, A_SEGMENT, A_STATE, A_THREADS, A_UNITS, ASSERT_CHEAP, assertThat } from "./assert";
import { addRelaxed, casAcqRel, loadAcquire, spinLock, spinUnlock, storeRelease, storeRelease64 } from "./atomics";
import { nowMs } from "./host";
import { brcReleaseDead } from "./brc";
import { gcReleaseDead, gcWaitIdle } from "./gc";
import { objLeaveDone, objMergeQueued, objSetReapOrphan, objThreadLeave } from "./object";
import { typeReleaseDead } from "./type";
import { BRK_EXPLICIT_MERGE, BRK_PLEASE_STOP, BRK_RELEASE, BRK_REPORTED, breakerRequest, EV_VERSION_CHANGED, EV_WOULD_BLOCK, breakerClear, breakerHas, breakerLoad,
  breakerSetVersion, breakerVersion, versionOf } from "./breaker";
import { abandonPagesNever, abandonedAdoptingRecover, abandonedCollect, abandonedDiscardAll, abandonedHasWork, abandonedMarkUnfinished, abandonedReclaimAll, abandonSegments } from "./abandon";
import { csHeldCount, csHeldLock, csSuspendAll } from "./critical-section";
import { metaAlloc } from "./meta";
import { DP_EXIT_BEFORE_ABANDON, DP_EXIT_GONE, DP_REAP_RELEASED, DP_REAPS_CLAIMED, DP_REVIEW_CLOSE_ENTER, DP_REVIEW_REAP_RELEASE, DP_THREAD_STARTED, DP_THREAD_STARTING, DP_THREAD_START_CLOSED, debugPause } from "./debug-delay";
import { currentSet, curThread } from "./current";
import { instanceIdEnsure } from "./instance";
import { delayedAbandon, delayedDiscardDomain, delayedHasWork, delayedProcess, heldHugeFinish } from "./delayed-free";
import { headLock, headUnlock } from "./domain";
import { EBUSY, EINVAL_DOMAIN, EINVAL_STATE, ENOMEM, OK, setError } from "./errors";
import { heapCollect, heapDrainFinish, heapIsValid } from "./heap";
import { pageFreeingWaitBounded } from "./page";
import { mutexUnlock } from "./mutex";
import { loadSynced, osCommitFold, unitsAreValid } from "./os";
import { segmentGivingFinish, segmentIsValid, segmentNewFinish, segmentsRepair } from "./segment";
import { hugeGivingFinish } from "./free";
import { handleReleaseDead } from "./shared-handle";
import { QF_EXITING, qsbrOffline, qsbrQuiescent } from "./qsbr";
import { pystackIsValid, pystackRelease } from "./pystack";
import { heldPagesCollect } from "./qsbr-pages";
import { remoteFlush, remotePending } from "./remote-free";
import { qsbrSlotsAreValid, qsbrSlotsRepoint, qsbrTakeSlot, qsbrUnregister } from "./qsbr-slots";
import { stwAccount, stwActiveFor, stwIsRequester, stwReleaseDead } from "./stop-the-world";
import { lockDetaching, threadAttach, threadDetach, threadNew, threadRecycleExited, threadIsLive, threadsAreValid, threadsLive, threadState,
  threadSuspend, lockDetachingOwned, lockReleaseDead, unlockOwned } from "./thread";
import { D_DQ_HOLDER, D_DQ_MUTEX, D_NEXT, D_QSBR_HOLDER, D_QSBR_MUTEX, D_ABANDON_LOCK, D_VERSION, EMPTY_HEAP, R_DOMAIN_LIST, ROOT, R_OS_LOCK, R_ROLES_LOCK, R_THREAD_LIST, SEG_NEXT,
  D_CLOSED, D_CLOSER, D_THREADS, T_DOMAIN_NEXT, T_NEXT_ALL, T_LAST_SEEN, T_OWNER, T_REAPED, T_REAPER, THREAD_FREE, T_FREEING, REAP_RELEASING,
  T_CS_DEPTH, T_DOMAIN, T_HEAPS, T_HELD_FIRST, T_QSBR_FLAGS, T_QSBR_SLOT, T_SEG_COUNT, T_SEG_FIRST, T_STATE, TAG_COUNT,
  THREAD_ATTACHED, THREAD_EXITED, CS_ASYNC_SLOTS, CS_MAX_DEPTH } from "./layout";

// ---- Starting and entering ----------------------------------------------------------

/**
 * Attach `thread` (see threadAttach) and, on its first attach, take its QSBR slot
 * and go online. ENOMEM (detached again) when no slot can be had; a later enter
 * tries again.
 */
export function threadEnter(thread: usize, mayBlock: bool): i32 {
  if (curThread != 0 && curThread != thread && threadState(curThread) == THREAD_ATTACHED) threadDetach(curThread);
  const rc = threadAttach(thread, mayBlock);
  if (rc != OK) return rc;
  threadStamp(thread);
  if (load<u32>(thread, T_QSBR_SLOT) == 0 && (load<u32>(thread, T_QSBR_FLAGS) & QF_EXITING) == 0) {
    if (qsbrTakeSlot(thread) != OK) { threadDetach(thread); return ENOMEM; }
    qsbrQuiescent(thread);   // online from here on
  }
  return OK;
}

/**
 * A new thread of `domain`, entered on this instance (the current thread, if
 * attached, detaches first). The record, or 0 (ENOMEM in lastError). A record is
 * returned with lastError set too when it could not be attached: EAGAIN (a stop
 * is under way and this thread may not wait: it exists, SUSPENDED) or ENOMEM (no
 * QSBR slot: it exists, detached).
 */
export function threadStart(domain: usize): usize {
  if (curThread != 0 && threadState(curThread) == THREAD_ATTACHED) threadDetach(curThread);
  debugPause(DP_THREAD_STARTING);
  // Only this instance may enter it (ft_thread_enter); its id is drawn on first use.
  const t = threadNew(domain, instanceIdEnsure());
  if (t == 0) { setError(ENOMEM); return 0; }
  debugPause(DP_THREAD_STARTED);
  if (loadAcquire(domain + D_CLOSED) != 0) {   // closed since the caller checked: leave at once
    debugPause(DP_THREAD_START_CLOSED);
    // The owner stays until the record is EXITED, under headLock: a worker killed
    // on the way (at headLock) leaves a record its instance's reap retires. Cleared
    // first, it was left DETACHED, ownerless and counted live for good (review-17).
    headLock();
    storeRelease(t + T_STATE, THREAD_EXITED);
    storeRelease(t + T_OWNER, 0);   // after EXITED: whoever reads no owner reads EXITED
    headUnlock();
    setError(EINVAL_DOMAIN);
    return 0;
  }
  const rc = threadEnter(t, true);
  if (rc != OK) setError(rc);
  return t;
}

// ---- Checkpoint ---------------------------------------------------------------------

/** This instance's checkpoints, for sampling the clock (thread-local). */
let checkpointTick: u32 = 0;
const STAMP_EVERY_MASK: u32 = 63;

/** Stamp `thread`'s lastSeen with the clock (owner; read by d.threads()). */
export function threadStamp(thread: usize): void {
  storeRelease64(thread + T_LAST_SEEN, reinterpret<u64>(nowMs()));
}

/** Handle the breaker's bits in the documented order; returns what happened (EV_*, BRK_*). */
export function threadCheckpoint(thread: usize): u32 {
  let events: u32 = 0;
  qsbrQuiescent(thread);
  if ((++checkpointTick & STAMP_EVERY_MASK) == 0) threadStamp(thread);
  let b = breakerLoad(thread);
  if (breakerHas(b, BRK_PLEASE_STOP)) {
    events |= threadSuspend(thread, false);
    if ((events & EV_WOULD_BLOCK) != 0) return events;
    b = breakerLoad(thread);
  }
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  if (breakerHas(b, BRK_EXPLICIT_MERGE)) {
    breakerClear(thread, BRK_EXPLICIT_MERGE);
    objMergeQueued(thread, false);
    b &= ~BRK_EXPLICIT_MERGE;
    events |= BRK_EXPLICIT_MERGE;
  }
  if (delayedHasWork(thread)) delayedProcess(thread, true);
  if (load<u32>(thread, T_HELD_FIRST) != 0) heldPagesCollect(thread, true);
  if (abandonedHasWork(domain)) abandonedCollect(domain, thread, false, true);
  if (breakerHas(b, BRK_RELEASE)) {
    breakerClear(thread, BRK_RELEASE);
    threadCollect(thread, true);
  }
  const reported = b & BRK_REPORTED;
  if (reported != 0) breakerClear(thread, reported);
  events |= reported;
  const dv = versionOf(loadAcquire(domain + D_VERSION));
  if (breakerVersion(b) != dv) {
    breakerSetVersion(thread, dv);
    events |= EV_VERSION_CHANGED;
  }
  // Last: remote frees batched since the last one, and those the steps above made.
  if (remotePending(thread)) remoteFlush(thread);
  return events;
}

// ---- Collecting ---------------------------------------------------------------------

/** Collect the thread's heaps (remote frees, empty pages; `force`: no retention) and due held pages. */
export function threadCollect(thread: usize, force: bool): void {
  remoteFlush(thread);
  floatHomeAll(thread, false);   // its floating pages with room come home (float.ts): emptied ones are freed below
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) heapCollect(heap, force, false);
  }
  heldPagesCollect(thread, false);
}

/**
 * The allocator is about to report ENOMEM (hooks.ts hookOutOfMemory): free every
 * empty page this thread keeps (all tags), collect the domain's abandoned pool,
 * and ask every other attached thread of the runtime to do the same at its next
 * checkpoint (BRK_RELEASE). The caller retries once.
 */
export function threadRelieveMemory(thread: usize): void {
  threadCollect(thread, true);
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  abandonedCollect(domain, thread, false, false);
  let t = <usize>loadSynced(ROOT + R_THREAD_LIST);
  while (t != 0) {
    if (t != thread && threadState(t) == THREAD_ATTACHED) breakerRequest(t, BRK_RELEASE);
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
}

/** Adopt every segment in the domain's abandoned pool (t.reclaimAbandoned()); the count. */
export function threadReclaimAbandoned(thread: usize): u32 {
  return abandonedReclaimAll(thread);
}

/** Free the thread's due delayed frees and held pages now; the items freed. */
export function threadProcessDelayed(thread: usize): u32 {
  const n = delayedProcess(thread, false);
  heldPagesCollect(thread, false);
  return n;
}

// ---- Exit ---------------------------------------------------------------------------

/** Owner: leave for good (see the file comment). The thread must be attached. */
export function threadExit(thread: usize): void {
  if (ASSERT_CHEAP) assertThat(threadState(thread) == THREAD_ATTACHED, A_STATE);
  const recyclable = threadRelease(thread, false);
  csSuspendAll(thread);
  store<u32>(thread, 0, T_CS_DEPTH);
  headLock();
  // A stop that counted us must not wait for a thread that is gone.
  const stw = stwActiveFor(thread);
  if (stw != 0) stwAccount(thread, stw);
  storeRelease(thread + T_OWNER, 0);
  storeRelease(thread + T_STATE, THREAD_EXITED);
  headUnlock();
  debugPause(DP_EXIT_GONE);
  if (curThread == thread) currentSet(0, EMPTY_HEAP);
  if (recyclable) threadRecycleExited(thread);
}

/**
 * What exit and reap share: offline for good, pending delayed frees to the
 * domain, heaps collected, segments abandoned, the QSBR slot given back, the
 * pystack's live part dropped. Runs
 * as `thread` (current on this instance). False if the record must not be reused.
 */
function threadRelease(thread: usize, reaping: bool): bool {
  // A dead thread may have been killed inside a page's take or free: its slices
  // made whole first, before anything below takes or gives back a page.
  if (reaping) {
    pageFreeingWaitBounded(true);   // no wait of the reap's on a FREEING page lasts (page.ts)
    abandonedAdoptingRecover(thread);
    segmentNewFinish(thread);
    segmentGivingFinish(thread);
    heldHugeFinish(thread);
    hugeGivingFinish(thread);
    segmentsRepair(thread);
    floatReapFinish(thread);   // a page it was moving to or from the float list (float.ts)
    for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {   // a queue's head it moved, its direct table not yet
      const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
      if (heap != 0) queueDirectRepair(heap);
    }
    abandonPagesNever(thread);
    heapDrainFinish(thread);
  }
  // Its merge queue first, while it can still free: objects queued to it
  // later are merged by whoever queues them (brc.ts).
  objThreadLeave(thread, reaping);
  // Offline for good: an exiting thread holds no protected pointer (and must not
  // come online again when a lock wait below re-attaches it).
  store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_EXITING, T_QSBR_FLAGS);
  qsbrOffline(thread);
  delayedAbandon(thread);
  remoteFlush(thread);   // a reaped thread's slot too: what it names is still to push (remote-free.ts)
  // Its floating pages come home, so its segments are pooled (and adopted) whole (float.ts).
  if (floatSharing()) floatHomeAll(thread, true);
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) heapCollect(heap, true, true);
  }
  heldPagesCollect(thread, false);
  remoteFlush(thread);   // frees the steps above batched
  debugPause(DP_EXIT_BEFORE_ABANDON);
  const recyclable = abandonSegments(thread);
  qsbrUnregister(thread);
  pystackRelease(thread);   // no roots left in it; its region stays with the record
  objLeaveDone(thread);     // its object counters to the domain (delayed decrefs above included)
  osCommitFold(thread);     // its committed-bytes delta to the root (os.ts)
  pageFreeingWaitBounded(false);
  return recyclable;
}

// ---- Reaping ------------------------------------------------------------------------

/**
 * Recover `thread`, whose worker died (the caller asserts it: a dead thread
 * cannot be told from a slow one), from any instance: what exit does, from
 * outside. Under headLock the record becomes EXITED and ownerless, so its old
 * instance can never enter it again and a stop-the-world that counted it stops
 * waiting for it (one started later does not count it). Then this instance acts
 * as the thread: its delayed frees go to the domain, its heaps are collected,
 * its segments abandoned, its QSBR slot given back (a pending goal then
 * completes). This instance's own current thread, if attached, is detached
 * first (the facade attaches it again on its next call).
 *
 * Critical sections the dead thread held stay locked: nobody can know what it
 * left half done under them (like a non-robust pthread mutex). They are
 * reported: the result is how many lock words (CS_* entries' mutexes) were held,
 * readable with threadHeldLock. EINVAL_STATE: exited or reaped already, no longer
 * owned by `owner` (the instance the caller found dead: reaped by another reap
 * meanwhile, the record recycled and a live thread's now), or the caller's own
 * current thread.
 */
export function threadReap(thread: usize, owner: u32): i32 {
  if (thread == curThread) return -EINVAL_STATE;
  headLock();
  const s = loadAcquire(thread + T_STATE);
  if (s == THREAD_EXITED || s == THREAD_FREE || loadAcquire(thread + T_OWNER) != owner) { headUnlock(); return -EINVAL_STATE; }
  const stw = stwActiveFor(thread);
  if (stw != 0) stwAccount(thread, stw);
  storeRelease(thread + T_OWNER, 0);
  // Releasing: the FREEING claims this instance makes below, acting as the thread,
  // are a live thread's (page.ts freeingClaimed); the dead thread's own claim is void.
  storeRelease(thread + T_REAPER, instanceIdEnsure());
  storeRelease(thread + T_REAPED, REAP_RELEASING);
  storeRelease(thread + T_FREEING, 0);
  storeRelease(thread + T_STATE, THREAD_EXITED);
  headUnlock();
  debugPause(DP_REVIEW_REAP_RELEASE);
  objSetReapOrphan(holdsReleaseDead(thread));
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  // The locks its critical sections hold: of its active sections (only while attached:
  // a detach suspends them all), and any changing hands (taken in a lock wait, maybe
  // detached; or being let go).
  const held = csHeldCount(thread);
  if (curThread != 0 && threadState(curThread) == THREAD_ATTACHED) threadDetach(curThread);
  // A collection of another thread walks the heaps this reap is about to change: wait for it
  // to end, detached (an attached waiter would hold up the collection's next pause).
  gcWaitIdle(domain, thread);
  currentSet(thread, <usize>load<u32>(thread, T_HEAPS));
  const recyclable = threadRelease(thread, true);   // its section stack stays as it was, for the report
  // Released: from here on reapsReleaseDead leaves the record alone (it takes only a RELEASING one).
  storeRelease(thread + T_REAPED, 1);
  debugPause(DP_REAP_RELEASED);
  currentSet(0, EMPTY_HEAP);
  reapedLocksCopy(thread, held);   // before the record can be handed out again
  if (recyclable) threadRecycleExited(thread);
  return <i32>held;
}

// The lock words the last reap run by this instance reported, copied before the record
// could be recycled: another instance's threadNew may take it and zero it the moment it
// is free, before the caller reads them (ft_thread_held_lock). Per instance (Wasm globals
// are); the buffer, CS_HELD_MAX words from the meta area, is made at the first reap that
// reports a lock and kept (a reap is rare; 544 bytes per reaping instance).
const CS_HELD_MAX: u32 = CS_MAX_DEPTH * 2 + 4 + CS_ASYNC_SLOTS;   // every section's two words, TAKE_A/B, REL_A/B, the async slots
let reapedThread: usize = 0;
let reapedHeld: usize = 0;
let reapedCount: u32 = 0;

function reapedLocksCopy(thread: usize, held: u32): void {
  reapedThread = 0;
  if (held == 0) { reapedCount = 0; reapedThread = thread; return; }
  if (reapedHeld == 0) reapedHeld = metaAlloc(CS_HELD_MAX << 2);
  if (reapedHeld == 0) return;   // no memory: ft_thread_held_lock reads the record, as before
  const n = held < CS_HELD_MAX ? held : CS_HELD_MAX;
  for (let i: u32 = 0; i < n; i++) store<u32>(reapedHeld + (<usize>i << 2), <u32>csHeldLock(thread, i));
  reapedCount = n;
  reapedThread = thread;
}

/**
 * What a holder that is gone leaves held in `thread`'s name, released: a
 * collection it was running (undone where it stopped, inside a pause, before the
 * world restarts), a stop it requested (ended; a scope lock released), and the
 * runtime's own locks (what was left under them is trusted as is). The holder
 * is the dead thread itself (threadReap), or a reaper that died releasing it,
 * acting as it (reapsReleaseDead). Idempotent. Returns a decrement the holder had
 * marked QUEUED for an owner that has gone (brc.ts brcReleaseDead), to merge.
 */
function holdsReleaseDead(thread: usize): usize {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  instanceIdEnsure();   // the roles lock is stamped with it: a reaper that dies holding it is found
  spinLock(ROOT + R_ROLES_LOCK);
  rolesReleaseDead(thread);
  spinUnlock(ROOT + R_ROLES_LOCK);
  const orphan = brcReleaseDead(thread);
  typeReleaseDead(domain, thread);
  return orphan;
}

// The part of holdsReleaseDead other threads may wait for: a collection, a stop,
// a structure's mutex, the pool lock, the queue and slot mutexes. Idempotent.
// Under the roles lock (R_ROLES_LOCK): two reaps of one dead instance may run at
// once (instanceRolesReleaseDead runs before any record is claimed EXITED), and a
// role one of them let go may be a live thread's by the time the other lets it go
// — or the record itself, reaped and recycled, a live thread's (review-18d). A
// reaper that dies holding the lock is named by the next reap (instanceBlocking)
// and its instance's reap lets it go; what it had not let go is let go again.
function rolesReleaseDead(thread: usize): void {
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  gcReleaseDead(domain, thread, stwIsRequester(thread));
  // Died holding the slot mutex, perhaps growing the array under its own stop:
  // every thread's slot pointer into the published array before that stop ends.
  if (loadAcquire(domain + D_QSBR_HOLDER) == <u32>thread) qsbrSlotsRepoint(domain);
  stwReleaseDead(thread);
  handleReleaseDead(thread);   // a SharedList/SharedMap writers' mutex
  // Any domain's pool lock: a collection of another domain's pool (ft_abandoned_collect)
  // holds it in the caller's name too.
  for (let d = <usize>loadSynced(ROOT + R_DOMAIN_LIST); d != 0; d = <usize>load<u32>(d, D_NEXT)) {   // a domain made in grown memory
    if (casAcqRel(d + D_ABANDON_LOCK, <u32>thread, 0)) abandonedMarkUnfinished(d);
  }
  lockReleaseDead(thread, domain + D_DQ_MUTEX, domain + D_DQ_HOLDER);
  lockReleaseDead(thread, domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
}

/**
 * A reap's first steps (abi/reap.ts), for instance `instance` whose JS thread is
 * gone: what its live threads hold that others may wait for is let go now
 * (rolesReleaseDead), before the reap looks at what other instances hold — so
 * two dead instances that each hold what the other's reap would wait for never
 * give up on each other for good (the first tried lets go of its own, the other
 * then goes through). Any thread; the records are reaped afterwards as usual.
 */
export function instanceRolesReleaseDead(instance: u32): void {
  instanceIdEnsure();   // the roles lock is stamped with it (holdsReleaseDead)
  for (let t = <usize>loadSynced(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if (loadAcquire(t + T_OWNER) != instance) continue;
    // Checked again under the lock: another reap may have reaped (and recycled) it meanwhile.
    spinLock(ROOT + R_ROLES_LOCK);
    if (loadAcquire(t + T_OWNER) == instance && threadIsLive(t)) rolesReleaseDead(t);
    spinUnlock(ROOT + R_ROLES_LOCK);
  }
}

/**
 * Instance `instance`'s JS thread is gone: a reap it was running stopped inside
 * the release (the record stays REAP_RELEASING for good). Its FREEING claim is
 * void from now on, as a dead freer's is, so a page owner waiting in
 * pageSetDelayed for it ends the wait (page.ts freeingClaimed). The caller takes
 * over the reaper's role (T_REAPER) and releases what the reaper held acting as
 * the thread (holdsReleaseDead); only then does the record read as reaped and
 * stop counting live (domainClose). Released: the domain's pool
 * lock, queue and slot mutexes, its QSBR slot goes offline, and a stop or
 * collection the dead thread had left is ended. What the release had not done
 * yet stays undone: the rest of the thread's delayed frees, heaps and segments
 * are lost, like a free that never returned (a decrement queued for a gone owner
 * too: that object leaks). Returns how many records. Any thread, once that JS
 * thread is gone; the callers run it before they reap that instance's own
 * threads, whose exit may need those locks.
 */
export function reapsReleaseDead(instance: u32): u32 {
  const me = instanceIdEnsure();
  let n: u32 = 0;
  for (let t = <usize>loadSynced(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if (loadAcquire(t + T_REAPED) != REAP_RELEASING || loadAcquire(t + T_REAPER) != instance) continue;
    storeRelease(t + T_FREEING, 0);
    // Claimed by taking the reaper's role (one caller wins), not by marking the record
    // reaped: it stays REAP_RELEASING, counted live (domainClose: EBUSY), until what
    // the dead reaper held is let go, and a caller killed on the way leaves it to its
    // own instance's reap. Marked first, such a kill left those locks held for good
    // where no reap could find them, and the domain closed (spinning on its pool lock).
    if (!casAcqRel(t + T_REAPER, instance, me)) continue;
    debugPause(DP_REAPS_CLAIMED);
    // Offline (a goal no longer waits for its slot) before the slot mutex is let go
    // below: a slot the release was giving back (qsbrUnregister) is nobody else's yet.
    qsbrOffline(t);
    holdsReleaseDead(t);
    storeRelease(t + T_REAPED, 1);   // last: gone only once nothing is held in its name
    n++;
  }
  return n;
}

/**
 * Lock word `i` (0..) of the critical sections `thread` holds (critical-section.ts
 * csHeldLock), else 0; for the thread this instance reaped last, as that reap found them.
 */
export function threadHeldLock(thread: usize, i: u32): usize {
  if (thread == reapedThread) return i < reapedCount ? <usize>load<u32>(reapedHeld + (<usize>i << 2)) : 0;
  return csHeldLock(thread, i);
}

/** Was `thread` reaped (rather than exited) since its record was last handed out? */
export function threadWasReaped(thread: usize): bool {
  return load<u32>(thread, T_REAPED) != 0;
}

// ---- Domain teardown ----------------------------------------------------------------

/**
 * Close domain `d` (not the default one; the caller checked): refused with
 * -EBUSY while any thread of it has not exited (the facade names them). Else it
 * is marked closed under headLock (so no thread can be made in it any more, and
 * every later use is EINVAL_DOMAIN), its delayed-free queue is dropped (huge
 * segments in it released), and every segment of the domain (the abandoned pool
 * holds all the others) goes back to the runtime, blocks and all. Returns the
 * units given back. Its records (threads, heaps, QSBR slots, chunks) are meta
 * memory and stay with the dead domain.
 */
export function domainClose(d: usize): i32 {
  debugPause(DP_REVIEW_CLOSE_ENTER);
  headLock();
  if (loadAcquire(d + D_CLOSED) != 0) { headUnlock(); return -EINVAL_DOMAIN; }   // a concurrent close won
  // A record a reap has marked EXITED and is still releasing counts as live (threadIsLive).
  if (threadsLive(d) != 0) { headUnlock(); return -EBUSY; }
  storeRelease(d + D_CLOSER, instanceIdEnsure());   // whose reap finishes a close it dies in
  storeRelease(d + D_CLOSED, 1);
  headUnlock();
  return <i32>domainDiscard(d);
}

/**
 * Drop a closing domain's delayed-free queue and give its pooled and huge
 * segments back, then mark it closed for good (D_CLOSED 2). Resumable: each step
 * takes its item off its list before it gives it back (or names it), so a second
 * run finishes what a killed first left (domainCloseFinish). The units given back.
 */
function domainDiscard(d: usize): u32 {
  delayedDiscardDomain(d);
  const units = abandonedDiscardAll(d);
  storeRelease(d + D_CLOSED, 2);
  return units;
}

/**
 * Instance `instance` is gone (a reap, abi/reap.ts instanceGone): finish every
 * domain close it died in. The caller takes the close over in its own instance's
 * name first (one CAS: of two reaps, one finishes), so that its own death is
 * finished by its own reap in turn.
 */
export function domainCloseFinish(instance: u32): void {
  for (let d = <usize>loadSynced(ROOT + R_DOMAIN_LIST); d != 0; d = <usize>load<u32>(d, D_NEXT)) {
    if (loadAcquire(d + D_CLOSED) == 1 && casAcqRel(d + D_CLOSER, instance, instanceIdEnsure())) domainDiscard(d);
  }
}

// ---- Validation (debug tools) ----------------------------------------------------------

/**
 * Run every validator that `thread` (attached, current) may run now: its heaps
 * (queues and pages), segments and pystack, the unit pool, its domain's thread list and
 * QSBR slots, each under its lock. The first failing A_* code, or A_NONE. Any
 * build: the validators are plain functions; ASSERT_VALIDATE only decides whether
 * the slow paths call them by themselves.
 */
export function threadValidate(thread: usize): u32 {
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0 && !heapIsValid(heap)) return A_HEAP;
  }
  let seg = <usize>load<u32>(thread, T_SEG_FIRST);
  for (let n = load<u32>(thread, T_SEG_COUNT); seg != 0 && n > 0; n--) {
    if (!segmentIsValid(thread, seg, 0)) return A_SEGMENT;
    seg = <usize>load<u32>(seg, SEG_NEXT);
  }
  if (seg != 0) return A_SEGMENT;   // more segments listed than counted
  if (!pystackIsValid(thread)) return A_PYSTACK;
  spinLock(ROOT + R_OS_LOCK);
  const units = unitsAreValid();
  spinUnlock(ROOT + R_OS_LOCK);
  if (!units) return A_UNITS;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  headLock();
  const threads = threadsAreValid(domain);
  headUnlock();
  if (!threads) return A_THREADS;
  lockDetachingOwned(thread, domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
  const slots = qsbrSlotsAreValid(domain);
  unlockOwned(domain + D_QSBR_MUTEX, domain + D_QSBR_HOLDER);
  return slots ? A_NONE : A_QSBR_SLOTS;
}
