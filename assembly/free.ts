// free.ts — giving blocks back.
//
// Fast path (owner, page not in the full queue, not its last block): find the
// page from the pointer (segment mask, slice record, offset), check the pointer
// is a block start that was handed out, rule out a double free from one byte of
// the block (linkByteMayMatch), push it on `localFree`. Other threads push it on
// the page's `xthreadFree` with one CAS, or, on an instance that opted in, chain
// a run of frees into one page and push the chain with one CAS (remote-free.ts).
//
// What is checked, always (each failure leaves the heap untouched):
//   - the pointer lies in a live segment and is the start of a block that the page
//     has handed out at some time (else EINVAL_PTR);
//   - a double free is caught when the block's first word still holds a free-list
//     link (links are XOR-ed with a per-page key, so user data rarely looks like
//     one): the page's lists are then searched and a hit is EDOUBLE_FREE. The
//     fast path first tests the word's top byte only (a necessary condition, so
//     the same blocks reach the search; a byte load never stalls on the
//     program's last store into the block). Not
//     caught: a second free after the block was allocated again (that is a valid
//     free of the new block), or after the program overwrote the freed block's first
//     word; a huge block freed twice is EDOUBLE_FREE or, once its units are
//     reused, EINVAL_PTR.
//
// ftFreeUnchecked (ft_free_unchecked) is the fast path without the checks, for
// trusted Wasm callers linking the core: a bad pointer is undefined behaviour.
//
// See also: page.ts (lists and the delayed state), alloc.ts, heap.ts (drain).

import { addRelaxed, casAcqRel, loadAcquire, storeRelease, swapAcqRel } from "./atomics";
import { curOwnerWord, curThread } from "./current";
import { EDOUBLE_FREE, EINVAL_ARG, EINVAL_PTR, ENOT_ATTACHED, EWRONG_DOMAIN, OK, setError } from "./errors";
import { loadSynced, memFill, memHas, osDecommit, osUnitGiving, osUnitsFree, unitOf, unitState } from "./os";
import { DP_DRAIN_SEARCH_READ, DP_FREE_SEARCH_SPLIT, DP_HUGE_CLAIMED, DP_RF_SEARCH_GAP, debugPause } from "./debug-delay";
import { hookDelayedPending, hookHugeFreeHeld, hookTagHeld } from "./hooks";
import { remoteBatchesContain, remoteFree } from "./remote-free";
import { blockLooksFree, blockNext, hugeBlockPage, normalBlockPage, pageOfBlock, pageRetire, pageUnfull, xtfBlock, xtfLoad } from "./page";
import { segmentIsLocal, segmentIsMine, segmentOf, segmentRelease } from "./segment";
import { FULL_QUEUED, FULL_FLOAT, FIRST_UNIT, ROOT, R_BRK_UNITS, SEG_DOMAIN, SEG_GIVING, T_DOMAIN, T_DRAIN_BLOCK, T_DRAIN_LIST, FT_DEBUG_BUILD, H_DELAYED, H_THREAD, P_TAG, TAG_GC_PRE, PAGE_REC_SHIFT, P_BLOCK_SIZE,
  P_CAPACITY, P_DIV_MAGIC, P_EXT_BYTES, P_FREE, P_IN_FULL, P_KEY, P_LOCAL_FREE, P_RECIP, P_RETIRE, P_SLICE_OFFSET, P_START, P_USED, P_XHEAP,
  SEGMENT_SHIFT, SEG_PAGES, SEG_THREAD, SEG_UNITS, SLICE_SHIFT, T_HUGE_COUNT, UNIT_CONT, UNIT_HUGE,
  UNIT_NORMAL } from "./layout";

// ---- Free ------------------------------------------------------------------------

/**
 * free(p): 0 on success, else an error code (also left in lastError). The inlined
 * part is the owner's common case only; everything else makes one call, so the
 * caller's loop keeps its registers.
 */
// @ts-ignore: decorator
@inline export function ftFree(p: usize): i32 {
  // Nested ifs rather than && chains: they compile to plain branches.
  if (unitState(unitOf(p)) == UNIT_NORMAL) {        // p = 0 lies in unit 0, never NORMAL
    const seg = segmentOf(p);
    let page = seg + SEG_PAGES + (((p - seg) >> SLICE_SHIFT) << PAGE_REC_SHIFT);
    page -= load<u32>(page, P_SLICE_OFFSET);
    const start = load<u32>(page, P_START);
    const ext = load<u32>(page, P_EXT_BYTES);
    const off = <u32>p - start;
    if (off < ext) {                                // a live page's made-ready blocks
      const magic = load<u64>(page, P_DIV_MAGIC);
      if (<u64>off * magic < magic) {               // a block start
        if (segmentIsMine(seg, <usize>curOwnerWord)) {   // never an abandoned one's 0
          if (load<u8>(page, P_IN_FULL) == 0) {
            const key = load<u32>(page, P_KEY);
            if (!linkByteMayMatch(p, key, start)) {     // cannot be free already
              const used = load<u32>(page, P_USED);
              // The page's last block goes the slow way (the page retires),
              // unless the page is already kept for reuse.
              if (used != 1 || load<u8>(page, P_RETIRE) != 0) {
                if (FT_DEBUG_BUILD) debugFillFreed(page, p);
                store<u32>(p, load<u32>(page, P_LOCAL_FREE) ^ key);
                store<u32>(page, <u32>p, P_LOCAL_FREE);
                store<u32>(page, used - 1, P_USED);
                return OK;
              }
            }
          }
        }
      }
    }
  }
  return freeSlow(p);
}

/** The page record of the block at `p` (normal or huge; free or not), or 0 if `p` starts no block. */
export function blockPageOf(p: usize): usize {
  const state = unitState(unitOf(p));
  return state == UNIT_NORMAL ? normalBlockPage(p) : state == UNIT_HUGE ? hugeBlockPage(p) : 0;
}

/**
 * Could the first word at `p` be an encoded free-list link of the page (key,
 * start)? Tested on its top byte alone: a link is 0 or an address in the page's
 * segment, so its encoded top byte is the key's top byte (link 0) or that XOR the
 * segment's top byte; pageInit picks keys whose top byte is neither 0 nor the
 * segment's, so a zero byte (what malloc leaves, and small integers) never
 * matches. A necessary condition of blockLooksFree, so a block that would be
 * searched before still is (freeSlow re-tests the whole word). Why a byte: a
 * one-byte load is always contained in any store it overlaps, so it never hits
 * a failed store-to-load forwarding — the whole word, just after the program
 * stored one byte into it, stalled the fast path ~3 ns until that store retired.
 */
// @ts-ignore: decorator
@inline export function linkByteMayMatch(p: usize, key: u32, start: u32): bool {
  const top = <u32>load<u8>(p, 3);
  const k = key >>> 24;
  return top == k || top == (k ^ (start >>> 24));
}

/**
 * free(p) for trusted callers (ft_free_unchecked): `p` must be 0 or a live block
 * ftheap handed out in the caller's domain; nothing is validated and no double
 * free is looked for (a bad pointer is undefined behaviour: lists may be
 * corrupted). Routing stays: another thread's block, a full page, a page's last
 * block and huge blocks take freeSlow as in ftFree.
 */
// @ts-ignore: decorator
@inline export function ftFreeUnchecked(p: usize): void {
  const seg = segmentOf(p);
  if (unitState(unitOf(p)) == UNIT_NORMAL && segmentIsMine(seg, <usize>curOwnerWord)) {
    let page = seg + SEG_PAGES + (((p - seg) >> SLICE_SHIFT) << PAGE_REC_SHIFT);
    page -= load<u32>(page, P_SLICE_OFFSET);
    const used = load<u32>(page, P_USED);
    if (load<u8>(page, P_IN_FULL) == 0 && (used != 1 || load<u8>(page, P_RETIRE) != 0)) {
      if (FT_DEBUG_BUILD) debugFillFreed(page, p);
      store<u32>(p, load<u32>(page, P_LOCAL_FREE) ^ load<u32>(page, P_KEY));
      store<u32>(page, <u32>p, P_LOCAL_FREE);
      store<u32>(page, used - 1, P_USED);
      return;
    }
  }
  freeSlow(p);
}

function failWith(code: i32): i32 {
  setError(code);
  return code;
}

/**
 * Debug builds: fill a freed block with 0xDD, except its first word (the free-list
 * link) and, in a held tag (object-holding: qsbr-pages.ts), the object header's
 * owner and refcount words, which lock-free readers may still read: 16 bytes, 24
 * for GC_PRE (2-word pre-header first): the object header is docs/design.md's.
 */
function debugFillFreed(page: usize, p: usize): void {
  const bs = load<u32>(page, P_BLOCK_SIZE);
  const keep: u32 = !hookTagHeld(page) ? 4 : <u32>load<u8>(page, P_TAG) == TAG_GC_PRE ? 24 : 16;
  if (bs > keep) memFill(p + keep, 0xDD, bs - keep);
}

// Slow: p is 0, not a block, huge, perhaps free already, another thread's, in a
// page of the full queue, or its page's last live block.
function freeSlow(p: usize): i32 {
  memHas(<u64>p + 1);   // another thread's block in memory grown since this instance looked: atomics below check the length (os.ts)
  if (p == 0) return OK;
  if (curThread == 0) return failWith(ENOT_ATTACHED);
  if (unitState(unitOf(p)) != UNIT_NORMAL) return freeSpecial(p);
  const page = normalBlockPage(p);
  if (page == 0) return failWith(EINVAL_PTR);
  // The segment's owner frees locally unless the page floats or is lent (float.ts):
  // then every free is a remote one, as another thread's.
  if (segmentIsLocal(segmentOf(p), curThread) && load<u8>(page, P_IN_FULL) != FULL_FLOAT) {
    if (blockIsFree(page, p, true)) return failWith(EDOUBLE_FREE);
    freeCheckedLocal(<usize>loadAcquire(page + P_XHEAP), page, p);
    return OK;
  }
  if (!blockInDomain(p)) return failWith(EWRONG_DOMAIN);
  return freeMt(page, p);
}

/**
 * Does the block at `p` (in a live segment) belong to the current thread's
 * domain? A segment's domain never changes while it is live; with no current
 * thread there is nothing to compare with (the caller fails otherwise).
 */
export function blockInDomain(p: usize): bool {
  return curThread == 0 || load<u32>(segmentOf(p), SEG_DOMAIN) == load<u32>(curThread, T_DOMAIN);
}

/** Owner frees a block already known valid and not free (also drains xdelayedFree). */
export function freeCheckedLocal(heap: usize, page: usize, p: usize): void {
  if (load<u8>(page, P_IN_FULL) == FULL_QUEUED) pageUnfull(heap, page);
  if (FT_DEBUG_BUILD) debugFillFreed(page, p);
  store<u32>(p, load<u32>(page, P_LOCAL_FREE) ^ load<u32>(page, P_KEY));
  store<u32>(page, <u32>p, P_LOCAL_FREE);
  const used = load<u32>(page, P_USED) - 1;
  store<u32>(page, used, P_USED);
  if (used == 0) pageRetire(heap, page);
}

/** A free by a thread that does not own the page: published at once, or chained in a run (remote-free.ts). */
function freeMt(page: usize, p: usize): i32 {
  if (blockIsFree(page, p, false)) return failWith(EDOUBLE_FREE);
  if (FT_DEBUG_BUILD) debugFillFreed(page, p);
  remoteFree(page, p);
  return OK;
}

// ---- Double-free search ---------------------------------------------------------

function listContains(page: usize, head: usize, p: usize): bool {
  const limit = load<u32>(page, P_CAPACITY);
  const start = load<u32>(page, P_START);
  const area = load<u32>(page, P_EXT_BYTES);
  let b = head;
  for (let n: u32 = 0; b != 0 && n <= limit; n++) {
    if (b == p) return true;
    if (<u32>b - start >= area) return false;        // not a link of this page: stop
    b = blockNext(page, b);
  }
  return false;
}

const DELAYED_SCAN_LIMIT: u32 = 1 << 16;

/**
 * Is `p` on the heap's xdelayedFree list, or on the part of it its owner took and
 * is freeing (heap.ts delayedDrain: the rest of the list, and the block being
 * freed)? Searched in the order a block moves through them.
 */
function delayedListContains(heap: usize, p: usize): bool {
  if (heap == 0) return false;
  if (delayedChainContains(<usize>loadAcquire(heap + H_DELAYED), p)) return true;
  // The owner pops from the head of its part while we walk it, and a popped block's
  // link may be overwritten (a debug fill) or its page freed, which ends the walk
  // early: when the head moved meanwhile, walk again from the new one (a block
  // popped is named in T_DRAIN_BLOCK before it leaves the list).
  const owner = <usize>load<u32>(heap, H_THREAD);
  for (let tries: u32 = 0; tries < DRAIN_SEARCH_TRIES; tries++) {
    const head = <usize>loadAcquire(owner + T_DRAIN_LIST);
    debugPause(DP_DRAIN_SEARCH_READ);
    if (delayedChainContains(head, p) || <usize>loadAcquire(owner + T_DRAIN_BLOCK) == p) return true;
    if (<usize>loadAcquire(owner + T_DRAIN_LIST) == head) return false;
  }
  return false;
}

const DRAIN_SEARCH_TRIES: u32 = 8;

/** Is `p` on the delayed-free chain from `head` (links in the second word)? Every link is validated before it is followed. */
export function delayedChainContains(head: usize, p: usize): bool {
  let b = head;
  for (let n: u32 = 0; b != 0 && n < DELAYED_SCAN_LIMIT; n++) {
    if (b == p) return true;
    if (!delayedLinkValid(b)) return false;
    b = <usize>load<u32>(b + 4);
  }
  return false;
}

/**
 * Could `b` be a block on a delayed-free chain: a block start of a live page of a
 * normal segment whose first word reads as free (a block pushed on a delayed list
 * holds its page's key there, one freed since a link)? A block handed out again
 * holds 0 or the program's data: its second word is no link to follow (review 4).
 */
export function delayedLinkValid(b: usize): bool {
  if (!memHas(<u64>b + 8) || unitState(unitOf(b)) != UNIT_NORMAL) return false;
  const page = normalBlockPage(b);
  return page != 0 && blockLooksFree(page, b);
}

/**
 * Is the block at `p` on one of its page's own lists (or is the page empty)? What a
 * reap finishing a dead owner's delayed-list drain asks of each block (heap.ts): the
 * owner's other places are the drain itself.
 */
export function blockOnPageLists(page: usize, p: usize): bool {
  if (load<u32>(page, P_USED) == 0) return true;
  return blockLooksFree(page, p) && pageListsContain(page, p);
}

/** Is `p` on one of the page's three lists (remote, local, free: the order a block moves in)? */
function pageListsContain(page: usize, p: usize): bool {
  return listContains(page, xtfBlock(xtfLoad(page)), p)
      || listContains(page, <usize>load<u32>(page, P_LOCAL_FREE), p)
      || listContains(page, <usize>load<u32>(page, P_FREE), p);
}

/**
 * Is the block at `p` free (on one of its page's lists or its heap's delayed list)?
 * Cheap unless its first word decodes to a link. Racy when `local` is false (the
 * owner may be changing its lists): walks are bounded and range-checked, and a
 * live block is never on a list, so a hit means the block really is free.
 */
export function blockIsFree(page: usize, p: usize, local: bool): bool {
  if (!blockLooksFree(page, p)) return false;
  if (local && load<u32>(page, P_USED) == 0) return true;
  // The remote-free slots first: a flush moves a block from a slot to the page's
  // xthreadFree (or its heap's delayed list) and only then empties the slot, so
  // a block looked for in that order is found at every moment; the page's lists
  // first, a flush between the two looks hid it from both (review-rf2).
  // Then the delayed lists before the page's own (a drain moves a block from the
  // heap's list through its owner's words onto the page's local list: review 3).
  if (remoteBatchesContain(page, p)) return true;
  debugPause(DP_RF_SEARCH_GAP);
  if (delayedListContains(<usize>loadAcquire(page + P_XHEAP), p)) return true;
  debugPause(DP_FREE_SEARCH_SPLIT);
  return pageListsContain(page, p);
}

// ---- Huge blocks and bad pointers -----------------------------------------------

function freeSpecial(p: usize): i32 {
  if (unitState(unitOf(p)) != UNIT_HUGE) return failWith(EINVAL_PTR);
  const page = hugeBlockPage(p);
  if (page == 0) return failWith(EINVAL_PTR);
  if (!blockInDomain(p)) return failWith(EWRONG_DOMAIN);
  // Any thread may free a huge block; claiming `used` 1 -> 0 makes it exactly once.
  if (!casAcqRel(page + P_USED, 1, 0)) return failWith(EDOUBLE_FREE);
  const seg = segmentOf(p);
  // Ours to give back: marked with the freeing thread (SEG_GIVING; no call since the
  // claim) until it is on a held list or its units are free, so that the reap of a
  // freer killed in between finishes the job (hugeGivingFinish). Before, the units
  // were nobody's for good.
  storeRelease(seg + SEG_GIVING, <u32>curThread);
  debugPause(DP_HUGE_CLAIMED);
  // A held tag's segment waits for a QSBR goal before it can be reused (delayed-free.ts).
  if (hookTagHeld(page) && hookHugeFreeHeld(seg, load<u32>(page, P_LOCAL_FREE))) return OK;
  hugeSegmentFree(seg);
  return OK;
}

/**
 * Give a huge block's segment back. Its owner is taken with a swap: an owner
 * exiting at the same time makes it ownerless with a CAS (abandon.ts), and
 * whichever of the two wins decrements the owner's huge count, once.
 */
export function hugeSegmentFree(seg: usize): void {
  const page = seg + SEG_PAGES;
  const thread = <usize>swapAcqRel(seg + SEG_THREAD, 0);
  if (thread != 0) addRelaxed(thread + T_HUGE_COUNT, <u32>-1);
  // Huge records keep their committed bytes in P_LOCAL_FREE; the mark (its freer,
  // if any) and its stage bit as segmentRelease keeps them for every give-back.
  segmentRelease(seg, <usize>(loadAcquire(seg + SEG_GIVING) & ~1), load<u32>(page, P_LOCAL_FREE), load<u32>(seg, SEG_UNITS));
}

/**
 * Reap of `thread`: finish the frees of huge blocks it died in (their segments
 * still marked with it: see freeSpecial). Each goes where that free would have
 * sent it: a held tag's to its domain's held list with a fresh goal (a second
 * hold is only later, never early), any other back to the runtime, counted off
 * once (segmentRelease's stage bit).
 */
export function hugeGivingFinish(thread: usize): void {
  const brk = loadSynced(ROOT + R_BRK_UNITS);
  for (let unit = FIRST_UNIT; unit < brk; unit++) {
    if (unitState(unit) != UNIT_HUGE) continue;
    const seg = <usize>unit << SEGMENT_SHIFT;
    if (!osUnitGiving(seg, thread)) continue;
    const page = seg + SEG_PAGES;
    // Held again only if it was not counted off yet (the stage bit): holding it would
    // clear the mark, and its later give-back count it off a second time (review 4).
    if ((loadAcquire(seg + SEG_GIVING) & 1) == 0 && hookTagHeld(page)
        && hookHugeFreeHeld(seg, load<u32>(page, P_LOCAL_FREE))) continue;
    hugeSegmentFree(seg);
  }
}

// ---- Batches (ft_free_many) -------------------------------------------------------

// Entries per ft_free_many call (the facade's chunks for every batch call); the
// current thread's scratch buffer (ft_batch_scratch) holds BATCH_MAX entries, then
// freeMany's table of 2 x BATCH_MAX words.
// @abi-begin batch
export const BATCH_MAX: u32 = 4096;
export const BATCH_SCRATCH_BYTES: u32 = 49152;   // BATCH_MAX * 12: 48 KiB
// @abi-end

/**
 * Free the `n` pointers of the u32 array at `buf`, in order, each as ftFree
 * would; every entry is replaced by its result (OK, or the code) → how many
 * failed. A pointer listed again after it was freed by this call is
 * EDOUBLE_FREE and not looked at: between the two entries its block may have
 * been reused (another thread's block is on a list its owner collects), so the
 * block's own state cannot tell. `table` (2^bits words, bits ≥ 1, ≥ 2n entries)
 * is an open-addressing set of the pointers freed so far; zeroed here. An entry
 * whose block would hold part of the array is EINVAL_ARG and not freed: the
 * results are written into the array (review 14: the free-list link of a block
 * holding the array was overwritten by its own result).
 */
export function freeMany(buf: usize, n: u32, table: usize, bits: u32): u32 {
  const mask: u32 = (<u32>1 << bits) - 1;
  memFill(table, 0, <usize>(mask + 1) << 2);
  let bad: u32 = 0;
  const end = <u64>buf + (<u64>n << 2);
  const guard = unitsHoldBlocks(buf, end);      // not the facade's scratch (meta memory)
  for (let i: u32 = 0; i < n; i++) {
    const at = buf + (<usize>i << 2);
    const p = load<u32>(at);
    if (p == 0) continue;                        // free(0): nothing, OK
    let slot = (p * 0x9E3779B1) >>> (32 - bits);
    let seen = false;
    while (true) {
      const q = load<u32>(table + (<usize>slot << 2));
      if (q == 0) break;
      if (q == p) { seen = true; break; }
      slot = (slot + 1) & mask;
    }
    const rc = seen || hookDelayedPending(<usize>p) ? failWith(EDOUBLE_FREE)   // listed twice, or its delayed free still to come
      : guard && blockOverlaps(<usize>p, buf, end) ? failWith(EINVAL_ARG) : ftFree(<usize>p);
    store<u32>(at, <u32>rc);
    if (rc != OK) { bad++; continue; }
    store<u32>(table + (<usize>slot << 2), p);   // the empty slot the probe ended on
  }
  return bad;
}

// Could the block at `p` (not validated: ftFree checks it) hold any byte of
// [lo, hi)? Normal blocks by their page's block size, huge ones by their whole
// segment; anything else is no block.
function blockOverlaps(p: usize, lo: usize, hi: u64): bool {
  if (<u64>p >= hi) return false;
  const state = unitState(unitOf(p));
  let top: u64;
  if (state == UNIT_NORMAL) top = <u64>p + <u64>load<u32>(pageOfBlock(p), P_BLOCK_SIZE);
  else if (state == UNIT_HUGE) top = <u64>segmentOf(p) + (<u64>load<u32>(segmentOf(p), SEG_UNITS) << SEGMENT_SHIFT);
  else return false;
  return top > <u64>lo;
}

// Does any unit of [lo, hi) hold blocks (normal or huge segments)?
function unitsHoldBlocks(lo: usize, hi: u64): bool {
  const last = <u32>((hi - 1) >> SEGMENT_SHIFT);
  for (let u = unitOf(lo); u <= last; u++) {
    const state = unitState(u);
    if (state == UNIT_NORMAL || state == UNIT_HUGE || state == UNIT_CONT) return true;
  }
  return false;
}
