// retire-thrash.test.ts — two size classes used in turn, each emptied before the
// other is allocated: after the first round both pages are kept and reused, no page
// is taken or freed again. Review of 0c437d6 (kept pages freed at the first fresh
// page): there every malloc of the other class freed the kept page and took a
// fresh one (committed changed 200 times in 200 calls; 460 against 38 ns per pair).
// Reviews of f7e0208 and 641f3ba: kept pages gone at the second fresh page churned
// with three or more classes; kept pages with more than 4 KiB made ready gone at the
// next fresh page churned with two classes of a few 2-3 KiB blocks each (214
// against 48 ns per pair). Kept pages now outlive 16 fresh pages, as in mimalloc.
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';

describe('size classes taking turns, each freeing all it allocated', () => {
  // [size, blocks] per class
  it.each([[[[48, 1], [512, 1]]], [[[48, 1], [512, 1], [2048, 1]]], [[[16, 1], [32, 1], [48, 1]]],
    [[[16, 1], [48, 1], [512, 1], [2048, 1]]], [[[16, 1], [32, 1], [48, 1], [64, 1], [80, 1], [96, 1], [112, 1], [128, 1], [160, 1]]],
    [[[2200, 2], [3000, 2]]], [[[1500, 3], [1100, 4]]], [[[48, 90], [64, 70]]]])(
    'classes %j: after a few rounds no page is taken or freed per round', async (groups: Array<[number, number]>) => {
      const { rt, t } = await attached();
      const x = rt.exports;
      let changes = 0, prev = rt.stats().memory.committed;
      for (let round = 0; round < 100; round++) {
        for (const [size, k] of groups) {
          const ps = Array.from({ length: k }, () => x.ft_malloc(size));
          for (const p of ps) x.ft_free(p);
          const c = rt.stats().memory.committed;
          if (round >= 50 && c !== prev) changes++;
          prev = c;
        }
      }
      t.collect(true);
      expectBalanced(rt);
      expect(changes, 'pages churned in rounds 50-99').toBe(0);
    });
});
