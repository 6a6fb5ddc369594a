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

// The README's first example (its quick start: the first ```js block, a complete
// program that starts itself as a worker), run as written from the installed package.
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const FIRST = /^```js\n([\s\S]*?)^```$/m.exec(README)![1];

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

  it('runs the README\'s first example with Node: a worker frees the main thread\'s block', () => {
    writeFileSync(join(app, 'main.mjs'), FIRST);
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    expect(out).toMatch(/^worker thread \d+$/m);
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
