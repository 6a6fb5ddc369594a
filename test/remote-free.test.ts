// remote-free.test.ts — batched remote frees (assembly/remote-free.ts): in a run of raw
// ft_free calls into one page of another thread, the blocks after the first RF_RUN_MIN
// wait in the freer's slot until a flush; every flush point publishes them; frees
// spread over pages go out at once; a double free is found in any thread's slot; a slot
// survives its thread's death (the reap flushes it) and a death inside a flush (the
// chain leaks, never pushed twice). The facade's free and freeMany publish before
// they return.
import { describe, expect, it } from 'vitest';
import { DP_RF_FLUSH_CLEARED, EDOUBLE_FREE, RF_RUN_MIN, RF_SLOT_MAX } from '../src/abi.gen.ts';
import { type Thread } from '../src/index.ts';
import { Peer, until, useHarness, within } from './fixtures/harness.ts';
import { batchingWorkers, expectHandedOutOnce, used } from './fixtures/remote-free.ts';
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

  it('a worker terminated inside a flush (slot marked flushing, chain not pushed): the chain leaks, it is never pushed twice', async () => {
    const { rt, t, w, wid, rawFree } = await setup(true);
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from(t.allocMany(30, 80));
    await rawFree(ps);
    await w.call('pauseAt', DP_RF_FLUSH_CLEARED, f.addr, 1);
    const flushing = w.call('checkpoint', 0);
    flushing.catch(() => {});
    await until(f.paused, 10_000, 'the flush marked its slot');
    await w.terminate();
    await within(Promise.resolve().then(() => rt.domain().reap(wid)), 10_000, 'the reap');
    expect(used(t)).toBe(30 - RF_RUN_MIN + 1);   // the chain leaked (a free that never returned), and the flag
    const again = expectHandedOutOnce(t, 2000, 80);
    for (const p of ps.slice(RF_RUN_MIN)) expect(again.includes(p), `leaked block ${p} handed out`).toBe(false);
    t.validate();
  }, 60_000);
});
