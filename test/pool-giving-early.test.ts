// pool-giving-early.test.ts — (review of 82761b8) abandonedCollect's early return re-checked only
// the count after clearing the dirty mark; a dead collector's give-back marked by a reap in
// between was dropped. Now it re-checks the give-back note too.
import { describe, expect, it } from 'vitest';
import { DP_POOL_GIVING, DP_REVIEW_COLLECT_EMPTY } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until, useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

describe('a collector in the empty-pool branch while a give-back dies and is reaped', () => {
  for (const race of [false, true]) {
    it(race ? 'race: the reap\'s mark cleared by the early return' : 'control: the next checkpoint finishes it', async () => {
      const { rt, t, f, peers: [x, w, c] } = await killRig(3);
      const f2 = pauseFlag(rt, t.alloc(8));
      const units0 = rt.stats().segments.unitsLive;
      await c.call('attach');
      await w.call('attach');
      await x.call('attach');
      let cDone: Promise<unknown> = Promise.resolve();
      if (race) {
        // c sees count 0 and giving 0, pauses before it clears the dirty mark.
        await c.call('pauseAt', DP_REVIEW_COLLECT_EMPTY, f2.addr, 1);
        cDone = c.call('collectAbandoned');
        await until(f2.paused, 10_000, 'c in the early branch');
      }
      const b = await x.call<number>('alloc', 0, 64);
      await x.call('exit', 0);
      t.free(b);
      const instance = await killAt(w, f, DP_POOL_GIVING, 'giving', () => w.call('collectAbandoned'));
      expect(reapInstance(rt, instance).length).toBe(1);   // marks the pool dirty (D_ABANDON_GIVING set)
      if (race) { f2.release(); await cDone; }   // c's early return: must not drop the reap's mark
      t.checkpoint();
      t.checkpoint();
      const after = rt.stats().segments.unitsLive;
      // eslint-disable-next-line no-console
      console.log(JSON.stringify({ race, units0, after }));
      expect(after, 'the next checkpoint gave the unit back').toBe(units0);
      t.free(f.addr);
    }, 60_000);
  }
});
