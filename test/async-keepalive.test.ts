// async-keepalive.test.ts — a worker whose only work is an awaited async wait of
// ftheap stays alive until the wait ends (found by chaos-public.test.ts: workers
// awaiting criticalSectionAsync ended with exit code 13, "unfinished top-level
// await", and were reaped as dead). Node does not count a pending
// Atomics.waitAsync as work that keeps a worker's event loop open; the facade now
// holds a timer while any of its waits is in flight (platform.ts keptAlive).
// Each worker is started with rt.startWorker, as a user would, and waits on what
// the main thread holds: a mutex (lockAsync, criticalSectionAsync) or the world,
// stopped by the main thread (stopTheWorldAsync waits for the scope).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { fixtureUrl, sleep, useHarness } from './fixtures/harness.ts';

useHarness();

for (const mode of ['lock-async', 'section-async'] as const) {
  describe(`a worker awaiting ${mode} with nothing else to do`, () => {
    it('stays alive until the main thread lets go, then finishes', async () => {
      const rt = await Runtime.create();
      const t = rt.attach();
      const m = t.alloc(8);
      new Int32Array(rt.memory.buffer, m, 2).fill(0);
      t.lock(m);
      t.detach();
      let exitCode: number | undefined;
      const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode, m } });
      const worker = w.worker as unknown as { once(e: string, f: (x: unknown) => void): void };
      const locked = new Promise((resolve) => worker.once('message', resolve));
      worker.once('exit', (code) => { exitCode = code as number; });
      await w.thread;
      await sleep(300);   // it waits on the mutex meanwhile
      expect(exitCode, 'the worker ended while its wait was pending').toBeUndefined();
      t.attach();
      t.unlock(m);
      t.detach();
      expect(await locked).toBe('locked');
      expect(await w.reaped, 'it exited its thread itself').toBe(0);
      t.attach();
      t.free(m);
      t.exit();
    }, 30_000);
  });
}
