// exact-peak.test.ts — Runtime.create({ exactPeak }): committed bytes and their peak
// exact at every moment. By default a thread keeps what it commits in its own
// record until it passes ±256 KiB, so a rise and fall inside that is missed by
// committedPeak (the benchmarks' small workloads read 1.44× peak / live where the
// true figure was 2.08×); with exactPeak every commit reaches the shared counter
// and raises the peak. It can only be set on a fresh runtime (no thread yet), and
// a worker that joins counts the same way.
import { describe, expect, it } from 'vitest';
import { Runtime, type Thread } from '../src/index.ts';
import { Peer, useHarness } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();

const KiB = 1024;
const N = 3200, SIZE = 48;   // 150 KiB of blocks: under the default's 256 KiB fold

/** `t` allocates N blocks, frees them and collects (its pages go back): committed before, peak, committed after. */
function excursion(rt: Runtime, t: Thread) {
  const base = rt.stats().memory.committed;
  rt.resetPeak();
  t.freeMany(t.allocMany(N, SIZE));
  t.collect(true);
  const st = rt.stats().memory;
  return { base, peak: st.committedPeak, after: st.committed };
}

describe('exactPeak', () => {
  it('a rise and fall of under 256 KiB: the default peak misses it, the exact one holds it', async () => {
    const rtDefault = await Runtime.create();
    const def = excursion(rtDefault, rtDefault.attach());
    const rtExact = await Runtime.create({ exactPeak: true });
    const exact = excursion(rtExact, rtExact.attach());
    for (const r of [def, exact]) expect(r.after, 'the blocks\' pages were given back').toBeLessThan(r.base + 40 * KiB);
    expect(exact.peak, 'exact: the peak holds the blocks').toBeGreaterThanOrEqual(exact.base + N * SIZE);
    expect(def.peak, 'default: the rise stayed in the thread\'s delta, missed').toBeLessThan(def.base + N * SIZE);
  });

  it('a worker\'s commits count at once too, and two threads\' rises add up', async () => {
    const rt = await Runtime.create({ exactPeak: true });
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    const wt = await w.call<number>('attach');
    const base = rt.stats().memory.committed;
    rt.resetPeak();
    const mine = t.allocMany(N, SIZE);
    const theirs = await w.call<number[]>('allocMany', wt, N, SIZE);
    await w.call('freeMany', wt, theirs);
    await w.call('collect', wt, true);
    t.freeMany(mine);
    t.collect(true);
    expect(rt.stats().memory.committedPeak, 'both threads\' blocks at once').toBeGreaterThanOrEqual(base + 2 * N * SIZE);
  });

  it('only on a fresh runtime: ft_commit_exact once a thread exists is EINVAL_STATE', async () => {
    const rt = await Runtime.create();
    rt.attach();
    expect(rt.exports.ft_commit_exact()).not.toBe(0);
  });
});
