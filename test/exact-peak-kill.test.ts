// exact-peak-kill.test.ts — an exact runtime (exactPeak) keeps osCommitMarked's rule:
// the bytes are counted and the segment or huge block marked counted with no call in
// between, and the peak is raised only after the mark. A worker killed at the raise
// (DP_COMMIT_RAISING) leaves a marked claim: its reap counts every byte off once and
// gives the units back. Review of 326292c: the exact path raised the peak inside the
// count, before the mark (a call in the debug build, a CAS loop's header in release);
// killed there, the reap freed the units without counting them off (committed stayed
// 5275648 bytes over for a huge block, 24832 for a segment header).
import { describe, expect, it } from 'vitest';
import { DP_COMMIT_RAISING, DP_HUGE_ALLOCED } from '../src/abi.gen.ts';
import { reapInstance, Runtime } from '../src/index.ts';
import { Peer, useHarness } from './fixtures/harness.ts';
import { killAt } from './fixtures/killed.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

async function run(point: number, size: number, exactPeak: boolean) {
  const rt = await Runtime.create({ debug: true, exactPeak });
  const t = rt.attach();
  const f = pauseFlag(rt, t.alloc(8));
  const [w] = await Peer.startMany(rt, newCtl(), 1);
  const units0 = rt.stats().segments.unitsLive;
  const committed0 = rt.stats().memory.committed;
  await w.call('attach');
  const instance = await killAt(w, f, point, 'paused', () => w.call('alloc', 0, size));
  expect(reapInstance(rt, instance).length).toBe(1);
  rt.domain().collectAbandoned();
  const st = rt.stats();
  expect(st.segments.unitsLive, 'units back').toBe(units0);
  expect(st.memory.committed - committed0, 'every committed byte counted off once').toBe(0);
  t.free(f.addr);
}

describe('exactPeak: killed after the count and the mark, before the peak raise', () => {
  it('control: DP_HUGE_ALLOCED (after the mark), exact', async () => { await run(DP_HUGE_ALLOCED, 5 << 20, true); }, 60_000);
  it('huge block: killed at the peak raise (exact path)', async () => { await run(DP_COMMIT_RAISING, 5 << 20, true); }, 60_000);
  it('normal segment header: killed at the peak raise (exact path)', async () => { await run(DP_COMMIT_RAISING, 64, true); }, 60_000);
});
