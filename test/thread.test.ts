// thread.test.ts — threads of a runtime: attach and exit (live-thread count,
// record states, an exited Thread stays unusable even when its record is
// recycled); two threads attached on one JS thread taking turns, each keeping its
// own blocks; a worker joining through rt.share(); a worker exiting (or being
// terminated) with live blocks that the main thread verifies and frees afterwards;
// and stats/visitBlocks staying exact after remote frees into a full page.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { expectBalanced, Peer, useHarness } from './fixtures/harness.ts';
import { checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';
import { Rng } from './fixtures/prng.ts';
import { newCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

const MiB = 1 << 20;
const { ATTACHED, EXITED } = RawState;

useHarness();
const startWorker = (rt: Runtime) => Peer.start(rt, newCtl(), 'worker');

const visit = (t: Thread, tag = 0) => {
  const out: number[] = [];
  t.visitBlocks(tag, (p) => out.push(p));
  return out.sort((a, b) => a - b);
};

describe('attach and exit', () => {
  it('counts live threads and records their state', async () => {
    const rt = await Runtime.create();
    expect(rt.stats().threads.live).toBe(0);
    const a = rt.attach(), b = rt.attach();
    expect(a.id).not.toBe(b.id);
    expect(rt.stats().threads.live).toBe(2);
    // One JS thread runs one thread at a time: attaching b detached a.
    expect(rt.exports.ft_thread_state(b.id)).toBe(ATTACHED);
    expect(a.state).toBe('detached');
    const p = a.alloc(100);   // a keeps a segment, so its record is not recycled
    expect(rt.exports.ft_thread_state(a.id)).toBe(ATTACHED);
    expect(b.state).toBe('detached');
    a.exit();
    expect(a.hasExited).toBe(true);
    expect(rt.exports.ft_thread_state(a.id)).toBe(EXITED);
    expect(rt.stats().threads.live).toBe(1);
    expect(codeOf(() => a.exit())).toBe('ENOT_ATTACHED');
    b.free(p);
    b.exit();
    expectBalanced(rt, { threadsLive: 0, blocksUsed: 0 });
  });

  it('an exited Thread stays unusable after its record is recycled', async () => {
    const rt = await Runtime.create();
    const keep = rt.attach();
    const a = rt.attach();
    a.exit();                    // no segment left: the record may be reused
    const c = rt.attach();
    expect(c.id).toBe(a.id);   // recycled, else this test shows nothing
    expect(codeOf(() => a.alloc(10))).toBe('ENOT_ATTACHED');
    expect(codeOf(() => a.free(0))).toBe('ENOT_ATTACHED');
    const p = c.alloc(10);
    expect(c.usableSize(p)).toBeGreaterThanOrEqual(10);
    expect(visit(c)).toEqual([p]);
    c.free(p);
    keep.exit();
    c.exit();
    expectBalanced(rt, { threadsLive: 0 });
  });
});

describe('two threads on one JS thread', () => {
  it('take turns: each call uses its own heaps, frees in either direction', async () => {
    const rt = await Runtime.create();
    const ts = [rt.attach(), rt.attach()];
    const own: Array<Map<number, [number, number]>> = [new Map(), new Map()];   // ptr -> [size, seed]
    const rng = new Rng(5);
    for (let i = 0; i < 4000; i++) {
      const k = rng.int(2), t = ts[k];
      if (own[k].size === 0 || rng.chance(0.55)) {
        const size = rng.logUniform(1, 50_000);
        const p = t.alloc(size);
        expect(rt.exports.ft_thread_current()).toBe(t.id);
        fillPattern(rt.bytes(), p, size, patternSeed(k, i));
        own[k].set(p, [size, patternSeed(k, i)]);
      } else {
        // free one of either thread's blocks: local or remote
        const from = rng.int(2);
        if (own[from].size === 0) continue;
        const [p, [size, seed]] = [...own[from]][rng.int(own[from].size)];
        expect(checkPattern(rt.bytes(), p, size, seed)).toBe(-1);
        t.free(p);
        own[from].delete(p);
      }
    }
    ts.forEach((t) => t.collect());
    ts.forEach((t, k) => {
      expect(visit(t)).toEqual([...own[k].keys()].sort((a, b) => a - b));
      expect(t.stats().totals.blocksUsed).toBe(own[k].size);
    });
    expect(rt.stats().totals.blocksUsed).toBe(own[0].size + own[1].size);
    for (const [p] of own[0]) ts[1].free(p);
    for (const [p] of own[1]) ts[0].free(p);
    ts.forEach((t) => t.collect());   // remote frees into full pages wait for their owner
    expectBalanced(rt);
  });
});

describe('workers', () => {
  it('a worker joins through rt.share(), sees the same memory and frees main\'s block', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const p = t.alloc(5000);
    fillPattern(rt.bytes(), p, 5000, 42);
    const w = await startWorker(rt);
    await w.call('attach');
    expect(rt.stats().threads.live).toBe(2);
    expect(await w.call('liveThreads')).toBe(2);
    expect(await w.call('check', p, 5000, 42)).toBe(-1);
    const q = await w.call('alloc', 0, 3000);
    await w.call('fill', q, 3000, 43);
    expect(checkPattern(rt.bytes(), q, 3000, 43)).toBe(-1);
    expect(rt.stats().totals.blocksUsed).toBe(2);
    await w.call('free', 0, p);
    expect(rt.stats().totals.blocksUsed).toBe(1);
    t.free(q);
    expectBalanced(rt);
    await w.call('exit', 0);
    expect(rt.stats().threads.live).toBe(1);
  });

  it.each([
    ['exits', true],
    ['is terminated without exiting', false],
  ])('a worker that %s with live blocks: main verifies and frees them', async (_, exits) => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const w = await startWorker(rt);
    await w.call('attach');
    const id = await w.call('id', 0);
    const rng = new Rng(exits ? 1 : 2);
    const blocks: Array<[number, number, number]> = [];
    for (let i = 0; i < 300; i++) {
      const size = i % 100 === 50 ? 3 * MiB + i : rng.logUniform(1, 100_000);
      const p = await w.call('alloc', 0, size, i % 4);
      await w.call('fill', p, size, patternSeed(7, i));
      blocks.push([p, size, patternSeed(7, i)]);
    }
    // some of them freed already by the worker
    for (let i = 0; i < 300; i += 3) await w.call('free', 0, blocks[i][0]);
    const live = blocks.filter((_, i) => i % 3 !== 0);
    if (exits) await w.call('exit', 0);
    await w.terminate();
    expect(rt.exports.ft_thread_state(id)).toBe(exits ? EXITED : ATTACHED);
    expect(rt.stats().totals.blocksUsed).toBe(live.length);
    expect(rt.stats().huge.blocks).toBe(live.filter(([, size]) => size > 2 * MiB).length);
    for (const [p, size, seed] of live) {
      expect(checkPattern(rt.bytes(), p, size, seed), `block ${p}`).toBe(-1);
      expect(t.usableSize(p)).toBeGreaterThanOrEqual(size);
      t.free(p);
    }
    expectBalanced(rt, { blocksUsed: 0, hugeBlocks: 0 });
    // and the heap goes on
    const q = t.alloc(1000);
    t.free(q);
  });
});

describe('remote frees into a full page', () => {
  // 1 KiB blocks: 32 per small page; the 33rd allocation moves the first page to
  // the full queue, so remote frees of its blocks go to the owner's delayed list.
  it('stats and visitBlocks of a quiescent runtime no longer count the freed blocks', async () => {
    const rt = await Runtime.create();
    const owner = rt.attach(), other = rt.attach();
    const blocks = Array.from({ length: 40 }, () => owner.alloc(1024));
    other.free(blocks[3]);
    other.free(blocks[20]);
    const live = blocks.filter((_, i) => i !== 3 && i !== 20).sort((a, b) => a - b);
    expect.soft(rt.stats().totals.blocksUsed).toBe(live.length);
    expect.soft(owner.stats().totals.blocksUsed).toBe(live.length);
    expect.soft(visit(owner)).toEqual(live);
  });

  it('after the owner collects, the counts are exact and the blocks are reused', async () => {
    const rt = await Runtime.create();
    const owner = rt.attach(), other = rt.attach();
    const blocks = Array.from({ length: 40 }, () => owner.alloc(1024));
    other.free(blocks[3]);
    owner.collect();
    const live = blocks.filter((_, i) => i !== 3).sort((a, b) => a - b);
    expect(rt.stats().totals.blocksUsed).toBe(live.length);
    expect(visit(owner)).toEqual(live);
    const more = Array.from({ length: 40 }, () => owner.alloc(1024));
    expect(new Set([...live, ...more]).size).toBe(live.length + more.length);
  });
});
