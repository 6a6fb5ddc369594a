// Builds build/bench/sync.wasm: the core plus the thread-machinery loops (bench/wasm/sync.ts,
// bench/wasm/qsbr.ts), with the core's release options from asconfig.json, for the mutex,
// stop-the-world and qsbr suites.
// Fails if the module has a data segment or a start function (it runs on the shared memory).
import asc from 'assemblyscript/asc';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ascFlags, instantiationWrites, ROOT as root } from '../scripts/wasm-tools.mjs';

const flags = ascFlags('release');
mkdirSync(join(root, 'build/bench'), { recursive: true });
const out = join(root, 'build/bench/sync.wasm');
const { error, stderr } = await asc.main([join(root, 'bench/wasm/sync.entry.ts'), ...flags, '-o', out,
  '--config', join(root, 'build/bench/none.json')], { readFile: (f) => { try { return readFileSync(f, 'utf8'); } catch { return f.endsWith('none.json') ? '{}' : null; } } });
if (error) { console.error(stderr.toString()); process.exit(1); }
const writes = instantiationWrites(readFileSync(out));
if (writes.length) { console.error(`${out}: has ${writes.join(' and ')}`); process.exit(1); }
writeFileSync(join(root, 'build/bench/none.json'), '{}\n');
console.log(`bench wasm sync: ${out}`);
