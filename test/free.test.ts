// free.test.ts — the owner's free fast path (assembly/free.ts): the double-free test
// that looks at one byte of the block before the whole word (linkByteMayMatch) catches
// exactly what the whole-word test did — a second free of a block still free, whatever
// the program wrote into it before the first free, in every size class — and a live
// block whose first word happens to look like a link is still freed. And
// ft_free_unchecked, the trusted entry point: own blocks, another thread's, a page's
// last block, huge blocks; the books balance and the memory is reused. An instance
// with no current thread never takes an abandoned segment (owner word 0) for its own.
import { describe, expect, it } from 'vitest';
import { ENOT_ATTACHED } from '../src/abi.gen.ts';
import { attached, expectBalanced } from './fixtures/harness.ts';
import { codeOf } from './fixtures/util.ts';

const SIZES = [8, 16, 24, 32, 48, 64, 100, 256, 1000, 1024, 4000, 16384, 40000, 3 << 20];
// First words a program may leave in a block before freeing it: zero, small integers,
// -1, an address-like value, and every top byte (the byte the fast path tests).
const WORDS = [0, 1, 7, 0xFF, 0xFFFFFFFF, 0x00400010, 0x12345678, ...Array.from({ length: 256 }, (_, b) => (b << 24) >>> 0)];

describe('free: double-free detection on the fast path', () => {
  it('a second free of a still-free block is EDOUBLE_FREE in every size class, whatever its first word held', async () => {
    const { rt, t } = await attached();
    for (const size of SIZES) {
      // a kept block after each one: no page empties (its blocks would no longer exist)
      const words = size > 32768 ? WORDS.slice(0, 8) : WORDS;   // large and huge: a few (memory)
      const pairs = Array.from(words, () => [t.alloc(size), t.alloc(size)]);
      const blocks = pairs.map(([p]) => p);
      words.forEach((w, i) => { new DataView(rt.memory.buffer).setUint32(blocks[i], w, true); });
      for (const p of blocks) t.free(p);
      for (const p of blocks) {
        const code = codeOf(() => t.free(p));
        // blocks of pages that were released (large and huge ones) no longer exist: EINVAL_PTR
        expect(['EDOUBLE_FREE', ...(size > 32768 ? ['EINVAL_PTR'] : [])], `size ${size}`).toContain(code);
      }
      for (const [, k] of pairs) t.free(k);
    }
    expectBalanced(rt);
  });

  it('the double free right after the free, and after other frees in between', async () => {
    const { t } = await attached();
    const [a, b, c, keep] = [t.alloc(32), t.alloc(32), t.alloc(32), t.alloc(32)];
    t.free(a);
    expect(codeOf(() => t.free(a))).toBe('EDOUBLE_FREE');
    t.free(b);
    t.free(c);
    expect(codeOf(() => t.free(a))).toBe('EDOUBLE_FREE');
    expect(codeOf(() => t.free(b))).toBe('EDOUBLE_FREE');
    t.free(keep);
  });

  it('a live block whose first word copies a free block\'s link is freed, not refused', async () => {
    const { rt, t } = await attached();
    for (const size of [16, 64, 512]) {
      const blocks = Array.from({ length: 40 }, () => t.alloc(size));
      const dv = () => new DataView(rt.memory.buffer);
      t.free(blocks[0]);
      t.free(blocks[1]);                               // its first word: a link to blocks[0]
      const link = dv().getUint32(blocks[1], true);
      for (const p of blocks.slice(2)) dv().setUint32(p, link, true);
      for (const p of blocks.slice(2)) t.free(p);     // all live: none is EDOUBLE_FREE
    }
    expectBalanced(rt);
  });
});

describe('free from an instance with no current thread', () => {
  it('a block of an abandoned segment (owner word 0) is ENOT_ATTACHED, not freed as the instance\'s own', async () => {
    const { rt, t } = await attached();
    const u = rt.attach();
    const [p, q] = [u.alloc(64), u.alloc(64)];
    u.exit();                                          // live blocks: its segment is abandoned; no thread current here
    expect(rt.exports.ft_thread_current()).toBe(0);
    expect(rt.exports.ft_free(p)).toBe(ENOT_ATTACHED);
    expect(rt.exports.ft_free(q)).toBe(ENOT_ATTACHED);
    t.free(p);                                         // attached: a remote free into the pool's segment
    t.free(q);
    expect(codeOf(() => t.free(p))).toBe('EDOUBLE_FREE');
  });
});

describe('ft_free_unchecked', () => {
  it('frees own blocks, another thread\'s, a page\'s last block and huge blocks; the memory is reused', async () => {
    const { rt, t } = await attached();
    const x = rt.exports;
    const u = rt.attach();
    const theirs = u.allocMany(500, 40);
    const mine = t.allocMany([...Array.from({ length: 500 }, (_, i) => 8 + (i % 300)), 40000, 3 << 20, 9 << 20]);
    t.alloc(0);                                        // t current on the instance
    for (const p of mine) x.ft_free_unchecked(p);
    for (const p of theirs) x.ft_free_unchecked(p);   // remote frees
    x.ft_free_unchecked(0);
    u.collect(true);
    t.collect(true);
    expectBalanced(rt, { blocksUsed: 1, hugeBlocks: 0 });
    const again = t.allocMany(500, 40);
    expect(new Set(again).size).toBe(500);
    t.freeMany(again);
    expect(codeOf(() => t.free(again[0]))).toBe('EDOUBLE_FREE');   // the checked free still checks
  });
});
