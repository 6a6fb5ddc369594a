/**
 * A picture of the heap for displays: every live segment, and the pages and
 * free spans that tile it, as plain objects ({@link heapMap}, `rt.heapMap()`).
 *
 * The core walks the segment table without locks and without stopping anyone
 * (assembly/heap-map.ts), so it may be called from any JS thread, attached or
 * not, including a browser main thread, which never blocks: it never waits.
 * Threads keep running while it reads, so a map is a racy snapshot: a page's
 * counts may be a moment old or mid-update; fine for a display, not for
 * accounting (use {@link Runtime.stats} with the threads quiescent for that).
 * @module
 */
import { HM_NEXT, HM_RECORD, HM_RECORDS, HM_SCRATCH_BYTES, HMP_ABANDONED, HMP_BLOCK_SIZE, HMP_CAPACITY, HMP_FLAGS,
  HMP_FREE, HMP_FULL, HMP_HUGE, HMP_QSBR_WAIT, HMP_RETIRED, HMP_SLICE, HMP_SLICES, HMP_TAG, HMP_USED, HMS_ABANDONED,
  HMS_BASE, HMS_FLAGS, HMS_KIND, HMS_OWNER, HMS_PAGES, HMS_UNITS } from './abi.gen.ts';
import { coreError } from './errors.ts';
import type { Runtime } from './runtime.ts';

const UNIT_HUGE = 2;
const SEGMENT_SHIFT = 22;

/** One page (or free span) of a {@link HeapMapSegment}. */
export interface HeapMapPage {
  /** First slice (32 KiB each; slice 0 is the segment header). 0 for a huge block. */
  slice: number;
  /** Slices it covers (0 for a huge block). */
  slices: number;
  /** A free span: no blocks (tag, blockSize, used and capacity are 0). */
  free: boolean;
  /** The tag of its blocks (0 MEM, 1 OBJECT, 2 GC, 3 GC_PRE, 4.. the user's). */
  tag: number;
  /** Bytes per block. */
  blockSize: number;
  /** Blocks handed out (remote frees not yet collected included). */
  used: number;
  /** Blocks that fit the page. */
  capacity: number;
  /** An empty page of a held tag waiting for its QSBR goal before it may be reused otherwise. */
  qsbrWaiting: boolean;
  /** In a segment whose thread exited or was reaped (the domain's abandoned pool). */
  abandoned: boolean;
  /** In its heap's full queue. */
  full: boolean;
  /** An empty page kept a little while before it goes back to its segment. */
  retired: boolean;
  /** The one block of a huge segment. */
  huge: boolean;
}

/** One live segment of a {@link HeapMap}. */
export interface HeapMapSegment {
  /** Its 4 MiB unit index (address = unit × 4 MiB). */
  unit: number;
  /** Its address. */
  address: number;
  /** 'normal' (4 MiB of pages) or 'huge' (one block). */
  kind: 'normal' | 'huge';
  /** The owning thread's id; 0 when abandoned. */
  owner: number;
  /** No owner: its thread exited or was reaped, and it waits in its domain's pool. */
  abandoned: boolean;
  /** 4 MiB units it covers. */
  units: number;
  /** Its pages and free spans, in slice order (a huge segment: its block). */
  pages: HeapMapPage[];
}

/** {@link heapMap}'s result. */
export interface HeapMap {
  /** Live segments, in address order. */
  segments: HeapMapSegment[];
}

/**
 * A racy snapshot of every live segment and its pages (see the module comment):
 * what a heap display draws. Takes no lock and never waits, so any JS thread may
 * call it, attached or not (a browser main thread too).
 *
 * @example
 * ```ts
 * for (const s of rt.heapMap().segments) {
 *   const busy = s.pages.filter((p) => !p.free).length;
 *   console.log(`segment ${s.unit}: ${busy} pages${s.abandoned ? ' (abandoned)' : ''}`);
 * }
 * ```
 * @throws FtheapError `ENOMEM` (no memory for the 64 KiB scratch buffer: one per concurrent call, kept in a runtime-wide pool)
 */
export function heapMap(rt: Runtime): HeapMap {
  const x = rt.exports;
  const buf = x.ft_heap_map_scratch() >>> 0;
  if (buf === 0) throw coreError(x.ft_last_error(), 'heapMap scratch buffer');
  try {
    return { segments: walk(rt, buf) };
  } finally {
    x.ft_heap_map_scratch_release(buf);   // runtime-wide pool: meta memory is never freed
  }
}

function walk(rt: Runtime, buf: number): HeapMapSegment[] {
  const x = rt.exports;
  const segments: HeapMapSegment[] = [];
  let from = 0;
  // Each call writes at least one segment (the buffer holds the largest), and units only grow: bounded.
  for (let calls = 0; calls < 1024; calls++) {
    const n = x.ft_heap_map(buf, HM_SCRATCH_BYTES, from);
    if (n < 0) throw coreError(-n, 'heapMap');
    const v = rt.view(buf, HM_SCRATCH_BYTES);
    const records = v.getUint32(HM_RECORDS, true);
    let r = HM_RECORD;
    const end = HM_RECORD * (records + 1);
    while (r < end) {
      const address = v.getUint32(r + HMS_BASE, true);
      const count = v.getUint16(r + HMS_PAGES, true);
      const pages: HeapMapPage[] = [];
      for (let i = 0; i < count; i++) pages.push(readPage(v, r + HM_RECORD * (i + 1)));
      segments.push({
        unit: address >>> SEGMENT_SHIFT, address, kind: v.getUint8(r + HMS_KIND) === UNIT_HUGE ? 'huge' : 'normal',
        owner: v.getUint32(r + HMS_OWNER, true), abandoned: (v.getUint8(r + HMS_FLAGS) & HMS_ABANDONED) !== 0,
        units: v.getUint32(r + HMS_UNITS, true), pages,
      });
      r += HM_RECORD * (count + 1);
    }
    from = v.getUint32(HM_NEXT, true);
    if (from === 0 || n === 0) break;
  }
  return segments;
}

function readPage(v: DataView, o: number): HeapMapPage {
  const flags = v.getUint8(o + HMP_FLAGS);
  return {
    slice: v.getUint8(o + HMP_SLICE), slices: v.getUint8(o + HMP_SLICES), free: (flags & HMP_FREE) !== 0,
    tag: v.getUint8(o + HMP_TAG), blockSize: v.getUint32(o + HMP_BLOCK_SIZE, true), used: v.getUint32(o + HMP_USED, true),
    capacity: v.getUint32(o + HMP_CAPACITY, true), qsbrWaiting: (flags & HMP_QSBR_WAIT) !== 0,
    abandoned: (flags & HMP_ABANDONED) !== 0, full: (flags & HMP_FULL) !== 0, retired: (flags & HMP_RETIRED) !== 0,
    huge: (flags & HMP_HUGE) !== 0,
  };
}
