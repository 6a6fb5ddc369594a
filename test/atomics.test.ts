// atomics.test.ts — in the core (assembly/), only atomics.ts touches memory
// through AssemblyScript's atomic builtins: any other `atomic.` member access
// (atomic.load, atomic.store, atomic.cmpxchg, atomic.wait32, i32.atomic.add,
// ...) outside comments and strings fails, listed with file and line. Files that
// still have them are allowlisted with at most today's count, and each must still
// have one, so the list cannot go stale. (bench/wasm is out of scope: its loops
// are built also against allocators that do not link assembly/.)
import { describe, expect, it } from 'vitest';
import { blank, lineAt, readSource, sourceFiles } from './fixtures/source.ts';

/** The one file of assembly/ that may make atomic calls. */
const HOME = 'assembly/atomics.ts';

/** Other files allowed (at most) this many atomic calls. */
const ALLOWED: Record<string, number> = {};

/** The atomic calls of a text, as 'line: atomic.x'. */
function atomicCalls(text: string): string[] {
  const code = blank(text, true);
  return [...code.matchAll(/\batomic\s*\.\s*[A-Za-z_]\w*/g)].map((m) => `${lineAt(code, m.index)}: ${m[0].replace(/\s/g, '')}`);
}

describe('atomics: only assembly/atomics.ts makes atomic calls', () => {
  const calls = new Map(sourceFiles('assembly').map((f) => [f, atomicCalls(readSource(f))]));

  it('finds calls in code only', () => {
    const text = [
      'const a = atomic.load<u32>(p);',
      '// atomic.store<u32>(p, 1);',
      '/* atomic.add<u32>(p, 1);',
      '   atomic.sub<u32>(p, 1); */ i32.atomic.add(p, 1);',
      'const s = "atomic.fence()"; atomic . notify(p, 1);',
      'Atomics.load(i32, 0);',
    ].join('\n');
    expect(atomicCalls(text)).toEqual(['1: atomic.load', '4: atomic.add', '5: atomic.notify']);
    expect(calls.get(HOME)!.length).toBeGreaterThan(0);
  });

  it('no file but atomics.ts has more than its allowlisted count', () => {
    const over = [...calls].filter(([f, cs]) => f !== HOME && cs.length > (ALLOWED[f] ?? 0))
      .map(([f, cs]) => `${f} (${cs.length}, allowed ${ALLOWED[f] ?? 0}): ${cs.join(', ')}`);
    expect(over, `move these behind ${HOME}`).toEqual([]);
  });

  it('every allowlisted file still has some (drop the ones that have none)', () => {
    expect(Object.keys(ALLOWED).filter((f) => !calls.get(f)?.length)).toEqual([]);
  });
});
