// The C peers that bench/build-c.mjs built and smoke-tested (build/bench/c/peers.json): which ones
// a suite can run, how to start their programs, and one line for those it cannot.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { V8_FLAGS } from './mt/harness.ts';
import type { SuiteOptions } from './suite.ts';

export type CProgram = 'mt' | 'st';

export interface CPeer {
  id: string;
  label: string;
  kind: 'emscripten' | 'native';
  /** a native reference column: not one of the Wasm peers ftheap's targets compare against */
  native: boolean;
}

/** Every C peer in column order (ids as in bench/build-c.mjs). */
export const C_PEERS: CPeer[] = [
  { id: 'em-dlmalloc', label: 'dlmalloc', kind: 'emscripten', native: false },
  { id: 'em-emmalloc', label: 'emmalloc', kind: 'emscripten', native: false },
  { id: 'wasm-mimalloc', label: 'mimalloc (Wasm)', kind: 'emscripten', native: false },
  { id: 'native-glibc', label: 'glibc (native)', kind: 'native', native: true },
  { id: 'native-mimalloc', label: 'mimalloc (native)', kind: 'native', native: true },
];

interface Manifest {
  peers: Record<string, { kind: string; programs: Partial<Record<CProgram, { file: string; flags: string }>> }>;
  missing: Record<string, string>;
}

export interface CPeers {
  /** the peers with a built, smoke-tested `program`, selected by --alloc and --no-emcc */
  peers: CPeer[];
  /** one line per selected peer left out, and why */
  notes: string[];
  /** the command that runs a peer's program */
  command(id: string): string[];
  /** the compiler and flags a peer's program was built with */
  flags(id: string): string;
}

export function cPeers(opts: Pick<SuiteOptions, 'root' | 'allocators' | 'emcc'>, program: CProgram): CPeers {
  const wanted = C_PEERS.filter((p) => !opts.allocators || opts.allocators.includes(p.id))
    .filter((p) => program === 'mt' || p.id !== 'em-emmalloc');
  const path = join(opts.root, 'build/bench/c/peers.json');
  let m: Manifest | undefined;
  try { m = JSON.parse(readFileSync(path, 'utf8')) as Manifest; } catch { /* not built */ }
  const notes: string[] = [];
  const peers: CPeer[] = [];
  const skippedEm = wanted.filter((p) => p.kind === 'emscripten' && !opts.emcc);
  if (skippedEm.length) notes.push(`${skippedEm.map((p) => p.id).join(', ')} skipped (--no-emcc)`);
  // one line per reason: "a, b, c left out: emcc not found (...)"
  const why = new Map<string, string[]>();
  for (const p of wanted.filter((x) => x.kind === 'native' || opts.emcc)) {
    const built = m?.peers[p.id]?.programs[program];
    if (built && existsSync(built.file)) { peers.push(p); continue; }
    const reason = !m ? 'C peers not built (run `npm run build:bench`)' : m.missing[p.id] ?? 'not built (run `npm run build:bench`)';
    why.set(reason, [...(why.get(reason) ?? []), p.id]);
  }
  for (const [reason, ids] of why) notes.push(`${ids.join(', ')} left out: ${reason}`);
  return {
    peers, notes,
    command(id) {
      const file = m!.peers[id].programs[program]!.file;
      return m!.peers[id].kind === 'emscripten' ? [process.execPath, ...V8_FLAGS, '--no-experimental-fetch', file] : [file];
    },
    flags: (id) => m?.peers[id]?.programs[program]?.flags ?? '',
  };
}
