// shared-map.ts — an open-addressing u32 -> u32 hash map: lock-free get/has and
// iteration, writes (set, swap, compareAndSet, take, delete) under the map's
// mutex, old tables reclaimed after a QSBR grace period.
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
//   - non-EMPTY with key k: FULL gives value(s), TOMBSTONE gives absent, LP = the
//     load of xvs (state and value are one 64-bit word; the key, read after, was
//     fixed before the slot left EMPTY).
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
// Layout (every field other threads touch is atomic):
//
//   header: shared-handle.ts, with magic MAP_MAGIC; its storage is the table
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
//                             FULL 1, TOMBSTONE 2; stored by the mutex holder
//
// Invariants: capacity = 2^k >= MAP_MIN_SLOTS; size = |FULL|; used = |FULL| +
// |TOMBSTONE| <= capacity·3/4; every FULL or TOMBSTONE key is found by probing
// from its home slot; no key is in two slots (mapIsValid checks them).
//
// Destroy hands the header and the table to freeDelayed (shared-handle.ts): a
// read racing it returns the old contents or EINVAL_PTR. No thread may use the
// map after its destroy.
//
// See also: shared-handle.ts, shared-list.ts, delayed-free.ts, mutex.ts,
// critical-section.ts (lockDetaching).

import { loadAcquire, loadAcquire64, storeRelease, storeRelease64 } from "./atomics";
import { blockUsableSize, heapMalloc } from "./alloc";
import { curHeap } from "./current";
import { DP_HANDLE_READ, debugPause, debugReadDelay } from "./debug-delay";
import { EINVAL_ARG, EINVAL_PTR, EINVAL_SIZE, ENOMEM, OK, setError } from "./errors";
import { FT_DEBUG_BUILD } from "./layout";
import { handleDestroy, handleGone, handleIsLive, handleIsValid, handleLock, handleNew, handleReplace, handleStorage,
  handleUnlock } from "./shared-handle";

export const MAP_MAGIC: u32 = 0x2150414D;               // "MAP!" (little-endian bytes)
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

/** Expensive validator (tests): the invariants of the file comment. O(capacity²) worst case. */
export function mapIsValid(map: usize): bool {
  if (!handleIsValid(map, MAP_MAGIC)) return false;
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
  memory.fill(slot(t, 0), 0, <usize>capacity << SLOT_SHIFT);   // all EMPTY
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
 * The value of `key`, or MAP_NONE. Wait-free; see the file comment for why it is
 * linearizable. Inlined: it is the hot path of every reader.
 */
// @ts-ignore: decorator
@inline export function mapGet(map: usize, key: u32): f64 {
  debugPause(DP_HANDLE_READ);          // tests: a destroy between the handle check and here
  const t = mapTable(map);
  if (t == 0) return handleGone();     // destroyed after the handle check
  debugReadDelay();                    // tests: widen the window a free would hit
  const mask = load<u32>(t, T_MASK);   // immutable once published
  let i = homeOf(mapHash(key), mask);
  for (let n: u32 = 0; n <= mask; n++) {
    const s = slot(t, i);
    const w = loadAcquire64(s + S_VS);                 // partner: the writers' storeRelease64
    const st = stateOf(w);
    if (st == EMPTY) return MAP_NONE;
    if (loadAcquire(s + S_KEY) == key) return st == FULL ? <f64>valueOf(w) : MAP_NONE;
    i = (i + 1) & mask;
  }
  return MAP_NONE;   // not reached: a table always has an EMPTY slot
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
  if (!handleLock(map)) return -EINVAL_PTR;
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
  let from: u32 = 0;   // the least hash wanted
  if (after != MAP_NONE) {
    const h = mapHash(<u32>after);
    if (h == u32.MAX_VALUE) return MAP_NONE;   // the last hash: nothing after it
    from = h + 1;
  }
  debugPause(DP_HANDLE_READ);          // tests: a destroy between the handle check and here
  const t = mapTable(map);
  if (t == 0) return handleGone();
  debugReadDelay();                    // tests: widen the window a rebuild or a free would hit
  const mask = load<u32>(t, T_MASK);   // immutable once published
  const start = homeOf(from, mask);
  let found = false, bestHash: u32 = 0, bestKey: u32 = 0, bestValue: u32 = 0;
  for (let n: u32 = 0; n <= mask; n++) {
    const i = (start + n) & mask;
    const s = slot(t, i);
    const w = loadAcquire64(s + S_VS);                 // partner: the writers' storeRelease64
    const st = stateOf(w);
    if (st == EMPTY) {
      if (i < start) break;   // past the table's end, only the run that wrapped counts
      // Every key of home in [start, i] was seen; later homes have larger hashes.
      if (found && homeOf(bestHash, mask) <= i) break;
      continue;
    }
    if (st != FULL) continue;
    const k = loadAcquire(s + S_KEY);                  // fixed before the slot left EMPTY
    const h = mapHash(k);
    if (h >= from && (!found || h < bestHash)) { found = true; bestHash = h; bestKey = k; bestValue = valueOf(w); }
  }
  if (!found) return MAP_NONE;
  nextValue = bestValue;
  return <f64>bestKey;
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
  if (!handleLock(map)) return EINVAL_PTR;
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
  if (!isU32Arg(expected, true)) { setError(EINVAL_ARG); return -EINVAL_ARG; }
  if (!handleLock(map)) return -EINVAL_PTR;
  const t = mapTable(map);
  const s = slotFind(t, key);
  const w = loadAcquire64(s + S_VS);
  const st = stateOf(w);
  const current = st == FULL ? <f64>valueOf(w) : MAP_NONE;
  let r = 0;                                                 // failed: LP = the load above
  if (current == expected) {
    const rc = tableStore(map, t, s, st, key, value);
    r = rc == OK ? 1 : -rc;
  }
  mapCheckLoad(map);
  handleUnlock(map);
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

/** Remove `key`: 1 if it was there, 0 if not, or -EINVAL_PTR (mapTake without the value). */
export function mapDelete(map: usize, key: u32): i32 {
  const v = mapTake(map, key);
  return v >= 0 ? 1 : v == MAP_NONE ? 0 : -EINVAL_PTR;
}
