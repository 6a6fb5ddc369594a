// review-14.test.ts — adversarial review of the `fastpath` merge (9b19c7e): the one-byte
// double-free test, ft_free_unchecked, curOwnerWord, the batch calls and the per-thread
// committed deltas. Each test below failed before its fix:
//   1. committedPeak could exceed every value `committed` ever had: a fold raised the peak
//      to the root's counter alone, which runs ahead of the true total while another
//      thread holds a negative (unfolded) delta.
//   2. freeMany / allocMany wrote each chunk into the instance's scratch buffer entry by
//      entry while reading the caller's list: a getter of an array-like list that made a
//      nested batch call (same instance, same scratch) overwrote the entries copied so far,
//      so the outer call freed the blocks the nested call had just handed out, and leaked its own.
//   3. ft_free_many writes each entry's result back into the array: an entry whose block
//      holds the array itself was freed, then its free-list link overwritten by the result
//      (heap corruption: seen before the fix, a second free of that block passed, the
//      block was handed out twice, and the next allocation trapped on the garbage link).
//   4. A list entry that is not a number (a BigInt) made `>>>` throw a TypeError: allocMany
//      then leaked the earlier batches' blocks (not all or nothing; so did a getter that
//      throws), freeMany freed nothing of its batch instead of reporting EINVAL_PTR.
//   5. The batch buffer was per instance, in meta memory that never returns: every
//      instance (worker) that ever made a batch call kept 48 KiB for good. Now it is the
//      thread record's, reused with the record.
// And one that passed before and after: the one-byte test in the debug build (0xD0 /
// 0xDD fills, pageIsValid's key check on).
import { describe, expect, it } from 'vitest';
import { EINVAL_ARG, ROOT, R_META_BUMP } from '../src/abi.gen.ts';
import { FtheapError, Runtime } from '../src/index.ts';
import { attached, expectBalanced } from './fixtures/harness.ts';
import { codeOf } from './fixtures/util.ts';

const MiB = 1 << 20;

describe('committedPeak (assembly/os.ts commitFold)', () => {
  it('is never above the highest committed: a fold while another thread holds a negative delta', async () => {
    const { rt, t } = await attached();
    const u = rt.attach();
    t.alloc(16);
    u.alloc(16);
    rt.resetPeak();
    const p = u.alloc(3 * MiB);                 // huge: u's delta passes the threshold, folded
    u.realloc(p, 3 * MiB - 200 * 1024);         // shrunk in place: u holds -200 KiB, not folded
    const q = t.alloc(3 * MiB);                 // t folds: the root alone is 200 KiB above the total
    const s = rt.stats();
    // committed rose, dipped by 200 KiB, rose again: now is its highest value since the reset
    expect(s.memory.committedPeak - s.memory.committed).toBe(0);
    u.free(p);
    t.free(q);
  });
});

describe('batch calls and re-entrancy (src/alloc-many.ts)', () => {
  it('freeMany: a getter of the list that makes a nested batch call does not change what the outer call frees', async () => {
    const { rt, t } = await attached();
    const [a, b, c] = [t.alloc(32), t.alloc(32), t.alloc(32)];
    let inner: Uint32Array | undefined;
    const list = {
      length: 3,
      0: a,
      get 1() { inner = t.allocMany(2, 32); return b; },
      2: c,
    };
    t.freeMany(list);
    // the outer call freed a, b, c; the nested call's blocks are live
    for (const p of [a, b, c]) expect(codeOf(() => t.free(p)), `outer entry ${p}`).toBe('EDOUBLE_FREE');
    for (const p of inner!) expect(codeOf(() => t.free(p)), `nested block ${p}`).toBe('OK');
    expectBalanced(rt);
  });

  it('allocMany(sizes): a getter that makes a nested batch call does not change the sizes the outer call allocates', async () => {
    const { rt, t } = await attached();
    let inner: Uint32Array | undefined;
    const sizes = {
      length: 3,
      0: 5000,
      get 1() { inner = t.allocMany(2, 16); return 6000; },
      2: 7000,
    };
    const got = t.allocMany(sizes);
    // each block of its own size's class (a clobbered entry is an address: a huge block)
    const want = [5000, 6000, 7000];
    expect(Array.from(got, (p, i) => t.usableSize(p) >= want[i] && t.usableSize(p) < 2 * want[i])).toEqual([true, true, true]);
    t.freeMany(got);
    t.freeMany(inner!);
    expectBalanced(rt);
  });
});

describe('ft_free_many with the array inside a block it frees (assembly/free.ts freeMany)', () => {
  it('the block holding the array is refused (EINVAL_ARG), the others freed; the heap stays sound', async () => {
    const { rt, t } = await attached();
    const x = rt.exports;
    const keep = t.alloc(64);                  // the page never empties
    const arr = t.alloc(64);
    const other = t.alloc(64);
    const u32 = () => new Uint32Array(rt.memory.buffer);
    u32().set([arr, other], arr >>> 2);
    expect(x.ft_thread_current()).not.toBe(0);   // t (its allocations made it current)
    expect(x.ft_free_many(arr, 2)).toBe(1);
    expect(u32()[arr >>> 2]).toBe(EINVAL_ARG);
    expect(u32()[(arr >>> 2) + 1]).toBe(0);
    expect(codeOf(() => t.free(other))).toBe('EDOUBLE_FREE');
    t.free(arr);                               // still live: freed normally
    // the page's free list is sound: every block handed out again is distinct and usable
    const again = t.allocMany(200, 64);
    expect(new Set(again).size).toBe(200);
    for (const p of again) expect(t.usableSize(p)).toBeGreaterThanOrEqual(64);
    t.freeMany(again);
    t.free(keep);
    expectBalanced(rt);
  });
});

describe('the one-byte double-free test in the debug build (fills 0xD0 / 0xDD, validators on)', () => {
  it('a second free is EDOUBLE_FREE whatever the first word held; a live look-alike is freed', async () => {
    const { rt, t } = await attached({ debug: true });
    const dv = () => new DataView(rt.memory.buffer);
    const words = [0, 0xD0D0D0D0, 0xDDDDDDDD, 0xFFFFFFFF, ...Array.from({ length: 256 }, (_, b) => ((b << 24) | 0xD0D0D0) >>> 0)];
    for (const size of [8, 48, 1000, 16384]) {
      const pairs = words.map(() => [t.alloc(size), t.alloc(size)]);
      pairs.forEach(([p], i) => dv().setUint32(p, words[i], true));
      for (const [p] of pairs) t.free(p);
      for (const [p] of pairs) expect(codeOf(() => t.free(p)), `size ${size}`).toBe('EDOUBLE_FREE');
      // live blocks holding a free block's link (and 0xDD fill after it) are freed
      const link = dv().getUint32(pairs[0][0], true);
      for (const [, k] of pairs) { dv().setUint32(k, link, true); t.free(k); }
    }
    const huge = t.alloc(3 << 20);
    t.free(huge);
    expect(['EDOUBLE_FREE', 'EINVAL_PTR']).toContain(codeOf(() => t.free(huge)));
    expectBalanced(rt);
  });
});

describe('batch calls: entries that are not numbers (src/alloc-many.ts)', () => {
  it('allocMany: a BigInt size in a later batch is EINVAL_SIZE with nothing kept (was a TypeError, the first batch leaked)', async () => {
    const { rt, t } = await attached();
    const sizes: unknown[] = Array(5000).fill(16);
    sizes[4500] = 16n;
    expect(codeOf(() => t.allocMany(sizes as number[]))).toBe('EINVAL_SIZE');
    expectBalanced(rt);
  });

  it('allocMany: a getter that throws in a later batch: its error, nothing kept', async () => {
    const { rt, t } = await attached();
    const sizes = new Proxy(Array(5000).fill(16) as number[], {
      get(target, key, recv) { if (key === '4500') throw new Error('from the list'); return Reflect.get(target, key, recv); },
    });
    expect(() => t.allocMany(sizes)).toThrow('from the list');
    expectBalanced(rt);
  });

  it('freeMany: a BigInt entry is EINVAL_PTR and every other entry is freed (was a TypeError, nothing freed)', async () => {
    const { rt, t } = await attached();
    const [a, b] = [t.alloc(32), t.alloc(32)];
    let err: unknown;
    try { t.freeMany([a, 7n, b] as unknown as number[]); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FtheapError);
    expect((err as FtheapError).bad).toEqual([{ index: 1, code: 'EINVAL_PTR' }]);
    expectBalanced(rt);
  });
});

describe('the batch buffer is the thread record\'s (assembly/abi/alloc.ts ft_batch_scratch)', () => {
  it('instances that come and go (workers) do not each keep 48 KiB of meta memory for good', async () => {
    const { rt, t } = await attached();
    const metaBump = () => new Uint32Array(rt.memory.buffer)[(ROOT + R_META_BUMP) >>> 2] * 64;
    const once = async () => {
      const other = await Runtime.join(rt.share());   // a fresh instance, as a new worker makes
      const u = other.attach();
      u.freeMany(u.allocMany(10, 16));
      u.exit();                                       // its record is recycled
    };
    await once();
    const before = metaBump();
    for (let i = 0; i < 8; i++) await once();
    expect(metaBump() - before, 'meta bytes taken by 8 more instances').toBe(0);
    t.freeMany(t.allocMany(10, 16));
    expectBalanced(rt);
  });
});
