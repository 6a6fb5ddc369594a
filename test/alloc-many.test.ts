// alloc-many.test.ts — Thread.allocMany / freeMany (src/alloc-many.ts) and the raw
// batch exports: sizes and (count, size) forms, more than one batch (4096), all or
// nothing on EINVAL_SIZE and ENOMEM (small maximumMemory), freeMany's bad entries
// (reported with index and code after every good entry was freed), duplicates in
// the list (within one batch and across batches: never freed twice), cross-thread
// blocks (a second thread on this JS thread frees the first's), and the books.
import { describe, expect, it } from 'vitest';
import { BATCH_MAX } from '../src/abi.gen.ts';
import { FtheapError } from '../src/index.ts';
import { attached, expectBalanced } from './fixtures/harness.ts';
import { codeOf, runtimeState } from './fixtures/util.ts';

const MiB = 1 << 20;

function caught(fn: () => unknown): FtheapError {
  try { fn(); } catch (e) { if (e instanceof FtheapError) return e; throw e; }
  throw new Error('expected an FtheapError');
}

describe('allocMany', () => {
  it('gives distinct live blocks of each size, in order, over several batches', async () => {
    const { rt, t } = await attached();
    const sizes = Array.from({ length: BATCH_MAX * 2 + 17 }, (_, i) => (i * 37) % 3000);
    const blocks = t.allocMany(sizes);
    expect(blocks.length).toBe(sizes.length);
    expect(new Set(blocks).size).toBe(blocks.length);
    sizes.forEach((s, i) => { if (i % 97 === 0) expect(t.usableSize(blocks[i])).toBeGreaterThanOrEqual(s); });
    expect(rt.stats().totals.blocksUsed).toBe(sizes.length);
    t.freeMany(blocks);
    expectBalanced(rt);
  });

  it('count and size form; count 0 gives an empty array', async () => {
    const { rt, t } = await attached();
    const blocks = t.allocMany(5000, 48);
    expect(blocks.length).toBe(5000);
    expect(new Set(blocks).size).toBe(5000);
    for (const p of blocks.subarray(0, 50)) expect(t.usableSize(p)).toBeGreaterThanOrEqual(48);
    expect(t.allocMany(0, 8).length).toBe(0);
    expect(t.allocMany([]).length).toBe(0);
    t.freeMany(blocks);
    expectBalanced(rt);
  });

  it('a bad size is EINVAL_SIZE with nothing kept', async () => {
    const { rt, t } = await attached();
    const before = runtimeState(rt);
    expect(codeOf(() => t.allocMany([8, 16, -1]))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.allocMany([8, 1.5]))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.allocMany([8, 2 ** 32]))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.allocMany(-1, 8))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.allocMany(2 ** 32 - 1, 8))).toBe('EINVAL_SIZE');   // more than could ever fit (not a RangeError)
    expect(codeOf(() => t.allocMany(3, 2 ** 32 - 1))).toBe('EINVAL_SIZE');
    expect(runtimeState(rt)).toEqual(before);
    // in a later batch: the earlier batches' blocks are given back
    const sizes = new Array(BATCH_MAX * 2 + 3).fill(40);
    sizes[BATCH_MAX + 9] = NaN;
    expect(caught(() => t.allocMany(sizes)).message).toContain(`sizes[${BATCH_MAX + 9}]`);
    expectBalanced(rt);
  });

  it('ENOMEM keeps nothing (also blocks of earlier batches), and the heap keeps working', async () => {
    const { rt, t } = await attached({ initialMemory: 8 * MiB, maximumMemory: 64 * MiB });
    const used = () => rt.stats().totals.blocksUsed + rt.stats().huge.blocks;
    // one batch that cannot fit
    expect(codeOf(() => t.allocMany(200, 512 * 1024))).toBe('ENOMEM');
    expect(used()).toBe(0);
    // several batches: the first ones fit, a later one does not
    const sizes = new Array(BATCH_MAX * 3).fill(64);
    sizes[BATCH_MAX * 2 + 5] = 200 * MiB;
    const e = caught(() => t.allocMany(sizes));
    expect(e.code).toBe('ENOMEM');
    expect(used()).toBe(0);
    // still works
    const ok = t.allocMany(100, 1000);
    expect(used()).toBe(100);
    t.freeMany(ok);
    expectBalanced(rt);
  });

  it('the raw export: all or nothing, the code as status', async () => {
    const { rt, t } = await attached({ initialMemory: 8 * MiB, maximumMemory: 32 * MiB });
    t.alloc(8);   // attached and current
    const buf = rt.exports.ft_batch_scratch() >>> 0;
    expect(buf).not.toBe(0);
    expect(rt.exports.ft_malloc_many(buf, 100, 3 * MiB)).toBe(1);   // ENOMEM
    expect(rt.stats().huge.blocks).toBe(0);
    expect(rt.exports.ft_malloc_many(3, 1, 8)).not.toBe(0);         // unaligned buffer: EINVAL_ARG
    expect(rt.exports.ft_malloc_many(buf, 4, 24)).toBe(0);
  });
});

describe('freeMany', () => {
  it('frees every good entry, reports the bad ones with index and code', async () => {
    const { rt, t } = await attached();
    const blocks = t.allocMany(10, 32);
    const freedBefore = blocks[3];
    t.free(freedBefore);
    const list = [blocks[0], 12345, blocks[1], 0, blocks[2] + 4, freedBefore, blocks[4], -1, 1.5, blocks[5], blocks[6],
      blocks[7], blocks[8], blocks[9], blocks[2]];
    const e = caught(() => t.freeMany(list));
    expect(e.bad).toEqual([
      { index: 1, code: 'EINVAL_PTR' },
      { index: 4, code: 'EINVAL_PTR' },
      { index: 5, code: 'EDOUBLE_FREE' },
      { index: 7, code: 'EINVAL_PTR' },
      { index: 8, code: 'EINVAL_PTR' },
    ]);
    expect(e.code).toBe('EINVAL_PTR');
    expect(e.message).toContain('[1] EINVAL_PTR');
    expectBalanced(rt);
    t.freeMany([]);
    t.freeMany([0, 0]);
  });

  it('a pointer listed twice is freed once (EDOUBLE_FREE for the later entry), within a batch and across batches', async () => {
    const { rt, t } = await attached();
    const a = t.allocMany(BATCH_MAX + 10, 16);
    const list = Array.from(a);
    list.push(a[5]);                       // a later batch than its first entry
    list.splice(3, 0, a[1]);               // the same batch
    const e = caught(() => t.freeMany(list));
    expect(e.code).toBe('EDOUBLE_FREE');
    expect(e.bad).toEqual([{ index: 3, code: 'EDOUBLE_FREE' }, { index: list.length - 1, code: 'EDOUBLE_FREE' }]);
    expectBalanced(rt);
    // the blocks are reused normally afterwards: nothing is on a list twice
    const b = t.allocMany(BATCH_MAX + 10, 16);
    expect(new Set(b).size).toBe(b.length);
    t.freeMany(b);
    expectBalanced(rt);
  });

  it('a Uint32Array list (copied as is) gets the same checks from the core', async () => {
    const { rt, t } = await attached();
    const a = t.allocMany(100, 24);
    const list = new Uint32Array([...a, a[7], 8]);
    const e = caught(() => t.freeMany(list));
    expect(e.bad).toEqual([{ index: 100, code: 'EDOUBLE_FREE' }, { index: 101, code: 'EINVAL_PTR' }]);
    expectBalanced(rt);
  });

  it('an entry listed again after an entry that failed fails the same way', async () => {
    const { t } = await attached();
    const e = caught(() => t.freeMany([777, 777]));
    expect(e.bad).toEqual([{ index: 0, code: 'EINVAL_PTR' }, { index: 1, code: 'EINVAL_PTR' }]);
  });

  it('frees another thread\'s blocks (remote frees), duplicates still caught', async () => {
    const { rt, t } = await attached();
    const u = rt.attach();                 // a second thread on this JS thread
    const theirs = u.allocMany(3000, 40);
    const mine = t.allocMany(1000, 40);
    const list = [...theirs, ...mine, theirs[10]];
    const e = caught(() => t.freeMany(list));
    expect(e.bad).toEqual([{ index: 4000, code: 'EDOUBLE_FREE' }]);
    u.collect();
    expectBalanced(rt);
    // and the other way round, huge blocks included
    const big = t.allocMany([3 * MiB, 100, 5 * MiB]);
    u.freeMany(big);
    expectBalanced(rt, { blocksUsed: 0, hugeBlocks: 0 });
  });

  it('the raw export writes each entry\'s code and returns how many failed', async () => {
    const { rt, t } = await attached();
    const [p, q] = t.allocMany(2, 64);
    const buf = rt.exports.ft_batch_scratch() >>> 0;
    const u32 = new Uint32Array(rt.memory.buffer);
    u32.set([p, 8, q, p], buf >>> 2);
    expect(rt.exports.ft_free_many(buf, 4)).toBe(2);
    expect(Array.from(u32.subarray(buf >>> 2, (buf >>> 2) + 4))).toEqual([0, 3, 0, 4]);   // EINVAL_PTR 3, EDOUBLE_FREE 4
    expect(rt.exports.ft_free_many(buf, BATCH_MAX + 1)).toBeLessThan(0);                   // too many: EINVAL_ARG
    expectBalanced(rt);
  });
});

describe('allocMany into', () => {
  it('fills and returns the given array; a short one is EINVAL_ARG with nothing allocated', async () => {
    const { rt, t } = await attached();
    const into = new Uint32Array(10);
    expect(t.allocMany(8, 24, into)).toBe(into);
    expect(into.subarray(0, 8).every((p) => p !== 0)).toBe(true);
    expect(into[8]).toBe(0);
    t.freeMany(into.subarray(0, 8));
    expect(t.allocMany([8, 16], into)).toBe(into);
    t.freeMany(into.subarray(0, 2));
    expect(codeOf(() => t.allocMany(11, 8, into))).toBe('EINVAL_ARG');
    expectBalanced(rt);
  });
});
