// shared-map.ts — an open-addressing u32 -> u32 hash map: lock-free get/has and
// iteration, writes (set, swap, compareAndSet, take, delete) under the map's
// mutex, old tables reclaimed after a QSBR grace period. On the same tables, the
// u32 -> object map (SharedObjectMap; "Object maps" below): values are counted
// references, a lock-free get returns a new one.
//
// Every u32 is a valid key and a valid value. Linear probing over a power-of-two
// table; a deleted entry leaves a tombstone. A header (shared-handle.ts: magic,
// mutex, atomic storage pointer; fixed for the map's life; its address is the
// handle) points to the current table, which carries its own capacity and mask,
// so a reader that loaded the table pointer probes a self-consistent table
// without a lock.
//
// A key's home slot is the TOP bits of its hash (hash >>> clz(mask)), so homes
// follow hash order: iteration walks keys in increasing hash order with a cursor
// that is a position in hash space, not in a table (see "Iteration" below). The
// hash (lowbias32) is a bijection of u32: a hash names exactly one key.
//
// A slot's key is written once, before the slot leaves EMPTY, and never changes
// while the table is current: a key that is deleted and set again reuses its own
// slot (FULL -> TOMBSTONE -> FULL), and a tombstone is never given to another key.
// So each key has at most one slot per table, and slots never go back to EMPTY.
// Tombstones are cleared by rebuilding: when an insert would make FULL + TOMBSTONE
// slots exceed 3/4 of the capacity, the writer builds a new table from the FULL
// slots (sized for a load of at most 1/2), publishes it with one atomic store of
// the pointer, and hands the old one to freeDelayed (handleReplace: freed once
// every thread of the domain has passed a quiescent state). A delete that leaves
// fewer than capacity/8 entries rebuilds to a smaller table. A published table
// that is no longer current is never written again.
//
// ---- Linearizability -------------------------------------------------------------------
// Writes are serialised by the mutex and each that changes the map has one
// linearization point (LP), a single atomic store: a new key — the store of xvs
// (FULL) after its key store; an update, a delete (TOMBSTONE), a re-insert into
// its own tombstone — the store of xvs; an insert that rebuilds — the store of
// the header's table pointer. swap, take and compareAndSet return the state they
// read under the mutex: no other write can come between that read and their LP
// (every write holds the mutex), so the old value they return is the map's value
// just before their LP. A write that changes nothing (take or delete of an absent
// key, a failed compareAndSet, one that fails with ENOMEM) and size are reads
// under the mutex: LP = their load (nothing changes while the mutex is held).
// get(k) (lock-free): t = table; probe i = home(k), home(k)+1, ...: s = xvs[i];
//   - EMPTY at time tj: absent, LP = tj. Proof: suppose some slot x held k at tj.
//     x is not a slot probed before (we saw it non-EMPTY with another key, and keys
//     never change once non-EMPTY); x is not slot j (EMPTY). So x comes after j in
//     k's probe order; when k was put in x, x was the first EMPTY slot of that
//     order, so j was non-EMPTY then — and so at tj, since slots never become
//     EMPTY again. Contradiction.
//   - non-EMPTY with key k (the key, read after the state, was fixed before the
//     slot left EMPTY): this is k's slot; xvs loaded again (state and value are
//     one 64-bit word; never EMPTY again) gives the answer, FULL: value(s),
//     TOMBSTONE: absent. LP = that load.
//   - another key: next slot. An EMPTY slot is always found: used <= 3/4·capacity
//     in every state of a table, and the probe visits each slot once.
// If t stopped being current during the probe, it was frozen from the pointer
// store on, and its final state is the map's state just before that store (after
// our pointer load): the LP moves there. Readers never retry: get is wait-free.
// The map's size is read under the mutex (a lock-free count would lag a write).
//
// ---- Iteration (lock-free, not a snapshot) ----------------------------------------------
// next(after) returns the FULL key of least hash > h(after) (of least hash when
// `after` is none) with its value, or "done". Each step is one self-contained
// lock-free read: it loads the table pointer, scans, and keeps nothing, so between
// two steps the thread may checkpoint, detach or wait, and tables may be rebuilt
// and freed. The cursor is the last key returned: a position in hash order, which
// no rebuild changes. (Rejected: iterating one table that QSBR keeps alive — the
// thread could not pass a checkpoint or detach for the whole iteration, holding
// every grace period up, and a JS loop body cannot be trusted not to; iterating
// under the mutex in chunks — it blocks writers, and a slot index means nothing in
// the next table.)
// Scan: from home(from), from = h(after) + 1, to the table's end, keeping the FULL
// key of least hash >= from seen; stop at an EMPTY slot e once the best key's home
// is <= e; else go on at slot 0 (keys whose run wrapped past the end) up to the
// first EMPTY slot or home(from). It returns a hash h with from <= h <= h(K) for
// every key K present for the whole step with h(K) >= from. Proof: K's slot follows
// home(K) (cyclically) with no EMPTY slot between them, from before our pointer load
// on (slots never go back to EMPTY; a table retired meanwhile is frozen), and
// home(K) >= home(from) (homes are monotone in the hash). A key of home <
// home(from) has a hash < from, so it is never a candidate. If the scan stops at an
// EMPTY slot e: a K with home(K) <= e lies before e (its run did not wrap: the wrap
// would cross e) and was seen, so best <= h(K); a K with home(K) > e has a hash
// above the best key's (home <= e). If it does not stop there, it saw every slot
// from home(from) to the end and the wrapped run at the start: K was seen.
// Hence, over a whole iteration, returned hashes strictly increase — a key is
// returned at most once, whatever the writers do — and a key present from the
// first step's start to the last step's end is returned exactly once. A returned
// pair is one 64-bit load of a FULL slot: the map held it at that instant (or, for
// a table retired meanwhile, at the retirement, after our pointer load). Keys
// inserted or deleted during the iteration may or may not be returned, and the
// returned pairs need not have been in the map together at any one instant. A
// step scans about one cluster (plus the run of EMPTY slots before it), at most
// capacity slots: wait-free.
//
// A lock-free reader's thread must be attached for the whole read (a get, or one
// step of an iteration).
//
// ---- Object maps (u32 -> object) ---------------------------------------------------------
// A map made by omapNew has the magic OMAP_MAGIC in its header: the mode is in
// the shared header, so every worker that opens the handle gets it checked, and
// the u32 exports refuse an object map (and the object exports a u32 map):
// a raw u32 write can never corrupt the counts. A FULL slot's value is then an
// object of the map's domain (its header's segment's; the exports refuse a thread
// of another domain: objects must be counted in their own domain's BRC queues),
// and the map holds one counted reference to it (brc.ts):
//   every FULL slot of the current table holds the map's reference to its object;
//   the writer that removes a value from its slot (replace, take, delete, clear)
//   holds that reference from the removing store on, and releases it (take and
//   swap hand it to their caller).
// A writer publishes the object (brcShare: a non-owner's tryIncref may succeed)
// and counts the map's reference before the store that puts it in a slot (the
// caller's reference keeps it alive meanwhile), and releases an old value only
// after unlocking: the decref may deallocate, and a finalizer may call back into
// the map (it would deadlock on the mutex). The writes' LPs are the u32 map's.
// get (lock-free; CPython's _Py_TryXGetRef / _Py_TryIncrefCompare): t = the table,
// s = key's slot, w = its word (FULL, value o); tryIncref(o); then load s's word
// and the table pointer again: both unchanged -> return o, LP = that second load
// of the slot. Else give the reference back (a decref, which may deallocate: it
// was a real one) and retry from the table pointer; a failed tryIncref retries
// without one. Why that returns key's object, with a reference counted on it:
//   - at the re-load T_s, s holds o in a table that is current (it is current at
//     the first pointer load and at the later one, and a table is current over
//     one interval), so the map maps key to the object at o at T_s, and the map's
//     reference keeps that object live;
//   - our +1 (before T_s) went to the object at o at that time, and our reference
//     keeps it from dying; so it is the same object at T_s.
// The block at o may have been freed and reused since we loaded w: once the slot
// no longer holds o, its old object may die and its block go to a new object of
// the same size class. The address still starts an object header, the dead one
// or a new object's: the page is of a held tag (object.ts), so it is not reused
// for another size class or tag before our next quiescent state, and we pass
// none inside a get. tryIncref fails on the dead header (MERGED, count 0) and on
// a new object not yet published (shared word 0), and succeeds on a published
// live one: that one is returned only if the slot holds it at T_s (a writer
// stored it there: right), else the re-check fails and the reference goes back.
// The table check is needed: a retired table is frozen, so its slot still shows o
// after the map has moved on (and o's block may hold another object by then).
// Lock-free: each retry follows a change of s's word or of the table pointer
// (a writer's progress) — a failed tryIncref too, since while s holds o the map's
// reference keeps o published with a count >= 1.
// Iteration steps claim their entry the same way (the scanned slot re-checked):
// each comes with a new reference. get under the mutex (benchmarks) increfs
// under the lock. clear and destroy take every value out under the mutex (clear:
// one LP, the store of a fresh empty table) and release them after it.
//
// Layout (every field other threads touch is atomic):
//
//   header: shared-handle.ts, with magic MAP_MAGIC (OMAP_MAGIC: an object map);
//   its storage is the table
//
//   table (16 + 16·capacity B, a MEM block of the writer that made it)
//   +0   capacity u32         slots, a power of two; immutable once published
//   +4   mask     u32         capacity - 1; immutable once published
//   +8   size     u32 (mutex) FULL slots
//   +12  used     u32 (mutex) FULL + TOMBSTONE slots
//   +16  slots[capacity], 16 B each:
//        +0  key  u32 atomic  stored once by the mutex holder while the slot is EMPTY
//        +4  (unused)
//        +8  xvs  u64 atomic  value (bits 0..31) | state (bits 32..63): EMPTY 0,
//                             FULL 1, TOMBSTONE 2; stored by the mutex holder.
//                             Object map: a FULL value is an object's address
//
// Invariants: capacity = 2^k >= MAP_MIN_SLOTS; size = |FULL|; used = |FULL| +
// |TOMBSTONE| <= capacity·3/4; every FULL or TOMBSTONE key is found by probing
// from its home slot; no key is in two slots (mapIsValid checks them). Object
// map: every FULL value is a live object of the map's domain, counted once for
// each FULL slot that holds it (omapIsValid checks it is live).
//
// Destroy hands the header and the table to freeDelayed (shared-handle.ts): a
// read racing it returns the old contents or EINVAL_PTR. No thread may use the
// map after its destroy. An object map's destroy first clears it (its values
// released); a write racing a destroy (already a caller's bug) may leak its value,
// never free it under a reader.
//
// See also: shared-handle.ts, shared-list.ts, delayed-free.ts, mutex.ts,
// critical-section.ts (lockDetaching).

import { loadAcquire, loadAcquire64, storeRelease, storeRelease64 } from "./atomics";
import { blockUsableSize, heapMalloc } from "./alloc";
import { brcIncref, brcRefcount, brcShare, brcTryIncref } from "./brc";
import { curHeap, curThread } from "./current";
import { DP_HANDLE_READ, DP_OMAP_LOADED, debugPause, debugReadDelay } from "./debug-delay";
import { EINVAL_ARG, EINVAL_PTR, EINVAL_SIZE, ENOMEM, ENOT_ATTACHED, OK, peekError, setError } from "./errors";
import { ftFree } from "./free";
import { FT_DEBUG_BUILD, SEG_DOMAIN, T_DOMAIN, THREAD_ATTACHED } from "./layout";
import { objCheckLive, objDecref } from "./object";
import { segmentOf } from "./segment";
import { HF_BORROWED, handleDestroy, handleFlags, handleGone, handleIsLive, handleIsValid, handleLock, handleLockFailed, handleNew,
  handleReplace, handleStorage, handleUnlock } from "./shared-handle";
import { decrefDelayed } from "./delayed-free";
import { threadState } from "./thread";
import { memFill, memHas } from "./os";

export const MAP_MAGIC: u32 = 0x2150414D;               // "MAP!" (little-endian bytes)
export const OMAP_MAGIC: u32 = 0x21504D4F;              // "OMP!": an object map
export const MAP_MIN_SLOTS: u32 = 8;
export const MAP_MAX_SLOTS: u32 = 1 << 26;               // 1 GiB of slots
/** get, swap, take: the key is absent; compareAndSet: expect it absent; next: done, or start. */
export const MAP_NONE: f64 = -1;
/** The f64 reads' error result (the code is in lastError). */
const MAP_ERROR: f64 = -2;

const T_CAPACITY: usize = 0;
const T_MASK: usize = 4;
const T_SIZE: usize = 8;
const T_USED: usize = 12;
const T_SLOTS: usize = 16;
const SLOT_SHIFT: u32 = 4;                               // 16-byte slots
const S_KEY: usize = 0;
const S_VS: usize = 8;

// Slot states: the high half of xvs.
const EMPTY: u32 = 0;
const FULL: u32 = 1;
const TOMBSTONE: u32 = 2;

// ---- Packed value/state word and hashing ---------------------------------------------

// @ts-ignore: decorator
@inline function vs(value: u32, state: u32): u64 { return <u64>value | (<u64>state << 32); }
// @ts-ignore: decorator
@inline function valueOf(w: u64): u32 { return <u32>w; }
// @ts-ignore: decorator
@inline function stateOf(w: u64): u32 { return <u32>(w >> 32); }

/**
 * A 32-bit mixer (lowbias32): every key bit moves the top bits a home slot keeps.
 * A bijection (xor-shifts and odd multipliers are invertible): one key per hash.
 */
// @ts-ignore: decorator
@inline function mapHash(key: u32): u32 {
  let h = key;
  h ^= h >> 16; h *= 0x7FEB352D;
  h ^= h >> 15; h *= 0x846CA68B;
  h ^= h >> 16;
  return h;
}

/** The home slot of hash `h` in a table of mask `mask`: its top bits, so homes follow hash order. */
// @ts-ignore: decorator
@inline function homeOf(h: u32, mask: u32): u32 { return h >>> clz(mask); }   // mask >= 7: shift <= 29
// @ts-ignore: decorator
@inline function slot(t: usize, i: u32): usize { return t + T_SLOTS + (<usize>i << SLOT_SHIFT); }
// @ts-ignore: decorator
@inline function tableBytes(capacity: u32): usize { return T_SLOTS + (<usize>capacity << SLOT_SHIFT); }
// @ts-ignore: decorator
@inline function maxUsed(capacity: u32): u32 { return capacity - (capacity >> 2); }   // 3/4
// @ts-ignore: decorator
@inline function mapTable(map: usize): usize { return handleStorage(map); }

/** Slots for `n` entries at a load of at most 1/2 (>= MAP_MIN_SLOTS); 0 above MAP_MAX_SLOTS. */
function slotsFor(n: u32): u32 {
  let c: u64 = <u64>MAP_MIN_SLOTS;
  while (c < (<u64>n << 1)) c <<= 1;
  return c > <u64>MAP_MAX_SLOTS ? 0 : <u32>c;
}

// ---- Handles --------------------------------------------------------------------------

/** Cheap check that `map` is a live map's header (handleIsLive). */
export function mapIsHandle(map: usize): bool {
  return handleIsLive(map, MAP_MAGIC);
}

/** Cheap check that `map` is a live object map's header (handleIsLive). */
export function omapIsHandle(map: usize): bool {
  return handleIsLive(map, OMAP_MAGIC);
}

/** Expensive validator (tests): the invariants of the file comment. O(capacity²) worst case. */
export function mapIsValid(map: usize): bool {
  return tableIsValid(map, MAP_MAGIC);
}

/** mapIsValid for an object map, and every value is a live object of this thread's domain (not under the mutex: tests). */
export function omapIsValid(map: usize): bool {
  if (!tableIsValid(map, OMAP_MAGIC)) return false;
  const t = mapTable(map);
  const cap = load<u32>(t, T_CAPACITY);
  for (let i: u32 = 0; i < cap; i++) {
    const w = loadAcquire64(slot(t, i) + S_VS);
    if (stateOf(w) != FULL) continue;
    const o = <usize>valueOf(w);
    if (objCheckLive(o) != OK || brcRefcount(o) == 0) return false;
  }
  return true;
}

function tableIsValid(map: usize, magic: u32): bool {
  if (!handleIsValid(map, magic)) return false;
  const t = mapTable(map);
  const cap = load<u32>(t, T_CAPACITY);
  if (cap < MAP_MIN_SLOTS || cap > MAP_MAX_SLOTS || popcnt(cap) != 1) return false;
  if (load<u32>(t, T_MASK) != cap - 1) return false;
  if (blockUsableSize(t) < tableBytes(cap)) return false;
  let full: u32 = 0, used: u32 = 0;
  for (let i: u32 = 0; i < cap; i++) {
    const s = slot(t, i);
    const st = stateOf(loadAcquire64(s + S_VS));
    if (st == EMPTY) continue;
    if (st != FULL && st != TOMBSTONE) return false;
    used++;
    if (st == FULL) full++;
    if (slotFind(t, loadAcquire(s + S_KEY)) != s) return false;   // found from its hash, and only there
  }
  return full == load<u32>(t, T_SIZE) && used == load<u32>(t, T_USED) && used <= maxUsed(cap);
}

// ---- Tables ----------------------------------------------------------------------------

/**
 * The slot holding `key` (FULL or TOMBSTONE), or else the first EMPTY slot of
 * its probe sequence (where it would go). Writers (under the mutex) and validators.
 */
function slotFind(t: usize, key: u32): usize {
  const mask = load<u32>(t, T_MASK);
  let i = homeOf(mapHash(key), mask);
  while (true) {
    const s = slot(t, i);
    if (stateOf(loadAcquire64(s + S_VS)) == EMPTY || loadAcquire(s + S_KEY) == key) return s;
    i = (i + 1) & mask;
  }
  return 0;
}

/** A new, private, empty table of `capacity` slots; 0 on ENOMEM. */
function tableMake(capacity: u32): usize {
  const t = heapMalloc(curHeap, tableBytes(capacity));
  if (t == 0) return 0;
  if (FT_DEBUG_BUILD) {
    if ((t & 7) != 0) unreachable();   // xvs must be 8-aligned for the 64-bit atomics
  }
  store<u32>(t, capacity, T_CAPACITY);
  store<u32>(t, capacity - 1, T_MASK);
  store<u32>(t, 0, T_SIZE);
  store<u32>(t, 0, T_USED);
  memFill(slot(t, 0), 0, <usize>capacity << SLOT_SHIFT);   // all EMPTY
  return t;
}

/** Put a key known to be absent into a private table (plain stores: not published yet). */
function tablePut(t: usize, key: u32, value: u32): void {
  const s = slotFind(t, key);
  store<u32>(s, key, S_KEY);
  store<u64>(s, vs(value, FULL), S_VS);
  store<u32>(t, load<u32>(t, T_SIZE) + 1, T_SIZE);
  store<u32>(t, load<u32>(t, T_USED) + 1, T_USED);
}

/**
 * Replace the current table `t` by a new one of `capacity` slots holding its FULL
 * entries (and key -> value when `withNew`). OK, or ENOMEM with nothing changed.
 */
function mapRebuild(map: usize, t: usize, capacity: u32, withNew: bool, key: u32, value: u32): i32 {
  if (capacity == 0) return ENOMEM;
  const n = tableMake(capacity);
  if (n == 0) return ENOMEM;
  const cap = load<u32>(t, T_CAPACITY);
  for (let i: u32 = 0; i < cap; i++) {
    const s = slot(t, i);
    const w = loadAcquire64(s + S_VS);
    if (stateOf(w) == FULL) tablePut(n, loadAcquire(s + S_KEY), valueOf(w));
  }
  if (withNew) tablePut(n, key, value);
  handleReplace(map, t, n);   // LP; readers may still probe `t`: freed after a grace period
  return OK;
}

// ---- Creation and destruction ------------------------------------------------------

/** A new empty map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM). */
export function mapNew(expected: u32): usize {
  const capacity = slotsFor(expected);
  if (capacity == 0) { setError(EINVAL_SIZE); return 0; }
  return handleNew(MAP_MAGIC, tableMake(capacity));
}

/** Destroy: the header now, the table after a grace period. No other thread may use the map afterwards. */
export function mapDestroy(map: usize): i32 {
  return handleDestroy(map);
}

// ---- Lock-free reads (the caller is attached) -------------------------------------------

/**
 * Lock-free: the slot of `key` in table `t` (FULL or TOMBSTONE: load its word for
 * the answer), or 0 when the probe met an EMPTY slot first (absent; LP that load).
 */
// @ts-ignore: decorator
@inline function slotProbe(t: usize, key: u32): usize {
  const mask = load<u32>(t, T_MASK);   // immutable once published
  let i = homeOf(mapHash(key), mask);
  for (let n: u32 = 0; n <= mask; n++) {
    const s = slot(t, i);
    if (stateOf(loadAcquire64(s + S_VS)) == EMPTY) return 0;   // partner: the writers' storeRelease64
    if (loadAcquire(s + S_KEY) == key) return s;                // fixed before the slot left EMPTY
    i = (i + 1) & mask;
  }
  return 0;   // not reached: a table always has an EMPTY slot
}

/**
 * The value of `key`, or MAP_NONE. Wait-free; see the file comment for why it is
 * linearizable. Inlined: it is the hot path of every reader.
 */
// @ts-ignore: decorator
@inline export function mapGet(map: usize, key: u32): f64 {
  debugPause(DP_HANDLE_READ);          // tests: a destroy between the handle check and here
  const t = mapTable(map);
  if (t == 0) return handleGone();     // destroyed after the handle check
  debugReadDelay();                    // tests: widen the window a free would hit
  const s = slotProbe(t, key);
  if (s == 0) return MAP_NONE;
  const w = loadAcquire64(s + S_VS);   // LP: FULL or TOMBSTONE (never EMPTY again)
  return stateOf(w) == FULL ? <f64>valueOf(w) : MAP_NONE;
}

/** get under the mutex (for benchmarks against the lock-free read). */
export function mapGetLocked(map: usize, key: u32): f64 {
  if (!handleLock(map)) return MAP_ERROR;
  const w = loadAcquire64(slotFind(mapTable(map), key) + S_VS);
  handleUnlock(map);
  return stateOf(w) == FULL ? <f64>valueOf(w) : MAP_NONE;
}

/** Entries, read under the mutex; -EINVAL_PTR when destroyed meanwhile. */
export function mapSize(map: usize): i32 {
  if (!handleLock(map)) return -handleLockFailed();
  const n = load<u32>(mapTable(map), T_SIZE);
  handleUnlock(map);
  return <i32>n;
}

/** Slots of the current table; -EINVAL_PTR when destroyed after the handle check. */
export function mapCapacity(map: usize): i32 {
  const t = mapTable(map);
  if (t == 0) { setError(EINVAL_PTR); return -EINVAL_PTR; }
  return <i32>load<u32>(t, T_CAPACITY);   // immutable once published
}

// ---- Lock-free iteration (the caller is attached) ----------------------------------------

/** Per instance (Wasm globals are not shared): the value of the key mapNext last returned. */
let nextValue: u32 = 0;

/** Whether `x` is a u32 (an integer 0 .. 2^32-1), or MAP_NONE when `orNone`. */
// @ts-ignore: decorator
@inline function isU32Arg(x: f64, orNone: bool): bool {
  return (orNone && x == MAP_NONE) || (x >= 0 && x <= <f64>u32.MAX_VALUE && floor<f64>(x) == x);
}

/**
 * The key of least hash after `after`'s (MAP_NONE: the first), its value left for
 * mapNextValue; MAP_NONE when there is none; -2 on EINVAL_ARG (after not a u32 or
 * MAP_NONE) or EINVAL_PTR. Wait-free; keeps nothing between calls. See the file
 * comment ("Iteration") for the scan and what an iteration guarantees.
 */
export function mapNext(map: usize, after: f64): f64 {
  if (!isU32Arg(after, true)) { setError(EINVAL_ARG); return MAP_ERROR; }
  const from = cursorFrom(after);
  if (from < 0) return MAP_NONE;
  debugPause(DP_HANDLE_READ);          // tests: a destroy between the handle check and here
  const t = mapTable(map);
  if (t == 0) return handleGone();
  debugReadDelay();                    // tests: widen the window a rebuild or a free would hit
  const s = tableScan(t, <u32>from);
  if (s == 0) return MAP_NONE;
  nextValue = valueOf(scanWord);
  return <f64>loadAcquire(s + S_KEY);
}

/** The least hash an iteration step after `after` (a u32 or MAP_NONE) wants; -1: none is left. */
// @ts-ignore: decorator
@inline function cursorFrom(after: f64): i64 {
  if (after == MAP_NONE) return 0;
  const h = mapHash(<u32>after);
  return h == u32.MAX_VALUE ? -1 : <i64>h + 1;   // the last hash: nothing after it
}

/** Per instance: the word tableScan loaded from the slot it returned. */
let scanWord: u64 = 0;

/**
 * The scan of one iteration step (the file comment, "Iteration"): the FULL slot
 * of t whose key has the least hash >= `from`, its word left in scanWord; 0 if none.
 */
function tableScan(t: usize, from: u32): usize {
  const mask = load<u32>(t, T_MASK);   // immutable once published
  const start = homeOf(from, mask);
  let best: usize = 0, bestHash: u32 = 0, bestWord: u64 = 0;
  for (let n: u32 = 0; n <= mask; n++) {
    const i = (start + n) & mask;
    const s = slot(t, i);
    const w = loadAcquire64(s + S_VS);                 // partner: the writers' storeRelease64
    const st = stateOf(w);
    if (st == EMPTY) {
      if (i < start) break;   // past the table's end, only the run that wrapped counts
      // Every key of home in [start, i] was seen; later homes have larger hashes.
      if (best != 0 && homeOf(bestHash, mask) <= i) break;
      continue;
    }
    if (st != FULL) continue;
    const h = mapHash(loadAcquire(s + S_KEY));         // the key was fixed before the slot left EMPTY
    if (h >= from && (best == 0 || h < bestHash)) { best = s; bestHash = h; bestWord = w; }
  }
  scanWord = bestWord;
  return best;
}

/** The value of the key this instance's last mapNext returned (read in the same load as its state). */
export function mapNextValue(): u32 {
  return nextValue;
}

// ---- Writes (under the mutex) -------------------------------------------------------------

/**
 * Under the mutex: key -> value in the current table `t`, where `s` is key's slot
 * (slotFind) and `st` its state. OK, or ENOMEM with nothing changed.
 */
function tableStore(map: usize, t: usize, s: usize, st: u32, key: u32, value: u32): i32 {
  const size = load<u32>(t, T_SIZE);
  if (st != EMPTY) {
    storeRelease64(s + S_VS, vs(value, FULL));              // LP (update, or re-insert into its tombstone)
    if (st == TOMBSTONE) store<u32>(t, size + 1, T_SIZE);
    return OK;
  }
  const used = load<u32>(t, T_USED);
  if (used + 1 > maxUsed(load<u32>(t, T_CAPACITY))) {
    return mapRebuild(map, t, slotsFor(size + 1), true, key, value);   // LP in handleReplace
  }
  storeRelease(s + S_KEY, key);                             // while EMPTY: no reader looks at it
  storeRelease64(s + S_VS, vs(value, FULL));                // LP
  store<u32>(t, size + 1, T_SIZE);
  store<u32>(t, used + 1, T_USED);
  return OK;
}

/** Under the mutex: remove the FULL slot `s` of the current table `t`; may rebuild smaller (never fails). */
function tableRemove(map: usize, t: usize, s: usize): void {
  storeRelease64(s + S_VS, vs(0, TOMBSTONE));               // LP
  const size = load<u32>(t, T_SIZE) - 1;
  store<u32>(t, size, T_SIZE);
  const cap = load<u32>(t, T_CAPACITY);
  if (cap > MAP_MIN_SLOTS && size < (cap >> 3)) {
    const smaller = slotsFor(size);
    if (smaller < cap) mapRebuild(map, t, smaller, false, 0, 0);   // ENOMEM: keep the larger table
  }
}

/** Debug build: the load bound still holds after a write (under the mutex). */
// @ts-ignore: decorator
@inline function mapCheckLoad(map: usize): void {
  if (FT_DEBUG_BUILD) {
    const t = mapTable(map);
    if (load<u32>(t, T_USED) > maxUsed(load<u32>(t, T_CAPACITY))) unreachable();
  }
}

/** key -> value. ENOMEM (unchanged) when a rebuild cannot get a new table. */
export function mapSet(map: usize, key: u32, value: u32): i32 {
  if (!handleLock(map)) return handleLockFailed();
  const t = mapTable(map);
  const s = slotFind(t, key);
  const rc = tableStore(map, t, s, stateOf(loadAcquire64(s + S_VS)), key, value);
  mapCheckLoad(map);
  handleUnlock(map);
  return rc;
}

/**
 * key -> value, returning the value it replaced (MAP_NONE: it was absent); -2 on
 * ENOMEM (unchanged) or EINVAL_PTR. The old value is the map's just before the LP.
 */
export function mapSwap(map: usize, key: u32, value: u32): f64 {
  if (!handleLock(map)) return MAP_ERROR;
  const t = mapTable(map);
  const s = slotFind(t, key);
  const w = loadAcquire64(s + S_VS);
  const rc = tableStore(map, t, s, stateOf(w), key, value);
  mapCheckLoad(map);
  handleUnlock(map);
  if (rc != OK) { setError(rc); return MAP_ERROR; }
  return stateOf(w) == FULL ? <f64>valueOf(w) : MAP_NONE;
}

/**
 * key -> value if key's value is `expected` (MAP_NONE: if key is absent): 1 set,
 * 0 not (the map unchanged), or -code (EINVAL_ARG: expected neither a u32 nor
 * MAP_NONE; ENOMEM, unchanged; EINVAL_PTR).
 */
export function mapCompareAndSet(map: usize, key: u32, expected: f64, value: u32): i32 {
  return compareAndStore(map, key, expected, value, false);
}

/** Per instance: the word compareAndStore's store replaced (an object map releases its value), and whether it retained. */
let casOld: u64 = 0;
let casRetained: bool = false;

/**
 * Both maps' compare-and-set, under the mutex: `value` stored if key's value is
 * `expected` (MAP_NONE: absent); an object map's reference to it taken first
 * (`retain`). 1 (the replaced word in casOld), 0, or -code (lastError set).
 */
function compareAndStore(map: usize, key: u32, expected: f64, value: u32, retain: bool): i32 {
  casRetained = false;
  if (!isU32Arg(expected, true)) { setError(EINVAL_ARG); return -EINVAL_ARG; }
  if (!handleLock(map)) return -handleLockFailed();
  const t = mapTable(map);
  const s = slotFind(t, key);
  const w = loadAcquire64(s + S_VS);
  const st = stateOf(w);
  const current = st == FULL ? <f64>valueOf(w) : MAP_NONE;
  let r = 0;                                                 // failed: LP = the load above
  if (current == expected) {
    if (retain) { omapRetain(<usize>value); casRetained = true; }
    const rc = tableStore(map, t, s, st, key, value);       // LP
    r = rc == OK ? 1 : -rc;
  }
  mapCheckLoad(map);
  handleUnlock(map);
  casOld = w;
  if (r < 0) setError(-r);
  return r;
}

/**
 * Remove `key`, returning its value (MAP_NONE: it was absent; -2 on EINVAL_PTR).
 * May rebuild to a smaller table (never fails).
 */
export function mapTake(map: usize, key: u32): f64 {
  if (!handleLock(map)) return MAP_ERROR;
  const t = mapTable(map);
  const s = slotFind(t, key);
  const w = loadAcquire64(s + S_VS);                         // absent: LP
  const full = stateOf(w) == FULL;
  if (full) tableRemove(map, t, s);
  handleUnlock(map);
  return full ? <f64>valueOf(w) : MAP_NONE;
}

/** Remove `key`: 1 if it was there, 0 if not, or -code (EINVAL_PTR, EAGAIN: mapTake without the value). */
export function mapDelete(map: usize, key: u32): i32 {
  const v = mapTake(map, key);
  return v >= 0 ? 1 : v == MAP_NONE ? 0 : -peekError();   // the code mapTake left (EINVAL_PTR, EAGAIN)
}

// ---- Object maps (the file comment, "Object maps") ------------------------------------------

/** A new empty object map where `expected` entries fit without a resize; 0 on error (EINVAL_SIZE, ENOMEM). */
export function omapNew(expected: u32, borrowed: bool = false): usize {
  const capacity = slotsFor(expected);
  if (capacity == 0) { setError(EINVAL_SIZE); return 0; }
  return handleNew(OMAP_MAGIC, tableMake(capacity), borrowed ? HF_BORROWED : 0);
}

/** Was `map` made for borrowed reads? */
// @ts-ignore: decorator
@inline export function omapBorrowed(map: usize): bool {
  return (handleFlags(map) & HF_BORROWED) != 0;
}

/**
 * Let go of the map's reference to `o`: at once, or — in a map made for
 * borrowed reads — after every thread of the domain passed a quiescent state
 * (decrefDelayed), so a reader's borrowed pointer stays good until its own next
 * checkpoint. No room for that queue item (meta memory exhausted): the
 * reference is kept (a leak, never a use after free).
 */
function omapDrop(borrowed: bool, o: usize): void {
  if (!borrowed) objDecref(o);
  else decrefDelayed(o);
}

/**
 * Lock-free, for a map made for borrowed reads: the object of `key` without a
 * reference of its own (MAP_NONE if absent, -2 on error), good until this
 * thread's next quiescent state (checkpoint, detach): whatever the map lets go
 * of meanwhile is released only after that. LP: the slot's load.
 */
// @ts-ignore: decorator
@inline export function omapGetBorrowed(map: usize, key: u32): f64 {
  debugPause(DP_HANDLE_READ);
  const t = mapTable(map);
  if (t == 0) return handleGone();
  debugReadDelay();
  const s = slotProbe(t, key);
  if (s == 0) return MAP_NONE;
  const w = loadAcquire64(s + S_VS);     // LP
  return stateOf(w) == FULL ? <f64>valueOf(w) : MAP_NONE;
}

/** Is the object map `map` of the current thread's domain (the domain of its header's segment)? */
// @ts-ignore: decorator
@inline export function omapInDomain(map: usize): bool {
  return load<u32>(segmentOf(map), SEG_DOMAIN) == load<u32>(curThread, T_DOMAIN);
}

/**
 * After a failed claim gave its reference back (a decref, which may have run a
 * finalizer): may the read retry? False (ENOT_ATTACHED) if the finalizer left the
 * thread detached: a read is protected only while its thread is attached.
 */
function omapMayRetry(): bool {
  if (threadState(curThread) == THREAD_ATTACHED) return true;
  setError(ENOT_ATTACHED);
  return false;
}

/**
 * Lock-free: take a reference to the object in slot `s` of table `t`, whose word
 * was `w` (FULL), and check the map still holds it there: true, with our
 * reference counted on it (LP: the slot's re-load), or false with nothing held
 * (retry). See the file comment for why this is right when the object was freed
 * and its block reused meanwhile.
 */
// @ts-ignore: decorator
@inline function omapClaim(map: usize, t: usize, s: usize, w: u64): bool {
  const o = <usize>valueOf(w);
  debugPause(DP_OMAP_LOADED);          // tests: the slot replaced and `o` freed (and its block reused) here
  debugReadDelay();
  memHas(<u64>o + 1);                  // an object another thread made in memory grown since this instance looked (os.ts)
  if (!brcTryIncref(o)) return false;  // dead, or a new object at `o` not yet published: the slot has changed
  if (loadAcquire64(s + S_VS) == w && mapTable(map) == t) return true;   // LP (t current: its pointer still loads)
  objDecref(o);                        // a real reference (maybe to a new object at `o`): it may be the last
  return false;
}

/**
 * Lock-free: the object of `key` with a new reference (the caller decrefs it),
 * MAP_NONE if absent, or -2 (EINVAL_PTR: destroyed; ENOT_ATTACHED). Retries
 * only after a writer changed key's slot or the table.
 */
// @ts-ignore: decorator
@inline export function omapGet(map: usize, key: u32): f64 {
  while (true) {
    debugPause(DP_HANDLE_READ);          // tests: a destroy between the handle check and here
    const t = mapTable(map);
    if (t == 0) return handleGone();
    debugReadDelay();
    const s = slotProbe(t, key);
    if (s == 0) return MAP_NONE;
    const w = loadAcquire64(s + S_VS);   // absent (TOMBSTONE): LP
    if (stateOf(w) != FULL) return MAP_NONE;
    if (omapClaim(map, t, s, w)) return <f64>valueOf(w);
    if (!omapMayRetry()) return MAP_ERROR;
  }
}

/** omapGet under the mutex (for benchmarks against the lock-free read): the map's reference keeps the object live. */
export function omapGetLocked(map: usize, key: u32): f64 {
  if (!handleLock(map)) return MAP_ERROR;
  const w = loadAcquire64(slotFind(mapTable(map), key) + S_VS);
  const full = stateOf(w) == FULL;
  if (full) brcIncref(<usize>valueOf(w));
  handleUnlock(map);
  return full ? <f64>valueOf(w) : MAP_NONE;
}

/**
 * Lock-free iteration step (mapNext) whose entry comes with a new reference on
 * its object when `withRef` (the caller decrefs it; the value for
 * mapNextValue), claimed like a get: a step whose claim fails scans again from
 * the same cursor, so the iteration guarantees of mapNext hold.
 */
export function omapNext(map: usize, after: f64, withRef: bool): f64 {
  if (!isU32Arg(after, true)) { setError(EINVAL_ARG); return MAP_ERROR; }
  const from = cursorFrom(after);
  if (from < 0) return MAP_NONE;
  while (true) {
    debugPause(DP_HANDLE_READ);
    const t = mapTable(map);
    if (t == 0) return handleGone();
    debugReadDelay();
    const s = tableScan(t, <u32>from);
    if (s == 0) return MAP_NONE;
    const w = scanWord;
    if (!withRef || omapClaim(map, t, s, w)) {
      nextValue = valueOf(w);
      return <f64>loadAcquire(s + S_KEY);
    }
    if (!omapMayRetry()) return MAP_ERROR;
  }
}

/** Under the mutex, before the store that puts `o` in a slot: publish it and count the map's reference. */
// @ts-ignore: decorator
@inline function omapRetain(o: usize): void {
  brcShare(o);    // before the store: readers' tryIncref must be able to succeed once they see it
  brcIncref(o);   // the caller's reference keeps `o` live
}

/** A value the map gave up (its reference, now the writer's), released after the mutex: it may deallocate. */
// @ts-ignore: decorator
@inline function omapRelease(map: usize, w: u64): void {
  if (stateOf(w) == FULL) omapDrop(omapBorrowed(map), <usize>valueOf(w));
}

/** Per instance: the word omapPut's store replaced (its value's reference is the caller's now). */
let putOld: u64 = 0;

/**
 * key -> `o` (a live object of this domain: the caller checked it, and holds a
 * reference that keeps it live), with the map's own reference. OK, the replaced
 * word in putOld; or ENOMEM / EINVAL_PTR with nothing changed.
 */
function omapPut(map: usize, key: u32, o: usize): i32 {
  if (!handleLock(map)) return handleLockFailed();
  const t = mapTable(map);
  const s = slotFind(t, key);
  const w = loadAcquire64(s + S_VS);
  omapRetain(o);
  const rc = tableStore(map, t, s, stateOf(w), key, <u32>o);   // LP
  mapCheckLoad(map);
  handleUnlock(map);
  putOld = w;
  if (rc != OK) objDecref(o);   // the map's reference undone (the caller's keeps `o`): unchanged
  return rc;
}

/** key -> `o` (see omapPut), the old value released after the unlock. OK, ENOMEM, EINVAL_PTR (unchanged). */
export function omapSet(map: usize, key: u32, o: usize): i32 {
  const rc = omapPut(map, key, o);
  if (rc == OK) omapRelease(map, putOld);
  return rc;
}

/**
 * key -> `o` (see omapPut), returning the object it replaced, the map's
 * reference handed to the caller (MAP_NONE: absent), or -2 (ENOMEM, EINVAL_PTR:
 * unchanged).
 */
export function omapSwap(map: usize, key: u32, o: usize): f64 {
  const rc = omapPut(map, key, o);
  if (rc != OK) { setError(rc); return MAP_ERROR; }
  if (stateOf(putOld) != FULL) return MAP_NONE;
  return omapHandOver(map, <usize>valueOf(putOld));
}

/**
 * The map's reference to `o`, which it no longer holds, goes to the caller. In
 * a map made for borrowed reads the caller gets a reference of its own instead
 * and the map's is released after the grace period: whatever the caller does
 * with its reference, a reader's borrowed pointer stays good until its next
 * quiescent state.
 */
export function omapHandOver(map: usize, o: usize): f64 {
  if (omapBorrowed(map)) {
    brcIncref(o);
    omapDrop(true, o);
  }
  return <f64>o;
}

/** Remove `key`, handing its object to the caller (omapHandOver): the object, MAP_NONE, or -2. */
export function omapTake(map: usize, key: u32): f64 {
  const borrowed = omapBorrowed(map);
  const v = mapTake(map, key);
  if (v < 0 || !borrowed) return v;
  brcIncref(<usize>v);
  omapDrop(true, <usize>v);
  return v;
}

/**
 * key -> `o` if key's object is `expected` (an address; MAP_NONE: if absent): 1
 * set (the old value released), 0 not (unchanged), or -code (EINVAL_ARG, ENOMEM:
 * unchanged, EINVAL_PTR).
 */
export function omapCompareAndSet(map: usize, key: u32, expected: f64, o: usize): i32 {
  const r = compareAndStore(map, key, expected, <u32>o, true);
  if (r < 0 && casRetained) objDecref(o);   // retained, not stored (ENOMEM): the map's reference undone
  if (r == 1) omapRelease(map, casOld);
  return r;
}

/** Remove `key` and release its object: 1 if it was there, 0 if not, or -code (EINVAL_PTR, EAGAIN). */
export function omapDelete(map: usize, key: u32): i32 {
  const borrowed = omapBorrowed(map);
  const v = mapTake(map, key);                // the map's reference is ours now; the mutex released
  if (v >= 0) { omapDrop(borrowed, <usize>v); return 1; }
  return v == MAP_NONE ? 0 : -peekError();   // the code omapTake left
}

/** Per instance: the values omapTakeAll copied out (a private block) and their number. */
let takenList: usize = 0;
let takenCount: u32 = 0;

/**
 * Under the mutex (taken and released here): copy every value out to a private
 * block (takenList, takenCount; 0 when empty), then replace the table by a fresh
 * empty one when `replace` (the LP of a clear). The caller releases the values
 * afterwards — outside the mutex, and not from the old table, which a finalizer's
 * quiescent state could let be freed. OK, or ENOMEM / EINVAL_PTR: nothing changed.
 */
function omapTakeAll(map: usize, replace: bool): i32 {
  takenList = 0;
  takenCount = 0;
  if (!handleLock(map)) return handleLockFailed();
  const t = mapTable(map);
  const n = load<u32>(t, T_SIZE);
  if (n == 0) { handleUnlock(map); return OK; }
  const held = heapMalloc(curHeap, <usize>n << 2);
  const fresh = held != 0 && replace ? tableMake(MAP_MIN_SLOTS) : 0;
  if (held == 0 || (replace && fresh == 0)) {
    handleUnlock(map);
    if (held != 0) ftFree(held);
    return ENOMEM;
  }
  const cap = load<u32>(t, T_CAPACITY);
  let k: u32 = 0;
  for (let i: u32 = 0; i < cap; i++) {
    const w = loadAcquire64(slot(t, i) + S_VS);
    if (stateOf(w) == FULL) { store<u32>(held + (<usize>k << 2), valueOf(w)); k++; }
  }
  if (replace) handleReplace(map, t, fresh);   // LP; readers may still probe `t`: freed after a grace period
  handleUnlock(map);
  takenList = held;
  takenCount = k;
  return OK;
}

/** Release the values omapTakeAll copied out (finalizers may run, and use the map), and free the copy. */
function omapReleaseTaken(borrowed: bool): void {
  const held = takenList, n = takenCount;   // a finalizer's own clear would overwrite them
  takenList = 0;
  takenCount = 0;
  for (let i: u32 = 0; i < n; i++) omapDrop(borrowed, <usize>load<u32>(held + (<usize>i << 2)));
  if (held != 0) ftFree(held);
}

/**
 * Remove every entry at once (LP: the store of a fresh empty table) and release
 * the objects afterwards. OK, or ENOMEM / EINVAL_PTR with nothing changed.
 */
export function omapClear(map: usize): i32 {
  const borrowed = omapBorrowed(map);
  const rc = omapTakeAll(map, true);
  if (rc == OK) omapReleaseTaken(borrowed);
  return rc;
}

/**
 * Destroy (mapDestroy) and release every value afterwards: a finalizer that
 * uses the map then finds it destroyed (EINVAL_PTR). The values are copied out
 * under the mutex just before the destroy takes it again; a write slipping in
 * between (another thread using the map during its destroy: the caller's bug)
 * leaks its value rather than freeing it under anyone. ENOMEM / EINVAL_PTR:
 * nothing changed.
 */
export function omapDestroy(map: usize): i32 {
  const borrowed = omapBorrowed(map);
  let rc = omapTakeAll(map, false);
  if (rc != OK) return rc;
  rc = handleDestroy(map);
  if (rc == OK) { omapReleaseTaken(borrowed); return OK; }
  // Destroyed meanwhile (by another thread: its destroy releases the values).
  if (takenList != 0) ftFree(takenList);
  takenList = 0;
  takenCount = 0;
  return rc;
}
