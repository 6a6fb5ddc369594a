// instance.ts — instance ids: the owner stamped on the thread records an instance
// (a JS thread) starts, and the holder stamped on the stats lock; a reap by id
// (the facade's startWorker) recovers everything a dead JS thread left.
//
// An id is drawn from ROOT.instanceSerial on first use, or reserved for a worker
// before it starts (instanceReserve) and adopted by it (instanceClaim). Adoption
// is exclusive: two JS threads with one id would have each other's live threads
// reaped when either dies (a worker that forwarded its start handle to a helper
// of its own did that). Reserved ids not yet adopted sit in slots of chunks of
// meta memory listed from ROOT.resList; a slot is cleared when its id is adopted
// or the reservation is cancelled (the worker died first), and reused.
// Reserving takes ROOT.resLock (a spin lock: the browser main thread starts
// workers) to pick a free slot and grow the list; claiming takes no lock: it
// clears its id's slot with one CAS (ids are unique, the list only grows, a slot
// is written non-zero only under the lock). So a worker killed while it adopts
// holds nothing: it had no id yet that a reap could release a lock by, and the
// facade's reap of it starts by cancelling its reservation (src/workers.ts).
//
// See also: current.ts (this instance's id), abi/runtime.ts, src/workers.ts.

import { addRelaxed, casAcqRel, loadAcquire, spinLock, spinTakeOver, spinUnlock, storeRelease } from "./atomics";
import { instanceId, instanceSet } from "./current";
import { DP_RES_CLAIM, DP_RES_RESERVE, debugPause } from "./debug-delay";
import { metaAlloc } from "./meta";
import { loadSynced, osUnitsRepair } from "./os";
import { D_ABANDON_DIRTY, D_ABANDON_GIVING, D_ABANDON_LOCK, D_ABANDON_WORKING, D_CHUNK_LOCK, D_DQ_HOLDER, D_NEXT, D_OBJECTS, D_QSBR_HOLDER, D_STW, GLOBAL_STW, OR_GC_COLLECTING, ROOT, R_DOMAIN_LIST,
  R_THREAD_LIST, S_MUTEX, S_REQUESTER, S_STOPPED, T_NEXT_ALL, T_SERIAL, T_STATE, THREAD_SUSPENDED,
  R_HEAD_LOCK, R_INSTANCE_SERIAL, R_META_LOCK, R_OS_LOCK, R_RES_LIST, R_RES_LOCK, R_ROLES_LOCK, R_STATS_LOCK, REAP_RELEASING, T_OWNER, T_REAPED,
  T_REAPER } from "./layout";

const RES_SLOTS: u32 = 15;        // u32 ids per chunk, then the next chunk's address
const RES_CHUNK: u32 = (RES_SLOTS + 1) << 2;

/** This instance's id, drawn now if it has none yet (its first thread, or a lock it stamps). */
export function instanceIdEnsure(): u32 {
  if (instanceId == 0) instanceSet(addRelaxed(ROOT + R_INSTANCE_SERIAL, 1) + 1);
  return instanceId;
}

/**
 * The word a lock that names thread records (the abandoned pool's, abandon.ts)
 * holds for this instance while it has no current thread: odd, so never a
 * (64-aligned) record, and the reap of this instance lets it go.
 */
export function instanceLockWord(): u32 { return lockWordOf(instanceIdEnsure()); }

// @ts-ignore: decorator
@inline function lockWordOf(id: u32): u32 { return (id << 1) | 1; }

/**
 * Instance `instance`'s JS thread is gone: the runtime's spin locks it died
 * holding (spinLock stamps its id) are let go: osLock, metaLock, headLock,
 * resLock, every domain's chunk lock, and every domain's pool lock taken with
 * no current thread (instanceLockWord). What it left half done under them is
 * trusted as is (at worst meta memory or a thread record leaks), but for the
 * unit table: osLock is taken over and the table made whole first (os.ts
 * osUnitsRepair). A thread that spun on one of them would otherwise spin for
 * ever. Any thread, once that JS thread is gone.
 */
export function instanceLocksReleaseDead(instance: u32): void {
  if (instance == 0) return;
  if (spinTakeOver(ROOT + R_OS_LOCK, instance)) {
    osUnitsRepair();
    spinUnlock(ROOT + R_OS_LOCK);
  }
  casAcqRel(ROOT + R_META_LOCK, instance, 0);
  casAcqRel(ROOT + R_HEAD_LOCK, instance, 0);
  casAcqRel(ROOT + R_RES_LOCK, instance, 0);
  casAcqRel(ROOT + R_ROLES_LOCK, instance, 0);
  for (let d = <usize>loadSynced(ROOT + R_DOMAIN_LIST); d != 0; d = <usize>load<u32>(d, D_NEXT)) {   // domains made in grown memory
    casAcqRel(d + D_CHUNK_LOCK, instance, 0);
    // A pool holder that died giving a segment back or collecting one: the next collection
    // finishes or repairs it (abandon.ts abandonedMarkUnfinished; not called from here: a
    // core module does not import the allocator's).
    if (casAcqRel(d + D_ABANDON_LOCK, lockWordOf(instance), 0)
        && (loadAcquire(d + D_ABANDON_GIVING) != 0 || loadAcquire(d + D_ABANDON_WORKING) != 0)) {
      storeRelease(d + D_ABANDON_DIRTY, 1);
    }
  }
}

/**
 * The address of a word through which an instance other than `except` and this
 * one holds, right now, a lock a reap may wait for: a spin lock (osLock,
 * metaLock, headLock, resLock, the stats lock, a domain's chunk lock) or a
 * domain's pool lock (taken with or without a thread); 0 if none. That
 * instance's id is left in `blockingInstance` (a thread's holder: the thread's
 * owner, or its reaper while a reap releases it). No-id holders (0xFFFFFFFF) are not named: nothing could release them.
 * Lock-free reads: a hint, right when the holder is dead (its words no longer
 * change). With `roles`, also a domain's delayed-free and QSBR-slot mutexes, its
 * running collection, and the scope lock of a stop (a domain's or the global one): a live thread may hold those across a stop that waits
 * for the very threads being reaped, so the reap looks at them only once it has
 * counted those threads off every stop (stop-the-world.ts stwCountOffDead).
 */
export function instanceBlocking(except: u32, roles: bool): usize {
  if (spinHeldBy(ROOT + R_OS_LOCK, except)) return ROOT + R_OS_LOCK;
  if (spinHeldBy(ROOT + R_META_LOCK, except)) return ROOT + R_META_LOCK;
  if (spinHeldBy(ROOT + R_HEAD_LOCK, except)) return ROOT + R_HEAD_LOCK;
  if (spinHeldBy(ROOT + R_ROLES_LOCK, except)) return ROOT + R_ROLES_LOCK;
  if (spinHeldBy(ROOT + R_RES_LOCK, except)) return ROOT + R_RES_LOCK;
  if (spinHeldBy(ROOT + R_STATS_LOCK, except)) return ROOT + R_STATS_LOCK;
  for (let d = <usize>loadSynced(ROOT + R_DOMAIN_LIST); d != 0; d = <usize>load<u32>(d, D_NEXT)) {   // domains made in grown memory
    if (spinHeldBy(d + D_CHUNK_LOCK, except)) return d + D_CHUNK_LOCK;
    const pool = loadAcquire(d + D_ABANDON_LOCK);   // odd: an instance's word; else a thread record
    if ((pool & 1) != 0 ? isOther(pool >> 1, except) : threadHeldBy(pool, except)) return d + D_ABANDON_LOCK;
    if (!roles) continue;
    // Not by a SUSPENDED thread (paused by a stop whose callback, a collection say,
    // may run long: alive, it goes on when that stop ends), nor a collection whose
    // world is stopped (it is collecting). Only a holder that should be moving.
    if (runningHolder(loadAcquire(d + D_DQ_HOLDER), except)) return d + D_DQ_HOLDER;
    if (runningHolder(loadAcquire(d + D_QSBR_HOLDER), except)) return d + D_QSBR_HOLDER;
    const objects = <usize>load<u32>(d, D_OBJECTS);   // 0 while the domain is being made
    if (objects != 0) {
      const c = loadAcquire(objects + OR_GC_COLLECTING);
      if (runningHolder(c, except) && !worldStoppedBy(<usize>c, d)) return objects + OR_GC_COLLECTING;
    }
    // A stop of the domain: its scope lock holds the requester's serial. A reap
    // may need the world (a QSBR slot array that grows, say) or wait out a stop.
    if (runningHolder(threadOfSerial(loadAcquire(d + D_STW + S_MUTEX)), except)) return d + D_STW + S_MUTEX;
  }
  if (roles && runningHolder(threadOfSerial(loadAcquire(GLOBAL_STW + S_MUTEX)), except)) return GLOBAL_STW + S_MUTEX;
  return 0;
}

/** The instance instanceBlocking found. */
export let blockingInstance: u32 = 0;

// Is `holder` an instance id other than `except` and this one (then it is kept in blockingInstance)?
function isOther(holder: u32, except: u32): bool {
  if (holder == 0 || holder == 0xFFFFFFFF || holder == except || holder == instanceId) return false;
  blockingInstance = holder;
  return true;
}

// @ts-ignore: decorator
@inline function spinHeldBy(word: usize, except: u32): bool { return isOther(loadAcquire(word), except); }

// The record whose incarnation has serial `serial` (0: none), or 0. A walk of the push-only list.
function threadOfSerial(serial: u32): u32 {
  if (serial == 0) return 0;
  for (let t = <usize>loadSynced(ROOT + R_THREAD_LIST); t != 0; t = <usize>load<u32>(t, T_NEXT_ALL)) {
    if (loadAcquire(t + T_SERIAL) == serial) return <u32>t;
  }
  return 0;
}

// Thread record `t` (0: none), not SUSPENDED, belongs to another instance.
function runningHolder(t: u32, except: u32): bool {
  return t != 0 && loadAcquire(<usize>t + T_STATE) != THREAD_SUSPENDED && threadHeldBy(t, except);
}

// Has collector `t` of domain `d` the world stopped (its domain's or the global stop)?
function worldStoppedBy(t: usize, d: usize): bool {
  const serial = loadAcquire(t + T_SERIAL);
  return (loadAcquire(d + D_STW + S_STOPPED) != 0 && loadAcquire(d + D_STW + S_REQUESTER) == serial)
    || (loadAcquire(GLOBAL_STW + S_STOPPED) != 0 && loadAcquire(GLOBAL_STW + S_REQUESTER) == serial);
}

// Thread record `t` (0: none) is held by another instance: its owner's, or, while a
// reap releases it (owner already 0), the reaper's, which acts as the thread (its
// abandonSegments takes the pool lock in the record's name; a reaper that died
// there holds it until its own instance is reaped: lifecycle.ts reapsReleaseDead).
function threadHeldBy(t: u32, except: u32): bool {
  if (t == 0) return false;
  const owner = loadAcquire(<usize>t + T_OWNER);
  if (owner != 0) return isOther(owner, except);
  return loadAcquire(<usize>t + T_REAPED) == REAP_RELEASING && isOther(loadAcquire(<usize>t + T_REAPER), except);
}

/**
 * The slot holding `value` (0: a free slot), or 0. Lock-free: the list is
 * push-only (partner: instanceReserve's release stores); a slot read may be
 * cleared by a claim right after.
 */
function resFind(value: u32): usize {
  for (let c = <usize>loadAcquire(ROOT + R_RES_LIST); c != 0; c = <usize>loadAcquire(c + (<usize>RES_SLOTS << 2))) {
    for (let i: u32 = 0; i < RES_SLOTS; i++) {
      if (loadAcquire(c + (<usize>i << 2)) == value) return c + (<usize>i << 2);
    }
  }
  return 0;
}

/** A fresh id reserved for a worker about to start; 0 when no memory is left for its slot. */
export function instanceReserve(): u32 {
  spinLock(ROOT + R_RES_LOCK);
  debugPause(DP_RES_RESERVE);
  let slot = resFind(0);
  if (slot == 0) {
    const chunk = metaAlloc(RES_CHUNK);   // zeroed: free slots, no next chunk
    if (chunk == 0) { spinUnlock(ROOT + R_RES_LOCK); return 0; }
    storeRelease(chunk + (<usize>RES_SLOTS << 2), load<u32>(ROOT + R_RES_LIST));
    storeRelease(ROOT + R_RES_LIST, <u32>chunk);   // partner: resFind's acquire loads
    slot = chunk;
  }
  const id = addRelaxed(ROOT + R_INSTANCE_SERIAL, 1) + 1;
  storeRelease(slot, id);   // free until now (only claims write, and they write 0)
  spinUnlock(ROOT + R_RES_LOCK);
  return id;
}

/**
 * Take reserved id `id` off the list (adopted, or cancelled): false if it is not
 * there (never reserved, or taken). No lock (file comment): the CAS decides
 * between an adopting worker and the cancel of its reap.
 */
export function instanceClaim(id: u32): bool {
  if (id == 0) return false;
  const slot = resFind(id);
  debugPause(DP_RES_CLAIM);
  return slot != 0 && casAcqRel(slot, id, 0);
}
