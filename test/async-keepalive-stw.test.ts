// async-keepalive-stw.test.ts — as async-keepalive.test.ts, for stopTheWorldAsync:
// a worker whose only work is an awaited stopTheWorldAsync (polling for a thread
// of its domain that has not paused yet) must stay alive until the stop is done.
// stop-the-world.ts waitWord called Atomics.waitAsync directly, not through
// platform.ts keptAlive: the worker ended with exit code 13 mid-stop (review).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { fixtureUrl, sleep, useHarness } from './fixtures/harness.ts';

useHarness();

describe('a worker awaiting stopTheWorldAsync with nothing else to do', () => {
  it('stays alive until the stop completes, then finishes', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();   // attached, not at a checkpoint: the worker's stop waits for it
    let exitCode: number | undefined;
    const w = await rt.startWorker(fixtureUrl('stw-async-worker'), { data: {} });
    const worker = w.worker as unknown as { once(e: string, f: (x: unknown) => void): void };
    const stopped = new Promise((resolve) => worker.once('message', resolve));
    worker.once('exit', (code) => { exitCode = code as number; });
    await w.thread;
    await sleep(300);   // the worker polls for the main thread meanwhile
    expect(exitCode, 'the worker ended while its stopTheWorldAsync was pending').toBeUndefined();
    t.detach();         // offline: the stop completes
    expect(await stopped).toBe('stopped');
    expect(await w.reaped, 'it exited its thread itself').toBe(0);
    t.attach();
    t.exit();
  }, 30_000);
});
