// critical-section.test.ts — critical sections (CPython's Py_BEGIN_CRITICAL_SECTION)
// with real workers on one shared memory.
//
// - Two-object sections: two workers repeatedly run criticalSection2(a, b) and
//   criticalSection2(b, a); inside, both lock bits are set and the two guarded
//   counters are equal (then both are bumped with plain writes). No deadlock (the
//   test finishes in time), counters exact. Again with detach/attach inside every
//   few sections (both locks released and re-taken), and with a third worker
//   stopping the world meanwhile.
// - Nesting: a section on the object the innermost one holds is a no-op (a in a);
//   a in b in a suspends the outer ones (only the innermost holds its lock) and
//   ending each section resumes the one below; a two-object section inside a one.
// - A section whose thread detaches releases its lock meanwhile (another worker
//   takes it and bumps the guarded counter) and holds it again after attaching.
// - With stop-the-world: CPython's gh-118332 scenario (a thread holding a section
//   stops the world while one thread waits on its lock and another arrives during
//   the stop) and gh-144513 (threads holding the same section for 10 ms, 10x the
//   fairness window, while another stops the world): no deadlock, counts exact.
// - A section whose function detaches without attaching again (misuse): once the
//   thread attaches again, no lock is left held and the section stack is empty.
// - ECS_DEPTH past 64 nested sections (one- and two-object), after which every
//   lock is free, the depth is 0, and the heap and sections work again.
import { describe, expect, it } from 'vitest';
import { LIMIT, Peer, setupRuntime, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { Ctl, flag, iters, setCtl } from './fixtures/protocol.ts';
import type { StopResult } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();

const setup = setupRuntime;

describe('two-object critical sections', () => {
  it.each([
    ['plain', 0, false],
    ['detaching inside every 7th section', 7, false],
    ['while a third worker stops the world', 5, true],
  ])('(a, b) against (b, a) in two workers: no deadlock, exact counters (%s)', async (_, detachEvery, withStops) => {
    const { rt, ctl, base, word } = await setup(4);
    const [a, b, ca, cb] = [base, base + 4, base + 8, base + 12];
    const N = 5000;
    const peers = await Peer.startMany(rt, ctl, 2);
    for (const p of peers) await p.call('attach');
    const runs = peers.map((p, i) => p.call<string[]>('cs2Loop', 0,
      { a: i === 0 ? a : b, b: i === 0 ? b : a, ca, cb, n: N, detachEvery, slot: i }));
    let stops: Promise<StopResult[]> | undefined;
    if (withStops) {
      const requester = await Peer.start(rt, ctl, 'requester');
      await requester.call('attach');
      stops = requester.call<StopResult[]>('stopRepeat', 0, { n: 20, holdMs: 1, gapMs: 2 });
    }
    setCtl(ctl, Ctl.GO);
    const errors = await Promise.all(runs);
    if (stops) expect(await stops).toHaveLength(20);
    expect(errors).toEqual([[], []]);
    expect([word(ca), word(cb)]).toEqual([2 * N, 2 * N]);
    expect([word(a), word(b)]).toEqual([0, 0]);
  }, TEST_TIMEOUT);
});

describe('nesting', () => {
  it('a in a is a no-op; a in b in a suspends the outer sections; ends resume the one below', async () => {
    const { rt, ctl, base } = await setup(2);
    const [a, b] = [base, base + 4];
    const [w] = await Peer.startMany(rt, ctl, 1);
    await w.call('attach');
    // [depth, a locked, b locked] at each step
    const o = await w.call<Record<string, number[]>>('csNest', 0, a, b);
    expect(o).toEqual({
      a: [1, 1, 0],
      aa: [1, 1, 0],          // re-entrant: nothing pushed, a still held
      aAfterA: [1, 1, 0],
      ab: [2, 1, 1],          // both held (the outer section was not suspended)
      aba: [3, 1, 0],         // taking a again suspended the outer ones: b released
      abAfterA: [2, 0, 1],    // b resumed; the outermost a stays suspended
      aAfterB: [1, 1, 0],     // a resumed
      aAB: [2, 1, 1],         // a two-object section inside a section on a
      aAfterAB: [1, 1, 0],
      end: [0, 0, 0],
    });
  }, TEST_TIMEOUT);

  it('a section whose thread detaches releases its lock meanwhile and holds it again after', async () => {
    const { rt, ctl, base, word } = await setup(2);
    const [a, counter] = [base, base + 4];
    const [holder, other] = await Peer.startMany(rt, ctl, 2);
    await holder.call('attach');
    await other.call('attach');
    const inside = holder.call<Record<string, number>>('csDetachInside', 0, a, counter, flag(0), flag(1));
    await until(() => Atomics.load(ctl, flag(0)) === 1, LIMIT, 'holder detached inside its section');
    expect(word(a)).toBe(0);                          // released while detached
    await other.call('lock', 0, a);   // would hang if it were still held
    await other.call('inc', counter);
    await other.call('unlock', 0, a);
    setCtl(ctl, flag(1));
    expect(await inside).toEqual({ lockedBefore: 1, counterBefore: 0, lockedAfter: 1, counterAfter: 1, depth: 1 });
    expect(word(a)).toBe(0);
    expect(await holder.call('csDepth')).toBe(0);
  }, TEST_TIMEOUT);
});

describe('misuse', () => {
  it('a section whose function detaches and never attaches again leaves no lock held', async () => {
    const { rt, main, base, word } = await setup(1);
    main.attach();
    const code = codeOf(() => main.criticalSection(base, () => main.detach()));
    console.log(`criticalSection(m, () => t.detach()): ${code}`);
    main.attach();
    expect({ depth: rt.exports.ft_cs_depth(), locked: word(base) & 1 }).toEqual({ depth: 0, locked: 0 });
  });
});

describe('critical sections and stop-the-world', () => {
  it('gh-118332: a section holder stops the world while others wait on its lock', async () => {
    const { rt, ctl, base, word } = await setup(2);
    const [m, counter] = [base, base + 4];
    const peers = await Peer.startMany(rt, ctl, 3);
    for (const p of peers) await p.call('attach');
    const ROUNDS = 15;
    for (let round = 1; round <= ROUNDS; round++) {
      const runs = [
        // thread 0 holds the section 5 ms (so the lock will be handed off), then stops the world in it
        peers[0].call('csRound', 0, { m, counter, round, delayMs: 0, holdMs: 5, stopHoldMs: 2 }),
        // thread 1 waits on the lock after 1 ms; thread 2 arrives after 6 ms, during the stop
        peers[1].call('csRound', 0, { m, counter, round, delayMs: 1, holdMs: 0 }),
        peers[2].call('csRound', 0, { m, counter, round, delayMs: 6, holdMs: 0 }),
      ];
      setCtl(ctl, Ctl.GO, round);
      await within(Promise.all(runs), LIMIT, `round ${round}`);
    }
    expect(word(counter)).toBe(3 * ROUNDS);
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);

  it('gh-144513: threads hold one section for 10 ms while another stops the world', async () => {
    const { rt, ctl, base, word } = await setup(1);
    const m = base;
    const holders = await Peer.startMany(rt, ctl, 3, 'holder');
    const requester = await Peer.start(rt, ctl, 'requester');
    for (const p of [...holders, requester]) await p.call('attach');
    const holds = holders.map((p, i) => p.call('csHoldLoop', 0, m, 10, i));
    await until(() => holders.some((_, i) => Atomics.load(ctl, iters(i)) > 0), LIMIT, 'sections running');
    const stops = await requester.call<StopResult[]>('stopRepeat', 0, { n: 8, holdMs: 2, gapMs: 5 });
    setCtl(ctl, Ctl.STOP);
    const done = await Promise.all(holds);
    expect(stops).toHaveLength(8);
    expect(done.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);

  it('threads looping over sections make no progress inside a stop, and all sections complete', async () => {
    const { rt, ctl, base } = await setup(1);
    const m = base;
    const holders = await Peer.startMany(rt, ctl, 2, 'holder');
    const requester = await Peer.start(rt, ctl, 'requester');
    for (const p of [...holders, requester]) await p.call('attach');
    const holds = holders.map((p, i) => p.call('csHoldLoop', 0, m, 1, i));
    await until(() => holders.every((_, i) => Atomics.load(ctl, iters(i)) > 0), LIMIT, 'sections running');
    const stops = await requester.call<StopResult[]>('stopRepeat', 0,
      { n: 10, holdMs: 1, gapMs: 2, counters: holders.map((_, i) => iters(i)) });
    setCtl(ctl, Ctl.STOP);
    await Promise.all(holds);
    for (const s of stops) expect(s.after).toEqual(s.before);
  }, TEST_TIMEOUT);
});

describe('ECS_DEPTH', () => {
  it('a 65th nested section fails with ECS_DEPTH; everything is usable after', async () => {
    const { rt, ctl, base, word } = await setup(70);
    const [w] = await Peer.startMany(rt, ctl, 1);
    await w.call('attach');
    for (const two of [false, true]) {
      const r = await w.call<{ reached: number; code: string; depthAfter: number }>('csDeep', 0, base, 65, two);
      expect(r).toEqual({ reached: 64, code: 'ECS_DEPTH', depthAfter: 0 });
      for (let i = 0; i < 70; i++) expect(word(base + 4 * i), `word ${i}`).toBe(0);
    }
    // 64 deep is fine
    expect(await w.call('csDeep', 0, base, 64, false)).toEqual({ reached: 64, code: 'OK', depthAfter: 0 });
    // the heap and the locks work on
    const p = await w.call('alloc', 0, 1000);
    await w.call('free', 0, p);
    await w.call('lock', 0, base);
    await w.call('unlock', 0, base);
    expect(await w.call('csNest', 0, base, base + 4)).toMatchObject({ aba: [3, 1, 0], end: [0, 0, 0] });
  }, TEST_TIMEOUT);

  it('on the main thread too (no contention, nothing can block)', async () => {
    const { rt, main, base, word } = await setup(66);
    main.attach();
    let depth = 0;
    const nest = (d: number): string => {
      if (d === 65) return 'too deep';
      return main.criticalSection(base + 4 * d, () => {
        depth = Math.max(depth, rt.exports.ft_cs_depth());
        return d === 64 ? 'unreachable' : nest(d + 1);
      });
    };
    expect(codeOf(() => nest(0))).toBe('ECS_DEPTH');
    expect(depth).toBe(64);
    expect(rt.exports.ft_cs_depth()).toBe(0);
    for (let i = 0; i < 66; i++) expect(word(base + 4 * i)).toBe(0);
    main.free(main.alloc(100));
    expect(main.criticalSection(base, () => word(base) & 1)).toBe(1);
  });
});
