// size-class.test.ts — the size classes, through the raw exports ft_bin_of and
// ft_bin_size, for every size from 0 to 2 MiB: bins 1..68, monotone in size;
// block sizes multiples of 8, strictly increasing, at least the request; above
// 64 B less than 20 % of a block wasted and at most 12.5 % on average per doubling;
// bin 68 = 2 MiB = LARGE_OBJ_MAX; nothing above.
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import type { CoreExports } from '../src/index.ts';
import { BIN_LARGE_MAX as BINS } from '../src/abi.gen.ts';

const LARGE_OBJ_MAX = 2 * 1024 * 1024;

let x: CoreExports;
/** binOf[size] for every size 0..LARGE_OBJ_MAX, and blockSize[bin] for 0..69. */
let binOf: Uint8Array;
let blockSize: number[];

beforeAll(async () => {
  const rt = await Runtime.create();
  x = rt.exports;
  binOf = new Uint8Array(LARGE_OBJ_MAX + 1);
  for (let size = 0; size <= LARGE_OBJ_MAX; size++) binOf[size] = x.ft_bin_of(size);
  blockSize = Array.from({ length: BINS + 2 }, (_, bin) => x.ft_bin_size(bin));
});

/** Sizes for which `bad` holds (at most 5), for readable failures. */
function offenders(from: number, to: number, bad: (size: number) => boolean): number[] {
  const out: number[] = [];
  for (let size = from; size <= to && out.length < 5; size++) if (bad(size)) out.push(size);
  return out;
}

describe('size classes', () => {
  it('every size 0..2 MiB maps to a bin 1..68, and the bin never decreases with size', () => {
    expect(offenders(0, LARGE_OBJ_MAX, (s) => binOf[s] < 1 || binOf[s] > BINS)).toEqual([]);
    expect(offenders(1, LARGE_OBJ_MAX, (s) => binOf[s] < binOf[s - 1])).toEqual([]);
    expect(binOf[0]).toBe(1);
    expect(binOf[LARGE_OBJ_MAX]).toBe(BINS);
    // every bin is used by some size
    expect(new Set(binOf).size).toBe(BINS);
  });

  it('the block of a size holds it, and is a multiple of 8', () => {
    expect(offenders(0, LARGE_OBJ_MAX, (s) => blockSize[binOf[s]] < s)).toEqual([]);
    expect(offenders(0, LARGE_OBJ_MAX, (s) => blockSize[binOf[s]] % 8 !== 0)).toEqual([]);
    // each size gets the smallest block that holds it
    expect(offenders(1, LARGE_OBJ_MAX, (s) => binOf[s] > 1 && blockSize[binOf[s] - 1] >= s)).toEqual([]);
  });

  it('block sizes: 8-byte steps to 64 B, then strictly increasing by at most 1.25x; bin 68 = 2 MiB', () => {
    for (let bin = 1; bin <= 8; bin++) expect(blockSize[bin]).toBe(bin * 8);
    for (let bin = 2; bin <= BINS; bin++) expect(blockSize[bin]).toBeGreaterThan(blockSize[bin - 1]);
    for (let bin = 9; bin <= BINS; bin++) expect(blockSize[bin] / blockSize[bin - 1]).toBeLessThanOrEqual(1.25);
    // four bins per doubling above 64 B
    for (let bin = 8; bin + 4 <= BINS; bin += 4) expect(blockSize[bin + 4]).toBe(2 * blockSize[bin]);
    expect(blockSize[BINS]).toBe(LARGE_OBJ_MAX);
    expect(blockSize[0]).toBe(0);
    expect(blockSize[BINS + 1]).toBe(0);
  });

  it('above 64 B a block wastes less than 20 % of itself', () => {
    expect(offenders(65, LARGE_OBJ_MAX, (s) => (blockSize[binOf[s]] - s) / blockSize[binOf[s]] >= 0.2)).toEqual([]);
  });

  it('the mean waste over every size of each doubling above 64 B is at most 12.5 %', () => {
    for (let lo = 64; lo < LARGE_OBJ_MAX; lo *= 2) {
      let waste = 0;
      for (let s = lo + 1; s <= 2 * lo; s++) waste += (blockSize[binOf[s]] - s) / blockSize[binOf[s]];
      expect(waste / lo, `sizes ${lo + 1}..${2 * lo}`).toBeLessThanOrEqual(0.125);
    }
  });

  it('sizes above 2 MiB have no bin (they are huge blocks)', () => {
    expect(x.ft_bin_of(LARGE_OBJ_MAX + 1)).toBe(0);
    expect(x.ft_bin_of(3 << 20)).toBe(0);
    expect(x.ft_bin_of(-1)).toBe(0);   // 0xFFFFFFFF as usize
  });
});
