// type.ts — object types: a per-domain registry in shared memory, so every
// worker sees the same ids.
//
// A type record (layout.ts: name, payload size, flags, the payload offsets that
// hold object references) lives in meta memory and never goes away, so a
// record found once stays valid, and a type outlives every object of it (a
// domain has few types; d.close() drops them with the domain). The registry is
// a table of record pointers indexed by id - 1:
//
//   lookup by id (any attached thread, lock-free): load the count (acquire),
//     then the table, then the entry. The definer stores the entry (and, when the
//     table grows, publishes the larger copy) before it raises the count, so an
//     id below the count always finds its entry in whatever table is read.
//   define (serialized by the registry's spin lock): idempotent by name; a new
//     type's record is made, then stored, then counted. A full table is
//     replaced by a copy twice as large, made before the lock is taken (an
//     allocation may wait out a stop-the-world, which must never happen while a
//     spinning thread waits for us); the old table is freed through freeDelayed,
//     since a reader may still be reading it (CPython's type cache did the same
//     with QSBR).
// The lock word holds its holder's thread record: a reap releases a dead
// holder's (lifecycle.ts).
//
// See also: object.ts (instances), brc.ts, layout.ts (the type record box).

import { casAcqRel, loadAcquire, orAcqRel, storeRelease } from "./atomics";
import { heapMalloc } from "./alloc";
import { curHeap, curThread } from "./current";
import { freeDelayed } from "./delayed-free";
import { ftFree } from "./free";
import { EINVAL_ARG, EINVAL_SIZE, EINVAL_TYPE, ENOMEM } from "./errors";
import { metaAlloc } from "./meta";
import { D_OBJECTS, OR_TYPE_COUNT, OR_TYPE_LOCK, OR_TYPE_TABLE, T_DOMAIN, TF_FINALIZE, TF_GC, TY_FLAGS, TY_ID,
  TY_NAME, TY_NAME_HASH, TY_NAME_LENGTH, TY_REFS, TY_SIZE, TYPE_NAME_MAX, TYPE_REFS_MAX, TYPE_SIZE_MAX } from "./layout";
import { memCopy } from "./os";

const TABLE_HEADER: usize = 8;   // {capacity u32, pad u32}
const TABLE_MIN: u32 = 16;

// @ts-ignore: decorator
@inline function objectsOf(domain: usize): usize { return <usize>load<u32>(domain, D_OBJECTS); }

/** The record of type `id` in `domain`, or 0 (lock-free; the caller is attached). */
export function typeRecord(domain: usize, id: u32): usize {
  const or = objectsOf(domain);
  const count = loadAcquire(or + OR_TYPE_COUNT);   // partner: typeDefine's count store
  if (id - 1 >= count) return 0;                    // id 0 wraps: none
  // An attached reader is protected by QSBR (old tables go to freeDelayed); a
  // reap runs detached, so the entry is trusted only if the table it was read
  // from is still the current one (a replaced table is never current again).
  while (true) {
    const table = <usize>loadAcquire(or + OR_TYPE_TABLE);
    const ty = <usize>loadAcquire(table + TABLE_HEADER + (<usize>(id - 1) << 2));
    if (<usize>loadAcquire(or + OR_TYPE_TABLE) == table) return ty;
  }
}

/** Types defined in `domain`. */
export function typeCount(domain: usize): u32 {
  return loadAcquire(objectsOf(domain) + OR_TYPE_COUNT);
}

// @ts-ignore: decorator
@inline export function typeSize(ty: usize): u32 { return load<u32>(ty, TY_SIZE); }
// @ts-ignore: decorator
@inline export function typeFlags(ty: usize): u32 { return loadAcquire(ty + TY_FLAGS); }
// @ts-ignore: decorator
@inline export function typeRefCount(ty: usize): u32 { return load<u32>(ty, TY_REFS); }
/** The i-th reference offset (payload bytes). */
// @ts-ignore: decorator
@inline export function typeRef(ty: usize, i: u32): u32 {
  return load<u32>(typeRefsStart(ty) + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function typeRefsStart(ty: usize): usize {
  return ty + TY_NAME + ((<usize>load<u32>(ty, TY_NAME_LENGTH) + 3) & ~3);
}

/** Does type `ty` name payload offset `offset` as a reference? (The offsets are sorted.) */
export function typeHasRef(ty: usize, offset: u32): bool {
  const n = typeRefCount(ty);
  const refs = typeRefsStart(ty);
  let lo: u32 = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = load<u32>(refs + (<usize>mid << 2));
    if (v == offset) return true;
    if (v < offset) lo = mid + 1; else hi = mid;
  }
  return false;
}

function nameHash(p: usize, n: u32): u32 {
  let h: u32 = 2166136261;   // FNV-1a
  for (let i: u32 = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + i)) * 16777619;
  return h;
}

function sameName(ty: usize, p: usize, n: u32, hash: u32): bool {
  if (load<u32>(ty, TY_NAME_LENGTH) != n || load<u32>(ty, TY_NAME_HASH) != hash) return false;
  return memory.compare(ty + TY_NAME, p, n) == 0;
}

function sameLayout(ty: usize, size: u32, gc: u32, refs: usize, nRefs: u32): bool {
  if (typeSize(ty) != size || (typeFlags(ty) & TF_GC) != gc || typeRefCount(ty) != nRefs) return false;
  return memory.compare(typeRefsStart(ty), refs, <usize>nRefs << 2) == 0;
}

function lockRegistry(or: usize): void {
  while (!casAcqRel(or + OR_TYPE_LOCK, 0, <u32>curThread)) {
    while (loadAcquire(or + OR_TYPE_LOCK) != 0) {}
  }
}
// @ts-ignore: decorator
@inline function unlockRegistry(or: usize): void { storeRelease(or + OR_TYPE_LOCK, 0); }

/** A reaped thread died holding the registry lock: release it. */
export function typeReleaseDead(domain: usize, thread: usize): void {
  casAcqRel(objectsOf(domain) + OR_TYPE_LOCK, <u32>thread, 0);
}

/**
 * Define (or find) a type of the current thread's domain: the name's UTF-8
 * bytes at `name` (1..TYPE_NAME_MAX), payload `size`, `flags` (TF_GC,
 * TF_FINALIZE), and `nRefs` reference offsets at `refs` (sorted, distinct,
 * 4-aligned, inside the payload). The id, or -code: EINVAL_ARG (name or
 * offsets), EINVAL_SIZE, EINVAL_TYPE (the name exists with another layout),
 * ENOMEM. TF_FINALIZE on an existing type is added to it.
 */
export function typeDefine(name: usize, nameLength: u32, size: u32, flags: u32, refs: usize, nRefs: u32): i32 {
  if (nameLength == 0 || nameLength > TYPE_NAME_MAX || nRefs > TYPE_REFS_MAX) return -EINVAL_ARG;
  if (size > TYPE_SIZE_MAX) return -EINVAL_SIZE;
  if ((flags & ~(TF_GC | TF_FINALIZE)) != 0) return -EINVAL_ARG;
  for (let i: u32 = 0; i < nRefs; i++) {
    const off = load<u32>(refs + (<usize>i << 2));
    if ((off & 3) != 0 || <u64>off + 4 > <u64>size) return -EINVAL_ARG;
    if (i > 0 && off <= load<u32>(refs + (<usize>(i - 1) << 2))) return -EINVAL_ARG;
  }
  const domain = <usize>load<u32>(curThread, T_DOMAIN);
  const or = objectsOf(domain);
  const hash = nameHash(name, nameLength);
  let spare: usize = 0;   // a larger table made outside the lock
  while (true) {
    lockRegistry(or);
    const count = loadAcquire(or + OR_TYPE_COUNT);
    const table = <usize>loadAcquire(or + OR_TYPE_TABLE);
    for (let i: u32 = 0; i < count; i++) {
      const ty = <usize>load<u32>(table + TABLE_HEADER + (<usize>i << 2));
      if (!sameName(ty, name, nameLength, hash)) continue;
      const same = sameLayout(ty, size, flags & TF_GC, refs, nRefs);
      if (same && (flags & TF_FINALIZE) != 0) orAcqRel(ty + TY_FLAGS, TF_FINALIZE);
      unlockRegistry(or);
      if (spare != 0) ftFree(spare);
      return same ? <i32>(i + 1) : -EINVAL_TYPE;
    }
    const capacity = table != 0 ? load<u32>(table) : 0;
    let grown: usize = 0;
    if (count == capacity) {
      const want = capacity == 0 ? TABLE_MIN : capacity << 1;
      if (spare == 0 || load<u32>(spare) < want) {
        unlockRegistry(or);
        if (spare != 0) ftFree(spare);
        spare = heapMalloc(curHeap, TABLE_HEADER + (<usize>want << 2));
        if (spare == 0) return -ENOMEM;
        store<u32>(spare, want);
        continue;   // the registry may have changed meanwhile
      }
      memCopy(spare + TABLE_HEADER, table + TABLE_HEADER, <usize>count << 2);
      grown = spare;
      spare = 0;
    }
    const ty = metaAlloc(<u32>TY_NAME + ((nameLength + 3) & ~3) + (nRefs << 2));
    if (ty == 0) { unlockRegistry(or); if (grown != 0) ftFree(grown); if (spare != 0) ftFree(spare); return -ENOMEM; }
    store<u32>(ty, count + 1, TY_ID);
    store<u32>(ty, size, TY_SIZE);
    storeRelease(ty + TY_FLAGS, flags);
    store<u32>(ty, nRefs, TY_REFS);
    store<u32>(ty, nameLength, TY_NAME_LENGTH);
    store<u32>(ty, hash, TY_NAME_HASH);
    memCopy(ty + TY_NAME, name, nameLength);
    memCopy(typeRefsStart(ty), refs, <usize>nRefs << 2);
    const into = grown != 0 ? grown : table;
    store<u32>(into + TABLE_HEADER + (<usize>count << 2), <u32>ty);
    if (grown != 0) storeRelease(or + OR_TYPE_TABLE, <u32>grown);
    storeRelease(or + OR_TYPE_COUNT, count + 1);   // LP: the type exists; partner: typeRecord
    unlockRegistry(or);
    if (spare != 0) ftFree(spare);
    if (grown != 0 && table != 0) freeDelayed(table);   // a lock-free reader may still hold it
    return <i32>(count + 1);
  }
}

/** The name's bytes of type `ty` (for the facade): its address; the length is at TY_NAME_LENGTH. */
export function typeName(ty: usize): usize {
  return ty + TY_NAME;
}
