// build.test.ts — the built modules are safe to instantiate once per thread on one
// shared memory. build/ftheap.wasm and build/ftheap.debug.wasm are parsed by hand
// (scripts/wasm-tools.mjs: magic, version, then sections): no Data (11), DataCount
// (12) or Start (8) section, since those re-run on every instantiation; the only
// imports are env.memory (a shared memory with a maximum), env.now (the clock) and
// env.finalize (object finalizers, run by the facade).
// Then, live: instantiating
// the module again on a memory in use leaves every byte as it was, and a second
// instance (a second "thread") sees and frees the first one's block.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseImports, parseModule, SECTION } from '../scripts/wasm-tools.mjs';
import { Runtime } from '../src/index.ts';
import { expectBalanced } from './fixtures/harness.ts';
import { checkPattern, fillPattern } from './fixtures/pattern.ts';
import { codeOf } from './fixtures/util.ts';

const FILES = ['ftheap.wasm', 'ftheap.debug.wasm'];
const read = (name: string) => new Uint8Array(readFileSync(new URL(`../build/${name}`, import.meta.url)));

/** The sections of a module, after checking its header and that they tile the file exactly. */
function sections(bytes: Uint8Array) {
  const m = parseModule(bytes);
  expect(m.magic).toEqual([0x00, 0x61, 0x73, 0x6d]);
  expect(m.version).toEqual([1, 0, 0, 0]);
  expect(m.end).toBe(bytes.length);   // the sections tile the file exactly
  return m.sections;
}

describe.each(FILES)('build/%s', (file) => {
  const bytes = read(file);

  it('has no Data, DataCount or Start section', () => {
    const ids = sections(bytes).map((s) => s.id);
    expect(ids).toContain(SECTION.CODE);   // it does have code
    expect(ids).not.toContain(SECTION.DATA);
    expect(ids).not.toContain(SECTION.DATA_COUNT);
    expect(ids).not.toContain(SECTION.START);
  });

  it('imports env.memory (shared, at most 4 GiB), the clock env.now and env.finalize, nothing else', () => {
    const importSections = sections(bytes).filter((s) => s.id === SECTION.IMPORT);
    expect(importSections).toHaveLength(1);
    const { imports: all, end } = parseImports(bytes, importSections[0]);
    expect(end).toBe(importSections[0].start + importSections[0].size);
    expect(all).toHaveLength(3);
    expect(all.filter((i) => i.kind === 0).map((i) => i.name).sort()).toEqual(['finalize', 'now']);
    const imps = all.filter((i) => i.kind === 2);
    expect(imps[0]).toMatchObject({ module: 'env', name: 'memory', kind: 2 });
    expect(imps[0].flags! & 0x02).toBe(0x02);   // shared
    expect(imps[0].flags! & 0x01).toBe(0x01);   // has a maximum (required for shared)
    expect(imps[0].flags! & 0x04).toBe(0);      // not memory64
    expect(imps[0].max).toBeLessThanOrEqual(65536);

    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(mod).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { module: 'env', name: 'finalize', kind: 'function' }, { module: 'env', name: 'memory', kind: 'memory' },
      { module: 'env', name: 'now', kind: 'function' }]);
    expect(WebAssembly.Module.exports(mod).some((e) => e.kind === 'memory')).toBe(false);
  });

  it('instantiating it again on a memory in use changes no byte, and the new instance frees the old one\'s block', async () => {
    const rt = await Runtime.create({ module: new WebAssembly.Module(bytes) });
    const t = rt.attach();
    const size = 3000;
    const p = t.alloc(size);
    fillPattern(rt.bytes(), p, size, 77);
    const keep = t.alloc(100);   // keeps the page alive after p is freed
    const statsBefore = rt.stats();   // (the snapshot writes the root's stats scratch area)
    const before = rt.bytes().slice();

    // a bare instantiation: no start function, no data segment may write anything
    await WebAssembly.instantiate(rt.module, { env: { memory: rt.memory, now: () => performance.now(), finalize: () => 0 } });
    expect(Buffer.compare(rt.bytes(), before)).toBe(0);

    // a joined runtime (ft_init again) must not reset the root either
    const rt2 = await Runtime.join(rt.share());
    expect(Buffer.compare(rt2.bytes(), before)).toBe(0);
    expect(rt2.stats()).toEqual(statsBefore);
    expect(checkPattern(rt2.bytes(), p, size, 77)).toBe(-1);

    const t2 = rt2.attach();
    expect(t2.id).not.toBe(t.id);
    expect(t2.usableSize(p)).toBe(t.usableSize(p));
    t2.free(p);                                        // a cross-thread free
    expect(rt.stats().totals.blocksUsed).toBe(statsBefore.totals.blocksUsed - 1);
    // the first instance still works, and knows p is free now
    expect(codeOf(() => t.free(p))).toBe('EDOUBLE_FREE');
    const q = t.alloc(size);
    t.free(q);
    t.free(keep);
    t2.exit();
    t.exit();
    expectBalanced(rt);
  });
});

// A kill (V8 stops a terminated worker at a call or a loop's back edge) must not
// fall between a state store and the count of committed bytes it matches: the count
// is inlined into every caller (assembly/os.ts commitAdd, commitCount). Review4: a
// page extension killed at that call counted 4 KiB off twice, a huge realloc left
// 4 MiB counted for good. The release build's text names every function it kept.
describe('build/ftheap.wat', () => {
  it('keeps no function for the committed-bytes count: it is inlined into its callers', () => {
    const wat = readFileSync(new URL('../build/ftheap.wat', import.meta.url), 'utf8');
    expect(wat).toMatch(/\(func \$assembly\/os\/osCommitMarked /);   // the text names functions
    expect(wat).not.toMatch(/\(func \$assembly\/os\/commit(Count|Add) /);
  });
});
