// queue-kill.test.ts — a thread killed while it moves a heap queue's head (debug
// build, real workers): page-queue.ts stores the queue's new head and then points
// the size class's direct-table entries at it in a call with a loop
// (directUpdate, DP_DIRECT_UPDATE), where V8 may stop a terminated worker. The
// table then lags the queue. Correct: the reap points the dead thread's direct
// tables at their queues' heads again before it walks the heaps. Before: the
// reap's heap validator failed (EASSERT A_HEAP in ft_thread_reap, seen once in a
// debug chaos run), and the reap stopped half way.
import { describe, expect, it } from 'vitest';
import { DP_DIRECT_UPDATE } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a thread killed between a queue\'s head and its direct table', () => {
  it('its reap mends the table: the reap completes, and its block frees back', async () => {
    const { rt, t, f, peers: [w] } = await killRig(1);
    const units0 = rt.stats().segments.unitsLive;
    await w.call('attach');
    const kept = await w.call<number[]>('allocMany', 0, 512, 64);   // a full page of 64 B blocks, its queue's head
    // The next 64 B block: the full page leaves the queue for the full queue, killed updating the table
    const instance = await killAt(w, f, DP_DIRECT_UPDATE, 'w moving a queue head', () => w.call('alloc', 0, 64));
    expect(reapInstance(rt, instance).length, 'the reap completed').toBe(1);
    for (const p of kept) t.free(p);
    rt.domain().collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'its segment went back').toBe(units0);
    t.validate();
  }, 60_000);
});
