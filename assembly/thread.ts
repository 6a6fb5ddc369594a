// thread.ts — thread records and their states: creation, attach/detach, the
// pause for a stop-the-world, waiting detached, recycling.
//
// A thread record is what a worker gets when it attaches to a domain: its heaps
// (one per tag, made on first use), its segments and free spans, its eval breaker,
// its critical-section stack. The record's address is the thread id stored in
// every segment it owns. Allocator data belongs to the record, not to the Wasm
// instance: one worker may hold records in several domains and switch between them.
//
// States (T_STATE), CPython's machine:
//
//   ATTACHED <--(owner)--> DETACHED <--(stop-the-world requester)--> SUSPENDED
//                              |
//                           EXITED --(nothing left)--> FREE (recycled by threadNew)
//
// Only the owner moves DETACHED -> ATTACHED (CAS); a SUSPENDED thread waits in
// attach until the world restarts. A detached thread holds no unprotected
// pointers and has released its critical sections; it cannot allocate or free.
// Attach resumes the innermost critical section and puts the thread online in
// QSBR (if it has a slot); detach releases every section and goes offline.
//
// A thread that must wait for a lock, or for the stop-the-world reader/writer
// word, waits detached (lockDetaching, waitDetached), so a stop never waits for a
// sleeper. Those two are the ones lower layers (critical sections, the stop's
// requester) reach through hooks.ts.
//
// Races closed (issue 10): reusing a record resets its owner's fields only —
// never the state word, the list links or the domain, which walks without a lock
// (threadIsValid) or under headLock (stop-the-world, domainSetVersion) read — and
// takes a new serial under headLock (a stop's requester is known by its serial,
// so a reused record never inherits the role). threadDetach only leaves ATTACHED:
// it never stores DETACHED over SUSPENDED. A stop's requester waits detached
// through threadWaitAsRequester, whose re-attach waits (or polls) through any stop
// that parked it. The allocator's slow path does not pause inside a critical
// section (threadCheckpointAlloc). Attach may be bounded (threadAttachTimed).
//
// The checkpoint (which handles the eval breaker), the first attach (which takes
// a QSBR slot) and exit are lifecycle.ts: they use the reclamation layers above.
//
// See also: lifecycle.ts, breaker.ts, current.ts, domain.ts, stop-the-world.ts,
// critical-section.ts.

import { A_STATE, A_THREADS, ASSERT_CHEAP, ASSERT_VALIDATE, assertThat } from "./assert";
import { addRelaxed, casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { BRK_PLEASE_STOP, EV_STOPPED, EV_WOULD_BLOCK, breakerClear, breakerInitial, breakerLoad, breakerHas,
  breakerRequest, BRK_ASYNC_INTERRUPT } from "./breaker";
import { csResumeTop, csSuspendAll } from "./critical-section";
import { loadSynced, memFill, osCommitFold } from "./os";
import { currentSet, curThread } from "./current";
import { DP_ATTACH_CAS_FAILED, DP_LOCK_NAMING, DP_LOCK_TAKEN_DETACHED, DP_STW_REQ_WAITED, DP_THREAD_LISTING, DP_THREAD_REUSE, debugPause } from "./debug-delay";
import { headLock, headUnlock } from "./domain";
import { EAGAIN, ENOT_ATTACHED, ETIMEDOUT, OK } from "./errors";
import { heapForTag, heapInit } from "./heap";
import { hostCanBlock, nowMs, waitWhile, waitWhileSpinning, wake } from "./host";
import { metaAlloc } from "./meta";
import { adoptedHolder, LOCK_OK, LOCK_TIMEOUT, mutexAdoptTake, mutexHandoffReap, mutexLockSlow, mutexTryLock, mutexUnlock } from "./mutex";
import { remoteFlush, remotePending } from "./remote-free";
import { QF_KEEP_SEQ, qsbrOffline, qsbrOnline } from "./qsbr";
import { STW_SPIN_MS, stwAccount, stwActiveFor, stwWaitingHere } from "./stop-the-world";
import { D_FREE_THREADS, D_THREADS, D_VERSION, EMPTY_HEAP, HEAP_SIZE, ROOT,
  R_THREAD_LIST, R_THREAD_SERIAL, S_COUNTDOWN, T_BATCH_SCRATCH, T_BREAKER, T_DOMAIN, T_DOMAIN_NEXT, T_FREE_NEXT,
  T_CS_DEPTH, T_HEAPS, T_HUGE_COUNT, T_NEXT_ALL, T_QSBR_FLAGS, T_SEG_COUNT, T_SERIAL, T_SPANS, T_STACK_BASE, T_STACK_CAP,
  T_OWNER, T_REAPED, T_STATE, T_STW_PENDING, REAP_RELEASING,
  TAG_COUNT, THREAD_ATTACHED,
  THREAD_DETACHED, THREAD_EXITED, THREAD_FREE, THREAD_SIZE, THREAD_SUSPENDED } from "./layout";

// ---- Creation -----------------------------------------------------------------

/**
 * A new thread record of `domain` for instance `owner`, DETACHED (SUSPENDED when
 * a stop-the-world is under way in its scope), with its MEM heap. 0 when memory
 * is exhausted. The owner is stamped as the record goes live, under headLock: a
 * worker killed before it enters the thread leaves a record its instance's reap
 * finds (stamped later, it was counted live with no owner: reapInstance missed
 * it, and its domain could never close).
 */
export function threadNew(domain: usize, owner: u32): usize {
  headLock();
  let thread = <usize>load<u32>(domain, D_FREE_THREADS);
  if (thread != 0) store<u32>(domain, load<u32>(thread, T_FREE_NEXT), D_FREE_THREADS);
  headUnlock();
  const recycled = thread != 0;
  if (!recycled) {
    thread = metaAlloc(THREAD_SIZE);
    if (thread == 0) return 0;
    store<u32>(thread, <u32>domain, T_DOMAIN);
  } else {
    // Keep the heap records (they are the thread's) and reset the owner's fields
    // only: the state word (EXITED until listed below), the list links and the
    // domain are read by walks that take no lock or run under headLock, and must
    // never be seen zeroed (issue 10, item 1: a walk that stopped early missed
    // live threads; an attached thread read back as FREE).
    for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
      const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
      if (heap != 0) { memFill(heap, 0, HEAP_SIZE); heapInit(heap, thread, tag); }
    }
    threadResetOwned(thread);
    debugPause(DP_THREAD_REUSE);
  }
  if (heapForTag(thread, 0) == 0) return 0;
  headLock();
  storeRelease(thread + T_SERIAL, addRelaxed(ROOT + R_THREAD_SERIAL, 1) + 1);
  store<u32>(thread, 0, T_STW_PENDING);
  storeRelease(thread + T_OWNER, owner);
  storeRelease(thread + T_BREAKER, breakerInitial(loadAcquire(domain + D_VERSION)));
  storeRelease(thread + T_STATE, stwActiveFor(thread) != 0 ? THREAD_SUSPENDED : THREAD_DETACHED);
  if (!recycled) {
    // The runtime-wide list (stats, reaps by instance; push-only too) first, then
    // the domain's: a holder killed at the loop's back edge (V8 stops a worker
    // there; its reap lets headLock go) leaves the record on neither list, a
    // leak. The other way round it was on the domain's list only: d.reap refused
    // it (no thread of this runtime), so the domain could never close.
    while (true) {
      debugPause(DP_THREAD_LISTING);
      const head = loadAcquire(ROOT + R_THREAD_LIST);
      store<u32>(thread, head, T_NEXT_ALL);
      if (casAcqRel(ROOT + R_THREAD_LIST, head, <u32>thread)) break;
    }
    store<u32>(thread, load<u32>(domain, D_THREADS), T_DOMAIN_NEXT);
    storeRelease(domain + D_THREADS, <u32>thread);
  }
  if (ASSERT_VALIDATE) assertThat(threadsAreValid(domain), A_THREADS);
  headUnlock();
  return thread;
}

/**
 * Zero the fields a FREE record's next owner starts from, and nothing else: not
 * the state word, serial, list links (nextAll, domainNext), domain, freeNext
 * (headLock), heap pointers, stwPending (headLock; reset when listed), breaker
 * (stored when listed), or the pystack's region and capacity (meta memory never
 * returns: the region stays with the record, pystack.ts). Owner only (the record
 * is FREE and off every free list).
 */
function threadResetOwned(thread: usize): void {
  osCommitFold(thread);   // a delta left after the last fold is kept, in the root (os.ts)
  const stackBase = load<u32>(thread, T_STACK_BASE), stackCap = load<u32>(thread, T_STACK_CAP);
  const batchScratch = load<u32>(thread, T_BATCH_SCRATCH);   // meta memory: stays with the record
  memFill(thread + T_SEG_COUNT, 0, T_DOMAIN - T_SEG_COUNT);                 // segCount, segFirst, hugeCount
  memFill(thread + T_SPANS, 0, T_DOMAIN_NEXT - T_SPANS);                    // spans, visit cursor
  memFill(thread + T_CS_DEPTH, 0, T_BREAKER - T_CS_DEPTH);                  // csDepth .. (every field up to the breaker)
  memFill(thread + T_BREAKER + 4, 0, <usize>THREAD_SIZE - T_BREAKER - 4);   // visit bitmap, section stack, ...
  store<u32>(thread, stackBase, T_STACK_BASE);
  store<u32>(thread, stackCap, T_STACK_CAP);
  store<u32>(thread, batchScratch, T_BATCH_SCRATCH);
}

// ---- Attach and detach ---------------------------------------------------------

/**
 * Owner: DETACHED -> ATTACHED and make the record current; a SUSPENDED thread
 * waits for the world to restart (EAGAIN where it may not block, or when
 * `mayBlock` is false). Resumes the innermost critical section and puts the
 * thread online in QSBR if it has a slot (the first attach takes one:
 * lifecycle.ts).
 */
export function threadAttach(thread: usize, mayBlock: bool): i32 {
  return threadAttachTimed(thread, mayBlock ? ATTACH_WAIT : ATTACH_NO_WAIT, -1);
}

/** threadAttach's ways to wait while SUSPENDED: not at all (EAGAIN) ... */
export const ATTACH_NO_WAIT: u32 = 0;
/** ... block where the instance may (EAGAIN where it may not) ... */
export const ATTACH_WAIT: u32 = 1;
/** ... or wait even where it may not block: it polls (a stop's requester, which must go on attached). */
export const ATTACH_POLL: u32 = 2;

/**
 * threadAttach, waiting at most `timeoutMs` (< 0: no limit) while SUSPENDED:
 * ETIMEDOUT leaves the thread as it was (SUSPENDED, not current).
 */
export function threadAttachTimed(thread: usize, how: u32, timeoutMs: f64): i32 {
  const deadline = timeoutMs < 0 ? Infinity : nowMs() + timeoutMs;
  while (true) {
    if (casAcqRel(thread + T_STATE, THREAD_DETACHED, THREAD_ATTACHED)) break;
    debugPause(DP_ATTACH_CAS_FAILED);
    const s = loadAcquire(thread + T_STATE);
    if (s == THREAD_SUSPENDED) {
      if (how == ATTACH_NO_WAIT || (how == ATTACH_WAIT && !hostCanBlock())) return EAGAIN;
      let left: f64 = -1;
      if (timeoutMs >= 0) {
        left = deadline - nowMs();
        if (left <= 0) return ETIMEDOUT;
      }
      waitWhileSpinning(thread + T_STATE, THREAD_SUSPENDED, STW_SPIN_MS, left);   // partner: stwStart's wake
      continue;
    }
    if (s == THREAD_ATTACHED) break;
    // A restart (SUSPENDED -> DETACHED) between the CAS and the load: try again. Only
    // the owner leaves DETACHED for ATTACHED, so this ends (stwflake: it was ENOT_ATTACHED,
    // and a paused checkpoint returned WOULD_BLOCK, detached, where it may block).
    if (s == THREAD_DETACHED) continue;
    return ENOT_ATTACHED;
  }
  currentSet(thread, <usize>load<u32>(thread, T_HEAPS));
  csResumeTop(thread);
  qsbrOnline(thread);
  return OK;
}

/**
 * Owner: release critical sections, ATTACHED -> DETACHED, no current thread.
 * Only from ATTACHED: a thread a stop parked (SUSPENDED) is never made DETACHED
 * by its owner, which would let it resume itself inside another thread's stop
 * (issue 10, item 4). Other threads never change an ATTACHED state, so the
 * check and the store below cannot race.
 */
export function threadDetach(thread: usize): void {
  const attached = loadAcquire(thread + T_STATE) == THREAD_ATTACHED;
  if (ASSERT_CHEAP) assertThat(attached, A_STATE);
  if (!attached) { if (curThread == thread) currentSet(0, EMPTY_HEAP); return; }
  if (remotePending(thread)) remoteFlush(thread);   // a detached thread holds no batched frees
  csSuspendAll(thread);
  // Not while resuming from a pause in malloc: a lock wait there (re-taking a
  // critical section) must not end the thread's read-side section.
  if ((load<u32>(thread, T_QSBR_FLAGS) & QF_KEEP_SEQ) == 0) qsbrOffline(thread);
  storeRelease(thread + T_STATE, THREAD_DETACHED);
  if (curThread == thread) currentSet(0, EMPTY_HEAP);
  // A requester waiting for us re-scans sooner (it would anyway within 1 ms).
  headLock();
  const stw = stwActiveFor(thread);
  headUnlock();
  if (stw != 0) wake(stw + S_COUNTDOWN, 1);
}

// ---- Waiting detached -----------------------------------------------------------

/**
 * Lock `m` for `thread`; if it must wait and the thread is attached, the thread
 * detaches while it waits (so a stop-the-world need not wait for it) and attaches
 * again after (which may itself wait for the world to restart). A thread that may
 * not block polls, and still returns attached. `timeoutMs` >= 0 bounds the wait
 * for the lock (not the re-attach): false when it ran out, with the mutex's
 * waiter count as it was and the thread attached as it was.
 */
export function lockDetaching(thread: usize, m: usize, timeoutMs: f64 = -1, holder: usize = 0, value: u32 = <u32>thread): bool {
  if (mutexTryLock(m) || mutexLockSlow(m, false, -1) == LOCK_OK) {   // then spin only
    if (holder != 0) storeRelease(holder, value);
    return true;
  }
  if (timeoutMs == 0) return false;
  const attached = thread != 0 && loadAcquire(thread + T_STATE) == THREAD_ATTACHED;
  if (attached) threadDetach(thread);
  let ok = true;
  if (timeoutMs < 0) {
    while (mutexLockSlow(m, true, -1) != LOCK_OK) {}        // polls where it may not park
  } else {
    const deadline = nowMs() + timeoutMs;
    while (true) {
      const left = deadline - nowMs();
      const rc = mutexLockSlow(m, true, left > 0 ? left : 0);
      if (rc == LOCK_OK) break;
      if (rc == LOCK_TIMEOUT || nowMs() >= deadline) { ok = false; break; }
    }
  }
  // The holder is known before the re-attach, which may wait out a whole stop.
  if (ok && holder != 0) {
    debugPause(DP_LOCK_NAMING);
    storeRelease(holder, value);
  }
  if (ok) debugPause(DP_LOCK_TAKEN_DETACHED);   // the re-attach below may wait out a whole stop
  if (attached) {
    while (threadAttach(thread, true) != OK) {}
  }
  return ok;
}

/**
 * The user-facing lock (ft_mutex_lock, critical sections, shared structures'
 * writers): a word adopted by the facade's async variant is taken over; where the
 * instance may block, lockDetaching; where it may not, the brief spin only, then
 * false (the caller reports EAGAIN, nothing changed). Polling there froze a
 * browser's main thread for as long as the holder kept the lock (issue 13). The
 * spin only too while this instance's async stop waits (stwWaitingHere): waiting
 * then deadlocked with a holder that stop had parked (review-13a).
 */
export function lockOrAgain(thread: usize, m: usize, holder: usize = 0, value: u32 = 0): bool {
  // `holder` (optional): where `value` is stored as soon as the lock is taken, before any re-attach.
  if (mutexAdoptTake(m)) {
    // Named by the caller's word, no longer by the async section's slot: no call between.
    if (holder != 0) storeRelease(holder, value);
    if (adoptedHolder != 0) storeRelease(adoptedHolder, 0);
    return true;
  }
  // Not while this instance's async stop waits: the holder may be parked by it (stwWaitingHere).
  if (hostCanBlock() && !stwWaitingHere()) return lockDetaching(thread, m, -1, holder, value);
  if (!(mutexTryLock(m) || mutexLockSlow(m, false, -1) == LOCK_OK)) return false;
  if (holder != 0) storeRelease(holder, value);
  return true;
}

/**
 * lockDetaching for the runtime's own mutexes that a reap must be able to
 * release: the holder's record goes in `holder` as soon as it has the lock,
 * before any re-attach. (A thread that dies between taking the lock and writing
 * `holder` is not recovered: a few instructions.)
 */
export function lockDetachingOwned(thread: usize, m: usize, holder: usize): void {
  lockDetaching(thread, m, -1, holder);
}

/** mutexTryLock, recording the holder (see lockDetachingOwned). */
export function tryLockOwned(thread: usize, m: usize, holder: usize): bool {
  if (!mutexTryLock(m)) return false;
  storeRelease(holder, <u32>thread);
  return true;
}

/**
 * Let go of `m` locked with lockDetachingOwned, and of its holder word: cleared
 * right after the release, with no call in between, and only if it still names us
 * (a new holder may have named itself already). So the holder word names a thread
 * exactly while that thread holds the lock, at every point where V8 may stop a
 * worker (a call, a loop's back edge): clearing it before the unlock, whose slow
 * path is a call, left the lock held with no holder named, which no reap could let
 * go (a thread parked on it, and the reap itself, waited for ever); clearing it
 * after the whole unlock left a dead thread named for a lock it had handed to a
 * waiter, which its reap then unlocked under that waiter (review).
 */
export function unlockOwned(m: usize, holder: usize): void {
  mutexUnlock(m, holder, loadAcquire(holder));
}

/**
 * Reap: if the dead `thread` holds `m` (per `holder`), release it. What it was
 * doing under the lock is trusted as it was left (the runtime's sections there
 * publish their work with single stores where they can). True if it did.
 */
export function lockReleaseDead(thread: usize, m: usize, holder: usize): bool {
  // As the dead thread would have: the word stays named until the lock is let go, so
  // a reaper killed in the unlock leaves it for the reap of its own instance.
  // Releases of one dead thread are serialized (the roles lock: lifecycle.ts).
  if (loadAcquire(holder) != <u32>thread) {
    mutexHandoffReap(m);   // a dead unlocker's hand-off, named by nobody (review)
    return false;
  }
  mutexUnlock(m, holder, <u32>thread);
  return true;
}

/** Detach, wait while the word at `ptr` holds `value` (at most `timeoutMs`), attach again. */
export function waitDetached(thread: usize, ptr: usize, value: u32, timeoutMs: f64): void {
  threadDetach(thread);
  waitWhile(ptr, value, timeoutMs);
  threadAttach(thread, true);
}

/**
 * A stop's requester waiting for its scope's mutex or the reader/writer word
 * (stop-the-world.ts, through hooks.ts): detached, so the stop under way does not
 * wait for it, while the word at `ptr` holds `value` (at most `timeoutMs`); then
 * attached again. Unlike waitDetached, the re-attach never gives up: if a stop
 * parked the requester meanwhile it waits for the restart, polling where the
 * instance may not block. Ignoring attach's EAGAIN there let a non-blocking
 * requester detach again — storing DETACHED over SUSPENDED — and run inside
 * another thread's stop (issue 10, item 4). The wait for that restart is not
 * bounded by a stop's timeoutMs: the thread returns attached, as it came.
 */
export function threadWaitAsRequester(thread: usize, ptr: usize, value: u32, timeoutMs: f64): void {
  threadDetach(thread);
  waitWhile(ptr, value, timeoutMs);
  debugPause(DP_STW_REQ_WAITED);
  while (threadAttachTimed(thread, ATTACH_POLL, -1) != OK) {}
}

/**
 * PLEASE_STOP: detach into SUSPENDED, count ourselves, wait for the restart and
 * attach again. Returns EV_STOPPED, EV_WOULD_BLOCK (left suspended: the thread
 * may not wait here), or 0 (the request was already over: a plain detach/attach).
 * `keepSeq` (the allocator's slow path): the QSBR seq stays as it was throughout.
 */
export function threadSuspend(thread: usize, keepSeq: bool): u32 {
  if (remotePending(thread)) remoteFlush(thread);   // a stopped world holds no batched frees
  csSuspendAll(thread);
  if (keepSeq) store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) | QF_KEEP_SEQ, T_QSBR_FLAGS);
  else qsbrOffline(thread);
  headLock();
  breakerClear(thread, BRK_PLEASE_STOP);
  const stw = stwActiveFor(thread);
  storeRelease(thread + T_STATE, stw != 0 ? THREAD_SUSPENDED : THREAD_DETACHED);
  if (stw != 0) stwAccount(thread, stw);
  headUnlock();
  currentSet(0, EMPTY_HEAP);
  const rc = threadAttach(thread, true);
  if (keepSeq) store<u32>(thread, load<u32>(thread, T_QSBR_FLAGS) & ~QF_KEEP_SEQ, T_QSBR_FLAGS);
  if (rc != OK) return EV_WOULD_BLOCK;
  return stw != 0 ? EV_STOPPED : 0;
}

/**
 * The allocator's slow path: only a pending stop is handled there (nothing else
 * can be reported from inside malloc), and only where the thread may wait, and
 * only outside critical sections. Pausing suspends a thread's sections (their
 * locks are released while it is detached), and an allocation is not a place
 * where a section may be interrupted: another thread would enter the same
 * section while this one is in the middle of it (issue 10, item 6). CPython's
 * allocator never suspends critical sections either. So a thread inside a
 * section (csDepth > 0; while attached its innermost section holds its locks)
 * does not pause here: the stop waits for its next checkpoint or detach, as it
 * waits for any attached thread that is running. The alternative, pausing while
 * keeping the locks, could deadlock: the stop's requester (or a thread it waits
 * for) may need one of those locks, and a paused holder cannot release it.
 */
// @ts-ignore: decorator
@inline export function threadCheckpointAlloc(thread: usize): void {
  if (breakerHas(breakerLoad(thread), BRK_PLEASE_STOP) && hostCanBlock() && load<u32>(thread, T_CS_DEPTH) == 0) {
    threadSuspend(thread, true);
  }
}

/** Ask `target` to stop at its next checkpoint with an interrupt (only that thread). */
export function threadInterrupt(target: usize): void {
  breakerRequest(target, BRK_ASYNC_INTERRUPT);
}

/**
 * An EXITED record that owns no segment any more goes back to its domain's free
 * records (once, at exit: it abandoned its segments). It stays EXITED there, so a
 * thread id read from outside says "exited" until threadNew hands the record out
 * again. No-op if it still owns huge segments (see abandon.ts).
 */
export function threadRecycleExited(thread: usize): void {
  if (load<u32>(thread, T_SEG_COUNT) != 0 || loadAcquire(thread + T_HUGE_COUNT) != 0) return;
  const domain = <usize>load<u32>(thread, T_DOMAIN);
  headLock();
  if (loadAcquire(thread + T_STATE) == THREAD_EXITED) {
    store<u32>(thread, load<u32>(domain, D_FREE_THREADS), T_FREE_NEXT);
    store<u32>(domain, <u32>thread, D_FREE_THREADS);
  }
  if (ASSERT_VALIDATE) assertThat(threadsAreValid(domain), A_THREADS);
  headUnlock();
}

// ---- Live records -----------------------------------------------------------------

/**
 * Is the record live: listed and not exited, or EXITED by a reap that is still
 * releasing it (REAP_RELEASING: its delayed frees, heaps and segments not yet
 * given up)? Any thread; exact under headLock, where every state change is made.
 */
export function threadIsLive(t: usize): bool {
  const s = loadAcquire(t + T_STATE);
  return (s != THREAD_EXITED && s != THREAD_FREE) || loadAcquire(t + T_REAPED) == REAP_RELEASING;
}

/**
 * How many records of `domain` (0: of every domain) are live: counted from the
 * records, not kept in a counter. A counter needs a decrement after the record's
 * last store, and a worker killed between the two (exit, a reap's end) left its
 * record counted live for good: its domain could never close (EBUSY). A
 * lock-free walk of the runtime-wide list (push-only, and a new record is on it
 * before its domain's list).
 */
export function threadsLive(domain: usize): u32 {
  let n: u32 = 0;
  for (let t = <usize>loadSynced(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if ((domain == 0 || <usize>load<u32>(t, T_DOMAIN) == domain) && threadIsLive(t)) n++;
  }
  return n;
}

/**
 * Validator (caller holds headLock): the domain's thread list is finite, and
 * every record on it is 64-aligned, of this domain, in a known state, and on the
 * runtime-wide list too (both are push-only). O(threads²) at worst.
 */
export function threadsAreValid(domain: usize): bool {
  let t = <usize>loadSynced(domain + D_THREADS);
  for (let n: u32 = 0; t != 0; n++) {
    if (n > THREAD_LIMIT || (t & 63) != 0 || <usize>load<u32>(t, T_DOMAIN) != domain) return false;
    if (loadAcquire(t + T_STATE) > THREAD_EXITED || !threadIsValid(t)) return false;
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return true;
}

const THREAD_LIMIT: u32 = 1 << 20;

/** Is `thread` a thread record of this runtime (any state)? Walks the push-only list. */
export function threadIsValid(thread: usize): bool {
  if (thread == 0 || (thread & 63) != 0) return false;
  let t = <usize>loadSynced(ROOT + R_THREAD_LIST);
  while (t != 0) {
    if (t == thread) return true;
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
  return false;
}

export function threadState(thread: usize): u32 {
  return loadAcquire(thread + T_STATE);
}
