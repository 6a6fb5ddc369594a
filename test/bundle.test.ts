// bundle.test.ts — a consumer page built the ways the README tells, run in
// Chromium: it creates a runtime on the main thread, starts 2 module workers
// (startWorker / joinWorker) that join, check and free a main-thread block, allocate one the
// main thread checks and frees, and it writes its result into the DOM. Each
// build is served cross-origin isolated (scripts/serve.mjs); the test asserts
// the success text, no console error, no failed request and no HTTP error (so
// no 404 for a .wasm guessed at the wrong URL).
//   esbuild (platform browser, format esm): the documented recipe, the .wasm
//     copied next to the bundle and passed as `module` (esbuild does not emit
//     `new URL(..., import.meta.url)` assets). Without `module`, ELOAD names the URL.
//   Vite build(), no plugins: the facade's literal new URL makes the .wasm an
//     asset; the worker comes from `?worker&url`.
//   unbundled: plain ESM from the package's dist/, the packaged URL resolves.
//   not cross-origin isolated: EPLATFORM, as before.
// Both bundlers must print no warning (a node: import, or a wasm URL they cannot see).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../scripts/serve.mjs';
import { browserAvailable, collectErrors, launchChromium, type BrowserSession } from './fixtures/browser.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const WORKER = (from: string) => `
import { joinWorker } from '${from}';
joinWorker().then(({ runtime: rt, thread: t, data }) => {
  const b = rt.bytes();
  let ok = true;
  for (let i = 0; i < data.size; i++) if (b[data.block + i] !== ((data.seed + i) & 255)) { ok = false; break; }
  t.free(data.block);                          // the main thread's block
  const mine = t.alloc(3000);
  rt.bytes().fill(data.seed, mine, mine + 3000);
  t.exit();
  postMessage({ ok, mine, seed: data.seed });
});
`;

/** The page's script: `head` (imports), the worker URL and the `module` option as source text. */
const MAIN = (head: string, workerUrl: string, module: string) => `${head}
const out = document.getElementById('out');
async function run(module) {
  const rt = await Runtime.create({ module, maximumMemory: 64 << 20 });
  const t = rt.attach();
  const replies = [];
  for (let i = 0; i < 2; i++) {
    const size = 1000 + i * 4000, seed = 11 + i, block = t.alloc(size);
    const b = rt.bytes();
    for (let j = 0; j < size; j++) b[block + j] = (seed + j) & 255;
    const w = await rt.startWorker(${workerUrl}, { data: { block, size, seed } });
    replies.push(new Promise((resolve) => w.worker.addEventListener('message', (e) => resolve({ ...e.data, w }), { once: true })));
  }
  const got = await Promise.all(replies);
  for (const r of got) {
    if (!r.ok) throw new Error('a worker saw wrong bytes');
    if (rt.bytes()[r.mine + 2999] !== r.seed) throw new Error('the main thread saw wrong bytes');
    t.free(r.mine);                            // a worker's block
    if (await r.w.terminate() !== 0) throw new Error('a worker left a thread attached');
  }
  t.validate();
  return 'ok: 2 workers, 4 cross-thread frees';
}
const packaged = location.search === '?packaged';
run(packaged ? undefined : ${module}).then((s) => { out.textContent = s; },
  (e) => { out.textContent = 'failed: ' + (e.code ?? '') + ' ' + e.message; });
`;

const HTML = '<!doctype html><meta charset="utf-8"><title>ftheap</title><link rel="icon" href="data:,"><pre id="out">running</pre><script type="module" src="./main.js"></script>\n';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ftheap-bundle-'));
  // a consumer project: node_modules/ftheap is this package (its dist/ is built)
  mkdirSync(join(tmp, 'node_modules'));
  symlinkSync(ROOT, join(tmp, 'node_modules/ftheap'), 'dir');
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

/** Load `url` in a fresh page; what `#out` says once it is not 'running', and the page's errors. */
async function visit(session: BrowserSession, url: string): Promise<{ text: string; errors: string[] }> {
  const page = await session.context.newPage();
  const errors = collectErrors(page);
  try {
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'running', undefined, { timeout: 30_000 });
    return { text: (await page.textContent('#out')) ?? '', errors };
  } finally {
    await page.close();
  }
}

/** Serve `root` isolated (or not) for the length of `fn`. */
async function served<T>(root: string, fn: (url: string) => Promise<T>, isolate = true): Promise<T> {
  const s = await serve({ root, port: 0, isolate });
  try { return await fn(s.url); } finally { await s.close(); }
}

describe.skipIf(!browserAvailable())('bundled and unbundled consumers in Chromium', () => {
  let session: BrowserSession;
  beforeAll(async () => { session = await launchChromium(); }, 60_000);
  afterAll(async () => { await session?.close(); });

  it('esbuild: no warnings; the .wasm copied next to the bundle and passed as module; without it, ELOAD names the URL', async () => {
    const esbuild = await import('esbuild');
    const src = join(tmp, 'esbuild-src');
    const out = join(tmp, 'esbuild-out');
    mkdirSync(src);
    writeFileSync(join(src, 'worker.js'), WORKER('ftheap'));
    writeFileSync(join(src, 'main.js'), MAIN("import { Runtime } from 'ftheap';",
      "new URL('./worker.js', import.meta.url)", "new URL('./ftheap.wasm', import.meta.url)"));
    const result = await esbuild.build({
      entryPoints: [join(src, 'main.js'), join(src, 'worker.js')], bundle: true, platform: 'browser', format: 'esm',
      outdir: out, absWorkingDir: tmp, logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    writeFileSync(join(out, 'index.html'), HTML);
    copyFileSync(join(tmp, 'node_modules/ftheap/dist/build/ftheap.wasm'), join(out, 'ftheap.wasm'));   // the recipe's copy step

    await served(out, async (url) => {
      const ok = await visit(session, `${url}/`);
      expect(ok.text).toBe('ok: 2 workers, 4 cross-thread frees');
      expect(ok.errors).toEqual([]);
      // the packaged URL is the bundle's ../build/: not there, and the message says where and what to do
      const missing = await visit(session, `${url}/?packaged`);
      expect(missing.text).toMatch(/^failed: ELOAD .*\/build\/ftheap\.wasm: HTTP 404; .*copy node_modules\/ftheap\/dist\/build\/ftheap\.wasm/);
      expect(missing.errors).toContainEqual(expect.stringMatching(/^HTTP 404: .*\/build\/ftheap\.wasm$/));
      for (const e of missing.errors) expect(e).toMatch(/404/);   // that one, and its console line: nothing else
    });
  }, 90_000);

  it('Vite build(), no config: no warnings; the .wasm is emitted as an asset and found', async () => {
    const { build } = await import('vite');
    const root = join(tmp, 'vite-src');
    const out = join(tmp, 'vite-out');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), HTML);
    writeFileSync(join(root, 'worker.js'), WORKER('ftheap'));
    writeFileSync(join(root, 'main.js'), MAIN("import { Runtime } from 'ftheap';\nimport workerUrl from './worker.js?worker&url';",
      'workerUrl', 'undefined'));
    symlinkSync(join(tmp, 'node_modules'), join(root, 'node_modules'), 'dir');
    const warnings: string[] = [];
    const log = (m: string) => { warnings.push(m); };
    const started = Date.now();
    await build({
      root, configFile: false, logLevel: 'warn', mode: 'production',
      customLogger: { info: () => {}, warn: log, warnOnce: log, error: log, clearScreen: () => {}, hasErrorLogged: () => false, hasWarned: false },
      build: { outDir: out, emptyOutDir: true },
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(warnings).toEqual([]);
    const assets = readdirSync(join(out, 'assets'));
    expect(assets.filter((f) => f.endsWith('.wasm')).length).toBe(2);   // ftheap and ftheap.debug, hashed

    await served(out, async (url) => {
      const ok = await visit(session, `${url}/`);
      expect(ok.text).toBe('ok: 2 workers, 4 cross-thread frees');
      expect(ok.errors).toEqual([]);
    });
  }, 90_000);

  it('unbundled ESM from the package: the packaged .wasm is found at the first try (no 404)', async () => {
    const root = join(tmp, 'plain');
    mkdirSync(root);
    symlinkSync(ROOT, join(root, 'ftheap'), 'dir');
    const entry = '/ftheap/dist/src/index.js';
    writeFileSync(join(root, 'index.html'), HTML);
    writeFileSync(join(root, 'worker.js'), WORKER(entry));
    writeFileSync(join(root, 'main.js'), MAIN(`import { Runtime } from '${entry}';`, "new URL('./worker.js', import.meta.url)", 'undefined'));
    await served(root, async (url) => {
      const ok = await visit(session, `${url}/`);
      expect(ok.text).toBe('ok: 2 workers, 4 cross-thread frees');
      expect(ok.errors).toEqual([]);
    });
    // without COOP/COEP: EPLATFORM, before anything is fetched
    await served(root, async (url) => {
      const r = await visit(session, `${url}/`);
      expect(r.text).toMatch(/^failed: EPLATFORM .*SharedArrayBuffer is unavailable/);
      expect(r.errors).toEqual([]);
    }, false);
  }, 90_000);
});
