/**
 * Reading the core's stats snapshot into plain JSON.
 * @module
 */
import type { AllocatorStats, SizeClassStats } from './api.ts';
import { checkTag } from './checks.ts';
import type { CoreExports } from './core.ts';

const BINS = 68;
const TAG_ANY = 0xff;

/**
 * @internal Snapshot for one thread record (0 = all threads) and tag (undefined = all).
 * @throws FtheapError `EINVAL_TAG`
 */
export function readStats(x: CoreExports, memory: WebAssembly.Memory, thread: number, tag?: number): AllocatorStats {
  if (tag !== undefined) checkTag(tag);
  const base = x.ft_stats_snapshot(thread, tag ?? TAG_ANY) >>> 0;
  try {
    const v = new DataView(memory.buffer, base, 64 + 16 * (BINS + 2));
    const u32 = (o: number) => v.getUint32(o, true);
    const u64 = (o: number) => Number(v.getBigUint64(o, true));
    const sizeClasses: SizeClassStats[] = [];
    let blocksUsed = 0, bytesUsed = 0, pages = 0;
    for (let bin = 1; bin <= BINS; bin++) {
      const o = 64 + 16 * bin;
      const p = u32(o);
      if (p === 0) continue;
      const blockSize = x.ft_bin_size(bin);
      const used = u32(o + 4);
      sizeClasses.push({ bin, blockSize, pages: p, blocksUsed: used, bytesUsed: used * blockSize,
        blocksCapacity: u32(o + 8), pagesRetained: u32(o + 12) });
      blocksUsed += used; bytesUsed += used * blockSize; pages += p;
    }
    const hugeBlocks = u32(44), hugeBytes = u64(48);
    return {
      sizeClasses,
      huge: { blocks: hugeBlocks, bytes: hugeBytes },
      totals: { blocksUsed: blocksUsed + hugeBlocks, bytesUsed: bytesUsed + hugeBytes, pages },
      segments: { normal: u32(40), huge: hugeBlocks, unitsLive: u32(0), unitsFree: u32(4) },
      memory: {
        current: u32(8) * 65536, highWater: u32(12) * 65536, maximum: u32(16) * 65536,
        committed: u64(24), committedPeak: u64(32),
      },
      threads: { live: u32(20) },
    };
  } finally {
    x.ft_stats_release();
  }
}
