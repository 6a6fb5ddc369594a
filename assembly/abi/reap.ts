// abi/reap.ts — recovering threads whose workers died (lifecycle.ts threadReap),
// instance ids, and listing a domain's threads.

import { loadAcquire, loadAcquire64 } from "../atomics";
import { curThread, instanceId } from "../current";
import { domainIsValid } from "../domain";
import { EAGAIN, EINVAL_ARG, EINVAL_DOMAIN, EINVAL_STATE, EWRONG_DOMAIN } from "../errors";
import { objFinalizing } from "../object";
import { statsReleaseDead } from "../stats";
import { blockingInstance, instanceBlocking, instanceLocksReleaseDead } from "../instance";
import { nowMs } from "../host";
import { DP_REAP_OWNER_READ, debugPause } from "../debug-delay";
import { domainCloseFinish, instanceRolesReleaseDead, reapsReleaseDead, threadHeldLock, threadReap, threadWasReaped } from "../lifecycle";
import { stwCountOffDead } from "../stop-the-world";
import { threadDetach, threadIsValid, threadState } from "../thread";
import { D_THREADS, ROOT, R_INSTANCE_SERIAL, R_THREAD_LIST, T_DOMAIN, T_DOMAIN_NEXT, T_LAST_SEEN, T_NEXT_ALL, T_OWNER, THREAD_ATTACHED, THREAD_EXITED,
  THREAD_FREE } from "../layout";
import { failSigned, failValue } from "./result";
import { loadSynced, memSync } from "../os";

/**
 * Reap `thread` of domain `d` (its worker is gone): see lifecycle.ts threadReap.
 * The number of lock words of a critical section it still held (read them with
 * ft_thread_held_lock), or -code: EINVAL_DOMAIN, EINVAL_ARG (no thread of this
 * runtime), EWRONG_DOMAIN (a thread of another domain), EINVAL_STATE (exited or
 * reaped already, or the caller's own current thread). The caller's current
 * thread is left detached and not current.
 */
export function ft_thread_reap(d: usize, thread: usize): i32 {
  memSync();
  if (!domainIsValid(d)) return failSigned(EINVAL_DOMAIN);
  if (!threadIsValid(thread)) return failSigned(EINVAL_ARG);
  if (<usize>load<u32>(thread, T_DOMAIN) != d) return failSigned(EWRONG_DOMAIN);
  if (objFinalizing()) return failSigned(EINVAL_STATE);   // a reap may wait for this very collection to end
  const owner = loadAcquire(thread + T_OWNER);   // its JS thread is gone; read before the reap clears the owner
  if (!instanceGone(owner)) return failSigned(EAGAIN);
  debugPause(DP_REAP_OWNER_READ);
  const rc = threadReap(thread, owner);
  if (rc < 0) return failSigned(-rc);
  return rc;
}

/** Lock word `i` (0, 1) a reaped thread's innermost critical section held, before ft_thread_reap returned. */
export function ft_thread_held_lock(thread: usize, i: u32): usize {
  memSync();
  if (!threadIsValid(thread)) return failValue(EINVAL_ARG);
  return threadHeldLock(thread, i);
}

/** 1 if `thread` was reaped (and its record not reused since), else 0. */
export function ft_thread_reaped(thread: usize): u32 {
  memSync();
  if (!threadIsValid(thread)) return <u32>failValue(EINVAL_ARG);
  return threadState(thread) == THREAD_EXITED && threadWasReaped(thread) ? 1 : 0;
}

/** The instance id allowed to enter `thread` (0: none: exited or reaped). */
export function ft_thread_owner(thread: usize): u32 {
  memSync();
  if (!threadIsValid(thread)) return <u32>failValue(EINVAL_ARG);
  return loadAcquire(thread + T_OWNER);
}

/** Milliseconds since `thread` was last seen (attach, detach, a sampled checkpoint); -1 if never. */
export function ft_thread_idle_ms(thread: usize): f64 {
  memSync();
  if (!threadIsValid(thread)) { failValue(EINVAL_ARG); return -1; }
  const bits = loadAcquire64(thread + T_LAST_SEEN);
  if (bits == 0) return -1;
  return nowMs() - reinterpret<f64>(bits);
}

// Most recent holder that made a reap of this instance give up (ft_reap_blocker).
let reapBlocker: u32 = 0;
let reapHeldStats = false;   // instanceGone: the instance held the stats lock
const REAP_WAIT_MS: f64 = 10;    // a spin lock word held unchanged this long: its holder may be dead
const ROLE_WAIT_MS: f64 = 50;    // a role (a stop, a collection, a mutex) held unchanged this long: the same
const REAP_WATCH_MS: f64 = 120;  // the longest a reap watches the words before it goes on

/**
 * Instance `instance`'s JS thread is gone (0: none): let go of what it died
 * holding, before any reap that may need it: the runtime's spin locks
 * (instance.ts), a reap it was running (lifecycle.ts reapsReleaseDead, which
 * releases the locks held there) and the stats lock (reapHeldStats: whether it
 * held it). False, with nothing reaped, when another instance has held a lock
 * or role the reap would wait for (instanceBlocking) for REAP_WAIT_MS: that
 * instance may be dead too, with its exit not yet seen (a browser or Node main
 * thread reaps on a worker's exit event; waiting here, it never sees the next
 * one). Its id is left for ft_reap_blocker; reap it, then retry.
 */
function instanceGone(instance: u32): bool {
  reapHeldStats = false;
  if (instance != 0) instanceLocksReleaseDead(instance);   // its own first: two dead instances never wait for each other
  reapBlocker = reapBlockedBy(instance, false);   // the spin locks (the count-off below takes headLock)
  if (reapBlocker != 0) return false;
  if (instance == 0) return true;
  if (instanceIsOther(instance)) {
    // The caller's own attached thread would hold up the stops watched below (the reap of
    // those threads detaches it anyway; with none to reap, it stays as it is).
    if (curThread != 0 && threadState(curThread) == THREAD_ATTACHED && instanceHasLive(instance)) threadDetach(curThread);
    instanceRolesReleaseDead(instance);   // what others may wait for, its own, let go first
    stwCountOffDead(instance);   // stops (and collections) waiting only for the dead go on and let go
    reapBlocker = reapBlockedBy(instance, true);   // now also the mutexes and a collection
    if (reapBlocker != 0) return false;
  }
  reapsReleaseDead(instance);
  reapHeldStats = statsReleaseDead(instance);
  domainCloseFinish(instance);   // a domain close it died in
  return true;
}

/**
 * Another instance that has held one lock word unchanged for REAP_WAIT_MS
 * (instanceBlocking), or 0: one that holds none now, or only briefly (live
 * threads take and let go of these locks all the time: a word that changes is
 * not a dead holder's). Watches for at most REAP_WATCH_MS in all, then lets the
 * reap go on: whatever the words held then was never held that long.
 */
function reapBlockedBy(instance: u32, roles: bool): u32 {
  const end = nowMs() + REAP_WATCH_MS;
  const wait = roles ? ROLE_WAIT_MS : REAP_WAIT_MS;   // a live stop or collection may pause longer than a spin lock
  let word = instanceBlocking(instance, roles);
  while (word != 0) {
    const value = loadAcquire(word), holder = blockingInstance;
    const since = nowMs();
    while (loadAcquire(word) == value) {
      const now = nowMs();
      if (now - since >= wait) return holder;
      if (now >= end) return 0;
    }
    if (nowMs() >= end) return 0;
    word = instanceBlocking(instance, roles);
  }
  return 0;
}

/** Does `instance` own a live thread (one a reap has to recover)? */
function instanceHasLive(instance: u32): bool {
  for (let t = <usize>loadAcquire(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if (ownedLive(t, instance)) return true;
  }
  return false;
}

/** Is `t` a thread of `instance` that has not exited (nor been reaped)? */
function ownedLive(t: usize, instance: u32): bool {
  const s = threadState(t);
  return loadAcquire(t + T_OWNER) == instance && s != THREAD_EXITED && s != THREAD_FREE;
}

/** The instance whose lock or role made the last reap on this instance give up (EAGAIN), 0 if none. */
export function ft_reap_blocker(): u32 { memSync(); return reapBlocker; }

/**
 * Is `instance` an id handed out, not the caller's? Not 0, and not above the
 * serial: 0xFFFFFFFF is what spinLock stamps for an instance with no id yet,
 * and releasing its "dead" locks would release live ones (atomics.ts).
 */
function instanceIsOther(instance: u32): bool {
  return instance != 0 && instance != instanceId && instance <= loadAcquire(ROOT + R_INSTANCE_SERIAL);
}

/**
 * Reap every live thread of the runtime that instance `instance` owns (the
 * facade's worker helper, on the worker's exit). Returns how many; -code.
 * Its own instance, 0 and ids never handed out are refused (EINVAL_ARG).
 */
export function ft_reap_instance(instance: u32): i32 {
  memSync();
  if (!instanceIsOther(instance)) return failSigned(EINVAL_ARG);
  if (!instanceGone(instance)) return failSigned(EAGAIN);
  let n: i32 = 0;
  let t = <usize>loadAcquire(ROOT + R_THREAD_LIST);
  while (t != 0) {
    if (ownedLive(t, instance) && t != curThread) {
      if (threadReap(t, instance) >= 0) n++;
    }
    t = <usize>load<u32>(t, T_NEXT_ALL);
  }
  return n;
}

/**
 * Instance `instance`'s JS thread is gone (a worker that may have had no thread,
 * so nothing to reap): release the stats lock and the runtime's spin locks if it
 * died holding them, and void the FREEING claim of a reap it died running (the
 * facade's reapInstance). 1 if it
 * held the stats lock, 0 if not; -EINVAL_ARG for 0, the caller's own id, or an
 * id never handed out.
 */
export function ft_instance_release_dead(instance: u32): i32 {
  memSync();
  if (!instanceIsOther(instance)) return failSigned(EINVAL_ARG);
  if (!instanceGone(instance)) return failSigned(EAGAIN);
  return reapHeldStats ? 1 : 0;
}

/** The thread after `t` in domain `d`'s list (0: the first); 0 at the end. The list only grows. */
export function ft_domain_thread_next(d: usize, t: usize): usize {
  memSync();
  if (!domainIsValid(d)) return failValue(EINVAL_DOMAIN);
  if (t == 0) return <usize>loadSynced(d + D_THREADS);
  if (!threadIsValid(t)) return failValue(EINVAL_ARG);
  return <usize>load<u32>(t, T_DOMAIN_NEXT);
}

/** The thread after `t` in the runtime's list of every record (0: the first); 0 at the end. Only grows. */
export function ft_thread_next_all(t: usize): usize {
  memSync();
  if (t == 0) return <usize>loadAcquire(ROOT + R_THREAD_LIST);
  if (!threadIsValid(t)) return failValue(EINVAL_ARG);
  return <usize>load<u32>(t, T_NEXT_ALL);
}
