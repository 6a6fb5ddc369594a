// pool-churn.test.ts — two workers that each attach a thread, keep one block and
// exit, thousands of times at once: every new thread adopts a pooled segment (the
// pool lock, held for a moment by the other worker abandoning its segment, is
// waited for briefly) instead of taking fresh memory. Before, a thread that found
// the lock taken took a fresh segment every time: the pool grew to the whole
// memory of segments holding one block each, and a worker got ENOMEM (found by a
// user-style hunt; it failed 3 runs of 3).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { fixtureUrl, until, useHarness } from './fixtures/harness.ts';

useHarness();

describe('threads of two workers keeping a block and exiting, at once', () => {
  it('adopt pooled segments: the memory and the pool stay small', async () => {
    const rt = await Runtime.create({ maximumMemory: 128 << 20 });
    const d = rt.domain();
    const errors: string[] = [];
    let done = 0;
    for (let k = 0; k < 2; k++) {
      const w = await rt.startWorker(fixtureUrl('pool-churn-worker'), { data: { n: 8000 } });
      (w.worker as unknown as { on(e: string, f: (m: { done?: boolean; error?: string }) => void): void }).on('message', (m) => {
        if (m.error) errors.push(m.error);
        if (m.done) done++;
      });
    }
    await until(() => done + errors.length === 2, 60_000, 'both workers done');
    expect(errors).toEqual([]);
    const pool = d.abandoned();
    // 16,000 blocks of 100 B: a few segments hold them all
    expect(pool.segments, JSON.stringify(pool)).toBeLessThanOrEqual(4);
    expect(rt.stats().memory.highWater).toBeLessThanOrEqual(32 << 20);
  }, 90_000);
});
