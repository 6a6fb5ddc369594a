// Builds the C peers of the benchmarks: the C twins of the multi-threaded workloads (bench/c/mt.c)
// and of the single-thread loops (bench/c/st.c), once per peer, into build/bench/c/<peer>/:
//   em-dlmalloc, em-emmalloc  emcc -O3 -pthread -sMALLOC=dlmalloc|emmalloc (Debian's emscripten)
//   wasm-mimalloc             emcc -O3 -pthread, mimalloc's src/static.c (its Debian source, unpacked
//                             by bench/setup-peers.sh into build/bench/src/) compiled in; the
//                             workloads call mi_malloc/mi_free (mt.c/st.c's BENCH_MI_API macros)
//   native-glibc              gcc -O3 -pthread, glibc's malloc
//   native-mimalloc           gcc -O3 -pthread -Wl,--no-as-needed -lmimalloc: libmimalloc.so
//                             interposes malloc/free for the whole process (Debian's libmimalloc-dev)
// (st.c: every peer but em-emmalloc.) Each build is smoke-tested (one tiny cell: 2 threads of
// xmalloc-test for mt, one run of rand16-1024 for st; native-mimalloc must also report mimalloc in
// its verbose output); the peers that built and passed are listed in build/bench/c/peers.json with
// their flags, and each one missing gets one line there (and here) saying why. The suites read it
// (bench/c-peers.ts) and leave those columns out.
// Each output is keyed on a stamp (flags, toolchain versions, source hashes) beside it: rebuilt when
// the stamp changes, or when the last build failed (a failed build leaves no stamp).
// emcc runs with node_modules/.bin removed from PATH (npm puts it first: its binaryen's wasm-opt
// then shadows Debian's, and the JS glue no longer matches the .wasm, "LinkError a.b"), and with
// NODE_PATH=/usr/share/nodejs (Debian's emcc needs acorn from there when Node is not Debian's).
// Usage: node bench/build-c.mjs [peer...]   (default: all)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT as root } from '../scripts/wasm-tools.mjs';

const outRoot = join(root, 'build/bench/c');
const self = fileURLToPath(import.meta.url);
const SOURCES = { mt: join(root, 'bench/c/mt.c'), st: join(root, 'bench/c/st.c') };
/** The V8 flags of every bench process (bench/mt/harness.ts V8_FLAGS), for the smoke tests. */
const V8_FLAGS = ['--no-liftoff', '--no-wasm-lazy-compilation'];

/** @typedef {{ id: string, kind: 'emscripten' | 'native', malloc?: string, mimalloc?: boolean, programs: ('mt' | 'st')[] }} Peer */
/** @type {Peer[]} */
export const PEERS = [
  { id: 'em-dlmalloc', kind: 'emscripten', malloc: 'dlmalloc', programs: ['mt', 'st'] },
  { id: 'em-emmalloc', kind: 'emscripten', malloc: 'emmalloc', programs: ['mt'] },
  { id: 'wasm-mimalloc', kind: 'emscripten', malloc: 'dlmalloc', mimalloc: true, programs: ['mt', 'st'] },
  { id: 'native-glibc', kind: 'native', programs: ['mt', 'st'] },
  { id: 'native-mimalloc', kind: 'native', mimalloc: true, programs: ['mt', 'st'] },
];

// emcc without npm's node_modules/.bin on the PATH (see the header)
const emEnv = {
  ...process.env,
  PATH: (process.env.PATH ?? '').split(delimiter).filter((d) => !/node_modules[\\/]\.bin[\\/]?$/.test(d)).join(delimiter),
  NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs'].filter(Boolean).join(delimiter),
};

function firstLine(cmd, args, env = emEnv) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : undefined;
}

/** The mimalloc source tree bench/setup-peers.sh unpacked (or $MIMALLOC_SRC). */
export function mimallocSource() {
  if (process.env.MIMALLOC_SRC) return existsSync(join(process.env.MIMALLOC_SRC, 'src/static.c')) ? process.env.MIMALLOC_SRC : undefined;
  const dir = join(root, 'build/bench/src');
  if (!existsSync(dir)) return undefined;
  const found = readdirSync(dir).filter((d) => d.startsWith('mimalloc-') && existsSync(join(dir, d, 'src/static.c'))).sort();
  return found.length ? join(dir, found.at(-1)) : undefined;
}

/** libmimalloc.so as gcc finds it (libmimalloc-dev), or undefined. */
function nativeMimalloc() {
  const p = firstLine('gcc', ['-print-file-name=libmimalloc.so'], process.env);
  return p && p.includes('/') && existsSync(p) ? realpathSync(p) : undefined;
}

const EM_MT = ['-O3', '-pthread', '-sPROXY_TO_PTHREAD', '-sPTHREAD_POOL_SIZE=4', '-sALLOW_MEMORY_GROWTH', '-sINITIAL_MEMORY=64MB',
  '-sMAXIMUM_MEMORY=2GB', '-sDEFAULT_PTHREAD_STACK_SIZE=65536', '-sEXIT_RUNTIME', '-sENVIRONMENT=node,worker', '-Wno-pthreads-mem-growth'];
const EM_ST = ['-O3', '-pthread', '-sALLOW_MEMORY_GROWTH', '-sINITIAL_MEMORY=64MB', '-sMAXIMUM_MEMORY=2GB', '-sEXIT_RUNTIME',
  '-sENVIRONMENT=node,worker', '-Wno-pthreads-mem-growth'];
/** st.c: malloc/free are not builtins, so no malloc+free pair can be elided. */
const NO_BUILTIN = ['-fno-builtin-malloc', '-fno-builtin-free'];
/** mimalloc 2.0.9 in emscripten: its headers take emscripten for WASI (no pthreads, memory.grow); grow through sbrk instead (shared with emscripten's dlmalloc), with its pthread mutex and thread-exit hook. */
const MI_EM = (src) => ['-DBENCH_MI_API', '-DMI_USE_SBRK', '-DMI_USE_PTHREADS', '-include', 'pthread.h', '-DNDEBUG',
  '-Wno-macro-redefined', '-Wno-deprecated-pragma', `-I${join(src, 'include')}`];

/**
 * The compiler, arguments (flags + sources + output) and recorded flags of one program of a peer,
 * or a reason it cannot be built here.
 */
export function recipe(peer, program, tools) {
  const out = join(outRoot, peer.id, peer.kind === 'emscripten' ? `${program}.js` : program);
  const src = SOURCES[program];
  if (peer.kind === 'emscripten') {
    if (!tools.emcc) return { missing: 'emcc not found (bench/setup-peers.sh installs emscripten)' };
    const flags = [...(program === 'mt' ? EM_MT : [...EM_ST, ...NO_BUILTIN]), `-sMALLOC=${peer.malloc}`];
    const extra = [];
    if (peer.mimalloc) {
      if (!tools.miSrc) return { missing: 'mimalloc source not found in build/bench/src (run `npm run bench:setup`)' };
      flags.push(...MI_EM(tools.miSrc));
      extra.push(join(tools.miSrc, 'src/static.c'));
    }
    return { cc: 'emcc', flags, args: [...flags, src, ...extra, '-o', out], out, inputs: [src, ...(peer.mimalloc ? miFiles(tools.miSrc) : [])],
      sources: [`bench/c/${program}.c`, ...(peer.mimalloc ? ['<mimalloc>/src/static.c'] : [])] };
  }
  if (!tools.gcc) return { missing: 'gcc not found' };
  const flags = ['-O3', '-pthread', ...(program === 'st' ? NO_BUILTIN : [])];
  const libs = [];
  if (peer.mimalloc) {
    if (!tools.libmi) return { missing: 'libmimalloc.so not found (bench/setup-peers.sh installs libmimalloc-dev)' };
    flags.push('-DBENCH_NATIVE_MI');
    libs.push('-Wl,--no-as-needed', '-lmimalloc');
  }
  return { cc: 'gcc', flags: [...flags, ...libs], args: [...flags, src, '-o', out, ...libs], out, inputs: [src], sources: [`bench/c/${program}.c`] };
}

function miFiles(dir) {
  const files = [];
  for (const sub of ['src', 'include']) {
    const walk = (d) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.[ch]$/.test(e.name)) files.push(join(d, e.name));
      }
    };
    walk(join(dir, sub));
  }
  return files.sort();
}

// Included by both programs (which malloc the workloads call): part of every stamp.
const PEER_HEADER = join(root, 'bench/c/peer.h');

function stampOf(peer, program, r, tools) {
  const h = createHash('sha256');
  h.update(JSON.stringify({ args: r.args, cc: r.cc === 'emcc' ? tools.emcc : tools.gcc, libmi: peer.mimalloc && peer.kind === 'native' ? tools.libmiId : '' }));
  for (const f of [self, PEER_HEADER, ...r.inputs]) h.update(f).update(readFileSync(f));
  return h.digest('hex');
}

/** The command that runs a built program (a .js under node with the bench's V8 flags, or the executable). */
export function command(kind, file) {
  return kind === 'emscripten' ? [process.execPath, ...V8_FLAGS, '--no-experimental-fetch', file] : [file];
}

/** One tiny cell; returns an error text, or undefined when it ran and printed a sane result. */
function smoke(peer, program, file) {
  const [cmd, ...pre] = command(peer.kind, file);
  const args = program === 'mt'
    ? ['2', '1', '0', '7', '1000000', '1', '0', '2', '2', '0', '1', '256', '64', '4', '8', '1', '0', '1', '0', '0', '0']
    : ['2', '1000', '0', '1', '1000000', '1', '0'];
  const env = peer.mimalloc && peer.kind === 'native' ? { ...process.env, MIMALLOC_VERBOSE: '1' } : process.env;
  const r = spawnSync(cmd, [...pre, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return `smoke test exited with ${r.status ?? r.signal}: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`;
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  if (program === 'mt') {
    const runs = lines.filter((l) => l.phase === 'run');
    if (runs.length !== 2 || runs[0].ops !== 2 * 2 * 256 || !(runs.every((l) => l.ns > 0))) return `smoke test printed ${r.stdout.trim().slice(0, 200)}`;
  } else if (lines.length !== 1 || lines[0].pairs !== 1000 || !(lines[0].ns > 0) || !(lines[0].peakLive > 0)) {
    return `smoke test printed ${r.stdout.trim().slice(0, 200)}`;
  }
  if (env.MIMALLOC_VERBOSE && !/mimalloc:/.test(r.stderr)) return 'libmimalloc did not load (no mimalloc output with MIMALLOC_VERBOSE=1)';
  return undefined;
}

/** Builds (when its stamp changed) and smoke-tests every program of the given peers; writes peers.json. */
export function buildPeers(ids = PEERS.map((p) => p.id), log = console.log) {
  const emccLine = firstLine('emcc', ['--version']);
  const gccLine = firstLine('gcc', ['--version'], process.env);
  const libmi = nativeMimalloc();
  const tools = {
    emcc: emccLine, gcc: gccLine, miSrc: mimallocSource(), libmi,
    libmiId: libmi ? `${libmi} ${statSync(libmi).size} ${statSync(libmi).mtimeMs}` : undefined,
  };
  mkdirSync(outRoot, { recursive: true });
  const manifestPath = join(outRoot, 'peers.json');
  let old = { peers: {}, missing: {} };
  try { old = JSON.parse(readFileSync(manifestPath, 'utf8')); } catch { /* first build */ }
  const manifest = { peers: { ...old.peers }, missing: { ...old.missing } };
  for (const peer of PEERS.filter((p) => ids.includes(p.id))) {
    delete manifest.peers[peer.id];
    delete manifest.missing[peer.id];
    const entry = { kind: peer.kind, programs: {} };
    let why;
    for (const program of peer.programs) {
      const r = recipe(peer, program, tools);
      if (r.missing) { why = r.missing; break; }
      mkdirSync(join(outRoot, peer.id), { recursive: true });
      // emscripten 3.1.6 emits CommonJS; the package is "type": "module"
      if (peer.kind === 'emscripten') writeFileSync(join(outRoot, peer.id, 'package.json'), '{ "type": "commonjs" }\n');
      const stampFile = `${r.out}.stamp`;
      const stamp = stampOf(peer, program, r, tools);
      const fresh = existsSync(r.out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
      if (!fresh) {
        rmSync(stampFile, { force: true });
        const c = spawnSync(r.cc, r.args, { env: r.cc === 'emcc' ? emEnv : process.env, encoding: 'utf8' });
        if (c.status !== 0) { why = `${r.cc} failed for ${program}.c: ${(c.stderr || '').trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 2).join(' | ').slice(0, 300)}`; break; }
      }
      const bad = smoke(peer, program, r.out);
      if (bad) { rmSync(stampFile, { force: true }); why = `${program}: ${bad}`; break; }
      if (!fresh) writeFileSync(stampFile, stamp);
      entry.programs[program] = { file: r.out, flags: [r.cc, ...r.flags, ...r.sources].join(' ') };
    }
    if (why) {
      manifest.missing[peer.id] = why;
    } else {
      manifest.peers[peer.id] = entry;
    }
  }
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  // one line per reason
  const why = new Map();
  for (const [id, reason] of Object.entries(manifest.missing)) why.set(reason, [...(why.get(reason) ?? []), id]);
  for (const [reason, peers] of why) log(`${peers.join(', ')} left out: ${reason}`);
  return manifest;
}

if (process.argv[1] && self === process.argv[1]) {
  const ids = process.argv.slice(2);
  const unknown = ids.filter((id) => !PEERS.some((p) => p.id === id));
  if (unknown.length) {
    console.error(`unknown peer ${unknown.join(', ')}; known: ${PEERS.map((p) => p.id).join(', ')}`);
    process.exitCode = 2;
  } else {
    // never fails the build: a peer that cannot be built or run is left out with one line
    const m = buildPeers(ids.length ? ids : undefined);
    console.log(`C peers: ${Object.keys(m.peers).join(', ') || 'none'}`);
  }
}
