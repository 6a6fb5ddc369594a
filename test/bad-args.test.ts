// bad-args.test.ts — arguments of the wrong kind get a typed FtheapError that names
// them, never a TypeError or RangeError from inside the facade, and change nothing
// (found by a user-style hunt: BigInt pointers, null arrays and threads, views past
// the memory, versions out of range).
import { describe, expect, it } from 'vitest';
import { ErrorCode, Runtime } from '../src/index.ts';
import { codeOf } from './fixtures/util.ts';


describe('arguments of the wrong kind', () => {
  it('are typed errors, and the heap stays sound', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const p = t.alloc(24);
    const cases: [string, () => unknown, string][] = [
      ['free(1n)', () => t.free(1n as unknown as number), ErrorCode.EINVAL_PTR],
      ['usableSize(8n)', () => t.usableSize(8n as unknown as number), ErrorCode.EINVAL_PTR],
      ['realloc(8n, 8)', () => t.realloc(8n as unknown as number, 8), ErrorCode.EINVAL_PTR],
      ['allocMany(null, 8)', () => t.allocMany(null as unknown as number[], 8), ErrorCode.EINVAL_SIZE],
      ['freeMany(null)', () => t.freeMany(null as unknown as number[]), ErrorCode.EINVAL_ARG],
      ['interrupt(null)', () => t.interrupt(null as unknown as number), ErrorCode.EINVAL_ARG],
      ['view(-1, 10)', () => rt.view(-1, 10), ErrorCode.EINVAL_PTR],
      ['view(end - 4, 10)', () => rt.view(rt.memory.buffer.byteLength - 4, 10), ErrorCode.EINVAL_ARG],
      ['view(p, -1)', () => rt.view(p, -1), ErrorCode.EINVAL_ARG],
      ['setVersion(-1)', () => rt.domain().setVersion(-1), ErrorCode.EINVAL_ARG],
      ['setVersion(2 ** 24)', () => rt.domain().setVersion(2 ** 24), ErrorCode.EINVAL_ARG],
      ['setVersion(1.5)', () => rt.domain().setVersion(1.5), ErrorCode.EINVAL_ARG],
    ];
    for (const [what, f, code] of cases) expect(codeOf(f), what).toBe(code);
    expect(rt.view(p, 24).byteLength).toBe(24);
    rt.domain().setVersion(0xFFFFFF);
    expect(rt.domain().version).toBe(0xFFFFFF);
    t.free(p);
    t.validate();
    t.exit();
  });
});
