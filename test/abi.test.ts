// abi.test.ts — one source for the constants the core and the facade share: the
// generated src/abi.gen.ts is what assembly/'s @abi regions say, the facade's
// tables come from it, and an unknown core code is an internal error (never a guess).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ABI_ERRORS, ABI_THREAD_STATES, EAGAIN, ENOMEM } from '../src/abi.gen.ts';
import { Checkpoint, ErrorCode, FtheapError, Tag } from '../src/index.ts';
import { coreError } from '../src/errors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('ABI constants', () => {
  it('src/abi.gen.ts is current with the @abi regions of assembly/', () => {
    expect(() => execFileSync('node', ['scripts/gen-abi.mjs', '--check'], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });

  it('every core error code has a facade name, and the names match', () => {
    for (const [name, code] of Object.entries(ABI_ERRORS)) {
      if (name === 'OK') { expect(code).toBe(0); continue; }
      expect(Object.values(ErrorCode)).toContain(name);
      const e = coreError(code);
      expect(e).toBeInstanceOf(FtheapError);
      expect(e.code).toBe(name);
    }
    expect(coreError(ENOMEM).code).toBe('ENOMEM');
    expect(coreError(EAGAIN).code).toBe('EAGAIN');
  });

  it('an unknown core code (or none) is EINTERNAL and says which code, never ENOMEM', () => {
    for (const code of [0, 999, -3]) {
      const e = coreError(code);
      expect(e.code).toBe('EINTERNAL');
      expect(e.message).toContain(`core code ${code}`);
    }
  });

  it('the public tables are the core numbers', () => {
    expect(Tag).toEqual({ MEM: 0, OBJECT: 1, GC: 2, GC_PRE: 3, USER: 4 });
    expect(Checkpoint.PLEASE_STOP).toBe(1);
    expect(Checkpoint.WOULD_BLOCK).toBe(1 << 10);
    expect(Object.keys(ABI_THREAD_STATES)).toEqual(['THREAD_FREE', 'THREAD_ATTACHED', 'THREAD_DETACHED',
      'THREAD_SUSPENDED', 'THREAD_EXITED']);
  });
});
