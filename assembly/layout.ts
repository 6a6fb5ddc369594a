// layout.ts — sizes, shifts and the byte layout of every shared record.
//
// Vocabulary (docs/design.md has all of it):
//   unit     4 MiB of address space; the segment table has one byte per unit.
//   segment  one unit (normal) or several (huge), aligned to 4 MiB, owned by a thread.
//   slice    32 KiB; a normal segment has 128, slice 0 holds the segment header.
//   page     a run of slices holding blocks of one size class (small 1, medium 8,
//            large up to 64 slices).
//   block    one allocation.
// Wasm memory only grows, so "returning memory" means returning a segment's units
// to the runtime-wide pool (unit state FREE) for any thread to reuse.
//
// Every constant is derived from a shift; the resolved value is in the comment.

// @ts-ignore: decorator
@lazy export const FT_DEBUG_BUILD: bool = isDefined(FT_DEBUG) ? <bool>FT_DEBUG : false;

// ---- Sizes ----------------------------------------------------------------------
export const WORD_SHIFT: u32 = 3;                            // 8-byte granules
export const SLICE_SHIFT: u32 = 15;                          // 32 KiB
export const SLICE_SIZE: u32 = 1 << SLICE_SHIFT;
export const SEGMENT_SHIFT: u32 = 22;                        // 4 MiB
export const SEGMENT_SIZE: u32 = 1 << SEGMENT_SHIFT;
export const SEGMENT_MASK: u32 = SEGMENT_SIZE - 1;
export const SLICES_PER_SEGMENT: u32 = SEGMENT_SIZE >> SLICE_SHIFT;   // 128
export const UNITS: u32 = 1 << (32 - SEGMENT_SHIFT);        // 1024 units in 4 GiB
export const PAGES_PER_UNIT_SHIFT: u32 = SEGMENT_SHIFT - 16; // 64 Wasm pages per unit

export const SMALL_PAGE_SLICES: u32 = 1;                     // 32 KiB
export const MEDIUM_PAGE_SLICES: u32 = 8;                    // 256 KiB
export const SMALL_OBJ_MAX: u32 = SLICE_SIZE >> 3;           // 4 KiB: >= 8 blocks per small page
export const MEDIUM_OBJ_MAX: u32 = SLICE_SIZE;               // 32 KiB: >= 8 blocks per medium page
export const LARGE_OBJ_MAX: u32 = SEGMENT_SIZE >> 1;         // 2 MiB: larger blocks get a huge segment
export const DIRECT_MAX: u32 = 1024;                         // sizes served by the direct page table
export const DIRECT_ENTRIES: u32 = (DIRECT_MAX >> WORD_SHIFT) + 1;    // 129
export const MAX_ALIGN: u32 = SEGMENT_SIZE >> 1;             // 2 MiB: largest alignment accepted
export const EXTEND_BYTES: u32 = 4096;                       // lazy free-list extension step

// ---- Bins (size classes) -------------------------------------------------------
// Bins 1..8 are exact multiples of 8 B (8..64); above that four bins per doubling,
// up to LARGE_OBJ_MAX (bin 68). See size-class.ts.
// @abi-begin size-classes
export const BIN_LARGE_MAX: u32 = 68;
// @abi-end
export const BIN_FULL: u32 = 69;                             // the full-page queue
export const QUEUE_COUNT: u32 = 70;                          // queue 0 is unused

// ---- Unit states (segment table) -----------------------------------------------
export const UNIT_NONE: u8 = 0;       // not ftheap's (runtime area or not yet grown)
export const UNIT_NORMAL: u8 = 1;     // head of a normal segment
export const UNIT_HUGE: u8 = 2;       // head of a huge segment
export const UNIT_CONT: u8 = 3;       // continuation of a huge segment
export const UNIT_FREE: u8 = 4;       // in the free-segment pool
export const UNIT_META: u8 = 5;       // holds thread/heap records

// ---- Root record (runtime-wide), fixed at ROOT --------------------------------
//
//   ROOT+0     initState   u32 atomic  0 = fresh, 1 = initialising, 2 = ready
//   ROOT+4     osLock      u32 atomic  spin lock: grow, pool, segment table (the runtime's spin locks
//                                      hold their holder's instance id: atomics.ts spinLock)
//   ROOT+8     brkUnits    u32 (osLock) first unit never handed out
//   ROOT+12    maxPages    u32 (init)  the memory's maximum, in 64 KiB pages
//   ROOT+16    committed   u64 atomic  bytes of segment headers + extended pages + huge blocks, less
//                                      what threads hold in their records' commitDelta (os.ts):
//                                      committed = this + sum of every record's commitDelta (signed)
//   ROOT+24    peak        u64 atomic  high-water of `committed`, raised at folds and stats reads
//   ROOT+32    metaLock    u32 atomic  spin lock for the meta allocator
//   ROOT+36    metaBump    u32 (metaLock) next meta record, in 64 B granules (meta.ts)
//   ROOT+40    metaEnd     u32 (metaLock) end of the current meta unit, in 64 KiB pages
//   ROOT+44    assertFirst u32 atomic  the first failed assert's code anywhere (debug builds; 0 = none)
//   ROOT+48    threadList  u32 atomic  every thread record ever made (push-only)
//   ROOT+52    commitExact u32 (init)  1: every commit goes to `committed` at once and raises the peak
//                                      (ft_commit_exact, before any thread); 0: threads keep deltas (os.ts)
//   ROOT+56    segsLive    u32 (osLock) units in NORMAL/HUGE/CONT segments
//   ROOT+60    segsFree    u32 (osLock) units in the pool
//   ROOT+64    statsLock   u32 atomic  guards the stats scratch area
//   ROOT+68    threadSerial u32 atomic
//   ROOT+72    sharePages  u32 (init)  1: full pages float, other threads may take them over (float.ts;
//                                      Runtime.create({ sharePages: true }))
//   ROOT+76    headLock    u32 atomic  spin lock: domains' thread lists, stop-the-world states
//   ROOT+80    domainList  u32 (headLock) every domain (push-only)
//   ROOT+84    defaultDomain u32 (init)
//   ROOT+88    domainSerial u32 (headLock)
//   ROOT+92    stwRw       u32 atomic  global stop (bit 0) vs per-domain stops (count << 1)
//   ROOT+96    instanceSerial u32 atomic  instance ids handed out (ft_init, ft_instance_reserve)
//   ROOT+100   hmScratch   u32 (metaLock) heap-map scratch buffers given back (a stack linked by their first word)
//   ROOT+104   resList     u32 atomic  chunks of reserved instance ids not yet adopted (instance.ts): push-only,
//                                      under resLock; a slot is set under it, cleared by a CAS without it
//   ROOT+108   resLock     u32 atomic  spin lock: reserving (a free slot, a new chunk)
//   ROOT+112   rolesLock   u32 atomic  spin lock: a reap letting go of a dead thread's roles
//                                      (lifecycle.ts rolesReleaseDead: one reaper at a time)
//   ROOT+128   EMPTY_PAGE  a page record (128 B) with no free block (read-only)
//   ROOT+256   EMPTY_HEAP  a heap whose direct table points at EMPTY_PAGE (read-only)
//   ROOT+1408  highWaterPages u32 atomic (osLock) pages the memory has grown to; alone on its line,
//              which only a grow writes: every core export reads it (os.ts memSync)
//   ROOT+1536  GLOBAL_STW  the runtime-wide stop-the-world state (STW record, 32 B)
//   ROOT+2048  BIN_SIZE[70]  u32 block size per bin (written once at init)
//   ROOT+2560  BIN_RECIP[70] u32 ceil(2^32 / block size)
//   ROOT+3072  SEGTABLE[1024] u8 unit states
//   ROOT+4096  STATS scratch (statsLock), 4 KiB
//   ROOT+8192  end of the root record
// @abi-begin root
export const ROOT: usize = 1024;
// @abi-end
export const R_INIT: usize = 0;
export const R_OS_LOCK: usize = 4;
export const R_BRK_UNITS: usize = 8;
export const R_MAX_PAGES: usize = 12;
export const R_COMMITTED: usize = 16;
export const R_PEAK: usize = 24;
export const R_META_LOCK: usize = 32;
// @abi-begin meta
export const R_META_BUMP: usize = 36;   // tests read it: meta memory in use, in 64 B granules
// @abi-end
export const R_META_END: usize = 40;
// @abi-begin root-fields
export const R_ASSERT_FIRST: usize = 44;
export const R_THREAD_LIST: usize = 48;
export const R_COMMIT_EXACT: usize = 52;
export const R_SEGS_LIVE: usize = 56;
export const R_SEGS_FREE: usize = 60;
// @abi-end
export const R_STATS_LOCK: usize = 64;
export const R_THREAD_SERIAL: usize = 68;
export const R_HIGH_WATER_PAGES: usize = 1408;
export const R_SHARE_PAGES: usize = 72;
export const R_HEAD_LOCK: usize = 76;
export const R_DOMAIN_LIST: usize = 80;
export const R_DEFAULT_DOMAIN: usize = 84;
export const R_DOMAIN_SERIAL: usize = 88;
export const R_STW_RW: usize = 92;
export const R_INSTANCE_SERIAL: usize = 96;
export const R_HM_SCRATCH: usize = 100;
export const R_RES_LIST: usize = 104;
export const R_RES_LOCK: usize = 108;
export const R_ROLES_LOCK: usize = 112;
export const EMPTY_PAGE: usize = ROOT + 128;
export const GLOBAL_STW: usize = ROOT + 1536;
export const EMPTY_HEAP: usize = ROOT + 256;
export const BIN_SIZE: usize = ROOT + 2048;
export const BIN_RECIP: usize = ROOT + 2560;
export const SEGTABLE: usize = ROOT + 3072;
export const STATS: usize = ROOT + 4096;
export const STATS_SIZE: usize = 4096;
export const ROOT_END: usize = ROOT + 8192;
/** Thread and heap records start here, below the first segment unit. */
export const META_START: usize = 65536;
/** Unit 0 is the runtime area (root + first meta records); segments start at unit 1. */
export const FIRST_UNIT: u32 = 1;

// ---- Segment header (at the segment's base) ------------------------------------
//
//   +0    xthreadId   u32 atomic  owning thread record (written by owner; read by all frees)
//   +4    kind        u32         UNIT_NORMAL / UNIT_HUGE (immutable while live)
//   +8    usedPages   u32 owner   pages in use (normal); 1 for huge
//   +12   units       u32         4 MiB units covered (immutable while live)
//   +16   next        u32 owner   the owner's segment list
//   +20   prev        u32 owner
//   +24   domain      u32         the domain whose memory this is (immutable while live)
//   +28   abandonNext u32 (domain's abandonLock) the domain's abandoned pool (abandon.ts)
//   +32   giving      u32 (abandonLock; cleared under osLock) while a pool collector gives the
//                                 segment back (out of the pool, its unit not yet free): its
//                                 domain, | 1 once its bytes are counted off (abandon.ts); else 0
//   +256  page records [128] x 128 B; record i describes slice i
//   +16640 xthreadFree lines [128] x 64 B (SEG_XTF): line i holds record i's
//         xthreadFree word (page.ts xtfAddr), the rest of the line is unused;
//         meaningful only for a live page's first record (set by pageInit / hugeAlloc)
//
// Owner: xthreadId names it; 0 = abandoned (its thread exited; the segment waits in
// its domain's pool, where the pool's lock holder acts as its owner) or free.
//
// Invariant (normal): slices 1..127 are tiled by pages and free spans; a record with
// blockSize != 0 is the first slice of a live page; every other slice of a page has
// blockSize = 0 and sliceOffset = its distance to the first record.
export const SEG_THREAD: usize = 0;
export const SEG_KIND: usize = 4;
export const SEG_USED: usize = 8;
export const SEG_UNITS: usize = 12;
export const SEG_NEXT: usize = 16;
export const SEG_PREV: usize = 20;
export const SEG_DOMAIN: usize = 24;
export const SEG_ABANDON_NEXT: usize = 28;
export const SEG_GIVING: usize = 32;
export const SEG_PAGES: usize = 256;
export const PAGE_REC_SHIFT: u32 = 7;                        // 128-byte page records
export const PAGE_REC_SIZE: u32 = 1 << PAGE_REC_SHIFT;
// Each page's xthreadFree word has a cache line of its own, apart from its record:
// remote frees CAS it without touching a line the owner writes (free, used,
// localFree) or reads on its fast path (the record's first line).
export const SEG_XTF: usize = <usize>SEG_PAGES + (<usize>SLICES_PER_SEGMENT << PAGE_REC_SHIFT);   // 16640
export const XTF_STRIDE_SHIFT: u32 = 6;                      // 64 bytes per page
export const SEG_META_BYTES: u32 = <u32>SEG_XTF + (SLICES_PER_SEGMENT << XTF_STRIDE_SHIFT);   // 24832
export const HUGE_BLOCK_OFFSET: u32 = 32768;                 // huge block start (unaligned case)

// ---- Page record (128 B, in the segment header) --------------------------------
//
// The first 64 bytes (one cache line) hold what both the owner's fast paths and
// remote frees read, and the owner rarely writes; the second line holds what the
// owner writes on every allocation and free (free, used, localFree) and the queue
// links; xthreadFree, the one word remote frees write, is in the segment's
// xthreadFree array (SEG_XTF, a line per page; xtfAddr in page.ts). So a free by
// another thread shares no line with the owner's fast path but that word.
//
//   +0   float        u8  (see float.ts) FLOAT_*: which list a page shared between threads is on;
//                     written by its owner or the domain pool's lock holder, 0 for any other page
//   +1   (15 bytes, unused)
//   +16  pageStart    u32 owner   address of block 0
//   +20  extBytes     u32 owner   capacity * blockSize; 0 = not a live page (grows only)
//   +24  divMagic     u64 owner   ceil(2^64 / blockSize): off is a block start iff
//                                 off * divMagic (mod 2^64) < divMagic (Lemire's test)
//   +32  key          u32 owner   per-page key that encodes free-list links (low bits 111)
//   +36  inFull u8 | tag u8 | retire u8 | bin u8   (owner)
//   +40  blockSize    u32 owner   0 = not a live page (free span or interior slice)
//   +44  sliceOffset  u32 owner   bytes back to the first slice's record
//   +48  capacity     u32 owner   blocks extended so far
//   +52  xheap        u32 atomic  owning heap (read by remote frees)
//   +56  reserved     u32 owner   blocks that fit the page
//   +60  recip        u32 owner   ceil(2^32 / blockSize): block index from an offset
//   +64  next         u32 owner   page queue or span queue link
//   +68  prev         u32 owner
//   +72  sliceCount   u32 owner   slices in this page/span (first slice only)
//   +80  qsbrGoal     u64 owner   QSBR goal an empty page waits for before it may be freed;
//                                 0 = not held (then also unlinked). Kept on abandonment.
//   +88  qsbrNext     u32 owner   the owner thread's list of held pages (qsbr-pages.ts)
//   +92  qsbrPrev     u32 owner
//   +96  free         u32 owner   blocks to allocate from (links encoded with `key`)
//   +100 used         u32 owner   blocks handed out, including those in xthreadFree
//   +104 localFree    u32 owner   blocks the owner freed
//   xthreadFree       u32 atomic  (SEG_XTF array) blocks other threads freed | delayed state (2 bits)
//
// Counting invariant: capacity = used + |free| + |localFree|, and
// live blocks = used - |xthreadFree| - (blocks on the heap's xdelayedFree list).
// Other threads read only pageStart, extBytes, divMagic, key, blockSize,
// sliceOffset, capacity and xheap of a live page, which do not change while one
// of its blocks is live (extBytes and capacity only grow).
export const P_FREE: usize = 96;
export const P_USED: usize = 100;
export const P_LOCAL_FREE: usize = 104;
export const P_START: usize = 16;
export const P_EXT_BYTES: usize = 20;
export const P_DIV_MAGIC: usize = 24;
export const P_KEY: usize = 32;
export const P_IN_FULL: usize = 36;  // u8: 1 while in the full queue, FULL_FLOAT while not its segment owner's (free takes the generic path)
export const FULL_QUEUED: u8 = 1;   // P_IN_FULL: in its heap's full queue
export const FULL_FLOAT: u8 = 2;    // P_IN_FULL: floating or lent (float.ts)
export const P_FLOAT: usize = 0;
// P_FLOAT states (float.ts)
export const FLOAT_NONE: u8 = 0;     // the segment owner's page (or not shared)
export const FLOAT_POOLED: u8 = 1;   // on the domain's float list (links P_NEXT/P_PREV), nobody's
export const FLOAT_LENT: u8 = 2;     // in a heap queue of a thread that does not own the segment
export const FLOAT_MOVING: u8 = 3;   // between the two, named in its mover's T_FLOAT_PAGE
export const P_TAG: usize = 37;
export const P_RETIRE: usize = 38;
export const P_BIN: usize = 39;
export const P_BLOCK_SIZE: usize = 40;
export const P_SLICE_OFFSET: usize = 44;
export const P_CAPACITY: usize = 48;
export const P_XHEAP: usize = 52;
export const P_RESERVED: usize = 56;
export const P_RECIP: usize = 60;
export const P_NEXT: usize = 64;
export const P_PREV: usize = 68;
export const P_SLICE_COUNT: usize = 72;
export const P_QSBR_GOAL: usize = 80;
export const P_QSBR_NEXT: usize = 88;
export const P_QSBR_PREV: usize = 92;

// Delayed-free state in the low 2 bits of xthreadFree (mimalloc's mi_delayed_t).
export const DELAY_USE: u32 = 0;        // next remote free also notifies the heap
export const DELAY_FREEING: u32 = 1;    // a remote thread is pushing on the heap list
export const DELAY_NO: u32 = 2;         // plain push on the page list
export const DELAY_NEVER: u32 = 3;      // the owner exited: never touch a heap

// ---- Heap record (1152 B, meta area) -------------------------------------------
//
//   +0    thread        u32 owner   owning thread record (0 for EMPTY_HEAP)
//   +4    tag           u32 owner
//   +8    genericCount  u32 owner   calls of the slow path
//   +12   xdelayedFree  u32 atomic  blocks freed remotely into full pages
//   +16   retiredMin    u32 owner   bin range holding retained empty pages
//   +20   retiredMax    u32 owner
//   +24   remoteAt      u32 owner   genericCount when its slow path last found blocks other threads
//                                   freed (0: never); page sharing floats full pages only soon after (float.ts)
//   +32   direct[129]   u32 owner   size>>3 -> page with (probably) free blocks
//   +576  queues[70]    {first, last} u32 owner
export const H_THREAD: usize = 0;
export const H_TAG: usize = 4;
export const H_GENERIC: usize = 8;
export const H_DELAYED: usize = 12;
export const H_RETIRED_MIN: usize = 16;
export const H_RETIRED_MAX: usize = 20;
export const H_REMOTE_AT: usize = 24;
export const H_DIRECT: usize = 32;
export const H_QUEUES: usize = 576;
export const HEAP_SIZE: u32 = 1152;

// ---- Thread record (2048 B, meta area) -----------------------------------------
//
//   +0    state        u32 atomic  THREAD_* below; owner moves DETACHED->ATTACHED, a
//                                  stop-the-world requester DETACHED<->SUSPENDED
//   +4    serial       u32 atomic  unique number of this incarnation of the record (set under
//                                  headLock when listed, new on every reuse): identifies a stop's
//                                  requester (S_REQUESTER), so a reused record never inherits it
//   +8    nextAll      u32         root thread list link (immutable once pushed)
//   +12   segCount     u32 owner   normal segments owned
//   +16   segFirst     u32 owner   owned normal segments (list through SEG_NEXT)
//   +20   hugeCount    u32 atomic  huge segments owned (decremented by any freer)
//   +24   domain       u32         the domain it belongs to (immutable)
//   +28   freeNext     u32 (headLock) link in the domain's free records
//   +32   heaps[16]    u32 owner   heap record per tag (0 until first use)
//   +96   spans[8]     {first, last} u32 owner   free spans by slice-count class
//   +160  visit cursor: tag, bin, page, index, huge unit, next page (owner)
//   +192  domainNext   u32         the domain's thread list link (immutable once pushed)
//   +196  stwPending   u32 (headLock) counted in a stop's countdown, not yet accounted
//   +200  csDepth      u32 owner   critical sections on the stack
//   +204  qsbrSlot     u32 owner reads; rewritten by a slot-array grower under stop-the-world
//   +208  qsbrFlags    u32 owner   QF_* (qsbr.ts)
//   +212  deferrals    u32 owner   deferred advances since the last real one
//   +216  deferBytes   u32 owner   bytes queued for delayed free since then
//   +220  deferPages   u32 owner   bytes of pages held since then
//   +224  dfHead       u32 owner   delayed-free chunks (first = oldest)
//   +228  dfTail       u32 owner
//   +232  dfPending    u32 owner   items queued, not yet freed
//   +240  heldFirst    u32 owner   held pages, oldest goal first (qsbr-pages.ts)
//   +244  heldLast     u32 owner
//   +248  reaper       u32 atomic  the instance id of the reap releasing it (with reaped = REAP_RELEASING;
//                                  set under headLock): should that JS thread die inside the release,
//                                  its death voids the release's FREEING claim (lifecycle.ts reapsReleaseDead),
//                                  whose caller takes the role over by a CAS (one wins; its own death
//                                  leaves the rest to its instance's reap)
//   +252  owner        u32 atomic  the instance id allowed to enter it (current.ts); 0 = none (exited, reaped)
//   +256  reaped       u32 atomic  1: reaped (d.reap) rather than exited; REAP_RELEASING (2) while the
//                                  reaper releases it acting as the thread; set under headLock, cleared when reused
//   +260  freeing      u32 atomic  owner publishes the page it may take DELAY_FREEING on (free.ts
//                                  freeMt), 0 after; read by that page's owner (page.ts) to tell a
//                                  FREEING left by a dead, reaped freer from a live one's
//   +264  lastSeen     u64 atomic  owner stamps nowMs() (f64 bits) at attach, detach and every
//                                  64th checkpoint of its instance; others read it (d.threads())
//   Objects (object.ts, brc.ts): counters the owner bumps, read by d.stats() and folded into
//   the domain's object record when the thread exits or is reaped:
//   +272  objCreated   u64 atomic  objects this thread made
//   +280  objDealloc   u64 atomic  objects this thread deallocated
//   +288  objQueued    u32 atomic  objects it queued to their owner's merge queue
//   +292  objMerged    u32 atomic  queued objects it merged (as their owner, or for a gone owner)
//   +296  objUnfinal   u32 atomic  objects it deallocated without running their type's finalizer
//   +300  brcNext      u32 (bucket lock) link in its merge-queue bucket's thread list
//   +304  brcQueue     u32 (bucket lock) its merge queue: a stack of chunks (C_NEXT, C_WR, items u32)
//   +308  brcBucket    u32 owner   1 + the bucket it is registered in; 0: not registered
//   +312  gcLock       u32 owner   heap-lock depth (d.gc.lock): GC objects cannot be made while > 0
//   +316  gcAlloc      u32 owner   GC-tag bytes allocated, not yet added to the domain's gcAllocated
//   +236  gcYoung      u32 owner   GC objects made, not yet added to the domain's gcYoung
//   +320  stwBlockersN u32 owner   a timed-out stop of this requester: threads that held it up
//   +324  stwBlockers[15] u32 owner  ... their records (the first STW_BLOCKERS_MAX); read by the facade
//   +384  dfOldest     u64 atomic  owner writes the goal of its oldest queued delayed free (0 = none);
//                                  read by Domain.blockers (delayed-free.ts)
//   Pystack (pystack.ts): the owner's, plain, and changed only while it is attached. The collector
//   reads base and top with the world stopped; a reap zeroes count and top (top: release store)
//   once the record is EXITED. threadResetOwned keeps base and cap (the region stays with the record):
//   +392  stackBase    u32 owner   the region (meta memory, 64-aligned); 0 until the first allocation
//   +396  stackSize    u32 owner   this thread's size in bytes, set at attach; 0 = PYSTACK_DEFAULT
//   +400  stackTop     u32 owner   bytes of the live part: the live range is [base, base + top)
//   +404  stackHigh    u32 owner   the most bytes ever in use (top + 4 x count) since attach
//   +408  stackCount   u32 owner   live blocks; their offsets are the index at the region's end
//   +412  stackCap     u32 owner   the region's bytes (>= size once made)
//   use = top + 4 x count <= size <= cap
//   +416  commitDelta  i32 atomic  bytes this thread committed (-decommitted) not yet in ROOT.committed
//                                  (os.ts): written only by the instance whose current thread it is
//                                  (an atomic store; it reads it plain), folded at ±256 KiB, at exit
//                                  and at reap (a swap); stats read it (osCommitted)
//   +420  batchScratch u32 owner   the thread's batch buffer (ft_batch_scratch: BATCH_SCRATCH_BYTES of
//                                  meta memory, made on first use); threadResetOwned keeps it: it stays
//                                  with the record, as the pystack region does (per instance, every
//                                  instance ever made kept 48 KiB of meta memory for good)
//   Remote frees (remote-free.ts): the slot of a run of remote frees into one page. The owner
//   writes it plain; the double-free search of any thread of the domain reads it racily
//   (bounded, range-checked walks); a reap flushes it acting as the thread:
//   +424  rfPage       u32 owner   the page of the last remote free (0: none; a flush empties it with a
//                                  release store, the search reads it with an acquire load)
//   +428  rfHead       u32 owner   its pending chain (page-key encoded, zero-terminated)
//   +432  rfCount      u32 owner   the run's frees; the chain holds rfCount - RF_RUN_MIN
//   +436  rfOne        u32 owner   the block a flush is sending the delayed way (0: none)
//   +440  handleHeld   u32 atomic  the SharedList/SharedMap header whose writers' mutex this thread holds
//                                  (0: none): stored right after the lock is taken, cleared right before it
//                                  is let go, by the owner; a reap lets that mutex go (shared-handle.ts)
//   +448  breaker      u32 atomic  eval breaker: request bits | domain version << 8
//   +512  visit bitmap (512 B: up to 4096 blocks per page)
//   +1024 critical-section stack: 64 x {m1, m2, flags} (owner)
// @abi-begin thread-record
export const T_STATE: usize = 0;
// @abi-end
export const T_SERIAL: usize = 4;
export const T_NEXT_ALL: usize = 8;
export const T_SEG_COUNT: usize = 12;
export const T_SEG_FIRST: usize = 16;
export const T_HUGE_COUNT: usize = 20;
export const T_DOMAIN: usize = 24;
export const T_FREE_NEXT: usize = 28;
export const T_HEAPS: usize = 32;
export const T_SPANS: usize = 96;
export const SPAN_BINS: u32 = 8;
export const T_VISIT_TAG: usize = 160;
export const T_VISIT_BIN: usize = 164;
export const T_VISIT_PAGE: usize = 168;
export const T_VISIT_INDEX: usize = 172;
export const T_VISIT_UNIT: usize = 176;
export const T_VISIT_NEXT: usize = 180;
export const T_ADOPTING: usize = 184;   // a segment this thread took out of the pool and has not yet listed as its own (0: none)
export const T_DRAIN_LIST: usize = 188; // owner: the rest of a heap's delayed list being freed (heap.ts heapDelayedFreeAll)
export const T_DOMAIN_NEXT: usize = 192;
export const T_STW_PENDING: usize = 196;
export const T_CS_DEPTH: usize = 200;
export const T_QSBR_SLOT: usize = 204;
export const T_QSBR_FLAGS: usize = 208;
export const T_DEFERRALS: usize = 212;
export const T_DEFER_BYTES: usize = 216;
export const T_DEFER_PAGES: usize = 220;
export const T_DF_HEAD: usize = 224;
export const T_DF_TAIL: usize = 228;
export const T_DF_PENDING: usize = 232;
export const T_HELD_FIRST: usize = 240;
export const T_HELD_LAST: usize = 244;
export const T_OWNER: usize = 252;
export const T_REAPER: usize = 248;
export const T_REAPED: usize = 256;
export const REAP_RELEASING: u32 = 2;      // T_REAPED while a reap releases the record (its FREEING claims are live)
export const T_FREEING: usize = 260;
export const T_LAST_SEEN: usize = 264;
export const T_OBJ_CREATED: usize = 272;
export const T_OBJ_DEALLOC: usize = 280;
export const T_OBJ_QUEUED: usize = 288;
export const T_OBJ_MERGED: usize = 292;
export const T_OBJ_UNFINAL: usize = 296;
export const T_BRC_NEXT: usize = 300;
export const T_BRC_QUEUE: usize = 304;
export const T_BRC_BUCKET: usize = 308;
export const T_GC_LOCK: usize = 312;
export const T_GC_ALLOC: usize = 316;
export const T_GC_YOUNG: usize = 236;
// @abi-begin stw-blockers
export const T_STW_BLOCKERS_N: usize = 320;
export const T_STW_BLOCKERS: usize = 324;
export const STW_BLOCKERS_MAX: u32 = 15;
// @abi-end
export const T_DF_OLDEST: usize = 384;
export const T_STACK_BASE: usize = 392;
export const T_STACK_SIZE: usize = 396;
export const T_STACK_TOP: usize = 400;
export const T_STACK_HIGH: usize = 404;
export const T_STACK_COUNT: usize = 408;
export const T_STACK_CAP: usize = 412;
export const T_COMMIT_DELTA: usize = 416;
export const T_BATCH_SCRATCH: usize = 420;
export const T_RF_PAGE: usize = 424;
export const T_RF_HEAD: usize = 428;
export const T_RF_COUNT: usize = 432;
export const T_RF_ONE: usize = 436;
export const T_HANDLE_HELD: usize = 440;
export const T_DRAIN_BLOCK: usize = 444; // owner: the block of that list being freed now (0: none)
export const T_BREAKER: usize = 448;
export const T_VISIT_BITMAP: usize = 512;
export const VISIT_BITMAP_BYTES: u32 = 512;
export const T_CS_STACK: usize = 1024;
export const CS_ENTRY_SIZE: u32 = 12;
export const CS_MAX_DEPTH: u32 = 64;
// Words a reap reads to finish what a thread killed inside the allocator left (lifecycle.ts threadRelease):
export const T_SEG_GIVING: usize = 1792;   // owner: a segment of its own it is giving back, off its list, unit maybe not yet free (0: none)
export const T_SEG_NEW: usize = 1796;      // owner: units taken for a new segment or huge block, not yet listed or made (| 1: counted committed; 0: none)
export const T_HUGE_LIST: usize = 1800;    // owner: the rest of a domain's held huge stack it took to process (0: none)
export const T_HUGE_ONE: usize = 1804;     // owner: the one of them it is pushing back (0: none)
// A critical section's locks while they change hands (critical-section.ts): held now, though no
// active section names them. Owner writes; a reap reads them (held locks it reports).
export const T_CS_TAKE_A: usize = 1808;    // owner: a lock a section took (named at the CAS), not yet in its entry (0: none)
export const T_CS_TAKE_B: usize = 1812;    // owner: the second lock of a two-lock section, likewise
export const T_CS_REL_A: usize = 1816;     // owner: a lock a section lets go (ending or suspended), cleared at the release (0: none)
export const T_CS_REL_B: usize = 1820;     // owner: its second lock, likewise
// @abi-begin cs-async
export const T_CS_ASYNC: usize = 1824;     // owner: CS_ASYNC_SLOTS words, locks an async section took (named at the CAS) and not yet handed to it (0: none)
export const CS_ASYNC_SLOTS: u32 = 4;
// @abi-end
export const T_FLOAT_PAGE: usize = 1840;   // owner: a page it moves between a heap queue and the domain's float list (float.ts; 0: none)
export const THREAD_SIZE: u32 = 2048;

// @abi-begin thread-states
export const THREAD_FREE: u32 = 0;       // a recyclable record
export const THREAD_ATTACHED: u32 = 1;
export const THREAD_DETACHED: u32 = 2;
export const THREAD_SUSPENDED: u32 = 3;
export const THREAD_EXITED: u32 = 4;
// @abi-end

// ---- Domain record (512 B, meta area) -------------------------------------------
//
//   +0    id           u32
//   +4    threads      u32 (headLock) thread list head (push-only, via T_DOMAIN_NEXT)
//   +8    freeThreads  u32 (headLock) recyclable thread records of this domain
//   +12   version      u32 atomic  mirrored into every thread's breaker (bits 8..31)
//   +16   nextDomain   u32         root domain list link
//   +20   (unused: live threads are counted from the records)
//   +64   stop-the-world record (below)
//   QSBR (qsbr.ts); the two sequences each have a cache line of their own:
//   +128  wrSeq        u64 atomic  write sequence: starts at 1, +2 per advance (always odd)
//   +192  rdSeq        u64 atomic  cached minimum of the online read sequences (grows only)
//   +256  qsbrMutex    u32 atomic  guards the slot array's free list and its growth
//   +260  slots        u32 (qsbrMutex; replaced under stop-the-world) slot array, 64 B each
//   +264  slotCount    u32 (same)
//   +268  slotFree     u32 (qsbrMutex) first free slot's index + 1; 0 = none
//   +272  deferLimit   u32 atomic  deferredAdvance advances every Nth call (10)
//   +276  freeLimit    u32 atomic  ... or when this many bytes wait for delayed free (1 MiB)
//   +280  pageLimit    u32 atomic  ... or when this many page bytes are held (80 KiB)
//   +284  heldTags     u32 atomic  bit per tag whose empty pages wait for QSBR (OBJECT, GC, GC_PRE)
//   Delayed frees handed over by exited threads (delayed-free.ts):
//   +320  dqMutex      u32 atomic  try-locked by processors, locked by exiting threads
//   +324  dqHasWork    u32 atomic  hint: the queue is not empty
//   +328  dqHead       u32 (dqMutex) chunks
//   +332  dqTail       u32 (dqMutex)
//   +336  dfQueued     u64 atomic  items ever queued (stats)
//   +344  dfFreed      u64 atomic  items freed
//   +352  dfFailed     u32 atomic  items whose free failed (e.g. freed twice)
//   +356  pagesHeld    u32 atomic  pages currently waiting for a goal
//   +360  chunkLock    u32 atomic  spin lock of the chunk pool
//   +364  chunkFree    u32 (chunkLock) delayed-free chunks not in use (meta memory, reused)
//   +368  chunks       u32 (chunkLock) chunks ever made
//   +372  abandonGiving u32 (abandonLock) the segment a pool collector is giving back (0: none);
//                                  found set by the next holder, the last one died doing it (abandon.ts)
//   Abandoned segments (abandon.ts):
//   +384  abandonLock  u32 atomic  mutex over the pool: push, take, collect; holds the holder's thread record,
//                                   or 2 x instance id + 1 for a caller with no thread (instance.ts)
//   +388  abandoned    u32 (abandonLock) segments whose thread exited (list via SEG_ABANDON_NEXT)
//   +392  abandonCount u32 atomic  segments in the pool (written under abandonLock)
//   +396  abandonDirty u32 atomic  1: a block was freed into the pool (collect at a checkpoint)
//   +400  abandonGoal  u64 atomic  smallest QSBR goal of a held page in the pool; 0 = none
//   +408  abandonFreed u32 atomic  segments the pool gave back to the runtime (stats)
//   +412  reclaimed    u32 atomic  segments adopted by live threads (stats)
//   +416  closed       u32 atomic  1 once d.close() began: the domain is no longer valid (headLock)
//   +420  dqHolder     u32 atomic  the thread holding dqMutex (0: none, or one that has not said yet)
//   +424  qsbrHolder   u32 atomic  the thread holding qsbrMutex (same): a reap releases a dead holder's
//   Delayed frees, continued (delayed-free.ts):
//   +480  hugeHeld     u32 atomic  held huge segments waiting for a goal: a stack through their
//                                  first page record's qsbrNext (push: CAS, by any freer; take: swap)
//   +484  dfMarks      u32 atomic  unit -> pending-mark bitmap table (1024 x u32, meta; set once by CAS);
//                                  each bitmap (64 KiB, meta, set once by CAS) has a bit per 8 B of its
//                                  unit, set (atomic or) by freeDelayed, cleared (atomic and) before the free
//   +488  dqOldest     u64 atomic  goal of the domain queue's oldest item, 0 = none (written under dqMutex)
//   +428  objects      u32         the domain's object record (below; meta, made with the domain)
//   +436  floatBins    u32 (init)  heads, then tails, of the float lists, a u32 each per size class (meta, made with the domain;
//                                  float.ts): written under abandonLock
//   +440  floated      u32 atomic  pages ever put on a float list (stats)
//   +444  floatTaken   u32 atomic  pages taken from it into another thread's heap (stats)
export const D_ID: usize = 0;
export const D_THREADS: usize = 4;
export const D_FREE_THREADS: usize = 8;
export const D_VERSION: usize = 12;
export const D_NEXT: usize = 16;
export const D_STW: usize = 64;
export const D_QSBR_WR: usize = 128;
export const D_QSBR_RD: usize = 192;
export const D_QSBR_MUTEX: usize = 256;
export const D_QSBR_SLOTS: usize = 260;
export const D_QSBR_COUNT: usize = 264;
export const D_QSBR_FREE: usize = 268;
export const D_DEFER_LIMIT: usize = 272;
export const D_FREE_LIMIT: usize = 276;
export const D_PAGE_LIMIT: usize = 280;
export const D_HELD_TAGS: usize = 284;
export const D_DQ_MUTEX: usize = 320;
export const D_DQ_HAS_WORK: usize = 324;
export const D_DQ_HEAD: usize = 328;
export const D_DQ_TAIL: usize = 332;
export const D_DF_QUEUED: usize = 336;
export const D_DF_FREED: usize = 344;
export const D_DF_FAILED: usize = 352;
export const D_PAGES_HELD: usize = 356;
export const D_CHUNK_LOCK: usize = 360;
export const D_CHUNK_FREE: usize = 364;
export const D_CHUNKS: usize = 368;
export const D_ABANDON_GIVING: usize = 372;
export const D_CLOSER: usize = 380;            // the instance closing the domain (D_CLOSED 1): its reap finishes a close it died in
export const D_FLOAT_BINS: usize = 436;        // (init) the float lists' heads, one u32 per size class (meta; float.ts):
                                               // written under abandonLock, read unlocked only to skip an empty list
export const D_FLOATED: usize = 440;           // atomic: pages ever put on the float list (stats)
export const D_FLOAT_TAKEN: usize = 444;       // atomic: pages taken from it into another thread's heap (stats)
export const D_DISCARD_HUGE: usize = 432;      // a held huge segment a close took off D_HUGE_HELD and is giving back (0: none)
export const D_ABANDON_WORKING: usize = 376;   // the pooled segment the pool lock's holder is collecting (0: none)
export const D_ABANDON_LOCK: usize = 384;
export const D_ABANDONED: usize = 388;
export const D_ABANDON_COUNT: usize = 392;
export const D_ABANDON_DIRTY: usize = 396;
export const D_ABANDON_GOAL: usize = 400;
export const D_ABANDON_FREED: usize = 408;
export const D_RECLAIMED: usize = 412;
export const D_CLOSED: usize = 416;
export const D_DQ_HOLDER: usize = 420;
export const D_QSBR_HOLDER: usize = 424;
export const D_OBJECTS: usize = 428;
export const D_HUGE_HELD: usize = 480;
export const D_DF_MARKS: usize = 484;
export const D_DQ_OLDEST: usize = 488;
export const DOMAIN_SIZE: u32 = 512;

// ---- Object record (one per domain, meta; type.ts, brc.ts, object.ts) ------------
//
//   +0    typeLock     u32 atomic  spin lock of the type registry: 0 free, else the holder's
//                                  thread record (a reap releases a dead holder's)
//   +4    typeTable    u32 atomic  {capacity u32, pad u32, records u32[capacity]}: a MEM block;
//                                  replaced under typeLock when full, the old one freed by
//                                  freeDelayed (a lock-free reader may still hold it)
//   +8    typeCount    u32 atomic  types defined; stored after the record is in the table
//   +16   created      u64 atomic  object counters of threads that exited or were reaped
//   +24   dealloc      u64 atomic
//   +32   queued       u32 atomic
//   +36   merged       u32 atomic
//   +40   unfinal      u32 atomic
//   +64   buckets[64]  {lock u32 atomic (0 or the holder's thread record), threads u32 (lock),
//                      pending u32 (lock: the object the holder is handing over), pad}: the
//                      merge-queue table, keyed by owner serial % 64 (brc.ts)
//   The cycle collector (gc.ts):
//   +1088 gcCollecting u32 atomic  0, or the collecting thread (CAS 0 -> thread: one collection at a time)
//   +1092 gcFlags      u32 atomic  GCF_* (gc.ts): disabled, automatic policy
//   +1096 gcThreshold  u32 atomic  bytes allocated on GC tags that schedule a collection (0: off)
//   +1100 zeroTags     u32 atomic  bit per tag whose raw allocations are zeroed (GC tags by default)
//   +1104 gcAllocated  u64 atomic  GC-tag block bytes allocated since the last collection (flushed by threads)
//   +1112 gcYoung      u32 atomic  GC objects made since the last collection (flushed likewise)
//   +1116 gcLongLived  u32 atomic  GC objects that survived the last collection
//   +1120 gcCount      u32 atomic  collections
//   +1124 gcAutoMin    u32 atomic  the automatic policy's young-object threshold (2000)
//   +1128 gcCollected  u64 atomic  GC objects ever collected
//   +1136 gcLastPause  f64 atomic  ms the world was stopped by the last collection (both pauses)
//   +1144 gcMaxPause   f64 atomic  the longest such
export const OR_TYPE_LOCK: usize = 0;
export const OR_TYPE_TABLE: usize = 4;
export const OR_TYPE_COUNT: usize = 8;
export const OR_CREATED: usize = 16;
export const OR_DEALLOC: usize = 24;
export const OR_QUEUED: usize = 32;
export const OR_MERGED: usize = 36;
export const OR_UNFINAL: usize = 40;
export const OR_BUCKETS: usize = 64;
export const OR_GC_COLLECTING: usize = 1088;
export const OR_GC_FLAGS: usize = 1092;
export const OR_GC_THRESHOLD: usize = 1096;
export const OR_ZERO_TAGS: usize = 1100;
export const OR_GC_ALLOCATED: usize = 1104;
export const OR_GC_YOUNG: usize = 1112;
export const OR_GC_LONG_LIVED: usize = 1116;
export const OR_GC_COUNT: usize = 1120;
export const OR_GC_AUTO_MIN: usize = 1124;
export const OR_GC_COLLECTED: usize = 1128;
export const OR_GC_LAST_PAUSE: usize = 1136;
export const OR_GC_MAX_PAUSE: usize = 1144;
export const BRC_BUCKET_SHIFT: u32 = 6;
export const BRC_BUCKETS: u32 = 1 << BRC_BUCKET_SHIFT;          // 64
export const BRC_BUCKET_SIZE: usize = 16;
export const OBJECT_RECORD_SIZE: u32 = 1152;

// ---- Type record (meta, variable size; type.ts) ----------------------------------
//
//   +0    id           u32         1 + its index in the table (immutable)
//   +4    size         u32         payload bytes (immutable)
//   +8    flags        u32 atomic  TF_* (type.ts); TF_FINALIZE may be added later
//   +12   refCount     u32         payload offsets that hold object references (immutable)
//   +16   nameLength   u32         UTF-8 bytes (immutable)
//   +20   nameHash     u32
//   +32   name         bytes[nameLength], then the reference offsets u32[refCount] (4-aligned)
// @abi-begin type-record
export const TY_ID: usize = 0;
export const TY_SIZE: usize = 4;
export const TY_FLAGS: usize = 8;
export const TY_REFS: usize = 12;
export const TY_NAME_LENGTH: usize = 16;
export const TY_NAME_HASH: usize = 20;
export const TY_NAME: usize = 32;
export const TYPE_NAME_MAX: u32 = 255;
export const TYPE_REFS_MAX: u32 = 4096;
export const TYPE_SIZE_MAX: u32 = 1 << 30;
export const TF_GC: u32 = 1;          // instances live on the GC tag (the collector's)
export const TF_FINALIZE: u32 = 2;    // some thread registered a finalizer: deallocation asks the host
// @abi-end

// ---- Object header (24 B at the block start; payload at +24, 8-aligned) ------------
//
//   +0    tid          u32 atomic  the owner's T_SERIAL (a thread incarnation); 0: merged or
//                                  immortal. Written by the owner at creation and by a merge
//                                  (before the shared word: brc.ts); read by anyone
//   +4    flags        u16         OF_* (object.ts): OBJECT (set by objNew, cleared by the free), FINALIZED;
//                                  written by the making and the deallocating thread only
//   +6    gcBits       u8          the collector's (next issue)
//   +7    magic        u8          OBJECT_MAGIC (object.ts), with OF_OBJECT: the block is an object
//   +8    local        u32         owner only (plain loads and stores, no atomics); the count of
//                                  references the owner made; 0xFFFFFFFF: immortal
//   +12   shared       i32 atomic  count << 2 | QUEUED | MERGED (brc.ts accessors); any thread
//   +16   type         u32         type id (immutable while the object lives)
//   +20   mutex        u32 atomic  the object's mutex (mutex.ts), 0 = unlocked
//   true count = local + (shared >> 2), less one while QUEUED (the queue holds the
//   non-owner's decrement it has not applied yet)
// @abi-begin object-header
export const O_TID: usize = 0;
export const O_FLAGS: usize = 4;
export const O_GC_BITS: usize = 6;
export const O_SPARE: usize = 7;
export const O_LOCAL: usize = 8;
export const O_SHARED: usize = 12;
export const O_TYPE: usize = 16;
export const O_MUTEX: usize = 20;
export const OBJECT_HEADER: usize = 24;
export const IMMORTAL_LOCAL: u32 = 0xFFFFFFFF;
// @abi-end

// ---- QSBR slot (64 B, one cache line; in the domain's slot array) ---------------
//
//   +0    seq          u64 atomic  owner stores wrSeq at quiescent points, 0 = offline;
//                                  pollers read
//   +8    thread       u32 (qsbrMutex) registered thread record, 0 = free
//   +12   freeNext     u32 (qsbrMutex) next free slot's index + 1
//   +16   reserved     u32 (qsbrMutex) 1 from reserve to unregister
export const SL_SEQ: usize = 0;
export const SL_THREAD: usize = 8;
export const SL_FREE_NEXT: usize = 12;
export const SL_RESERVED: usize = 16;
export const SLOT_SHIFT: u32 = 6;

// ---- Delayed-free chunk (4 KiB of meta memory, from its domain's chunk pool) -----
//
//   +0    next         u32         next chunk (owner's queue, or the domain's under dqMutex)
//   +4    rd           u32         items consumed (bumped before an item is freed)
//   +8    wr           u32         items written
//   +16   items[255]   {ptr u32, size u32, goal u64}
export const C_NEXT: usize = 0;
export const C_RD: usize = 4;
export const C_WR: usize = 8;
export const C_ITEMS: usize = 16;
export const CHUNK_SIZE: u32 = 4096;
export const CHUNK_ITEMS: u32 = (CHUNK_SIZE - 16) >> 4;   // 255

// ---- Stop-the-world record (32 B: in each domain, and GLOBAL_STW) -------------
//
//   +0    mutex        u32 atomic  serialises requesters of this scope: 0 free, 1 held (stop-the-world.ts's own timed lock)
//   +4    requested    u32 (headLock, read atomically)
//   +8    stopped      u32 (headLock, read atomically)
//   +12   countdown    u32 atomic  threads still to pause; the requester waits on it
//   +16   requester    u32 (headLock, read atomically) the requester's T_SERIAL, 0 = none: a
//                                  serial, not the record's address, so a record reused after
//                                  its thread exited never inherits the role
//   +20   rwHeld       u32 atomic  the T_SERIAL of the requester holding the reader/writer word
//                                  (ROOT+R_STW_RW) for this scope, 0 = none: stamped right after
//                                  the CAS that takes it, swapped to 0 right before the release,
//                                  so a reap releases exactly what a dead requester held
export const S_MUTEX: usize = 0;
export const S_REQUESTED: usize = 4;
export const S_STOPPED: usize = 8;
export const S_COUNTDOWN: usize = 12;
export const S_REQUESTER: usize = 16;
export const S_RW_HELD: usize = 20;

// @abi-begin tags
export const TAG_COUNT: u32 = 16;
// Reserved tags (docs/design.md); 4..15 are the user's.
export const TAG_MEM: u32 = 0;
export const TAG_OBJECT: u32 = 1;
export const TAG_GC: u32 = 2;
export const TAG_GC_PRE: u32 = 3;
export const TAG_USER: u32 = 4;         // the first tag free for users
// @abi-end
