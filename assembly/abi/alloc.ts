// abi/alloc.ts — allocation: tag MEM of the current thread, or any heap of it.
// Pointers are value results (0 + lastError), free is a status.

import { blockUsableSize, heapAlignedAlloc, heapCalloc, heapMalloc, heapRealloc, mallocMany, mallocSizes } from "../alloc";
import { curHeap, curThread } from "../current";
import { EDOUBLE_FREE, EHEAP_LOCKED, EINVAL_ARG, EINVAL_HEAP, ENOMEM, ENOT_ATTACHED, EINVAL_TAG, peekError, setError } from "../errors";
import { BATCH_MAX, BATCH_SCRATCH_BYTES, blockPageOf, freeMany, ftFree, ftFreeUnchecked } from "../free";
import { metaAlloc } from "../meta";
import { delayedPending } from "../delayed-free";
import { remoteBatching, remoteFlush, remotePending } from "../remote-free";
import { heapForTag } from "../heap";
import { threadCollect } from "../lifecycle";
import { D_OBJECTS, H_TAG, H_THREAD, OR_ZERO_TAGS, P_TAG, T_BATCH_SCRATCH, T_DOMAIN, T_GC_LOCK, TAG_COUNT, TAG_GC, TAG_GC_PRE } from "../layout";
import { memFill, memHas, memSync } from "../os";
import { loadAcquire } from "../atomics";
import { fail, failSigned, failValue } from "./result";

export function ft_malloc(size: usize): usize { return heapMalloc(curHeap, size); }
export function ft_calloc(count: usize, size: usize): usize { return heapCalloc(curHeap, count, size); }
export function ft_realloc(p: usize, size: usize): usize {
  if (p != 0) memSync();   // the check below reads meta memory another thread may have grown
  if (p != 0 && delayedPending(p)) { setError(EDOUBLE_FREE); return 0; }   // its delayed free is still to come
  const before = p != 0 && curThread != 0 ? blockUsableSize(p) : 0;
  const q = heapRealloc(curHeap, p, size);
  // A block of a zeroed tag that grew: its new part is zeroed too (moved or not).
  if (q != 0 && size > before && zeroTagOf(q)) memFill(q + before, 0, size - before);
  return q;
}
export function ft_aligned_alloc(align: usize, size: usize): usize { return heapAlignedAlloc(curHeap, align, size); }
export function ft_free(p: usize): i32 { return ftFree(p); }
/**
 * Batch runs of remote frees on this instance (on != 0) or not (0, the default):
 * see remote-free.ts. Turning it off publishes the current thread's pending run.
 */
export function ft_remote_batching(on: i32): void {
  memSync();
  if (on == 0 && curThread != 0) remoteFlush(curThread);
  remoteBatching(on != 0);
}
/**
 * ft_free, then publish the current thread's batched remote frees (remote-free.ts):
 * what the facade's `free` calls, so a block another thread owns is back on its
 * page's list when the call returns, as the JS API promises, even on an instance
 * that turned batching on.
 */
export function ft_free_now(p: usize): i32 {
  memSync();
  if (p != 0 && delayedPending(p)) return fail(EDOUBLE_FREE);   // its delayed free is still to come
  const rc = ftFree(p);
  if (curThread != 0 && remotePending(curThread)) remoteFlush(curThread);
  return rc;
}
/** Trusted callers only: no validation, no double-free test (assembly/README.md). */
export function ft_free_unchecked(p: usize): void { ftFreeUnchecked(p); }
export function ft_usable_size(p: usize): usize { return blockUsableSize(p); }

// ---- Batches: one call from JS for many blocks -------------------------------------

// The current thread's batch buffer: what the facade passes the arrays of its
// allocMany / freeMany through. Meta memory never returns, so it is kept in the
// thread record and reused with it (threadResetOwned), not made per instance:
// every instance (worker) that ever made a batch call kept 48 KiB for good.

/**
 * The current thread's BATCH_SCRATCH_BYTES buffer (value; 0 with ENOT_ATTACHED or
 * ENOMEM). Takes the meta spin lock on the record's first use.
 */
export function ft_batch_scratch(): usize {
  memSync();
  const t = curThread;
  if (t == 0) return failValue(ENOT_ATTACHED);
  let s = <usize>load<u32>(t, T_BATCH_SCRATCH);
  if (s == 0) {
    s = metaAlloc(BATCH_SCRATCH_BYTES);
    if (s == 0) return failValue(ENOMEM);
    store<u32>(t, <u32>s, T_BATCH_SCRATCH);
  }
  return s;
}

// `n` u32 entries at `buf` lie inside the memory, 4-aligned.
function batchBufOk(buf: usize, n: u32): bool {
  return buf != 0 && (buf & 3) == 0 && memHas(<u64>buf + (<u64>n << 2));
}

/** `n` blocks of `size` into buf[0..n), all or nothing → status (EINVAL_ARG: a bad buffer). */
export function ft_malloc_many(buf: usize, n: u32, size: usize): i32 {
  memSync();
  if (!batchBufOk(buf, n)) return fail(EINVAL_ARG);
  return mallocMany(curHeap, buf, n, size);
}

/** A block of each size buf[i], written over it, all or nothing → status. */
export function ft_malloc_sizes(buf: usize, n: u32): i32 {
  memSync();
  if (!batchBufOk(buf, n)) return fail(EINVAL_ARG);
  return mallocSizes(curHeap, buf, n);
}

/**
 * Free buf[0..n) (n ≤ BATCH_MAX), each entry replaced by its result → how many
 * failed (signed; −EINVAL_ARG: a bad buffer, or one overlapping the current
 * thread's table; −ENOT_ATTACHED, −ENOMEM: no table).
 */
export function ft_free_many(buf: usize, n: u32): i32 {
  memSync();
  if (n > BATCH_MAX || !batchBufOk(buf, n)) return failSigned(EINVAL_ARG);
  if (n == 0) return 0;
  const scratch = ft_batch_scratch();
  if (scratch == 0) return -peekError();
  const table = scratch + (<usize>BATCH_MAX << 2);
  if (buf + (<usize>n << 2) > table && buf < scratch + BATCH_SCRATCH_BYTES) return failSigned(EINVAL_ARG);
  const bits = <u32>(32 - clz<u32>((n << 1) - 1));   // 2^bits ≥ 2n
  const bad = freeMany(buf, n, table, bits);
  if (remotePending(curThread)) remoteFlush(curThread);   // published when the call returns, as ft_free_now
  return <i32>bad;
}

/** The current thread's heap for `tag` (made on first use), or 0. */
export function ft_heap(tag: u32): usize {
  memSync();
  if (curThread == 0) return failValue(ENOT_ATTACHED);
  if (tag >= TAG_COUNT) return failValue(EINVAL_TAG);
  const h = heapForTag(curThread, tag);
  return h != 0 ? h : failValue(ENOMEM);
}

function heapChecked(heap: usize): bool {
  if (curThread == 0) { failValue(ENOT_ATTACHED); return false; }
  if (heap == 0 || load<u32>(heap, H_THREAD) != <u32>curThread) { failValue(EINVAL_HEAP); return false; }
  // The heap lock (gc.ts) covers raw allocations on the GC tags too.
  const tag = load<u32>(heap, H_TAG);
  if ((tag == TAG_GC || tag == TAG_GC_PRE) && load<u32>(curThread, T_GC_LOCK) != 0) { failValue(EHEAP_LOCKED); return false; }
  return true;
}
export function ft_heap_malloc(heap: usize, size: usize): usize {
  memSync();
  if (!heapChecked(heap)) return 0;
  const p = heapMalloc(heap, size);
  if (p != 0 && zeroTag(heap)) memFill(p, 0, size);
  return p;
}

/** Is `p` (a block just handed out) of a tag its domain zeroes? */
function zeroTagOf(p: usize): bool {
  const page = blockPageOf(p);
  if (page == 0) return false;
  const or = <usize>load<u32>(<usize>load<u32>(curThread, T_DOMAIN), D_OBJECTS);
  return (loadAcquire(or + OR_ZERO_TAGS) & (<u32>1 << <u32>load<u8>(page, P_TAG))) != 0;
}

/** Does the domain zero raw allocations of this heap's tag (MicroPython's conservative clear; GC tags by default)? */
function zeroTag(heap: usize): bool {
  const or = <usize>load<u32>(<usize>load<u32>(curThread, T_DOMAIN), D_OBJECTS);
  return (loadAcquire(or + OR_ZERO_TAGS) & (<u32>1 << load<u32>(heap, H_TAG))) != 0;
}
export function ft_heap_calloc(heap: usize, count: usize, size: usize): usize {
  memSync();
  return heapChecked(heap) ? heapCalloc(heap, count, size) : 0;
}
export function ft_heap_aligned_alloc(heap: usize, align: usize, size: usize): usize {
  memSync();
  if (!heapChecked(heap)) return 0;
  const p = heapAlignedAlloc(heap, align, size);
  if (p != 0 && zeroTag(heap)) memFill(p, 0, size);
  return p;
}

/** Collect the current thread's heaps: remote frees, empty pages (`force`: no retention). */
export function ft_collect(force: bool): void {
  memSync();
  if (curThread != 0) threadCollect(curThread, force);
}
