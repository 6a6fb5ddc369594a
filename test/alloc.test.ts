// alloc.test.ts — the allocation API and its edge cases, single-threaded: alloc 0,
// every size class, calloc on reused memory, realloc (grow, shrink, in place, 0,
// huge, tag kept), usableSize, alignedAlloc for every power of two up to 2 MiB,
// huge blocks and the unit pool, tags and visitBlocks, stats after freeing
// everything, and out of memory (ENOMEM, then the heap keeps working).
import { BIN_LARGE_MAX } from '../src/abi.gen.ts';
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';
import { checkBytes, checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';
import { Rng } from './fixtures/prng.ts';
import { codeOf, runtimeState } from './fixtures/util.ts';

const MiB = 1 << 20;
const UNIT = 4 * MiB;
const HUGE_OFFSET = 16384;

/** Ranges [p, p + len) that overlap, as readable pairs (none expected). */
function overlaps(blocks: Array<[number, number]>): string[] {
  const s = [...blocks].sort((a, b) => a[0] - b[0]);
  const out: string[] = [];
  for (let i = 1; i < s.length; i++) {
    if (s[i - 1][0] + s[i - 1][1] > s[i][0]) out.push(`[${s[i - 1]}] overlaps [${s[i]}]`);
  }
  return out;
}

describe('alloc', () => {
  it('alloc(0) returns a distinct, usable, freeable block each time', async () => {
    const { rt, t } = await attached();
    const a = t.alloc(0), b = t.alloc(0);
    expect(a).not.toBe(0);
    expect(b).not.toBe(a);
    expect(t.usableSize(a)).toBeGreaterThanOrEqual(1);
    fillPattern(rt.bytes(), b, t.usableSize(b), 2);
    fillPattern(rt.bytes(), a, t.usableSize(a), 1);
    expect(checkPattern(rt.bytes(), b, t.usableSize(b), 2)).toBe(-1);
    expect(overlaps([[a, t.usableSize(a)], [b, t.usableSize(b)]])).toEqual([]);
    t.free(a);
    t.free(b);
    expectBalanced(rt);
  });

  it('every size class: the smallest and largest size of each bin round-trip with the bin\'s block size', async () => {
    const { rt, t } = await attached();
    const x = rt.exports;
    const blocks: Array<{ p: number; size: number; usable: number }> = [];
    for (let bin = 1; bin <= BIN_LARGE_MAX; bin++) {
      const bs = x.ft_bin_size(bin);
      const prev = bin === 1 ? 0 : x.ft_bin_size(bin - 1);
      for (const size of new Set([prev + 1, (prev + bs) >> 1, bs])) {
        const p = t.alloc(size);
        expect(p % 8, `alloc(${size})`).toBe(0);
        const usable = t.usableSize(p);
        expect(usable, `usableSize(alloc(${size}))`).toBe(bs);
        fillPattern(rt.bytes(), p, usable, patternSeed(bin, size));
        blocks.push({ p, size, usable });
      }
    }
    expect(overlaps(blocks.map((b) => [b.p, b.usable]))).toEqual([]);
    expect(rt.stats().totals.blocksUsed).toBe(blocks.length);
    for (const b of blocks) {
      expect(checkPattern(rt.bytes(), b.p, b.usable, patternSeed(x.ft_bin_of(b.size), b.size))).toBe(-1);
      t.free(b.p);
    }
    expectBalanced(rt);
  });

  it('usableSize is at least the request for random sizes up to 6 MiB', async () => {
    const { rt, t } = await attached();
    const rng = new Rng(11);
    for (let i = 0; i < 400; i++) {
      const size = i % 40 === 0 ? rng.range(2 * MiB + 1, 6 * MiB) : rng.logUniform(1, 2 * MiB);
      const p = t.alloc(size);
      const usable = t.usableSize(p);
      expect(usable, `size ${size}`).toBeGreaterThanOrEqual(size);
      if (size <= 2 * MiB) expect(usable).toBe(rt.exports.ft_bin_size(rt.exports.ft_bin_of(size)));
      t.free(p);
    }
  });
});

describe('calloc', () => {
  it.each([8, 100, 1000, 5000, 40_000, 300_000])('zeroes reused memory (size %i)', async (size) => {
    const { rt, t } = await attached();
    const n = Math.max(4, Math.min(2048, (2 * MiB) / size) | 0);   // more than a free-list extension
    const dirty = new Set<number>();
    for (let i = 0; i < n; i++) {
      const p = t.alloc(size);
      rt.bytes().fill(0xff, p, p + t.usableSize(p));
      dirty.add(p);
    }
    for (const p of dirty) t.free(p);
    let reused = 0;
    const blocks = [];
    for (let i = 0; i < n; i++) {
      const p = t.calloc(1, size);
      if (dirty.has(p)) reused++;
      expect(checkBytes(rt.bytes(), p, size, 0), `calloc(1, ${size}) = ${p}`).toBe(-1);
      blocks.push(p);
    }
    expect(reused).toBeGreaterThan(0);   // else the test proves nothing
    for (const p of blocks) t.free(p);
  });

  it('zeroes count * size bytes, and a reused huge block', async () => {
    const { rt, t } = await attached();
    const p = t.alloc(3 * MiB);
    rt.bytes().fill(0xff, p, p + 3 * MiB);
    t.free(p);
    const q = t.calloc(3, MiB);
    expect(q).toBe(p);   // the pool hands back the same units
    expect(checkBytes(rt.bytes(), q, 3 * MiB, 0)).toBe(-1);
    t.free(q);
    const r = t.alloc(1000);
    rt.bytes().fill(0xff, r, r + 1000);
    t.free(r);
    const z = t.calloc(25, 40);
    expect(checkBytes(rt.bytes(), z, 1000, 0)).toBe(-1);
    t.free(z);
  });
});

describe('realloc', () => {
  it('grows and shrinks keeping the contents; in place when it still fits well', async () => {
    const { rt, t } = await attached();
    const p = t.alloc(100);
    fillPattern(rt.bytes(), p, 100, 5);
    const q = t.realloc(p, 5000);
    expect(t.usableSize(q)).toBeGreaterThanOrEqual(5000);
    expect(checkPattern(rt.bytes(), q, 100, 5)).toBe(-1);
    fillPattern(rt.bytes(), q, 5000, 6);

    const r = t.realloc(q, 4900);                 // a slight shrink stays in place
    expect(r).toBe(q);
    expect(checkPattern(rt.bytes(), r, 4900, 6)).toBe(-1);
    const r2 = t.realloc(r, t.usableSize(r));     // growing into the block's slack too
    expect(r2).toBe(r);

    const before = t.usableSize(r2);
    const s = t.realloc(r2, 100);                 // a big shrink moves to a smaller block
    expect(t.usableSize(s)).toBeLessThan(before / 2);
    expect(checkPattern(rt.bytes(), s, 100, 6)).toBe(-1);
    t.free(s);
    expectBalanced(rt);
  });

  it('realloc(0, n) allocates', async () => {
    const { rt, t } = await attached();
    const p = t.realloc(0, 64);
    expect(p).not.toBe(0);
    expect(t.usableSize(p)).toBeGreaterThanOrEqual(64);
    expect(rt.stats().totals.blocksUsed).toBe(1);
    t.free(p);
  });

  it('moves between small, large and huge blocks keeping the contents; huge shrinks in place', async () => {
    const { rt, t } = await attached();
    let p = t.alloc(1000);
    fillPattern(rt.bytes(), p, 1000, 1);
    for (const [size, keep] of [[MiB, 1000], [5 * MiB, MiB], [4.5 * MiB, 4.5 * MiB], [300_000, 300_000], [40, 40]]) {
      const before = p;
      p = t.realloc(p, size);
      expect(checkPattern(rt.bytes(), p, Math.min(keep, size), 1), `realloc to ${size}`).toBe(-1);
      if (size === 4.5 * MiB) expect(p).toBe(before);
      fillPattern(rt.bytes(), p, size, 1);
    }
    t.free(p);
    expectBalanced(rt, { blocksUsed: 0, hugeBlocks: 0 });
  });

  it('keeps the block\'s tag', async () => {
    const { t } = await attached();
    const p = t.alloc(100, 7);
    const q = t.realloc(p, 100_000);
    const seen = (tag: number) => { const s: number[] = []; t.visitBlocks(tag, (b) => s.push(b)); return s; };
    expect(seen(7)).toEqual([q]);
    expect(seen(0)).toEqual([]);
    t.free(q);
    expect(seen(7)).toEqual([]);
  });
});

describe('alignedAlloc', () => {
  const aligns = Array.from({ length: 22 }, (_, k) => 2 ** k);   // 1 .. 2 MiB

  it.each(aligns)('alignment %i: aligned, large enough, disjoint, freeable', async (align) => {
    const { rt, t } = await attached();
    const sizes = [...new Set([0, 1, 24, 1000, align, align + 8, 3 * align + 5])];
    const blocks: Array<[number, number]> = [];
    for (const size of sizes) {
      const p = t.alignedAlloc(align, size);
      expect(p % align, `alignedAlloc(${align}, ${size}) = ${p}`).toBe(0);
      const usable = t.usableSize(p);
      expect(usable).toBeGreaterThanOrEqual(size);
      if (align <= 64) expect(usable, `waste of alignedAlloc(${align}, ${size})`).toBeLessThan(2 * Math.max(size, align, 8));
      fillPattern(rt.bytes(), p, usable, patternSeed(align, size));
      blocks.push([p, usable]);
    }
    expect(overlaps(blocks)).toEqual([]);
    blocks.forEach(([p, usable], i) => {
      expect(checkPattern(rt.bytes(), p, usable, patternSeed(align, sizes[i]))).toBe(-1);
      t.free(p);
    });
    expectBalanced(rt);
  });
});

describe('huge blocks', () => {
  it.each([3 * MiB, 20 * MiB])('%i bytes: allocate, write both ends, free; the units go back to the pool', async (size) => {
    const { rt, t } = await attached();
    const units = Math.ceil((size + HUGE_OFFSET) / UNIT);
    const before = rt.stats();
    const p = t.alloc(size);
    const live = rt.stats();
    expect(live.huge.blocks).toBe(before.huge.blocks + 1);
    expect(live.segments.unitsLive).toBe(before.segments.unitsLive + units);
    expect(t.usableSize(p)).toBeGreaterThanOrEqual(size);
    const b = rt.bytes();
    expect(b.length).toBeGreaterThanOrEqual(p + size);
    b[p] = 0xab;
    b[p + size - 1] = 0xcd;
    expect([rt.bytes()[p], rt.bytes()[p + size - 1]]).toEqual([0xab, 0xcd]);
    t.free(p);
    const after = rt.stats();
    expect(after.segments.unitsFree).toBe(live.segments.unitsFree + units);
    expect(after.segments.unitsLive).toBe(before.segments.unitsLive);
    expect(after.huge.blocks).toBe(0);
    // allocating it again reuses the pool: the memory does not grow
    const q = t.alloc(size);
    expect(rt.stats().memory.current).toBe(after.memory.current);
    expect(rt.stats().segments.unitsFree).toBe(after.segments.unitsFree - units);
    t.free(q);
  });
});

describe('tags', () => {
  it('visitBlocks(tag) lists exactly the live blocks of that tag, huge ones included', async () => {
    const { rt, t } = await attached();
    const rng = new Rng(3);
    const live = new Map<number, { tag: number; size: number }>();
    for (let i = 0; i < 1500; i++) {
      const tag = rng.int(16);
      const size = i % 300 === 7 ? rng.range(2 * MiB + 1, 5 * MiB) : rng.logUniform(1, 100_000);
      live.set(t.alloc(size, tag), { tag, size });
    }
    const check = () => {
      for (let tag = 0; tag < 16; tag++) {
        const seen: number[] = [];
        t.visitBlocks(tag, (p, usable) => {
          seen.push(p);
          expect(usable).toBe(t.usableSize(p));
        });
        const want = [...live].filter(([, b]) => b.tag === tag).map(([p]) => p);
        expect(seen.length, `tag ${tag}: no block listed twice`).toBe(new Set(seen).size);
        expect(new Set(seen), `tag ${tag}`).toEqual(new Set(want));
        expect(t.stats(tag).totals.blocksUsed).toBe(want.length);
      }
      expect(rt.stats().totals.blocksUsed).toBe(live.size);
    };
    check();
    expect([...live.values()].some((b) => b.size > 2 * MiB)).toBe(true);
    for (const p of [...live.keys()]) if (rng.chance(0.5)) { t.free(p); live.delete(p); }
    check();
    for (const p of live.keys()) t.free(p);
    live.clear();
    check();
  });

  it('visitBlocks may free the blocks it visits', async () => {
    const { rt, t } = await attached();
    for (let i = 0; i < 300; i++) t.alloc(8 + i * 13, 5);
    let n = 0;
    t.visitBlocks(5, (p) => { t.free(p); n++; });
    expect(n).toBe(300);
    expectBalanced(rt);
  });
});

describe('stats', () => {
  it('counts live blocks, and after freeing everything and collect(true) nothing is used', async () => {
    const { rt, t } = await attached();
    const rng = new Rng(8);
    const blocks: number[] = [];
    for (let i = 0; i < 3000; i++) blocks.push(t.alloc(rng.logUniform(1, 300_000), rng.int(4)));
    blocks.push(t.alloc(3 * MiB));
    const s = rt.stats();
    expect(s.totals.blocksUsed).toBe(blocks.length);
    expect(t.stats().totals.blocksUsed).toBe(blocks.length);
    expect(s.huge.blocks).toBe(1);
    expect(s.sizeClasses.reduce((n, c) => n + c.blocksUsed, 0)).toBe(blocks.length - 1);
    expect(s.memory.committed).toBeGreaterThan(3 * MiB);
    for (const p of blocks) t.free(p);
    t.collect(true);
    // Empty pages of the object-holding tags 1..3 wait for a QSBR goal: this
    // thread's checkpoint passes it (no other thread is online).
    t.checkpoint();
    expectBalanced(rt, { blocksUsed: 0, bytesUsed: 0, pages: 0, hugeBlocks: 0, hugeBytes: 0, segmentsNormal: 0, unitsLive: 0 });
    const e = rt.stats();
    expect(e.memory.committedPeak).toBeGreaterThanOrEqual(s.memory.committed);
    expect(e.memory.committed).toBeLessThan(s.memory.committed);
    rt.resetPeak();
    expect(rt.stats().memory.committedPeak).toBe(rt.stats().memory.committed);
  });
});

describe('out of memory', () => {
  it('ENOMEM when the memory cannot grow; the heap is unchanged and keeps working', async () => {
    const { rt, t } = await attached({ initialMemory: 8 * MiB, maximumMemory: 64 * MiB });
    const blocks: number[] = [];
    let code = 'OK';
    for (let i = 0; i < 1000 && code === 'OK'; i++) {
      const before = runtimeState(rt);
      code = codeOf(() => {
        const p = t.alloc(MiB);
        rt.bytes()[p + MiB - 1] = 1;
        blocks.push(p);
      });
      if (code !== 'OK') expect(runtimeState(rt)).toEqual(before);
    }
    expect(code).toBe('ENOMEM');
    expect(blocks.length).toBeGreaterThan(10);
    // the raw export returns 0 and leaves ENOMEM as the last error
    expect(rt.exports.ft_malloc(MiB)).toBe(0);
    expect(rt.exports.ft_last_error()).toBe(1);
    expect(rt.exports.ft_malloc(8 * MiB)).toBe(0);
    expect(rt.exports.ft_last_error()).toBe(1);
    expect(codeOf(() => t.alloc(8 * MiB))).toBe('ENOMEM');
    expect(codeOf(() => t.alignedAlloc(MiB, 100))).toBe('ENOMEM');
    // a failed realloc or calloc leaves the old block and the heap as they were
    fillPattern(rt.bytes(), blocks[0], MiB, 123);
    const before = runtimeState(rt);
    expect(codeOf(() => t.realloc(blocks[0], 8 * MiB))).toBe('ENOMEM');
    expect(codeOf(() => t.calloc(8, MiB))).toBe('ENOMEM');
    expect(runtimeState(rt)).toEqual(before);
    expect(checkPattern(rt.bytes(), blocks[0], MiB, 123)).toBe(-1);
    const s = rt.stats();
    expect(s.memory.maximum).toBe(64 * MiB);
    expect(s.memory.current).toBeLessThanOrEqual(64 * MiB);
    expect(s.memory.highWater).toBeGreaterThanOrEqual(s.memory.current);

    for (const p of blocks) t.free(p);
    expectBalanced(rt);
    // everything fits again
    const again = blocks.map(() => t.alloc(MiB));
    expect(new Set(again).size).toBe(blocks.length);
    for (const p of again) t.free(p);
    const big = t.alloc(40 * MiB);
    t.free(big);
    expectBalanced(rt);
  });
});
