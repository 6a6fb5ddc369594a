// page.ts — a page: blocks of one size class and its three free lists.
//
// `free` is what malloc pops; the owner's frees go to `localFree`; other threads
// push on `xthreadFree` with one CAS. Keeping `free` apart from `localFree` makes
// the fast path run dry at a steady cadence, and that slow-path visit is where
// remote frees are collected and retired pages expire (mimalloc's "free list
// sharding"). Fresh pages link their free list lazily, EXTEND_BYTES at a time.
//
// Free-list links are stored XOR-ed with the page's `key` and malloc clears the
// link word it hands out, so a stray user word rarely looks like a link; free()
// uses that to catch double frees cheaply (free.ts, blockLooksFree).
//
// Counting invariant (checked by pageIsValid in debug builds):
//   capacity = used + |free| + |localFree|,  live blocks = used - |xthreadFree|.
//
// The low 2 bits of xthreadFree hold the delayed-free state (layout.ts DELAY_*):
// a page in the full queue is USE, so the first remote free also pushes the block
// on the heap's xdelayedFree list and the owner learns the page has room again.
//
// See also: page-queue.ts, heap.ts, free.ts, segment.ts.

import { A_PAGE, A_PAGE_NOT_EMPTY, ASSERT_INTERNAL, assertThat } from "./assert";
import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { DP_COLLECT_WALK, DP_PAGE_DECOMMITTED, DP_PAGE_LOCAL_TAKEN, DP_PAGE_TO_FULL_MID, debugPause } from "./debug-delay";
import { loadSynced, memFill, osCommit, osDecommit } from "./os";
import { hookPageFloat, hookPageHold, hookPageHoldCancel, hookPageHoldClear } from "./hooks";
import { heapQueue, queueFirst, queueLast, queuePushBack, queueRemove, pageQueueBin } from "./page-queue";
import { segmentOf, segmentPageFree, recordIndex, sliceStart } from "./segment";
import { binBlockSize, binRecip } from "./size-class";
import { FULL_QUEUED, FLOAT_NONE, FULL_FLOAT, P_FLOAT, D_THREADS, REAP_RELEASING, SEG_DOMAIN, T_DOMAIN_NEXT, T_FREEING, T_REAPED, T_STATE, THREAD_EXITED, THREAD_FREE, BIN_FULL, DELAY_FREEING, DELAY_NEVER, DELAY_NO, DELAY_USE, EXTEND_BYTES, FT_DEBUG_BUILD, H_RETIRED_MAX,
  H_RETIRED_MIN, H_THREAD, P_BIN, P_BLOCK_SIZE, P_CAPACITY, P_DIV_MAGIC, P_EXT_BYTES, P_FREE, P_IN_FULL, P_KEY,
  P_LOCAL_FREE, P_QSBR_GOAL, P_QSBR_NEXT, P_QSBR_PREV, P_RECIP, P_RESERVED, P_RETIRE, P_SLICE_COUNT, P_START, P_TAG, P_USED, P_XHEAP,
  SEG_XTF, SEGMENT_MASK, SLICES_PER_SEGMENT, XTF_STRIDE_SHIFT, PAGE_REC_SHIFT, PAGE_REC_SIZE, P_SLICE_OFFSET, SEG_PAGES, SLICE_SHIFT, SMALL_OBJ_MAX } from "./layout";

// Collections of retired pages (heapCollectRetired, run before each fresh page) a
// kept empty small page survives (pageRetire): mimalloc's 16. Kept pages of finished size classes are most of what
// small heaps hold beyond their live bytes (with exact peaks: glibc-simple ×1
// 2.08×, rptest ×1 2.35×, glibc-thread ×1 2.10× peak / live), and freeing them
// sooner brought those to 1.51-1.90×, but every rule tried churned a page per
// malloc or two for some classes taking turns (reviews 3-5: at the first or
// second fresh page, two or three classes with a block each; a per-heap doubling
// on churn gave the memory back; at once for pages with more than 4 KiB made
// ready, two classes with 2-3 KiB blocks, 214 against 48 ns per pair). Kept at
// 16, which churns only with more than 16 classes taking turns
// (retire-thrash.test.ts).
export const RETIRE_CYCLES: u8 = 16;

// ---- The xthreadFree word -----------------------------------------------------------
// Packed: the head of the remote-free list (blocks are 8-aligned) | the page's
// delayed-free state in bits 0..1 (DELAY_*). Read and CAS it through these only.

const XTF_STATE_MASK: u32 = 3;
// @ts-ignore: decorator
@inline export function xtfBlock(tf: u32): usize { return <usize>(tf & ~XTF_STATE_MASK); }
// @ts-ignore: decorator
@inline export function xtfState(tf: u32): u32 { return tf & XTF_STATE_MASK; }
// @ts-ignore: decorator
@inline export function xtfMake(block: usize, state: u32): u32 { return <u32>block | state; }
/**
 * Where a page's xthreadFree word is: its own line in the segment's array
 * (layout.ts SEG_XTF), at the same index as the page's record.
 */
// @ts-ignore: decorator
@inline export function xtfAddr(page: usize): usize {
  const seg = page & ~(<usize>SEGMENT_MASK);
  const off = page - seg - SEG_PAGES;   // wraps for anything below the records
  // A record of a segment (never EMPTY_PAGE, in unit 0), so the line is in its slice 0.
  if (ASSERT_INTERNAL) assertThat(seg != 0 && off < (<usize>SLICES_PER_SEGMENT << PAGE_REC_SHIFT) && (off & (PAGE_REC_SIZE - 1)) == 0, A_PAGE);
  return seg + SEG_XTF + ((off >> PAGE_REC_SHIFT) << XTF_STRIDE_SHIFT);
}
/** The word's current value (any thread). Partner: the CASes in free.ts and below. */
// @ts-ignore: decorator
@inline export function xtfLoad(page: usize): u32 { return loadAcquire(xtfAddr(page)); }
// @ts-ignore: decorator
@inline export function xtfCas(page: usize, expected: u32, value: u32): bool {
  return casAcqRel(xtfAddr(page), expected, value);
}
/** Set the word of a page nobody else can see yet. */
// @ts-ignore: decorator
@inline export function xtfInit(page: usize, value: u32): void { storeRelease(xtfAddr(page), value); }

// ---- Finding a block's page -------------------------------------------------------

/** The page record of a block known to be a valid block start in a normal segment. */
// @ts-ignore: decorator
@inline export function pageOfBlock(block: usize): usize {
  const seg = segmentOf(block);
  const rec = seg + SEG_PAGES + (((block - seg) >> SLICE_SHIFT) << PAGE_REC_SHIFT);
  return rec - load<u32>(rec, P_SLICE_OFFSET);
}

/**
 * The page of `p` if `p` is a block start that was handed out from a live page of
 * a normal segment; else 0. No side effects.
 */
// @ts-ignore: decorator
@inline export function normalBlockPage(p: usize): usize {
  const page = pageOfBlock(p);
  // Below extBytes (0 for anything but a live page), and on a block boundary.
  const off = <u32>p - load<u32>(page, P_START);
  if (off >= load<u32>(page, P_EXT_BYTES)) return 0;
  const magic = load<u64>(page, P_DIV_MAGIC);
  if (<u64>off * magic >= magic) return 0;
  return page;
}

/** The huge segment's record if `p` is its block; else 0. */
export function hugeBlockPage(p: usize): usize {
  const page = segmentOf(p) + SEG_PAGES;
  return <u32>p == load<u32>(page, P_START) ? page : 0;
}

// ---- Free-list links ------------------------------------------------------------

// @ts-ignore: decorator
@inline export function blockNext(page: usize, block: usize): usize {
  return <usize>(load<u32>(block) ^ load<u32>(page, P_KEY));
}

// @ts-ignore: decorator
@inline export function blockSetNext(page: usize, block: usize, next: usize): void {
  store<u32>(block, <u32>next ^ load<u32>(page, P_KEY));
}

/**
 * Hand out `block`, the head of `free`. Its link word is cleared: a zero word
 * decodes (XOR the key, whose low 3 bits are 111) to an unaligned value, which
 * blockLooksFree never takes for a link.
 */
// @ts-ignore: decorator
@inline export function pagePop(page: usize, block: usize): usize {
  store<u32>(page, load<u32>(block) ^ load<u32>(page, P_KEY), P_FREE);
  store<u32>(block, 0);
  store<u32>(page, load<u32>(page, P_USED) + 1, P_USED);
  return block;
}

/**
 * Does the first word of `p` decode to a free-list link of this page (0, or an
 * 8-aligned address inside the page's made-ready blocks)? Only then is a double
 * free possible; user data passes this with odds of about area / 2^35.
 */
// @ts-ignore: decorator
@inline export function blockLooksFree(page: usize, p: usize): bool {
  const link = load<u32>(p) ^ load<u32>(page, P_KEY);
  return (link & 7) == 0
    && (link == 0 || link - load<u32>(page, P_START) < load<u32>(page, P_EXT_BYTES));
}

/** Index of `block` in the page (exact only for block starts). */
// @ts-ignore: decorator
@inline export function blockIndex(page: usize, block: usize): u32 {
  return <u32>((<u64>(<u32>(block - load<u32>(page, P_START))) * <u64>load<u32>(page, P_RECIP)) >> 32);
}

// ---- Fresh pages ----------------------------------------------------------------

/**
 * A page's link key: low bits 111 (see blockLooksFree), and a top byte neither 0
 * nor the segment's top byte, so that neither a zero link nor any other encodes
 * to a zero top byte (free.ts linkByteMayMatch: the fast path's byte test).
 */
function pageKey(start: u32, bs: u32): u32 {
  const key = ((start ^ (bs << 7)) * 0x9E3779B1) | 7;
  const top = key >>> 24, seg = start >>> 24;
  if (top != 0 && top != seg) return key;
  return (key & 0x00FFFFFF) | (((seg ^ 0x80) | 1) << 24);
}

/** Set up the record `page` (slices already taken) for blocks of `bin`. */
export function pageInit(heap: usize, page: usize, bin: u32, tag: u32): void {
  const bs = binBlockSize(bin);
  const seg = segmentOf(page);
  const start = sliceStart(seg, recordIndex(seg, page));
  const area = load<u32>(page, P_SLICE_COUNT) << SLICE_SHIFT;
  store<u32>(page, 0, P_FREE);
  store<u32>(page, 0, P_USED);
  store<u32>(page, 0, P_LOCAL_FREE);
  xtfInit(page, xtfMake(0, DELAY_NO));   // a fresh page: nobody else sees it yet
  store<u32>(page, 0, P_CAPACITY);
  store<u32>(page, area / bs, P_RESERVED);
  store<u32>(page, <u32>start, P_START);
  storeRelease(page + P_XHEAP, <u32>heap);
  store<u8>(page, 0, P_IN_FULL);
  store<u8>(page, FLOAT_NONE, P_FLOAT);
  store<u8>(page, <u8>tag, P_TAG);
  store<u8>(page, 0, P_RETIRE);
  store<u8>(page, <u8>bin, P_BIN);
  store<u32>(page, pageKey(<u32>start, bs), P_KEY);
  store<u32>(page, binRecip(bin), P_RECIP);
  store<u64>(page, 0xFFFFFFFFFFFFFFFF / <u64>bs + 1, P_DIV_MAGIC);
  store<u32>(page, 0, P_EXT_BYTES);
  store<u64>(page, 0, P_QSBR_GOAL);
  store<u32>(page, 0, P_QSBR_NEXT);
  store<u32>(page, 0, P_QSBR_PREV);
  // Last: a non-zero blockSize makes the record a live page for free()'s checks.
  store<u32>(page, bs, P_BLOCK_SIZE);
}

/** Link the next few never-used blocks into `free` (which is empty). */
export function pageExtend(page: usize): void {
  const bs = load<u32>(page, P_BLOCK_SIZE);
  const capacity = load<u32>(page, P_CAPACITY);
  let n = EXTEND_BYTES / bs;
  if (n == 0) n = 1;
  const room = load<u32>(page, P_RESERVED) - capacity;
  if (n > room) n = room;
  const key = load<u32>(page, P_KEY);
  const first = <usize>load<u32>(page, P_START) + <usize>capacity * bs;
  const last = first + <usize>(n - 1) * bs;
  let b = first;
  while (b < last) {
    const next = b + bs;
    if (FT_DEBUG_BUILD) memFill(b, 0xD0, bs);
    store<u32>(b, <u32>next ^ key);
    b = next;
  }
  if (FT_DEBUG_BUILD) memFill(last, 0xD0, bs);
  store<u32>(last, <u32>load<u32>(page, P_FREE) ^ key);
  store<u32>(page, <u32>first, P_FREE);
  store<u32>(page, capacity + n, P_CAPACITY);
  store<u32>(page, (capacity + n) * bs, P_EXT_BYTES);
  osCommit(n * bs);
}

// ---- Collecting -------------------------------------------------------------------

/**
 * Move blocks other threads freed onto `localFree` (one swap), then, if `free`
 * ran dry, make `localFree` the new `free`; true when there were remote frees.
 * Owner only.
 */
export function pageCollect(page: usize): bool {
  const remote = pageCollectRemote(page);
  if (remote) hookPageHoldCancel(page);   // blocks freed after its goal was taken (qsbr-pages.ts)
  if (load<u32>(page, P_FREE) == 0) {
    store<u32>(page, load<u32>(page, P_LOCAL_FREE), P_FREE);
    debugPause(DP_PAGE_LOCAL_TAKEN);
    store<u32>(page, 0, P_LOCAL_FREE);
  }
  return remote;
}

/**
 * Move blocks other threads freed onto `localFree` (one swap); true when there
 * were any. Owner only, or the abandoned pool's lock holder (abandon.ts).
 *
 * Kill-safe order: the list is walked first and taken after, and between the
 * swap and the splice there is no call and no loop (V8 stops a terminated worker
 * only at a call or a loop's back edge). A thread killed in the walk leaves the
 * list where it was, for its reap or the pool's next holder; walked after the
 * swap, the blocks were in no list and the page never emptied again. Remote
 * freers only push on top, so when the swap finds more blocks than were walked,
 * only the new ones, down to the old head, are walked again.
 */
export function pageCollectRemote(page: usize): bool {
  let tf = xtfLoad(page);
  let head = xtfBlock(tf);
  if (head == 0) return false;
  const capacity = load<u32>(page, P_CAPACITY);
  let tail = head;
  let count: u32 = 1;
  while (true) {
    const next = blockNext(page, tail);
    if (next == 0 || count > capacity) break;   // the bound guards against a corrupt list
    debugPause(DP_COLLECT_WALK);
    tail = next;
    count++;
  }
  while (!xtfCas(page, tf, xtfMake(0, xtfState(tf)))) {
    tf = xtfLoad(page);
    const top = xtfBlock(tf);
    let b = top;
    while (b != head && b != 0 && count <= capacity) { b = blockNext(page, b); count++; }
    head = top;
  }
  blockSetNext(page, tail, <usize>load<u32>(page, P_LOCAL_FREE));
  store<u32>(page, <u32>head, P_LOCAL_FREE);
  store<u32>(page, load<u32>(page, P_USED) - count, P_USED);
  return true;
}

// ---- Delayed-free state --------------------------------------------------------

/**
 * Set the page's delayed-free state. Waits out a remote thread in the middle of
 * pushing on the heap list (DELAY_FREEING, a few instructions long); NEVER is
 * sticky (an exited owner). Partner: freeMt's CAS loops in free.ts.
 *
 * A freer can die inside that window (its worker terminated). Every freer
 * publishes the page in its record (T_FREEING) before it can take FREEING, and
 * only one holds FREEING at a time; so a FREEING that no live thread of the
 * domain claims was left by a thread that is gone and reaped, and the wait ends
 * by clearing it here (the word can leave FREEING only through its holder or
 * this CAS, so there is no ABA). Until the dead freer is reaped the wait goes
 * on: a dead thread cannot be told from a slow one. Its block may be lost (if it
 * died before its push): a free that never returned.
 */
export function pageSetDelayed(page: usize, state: u32): void {
  for (let spins: u32 = 1; ; spins++) {
    const tf = xtfLoad(page);
    const old = xtfState(tf);
    if (old == DELAY_FREEING) {
      if (freeingWaitBounded && spins >= FREEING_WAIT_SPINS) return;   // a reap: see pageFreeingWaitBounded
      if ((spins & 1023) == 0 && !freeingClaimed(page)) xtfCas(page, tf, xtfMake(xtfBlock(tf), DELAY_NO));
      continue;
    }
    if (old == state || old == DELAY_NEVER) return;
    if (xtfCas(page, tf, xtfMake(xtfBlock(tf), state))) return;
  }
}

/**
 * A reap (lifecycle.ts threadRelease) sets this for its length: its waits on a
 * FREEING page are bounded, and it leaves such a page as it is. Unbounded, the
 * reap of an owner whose freer died mid-push (claim still live until the freer's
 * own reap) spun for good: with both in one reapInstance call, and for a freer of
 * the same instance, or one that took FREEING after the reap began (review 6). A
 * page left FREEING is still collected and freed through its remote-free list (a
 * free that finds FREEING pushes there); what is lost is the dead freer's block
 * if it never reached the heap's list, and a live but stalled freer's, pushed
 * on the dead heap's list after the reap drained it: one block each, a free cut
 * short. Thread-local (this instance's).
 */
let freeingWaitBounded = false;
const FREEING_WAIT_SPINS: u32 = 1 << 20;

export function pageFreeingWaitBounded(on: bool): void {
  freeingWaitBounded = on;
}

/**
 * Does a thread of the page's domain that has not exited (nor been reaped) say it
 * may hold FREEING on it? A record a reap is releasing counts as live: the reaper
 * frees as the thread (its flush may send a block the delayed way) and claims in
 * its record, already EXITED (review-rf2); the dead thread's own claim was voided.
 */
function freeingClaimed(page: usize): bool {
  const domain = <usize>load<u32>(segmentOf(page), SEG_DOMAIN);
  let t = <usize>loadSynced(domain + D_THREADS);   // push-only: a lock-free walk
  while (t != 0) {
    const s = loadAcquire(t + T_STATE);
    const live = (s != THREAD_EXITED && s != THREAD_FREE) || loadAcquire(t + T_REAPED) == REAP_RELEASING;
    if (live && <usize>loadAcquire(t + T_FREEING) == page) return true;
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return false;
}

/**
 * A page of an abandoned segment gets a live owner again (abandon.ts): NEVER ->
 * NO. Remote frees meanwhile only push blocks (NEVER and NO both mean a plain
 * push), so the CAS loop only races with them.
 */
export function pageAdoptDelayed(page: usize): void {
  while (true) {
    const tf = xtfLoad(page);
    if (xtfCas(page, tf, xtfMake(xtfBlock(tf), DELAY_NO))) return;
  }
}

// ---- Full queue ----------------------------------------------------------------

/**
 * Move a page with no room to the heap's full queue, so searches skip it. Returns
 * false (and leaves it in its bin) when a remote free slipped in before the heap
 * was asked to notify: the page then has room again.
 */
export function pageToFull(heap: usize, page: usize): bool {
  pageSetDelayed(page, DELAY_USE);
  if (xtfBlock(xtfLoad(page)) != 0) {
    pageSetDelayed(page, DELAY_NO);
    pageCollect(page);
    return false;
  }
  queueRemove(heap, <u32>load<u8>(page, P_BIN), page);
  store<u8>(page, FULL_QUEUED, P_IN_FULL);
  debugPause(DP_PAGE_TO_FULL_MID);
  queuePushBack(heap, BIN_FULL, page);
  return true;
}

/** A block of a page in the full queue was freed: back to its bin's queue. */
export function pageUnfull(heap: usize, page: usize): void {
  queueRemove(heap, BIN_FULL, page);
  store<u8>(page, 0, P_IN_FULL);
  queuePushBack(heap, <u32>load<u8>(page, P_BIN), page);
  pageSetDelayed(page, DELAY_NO);
}

// ---- Retire and free -----------------------------------------------------------

/**
 * An empty page is done with: back to its segment — unless its tag's pages wait
 * for a QSBR goal first (qsbr-pages.ts), or it is lent (another thread's segment):
 * then it floats again, or stays in the queue if the pool lock stays held (float.ts). Owner only.
 */
export function pageFree(heap: usize, page: usize): void {
  if (load<u8>(page, P_IN_FULL) == FULL_FLOAT) { hookPageFloat(heap, page); return; }   // lent: floats again (float.ts)
  if (!hookPageHold(heap, page)) pageFreeNow(heap, page);
}

/** Give an empty, unheld page's slices back to its segment. Owner only. */
export function pageFreeNow(heap: usize, page: usize): void {
  if (ASSERT_INTERNAL) assertThat(load<u32>(page, P_USED) == 0, A_PAGE_NOT_EMPTY);
  queueRemove(heap, pageQueueBin(page), page);
  pageSlicesFree(<usize>load<u32>(heap, H_THREAD), page);
}

/**
 * An empty page out of every queue: its bytes counted off, its slices back to its
 * segment (`thread` 0: a pooled segment, abandon.ts); true when that freed the
 * segment. The page stops being live (blockSize 0: its records already read as
 * one free span; extBytes 0: no stale pointer into it passes normalBlockPage once
 * it is merged) right after the count, with no call in between: a thread killed
 * here has done neither or both, and what segmentPageFree leaves half done the
 * reap's segmentsRepair (or the pool's next holder) mends. Live after the count,
 * the page was counted off a second time when it was freed again.
 */
export function pageSlicesFree(thread: usize, page: usize): bool {
  const bytes = load<u32>(page, P_CAPACITY) * load<u32>(page, P_BLOCK_SIZE);
  storeRelease(page + P_XHEAP, 0);
  osDecommit(bytes);
  store<u32>(page, 0, P_BLOCK_SIZE);
  store<u32>(page, 0, P_EXT_BYTES);
  debugPause(DP_PAGE_DECOMMITTED);
  return segmentPageFree(thread, page);
}

/**
 * An empty page found in a queue goes: one already waiting for a goal stays held
 * (or goes, its goal reached), any other retires (held anew if its tag is held).
 * Owner only.
 */
export function pageRelease(heap: usize, page: usize): void {
  if (load<u64>(page, P_QSBR_GOAL) != 0) pageFree(heap, page); else pageRetire(heap, page);
}

/**
 * The last block of a page was freed. A small page (blocks <= 4 KiB) that is alone
 * in its queue is kept (re-armed for RETIRE_CYCLES collections of retired pages,
 * which run when a heap is about to take a fresh page): a program that frees
 * everything and allocates again should not churn pages. Any other empty page is
 * freed at once. Medium pages are not kept: with a dozen medium classes, each
 * kept page held its class's highest count of blocks, and these highs added up
 * (about 4x the live bytes on random sizes up to 32 KiB, where a freed page's
 * slices serve any class); taking a fresh page costs a few percent there instead.
 */
export function pageRetire(heap: usize, page: usize): void {
  hookPageHoldClear(<usize>load<u32>(heap, H_THREAD), page);   // emptied anew: a hold needs a fresh goal
  const bin = <u32>load<u8>(page, P_BIN);
  const bs = load<u32>(page, P_BLOCK_SIZE);
  const q = heapQueue(heap, bin);
  if (bs <= SMALL_OBJ_MAX && queueFirst(q) == page && queueLast(q) == page) {
    if (load<u8>(page, P_RETIRE) == 0) {
      if (bin < load<u32>(heap, H_RETIRED_MIN)) store<u32>(heap, bin, H_RETIRED_MIN);
      if (bin > load<u32>(heap, H_RETIRED_MAX)) store<u32>(heap, bin, H_RETIRED_MAX);
    }
    store<u8>(page, RETIRE_CYCLES, P_RETIRE);
    return;
  }
  pageFree(heap, page);
}

// ---- Validation (debug builds) -------------------------------------------------

function listLength(page: usize, head: usize, limit: u32): u32 {
  let n: u32 = 0;
  let b = head;
  while (b != 0 && n <= limit) { n++; b = blockNext(page, b); }
  return n;
}

/**
 * Validator: the counting invariant of a page (capacity = used + |free| +
 * |localFree|, capacity <= reserved, made-ready bytes = capacity blocks), and its
 * link key is one free()'s byte test relies on (pageKey). Owner only; O(capacity).
 */
export function pageIsValid(page: usize): bool {
  const capacity = load<u32>(page, P_CAPACITY);
  if (capacity > load<u32>(page, P_RESERVED) || load<u32>(page, P_USED) > capacity) return false;
  if (load<u32>(page, P_EXT_BYTES) != capacity * load<u32>(page, P_BLOCK_SIZE)) return false;
  const key = load<u32>(page, P_KEY), top = key >>> 24;   // pageKey: what free()'s byte test relies on
  if ((key & 7) != 7 || top == 0 || top == load<u32>(page, P_START) >>> 24) return false;
  const nFree = listLength(page, <usize>load<u32>(page, P_FREE), capacity);
  const nLocal = listLength(page, <usize>load<u32>(page, P_LOCAL_FREE), capacity);
  return capacity == load<u32>(page, P_USED) + nFree + nLocal;
}
