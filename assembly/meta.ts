// meta.ts — memory for the runtime's own records: threads, heaps, domains, QSBR
// slot arrays and delayed-free chunks.
//
// Thread records (2 KiB), heap records (1152 B), domain records, slot arrays and
// chunks live outside the segments: first
// in the rest of unit 0 above the root record, then in META units taken from the
// pool. They are bump-allocated under ROOT.metaLock and never return to the pool;
// thread records are recycled through a free list (heap records stay with their
// thread record and are reused with it; chunks go back to their domain's pool).
//
// The bump pointer and the current unit's end are kept in 64-byte and 64 KiB
// units (ROOT.metaBump, ROOT.metaEnd), and the arithmetic is 64-bit: the end of
// the last unit is 2^32, which in 32 bits wrapped to 0 — every later record then
// took a fresh 4 MiB unit (or failed: no unit left), and a record ending at 4 GiB
// was bounds-checked against the wrapped sum (test/races-delayed.test.ts fills a
// 4 GiB memory so that the meta unit is the last one).
//
// See also: thread.ts (who uses them), os.ts (META units).

import { spinLock, spinUnlock } from "./atomics";
import { memFill, osEnsurePages, osUnitsAlloc } from "./os";
import { META_START, ROOT, R_META_BUMP, R_META_END, R_META_LOCK, R_OS_LOCK, SEGMENT_SIZE, UNIT_META } from "./layout";

const BUMP_SHIFT: u32 = 6;    // ROOT.metaBump: 64-byte granules
const END_SHIFT: u32 = 16;    // ROOT.metaEnd: 64 KiB pages (2^32 is 65536: no wrap)

/** Zeroed record of `size` bytes (64-byte aligned), or 0 when memory is exhausted. */
export function metaAlloc(size: u32): usize {
  spinLock(ROOT + R_META_LOCK);
  let bump = <u64>load<u32>(ROOT + R_META_BUMP) << BUMP_SHIFT;
  let end = <u64>load<u32>(ROOT + R_META_END) << END_SHIFT;
  if (bump == 0) { bump = <u64>META_START; end = <u64>SEGMENT_SIZE; }
  if (bump + <u64>size > end) {
    const unit = osUnitsAlloc(1, UNIT_META);
    if (unit == 0) { spinUnlock(ROOT + R_META_LOCK); return 0; }
    bump = <u64>unit;
    end = <u64>unit + <u64>SEGMENT_SIZE;
  }
  const rec = <usize>bump;
  // Unit 0 is not grown as a whole: make sure the record's bytes exist.
  spinLock(ROOT + R_OS_LOCK);
  const ok = osEnsurePages(<u32>((bump + <u64>size + 0xFFFF) >> 16));
  spinUnlock(ROOT + R_OS_LOCK);
  if (!ok) { spinUnlock(ROOT + R_META_LOCK); return 0; }
  store<u32>(ROOT + R_META_BUMP, <u32>((bump + ((<u64>size + 63) & ~<u64>63)) >> BUMP_SHIFT));
  store<u32>(ROOT + R_META_END, <u32>(end >> END_SHIFT));
  spinUnlock(ROOT + R_META_LOCK);
  memFill(rec, 0, size);
  return rec;
}
