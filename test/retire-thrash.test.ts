// retire-thrash.test.ts — two size classes used in turn, each emptied before the
// other is allocated: after the first round both pages are kept and reused, no page
// is taken or freed again. Review of 0c437d6 (kept pages freed at the first fresh
// page): there every malloc of the other class freed the kept page and took a
// fresh one (committed changed 200 times in 200 calls; 460 against 38 ns per pair).
import { describe, expect, it } from 'vitest';
import { attached, expectBalanced } from './fixtures/harness.ts';

describe('alternating classes, one block each', () => {
  it('does not take and free a page per malloc', async () => {
    const { rt, t } = await attached();
    t.free(t.alloc(48)); t.free(t.alloc(512));          // warm: both classes have had a page
    const x = rt.exports;
    let changes = 0, prev = rt.stats().memory.committed;
    const ROUNDS = 100;
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of [48, 512]) {
        x.ft_free(x.ft_malloc(s));
        const c = rt.stats().memory.committed;
        if (c !== prev) changes++;
        prev = c;
      }
    }
    t.collect(true);
    expectBalanced(rt);
    expect(changes, 'pages churned').toBe(0);
  });
});
