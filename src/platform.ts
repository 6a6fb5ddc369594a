/**
 * Everything that differs between Node and browsers lives here: finding and
 * compiling the core (the packaged `.wasm`, or the one passed as `module`),
 * checking that shared memory is available, knowing whether this thread may
 * block, and waiting asynchronously.
 * Nothing here is public API (every export is internal).
 *
 * Bundlers: nothing here (or anywhere in src/) imports a `node:` module. Node's
 * builtins are reached with `process.getBuiltinModule` (Node ≥ 20.16), which a
 * bundler for the browser does not see. The packaged core is named by one
 * literal `new URL('../build/ftheap.wasm', import.meta.url)` per flavour, the
 * pattern Vite, webpack, Rollup and Parcel rewrite into an emitted asset. The
 * build copies build/*.wasm to dist/build/, so the same relative URL works from
 * src/ (sources, tests) and dist/src/ (the package).
 * @module
 */
import { ErrorCode, FtheapError } from './errors.ts';

/** @internal True in Node (and runtimes that pose as it, with its builtins). */
export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** @internal A Node builtin (`node:fs/promises`, ...), without an `import` a browser bundler would chase. */
export function nodeBuiltin<T>(id: string): T {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (!get) throw new FtheapError(ErrorCode.EPLATFORM, `Node ${process.versions.node} has no process.getBuiltinModule: ftheap needs Node 20.16 or newer`);
  return get(id) as T;
}

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

/** Where to get the core: a compiled module, its URL (a string: a URL, or in Node also a file path), or its bytes. */
export type CoreSource = WebAssembly.Module | URL | string | ArrayBuffer | ArrayBufferView;

/**
 * The packaged cores. Each URL is ONE literal expression, so bundlers can see it
 * and emit the file; computed lazily (an IIFE/CommonJS bundle has no
 * `import.meta.url`, which must be an ELOAD, not a TypeError at import time).
 */
function packagedUrl(debug: boolean): URL {
  try {
    return debug
      ? new URL('../build/ftheap.debug.wasm', import.meta.url)
      : new URL('../build/ftheap.wasm', import.meta.url);
  } catch (e) {
    throw new FtheapError(ErrorCode.ELOAD, `the packaged core has no URL here (no import.meta.url: not an ES module?): `
      + `pass Runtime.create({ module }) (${String(e)})`);
  }
}

const HINT_PACKAGED = 'in a checkout run `npm run build`; with a bundler that does not emit it (esbuild), copy '
  + 'node_modules/ftheap/dist/build/ftheap.wasm next to your bundle and pass Runtime.create({ module: new URL(\'./ftheap.wasm\', import.meta.url) })';
const HINT_GIVEN = 'check the URL or path passed as `module` (the file must be served at that URL)';

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/**
 * @internal The packaged core, compiled once per process (or page) and build
 * flavour. A failure is not cached: building or serving the file and calling
 * again works.
 */
export function packagedModule(debug: boolean): Promise<WebAssembly.Module> {
  let p = compiled.get(debug);
  if (!p) {
    const q = Promise.resolve().then(() => compileFrom(packagedUrl(debug), HINT_PACKAGED));
    q.catch(() => { if (compiled.get(debug) === q) compiled.delete(debug); });
    compiled.set(debug, p = q);
  }
  return p;
}

/**
 * @internal The core from what the caller passed as `module` (a Module is used
 * as it is), or the packaged one. Every failure to find, fetch or compile it is
 * `ELOAD`, naming the URL (or path) and what to do.
 */
export async function loadCore(source: CoreSource | undefined, debug: boolean): Promise<WebAssembly.Module> {
  let module: WebAssembly.Module;
  if (source === undefined) module = await packagedModule(debug);
  else if (source instanceof WebAssembly.Module) module = source;
  else if (source instanceof URL || typeof source === 'string') module = await compileFrom(source, HINT_GIVEN);
  else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)
      || (typeof SharedArrayBuffer !== 'undefined' && (source as unknown) instanceof SharedArrayBuffer)) {
    module = await compileBytes(source, 'the bytes passed as `module`', HINT_GIVEN);
  } else {
    throw new FtheapError(ErrorCode.EINVAL_OPTION,
      `module must be a WebAssembly.Module, a URL (or string), or the bytes of the .wasm, got ${describe(source)}`);
  }
  if (!WebAssembly.Module.exports(module).some((e) => e.name === 'ft_init')) {
    throw new FtheapError(ErrorCode.ELOAD, 'the module passed is a WebAssembly module but not an ftheap core (it has no ft_init export)');
  }
  return module;
}

function describe(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `${typeof v} ${String(v)}`;
}

/** Fetch (or, for a file in Node, read) and compile. */
async function compileFrom(where: URL | string, hint: string): Promise<WebAssembly.Module> {
  const { bytes, name, contentType } = isNode ? await readNode(where, hint) : await fetchBytes(toUrl(where, hint), hint);
  return compileBytes(bytes, name, hint, contentType);
}

function toUrl(where: URL | string, hint: string): URL {
  if (where instanceof URL) return where;
  const base = typeof document !== 'undefined' ? document.baseURI : (globalThis as { location?: { href: string } }).location?.href;
  try {
    return new URL(where, base);
  } catch {
    throw new FtheapError(ErrorCode.ELOAD, `${JSON.stringify(where)} is not a URL; ${hint}`);
  }
}

type Loaded = { bytes: ArrayBufferLike | ArrayBufferView; name: string; contentType?: string };

async function fetchBytes(url: URL, hint: string): Promise<Loaded> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FtheapError(ErrorCode.ELOAD, `fetching ${url.href} failed (${String(e)}); ${hint}`);
  }
  if (!res.ok) throw new FtheapError(ErrorCode.ELOAD, `${url.href}: HTTP ${res.status}; ${hint}`);
  return { bytes: await res.arrayBuffer(), name: url.href, contentType: res.headers.get('content-type') ?? undefined };
}

/** Node: a file: URL or a path is read from disk; any other URL (http:, data:) is fetched. */
async function readNode(where: URL | string, hint: string): Promise<Loaded> {
  const { pathToFileURL, fileURLToPath } = nodeBuiltin<typeof import('node:url')>('node:url');
  let url: URL;
  if (where instanceof URL) url = where;
  else if (/^[a-z][a-z0-9+.-]+:/i.test(where)) url = new URL(where);   // a scheme of 2+ letters: not a C:\ path
  else url = pathToFileURL(where);
  if (url.protocol !== 'file:') return fetchBytes(url, hint);
  const path = fileURLToPath(url);
  const fs = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
  try {
    return { bytes: await fs.readFile(path), name: path };
  } catch (e) {
    const why = (e as { code?: string }).code === 'ENOENT' ? 'no such file' : String(e);
    throw new FtheapError(ErrorCode.ELOAD, `${path}: ${why}; ${hint}`);
  }
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];   // "\0asm"

/** Check the magic bytes (a clear error for an HTML page or a text file), then compile. */
async function compileBytes(bytes: ArrayBufferLike | ArrayBufferView, name: string, hint: string, contentType?: string): Promise<WebAssembly.Module> {
  let u8 = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  if (!(u8.buffer instanceof ArrayBuffer)) u8 = u8.slice();   // compile takes no shared buffer: copy
  if (u8.length < 8 || MAGIC.some((b, i) => u8[i] !== b)) {
    const head = new TextDecoder().decode(u8.subarray(0, 64)).trimStart();
    const what = u8.length === 0 ? 'is empty'
      : head.startsWith('<') ? 'is an HTML page, not WebAssembly (a dev server\'s index fallback for a file it does not have?)'
      : `does not start with the WebAssembly magic bytes \\0asm (starts ${JSON.stringify(head.slice(0, 16))})`;
    throw new FtheapError(ErrorCode.ELOAD, `${name} ${what}${contentType ? `; Content-Type: ${contentType}` : ''}; ${hint}`);
  }
  try {
    return await WebAssembly.compile(u8 as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new FtheapError(ErrorCode.ELOAD, `${name} is not a valid WebAssembly module (${String(e)}); ${hint}`);
  }
}

/**
 * @internal `Atomics.waitAsync` while `i32[index]` holds `value`, at most `ms`
 * (Infinity: until woken), where it exists (browsers, Node ≥ 16), keeping a Node
 * event loop open meanwhile (keptAlive); else a short timer (the caller polls).
 */
export function waitAsync(i32: Int32Array, index: number, value: number, ms = 50): Promise<unknown> {
  const wa = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { value: unknown } }).waitAsync;
  if (wa) return keptAlive(Promise.resolve(wa(i32, index, value, ms).value));
  return new Promise((resolve) => setTimeout(resolve, 1));
}

// Node does not count a pending Atomics.waitAsync as work: a worker whose only
// work is an awaited lockAsync, attachAsync or stopTheWorldAsync would end with
// exit code 13 (unfinished top-level await) or simply stop, its thread reaped as
// dead while the wait was still good. A timer kept while any wait is in flight
// holds the event loop open.
let waitsInFlight = 0;
let keepAlive: ReturnType<typeof setInterval> | undefined;

/** @internal `p`, with the event loop held open until it settles (Node; elsewhere `p` as is). */
export function keptAlive<T>(p: Promise<T>): Promise<T> {
  if (!isNode) return p;
  if (waitsInFlight++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
  return p.finally(() => {
    if (--waitsInFlight === 0) { clearInterval(keepAlive); keepAlive = undefined; }
  });
}
