// package.test.ts — the npm package as a user gets it. `npm pack` (scripts
// ignored: `npm test` has just built; `prepack` builds for a real publish), then
// a fresh ESM project installs the tarball offline (ftheap has no runtime
// dependencies, and no install scripts) and runs the README's first example with
// Node, a worker included: it needs neither AssemblyScript nor TypeScript. The
// packed package.json has no install scripts; the tarball has the LICENSE, the
// compiled facade, both cores in dist/build/, and no tests or benchmarks.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });

// The README's first example (README.md, the first ```ts block), as a Node ESM
// program: the worker is a worker_threads Worker, `handle` its workerData.
const MAIN = `
import { Worker } from 'node:worker_threads';
import { Runtime, Tag, FtheapError } from 'ftheap';

const rt = await Runtime.create({ initialMemory: 16 << 20, maximumMemory: 1 << 30 });
const t = rt.attach();
const p = t.alloc(100);
rt.bytes().fill(7, p, p + 100);
const q = t.realloc(p, 5000);
const out = { kept: rt.bytes()[q + 99], usable: t.usableSize(q) };
const z = t.calloc(16, 8);
out.zeroed = rt.bytes().subarray(z, z + 128).every((b) => b === 0);
const a = t.alignedAlloc(4096, 100);
out.aligned = a % 4096;
const g = t.alloc(64, Tag.GC);
let visited = 0;
t.visitBlocks(Tag.GC, (ptr, size) => { if (ptr === g) visited = size; });
out.visited = visited;
t.free(q); t.free(z); t.free(a); t.free(g);

const block = t.alloc(300);
const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { handle: rt.share(), block } });
out.worker = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });

out.stats = typeof rt.stats().totals.blocksUsed;
out.threadStats = typeof t.stats() === 'object';
t.validate();
const r = rt.exports.ft_malloc(32) >>> 0;
out.raw = r > 0;
rt.exports.ft_free(r);
try { t.free(block); } catch (e) { out.doubleFree = e instanceof FtheapError ? e.code : String(e); }
console.log(JSON.stringify(out));
`;

const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
import { Runtime } from 'ftheap';

const { handle, block } = workerData;
const rt2 = await Runtime.join(handle);
const t2 = rt2.attach();
t2.free(block);          // a block from another thread
const mine = t2.alloc(50);
t2.free(mine);
t2.exit();
parentPort.postMessage('freed');
`;

let tmp: string;
let tarball: string;
let app: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist/src/index.js')), 'run npm run build first').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'ftheap-package-'));
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT));
  tarball = join(tmp, packed[0].filename);
  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', tarball, '--offline', '--no-audit', '--no-fund'], app);
}, 120_000);
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('the packed package', () => {
  it('has no install scripts, and says where it comes from', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/ftheap/package.json'), 'utf8'));
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[s], s).toBeUndefined();
    expect(pkg.license).toBe('MIT');
    expect(pkg.repository.url).toBe('git+https://github.com/ftheap/ftheap.git');
    expect(pkg.engines.node).toMatch(/^>=20\.16/);
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.exports['.'].types).toBe('./dist/src/index.d.ts');
  });

  it('holds LICENSE, the facade, its types and both cores; no tests, benchmarks or demos', () => {
    const dir = join(app, 'node_modules/ftheap');
    for (const f of ['LICENSE', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/platform.js',
      'dist/build/ftheap.wasm', 'dist/build/ftheap.debug.wasm']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 the ftheap authors');
    const top = readdirSync(dir).sort();
    for (const no of ['test', 'bench', 'demo', 'scripts', 'node_modules']) expect(top, no).not.toContain(no);
    expect(readdirSync(join(dir, 'dist')).sort()).toEqual(['build', 'src']);
    // the only thing installed is ftheap itself: no dependencies came along
    expect(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['ftheap']);
  });

  it('the compiled facade imports no node: module (browser bundlers see none)', () => {
    const src = join(app, 'node_modules/ftheap/dist/src');
    for (const f of readdirSync(src).filter((n) => n.endsWith('.js'))) {
      expect(readFileSync(join(src, f), 'utf8'), f).not.toMatch(/\bimport\s*\(?\s*['"]node:|from\s+['"]node:/);
    }
  });

  it('runs the README\'s first example with Node, a worker freeing the main thread\'s block', () => {
    writeFileSync(join(app, 'main.mjs'), MAIN);
    writeFileSync(join(app, 'worker.mjs'), WORKER);
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 }));
    expect(out).toMatchObject({ kept: 7, zeroed: true, aligned: 0, visited: 64, worker: 'freed', stats: 'number', threadStats: true, raw: true,
      doubleFree: 'EDOUBLE_FREE' });
    expect(out.usable).toBeGreaterThanOrEqual(5000);
  }, 60_000);

  it('require(\'ftheap\'): an ES module package; works where Node can require ES modules, else Node\'s ERR_REQUIRE_ESM', () => {
    writeFileSync(join(app, 'req.cjs'), `
      try { const m = require('ftheap'); console.log(typeof m.Runtime); }
      catch (e) { console.log(e.code); }`);
    const out = execFileSync(process.execPath, ['req.cjs'], { cwd: app, encoding: 'utf8' }).trim();
    const canRequireEsm = (process.features as { require_module?: boolean }).require_module === true;
    expect(out).toBe(canRequireEsm ? 'function' : 'ERR_REQUIRE_ESM');
  });
});
