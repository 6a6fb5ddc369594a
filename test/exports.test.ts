// exports.test.ts — the facade's declaration of the raw exports matches the modules.
// The method names of `CoreExports` (src/core.ts, read as text by a small parser:
// comments and strings dropped, the interface body found by brace matching, one
// member per `;` at its top level, index signatures skipped) must be exactly the
// export names of build/ftheap.wasm and build/ftheap.debug.wasm. A failure lists
// the difference both ways.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const SOURCE = new URL('../src/core.ts', import.meta.url);
const FILES = ['ftheap.wasm', 'ftheap.debug.wasm'];

/** The member names of `interface <name>` in TypeScript source `src`. */
function interfaceMembers(src: string, name: string): string[] {
  // Blank out comments and string literals, keeping offsets (braces inside them do not count).
  const code = src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g,
    (m) => m.replace(/[^\n]/g, ' '));
  const head = new RegExp(`\\binterface\\s+${name}\\b[^{]*\\{`).exec(code);
  if (!head) throw new Error(`interface ${name} not found`);
  const members: string[] = [];
  let depth = 0, start = head.index + head[0].length;
  for (let i = start; i < code.length; i++) {
    const c = code[i];
    if (c === '{' || c === '(' || c === '[' || c === '<') depth++;
    else if (c === ')' || c === ']' || (c === '>' && code[i - 1] !== '=')) depth--;
    else if (c === '}') {
      if (depth === 0) { members.push(code.slice(start, i)); break; }
      depth--;
    } else if ((c === ';' || c === ',') && depth === 0) { members.push(code.slice(start, i)); start = i + 1; }
  }
  if (depth !== 0) throw new Error(`interface ${name}: unbalanced brackets`);
  return members.map((m) => m.trim()).filter((m) => m !== '' && !m.startsWith('['))
    .map((m) => {
      const id = /^(?:readonly\s+)?([A-Za-z_$][\w$]*)/.exec(m);
      if (!id) throw new Error(`interface ${name}: cannot read member "${m}"`);
      return id[1];
    });
}

describe('CoreExports and the modules\' exports', () => {
  const declared = interfaceMembers(readFileSync(SOURCE, 'utf8'), 'CoreExports');

  it('the parser reads the interface', () => {
    expect(declared.length).toBeGreaterThan(50);
    expect(declared).toContain('ft_malloc');
    expect(new Set(declared).size).toBe(declared.length);   // no member declared twice
    expect(interfaceMembers(`
      // interface Other { nope(): void }
      export interface Sample<T> extends Base {
        a(x: { y: number }, z: Array<T>): void;   /* } */
        readonly b: (p: number) => Map<string, number>;
        c?: 'x;y' | "}";
        [key: string]: unknown;
      }`, 'Sample')).toEqual(['a', 'b', 'c']);
  });

  for (const file of FILES) {
    it(`declares exactly the exports of build/${file}`, () => {
      const module = new WebAssembly.Module(readFileSync(new URL(`../build/${file}`, import.meta.url)));
      const exported = WebAssembly.Module.exports(module).map((e) => e.name);
      const missing = exported.filter((n) => !declared.includes(n)).sort();
      const stale = declared.filter((n) => !exported.includes(n)).sort();
      expect({ exportedButNotDeclared: missing, declaredButNotExported: stale },
        `src/core.ts CoreExports vs build/${file}`).toEqual({ exportedButNotDeclared: [], declaredButNotExported: [] });
    });
  }
});
