// wasm-tools.mjs — what the bench build scripts (bench/build-*.mjs) and
// test/build.test.ts share: the repository root, the core's asc flags from
// asconfig.json, and a parser of Wasm binaries (magic, version, sections: id byte
// + LEB128 size; the import section). Plain JS (the build scripts run it
// without a compile step); no side effects.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * asconfig.json's options plus one of its targets (default 'release') as asc
 * CLI flags; outputs and bindings are dropped.
 * @param {string} [target]
 * @returns {string[]}
 */
export function ascFlags(target = 'release') {
  const cfg = JSON.parse(readFileSync(join(ROOT, 'asconfig.json'), 'utf8'));
  const flags = [];
  for (const [k, v] of Object.entries({ ...cfg.options, ...cfg.targets[target] })) {
    if (['outFile', 'textFile', 'bindings'].includes(k) || v === false) continue;
    if (v === true) flags.push(`--${k}`);
    else for (const item of [v].flat()) flags.push(`--${k}`, String(item));
  }
  return flags;
}

/** Section ids. */
export const SECTION = { IMPORT: 2, START: 8, CODE: 10, DATA: 11, DATA_COUNT: 12 };

/** A cursor over a module's bytes. */
class Reader {
  /** @param {Uint8Array} b @param {number} [pos] */
  constructor(b, pos = 0) {
    this.b = b;
    this.pos = pos;
  }

  byte() {
    if (this.pos >= this.b.length) throw new Error('unexpected end of module');
    return this.b[this.pos++];
  }

  /** An unsigned LEB128 number. */
  u32() {
    let result = 0, shift = 0, byte;
    do {
      byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  }

  name() {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

/**
 * @typedef {{ id: number; start: number; size: number }} Section
 * @typedef {{ module: string; name: string; kind: number; flags?: number; min?: number; max?: number }} Import
 */

/**
 * The header and the sections of a module. `end` is where the last section ends
 * (the file's length, when the sections tile it).
 * @param {Uint8Array} bytes
 * @returns {{ magic: number[]; version: number[]; sections: Section[]; end: number }}
 */
export function parseModule(bytes) {
  const r = new Reader(bytes);
  const magic = [r.byte(), r.byte(), r.byte(), r.byte()];
  const version = [r.byte(), r.byte(), r.byte(), r.byte()];
  const sections = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    sections.push({ id, start: r.pos, size });
    r.pos += size;
  }
  return { magic, version, sections, end: r.pos };
}

/**
 * The entries of an import section: functions (kind 0) and memories (kind 2);
 * any other kind throws. `end` is where the last entry ends.
 * @param {Uint8Array} bytes
 * @param {Section} s
 * @returns {{ imports: Import[]; end: number }}
 */
export function parseImports(bytes, s) {
  const r = new Reader(bytes, s.start);
  const imports = [];
  for (let n = r.u32(); n > 0; n--) {
    /** @type {Import} */
    const imp = { module: r.name(), name: r.name(), kind: r.byte() };
    if (imp.kind === 0) { r.u32(); imports.push(imp); continue; }   // a function: its type index
    if (imp.kind !== 2) throw new Error(`unexpected import kind ${imp.kind} (${imp.module}.${imp.name})`);
    imp.flags = r.byte();
    imp.min = r.u32();
    if (imp.flags & 1) imp.max = r.u32();
    imports.push(imp);
  }
  return { imports, end: r.pos };
}

/**
 * What would write the memory again on every instantiation (a start function, a
 * data segment), as words for a message; empty when the module has neither.
 * @param {Uint8Array} bytes
 * @returns {string[]}
 */
export function instantiationWrites(bytes) {
  const ids = parseModule(bytes).sections.map((s) => s.id);
  return [[SECTION.START, 'a start function'], [SECTION.DATA, 'a data segment']]
    .filter(([id]) => ids.includes(id)).map(([, what]) => what);
}
