/**
 * Reading the core's stats snapshot into plain JSON.
 * @module
 */
import type { AllocatorStats, SizeClassStats } from './api.ts';
import { checkTag } from './checks.ts';
import { BIN_LARGE_MAX as BINS, ST_BIN_CAPACITY, ST_BIN_LIVE, ST_BIN_PAGES, ST_BIN_RETAINED, ST_BIN_SHIFT, ST_BINS,
  ST_COMMITTED, ST_HIGH_WATER_PAGES, ST_HUGE_BLOCKS, ST_HUGE_BYTES, ST_MAX_PAGES, ST_MEMORY_PAGES, ST_NORMAL_SEGMENTS,
  ST_PEAK, ST_THREADS_LIVE, ST_UNITS_FREE, ST_UNITS_LIVE, TAG_ANY } from './abi.gen.ts';
import type { CoreExports } from './core.ts';
import { assertError } from './errors.ts';

const PAGE = 65536;   // bytes per Wasm page

/**
 * @internal Snapshot for one thread record (0 = all threads) and tag (undefined = all).
 * @throws FtheapError `EINVAL_TAG`
 */
export function readStats(x: CoreExports, memory: WebAssembly.Memory, thread: number, tag?: number): AllocatorStats {
  if (tag !== undefined) checkTag(tag);
  let base = 0;
  try {
    // Inside the try: a trap in the snapshot (which holds the stats spin lock) must still release it.
    base = x.ft_stats_snapshot(thread, tag ?? TAG_ANY) >>> 0;
    const v = new DataView(memory.buffer, base, ST_BINS + ((BINS + 2) << ST_BIN_SHIFT));
    const u32 = (o: number) => v.getUint32(o, true);
    const u64 = (o: number) => Number(v.getBigUint64(o, true));
    const sizeClasses: SizeClassStats[] = [];
    let blocksUsed = 0, bytesUsed = 0, pages = 0;
    for (let bin = 1; bin <= BINS; bin++) {
      const o = ST_BINS + (bin << ST_BIN_SHIFT);
      const p = u32(o + ST_BIN_PAGES);
      if (p === 0) continue;
      const blockSize = x.ft_bin_size(bin);
      const used = u32(o + ST_BIN_LIVE);
      sizeClasses.push({ bin, blockSize, pages: p, blocksUsed: used, bytesUsed: used * blockSize,
        blocksCapacity: u32(o + ST_BIN_CAPACITY), pagesRetained: u32(o + ST_BIN_RETAINED) });
      blocksUsed += used; bytesUsed += used * blockSize; pages += p;
    }
    const hugeBlocks = u32(ST_HUGE_BLOCKS), hugeBytes = u64(ST_HUGE_BYTES);
    return {
      sizeClasses,
      huge: { blocks: hugeBlocks, bytes: hugeBytes },
      totals: { blocksUsed: blocksUsed + hugeBlocks, bytesUsed: bytesUsed + hugeBytes, pages },
      segments: { normal: u32(ST_NORMAL_SEGMENTS), huge: hugeBlocks, unitsLive: u32(ST_UNITS_LIVE), unitsFree: u32(ST_UNITS_FREE) },
      memory: {
        current: u32(ST_MEMORY_PAGES) * PAGE, highWater: u32(ST_HIGH_WATER_PAGES) * PAGE, maximum: u32(ST_MAX_PAGES) * PAGE,
        committed: u64(ST_COMMITTED), committedPeak: u64(ST_PEAK),
      },
      threads: { live: u32(ST_THREADS_LIVE) },
    };
  } finally {
    x.ft_stats_release();
  }
}

/** @internal Run the core's validators for the current thread; `EASSERT` naming the first that fails. */
export function validate(x: CoreExports): void {
  const code = x.ft_debug_validate();
  if (code !== 0) throw assertError(code, 'validate()');
}
