// stop-the-world.test.ts — stopping the world with real workers on one shared memory.
//
// - A stop with 4 workers that allocate, free and checkpoint in a loop, one whose
//   thread is detached (it is parked directly, then attaches after the restart)
//   and one that exits while the stop is pending (PLEASE_STOP is in its breaker,
//   it never checkpoints): the stop completes, every stopped thread is SUSPENDED
//   inside it, the exited one is not waited for, and everything runs on after.
// - Nothing runs in a suspended thread: workers bump shared counters between
//   checkpoints; inside each of many stops the requester reads them, waits, and
//   reads them again: equal. Between stops they move again.
// - A checkpoint reports STOPPED when it paused, at most once per stop (a thread
//   slow to wake after a restart may be parked again by the next stop before it
//   re-attaches: one checkpoint then spans two stops), and nothing without a stop.
// - Two requesters in one domain, each stopping repeatedly while the other and
//   two loopers run: serialised, no hang, each sees the other suspended.
// - A function that throws, or that detaches the requester, still restarts the
//   world (the loopers go on).
// - EINVAL_STATE for a stop inside a stop (same scope, and global inside a
//   domain's stop and vice versa), and the thread stays usable after.
// Every blocking call happens in a worker and every await is time-limited
// (harness.ts), so a deadlock fails the test instead of hanging the run.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { LIMIT, Peer, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { counter, Ctl, flag, iters, newCtl, setCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { LoopResult, StopResult } from './fixtures/thread-shared.ts';

useHarness();

/** A fresh runtime with `n` looper workers and a requester worker, all attached. */
async function loopersAndRequester(n: number) {
  const rt = await Runtime.create();
  const ctl = newCtl();
  const loopers = await Peer.startMany(rt, ctl, n, 'looper');
  const requester = await Peer.start(rt, ctl, 'requester');
  for (const p of [...loopers, requester]) await p.call('attach');
  return { rt, ctl, loopers, requester };
}

/** Start `peers.length` checkpoint loops (thread 0 of each), slot i, bumping COUNTER; wait until all run. */
async function startLoops(ctl: Int32Array, peers: Peer[], extra: object = {}): Promise<Promise<LoopResult>[]> {
  const loops = peers.map((p, i) => p.call<LoopResult>('loop', 0, { slot: i, counter: counter(0), ...extra }));
  await until(() => peers.every((_, i) => Atomics.load(ctl, iters(i)) > 0), LIMIT, 'loops started');
  return loops;
}

describe('stop-the-world with workers', () => {
  it('stops 4 checkpointing workers, a detached one and one exiting during the stop; nothing hangs', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const loopers = await Peer.startMany(rt, ctl, 4, 'looper');
    const [idler, exiter, requester] = await Promise.all(['idler', 'exiter', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [...loopers, idler, exiter, requester]) await p.call('attach');
    const looperIds = await Promise.all(loopers.map((p) => p.call('id', 0)));
    const idlerId = await idler.call('id', 0), exiterId = await exiter.call('id', 0);

    const loops = await startLoops(ctl, loopers);
    const idle = idler.call<string>('idleDetached', 0, flag(0));
    await until(() => rt.exports.ft_thread_state(idlerId) === RawState.DETACHED, LIMIT, 'idler detached');
    const exiting = exiter.call<{ inStopAtExit: number; state: string }>('exitDuringStop', 0, flag(1),
      Ctl.REQUESTING);
    await until(() => Atomics.load(ctl, flag(1)) === 1, LIMIT, 'exiter ready');

    const stop = await requester.call<StopResult>('stop', 0, {
      announce: Ctl.REQUESTING, counters: [counter(0)], ids: [...looperIds, idlerId, exiterId], holdMs: 30,
    });
    const exited = await exiting;

    // Inside the stop: the loopers paused at a checkpoint (or the allocator's slow
    // path), the detached one parked, the exiting one gone; nobody ran.
    expect(stop.states).toEqual([...looperIds.map(() => RawState.SUSPENDED), RawState.SUSPENDED, RawState.EXITED]);
    expect(stop.statesAfter).toEqual(stop.states);
    expect(stop.after).toEqual(stop.before);
    // The exiter left while the stop was pending: before the stopped region began.
    expect(exited).toEqual({ inStopAtExit: 0, state: 'exited' });

    // The world runs again: every looper makes progress, the idler attaches.
    const itersAt = loopers.map((_, i) => Atomics.load(ctl, iters(i)));
    await until(() => loopers.every((_, i) => Atomics.load(ctl, iters(i)) > itersAt[i] + 10), LIMIT, 'loopers resumed');
    setCtl(ctl, flag(0));
    expect(await idle).toBe('attached');
    setCtl(ctl, Ctl.STOP);
    const results = await Promise.all(loops);
    for (const r of results) expect(r.errors).toEqual([]);
    console.log(`stop with 6 threads: loopers reported STOPPED ${results.map((r) => r.stopped).join(', ')} times`);

    expect(rt.stats().threads.live).toBe(6);   // 4 loopers, the idler, the requester
    const t = rt.attach();
    t.free(t.alloc(100));
  }, TEST_TIMEOUT);

  it('nothing runs in a suspended thread: counters are frozen inside every stop, and move between stops', async () => {
    const { ctl, loopers, requester } = await loopersAndRequester(4);
    const loops = await startLoops(ctl, loopers);

    const counters = [counter(0), ...loopers.map((_, i) => iters(i))];
    const stops = await requester.call<StopResult[]>('stopRepeat', 0, { n: 12, holdMs: 15, gapMs: 5, counters });
    setCtl(ctl, Ctl.STOP);
    const results = await Promise.all(loops);

    stops.forEach((s, i) => expect(s.after, `stop ${i}: counters moved while the world was stopped`).toEqual(s.before));
    expect(stops.at(-1)!.before[0]).toBeGreaterThan(stops[0].after[0]);   // the world ran between stops
    for (const r of results) expect(r.errors).toEqual([]);
  }, TEST_TIMEOUT);

  it('a checkpoint reports STOPPED at most once per stop, and not without one', async () => {
    const { ctl, loopers, requester } = await loopersAndRequester(2);
    // No allocation in the loop: the only place these threads can pause is their checkpoint.
    const loops = await startLoops(ctl, loopers, { allocs: 0 });
    const stops = await requester.call<StopResult[]>('stopRepeat', 0, { n: 5, holdMs: 2, gapMs: 2 });
    setCtl(ctl, Ctl.STOP);
    const results = await Promise.all(loops);
    expect(stops).toHaveLength(5);
    for (const r of results) {
      expect(r.errors).toEqual([]);
      expect(r.stopped).toBeGreaterThanOrEqual(1);
      expect(r.stopped).toBeLessThanOrEqual(5);
    }
    // Without a stop, a checkpoint reports nothing.
    await loopers[0].call('reattach', 0);
    expect(await loopers[0].call('checkpoint', 0)).toBe(0);
  }, TEST_TIMEOUT);

  it('two requesters in one domain take turns; each sees the other suspended', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const loopers = await Peer.startMany(rt, ctl, 2, 'looper');
    const requesters = await Peer.startMany(rt, ctl, 2, 'requester');
    for (const p of [...loopers, ...requesters]) await p.call('attach');
    const rIds = await Promise.all(requesters.map((p) => p.call('id', 0)));
    const loops = await startLoops(ctl, loopers);
    const N = 10;
    const stops = await within(Promise.all(requesters.map((p, i) => p.call<StopResult[]>('stopRepeat', 0, {
      n: N, holdMs: 2, gapMs: 1, counters: [counter(0)], ids: [rIds[1 - i]],
    }))), LIMIT, 'both requesters');
    setCtl(ctl, Ctl.STOP);
    const results = await Promise.all(loops);
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(2 * N);
    for (const s of stops.flat()) {
      expect(s.after).toEqual(s.before);
      expect(s.states).toEqual([RawState.SUSPENDED]);
    }
    for (const r of results) expect(r.errors).toEqual([]);
  }, TEST_TIMEOUT);
});

describe('the world restarts whatever the function does', () => {
  it('a function that throws: the error propagates and the world restarts', async () => {
    const { ctl, loopers: [looper], requester } = await loopersAndRequester(1);
    const loops = await startLoops(ctl, [looper]);
    await expect(requester.callWithin(20_000, 'stop', 0, { throwInside: true, stayAttached: true }))
      .rejects.toThrow(/thrown inside the stopped region/);
    await requester.call('detach', 0);
    const at = Atomics.load(ctl, iters(0));
    await until(() => Atomics.load(ctl, iters(0)) > at + 10, 10_000, 'the looper runs again after the stop');
    const again = await requester.callWithin<StopResult>(20_000, 'stop', 0, { counters: [counter(0)], holdMs: 5 });
    expect(again.after).toEqual(again.before);
    setCtl(ctl, Ctl.STOP);
    expect((await loops[0]).errors).toEqual([]);
  }, TEST_TIMEOUT);

  it('a function that detaches the requester (misuse): the world still restarts', async () => {
    const { ctl, loopers: [looper], requester } = await loopersAndRequester(1);
    const loops = await startLoops(ctl, [looper]);
    const r = await requester.callWithin<{ code: string; state: string }>(20_000, 'stopDetachInside', 0);
    console.log(`stopTheWorld(() => t.detach()): ${JSON.stringify(r)}`);
    const at = Atomics.load(ctl, iters(0));
    await until(() => Atomics.load(ctl, iters(0)) > at + 10, 10_000, 'the looper runs again after the stop');
    setCtl(ctl, Ctl.STOP);
    expect((await loops[0]).errors).toEqual([]);
  }, TEST_TIMEOUT);
});

describe('EINVAL_STATE: a stop inside a stop', () => {
  it.each([
    ['domain', 'domain', false, false],
    ['global', 'global', true, true],
    ['global', "domain's", false, true],
    ['domain', 'global', true, false],
  ])('a %s stop inside a %s stop fails, and the thread goes on', async (_inner, _outer, outerGlobal, innerGlobal) => {
    const { ctl, loopers: [looper], requester } = await loopersAndRequester(1);
    const loops = await startLoops(ctl, [looper]);
    const r = await requester.callWithin<{ code: string; state: string; afterwards: string }>(10_000, 'nestedStop', 0,
      outerGlobal, innerGlobal);
    setCtl(ctl, Ctl.STOP);
    expect((await loops[0]).errors).toEqual([]);
    expect(r).toEqual({ code: 'EINVAL_STATE', state: 'attached', afterwards: 'OK' });
  }, TEST_TIMEOUT);
});
