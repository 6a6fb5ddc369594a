// remote-free.test.ts — batched remote frees (assembly/remote-free.ts): in a run of raw
// ft_free calls into one page of another thread, the blocks after the first RF_RUN_MIN
// wait in the freer's slot until a flush; every flush point publishes them; frees
// spread over pages go out at once; a double free is found in any thread's slot; a slot
// survives its thread's death (the reap flushes it) and a death inside a flush (the
// reap pushes what is left, once). The facade's free and freeMany publish before
// they return.
import { describe, expect, it } from 'vitest';
import { DP_REVIEW_FREE_MT_PUSHED, DP_RF_FLUSH_LINKED, EDOUBLE_FREE, RF_RUN_MIN, RF_SLOT_MAX } from '../src/abi.gen.ts';
import { type Thread } from '../src/index.ts';
import { Peer, until, useHarness, within } from './fixtures/harness.ts';
import { batchingWorkers, expectHandedOutOnce, flushPausedAt, fullPageChain, used } from './fixtures/remote-free.ts';
import { newCtl } from './fixtures/protocol.ts';
import { codeOf, pauseFlag } from './fixtures/util.ts';

useHarness();

/**
 * Main's thread `t`, and a worker attached as the freer (a thread of another
 * instance: on one instance, making another thread current detaches, and so
 * flushes, the one before).
 */
async function setup(debug = false) {
  const { rt, t, peers: [w] } = await batchingWorkers(1, [0], debug);
  const wid = await w.call<number>('id', 0);
  /** The worker frees `ps` with the raw, batching ft_free: every code must be 0. */
  const rawFree = async (ps: ArrayLike<number>) => {
    const list = Array.from(ps);
    expect(await w.call('rawFree', 0, list)).toEqual(list.map(() => 0));
  };
  return { rt, t, w, wid, rawFree };
}

describe('remote frees are batched', () => {
  it('a raw remote free is counted live until its freer flushes; a checkpoint publishes it', async () => {
    const { t, w, rawFree } = await setup();
    const ps = t.allocMany(40, 48);    // one page: a run
    await rawFree(ps);
    expect(used(t)).toBe(40 - RF_RUN_MIN);   // the run's first go out at once; the rest wait in the worker's slot
    await w.call('checkpoint', 0);
    expect(used(t)).toBe(0);
    t.freeMany(expectHandedOutOnce(t, 40, 48));   // reused, each once
  });

  const points: Array<[string, (w: Peer, t: Thread) => Promise<unknown>]> = [
    ['detach', (w) => w.call('detach', 0)],
    ['exit', (w) => w.call('exit', 0)],
    ['collect', (w) => w.call('collect', 0)],
    ['the freer reading its stats', (w) => w.call('ownStats', 0)],
    ['the freer walking a heap', (w) => w.call('visitCount', 0)],
    ['a facade free of any block', async (w) => w.call('free', 0, await w.call<number>('alloc', 0, 16))],
    ['a facade freeMany', async (w) => w.call('freeManyBatch', 0, [await w.call<number>('alloc', 0, 16)])],
    ['a stop of the world by the freer', async (w, t) => {
      t.detach();                       // an attached thread that never checkpoints would hold the stop up
      await w.call('stopTimed', 0, { stayAttached: true });
      t.attach();
    }],
  ];
  it.each(points)('%s publishes it', async (_, flush) => {
    const { t, w, rawFree } = await setup();
    const ps = t.allocMany(10, 100);
    await rawFree(ps);
    expect(used(t)).toBe(10 - RF_RUN_MIN);
    await flush(w, t);
    expect(used(t)).toBe(0);
  });

  it(`a run is published once RF_SLOT_MAX (${RF_SLOT_MAX}) blocks are chained, and goes on chaining`, async () => {
    const { t, rawFree } = await setup();
    const n = RF_RUN_MIN + RF_SLOT_MAX;
    const ps = t.allocMany(n + 5, 32);   // one page
    await rawFree(ps.subarray(0, n - 1));
    expect(used(t)).toBe(5 + 1 + RF_SLOT_MAX - 1);   // the extra 5, the one not freed yet, the chain
    await rawFree(ps.subarray(n - 1, n));
    expect(used(t)).toBe(5);
    await rawFree(ps.subarray(n));     // the run goes on: these are chained at once
    expect(used(t)).toBe(5);
  });

  it('off by default: an instance that did not turn batching on publishes every remote free at once', async () => {
    const { t, w, rawFree } = await setup();
    await w.call('remoteBatching', 0);
    await rawFree(t.allocMany(40, 48));
    expect(used(t)).toBe(0);
  });

  it('a checkpoint also publishes the remote frees it made itself (its delayed frees)', async () => {
    const { t, w } = await setup();
    const ps = Array.from(t.allocMany(40, 48));
    await w.call('freeDelayedMany', 0, ps);
    t.checkpoint();                      // main, online, passes its quiescent state: the goal is reached
    await w.call('checkpoint', 0);       // frees the 40 (a run into main's page) and publishes them
    expect(await w.call('delayedPending', 0)).toBe(0);
    expect(used(t)).toBe(0);
  });

  it('frees that alternate between pages are published at once (no run, nothing held back)', async () => {
    const { t, rawFree } = await setup();
    const a = t.allocMany(20, 48), b = t.allocMany(20, 200);   // two pages
    await rawFree(Array.from(a).flatMap((p, i) => [p, b[i]]));
    expect(used(t)).toBe(0);
  });

  it('a second free of a block pending in another thread\'s table, or the freer\'s own, is EDOUBLE_FREE', async () => {
    const { rt, t, w, rawFree } = await setup();
    const ps = t.allocMany(5, 64);
    await rawFree(ps);
    for (const p of ps) expect(codeOf(() => t.free(p)), `owner frees ${p} again`).toBe('EDOUBLE_FREE');
    expect(await w.call('rawFree', 0, Array.from(ps))).toEqual(Array.from(ps, () => EDOUBLE_FREE));
    const v = rt.attach();
    for (const p of ps) expect(codeOf(() => v.free(p)), `a third thread frees ${p}`).toBe('EDOUBLE_FREE');
    await w.call('checkpoint', 0);
    expect(used(t)).toBe(0);
    expectHandedOutOnce(t, 5, 64);
  });

  it('blocks of full pages (in the owner\'s full queue) come back through the delayed path', async () => {
    const { t, w, rawFree } = await setup(true);
    const ps = t.allocMany(600, 1000);   // many full pages of one bin
    await rawFree(ps);                   // slots fill and flush on their own as well
    await w.call('checkpoint', 0);
    expect(used(t)).toBe(0);
    const again = t.allocMany(600, 1000);
    expect(new Set(again).size).toBe(600);
    t.validate();
    t.freeMany(again);
    t.validate();
  });

  it('a record reused after its thread exited starts with an empty table', async () => {
    const { rt, t, w, wid, rawFree } = await setup();
    await rawFree(t.allocMany(20, 48));
    expect(used(t)).toBe(20 - RF_RUN_MIN);
    await w.call('exit', 0);
    expect(used(t)).toBe(0);
    const [w2] = await Peer.startMany(rt, newCtl(), 1);
    await w2.call('attach');
    await w2.call('remoteBatching', 1);
    expect(await w2.call('id', 0)).toBe(wid);   // the same record
    const b = Array.from(t.allocMany(20, 48));
    expect(await w2.call('rawFree', 0, b)).toEqual(b.map(() => 0));
    expect(used(t)).toBe(20 - RF_RUN_MIN);
    await w2.call('checkpoint', 0);
    expect(used(t)).toBe(0);
  });
});

describe('remote frees of a thread that dies', () => {
  it('a worker terminated with remote frees pending: the reap publishes them', async () => {
    const { rt, t, w, wid, rawFree } = await setup();
    const ps = t.allocMany(50, 80);
    await rawFree(ps);
    expect(used(t)).toBe(50 - RF_RUN_MIN);
    await w.terminate();
    rt.domain().reap(wid);
    expect(used(t)).toBe(0);
    expectHandedOutOnce(t, 50, 80);
  }, 60_000);

  /**
   * Worker w frees a run of `n` of t's blocks (the first RF_RUN_MIN go out at once, the
   * rest wait chained in w's slot), is armed at `point` (hit `hits`), flushes at a
   * checkpoint, pauses there and is terminated; the reap of w follows.
   */
  async function killInFlush(n: number, size: number, point: number, hits = 1) {
    const { rt, t, w, wid, rawFree } = await setup(true);
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from(t.allocMany(n, size));
    await rawFree(ps);
    await flushPausedAt(w, point, f, hits);
    await w.terminate();
    await within(Promise.resolve().then(() => rt.domain().reap(wid)), 10_000, 'the reap');
    return { t, ps };
  }

  // Forced: the flush linked its chain's tail to the page's remote-free list (which
  // holds the run's first RF_RUN_MIN blocks, not collected) and dies before its CAS.
  // Correct: the reap pushes the chain once, every block comes back, each once. At
  // 1a0c1b1 the flush had marked its slot first and the reap dropped the chain (29
  // blocks counted live for good, their page pinned); following the chain's links
  // to its end instead of counting would run into the page's list and make a cycle.
  it('a worker terminated inside a flush before its push: the reap pushes the chain, once', async () => {
    const { t, ps } = await killInFlush(30, 80, DP_RF_FLUSH_LINKED);
    expect(used(t)).toBe(1);                          // the flag: the chain was pushed
    const again = expectHandedOutOnce(t, 2000, 80);
    for (const p of ps) expect(again.includes(p), `block ${p} back`).toBe(true);
  }, 60_000);

  // Forced: the flush's CAS pushed the chain and the worker dies right after (the
  // first pause point after it). Correct: the reap does not push it a second time.
  it('a worker terminated right after its flush pushed the chain: the reap does not push it again', async () => {
    const { t, ps } = await killInFlush(30, 80, DP_REVIEW_FREE_MT_PUSHED);
    expect(used(t)).toBe(1);
    const again = expectHandedOutOnce(t, 2000, 80);
    for (const p of ps) expect(again.includes(p), `block ${p} back`).toBe(true);
  }, 60_000);

  // Forced: a chain of a full page (DELAY_USE) goes out one block the delayed way
  // first; the worker dies inside that block's push, after it took the page's
  // FREEING. Correct: the reap pushes the rest of the chain; only the block in flight
  // may be lost, and nothing is handed out twice.
  it('a worker terminated while its flush sends a full page\'s block the delayed way: the rest is pushed, at most that block lost', async () => {
    const { rt, t, w, wid } = await setup(true);
    const f = pauseFlag(rt, t.alloc(8));
    const { chain } = await fullPageChain(rt, t, w, 10);   // its tail goes the delayed way first
    await flushPausedAt(w, DP_REVIEW_FREE_MT_PUSHED, f);   // inside that pushOne, FREEING taken
    await w.terminate();
    await within(Promise.resolve().then(() => rt.domain().reap(wid)), 10_000, 'the reap');
    const lost = used(t) - (64 + 1 - chain.length + 1);   // the 64, one more taken back, the flag; the chain pushed
    expect(lost, 'at most the block in flight lost').toBeLessThanOrEqual(1);
    expect(lost).toBeGreaterThanOrEqual(0);
    expectHandedOutOnce(t, 400, 1000);
  }, 60_000);
});
