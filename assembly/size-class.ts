// size-class.ts — sizes to bins and back.
//
// Bins 1..8 hold exact multiples of 8 bytes (8..64). Above 64 bytes there are four
// bins per doubling, as in mimalloc: for a size of w words (w > 8) let b = the top
// bit of w-1; the bin is 4b + ((w-1) >> (b-2) & 3) - 3 and its block holds
// 2^b + (sub+1)·2^(b-2) words. Consecutive bins differ by at most 1.25×, so a block
// wastes less than 20 % of itself on any request above 64 B, and 12.5 % or less on
// average over all sizes. The last bin (68) is LARGE_OBJ_MAX = 2 MiB.
//
// The table BIN_SIZE in the root record is written once by init (no static data).

import { BIN_LARGE_MAX, BIN_RECIP, BIN_SIZE, LARGE_OBJ_MAX, MEDIUM_OBJ_MAX, MEDIUM_PAGE_SLICES,
  SLICE_SHIFT, SLICE_SIZE, SMALL_OBJ_MAX, SMALL_PAGE_SLICES, WORD_SHIFT } from "./layout";

/** Bin for a request of `size` bytes; valid for size <= LARGE_OBJ_MAX. */
// @ts-ignore: decorator
@inline export function binOf(size: usize): u32 {
  const wsize = <u32>((size + 7) >> WORD_SHIFT);
  if (wsize <= 8) return wsize <= 1 ? 1 : wsize;
  const w = wsize - 1;
  const b = 31 - clz<u32>(w);
  return (b << 2) + ((w >> (b - 2)) & 3) - 3;
}

/** Block size of a bin, computed (init uses it to fill BIN_SIZE). */
export function binBlockSizeCompute(bin: u32): u32 {
  if (bin <= 8) return bin << WORD_SHIFT;
  const b = (bin + 3) >> 2;
  const sub = (bin + 3) & 3;
  return ((1 << b) + ((sub + 1) << (b - 2))) << WORD_SHIFT;
}

// @ts-ignore: decorator
@inline export function binBlockSize(bin: u32): u32 {
  return load<u32>(BIN_SIZE + (<usize>bin << 2));
}

// @ts-ignore: decorator
@inline export function binRecip(bin: u32): u32 {
  return load<u32>(BIN_RECIP + (<usize>bin << 2));
}

/** Slices of a fresh page for blocks of `blockSize`. */
export function pageSlicesFor(blockSize: u32): u32 {
  if (blockSize <= SMALL_OBJ_MAX) return SMALL_PAGE_SLICES;
  if (blockSize <= MEDIUM_OBJ_MAX) return MEDIUM_PAGE_SLICES;
  return (blockSize + SLICE_SIZE - 1) >> SLICE_SHIFT;
}

export function sizeClassInit(): void {
  store<u32>(BIN_SIZE, 0);
  store<u32>(BIN_RECIP, 0);
  for (let bin: u32 = 1; bin <= BIN_LARGE_MAX; bin++) {
    const bs = binBlockSizeCompute(bin);
    store<u32>(BIN_SIZE + (<usize>bin << 2), bs);
    // ceil(2^32 / bs): (off * recip) >> 32 == off / bs exactly when bs divides off.
    store<u32>(BIN_RECIP + (<usize>bin << 2), <u32>(((<u64>1 << 32) + bs - 1) / bs));
  }
  if (binBlockSizeCompute(BIN_LARGE_MAX) != LARGE_OBJ_MAX) unreachable();
}
