// Builds build/bench/sync.wasm: the core plus the thread-machinery loops (bench/wasm/sync.ts,
// bench/wasm/qsbr.ts), with the core's release options from asconfig.json, for the mutex,
// stop-the-world and qsbr suites.
// Fails if the module has a data segment or a start function (it runs on the shared memory).
import asc from 'assemblyscript/asc';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cfg = JSON.parse(readFileSync(join(root, 'asconfig.json'), 'utf8'));
const flags = [];
for (const [k, v] of Object.entries({ ...cfg.options, ...cfg.targets.release })) {
  if (['outFile', 'textFile', 'bindings'].includes(k) || v === false) continue;
  if (v === true) flags.push(`--${k}`);
  else for (const item of [v].flat()) flags.push(`--${k}`, String(item));
}
mkdirSync(join(root, 'build/bench'), { recursive: true });
const out = join(root, 'build/bench/sync.wasm');
const { error, stderr } = await asc.main([join(root, 'bench/wasm/sync.entry.ts'), ...flags, '-o', out,
  '--config', join(root, 'build/bench/none.json')], { readFile: (f) => { try { return readFileSync(f, 'utf8'); } catch { return f.endsWith('none.json') ? '{}' : null; } } });
if (error) { console.error(stderr.toString()); process.exit(1); }
const bin = readFileSync(out);
let i = 8;
const leb = () => { let r = 0, s = 0, b; do { b = bin[i++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
while (i < bin.length) {
  const id = bin[i++]; const len = leb();
  if (id === 8 || id === 11) { console.error(`${out}: has a ${id === 8 ? 'start' : 'data'} section`); process.exit(1); }
  i += len;
}
writeFileSync(join(root, 'build/bench/none.json'), '{}\n');
console.log(`bench wasm sync: ${out}`);
