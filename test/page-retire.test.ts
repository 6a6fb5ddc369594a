// page-retire.test.ts — what happens to a page when its last block is freed
// (assembly/page.ts pageRetire): a small page (blocks ≤ 4 KiB) alone in its queue
// is kept, so a program that frees everything and allocates again does not churn
// pages, for 16 fresh pages the heap takes; a medium page (blocks of 4–32 KiB) goes back to its segment at
// once, where its slices serve any size class. Kept medium pages made every medium
// class hold its own highest count of blocks: about 4× the live bytes on a workload
// of random sizes up to 32 KiB (the bench's glibc-thread and rptest).
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';

describe('pageRetire', () => {
  it('an emptied medium page goes back to its segment at once; each medium class keeps nothing', async () => {
    const { rt, t } = await attached();
    const before = rt.stats().memory.committed;
    // One block in each medium class, 4 KiB up to 32 KiB: a page per class.
    const sizes = [5000, 6000, 7000, 8000, 10000, 12000, 14000, 16000, 20000, 24000, 28000, 32000];
    const ptrs = sizes.map((s) => t.alloc(s));
    const during = rt.stats().memory.committed;
    expect(during - before).toBeGreaterThanOrEqual(sizes.reduce((a, b) => a + b, 0));
    for (const p of ptrs) t.free(p);
    // No collect: the frees alone gave every page back.
    expect(rt.stats().memory.committed).toBe(before);
    const pages = rt.heapMap().segments.flatMap((s) => s.pages).filter((p) => !p.free && p.blockSize > 4096);
    expect(pages).toEqual([]);
    expectBalanced(rt);
  });

  it('an emptied small page alone in its queue is kept until a forced collect', async () => {
    const { rt, t } = await attached();
    const before = rt.stats().memory.committed;
    const p = t.alloc(2048);
    t.free(p);
    const kept = rt.heapMap().segments.flatMap((s) => s.pages).filter((pg) => !pg.free && pg.blockSize === 2048);
    expect(kept.length).toBe(1);
    expect(kept[0].retired).toBe(true);
    expect(rt.stats().memory.committed).toBeGreaterThan(before);
    t.collect(true);
    expect(rt.stats().memory.committed).toBe(before);
    expectBalanced(rt);
  });

  // Freeing kept pages sooner saved memory on small heaps but churned a page per
  // malloc for some classes taking turns (retire-thrash.test.ts): they outlive 16
  // fresh pages, as in mimalloc.
  it('a kept small page outlives fresh pages taken for other classes', async () => {
    const { rt, t } = await attached();
    const keptOf = (size: number) => rt.heapMap().segments.flatMap((s) => s.pages).filter((pg) => !pg.free && pg.blockSize === size);
    t.freeMany(t.allocMany(200, 48));                   // 9.6 KiB of blocks, then none: the page is kept
    expect(keptOf(48).length).toBe(1);
    const p = t.alloc(512);                             // fresh pages for other classes
    const q = t.alloc(2048);
    expect(keptOf(48).length, 'still kept').toBe(1);
    t.freeMany(t.allocMany(200, 48));                   // and it serves its class again
    expect(keptOf(48).length).toBe(1);
    t.free(p);
    t.free(q);
    t.collect(true);
    expectBalanced(rt);
  });
});
