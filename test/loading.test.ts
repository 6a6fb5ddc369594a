// loading.test.ts — how Runtime.create finds the core, and what it says when it
// cannot. `module` takes a compiled Module, a URL (file:, http:, or a string:
// a URL or a path) or the bytes; each one makes a working runtime. A file that
// is missing, an HTTP 404, an HTML page (a dev server's index fallback), bytes
// that are not WebAssembly, or WebAssembly that is not the ftheap core are
// ELOAD, and the message names the URL or path. Memory sizes that are not a
// positive number, too small for the core (maximumMemory < 8 MiB: unit 0 plus one
// 4 MiB segment), 0 from an overflowing shift, above 4 GiB, or an initialMemory
// above maximumMemory are EINVAL_OPTION saying what was wrong. (EPLATFORM, a
// page that is not cross-origin isolated, is checked in a browser:
// test/bundle.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../scripts/serve.mjs';
import { FtheapError, Runtime } from '../src/index.ts';
import type { RuntimeOptions } from '../src/index.ts';

const MiB = 1 << 20;
const WASM = new URL('../build/ftheap.wasm', import.meta.url);
const bytes = () => readFileSync(WASM);

let dir: string;
let server: Awaited<ReturnType<typeof serve>>;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ftheap-loading-'));
  writeFileSync(join(dir, 'ftheap.wasm'), bytes());
  writeFileSync(join(dir, 'index.html'), '<!doctype html>\n<html><body>app</body></html>\n');
  writeFileSync(join(dir, 'notes.txt'), 'hello, not wasm\n');
  server = await serve({ root: dir, port: 0 });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The FtheapError `Runtime.create(options)` rejects with. */
async function failure(options: RuntimeOptions): Promise<FtheapError> {
  const e = await Runtime.create(options).then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(FtheapError);
  return e as FtheapError;
}

/** A runtime made from `module` works: a block allocated, written, freed by its thread. */
async function works(module: RuntimeOptions['module']) {
  const rt = await Runtime.create({ module, maximumMemory: 64 * MiB });
  const t = rt.attach();
  const p = t.alloc(1000);
  rt.bytes().fill(9, p, p + 1000);
  expect(t.usableSize(p)).toBeGreaterThanOrEqual(1000);
  t.free(p);
  t.exit();
}

describe('module: each kind of source makes a working runtime', () => {
  it('a compiled WebAssembly.Module', async () => { await works(new WebAssembly.Module(bytes())); });
  it('a file: URL', async () => { await works(WASM); });
  it('a file path (string)', async () => { await works(fileURLToPath(WASM)); });
  it('an http: URL, as a URL and as a string', async () => {
    await works(new URL('/ftheap.wasm', server.url));
    await works(`${server.url}/ftheap.wasm`);
  });
  it('bytes: a Buffer, a Uint8Array view at an offset, an ArrayBuffer', async () => {
    const b = bytes();
    await works(b);
    const padded = new Uint8Array(b.length + 16);
    padded.set(b, 16);
    await works(padded.subarray(16));
    await works(padded.slice(16).buffer);
  });
  it('the packaged core (no module), and the debug one', async () => {
    await works(undefined);
    const rt = await Runtime.create({ debug: true, maximumMemory: 16 * MiB });
    expect(rt.exports.ft_assert_level()).toBeGreaterThan(0);
  });
});

describe('ELOAD: a core that cannot be loaded names where it looked', () => {
  it('a file: URL that does not exist', async () => {
    const url = new URL('./no-such-core.wasm', import.meta.url);
    const e = await failure({ module: url });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toContain(fileURLToPath(url));
    expect(e.message).toContain('no such file');
  });

  it('a path that does not exist', async () => {
    const path = join(dir, 'missing', 'ftheap.wasm');
    const e = await failure({ module: path });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toContain(path);
  });

  it('an http: URL that is 404', async () => {
    const url = `${server.url}/assets/ftheap.wasm`;
    const e = await failure({ module: url });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toContain(url);
    expect(e.message).toContain('HTTP 404');
  });

  it('an HTML page (a dev server\'s index fallback): says so, with its Content-Type', async () => {
    const url = `${server.url}/index.html`;
    const e = await failure({ module: url });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toContain(url);
    expect(e.message).toContain('HTML page');
    expect(e.message).toContain('text/html');
  });

  it('a text file served as something else', async () => {
    const e = await failure({ module: `${server.url}/notes.txt` });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toMatch(/notes\.txt does not start with the WebAssembly magic bytes/);
  });

  it('bytes that are not WebAssembly, empty bytes, a corrupt module', async () => {
    for (const [b, says] of [
      [new TextEncoder().encode('<!DOCTYPE html><html></html>'), 'HTML page'],
      [new Uint8Array(0), 'is empty'],
      [bytes().subarray(0, 200), 'not a valid WebAssembly module'],
    ] as const) {
      const e = await failure({ module: b });
      expect(e.code).toBe('ELOAD');
      expect(e.message).toContain('the bytes passed as `module`');
      expect(e.message).toContain(says);
    }
  });

  it('WebAssembly that is not the ftheap core', async () => {
    const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const e = await failure({ module: new WebAssembly.Module(empty) });
    expect(e.code).toBe('ELOAD');
    expect(e.message).toContain('not an ftheap core');
  });

  it('something that is no kind of source: EINVAL_OPTION', async () => {
    const e = await failure({ module: 42 as never });
    expect(e.code).toBe('EINVAL_OPTION');
    expect(e.message).toContain('number 42');
  });

  it('after an ELOAD the heap API still works (nothing was cached or half made)', async () => {
    await failure({ module: join(dir, 'missing.wasm') });
    await works(undefined);
  });
});

describe('EINVAL_OPTION: memory sizes', () => {
  it.each([
    ['maximumMemory 0 (4 << 30 overflowed)', { maximumMemory: 4 << 30 }, /maximumMemory must be positive, got 0 \(a shift that overflowed/],
    ['maximumMemory negative (1 << 31)', { maximumMemory: 1 << 31 }, /maximumMemory must be positive, got -2147483648/],
    ['maximumMemory below 8 MiB', { maximumMemory: 8 * MiB - 65536 }, /maximumMemory is too small: 8323072 bytes, the core needs at least 8388608 \(8 MiB\)/],
    ['maximumMemory as a string', { maximumMemory: '1GiB' as never }, /maximumMemory must be a number of bytes, got string 1GiB/],
    ['maximumMemory NaN', { maximumMemory: NaN }, /maximumMemory must be a finite number of bytes, got NaN/],
    ['maximumMemory above 4 GiB', { maximumMemory: 2 ** 32 + 65536 }, /maximumMemory is above 4 GiB/],
    ['initialMemory 0', { initialMemory: 0 }, /initialMemory must be positive, got 0/],
    ['initialMemory below 128 KiB', { initialMemory: 1000 }, /initialMemory is too small: 1000 bytes, the core needs at least 131072 \(128 KiB\)/],
    ['initialMemory Infinity', { initialMemory: Infinity }, /initialMemory must be a finite number/],
    ['initialMemory above maximumMemory', { initialMemory: 64 * MiB, maximumMemory: 32 * MiB }, /initialMemory \(67108864 bytes\) is above maximumMemory \(33554432 bytes\)/],
    ['initialMemory above the default maximum', { initialMemory: 2 * 2 ** 30 }, /above maximumMemory \(1073741824 bytes, the default\)/],
  ])('%s', async (_, options, message) => {
    const e = await failure(options as RuntimeOptions);
    expect(e.code).toBe('EINVAL_OPTION');
    expect(e.message).toMatch(message);
  });

  it('the minimum sizes work: maximumMemory 8 MiB allocates, initialMemory 128 KiB grows', async () => {
    const rt = await Runtime.create({ initialMemory: 128 << 10, maximumMemory: 8 * MiB });
    expect(rt.memory.buffer.byteLength).toBe(128 << 10);
    const t = rt.attach();
    const p = t.alloc(100_000);
    expect(p).toBeGreaterThan(0);
    t.free(p);
    const q = t.alloc(1000);
    expect(q).toBeGreaterThan(0);
    t.free(q);
  });

  it('a maximumMemory below the default initial size gets that as its initial size', async () => {
    const rt = await Runtime.create({ maximumMemory: 8 * MiB });
    expect(rt.memory.buffer.byteLength).toBe(8 * MiB);
  });
});
