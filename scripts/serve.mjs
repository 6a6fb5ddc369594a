#!/usr/bin/env node
// A small static file server for the browser demo and the browser tests. It adds
// the two headers that make a page cross-origin isolated (so it may use
// SharedArrayBuffer and shared WebAssembly.Memory):
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
// It binds 127.0.0.1 only and serves files under `root`; nothing else.
//
//   node scripts/serve.mjs [--port 8080] [--root DIR] [--open PATH]
//
// As a module: `const s = await serve({ root, port: 0 }); s.url; await s.close();`
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
};

/** The headers of every response: cross-origin isolation, and no caching (a rebuilt core must be seen). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/**
 * Serve `root` on 127.0.0.1:`port` (0: any free port). `isolate: false` leaves the
 * isolation headers out (to show what a page says without them).
 * `redirect` maps `/` to a path (e.g. '/demo/web/').
 * @returns {Promise<{ url: string, port: number, close(): Promise<void> }>}
 */
export async function serve({ root = '.', port = 0, isolate = true, redirect } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const headers = isolate ? { ...ISOLATION_HEADERS } : { 'Cache-Control': 'no-store' };
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/' && redirect) {
        res.writeHead(302, { ...headers, Location: redirect });
        return res.end();
      }
      let file = normalize(join(base, path));
      if (file !== base && !file.startsWith(base + sep)) throw Object.assign(new Error('outside root'), { status: 403 });
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
      const status = e?.status ?? (e?.code === 'ENOENT' || e?.code === 'ENOTDIR' ? 404 : 500);
      res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${status}\n`);
    }
  });
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, '127.0.0.1', ok); });
  const actual = server.address().port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: {
    port: { type: 'string', default: '8080' }, root: { type: 'string', default: '.' }, open: { type: 'string', default: '/' },
  } });
  const s = await serve({ root: values.root, port: Number(values.port), redirect: values.open === '/' ? undefined : values.open });
  console.log(`serving ${resolve(values.root)} at ${s.url}${values.open} (cross-origin isolated; Ctrl-C stops)`);
}
