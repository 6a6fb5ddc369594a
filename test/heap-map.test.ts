// heap-map.test.ts — rt.heapMap() (assembly/heap-map.ts), read from a JS thread
// that has no attached thread, while real workers own the segments: the pages of
// a tag show up with their owner and plausible counts; after a worker dies and is
// reaped, its segments (and their pages) are marked abandoned, and once their
// blocks are freed they leave the map.
import { describe, expect, it } from 'vitest';
import { Runtime, Tag, type HeapMapPage } from '../src/index.ts';
import { Peer, results, startWorkers, until, useHarness } from './fixtures/harness.ts';
import { Ctl, newCtl } from './fixtures/protocol.ts';

useHarness();

const pagesOf = (rt: Runtime, pred: (p: HeapMapPage, owner: number, abandoned: boolean) => boolean) =>
  rt.heapMap().segments.flatMap((s) => s.pages.filter((p) => pred(p, s.owner, s.abandoned)));

describe('heap map', () => {
  it('shows a worker\'s pages of a tag with their counts, to a thread that is not attached', async () => {
    const rt = await Runtime.create();
    expect(rt.current).toBeNull();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    await w.call('allocMany', 0, 3000, 80, Tag.OBJECT);
    await w.call('allocMany', 0, 500, 1000);
    await w.call('alloc', 0, 3 << 20);   // a huge block
    const map = rt.heapMap();
    expect(map.segments.length).toBeGreaterThan(0);
    for (const s of map.segments) {
      expect(s.owner).toBe(id);
      expect(s.abandoned).toBe(false);
      // Slices 1..127 of a normal segment are tiled by its pages and free spans.
      if (s.kind === 'normal') expect(s.pages.reduce((n, p) => n + p.slices, 0)).toBe(127);
    }
    const objects = pagesOf(rt, (p) => !p.free && p.tag === Tag.OBJECT && p.blockSize === 80);
    expect(objects.length).toBeGreaterThanOrEqual(Math.ceil(3000 / (32768 / 80)));
    expect(objects.reduce((n, p) => n + p.used, 0)).toBe(3000);
    for (const p of objects) expect(p.used).toBeLessThanOrEqual(p.capacity);
    expect(pagesOf(rt, (p) => !p.free && p.tag === Tag.MEM && p.blockSize >= 1000 && p.blockSize < 1300)
      .reduce((n, p) => n + p.used, 0)).toBe(500);
    const huge = map.segments.filter((s) => s.kind === 'huge');
    expect(huge).toHaveLength(1);
    expect(huge[0].pages[0]).toMatchObject({ huge: true, used: 1, tag: Tag.MEM });
    expect(pagesOf(rt, (p) => p.abandoned || p.qsbrWaiting)).toHaveLength(0);
    await w.call('exit', 0);
  });

  it('marks the segments of a worker that died and was reaped abandoned, until their blocks are freed', async () => {
    const rt = await Runtime.create();
    const d = rt.domain();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    const live = await w.call<number[]>('allocMany', 0, 2000, 48, Tag.OBJECT);
    await w.terminate();
    expect(pagesOf(rt, (_p, owner) => owner === id).length).toBeGreaterThan(0);
    d.reap(id);
    const map = rt.heapMap();
    const abandoned = map.segments.filter((s) => s.abandoned);
    expect(abandoned.length).toBe(d.abandoned().segments);
    expect(abandoned.length).toBeGreaterThan(0);
    for (const s of abandoned) {
      expect(s.owner).toBe(0);
      for (const p of s.pages) expect(p.abandoned).toBe(true);
    }
    expect(pagesOf(rt, (p) => p.abandoned && !p.free && p.tag === Tag.OBJECT).reduce((n, p) => n + p.used, 0)).toBe(2000);
    // Freed by another thread, the pool gives the segments back: they leave the map.
    const t = rt.attach();
    for (const p of live) t.free(p);
    for (let i = 0; i < 100 && d.abandoned().segments > 0; i++) t.checkpoint();
    expect(rt.heapMap().segments.filter((s) => s.abandoned)).toHaveLength(0);
    t.exit();
  });

  it('marks an emptied page of a held tag as waiting for its QSBR goal', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');   // attached, not checkpointing: goals wait for it
    const ps = Array.from({ length: 4000 }, () => t.alloc(48, Tag.OBJECT));
    for (const p of ps) t.free(p);
    t.collect(true);
    t.checkpoint();
    expect(rt.domain().qsbrInfo().pagesHeld).toBeGreaterThan(0);
    const waiting = pagesOf(rt, (p) => p.qsbrWaiting);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting.length).toBe(rt.domain().qsbrInfo().pagesHeld);
    for (const p of waiting) expect(p).toMatchObject({ tag: Tag.OBJECT, used: 0 });
    await w.call('exit', 0);
    t.exit();
  });
});

describe('racy readers', () => {
  it('rt.heapMap() and rt.stats() from a thread that is not attached never trap while workers free each other\'s blocks', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const bag = new SharedArrayBuffer(4 * 256 * 4);
    const started = await startWorkers<{ allocs: number; remote: number }>(rt, {
      fixture: 'heap-map-worker', count: 4, ctl, data: () => ({ bag }),
    });
    await until(() => rt.heapMap().segments.length >= 4, 20_000, 'the workers allocate');
    let maps = 0;
    const end = performance.now() + 1500;
    while (performance.now() < end) {
      const map = rt.heapMap();
      rt.stats();   // follows each page's remote-free list: a link the owner reused must end the walk, not trap
      expect(map.segments.length).toBeGreaterThan(0);
      maps++;
    }
    Atomics.store(ctl, Ctl.STOP, 1);
    const counts = await results(started, 20_000, 'churn workers');
    for (const c of counts) expect(c.remote).toBeGreaterThan(0);
    expect(maps).toBeGreaterThan(10);
  });
});
