// delayed-kill-count.test.ts — a worker killed while it frees one of its delayed
// frees (qsbr delayed-free queue, its goal reached) loses that block, as any free
// cut short does, and nothing more: the domain's delayedPending goes back to 0.
// Found by chaos-public.test.ts on the debug build: queued 90,616, freed 90,615,
// pending 1 for good. The item was taken off the queue before the free (a call,
// where V8 stops a worker) and counted freed only after it; now it is counted as
// it is taken, with no call between.
import { describe, expect, it } from 'vitest';
import { DP_DF_FREEING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a worker killed freeing a delayed free', () => {
  it('loses that block only: nothing stays counted pending', async () => {
    const { rt, t, f, peers: [w] } = await killRig(1);
    const d = rt.domain();
    await w.call('attach');
    await w.call('freeDelayedMany', 0, await w.call<number[]>('allocMany', 0, 3, 64));
    expect(d.qsbrInfo().delayedPending, 'queued, the main thread online').toBe(3);
    await w.call('checkpoint', 0);   // W issues their goal (deferred until a poll)
    t.checkpoint();                  // the main thread passes a quiescent state: the goal can be reached
    const iw = await killAt(w, f, DP_DF_FREEING, 'W freeing its first delayed free', () => w.call('checkpoint', 0));
    reapInstance(rt, iw);
    for (let i = 0; i < 5; i++) { t.checkpoint(); t.processDelayed(); }
    const info = d.qsbrInfo();
    expect(info.delayedPending, `queued ${info.delayedQueued}, freed ${info.delayedFreed}, failed ${info.delayedFailed}`).toBe(0);
    expect(info.delayedFreed + info.delayedFailed).toBe(info.delayedQueued);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
