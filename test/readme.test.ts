// The README's examples run as written: every ```js block is a complete program
// (it imports 'ftheap', which resolves to this package through its own `exports`)
// and must exit 0; its assertions check what the prose says. Code that is not an
// example (shell lines, diagrams) uses ```sh or ```text, and nothing else is
// allowed to look like code. The error table names every code the facade has.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const dir = join(root, '.snip', 'readme');

interface Block { lang: string; line: number; code: string }
function blocks(md: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\S*)[^\n]*\n([\s\S]*?)^```$/gm;
  for (let m; (m = re.exec(md));) out.push({ lang: m[1], line: md.slice(0, m.index).split('\n').length, code: m[2] });
  return out;
}
const all = blocks(readme);
const runnable = all.filter((b) => b.lang === 'js');

describe('README', () => {
  mkdirSync(dir, { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('marks every code block: js (run here), sh or text', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(8);
    expect(all.filter((b) => !['js', 'sh', 'text', 'html', 'json'].includes(b.lang)).map((b) => `line ${b.line}: ${b.lang || '(none)'}`)).toEqual([]);
  });

  for (const b of runnable) {
    it(`runs the example at line ${b.line}`, () => {
      const file = join(dir, `line-${b.line}.mjs`);
      writeFileSync(file, b.code);
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr + (r.error ? String(r.error) : ''), `README line ${b.line}`).not.toMatch(/Error|assert/i);
      expect(r.status, `README line ${b.line}: ${r.stderr}`).toBe(0);
    }, 70_000);
  }

  it('lists every error code in the error table', () => {
    const table = readme.slice(readme.indexOf('| code | when |'));
    const missing = Object.keys(ErrorCode).filter((c) => !table.includes(`| \`${c}\` |`));
    expect(missing).toEqual([]);
  });
});
