// pystack.test.ts — the per-thread LIFO region (assembly/pystack.ts, src/pystack.ts):
// LIFO rules (free the last block, free a middle one and everything after it;
// double free, foreign, interior or misaligned pointers are ENOT_LIFO and change
// nothing), scopes (return, throw, nesting, a detach inside), exhaustion and
// recovery, alignment and zeroing, alloc(0), use / highWater, the stackBytes
// attach option and its validation, a worker's block freed from another thread,
// the region staying with a recycled thread record (no meta growth over 200
// attach / alloc / exit cycles), and a reaped thread's live part dropped. The
// LIFO and scope tests run on both builds (the debug build re-checks the
// pystack's invariants in t.validate()).
import { describe, expect, it } from 'vitest';
import { EINVAL_SIZE, EINVAL_STATE, PI_BASE, PI_BLOCKS, PI_CAPACITY, PI_TOP, PI_USE, ROOT, R_META_BUMP } from '../src/abi.gen.ts';
import { Runtime } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { Peer, useHarness } from './fixtures/harness.ts';
import { checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';
import { newCtl } from './fixtures/protocol.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const KiB = 1024;

const round8 = (n: number) => Math.max(8, (n + 7) & ~7);
/** What `t.stack` looks like: compared before and after a refused call. */
const stackState = (t: Thread) => ({ use: t.stack.use(), depth: t.stack.depth, high: t.stack.highWater, size: t.stack.size });
/** A figure of thread record `id`'s pystack, read from outside (ft_pystack_info). */
const info = (rt: Runtime, id: number, field: number) => rt.exports.ft_pystack_info(id, field) >>> 0;
/** Meta memory handed out so far (ROOT.metaBump, in 64 B granules). */
const metaBump = (rt: Runtime) => new Uint32Array(rt.memory.buffer)[(ROOT + R_META_BUMP) >>> 2];

describe.each([false, true])('LIFO rules and scopes (debug build: %s)', (debug) => {
  async function fresh(stackBytes?: number) {
    const rt = await Runtime.create({ debug });
    return { rt, t: rt.attach(stackBytes === undefined ? undefined : { stackBytes }) };
  }

  it('blocks are contiguous from the region base: the live part is user data only; freeing the last block', async () => {
    const { rt, t } = await fresh();
    const sizes = [24, 8, 100, 1, 64];
    const ps = sizes.map((n) => t.stack.alloc(n));
    const base = info(rt, t.id, PI_BASE);
    expect(ps[0]).toBe(base);
    for (let i = 1; i < ps.length; i++) expect(ps[i]).toBe(ps[i - 1] + round8(sizes[i - 1]));
    const end = ps[4] + round8(sizes[4]);
    expect(info(rt, t.id, PI_TOP)).toBe(end);   // the live range the collector scans: [base, end)
    const data = sizes.reduce((s, n) => s + round8(n), 0);
    expect(t.stack.use()).toBe(data + 4 * sizes.length);
    ps.forEach((p, i) => fillPattern(rt.bytes(), p, sizes[i], patternSeed(1, i)));
    t.stack.free(ps[4]);
    expect(t.stack.depth).toBe(4);
    expect(info(rt, t.id, PI_TOP)).toBe(ps[4]);
    expect(t.stack.use()).toBe(data - round8(sizes[4]) + 4 * 4);
    ps.slice(0, 4).forEach((p, i) => expect(checkPattern(rt.bytes(), p, sizes[i], patternSeed(1, i))).toBe(-1));
    t.validate();
    t.stack.free(ps[0]);
    expect(t.stack.use()).toBe(0);
    expect(info(rt, t.id, PI_TOP)).toBe(base);
  });

  it('freeing a middle block frees it and everything after it; the next block takes its place', async () => {
    const { t } = await fresh();
    const [a, b, c, d] = [16, 32, 8, 40].map((n) => t.stack.alloc(n));
    expect([a, b, c, d].every((p) => p > 0)).toBe(true);
    t.stack.free(b);
    expect(t.stack.depth).toBe(1);
    expect(t.stack.use()).toBe(16 + 4);
    expect(t.stack.alloc(8)).toBe(b);
    t.validate();
  });

  it('double free, released, foreign, interior and misaligned pointers: ENOT_LIFO, nothing changed', async () => {
    const { rt, t } = await fresh();
    const a = t.stack.alloc(32), b = t.stack.alloc(16), c = t.stack.alloc(24);
    fillPattern(rt.bytes(), a, 32, 11);
    fillPattern(rt.bytes(), b, 16, 12);
    t.stack.free(c);
    const heapBlock = t.alloc(64);
    const before = stackState(t);
    const bad: Array<[string, number]> = [
      ['double free (the block just freed)', c],
      ['interior of a live block', a + 8],
      ['interior of the last block', b + 8],
      ['misaligned', a + 4],
      ['the end of the live part', b + 16],
      ['below the region', a - 8],
      ['a heap block', heapBlock],
      ['0', 0],
      ['an address outside the memory', 0xfffffff8],
      ['not a u32', -8],
      ['not an integer', a + 0.5],
    ];
    for (const [what, p] of bad) {
      expect(codeOf(() => t.stack.free(p)), what).toBe('ENOT_LIFO');
      expect(stackState(t), what).toEqual(before);
    }
    expect(checkPattern(rt.bytes(), a, 32, 11)).toBe(-1);
    expect(checkPattern(rt.bytes(), b, 16, 12)).toBe(-1);
    // Released by freeing an older block: ENOT_LIFO as well.
    t.stack.free(a);
    expect(codeOf(() => t.stack.free(b))).toBe('ENOT_LIFO');
    expect(codeOf(() => t.stack.free(a))).toBe('ENOT_LIFO');
    expect(t.stack.use()).toBe(0);
    t.free(heapBlock);
    t.validate();
  });

  it('a block of another thread on the same JS thread: ENOT_LIFO for both ways', async () => {
    const { t } = await fresh();
    const t2 = t.runtime.attach();
    const p1 = t.stack.alloc(8), p2 = t2.stack.alloc(8);
    expect(codeOf(() => t.stack.free(p2))).toBe('ENOT_LIFO');
    expect(codeOf(() => t2.stack.free(p1))).toBe('ENOT_LIFO');
    expect([t.stack.depth, t2.stack.depth]).toEqual([1, 1]);
    t2.stack.free(p2);
    t.stack.free(p1);
    t2.exit();
  });

  it('scope frees what fn allocated on return and on throw, and returns what fn returns', async () => {
    const { t } = await fresh();
    const outer = t.stack.alloc(16);
    const use0 = t.stack.use();
    const got = t.stack.scope(() => {
      for (let i = 0; i < 10; i++) t.stack.alloc(24);
      expect(t.stack.depth).toBe(11);
      return 'done';
    });
    expect(got).toBe('done');
    expect([t.stack.depth, t.stack.use()]).toEqual([1, use0]);
    const boom = new Error('boom');
    expect(() => t.stack.scope(() => { t.stack.alloc(100); t.stack.alloc(8); throw boom; })).toThrow(boom);
    expect([t.stack.depth, t.stack.use()]).toEqual([1, use0]);
    // A thrown ESTACK_EXHAUSTED inside: the scope still pops.
    expect(codeOf(() => t.stack.scope(() => { t.stack.alloc(8); t.stack.alloc(1 << 20); }))).toBe('ESTACK_EXHAUSTED');
    expect(t.stack.depth).toBe(1);
    t.stack.free(outer);
    t.validate();
  });

  it('nested scopes: each frees its own blocks only', async () => {
    const { t } = await fresh();
    const depths: number[] = [];
    t.stack.scope(() => {
      const a = t.stack.alloc(8);
      t.stack.scope(() => {
        t.stack.alloc(8);
        t.stack.alloc(8);
        t.stack.scope(() => { t.stack.alloc(8); depths.push(t.stack.depth); });
        depths.push(t.stack.depth);
        expect(() => t.stack.scope(() => { t.stack.alloc(8); throw new Error('inner'); })).toThrow('inner');
        depths.push(t.stack.depth);
      });
      depths.push(t.stack.depth);
      expect(t.stack.alloc(8)).toBe(a + 8);
    });
    expect(depths).toEqual([4, 3, 3, 1]);
    expect(t.stack.depth).toBe(0);
    expect(t.stack.use()).toBe(0);
  });

  it('a scope whose fn detaches the thread pops anyway and leaves it detached', async () => {
    const { t } = await fresh();
    t.stack.scope(() => { t.stack.alloc(64); t.detach(); });
    expect(t.state).toBe('detached');
    expect(codeOf(() => t.stack.alloc(8))).toBe('ENOT_ATTACHED');
    t.attach();
    expect(t.stack.depth).toBe(0);
    // An exit inside: the exit dropped the pystack; the scope does not throw for it.
    expect(t.stack.scope(() => { t.stack.alloc(8); t.exit(); return 1; })).toBe(1);
    expect(codeOf(() => t.stack.use())).toBe('ENOT_ATTACHED');
  });
});

describe('sizes, exhaustion, alignment', () => {
  it('exhaustion: ESTACK_EXHAUSTED with nothing changed, and recovery after a free', async () => {
    const rt = await Runtime.create();
    const t = rt.attach({ stackBytes: 1024 });
    expect(t.stack.size).toBe(1024);
    // One block: data + 4 bytes of index must fit in 1024.
    expect(codeOf(() => t.stack.alloc(1020))).toBe('ESTACK_EXHAUSTED');   // 1024 + 4
    const whole = t.stack.alloc(1016);                                     // 1016 + 4 = 1020
    expect(codeOf(() => t.stack.alloc(0))).toBe('ESTACK_EXHAUSTED');
    t.stack.free(whole);
    const ps: number[] = [];
    for (;;) {
      const before = { use: t.stack.use(), depth: t.stack.depth, high: t.stack.highWater };
      const code = codeOf(() => ps.push(t.stack.alloc(56)));
      if (code === 'OK') continue;
      expect(code).toBe('ESTACK_EXHAUSTED');
      expect({ use: t.stack.use(), depth: t.stack.depth, high: t.stack.highWater }).toEqual(before);
      break;
    }
    expect(ps.length).toBe(Math.floor(1024 / 60));   // 56 + 4 each
    const err = (() => { try { t.stack.alloc(56); } catch (e) { return e as Error; } })();
    expect(err?.message).toMatch(/pystack exhausted.*stackBytes/);
    for (const huge of [4096, 0xffffffff]) expect(codeOf(() => t.stack.alloc(huge))).toBe('ESTACK_EXHAUSTED');
    expect(codeOf(() => t.stack.alloc(-1))).toBe('EINVAL_SIZE');
    t.stack.free(ps[ps.length - 2]);
    expect(t.stack.alloc(56)).toBe(ps[ps.length - 2]);
    t.stack.free(ps[0]);
    expect(t.stack.alloc(1016)).toBe(ps[0]);
    t.validate();
    t.exit();
  });

  it('8-aligned, rounded up to 8, zeroed: a reused slot reads as zeros', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const ps: number[] = [];
    for (let n = 1; n <= 40; n++) {
      const p = t.stack.alloc(n);
      expect(p % 8, `alloc(${n})`).toBe(0);
      if (ps.length > 0) expect(p - ps[ps.length - 1]).toBe(round8(n - 1));
      ps.push(p);
      rt.bytes().fill(0xab, p, p + round8(n));
    }
    t.stack.free(ps[0]);
    const p = t.stack.alloc(800);
    expect(p).toBe(ps[0]);
    expect(rt.bytes().subarray(p, p + 800).every((b) => b === 0)).toBe(true);
    t.exit();
  });

  it('alloc(0) returns distinct addresses, 8 bytes apart, each one freeable', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const ps = Array.from({ length: 5 }, () => t.stack.alloc(0));
    expect(new Set(ps).size).toBe(5);
    for (let i = 1; i < 5; i++) expect(ps[i] - ps[i - 1]).toBe(8);
    expect(t.stack.use()).toBe(5 * (8 + 4));
    t.stack.free(ps[4]);
    t.stack.free(ps[2]);
    expect(t.stack.depth).toBe(2);
    t.exit();
  });

  it('use counts data and 4 bytes of index per block; highWater keeps the most since attach', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    expect([t.stack.use(), t.stack.highWater, t.stack.size]).toEqual([0, 0, 64 * KiB]);
    const a = t.stack.alloc(100);
    expect(t.stack.use()).toBe(104 + 4);
    const b = t.stack.alloc(1000);
    expect(t.stack.use()).toBe(104 + 1000 + 8);
    t.stack.free(b);
    expect([t.stack.use(), t.stack.highWater]).toEqual([108, 1112]);
    t.stack.free(a);
    t.stack.alloc(16);
    expect([t.stack.use(), t.stack.highWater]).toEqual([20, 1112]);
    t.exit();
  });

  it('stackBytes: rt.attach and d.attach; bad values are EINVAL_SIZE naming the range, and attach nothing', async () => {
    const rt = await Runtime.create();
    const d = rt.createDomain();
    const t1 = rt.attach({ stackBytes: 4096 });
    const t2 = d.attach({ stackBytes: 1 << 20 });
    const t3 = rt.domain().attach({});
    expect([t1.stack.size, t2.stack.size, t3.stack.size]).toEqual([4096, 1 << 20, 64 * KiB]);
    // The maximum is usable as a whole.
    const p = t2.stack.alloc((1 << 20) - 8);
    expect(codeOf(() => t2.stack.alloc(0))).toBe('ESTACK_EXHAUSTED');
    t2.stack.free(p);
    const live = rt.stats().threads.live;
    for (const bad of [0, 8, 56, 60, 100, 4097, (1 << 20) + 8, 2 ** 32, -64, 64.5, NaN, Infinity, '4096', null]) {
      for (const attach of [() => rt.attach({ stackBytes: bad as number }), () => d.attach({ stackBytes: bad as number })]) {
        let err: unknown;
        try { attach(); } catch (e) { err = e; }
        expect((err as { code?: string })?.code, String(bad)).toBe('EINVAL_SIZE');
        expect((err as Error).message).toMatch(/multiple of 8 from 64 to 1048576/);
      }
    }
    expect(codeOf(() => rt.attach(42 as never))).toBe('EINVAL_OPTION');
    expect(rt.stats().threads.live).toBe(live);
    // The core checks too (the raw export), and refuses a size change while blocks are live.
    const x = rt.exports;
    expect(x.ft_pystack_set_size(t1.id, 100)).toBe(EINVAL_SIZE);
    expect(x.ft_pystack_set_size(t1.id, (1 << 20) + 8)).toBe(EINVAL_SIZE);
    t1.stack.alloc(8);
    expect(x.ft_pystack_set_size(t1.id, 2048)).toBe(EINVAL_STATE);
    expect(t1.stack.size).toBe(4096);
    for (const t of [t1, t2, t3]) t.exit();
  });
});

describe('threads', () => {
  it('a worker\'s pystack block freed from another thread: ENOT_LIFO, the worker\'s pystack unchanged', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const wp = await w.call<number>('stackAlloc', 0, 64);
    const wq = await w.call<number>('stackAlloc', 0, 8);
    const wUse = await w.call<number>('stackUse', 0);
    const mine = t.stack.alloc(64);
    for (const p of [wp, wq]) expect(codeOf(() => t.stack.free(p))).toBe('ENOT_LIFO');
    expect(t.stack.depth).toBe(1);
    expect(await w.call<number>('stackUse', 0)).toBe(wUse);
    expect(await w.code('stackFree', 0, mine)).toBe('ENOT_LIFO');
    await w.call('stackFree', 0, wp);
    expect(await w.call<number>('stackUse', 0)).toBe(0);
    t.stack.free(mine);
    await w.call('exit', 0);
    t.exit();
  }, TEST_TIMEOUT);

  it('a recycled thread record keeps its region: 200 attach / alloc / exit cycles take no meta memory', async () => {
    const rt = await Runtime.create();
    const d = rt.domain();
    let base = 0, meta = 0, bytes = 0;
    for (let i = 0; i < 200; i++) {
      const t = d.attach();
      const p = t.stack.alloc(1000);
      t.stack.alloc(8);                                 // left live: exit drops it
      expect([t.stack.depth, t.stack.highWater]).toEqual([2, 1008 + 2 * 4]);
      if (i === 0) base = p;
      expect(p, `cycle ${i}`).toBe(base);
      if (i === 5) { meta = metaBump(rt); bytes = rt.memory.buffer.byteLength; }
      t.exit();
      expect(info(rt, t.id, PI_BLOCKS)).toBe(0);
      expect(info(rt, t.id, PI_TOP)).toBe(base);      // the live range [base, base) is empty
    }
    expect(metaBump(rt)).toBe(meta);
    expect(rt.memory.buffer.byteLength).toBe(bytes);
    // A larger size gets a new region (at least twice the old one); a smaller one reuses it.
    const big = d.attach({ stackBytes: 128 * KiB });
    const q = big.stack.alloc(100 * KiB);
    expect(q).not.toBe(base);
    expect(info(rt, big.id, PI_CAPACITY)).toBe(128 * KiB);
    big.exit();
    const small = d.attach({ stackBytes: 4096 });
    expect(small.id).toBe(big.id);
    expect(small.stack.alloc(8)).toBe(q);
    expect([small.stack.size, info(rt, small.id, PI_CAPACITY)]).toEqual([4096, 128 * KiB]);
    small.exit();
  });

  it('a reaped thread\'s pystack is released: its live range is empty, and the next thread of the record reuses the region, zeroed', async () => {
    const rt = await Runtime.create();
    const d = rt.domain();
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    const ps = [await w.call<number>('stackAlloc', 0, 256), await w.call<number>('stackAlloc', 0, 64)];
    await w.call('fill', ps[0], 256, 7);
    await w.call('fill', ps[1], 64, 8);
    const base = info(rt, id, PI_BASE);
    expect(ps[0]).toBe(base);
    expect([info(rt, id, PI_BLOCKS), info(rt, id, PI_TOP), info(rt, id, PI_USE)]).toEqual([2, base + 320, 328]);
    await w.terminate();
    expect(d.reap(id).id).toBe(id);
    expect([info(rt, id, PI_BLOCKS), info(rt, id, PI_TOP), info(rt, id, PI_USE)]).toEqual([0, base, 0]);
    const t2 = d.attach();
    expect(t2.id).toBe(id);                            // the recycled record ...
    const p = t2.stack.alloc(320);
    expect(p).toBe(base);                              // ... and its region
    expect(rt.bytes().subarray(p, p + 320).every((b) => b === 0)).toBe(true);
    expect([t2.stack.depth, t2.stack.highWater]).toEqual([1, 324]);
    t2.exit();
    t.exit();
  }, TEST_TIMEOUT);
});
