/**
 * Everything that differs between Node and browsers lives here: finding and
 * compiling the packaged module, checking that shared memory is available,
 * knowing whether this thread may block, and waiting asynchronously.
 * Nothing here is public API (every export is internal).
 * @module
 */
import { ErrorCode, FtheapError } from './errors.ts';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** @internal True on a browser's main thread, where `Atomics.wait` (and Wasm's wait32) trap. */
export function mayNotBlock(): boolean {
  return !isNode && typeof window !== 'undefined'
    && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'undefined';
}

/** @internal Shared memory needs cross-origin isolation in browsers: fail early and clearly. */
export function checkSharedMemory(): void {
  if (typeof SharedArrayBuffer === 'undefined' && !isNode) {
    throw new FtheapError(ErrorCode.EPLATFORM,
      'SharedArrayBuffer is unavailable: serve the page with COOP: same-origin and COEP: require-corp');
  }
}

// The packaged build sits in build/ at the package root; this file runs from src/
// (sources, tests) or dist/src/ (compiled).
const CANDIDATES = (debug: boolean) => {
  const name = debug ? 'ftheap.debug.wasm' : 'ftheap.wasm';
  return [new URL(`../build/${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
};

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/** @internal The packaged core, compiled once per process (or page) and build flavour. */
export function packagedModule(debug: boolean): Promise<WebAssembly.Module> {
  let p = compiled.get(debug);
  if (!p) {
    p = loadBytes(CANDIDATES(debug)).then((bytes) => WebAssembly.compile(bytes));
    compiled.set(debug, p);
  }
  return p;
}

async function loadBytes(urls: URL[]): Promise<BufferSource> {
  if (isNode) {
    const fs = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    for (const url of urls) {
      try { return await fs.readFile(fileURLToPath(url)); } catch { /* next candidate */ }
    }
  } else {
    for (const url of urls) {
      const res = await fetch(url);
      if (res.ok) return await res.arrayBuffer();
    }
  }
  throw new FtheapError(ErrorCode.EPLATFORM, `cannot find the ftheap core (${urls.map(String).join(', ')}); run \`npm run build\``);
}

/** @internal `Atomics.waitAsync` where it exists (browsers, Node ≥ 16), else a short timer. */
export function waitAsync(i32: Int32Array, index: number, value: number): Promise<unknown> {
  const wa = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { value: unknown } }).waitAsync;
  if (wa) return Promise.resolve(wa(i32, index, value, 50).value);
  return new Promise((resolve) => setTimeout(resolve, 1));
}
