// layers.test.ts — the import graph of assembly/, src/, bench/ and demo/, read
// from the source text, has no cycle except through an allowlisted edge, and
// within assembly/ nobody imports index.ts (the entry that exports the ABI).
// Edges are relative imports: `import|export ... from './x'` and `import './x'`.
// Type-only imports are not edges (`import type`, `export type`, or every named
// binding `type X`): they leave nothing in the output. ALLOWED_EDGES are dropped
// from the graph before the cycle check; each must still be an import of the
// code, so the list cannot go stale.
import { existsSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blank, lineAt, readSource, ROOT, sourceFiles } from './fixtures/source.ts';

const DIRS = ['assembly', 'src', 'bench', 'demo'];

/**
 * Edges ('from -> to', repository paths) dropped before the cycle check. Each
 * needs a comment saying why it may close a cycle.
 */
const ALLOWED_EDGES: string[] = [
  // assembly/hooks.ts is where a lower layer calls a higher one (the allocator's
  // QSBR page holds and held huge frees, its slow path's pause for a stop; the
  // lock and stop waits that detach; delayed free's decrefs of objects; page sharing's
  // floating of a lent page the allocator empties, and of an exiting heap's lent pages): AssemblyScript cannot declare a function
  // without importing it, so the hooks file imports upward. These are its
  // imports, and the only edges that may close a cycle.
  'assembly/hooks.ts -> assembly/abandon.ts',
  'assembly/hooks.ts -> assembly/delayed-free.ts',
  'assembly/hooks.ts -> assembly/float.ts',
  'assembly/hooks.ts -> assembly/lifecycle.ts',
  'assembly/hooks.ts -> assembly/object.ts',
  'assembly/hooks.ts -> assembly/qsbr-pages.ts',
  'assembly/hooks.ts -> assembly/thread.ts',
];

/**
 * bench/wasm templates that bench/build-wasm.mjs copies to build/bench/<allocator>/
 * beside that allocator's alloc.ts (brc.ts, gc.ts: ftheap's only): their imports name the
 * copy's neighbours.
 */
const TEMPLATE = /^bench\/wasm\/(loops|mt|brc|gc|[\w-]+\.alloc)\.ts$/;

interface Import {
  from: string;
  /** As written. */
  spec: string;
  line: number;
  typeOnly: boolean;
  /** The file it names, once resolved. */
  to?: string;
}

const IMPORT = /^[ \t]*(?:(import|export)\b([^;]*?)\bfrom\s*|import\s*)(['"])([^'"\n]+)\3/gm;

/** The relative imports of one file's text. */
function importsOf(from: string, text: string): Import[] {
  const code = blank(text);
  const out: Import[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const spec = m[4];
    if (!spec.startsWith('.')) continue;
    const clause = (m[2] ?? '').trim();
    const names = /^\{([\s\S]*)\}$/.exec(clause)?.[1].split(',').map((n) => n.trim()).filter(Boolean);
    const typeOnly = /^type\b/.test(clause) || (names !== undefined && names.length > 0 && names.every((n) => /^type\s/.test(n)));
    out.push({ from, spec, line: lineAt(code, m.index), typeOnly });
  }
  return out;
}

const isFile = (path: string) => existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isFile();

/** The file an import names, or undefined. */
function resolve(imp: Import): string | undefined {
  const dir = TEMPLATE.test(imp.from) ? 'build/bench/template' : posix.dirname(imp.from);
  const base = posix.join(dir, imp.spec);
  return [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), `${base}/index.ts`].find(isFile);
}

interface Graph {
  files: string[];
  /** Every relative import, resolved where it can be. */
  imports: Import[];
  /** The edges: value imports between the files, from -> to. */
  edges: Map<string, Set<string>>;
}

function readGraph(): Graph {
  const files = DIRS.flatMap(sourceFiles);
  const imports = files.flatMap((f) => importsOf(f, readSource(f)).map((imp) => ({ ...imp, to: resolve(imp) })));
  const edges = new Map(files.map((f) => [f, new Set<string>()]));
  for (const imp of imports) if (!imp.typeOnly && imp.to !== undefined && edges.has(imp.to)) edges.get(imp.from)!.add(imp.to);
  return { files, imports, edges };
}

/** One cycle through each strongly connected component of more than one file (Tarjan), as paths a -> ... -> a. */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); on.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = new Set<string>();
    let w: string;
    do { w = stack.pop()!; on.delete(w); scc.add(w); } while (w !== v);
    if (scc.size > 1 || edges.get(v)!.has(v)) out.push(cycleIn(edges, scc, v));
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** A shortest cycle from `start` back to it inside `scc` (breadth first). */
function cycleIn(edges: Map<string, Set<string>>, scc: Set<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i];
    for (const w of [...edges.get(v)!].sort()) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
    }
  }
  throw new Error(`no cycle through ${start}`);
}

const edgeName = (from: string, to: string) => `${from} -> ${to}`;

describe('layers: the import graph', () => {
  const graph = readGraph();

  it('reads imports as written; type-only ones are marked', () => {
    const text = [
      "import { a, b } from './a';",
      "import type { T } from './t';",
      "import { type U, type V } from './u';",
      "import { type W, w } from './w.ts';",
      "export * from './x';",
      "export type { Y } from './y';",
      "import './side-effect';",
      "import {\n  m1,\n  m2,\n} from \"./multi\";",
      "// import { c } from './commented';",
      "const s = 'import { d } from \"./in-a-string\"';",
      "import { e } from 'node:fs';",
    ].join('\n');
    expect(importsOf('f.ts', text).map((i) => [i.spec, i.line, i.typeOnly])).toEqual([
      ['./a', 1, false], ['./t', 2, true], ['./u', 3, true], ['./w.ts', 4, false], ['./x', 5, false],
      ['./y', 6, true], ['./side-effect', 7, false], ['./multi', 8, false],
    ]);
  });

  it('every relative import names a source file (templates of bench/build-wasm.mjs aside)', () => {
    expect(graph.files.length).toBeGreaterThan(50);
    const unresolved = graph.imports.filter((i) => i.to === undefined && !TEMPLATE.test(i.from));
    expect(unresolved.map((i) => `${i.from}:${i.line}: ${i.spec}`)).toEqual([]);
  });

  it('has no cycle, once the allowlisted edges are dropped', () => {
    const allowed = new Set(ALLOWED_EDGES);
    const edges = new Map([...graph.edges].map(([from, tos]) =>
      [from, new Set([...tos].filter((to) => !allowed.has(edgeName(from, to))))]));
    const found = cycles(edges).map((c) => c.join(' -> '));
    expect(found, 'import cycles: break one edge of each (or, for now, allowlist it in ALLOWED_EDGES with a comment)')
      .toEqual([]);
  });

  it('every allowlisted edge is still an import (drop the ones that are gone)', () => {
    const present = new Set([...graph.edges].flatMap(([from, tos]) => [...tos].map((to) => edgeName(from, to))));
    expect(ALLOWED_EDGES.filter((e) => !present.has(e))).toEqual([]);
    expect(new Set(ALLOWED_EDGES).size).toBe(ALLOWED_EDGES.length);
  });

  it('within assembly/, nobody imports index.ts', () => {
    const importers = graph.imports.filter((i) => i.from.startsWith('assembly/') && i.to === 'assembly/index.ts');
    expect(importers.map((i) => `${i.from}:${i.line}`)).toEqual([]);
  });
});
