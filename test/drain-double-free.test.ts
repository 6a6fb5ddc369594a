// drain-double-free.test.ts — a second free of a block its owner is taking off its
// heap's delayed list (heap.ts heapDelayedFreeAll: the list moves from the heap to
// the owner's thread record, T_DRAIN_LIST, each block named in T_DRAIN_BLOCK while
// it is freed onto its page's local list). The double-free search (free.ts
// blockIsFree) must find the block wherever it is at every moment (review 3):
// - it searches the delayed lists before the page's own lists (the order a block
//   moves in): the other order missed a block the drain moved between the two looks;
// - its walk of T_DRAIN_LIST starts again when the owner popped meanwhile: a popped
//   block's link can be overwritten, or its page freed, which ended the walk early.
// Before either fix the second free returned OK and the heap was corrupted (a block
// on two lists: an out-of-bounds trap in the owner's next collect or validate).
// Debug build, real workers, pause points.
import { describe, expect, it } from 'vitest';
import { DP_DELAYED_DRAIN, DP_DRAIN_SEARCH_READ, DP_FREE_SEARCH_SPLIT, DP_PAGE_DECOMMITTED } from '../src/abi.gen.ts';
import { until, useHarness } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

const outcome = (p: Promise<unknown>) => p.then(() => 'OK', (e) => String((e as Error)?.message ?? e));
const SLICE = 32768;

describe('a second free racing the owner\'s drain of its delayed list', () => {
  it('the drain finishing between the search\'s two looks: EDOUBLE_FREE', async () => {
    const { t, f, peers: [w, y] } = await killRig(2);
    await w.call('attach');
    await y.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 100, 1024);   // 32 to a page: the first pages fill
    const x = blocks[5];
    t.free(x);                                            // on w's heap's delayed list
    await y.call('pauseAt', DP_FREE_SEARCH_SPLIT, f.addr, 1);
    const second = outcome(y.call('free', 0, x));
    await Promise.race([until(f.paused, 10_000, 'y between the two looks'), second]);
    await w.call('collect', 0);                           // w's drain moves x to its page's local list
    f.release();
    expect(await second).toMatch(/EDOUBLE_FREE|double/i);
    const again = await w.call<number[]>('allocMany', 0, 200, 1024);
    const live = [...blocks.filter((b) => b !== x), ...again];
    expect(new Set(live).size, 'no block handed out twice').toBe(live.length);
    await w.call('validate', 0);
    t.free(f.addr);
  }, 60_000);

  it('the owner popping past the search\'s walk (and freeing the page under it): EDOUBLE_FREE', async () => {
    const { rt, t, f, peers: [w, y] } = await killRig(2);
    const f2 = pauseFlag(rt, t.alloc(8));
    await w.call('attach');
    await y.call('attach');
    const blocks = await w.call<number[]>('allocMany', 0, 100, 1024);
    const pageOf = (p: number) => Math.floor(p / SLICE);
    const pages = [...new Set(blocks.map(pageOf))];
    const on = (i: number) => blocks.filter((b) => pageOf(b) === pages[i]);
    const b = on(0)[3], d = on(1)[3], c = on(2)[3];
    t.free(b); t.free(c); t.free(d);                       // w's delayed list: d -> c -> b
    await w.call('freeMany', 0, on(2).filter((q) => q !== c));   // c's page: c its only block in use
    await w.call('pauseAt', DP_DELAYED_DRAIN | (DP_PAGE_DECOMMITTED << 16), f.addr, 1);
    const drain = outcome(w.call('collect', 0));
    await until(f.paused, 10_000, 'w freeing d, its list c -> b');
    await y.call('pauseAt', DP_DRAIN_SEARCH_READ, f2.addr, 1);
    const second = outcome(y.call('free', 0, b));
    await until(f2.paused, 10_000, 'y read the list\'s head (c)');
    const word = new Int32Array(rt.memory.buffer, f.addr, 1);
    Atomics.store(word, 0, 2); Atomics.notify(word, 0);   // w goes on: frees d, then c, and c's page
    await until(() => Atomics.load(word, 0) === 1, 10_000, 'w freed c and its page');
    f2.release();
    expect(await second).toMatch(/EDOUBLE_FREE|double/i);
    f.release();
    expect(await drain).toBe('OK');
    await w.call('validate', 0);
    t.free(f.addr);
    t.free(f2.addr);
  }, 60_000);
});
