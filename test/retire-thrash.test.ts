// retire-thrash.test.ts — two size classes used in turn, each emptied before the
// other is allocated: after the first round both pages are kept and reused, no page
// is taken or freed again. Review of 0c437d6 (kept pages freed at the first fresh
// page): there every malloc of the other class freed the kept page and took a
// fresh one (committed changed 200 times in 200 calls; 460 against 38 ns per pair).
// Review of f7e0208 (kept pages gone at the second fresh page): three or more
// classes churned the same way. Now only a kept page with more than one extension
// step made ready goes at the next fresh page; one-step pages count down from 16.
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';

describe('size classes taking turns, one block each', () => {
  it.each([[[48, 512]], [[48, 512, 2048]], [[16, 32, 48]], [[16, 48, 512, 2048]], [[16, 32, 48, 64, 80, 96, 112, 128, 160]]])(
    'classes %j: after a few rounds no page is taken or freed per malloc', async (sizes: number[]) => {
      const { rt, t } = await attached();
      const x = rt.exports;
      let changes = 0, prev = rt.stats().memory.committed;
      for (let round = 0; round < 100; round++) {
        for (const s of sizes) {
          x.ft_free(x.ft_malloc(s));
          const c = rt.stats().memory.committed;
          if (round >= 50 && c !== prev) changes++;   // the first rounds may churn while the heap learns
          prev = c;
        }
      }
      t.collect(true);
      expectBalanced(rt);
      expect(changes, 'pages churned in rounds 50-99').toBe(0);
    });
});
