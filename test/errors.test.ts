// errors.test.ts — every bad input gets an FtheapError with the right code, and
// the heap stays exactly as it was: the runtime's stats (size classes, huge
// blocks, totals, segments, committed bytes, threads) are unchanged and the
// blocks allocated before (small, medium, large, huge, tagged) keep their
// contents. Covers bad pointers (outside every segment, a segment header, a pool
// unit, interior, misaligned, not a u32), double frees (small, medium, large,
// huge; by the owner, by another thread of this JS thread, by a worker; into a
// page in the full queue; of an exited thread's block; realloc of a freed block),
// bad sizes, alignments, tags, runtime options and handles, every call after
// exit(), and free(0) as a no-op.
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { Peer, useHarness } from './fixtures/harness.ts';
import { checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';
import { newCtl } from './fixtures/protocol.ts';
import { codeOf, runtimeState } from './fixtures/util.ts';

const MiB = 1 << 20;
const KINDS = { small: 24, medium: 10_000, large: 100_000, huge: 3 * MiB } as const;

useHarness();

interface Fixture {
  rt: Runtime;
  t: Thread;
  /** Blocks allocated before the bad call: [ptr, size, seed]. */
  witnesses: Array<[number, number, number]>;
  /** Expect `fn` to fail with `code` (one of `code`) and to change nothing. */
  rejects(code: string | string[], fn: () => unknown, label?: string): void;
}

async function fixture(): Promise<Fixture> {
  const rt = await Runtime.create();
  const t = rt.attach();
  const witnesses: Array<[number, number, number]> = [];
  const sizes = [8, 24, 100, 1000, 5000, 10_000, 40_000, 100_000, 600_000, 3 * MiB];
  sizes.forEach((size, i) => {
    const p = t.alloc(size, i % 3 === 0 ? 4 : 0);
    fillPattern(rt.bytes(), p, size, patternSeed(i, size));
    witnesses.push([p, size, patternSeed(i, size)]);
  });
  const f: Fixture = {
    rt, t, witnesses,
    rejects(code, fn, label = String(fn)) {
      const before = runtimeState(rt);
      const got = codeOf(fn);
      if (Array.isArray(code)) expect(code, label).toContain(got); else expect(got, label).toBe(code);
      expect(runtimeState(rt), `${label}: heap changed`).toEqual(before);
      for (const [p, size, seed] of witnesses) expect(checkPattern(rt.bytes(), p, size, seed), `${label}: witness ${p}`).toBe(-1);
    },
  };
  return f;
}

describe('bad pointers: EINVAL_PTR', () => {
  let f: Fixture;
  beforeAll(async () => { f = await fixture(); });

  it('outside every segment', () => {
    const { t } = f;
    for (const p of [12345, 1024, 65536, 0x7fff0000, 0xfffffff8]) {
      f.rejects('EINVAL_PTR', () => t.free(p));
      f.rejects('EINVAL_PTR', () => t.usableSize(p));
      f.rejects('EINVAL_PTR', () => t.realloc(p, 10));
    }
  });

  it('a segment header, and a unit in the pool', () => {
    const { t, rt } = f;
    const [small] = f.witnesses[0];
    const seg = small & ~(4 * MiB - 1);
    f.rejects('EINVAL_PTR', () => t.free(seg));
    f.rejects('EINVAL_PTR', () => t.free(seg + 256));
    const h = t.alloc(5 * MiB);
    t.free(h);
    expect(rt.stats().segments.unitsFree).toBeGreaterThan(0);
    f.rejects('EINVAL_PTR', () => t.free(h + 4 * MiB));
    f.rejects('EINVAL_PTR', () => t.usableSize(h));
  });

  it('interior and misaligned pointers of every kind of block', () => {
    const { t } = f;
    for (const [p, size] of f.witnesses) {
      if (size < 32) continue;   // p + 8 is the next block there
      for (const q of [p + 8, p + 1, p + 4, p + size - 1]) {
        f.rejects('EINVAL_PTR', () => t.free(q));
        f.rejects('EINVAL_PTR', () => t.usableSize(q));
        f.rejects('EINVAL_PTR', () => t.realloc(q, 64));
      }
    }
    const huge = f.witnesses.find(([, size]) => size > 2 * MiB)![0];
    f.rejects('EINVAL_PTR', () => t.free(huge & ~(4 * MiB - 1)));
  });

  it('not an unsigned 32-bit integer', () => {
    const { t } = f;
    const p = f.witnesses[3][0];
    for (const bad of [-1, -p, 2 ** 32, 2 ** 32 + p, p + 0.5, NaN, Infinity]) {
      f.rejects('EINVAL_PTR', () => t.free(bad));
      f.rejects('EINVAL_PTR', () => t.usableSize(bad));
      f.rejects('EINVAL_PTR', () => t.realloc(bad, 10));
    }
  });

  it('free(0) is a no-op', () => {
    f.rejects('OK', () => f.t.free(0));
  });
});

describe('double free: EDOUBLE_FREE', () => {
  // A large block's page and a huge block's units are released as soon as the block
  // is freed, so the README allows EINVAL_PTR there (the address holds no block).
  const codeFor = (kind: string) => (kind === 'huge' || kind === 'large' ? ['EDOUBLE_FREE', 'EINVAL_PTR'] : 'EDOUBLE_FREE');

  describe.each(Object.entries(KINDS))('%s block (%i bytes)', (kind, size) => {
    it('by the owner, the block alone in its page', async () => {
      const f = await fixture();
      const p = f.t.alloc(size);
      f.t.free(p);
      f.rejects(codeFor(kind), () => f.t.free(p));
    });

    it('by the owner, other blocks live in the page', async () => {
      const f = await fixture();
      const blocks = Array.from({ length: 3 }, () => f.t.alloc(size));
      f.t.free(blocks[1]);
      f.rejects(codeFor(kind), () => f.t.free(blocks[1]));
      f.t.free(blocks[0]);
      f.rejects(codeFor(kind), () => f.t.free(blocks[0]));
    });

    it('by another thread after the owner freed it, and twice by another thread', async () => {
      const f = await fixture();
      const t2 = f.rt.attach();
      const keep = f.t.alloc(size);   // keeps the page alive
      const p = f.t.alloc(size);
      f.t.free(p);
      f.rejects(codeFor(kind), () => t2.free(p));
      const q = f.t.alloc(size);
      t2.free(q);                      // a remote free
      f.rejects(codeFor(kind), () => t2.free(q));
      f.rejects(codeFor(kind), () => f.t.free(q));
      f.t.free(keep);
    });
  });

  it('a block of a page in the full queue, freed twice by another thread', async () => {
    // 1 KiB blocks: 32 per small page; the 33rd allocation moves the first page to
    // the full queue, so its first remote free goes to the heap's delayed list.
    const f = await fixture();
    const t2 = f.rt.attach();
    const blocks = Array.from({ length: 40 }, () => f.t.alloc(1024));
    t2.free(blocks[5]);
    f.rejects('EDOUBLE_FREE', () => t2.free(blocks[5]));
    f.rejects('EDOUBLE_FREE', () => f.t.free(blocks[5]));
  });

  it('a block of a page in the full queue, freed by another thread then by the owner', async () => {
    const f = await fixture();
    const t2 = f.rt.attach();
    const blocks = Array.from({ length: 40 }, () => f.t.alloc(1024));
    t2.free(blocks[7]);
    f.rejects('EDOUBLE_FREE', () => f.t.free(blocks[7]));
    // and the heap never hands the block out twice
    const again = Array.from({ length: 40 }, () => f.t.alloc(1024));
    const live = [...blocks.filter((_, i) => i !== 7), ...again];
    expect(new Set(live).size).toBe(live.length);
  });

  it('a block of an exited thread, freed twice by another thread', async () => {
    const f = await fixture();
    const t2 = f.rt.attach();
    const blocks = [t2.alloc(24), t2.alloc(24), t2.alloc(10_000), t2.alloc(10_000)];
    t2.exit();
    for (const p of blocks) {
      f.t.free(p);
      f.rejects('EDOUBLE_FREE', () => f.t.free(p));
    }
  });

  it('realloc of a freed block fails and does not hand the block out again', async () => {
    const f = await fixture();
    const keep = f.t.alloc(100);
    const p = f.t.alloc(100);
    f.t.free(p);
    f.rejects(['EDOUBLE_FREE', 'EINVAL_PTR'], () => f.t.realloc(p, 100));
    f.rejects(['EDOUBLE_FREE', 'EINVAL_PTR'], () => f.t.realloc(p, 5000));
    f.t.free(keep);
  });

  describe('across workers', () => {
    let f: Fixture;
    let w: Peer;
    beforeAll(async () => {
      f = await fixture();
      w = await Peer.start(f.rt, newCtl(), 'worker', { keep: true });   // for every test of this block
      await w.call('attach');
    });

    it.each(Object.entries(KINDS))('%s block: freed by the worker (owner), then by main', async (kind, size) => {
      const keep = await w.call('alloc', 0, size);
      try {
        const p = await w.call('alloc', 0, size);
        await w.call('free', 0, p);
        f.rejects(codeFor(kind), () => f.t.free(p));
      } finally {
        await w.call('free', 0, keep);
      }
    });

    it.each(Object.entries(KINDS))('%s block: freed by main (remote), then by the worker (owner) and main again', async (kind, size) => {
      const keep = await w.call('alloc', 0, size);
      try {
        const p = await w.call('alloc', 0, size);
        f.t.free(p);
        const before = runtimeState(f.rt);
        const code = await w.code('free', 0, p);
        expect([codeFor(kind)].flat()).toContain(code);
        expect(runtimeState(f.rt)).toEqual(before);
        f.rejects(codeFor(kind), () => f.t.free(p));
      } finally {
        await w.call('free', 0, keep);
      }
    });
  });
});

describe('bad sizes: EINVAL_SIZE', () => {
  let f: Fixture;
  beforeAll(async () => { f = await fixture(); });
  const bad = () => [-1, NaN, 1.5, Infinity, -Infinity, 2 ** 32, f.rt.maxAllocSize + 1, 0xffffffff];

  it('alloc, with and without a tag', () => {
    for (const size of bad()) {
      f.rejects('EINVAL_SIZE', () => f.t.alloc(size));
      f.rejects('EINVAL_SIZE', () => f.t.alloc(size, 5));
    }
  });

  it('calloc: either factor, or their product', () => {
    for (const size of bad()) {
      f.rejects('EINVAL_SIZE', () => f.t.calloc(1, size));
      f.rejects('EINVAL_SIZE', () => f.t.calloc(size, 1));
      f.rejects('EINVAL_SIZE', () => f.t.calloc(size, 8, 6));
    }
    f.rejects('EINVAL_SIZE', () => f.t.calloc(65536, 65536));
    f.rejects('EINVAL_SIZE', () => f.t.calloc(f.rt.maxAllocSize, 2));
  });

  it('realloc and alignedAlloc', () => {
    const p = f.witnesses[2][0];
    for (const size of bad()) {
      f.rejects('EINVAL_SIZE', () => f.t.realloc(p, size));
      f.rejects('EINVAL_SIZE', () => f.t.realloc(0, size));
      f.rejects('EINVAL_SIZE', () => f.t.alignedAlloc(64, size));
      f.rejects('EINVAL_SIZE', () => f.t.alignedAlloc(1 << 20, size, 9));
    }
  });

  it('the largest valid size is ENOMEM, not EINVAL_SIZE', () => {
    f.rejects('ENOMEM', () => f.t.alloc(f.rt.maxAllocSize));
  });
});

describe('bad alignments: EINVAL_ALIGN', () => {
  it('0, not a power of two, above 2 MiB, not an integer', async () => {
    const f = await fixture();
    for (const align of [0, 3, 48, 12, 4 * MiB, 2 ** 31, 2 ** 32, -1, -8, 1.5, NaN, Infinity]) {
      f.rejects('EINVAL_ALIGN', () => f.t.alignedAlloc(align, 100));
      f.rejects('EINVAL_ALIGN', () => f.t.alignedAlloc(align, 100, 4));
    }
  });
});

describe('bad tags: EINVAL_TAG', () => {
  it('16, -1, 1.5, NaN for alloc, calloc, alignedAlloc, visitBlocks, stats', async () => {
    const f = await fixture();
    for (const tag of [16, 17, 255, -1, 1.5, NaN, 2 ** 32]) {
      f.rejects('EINVAL_TAG', () => f.t.alloc(100, tag));
      f.rejects('EINVAL_TAG', () => f.t.calloc(10, 10, tag));
      f.rejects('EINVAL_TAG', () => f.t.alignedAlloc(64, 100, tag));
      f.rejects('EINVAL_TAG', () => f.t.visitBlocks(tag, () => {}));
    }
  });

  it('stats(tag) rejects a tag outside 0..15', async () => {
    const f = await fixture();
    for (const tag of [16, 255, -1, 1.5]) f.rejects('EINVAL_TAG', () => f.t.stats(tag));
  });
});

describe('bad options and handles: EINVAL_OPTION', () => {
  it.each([
    ['maximumMemory -1', { maximumMemory: -1 }], ['maximumMemory above 4 GiB', { maximumMemory: 2 ** 32 + 65536 }],
    ['maximumMemory NaN', { maximumMemory: NaN }], ['initialMemory Infinity', { initialMemory: Infinity }],
  ])('%s', async (_, options) => {
    await expect(Runtime.create(options)).rejects.toMatchObject({ name: 'FtheapError', code: 'EINVAL_OPTION' });
  });

  it('join with something that is not a handle, or another ABI', async () => {
    const rt = await Runtime.create();
    await expect(Runtime.join({} as never)).rejects.toMatchObject({ code: 'EINVAL_OPTION' });
    await expect(Runtime.join({ ...rt.share(), abi: 99 })).rejects.toMatchObject({ code: 'EINVAL_OPTION' });
  });
});

describe('after exit: ENOT_ATTACHED', () => {
  it('every call of an exited thread', async () => {
    const f = await fixture();
    const t2 = f.rt.attach();
    const p = t2.alloc(100);
    const q = f.t.alloc(100);
    t2.exit();
    expect(t2.hasExited).toBe(true);
    const calls: Array<[string, () => unknown]> = [
      ['alloc', () => t2.alloc(10)], ['alloc tag', () => t2.alloc(10, 3)], ['calloc', () => t2.calloc(1, 10)],
      ['alignedAlloc', () => t2.alignedAlloc(64, 10)], ['realloc', () => t2.realloc(p, 200)],
      ['realloc 0', () => t2.realloc(0, 200)], ['free own', () => t2.free(p)], ['free other', () => t2.free(q)],
      ['free 0', () => t2.free(0)], ['usableSize', () => t2.usableSize(p)],
      ['visitBlocks', () => t2.visitBlocks(0, () => {})], ['stats', () => t2.stats()], ['collect', () => t2.collect()],
      ['exit', () => t2.exit()],
    ];
    for (const [name, call] of calls) f.rejects('ENOT_ATTACHED', call, name);
    // the other thread and the exited thread's block are fine
    expect(f.t.usableSize(p)).toBeGreaterThanOrEqual(100);
    f.t.free(p);
    f.t.free(q);
  });
});
