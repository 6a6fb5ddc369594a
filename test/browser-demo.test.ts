// browser-demo.test.ts — the web demo (demo/web/, `npm run demo:web`) in real
// headless Chromium, served from the repository root by scripts/serve.mjs (run
// `npm run build` first: the page loads dist/). Isolated: the page is
// cross-origin isolated, its workers run and its counters move, the heap map is
// drawn, terminating a worker from the UI reaps its thread (the report shows on
// the page) while the others keep going, "collect" runs a collection in a
// worker, nothing is logged as an error; a screenshot goes to dist/screenshots/demo-web.png
// (the README's docs/demo-web.png is a copy of one).
// Not isolated: the page says so and names both headers.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { serve, type Served } from '../scripts/serve.mjs';
import { browserAvailable, collectErrors, launchChromium, type BrowserSession, type Page } from './fixtures/browser.ts';
import { ROOT } from './fixtures/source.ts';

const num = (s: string | null) => Number((s ?? '').replace(/[^0-9.]/g, ''));

/** Every console error, failed request and HTTP error. */
const realErrors = (errors: string[]) => errors;

/** The non-background pixels of a canvas. */
function inkOf(page: Page, id: string): Promise<number> {
  return page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId) as HTMLCanvasElement;
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const [r, g, b] = [data[0], data[1], data[2]];   // the corner is background
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] !== r || data[i + 1] !== g || data[i + 2] !== b) n++;
    return n;
  }, id);
}

describe.skipIf(!browserAvailable())('web demo in Chromium', () => {
  let session: BrowserSession;
  beforeAll(async () => { session = await launchChromium(); });
  afterAll(async () => { await session?.close(); });

  describe('served with COOP/COEP', () => {
    let server: Served;
    beforeAll(async () => { server = await serve({ root: ROOT, port: 0 }); });
    afterAll(async () => { await server?.close(); });

    it('runs workers on one runtime, draws the heap map, reaps a terminated worker, collects', async () => {
      const page = await session.context.newPage();
      const errors = collectErrors(page);
      const all: string[] = [];
      page.on('console', (m) => all.push(`${Date.now()} ${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => all.push(`${Date.now()} pageerror: ${e.message} ${e.stack ?? ''}`));
      onTestFailed(async () => { console.log('ALL CONSOLE:\n' + all.join('\n')); try { console.log('LOG:', await page.textContent('#log'), '\nTABLE:', await page.textContent('#per-worker')); } catch {} });
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.goto(`${server.url}/demo/web/`);
      expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
      await page.waitForSelector('body[data-state="running"]', { timeout: 15_000 });

      // Workers run and the counters move.
      const ops = () => page.textContent('#c-ops').then(num);
      await page.waitForFunction(() => Number(document.getElementById('c-ops')?.textContent?.replace(/[^0-9]/g, '')) > 0,
        undefined, { timeout: 10_000 });
      const ops1 = await ops();
      await page.waitForTimeout(600);
      const ops2 = await ops();
      expect(ops2).toBeGreaterThan(ops1);
      // Every worker reports running (on a loaded machine the last may take a while to start).
      await page.waitForFunction(() => document.querySelectorAll('#per-worker tr[data-state="running"]').length === 4,
        undefined, { timeout: 15_000 });
      expect(num(await page.textContent('#c-blocks'))).toBeGreaterThan(0);
      const wr = await page.textContent('#c-qsbr');
      expect(num(wr?.split('/')[0] ?? null)).toBeGreaterThan(1);
      await page.waitForTimeout(300);
      expect(await inkOf(page, 'heapmap')).toBeGreaterThan(2000);
      expect(await inkOf(page, 'chart')).toBeGreaterThan(200);

      // Terminate a worker from the UI: its thread is reaped (the report shows), the others go on.
      await page.click('#terminate');
      await page.waitForSelector('#log li.reap', { timeout: 10_000 });
      const report = await page.textContent('#log li.reap');
      // (A worker killed inside a critical section would list the locks it held; the demo's workers hold none across a slice.)
      expect(report).toMatch(/worker \d+ \(instance \d+\) terminated: thread \d+ reaped \(locks it held: [^)]+\)/);
      await page.waitForSelector('#per-worker tr[data-state="reaped"]', { timeout: 5_000 });   // the table redraws at 10 Hz
      // The picture for the README: the dead worker's segments, hatched as abandoned, until the others drain them.
      mkdirSync(join(ROOT, 'dist/screenshots'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'dist/screenshots/demo-web.png'), fullPage: true });
      expect(await page.locator('#per-worker tr[data-state="reaped"]').count()).toBe(1);
      // The others go on: the count grows again (on a loaded machine they may first
      // wait out a stop that counted the dead thread until its reap).
      const before = await ops();
      await page.waitForFunction((b) => Number(document.getElementById('c-ops')?.textContent?.replace(/[^0-9]/g, '')) > b,
        before, { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelectorAll('#per-worker tr[data-state="running"]').length === 3,
        undefined, { timeout: 15_000 });
      await page.waitForFunction(() => Number(document.getElementById('c-threads')?.textContent?.replace(/[^0-9]/g, '')) === 3,
        undefined, { timeout: 5_000 });

      // "collect" asks a worker for a collection: its result shows.
      await page.click('#collect');
      await page.waitForSelector('#log li.gc', { timeout: 10_000 });
      expect(await page.textContent('#log li.gc')).toMatch(/collect \(worker \d+\): [\d,]+ garbage objects/);
      expect(num(await page.textContent('#c-gc'))).toBeGreaterThan(0);

      expect(await page.locator('#log li.err').allTextContents()).toEqual([]);
      expect(realErrors(errors)).toEqual([]);
      await page.close();
    });
  });

  describe('served without COOP/COEP', () => {
    let server: Served;
    beforeAll(async () => { server = await serve({ root: ROOT, port: 0, isolate: false }); });
    afterAll(async () => { await server?.close(); });

    it('says the page is not cross-origin isolated and names both headers', async () => {
      const page = await session.context.newPage();
      const errors = collectErrors(page);
      await page.goto(`${server.url}/demo/web/`);
      expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(false);
      await page.waitForSelector('body[data-state="not-isolated"]', { timeout: 10_000 });
      const text = await page.textContent('#isolation');
      expect(await page.isVisible('#isolation')).toBe(true);
      expect(text).toContain('not cross-origin isolated');
      expect(text).toContain('Cross-Origin-Opener-Policy: same-origin');
      expect(text).toContain('Cross-Origin-Embedder-Policy: require-corp');
      expect(realErrors(errors)).toEqual([]);
      await page.close();
    });
  });
});
