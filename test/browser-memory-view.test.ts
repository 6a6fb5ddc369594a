// browser-memory-view.test.ts — the browser's main thread reads stats (a walk of
// every segment and thread record with atomic loads) over and over while a
// worker grows the memory by huge blocks. V8 bounds-checks atomics against each
// instance's own copy of the memory's length, which lags another thread's grow:
// without memSync at the core's exports and walks (assembly/os.ts) the web
// demo's main thread trapped so, now and then, reading stats while a new worker
// attached. Real headless Chromium. A smoke test, not a reproducer: on this
// machine it passed without memSync too (the window is a walk's length; the
// forced test of the mechanism is test/memory-view.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type Served } from '../scripts/serve.mjs';
import { browserAvailable, collectErrors, launchChromium, type BrowserSession } from './fixtures/browser.ts';
import { ROOT } from './fixtures/source.ts';

describe.skipIf(!browserAvailable())('main thread of a page, memory grown by a worker', () => {
  let session: BrowserSession;
  let server: Served;
  beforeAll(async () => { session = await launchChromium(); server = await serve({ root: ROOT, port: 0 }); });
  afterAll(async () => { await server?.close(); await session?.close(); });

  it('stats read on the main thread while a worker grows the memory do not trap', async () => {
    const page = await session.context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/demo/web/`);   // any cross-origin isolated page of the server
    // A string, not a function: the test runner rewrites import() inside functions.
    const out = await page.evaluate(`(async () => {
      const { Runtime } = await import('/dist/src/index.js');
      const results = [];
      for (let round = 0; round < 3; round++) {
        const rt = await Runtime.create();
        const t = rt.attach();
        const done = t.alloc(8);
        new Int32Array(rt.memory.buffer).fill(0, done >>> 2, (done >>> 2) + 2);
        const w = await rt.startWorker(new URL('/dist/test/fixtures/grow-worker.js', location.href),
          { data: { n: 40, size: 3 << 20, done } });
        await w.thread;   // attached (this thread's event loop takes the report): now it only grows
        const before = rt.stats().memory.current;
        Atomics.store(new Int32Array(rt.memory.buffer), (done >>> 2) + 1, 1);
        let reads = 0, error = '';
        const deadline = performance.now() + 20000;
        while (Atomics.load(new Int32Array(rt.memory.buffer), done >>> 2) === 0 && performance.now() < deadline) {
          try { rt.stats(); reads++; } catch (e) { error = String(e); break; }
        }
        results.push({ reads, error, grown: rt.stats().memory.current - before });
        await w.terminate();
        if (error) break;
      }
      return results;
    })()`) as Array<{ reads: number; error: string; grown: number }>;
    expect(out.map((r) => r.error)).toEqual(out.map(() => ''));
    expect(out.every((r) => r.reads > 0)).toBe(true);
    expect(out.every((r) => r.grown >= 100 << 20), 'the worker grew the memory while the reads ran').toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
