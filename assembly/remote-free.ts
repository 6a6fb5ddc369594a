// remote-free.ts — frees of blocks another thread owns: runs into one page batched.
//
// A thread that frees a block of a page it does not own publishes it on the
// page's xthreadFree with one CAS (pushFast / pushOne), as mimalloc does — except
// in a run: from the (RF_RUN_MIN + 1)-th consecutive remote free into one page on,
// the block is linked into the thread's remote-free slot instead, and the chain is published
// later with one CAS (a flush). So a run of remote frees into one page pays the
// shared line once per RF_SLOT_MAX blocks (xmalloc-test's consumer freeing a
// producer's batch, a thread dropping a list another built), while frees spread
// over many pages (larson, rptest) go out at once, as before: measured here, a
// block held back from its owner costs more than the CAS it saves (the owner
// takes fresh memory meanwhile), and so does any bookkeeping on that path.
//
// Opt-in, per instance (ft_remote_batching): a Wasm program that links the core
// and frees through ft_free / ftFree turns it on. It is off for everyone else —
// the JS facade, and the runtime's own frees (delayed frees, the GC, objects,
// shared structures) unless the instance turned it on — so a free that returns
// has published its block, as JS users and the statistics expect.
//
// The slot is in the thread record (T_RF_*): the page of the last remote free
// (0: none), the pending chain (page-key encoded like the page's own lists, each
// block's first word the next block; the last holds a zero link, so a pending
// block already reads as free), its length. A page with pending blocks keeps
// them in `used`: it cannot be emptied, retired or freed (nor its segment) until
// the flush, whoever owns it by then (an owner that exited leaves it abandoned;
// a flush into it marks the pool dirty, as a single remote free does).
//
// Flushes: a remote free into another page; RF_SLOT_MAX blocks pending; every
// checkpoint, stop-the-world pause, detach, collect, exit and reap; every
// GENERIC_COLLECT_MASK-th allocator slow path; before the thread reads its own
// statistics or walks a heap or the abandoned pool; ft_free_now (the facade's
// free) and ft_free_many. A block freed remotely by the raw ft_free is therefore
// counted live, and met by a heap walk, until its freer's next flush: at most
// RF_SLOT_MAX blocks of one page per thread.
//
// What other threads read: the double-free search (free.ts blockIsFree) walks
// the slot of every thread of the block's domain that names the block's page.
// The owner writes its slot with plain stores (atomic stores would cost more
// than the batching saves); the walk is racy, like the walk of a page's local
// lists, and bounded and range-checked: a live block is never on a chain, so a
// hit means a free block. A reap flushes a dead thread's slot as the thread
// (lifecycle.ts).
//
// The slot keeps naming its page until its chain is on the page (remoteFlush),
// and the double-free search reads the slots before the page's lists (free.ts
// blockIsFree: the other order misses a flush between the two looks), so it
// finds a pending block at every moment: emptied first, a
// second free of it during the push went through (its freer's free had returned
// long before) and put it on two lists (review-rf). The slot's head stays put
// until the chain is on the page: on the full-queue path the block that goes the
// delayed way first is the chain's tail (in T_RF_ONE while it goes), so a search
// that read the head walks a whole chain (review-rf3). Between the push and the slot's emptying its blocks may be collected
// and handed out again; malloc clears a block's link word, so a valid free of one
// is not searched (blockLooksFree) unless the program stored a link-like word.
//
// Dying inside a flush: the slot says at every call and loop back-edge (where
// V8 stops a terminated worker) what is left to push, and a reap pushes that as
// the thread: the head of the unpushed chain (T_RF_HEAD) and its length (the run
// count less RF_RUN_MIN). The chain is pushed with one CAS and the slot's head
// cleared right after it, with no call in between, so a reap never pushes a
// chain twice. The length, not the links, says where the chain ends: a flush
// killed after it linked the chain's tail to the page's list, before its CAS,
// leaves a tail whose link leads into that list (following it would make a
// cycle). On the full-queue path the chain's tail goes the delayed way first
// (pushOne), the slot naming the rest; a thread killed inside that pushOne loses
// that one block (its blocks stay counted live and pin their page), as a single
// remote free killed there does: a free that never returned.
//
// See also: free.ts (validation, the double-free search), page.ts (xthreadFree and
// the delayed-free states), layout.ts (the thread record's rf* fields).

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { curThread } from "./current";
import { DP_REVIEW_FREE_MT_DELAYED, DP_REVIEW_FREE_MT_PUSHED, DP_RF_FLUSH_LINKED, DP_RF_SEARCH_HEAD, DP_RF_TAIL_SENT, debugPause } from "./debug-delay";
import { blockNext, xtfBlock, xtfCas, xtfLoad, xtfMake, xtfState } from "./page";
import { segmentOf } from "./segment";
import { D_ABANDON_DIRTY, D_THREADS, DELAY_FREEING, DELAY_NO, DELAY_USE, H_DELAYED, HEAP_SIZE, P_BLOCK_SIZE,
  P_CAPACITY, P_EXT_BYTES, P_KEY, P_START, P_XHEAP, SEG_DOMAIN, SEG_THREAD, T_DOMAIN_NEXT, T_FREEING,
  T_RF_COUNT, T_RF_HEAD, T_RF_ONE, T_RF_PAGE } from "./layout";
import { loadSynced, memHas } from "./os";

// @abi-begin remote-free
export const RF_RUN_MIN: u32 = 2;               // frees into a run's page published one by one first
export const RF_SLOT_MAX: u32 = 64;              // blocks pending in a run before it is published
export const RF_BLOCK_MAX: u32 = 1024;           // larger blocks are published at once (pending bytes <= 64 KiB)
// @abi-end

/** Whether this instance batches runs (ft_remote_batching; off by default: see the file comment). */
let runsOn: bool = false;

/** Turn batching of runs on or off for this instance (the caller flushes its slot first when turning it off). */
export function remoteBatching(on: bool): void { runsOn = on; }

/**
 * Free `p` (valid, not free, in the current thread's domain) of `page`, which
 * another thread owns or an abandoned segment holds. The run's first RF_RUN_MIN
 * frees into one page are published at once (short runs are common where frees
 * spread over pages, and a chain costs more than the CAS it saves there); from
 * the next one on, blocks of up to RF_BLOCK_MAX bytes are chained.
 */
// @ts-ignore: decorator
@inline export function remoteFree(page: usize, p: usize): void {
  if (!runsOn) { pushFast(page, p); return; }
  const thread = curThread;
  if (<usize>load<u32>(thread, T_RF_PAGE) == page) {
    // Only blocks that may be chained count: the count then stays <= RF_RUN_MIN +
    // RF_SLOT_MAX and gives the chain's length (a page's big blocks counted without
    // bound once wrapped the count, and the flush dropped the chain: review-rf2).
    if (load<u32>(page, P_BLOCK_SIZE) <= RF_BLOCK_MAX) {
      const count = load<u32>(thread, T_RF_COUNT) + 1;     // this run's frees, this one included
      store<u32>(thread, count, T_RF_COUNT);
      if (count > RF_RUN_MIN) {
        store<u32>(p, load<u32>(thread, T_RF_HEAD) ^ load<u32>(page, P_KEY));   // head 0: a zero link, the chain's end
        store<u32>(thread, <u32>p, T_RF_HEAD);
        if (count >= RF_RUN_MIN + RF_SLOT_MAX) {
          remoteFlush(thread);
          store<u32>(thread, RF_RUN_MIN, T_RF_COUNT);       // the run goes on: the next block starts a chain
          store<u32>(thread, <u32>page, T_RF_PAGE);
        }
        return;
      }
    }
  } else {
    if (load<u32>(thread, T_RF_HEAD) != 0) remoteFlush(thread);   // a run into another page ends
    store<u32>(thread, <u32>page, T_RF_PAGE);
    store<u32>(thread, 1, T_RF_COUNT);
  }
  pushFast(page, p);
}

/** pushOne's common case inline: a page not in its owner's full queue, an uncontended CAS. */
// @ts-ignore: decorator
@inline function pushFast(page: usize, p: usize): void {
  const tf = xtfLoad(page);
  if (xtfState(tf) != DELAY_USE) {
    const seg = segmentOf(p);
    const domain = <usize>load<u32>(seg, SEG_DOMAIN);   // before the push: see pushOne
    store<u32>(p, <u32>xtfBlock(tf) ^ load<u32>(page, P_KEY));
    if (xtfCas(page, tf, xtfMake(p, xtfState(tf)))) {   // partner: pageCollectRemote's swap
      debugPause(DP_REVIEW_FREE_MT_PUSHED);
      if (loadAcquire(seg + SEG_THREAD) == 0) markAbandonDirty(domain);
      return;
    }
  }
  pushOne(page, p);
}

/** Has `thread` a remote-free slot in use (a run's page, perhaps blocks pending)? (owner) */
// @ts-ignore: decorator
@inline export function remotePending(thread: usize): bool {
  return load<u32>(thread, T_RF_PAGE) != 0;
}

/**
 * Publish `thread`'s pending chain and empty its slot. The owner, or a reap
 * acting as the dead thread: the slot names what is left to push (file comment).
 */
export function remoteFlush(thread: usize): void {
  const page = <usize>load<u32>(thread, T_RF_PAGE);
  if (page == 0) return;
  const head = <usize>loadAcquire(thread + T_RF_HEAD);
  if (head != 0) pushChain(thread, page, head, load<u32>(thread, T_RF_COUNT) - RF_RUN_MIN);
  store<u32>(thread, 0, T_RF_ONE);                 // a block a dead thread had in flight is its own (file comment)
  storeRelease(thread + T_RF_PAGE, 0);             // last (release: after the push, on any host): until now the double-free search finds the chain here
  store<u32>(thread, 0, T_RF_COUNT);
}

/**
 * Push the chain of `length` blocks that starts at `head` (page-key encoded) on
 * the page's xthreadFree with one CAS, and clear the slot's head at once. A page
 * in its owner's full queue (DELAY_USE) first gets one block the delayed way, as
 * a single remote free would, so the owner finds the page again: the chain's
 * tail, so that the chain from the slot's head stays whole for the double-free
 * search (sending the head would cut the chain under a search already walking it
 * from there: review-rf3).
 */
function pushChain(thread: usize, page: usize, head: usize, length: u32): void {
  const key = load<u32>(page, P_KEY);
  const seg = segmentOf(page);
  const domain = <usize>load<u32>(seg, SEG_DOMAIN);   // before the push: see pushOne
  const capacity = load<u32>(page, P_CAPACITY);
  const start = load<u32>(page, P_START);
  const area = load<u32>(page, P_EXT_BYTES);
  if (length - 1 >= capacity) length = capacity;      // a count a kill left out of range: the walk's bound
  while (true) {
    // The tail (and the block before it) by the length, not by a zero link: a
    // killed flush, or a failed CAS, may have linked the tail to the page's list.
    let prev: usize = 0;
    let tail = head;
    let n: u32 = 1;
    for (; n < length; n++) {
      const next = blockNext(page, tail);
      if (next == 0 || <u32>next - start >= area) break;   // a chain cut short: ends here
      prev = tail;
      tail = next;
    }
    length = n;
    const tf = xtfLoad(page);
    if (xtfState(tf) == DELAY_USE) {
      // The tail goes the delayed way (pushOne rewrites its link): in T_RF_ONE while
      // it does, the slot's count one less, and the chain cut before it (prev's
      // link zero; the last block empties the slot's head), so that once it is
      // handed out again no walk from the slot meets it (review-rf4). A search
      // that walked to the cut finds it in T_RF_ONE or, after, on the lists.
      store<u32>(thread, <u32>tail, T_RF_ONE);
      store<u32>(thread, load<u32>(thread, T_RF_COUNT) - 1, T_RF_COUNT);
      if (prev == 0) storeRelease(thread + T_RF_HEAD, 0);
      else storeRelease(prev, key);                  // a zero link: prev ends the chain
      pushOne(page, tail);
      storeRelease(thread + T_RF_ONE, 0);              // after the push: partner, the search's acquire load
      debugPause(DP_RF_TAIL_SENT);
      if (prev == 0) return;
      length--;
      continue;
    }
    store<u32>(tail, <u32>xtfBlock(tf) ^ key);
    debugPause(DP_RF_FLUSH_LINKED);
    if (xtfCas(page, tf, xtfMake(head, xtfState(tf)))) {   // partner: pageCollectRemote's swap
      storeRelease(thread + T_RF_HEAD, 0);             // no call since the CAS: a reap sees the chain pushed or not
      break;
    }
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
    memHas(<u64>heap + HEAP_SIZE);      // a heap record made since this instance looked (os.ts)
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
  memHas(<u64>flag + 4);   // a domain record made since this instance looked (os.ts)
  if (loadAcquire(flag) == 0) storeRelease(flag, 1);
}

/**
 * Is `p` (a block of `page`) pending in the remote-free slot of a thread of the
 * page's domain? (Racy, bounded, range-checked: see the file comment.)
 */
export function remoteBatchesContain(page: usize, p: usize): bool {
  const domain = <usize>load<u32>(segmentOf(page), SEG_DOMAIN);
  const capacity = load<u32>(page, P_CAPACITY);
  const start = load<u32>(page, P_START);
  const area = load<u32>(page, P_EXT_BYTES);
  let t = <usize>loadSynced(domain + D_THREADS);   // push-only: a lock-free walk
  while (t != 0) {
    if (<usize>loadAcquire(t + T_RF_PAGE) == page) {   // partner: remoteFlush's release store
      let b = <usize>loadAcquire(t + T_RF_HEAD);   // partner: pushChain's release stores
      debugPause(DP_RF_SEARCH_HEAD);
      for (let n: u32 = 0; b != 0 && n <= capacity; n++) {
        if (b == p) return true;
        if (<u32>b - start >= area) break;      // not a block of this page: a slot being rewritten
        b = blockNext(page, b);
      }
      if (<usize>loadAcquire(t + T_RF_ONE) == p) return true;   // on its way the delayed way (pushChain)
    }
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  return false;
}
