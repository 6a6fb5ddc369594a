// Builds the C twin of the multi-threaded workloads (bench/c/mt.c) with emscripten, once per
// allocator: build/bench/emscripten/<malloc>.js (+ .wasm, .worker.js), -O3 -pthread.
// Optional: without `emcc` on the PATH it prints one line and exits 0 (the bench then runs
// without the dlmalloc/emmalloc columns). Skips outputs newer than their sources.
// Debian's emscripten (apt-get install emscripten) needs NODE_PATH=/usr/share/nodejs to find
// acorn when the machine's Node is not Debian's; it is set here.
// Usage: node bench/build-c.mjs [dlmalloc] [emmalloc]   (default: both)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT as root } from '../scripts/wasm-tools.mjs';

const src = join(root, 'bench/c/mt.c');
const outDir = join(root, 'build/bench/emscripten');
export const MALLOCS = ['dlmalloc', 'emmalloc'];

/** The emcc flags for one allocator (also recorded in the bench report). */
export function emccFlags(malloc) {
  return ['-O3', '-pthread', `-sMALLOC=${malloc}`, '-sPROXY_TO_PTHREAD', '-sPTHREAD_POOL_SIZE=4', '-sALLOW_MEMORY_GROWTH',
    '-sINITIAL_MEMORY=64MB', '-sMAXIMUM_MEMORY=2GB', '-sDEFAULT_PTHREAD_STACK_SIZE=65536', '-sEXIT_RUNTIME',
    '-sENVIRONMENT=node,worker', '-Wno-pthreads-mem-growth'];
}

const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs'].filter(Boolean).join(':') };

export function emccAvailable() {
  const r = spawnSync('emcc', ['--version'], { env, encoding: 'utf8' });
  return r.status === 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!emccAvailable()) {
    console.log('emcc not found: skipping dlmalloc/emmalloc columns');
  } else {
    mkdirSync(outDir, { recursive: true });
    // emscripten 3.1.6 emits CommonJS; the package is "type": "module"
    writeFileSync(join(outDir, 'package.json'), '{ "type": "commonjs" }\n');
    const names = process.argv.slice(2).length ? process.argv.slice(2) : MALLOCS;
    let failed = false;
    for (const malloc of names) {
      const out = join(outDir, `${malloc}.js`);
      if (existsSync(out) && statSync(out).mtimeMs > Math.max(statSync(src).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs)) continue;
      const r = spawnSync('emcc', [...emccFlags(malloc), src, '-o', out], { env, encoding: 'utf8' });
      if (r.status !== 0) { console.error(`emcc (${malloc}) failed:\n${r.stderr}`); failed = true; }
    }
    process.exitCode = failed ? 1 : 0;
  }
}
