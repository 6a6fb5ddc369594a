// assert.test.ts — the core's asserts and validators (assembly/assert.ts): the
// debug build runs them by itself at slow-path boundaries and a failed one traps,
// which the facade reports as FtheapError EASSERT naming it; t.validate() runs
// them on request in either build; the release build compiles none in.
// Each case damages one counted invariant on purpose and restores it after.
import { describe, expect, it } from 'vitest';
import { ROOT, R_SEGS_FREE, R_SEGS_LIVE } from '../src/abi.gen.ts';
import { FtheapError, Runtime } from '../src/index.ts';

const word = (rt: Runtime, at: number) => new Int32Array(rt.memory.buffer, at, 1);

describe('asserts and validators', () => {
  it('the debug build compiles all three tiers in, the release build none', async () => {
    const dbg = await Runtime.create({ debug: true });
    const rel = await Runtime.create();
    expect(dbg.exports.ft_assert_level()).toBe(3);
    expect(rel.exports.ft_assert_level()).toBe(0);
  });

  it('validate() passes on a heap in use, in both builds', async () => {
    for (const debug of [false, true]) {
      const rt = await Runtime.create({ debug });
      const t = rt.attach();
      const blocks = Array.from({ length: 3000 }, (_, i) => t.alloc(1 + ((i * 7919) % 40000), i % 4));
      for (let i = 0; i < blocks.length; i += 3) t.free(blocks[i]);
      expect(() => t.validate()).not.toThrow();
      t.exit();
    }
  });

  it('a unit pool whose counts disagree: validate() names A_UNITS, and the debug build traps at the next segment with EASSERT', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    t.alloc(100);                                  // the first segment exists
    const free = word(rt, ROOT + R_SEGS_FREE);
    const saved = free[0];
    free[0] = saved + 3;                           // the pool claims units it does not have
    try {
      expect(() => t.validate()).toThrowError(/A_UNITS \(4\) failed in validate\(\)/);
      let err: unknown;
      try { t.alloc(3 << 20); } catch (e) { err = e; }   // a huge block takes units: the pool's validator runs
      expect(err).toBeInstanceOf(FtheapError);
      expect((err as FtheapError).code).toBe('EASSERT');
      expect((err as FtheapError).message).toMatch(/A_UNITS \(4\) failed in ft_malloc/);
      expect(rt.exports.ft_assert_first()).toBe(4);
    } finally {
      free[0] = saved;
    }
  });

  it('the release build does not check by itself, but validate() still finds the damage', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    t.alloc(100);
    const live = word(rt, ROOT + R_SEGS_LIVE);
    const saved = live[0];
    live[0] = saved + 1;
    try {
      const p = t.alloc(3 << 20);                  // no trap: nothing compiled in
      expect(p).toBeGreaterThan(0);
      expect(() => t.validate()).toThrowError(/A_UNITS/);
    } finally {
      live[0] = saved;
    }
  });
});
