// remote-free.ts — frees of blocks another thread owns, batched per target page.
//
// A thread that frees a block of a page it does not own does not publish it at
// once: it links the block into its remote-free table, a small direct-mapped
// table of RF_SLOTS slots keyed by page, and later publishes the page's whole
// chain with one CAS on the page's xthreadFree (a flush). So a run of remote
// frees into one page pays one shared cache line, not one per block (xmalloc's
// producer/consumer batches, rptest's hand-offs; larson's random frees spread
// over many pages and batch less).
//
// The chain is the page's own free-list encoding (each block's first word is the
// next block XOR the page's key; the last one holds a zero link), so a pending
// block already reads as free, and a flush only rewrites the last link before
// its CAS. A page with pending blocks keeps them in `used`: it cannot be emptied,
// retired or freed (nor its segment) until the flush, whoever owns it by then
// (an owner that exited leaves it abandoned; a flush into it marks the pool
// dirty, as a single remote free does).
//
// Flushes: a slot taken by another page; RF_SLOT_MAX blocks in a slot;
// RF_BYTES_MAX bytes pending in the table; and the whole table at every
// checkpoint, stop-the-world pause, detach, collect, exit and reap, every
// GENERIC_COLLECT_MASK-th allocator slow path, and before the thread reads its
// own statistics or walks a heap or the abandoned pool. A block freed remotely
// is therefore counted live, and met by a heap walk, until its freer's next
// flush — bounded by the table (RF_BYTES_MAX per thread) and by the freer's
// next checkpoint.
//
// What other threads read: the double-free search (free.ts blockIsFree) walks
// the slot of the block's page in every thread's table of its domain. The owner
// writes its table with plain stores (atomic stores would cost more than the
// batching saves); the walk is racy, like the walk of a page's local lists, and
// bounded and range-checked: a live block is never on a chain, so a hit means a
// free block. A reap flushes a dead thread's table as the thread (lifecycle.ts).
//
// A slot keeps naming its page until its chain is on the page (flushSlot), so the
// double-free search finds a pending block at every moment: emptied first, a
// second free of it during the push went through (its freer's free had returned
// long before) and put it on two lists (review-rf). While the chain goes the
// delayed way one block at a time (pushChain), the block in flight is in RS_ONE.
// Between the push and the slot's emptying its blocks may be collected and
// handed out again; malloc clears a block's link word, so a valid free of one
// is not searched (blockLooksFree) unless the program stored a link-like word.
//
// Dying inside a flush: the slot is marked (RS_COUNT = RS_FLUSHING) before its
// chain is pushed, and a reap empties a marked slot without pushing it, so a
// thread killed inside a flush leaks that chain (its blocks stay counted live
// and pin their page) rather than having the reap push it a second time. A
// thread killed while linking a block into a slot loses at most that block.
// Either is a free that never returned.
//
// See also: free.ts (validation, the double-free search), page.ts (xthreadFree and
// the delayed-free states), layout.ts (the thread record's rf* fields).

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { curThread } from "./current";
import { DP_REVIEW_FREE_MT_DELAYED, DP_REVIEW_FREE_MT_PUSHED, DP_RF_FLUSH_CLEARED, debugPause } from "./debug-delay";
import { metaAlloc } from "./meta";
import { blockNext, xtfBlock, xtfCas, xtfLoad, xtfMake, xtfState } from "./page";
import { segmentOf } from "./segment";
import { D_ABANDON_DIRTY, D_THREADS, DELAY_FREEING, DELAY_NO, DELAY_USE, H_DELAYED, P_BLOCK_SIZE, P_CAPACITY, P_EXT_BYTES,
  P_KEY, P_START, P_XHEAP, PAGE_REC_SHIFT, SEGMENT_SHIFT, SEG_DOMAIN, SEG_THREAD, T_DOMAIN_NEXT, T_FREEING, T_RF_BYTES,
  T_RF_COUNT, T_RF_TABLE } from "./layout";

// @abi-begin remote-free
export const RF_SLOTS: u32 = 64;                 // table slots (a power of two), 16 B each
export const RF_SLOT_MAX: u32 = 64;              // blocks in one slot before it is flushed
export const RF_BYTES_MAX: u32 = 256 << 10;      // block bytes pending in a table before all of it is
export const RF_BLOCK_MAX: u32 = 8192;           // larger blocks are published at once
// @abi-end

const RF_TABLE_BYTES: u32 = RF_SLOTS << 4;
// A slot: the page (0 = empty), the chain's first block, its length (RS_FLUSHING:
// being pushed), the block a flush is sending the delayed way (0: none).
const RS_PAGE: usize = 0;
const RS_HEAD: usize = 4;
const RS_COUNT: usize = 8;
const RS_ONE: usize = 12;
const RS_FLUSHING: u32 = 0xFFFFFFFF;

// @ts-ignore: decorator
@inline function slotOf(table: usize, page: usize): usize {
  return table + ((((page >> PAGE_REC_SHIFT) ^ (page >> SEGMENT_SHIFT)) & (RF_SLOTS - 1)) << 4);
}

/**
 * Free `p` (valid, not free, in the current thread's domain) of `page`, which
 * another thread owns or an abandoned segment holds: batched in the current
 * thread's table, or published at once (large blocks, abandoned segments, no
 * table to be had).
 */
export function remoteFree(page: usize, p: usize): void {
  const thread = curThread;
  const bs = load<u32>(page, P_BLOCK_SIZE);
  // An abandoned segment's pool collects promptly when marked dirty: no batching.
  if (bs > RF_BLOCK_MAX || loadAcquire(segmentOf(page) + SEG_THREAD) == 0) { pushOne(page, p); return; }
  let table = <usize>load<u32>(thread, T_RF_TABLE);
  if (table == 0) {
    table = metaAlloc(RF_TABLE_BYTES);   // zeroed; stays with the record (meta memory never returns)
    if (table == 0) { pushOne(page, p); return; }
    storeRelease(thread + T_RF_TABLE, <u32>table);
  }
  const key = load<u32>(page, P_KEY);
  const slot = slotOf(table, page);
  let count: u32 = 1;
  if (<usize>load<u32>(slot, RS_PAGE) == page) {
    store<u32>(p, load<u32>(slot, RS_HEAD) ^ key);
    count = load<u32>(slot, RS_COUNT) + 1;
  } else {
    if (load<u32>(slot, RS_PAGE) != 0) flushSlot(thread, slot);
    store<u32>(p, key);                        // a zero link: the chain's last block
  }
  store<u32>(slot, <u32>p, RS_HEAD);
  store<u32>(slot, count, RS_COUNT);
  store<u32>(slot, <u32>page, RS_PAGE);        // last: a slot is live once it names its page
  store<u32>(thread, load<u32>(thread, T_RF_COUNT) + 1, T_RF_COUNT);
  const bytes = load<u32>(thread, T_RF_BYTES) + bs;
  store<u32>(thread, bytes, T_RF_BYTES);
  if (bytes > RF_BYTES_MAX) remoteFlushAll(thread);
  else if (count >= RF_SLOT_MAX) flushSlot(thread, slot);
}

/** Does `thread` hold remote frees not yet published? (owner) */
// @ts-ignore: decorator
@inline export function remotePending(thread: usize): bool {
  return load<u32>(thread, T_RF_COUNT) != 0;
}

/**
 * Publish every chain of `thread`'s table. The owner, or a reap acting as the
 * dead thread (every slot is looked at: the totals may be stale after a kill).
 */
export function remoteFlushAll(thread: usize): void {
  const table = <usize>load<u32>(thread, T_RF_TABLE);
  if (table == 0) return;
  for (let i: u32 = 0; i < RF_SLOTS; i++) {
    const slot = table + (<usize>i << 4);
    if (load<u32>(slot, RS_PAGE) == 0) continue;
    // Marked: a reaped thread died inside this flush; its chain leaks (file comment).
    if (load<u32>(slot, RS_COUNT) == RS_FLUSHING) store<u32>(slot, 0, RS_PAGE);
    else flushSlot(thread, slot);
  }
  store<u32>(thread, 0, T_RF_COUNT);
  store<u32>(thread, 0, T_RF_BYTES);
}

function flushSlot(thread: usize, slot: usize): void {
  const page = <usize>load<u32>(slot, RS_PAGE);
  const head = <usize>load<u32>(slot, RS_HEAD);
  const count = load<u32>(slot, RS_COUNT);
  store<u32>(slot, RS_FLUSHING, RS_COUNT);   // first: see the file comment on dying inside a flush
  store<u32>(thread, load<u32>(thread, T_RF_COUNT) - count, T_RF_COUNT);
  store<u32>(thread, load<u32>(thread, T_RF_BYTES) - count * load<u32>(page, P_BLOCK_SIZE), T_RF_BYTES);
  debugPause(DP_RF_FLUSH_CLEARED);
  pushChain(slot, page, head);
  store<u32>(slot, 0, RS_PAGE);              // last: until now the double-free search finds the chain here
}

/**
 * Push the chain that starts at `head` (zero-terminated, page-key encoded) on
 * the page's xthreadFree with one CAS. A page in its owner's full queue
 * (DELAY_USE) first gets one block the delayed way, as a single remote free
 * would, so the owner finds the page again.
 */
function pushChain(slot: usize, page: usize, head: usize): void {
  const key = load<u32>(page, P_KEY);
  const seg = segmentOf(page);
  const domain = <usize>load<u32>(seg, SEG_DOMAIN);   // before the push: see pushOne
  const capacity = load<u32>(page, P_CAPACITY);
  let tail = head;
  for (let n: u32 = 0; n < capacity; n++) {            // the bound guards a chain a kill left half made
    const next = blockNext(page, tail);
    if (next == 0) break;
    tail = next;
  }
  let first = head;
  while (true) {
    const tf = xtfLoad(page);
    if (xtfState(tf) == DELAY_USE) {
      const next: usize = first == tail ? 0 : blockNext(page, first);
      // pushOne rewrites `first`'s link: the rest stays findable from the slot, `first` in RS_ONE.
      store<u32>(slot, <u32>first, RS_ONE);
      store<u32>(slot, <u32>next, RS_HEAD);
      pushOne(page, first);
      store<u32>(slot, 0, RS_ONE);
      if (next == 0) return;
      first = next;
      continue;
    }
    store<u32>(tail, <u32>xtfBlock(tf) ^ key);
    if (xtfCas(page, tf, xtfMake(first, xtfState(tf)))) break;   // partner: pageCollectRemote's swap
  }
  debugPause(DP_REVIEW_FREE_MT_PUSHED);
  if (loadAcquire(seg + SEG_THREAD) == 0) markAbandonDirty(domain);
}

/**
 * Publish one block at once: one CAS on xthreadFree; the first remote free into
 * a page of the full queue (DELAY_USE) goes on its heap's xdelayedFree list
 * instead, so the owner finds the page (the block's first word then decodes to a
 * zero link and its second word links the heap list).
 */
export function pushOne(page: usize, p: usize): void {
  const key = load<u32>(page, P_KEY);
  // Read the segment's header now: once the block is pushed, the segment may be
  // emptied, freed and reused at any moment (its domain record never goes away).
  const seg = segmentOf(p);
  const domain = <usize>load<u32>(seg, SEG_DOMAIN);
  let useDelayed = false;
  let published = false;
  while (true) {
    const tf = xtfLoad(page);
    let next: u32;
    useDelayed = xtfState(tf) == DELAY_USE;
    if (useDelayed) {
      // Say which page we may hold FREEING on before taking it: should this
      // thread die inside the window, the page's owner (waiting in
      // pageSetDelayed) ends the wait once we are reaped (page.ts).
      if (!published) { storeRelease(curThread + T_FREEING, <u32>page); published = true; continue; }
      next = xtfMake(xtfBlock(tf), DELAY_FREEING);   // the block goes on the heap list instead
    } else {
      store<u32>(p, <u32>xtfBlock(tf) ^ key);
      next = xtfMake(p, xtfState(tf));
    }
    if (xtfCas(page, tf, next)) break;  // partner: pageCollectRemote's swap
  }
  debugPause(DP_REVIEW_FREE_MT_PUSHED);
  // An abandoned segment (its owner exited): tell the domain's pool to collect
  // (abandon.ts). The owner word is read after the push (see abandon.ts on the
  // order); only read: the segment may be freed and reused by now.
  if (loadAcquire(seg + SEG_THREAD) == 0) markAbandonDirty(domain);
  if (useDelayed) {
    // While the state is FREEING the owner waits in pageSetDelayed, so the heap
    // read here stays the page's heap until the push is done.
    const heap = <usize>loadAcquire(page + P_XHEAP);
    store<u32>(p, key);                 // decodes to a zero link: the block reads as free
    while (true) {
      const head = loadAcquire(heap + H_DELAYED);
      store<u32>(p + 4, head);          // the heap list's link is the second word
      if (casAcqRel(heap + H_DELAYED, head, <u32>p)) break;   // partner: heapDelayedFreeAll's swap
    }
    debugPause(DP_REVIEW_FREE_MT_DELAYED);
    while (true) {
      const tf = xtfLoad(page);
      if (xtfCas(page, tf, xtfMake(xtfBlock(tf), DELAY_NO))) break;
    }
  }
  if (published) storeRelease(curThread + T_FREEING, 0);
}

/** A block was freed into an abandoned segment of `domain`: its pool is marked for collection. */
function markAbandonDirty(domain: usize): void {
  const flag = domain + D_ABANDON_DIRTY;
  if (loadAcquire(flag) == 0) storeRelease(flag, 1);
}

/**
 * Is `p` (a block of `page`) pending in a remote-free table of the page's
 * domain? Only the slot the page hashes to can hold it, so one slot per thread
 * is walked (racy, bounded, range-checked: see the file comment).
 */
export function remoteBatchesContain(page: usize, p: usize): bool {
  const domain = <usize>load<u32>(segmentOf(page), SEG_DOMAIN);
  const capacity = load<u32>(page, P_CAPACITY);
  const start = load<u32>(page, P_START);
  const area = load<u32>(page, P_EXT_BYTES);
  let t = <usize>loadAcquire(domain + D_THREADS);   // push-only: a lock-free walk
  while (t != 0) {
    const table = <usize>loadAcquire(t + T_RF_TABLE);
    if (table != 0) {
      const slot = slotOf(table, page);
      if (<usize>load<u32>(slot, RS_PAGE) == page) {
        let b = <usize>load<u32>(slot, RS_HEAD);
        for (let n: u32 = 0; b != 0 && n <= capacity; n++) {
          if (b == p) return true;
          if (<u32>b - start >= area) break;      // not a block of this page: a slot being rewritten
          b = blockNext(page, b);
        }
        if (<usize>load<u32>(slot, RS_ONE) == p) return true;   // on its way the delayed way (pushChain)
      }
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return false;
}

/** A record being reset for reuse (thread.ts): its table, kept, holds nothing. */
export function remoteTableReset(thread: usize): void {
  const table = <usize>load<u32>(thread, T_RF_TABLE);
  if (table != 0) memory.fill(table, 0, RF_TABLE_BYTES);
  store<u32>(thread, 0, T_RF_COUNT);
  store<u32>(thread, 0, T_RF_BYTES);
}
