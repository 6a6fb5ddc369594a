// page.test.ts — where a page's xthreadFree word lives (assembly/page.ts xtfAddr,
// layout.ts SEG_XTF): a remote free changes exactly its page's word in the
// segment's xthreadFree array, no other byte of the array or of any page record;
// the rest of each 64-byte line stays zero (nothing else lives there); a huge
// segment's word is set (DELAY_NEVER) below its block; a segment taken again from
// the pool gets a clean array whatever the unit held before.
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';

// Layout (assembly/layout.ts) the test reads.
const SEGMENT = 1 << 22, SEG_PAGES = 256, PAGE_REC_SHIFT = 7, SLICE_SHIFT = 15, SLICES = 128;
const SEG_XTF = 16640, XTF_STRIDE = 64, SEG_META_BYTES = 24832, HUGE_BLOCK_OFFSET = 32768;
const P_SLICE_OFFSET = 44, P_BLOCK_SIZE = 40;
const DELAY_USE = 0, DELAY_NO = 2, DELAY_NEVER = 3;

const segOf = (p: number) => p & ~(SEGMENT - 1);
function pageOf(u32: Uint32Array, p: number): number {
  const seg = segOf(p);
  const rec = seg + SEG_PAGES + (((p - seg) >>> SLICE_SHIFT) << PAGE_REC_SHIFT);
  return rec - u32[(rec + P_SLICE_OFFSET) >>> 2];
}
const xtfOf = (page: number) => {
  const seg = segOf(page);
  return seg + SEG_XTF + (((page - seg - SEG_PAGES) >> PAGE_REC_SHIFT) * XTF_STRIDE);
};

describe('page: the xthreadFree array', () => {
  it('a remote free changes only its page\'s word in the array, nothing in any record; the lines\' other bytes stay zero', async () => {
    const { rt, t } = await attached({ debug: true });
    const u = rt.attach();
    // Small, medium and large pages at many record indices of u's segments.
    const theirs = [
      ...u.allocMany(20000, 48), ...u.allocMany(3000, 256), ...u.allocMany(600, 2000),
      ...u.allocMany(40, 20000), ...u.allocMany(6, 100000),
    ];
    // Half freed by u, and collected: no page is full (a remote free into a full
    // page goes to the heap's list, not to the page's word).
    u.freeMany(theirs.filter((_, i) => i % 2 === 0));
    const live = theirs.filter((_, i) => i % 2 === 1);
    u.collect(false);
    const u32 = () => new Uint32Array(rt.memory.buffer);
    const firstOf = new Map<number, number>();   // page -> the block t frees
    for (const p of live) { const page = pageOf(u32(), p); if (!firstOf.has(page)) firstOf.set(page, p); }
    const segs = [...new Set([...firstOf.keys()].map(segOf))];
    expect(firstOf.size).toBeGreaterThan(60);
    expect(new Set([...firstOf.keys()].map((pg) => (pg - segOf(pg) - SEG_PAGES) >> PAGE_REC_SHIFT)).size).toBeGreaterThan(40);
    const before = segs.map((s) => u32().slice((s + SEG_PAGES) >>> 2, (s + SEG_META_BYTES) >>> 2));
    const wordBefore = new Map([...firstOf.keys()].map((page) => [page, u32()[xtfOf(page) >>> 2]]));
    for (const w of wordBefore.values()) expect([DELAY_USE, DELAY_NO], 'a live page\'s word before: collected').toContain(w);
    expect([...wordBefore.values()].filter((w) => w === DELAY_NO).length).toBeGreaterThan(40);
    for (const p of firstOf.values()) t.free(p);   // remote frees (t is not the owner)
    const m = u32();
    segs.forEach((s, k) => {
      const want = before[k].slice();
      // A page in the full queue (DELAY_USE): the block goes on the heap's list, the state back to NO.
      for (const [page, p] of firstOf) {
        if (segOf(page) === s) want[(xtfOf(page) - s - SEG_PAGES) >>> 2] = wordBefore.get(page) === DELAY_USE ? DELAY_NO : (p | DELAY_NO) >>> 0;
      }
      const got = m.slice((s + SEG_PAGES) >>> 2, (s + SEG_META_BYTES) >>> 2);
      const diff: number[] = [];
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) diff.push(s + SEG_PAGES + i * 4);
      expect(diff, `bytes of segment ${s} that changed other than the pages' words`).toEqual([]);
      for (let i = 0; i < SLICES; i++) {
        const line = s + SEG_XTF + i * XTF_STRIDE;
        for (let w = 4; w < XTF_STRIDE; w += 4) expect(m[(line + w) >>> 2], `line ${i} word ${w}`).toBe(0);
      }
    });
    u.collect(true);                               // takes the remote frees back (validators on: debug)
    u.freeMany(live.filter((p) => ![...firstOf.values()].includes(p)));
    u.collect(true);
    t.collect(true);
    expectBalanced(rt);
  });

  it('a huge segment\'s word is DELAY_NEVER below its block; a unit taken again as a normal segment starts with a clean array', async () => {
    const { rt, t } = await attached({ debug: true });
    const u = rt.attach();
    const h = u.alloc(3 << 20);                    // above LARGE_OBJ_MAX: a segment of its own
    const seg = segOf(h);
    expect(h).toBe(seg + HUGE_BLOCK_OFFSET);
    const u32 = () => new Uint32Array(rt.memory.buffer);
    expect(u32()[(seg + SEG_XTF) >>> 2] & 3).toBe(DELAY_NEVER);
    new Uint8Array(rt.memory.buffer, h, 3 << 20).fill(0xAB);   // the block's bytes are not the word's
    expect(u32()[(seg + SEG_XTF) >>> 2] & 3).toBe(DELAY_NEVER);
    t.free(h);                                     // a remote free of a huge block
    // The unit is back in the pool: leave stale bytes where the array and the records are.
    new Uint8Array(rt.memory.buffer, seg + SEG_PAGES, SEG_META_BYTES - SEG_PAGES).fill(0x5A);
    const p = u.alloc(64);
    expect(segOf(p)).toBe(seg);                    // the same unit, now a normal segment
    const m = u32();
    const page = pageOf(m, p);
    for (let i = 0; i < SLICES; i++) {
      const line = seg + SEG_XTF + i * XTF_STRIDE;
      const want = line === xtfOf(page) ? DELAY_NO : 0;
      expect(m[line >>> 2], `line ${i}`).toBe(want);
      for (let w = 4; w < XTF_STRIDE; w += 4) expect(m[(line + w) >>> 2], `line ${i} word ${w}`).toBe(0);
    }
    expect(m[(page + P_BLOCK_SIZE) >>> 2]).toBe(64);
    const q = u.alloc(64);
    t.free(p);                                     // remote
    expect(m[xtfOf(page) >>> 2]).toBe((p | DELAY_NO) >>> 0);
    u.free(q);
    u.collect(true);
    expectBalanced(rt);
  });
});
