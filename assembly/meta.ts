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
// See also: thread.ts (who uses them), os.ts (META units).

import { spinLock, spinUnlock } from "./atomics";
import { osEnsurePages, osUnitsAlloc } from "./os";
import { META_START, ROOT, R_META_BUMP, R_META_END, R_META_LOCK, R_OS_LOCK, SEGMENT_SIZE, UNIT_META } from "./layout";

/** Zeroed record of `size` bytes (64-byte aligned), or 0 when memory is exhausted. */
export function metaAlloc(size: u32): usize {
  spinLock(ROOT + R_META_LOCK);
  let bump = <usize>load<u32>(ROOT + R_META_BUMP);
  let end = <usize>load<u32>(ROOT + R_META_END);
  if (bump == 0) { bump = META_START; end = SEGMENT_SIZE; }
  if (bump + size > end) {
    const unit = osUnitsAlloc(1, UNIT_META);
    if (unit == 0) { spinUnlock(ROOT + R_META_LOCK); return 0; }
    bump = unit;
    end = unit + SEGMENT_SIZE;
  }
  const rec = bump;
  // Unit 0 is not grown as a whole: make sure the record's bytes exist.
  spinLock(ROOT + R_OS_LOCK);
  const ok = osEnsurePages(<u32>((rec + size + 0xFFFF) >>> 16));
  spinUnlock(ROOT + R_OS_LOCK);
  if (!ok) { spinUnlock(ROOT + R_META_LOCK); return 0; }
  store<u32>(ROOT + R_META_BUMP, <u32>(rec + ((size + 63) & ~63)));
  store<u32>(ROOT + R_META_END, <u32>end);
  spinUnlock(ROOT + R_META_LOCK);
  memory.fill(rec, 0, size);
  return rec;
}
