// delayed-pending-free.test.ts — a block waiting for its delayed free (freeDelayed)
// may not be freed again meanwhile: free, freeMany and realloc refuse it with
// EDOUBLE_FREE (the message says a delayed free is coming), from any thread of
// the domain. Before, free() took it; the block was handed out again, and the
// delayed free then freed that new allocation (found by a user-style hunt).
import { describe, expect, it } from 'vitest';
import { ErrorCode, Runtime } from '../src/index.ts';
import { codeOf } from './fixtures/util.ts';


describe('a free of a block waiting for its delayed free', () => {
  it.each([['small', 64], ['large', 100_000], ['huge', 3 << 20]])('%s: refused until the delayed free ran, once', async (_, size) => {
    const rt = await Runtime.create();
    const d = rt.domain();
    const t = d.attach();
    const p = t.alloc(size);
    t.freeDelayed(p);
    expect(codeOf(() => t.free(p))).toBe(ErrorCode.EDOUBLE_FREE);
    try { t.free(p); } catch (e) { expect((e as Error).message).toMatch(/waits for its delayed free/); }
    expect(codeOf(() => t.realloc(p, size * 2))).toBe(ErrorCode.EDOUBLE_FREE);
    expect(codeOf(() => t.freeMany([p]))).toBe(ErrorCode.EDOUBLE_FREE);
    const t2 = d.attach();   // another thread of the domain
    expect(codeOf(() => t2.free(p))).toBe(ErrorCode.EDOUBLE_FREE);
    t2.exit();
    t.attach();
    // the delayed free runs once; the address may then be handed out again and freed normally
    for (let i = 0; i < 3; i++) { t.checkpoint(); t.processDelayed(); }
    const info = d.qsbrInfo();
    expect([info.delayedQueued, info.delayedFreed, info.delayedFailed, info.delayedPending]).toEqual([1, 1, 0, 0]);
    const again: number[] = [];
    for (let i = 0; i < 4096 && !again.includes(p); i++) again.push(t.alloc(size));
    for (const q of again) t.free(q);
    t.validate();
    expect(rt.stats().totals.blocksUsed).toBe(0);
    t.exit();
  });
});
