// review-rf2.test.ts — reproducers from the second adversarial review of batched
// remote frees (assembly/remote-free.ts, commit e32569a: one run slot per thread,
// opt-in per instance). Debug build, real workers on one shared memory; pause
// points force the interleavings. Each test says what it forces and what correct
// code must do.
import { describe, expect, it } from 'vitest';
import { DP_RF_SEARCH_GAP, RF_RUN_MIN } from '../src/abi.gen.ts';
import { Runtime } from '../src/index.ts';
import { Peer, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

describe('second review of batched remote frees', () => {
  // Forced: worker W (batching on) frees a run into main's page with the raw
  // ft_free; p is chained in W's slot (the call returned OK long ago). Worker V
  // frees p a second time and pauses inside the double-free search between its
  // two halves (DP_RF_SEARCH_GAP). Meanwhile W flushes at a checkpoint: p moves
  // from W's slot to the page's xthreadFree and the slot is emptied. Correct:
  // EDOUBLE_FREE (p is free throughout, and findable at every moment). At
  // e32569a the page's lists are searched before the slots: V saw p in neither
  // (lists before the push, slot after the emptying), pushed it again, and p is
  // on xthreadFree twice (a self-link): handed out twice.
  it('a double free whose search spans the first freer\'s flush is EDOUBLE_FREE', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const [w, v] = await Peer.startMany(rt, newCtl(), 2);
    await w.call('attach');
    await w.call('remoteBatching', 1);
    await v.call('attach');
    const ps = Array.from(t.allocMany(8, 64));       // one page
    const p = ps[3];
    const run = [ps[0], ps[1], ps[2], p];
    expect(RF_RUN_MIN).toBeLessThan(run.length - 1);  // p is chained, not published
    expect(await w.call('rawFree', 0, run)).toEqual(run.map(() => 0));
    await v.call('pauseAt', DP_RF_SEARCH_GAP, f.addr, 1);
    let settled = false;
    const second = v.call<number[]>('rawFree', 0, [p]).finally(() => { settled = true; });
    second.catch(() => {});
    // Code that searches the slots first finds p there at once (no pause); else V waits in the gap.
    await until(() => f.paused() || settled, 10_000, 'V in the search gap, or done');
    await w.call('checkpoint', 0);                     // the flush: p onto xthreadFree, slot emptied
    f.release();
    const codes = await within(second, 10_000, 'the second free');
    expect(codes[0], 'the second free of p').not.toBe(0);
    t.collect(true);
    const again = Array.from(t.allocMany(64, 64));
    expect(new Set(again).size, 'no block handed out twice').toBe(64);
    t.validate();
  }, TEST_TIMEOUT);
});
