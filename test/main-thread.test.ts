// main-thread.test.ts — a JS thread that may not block (a browser's main thread),
// simulated in Node with Runtime.create({ blocking: false }), with real workers
// (thread-worker.ts, blocking) on the same shared memory. Issue 13.
//
// - Anything that would wait fails fast with EAGAIN, naming the async variant, and
//   changes nothing: lock and criticalSection(2) of a mutex a worker holds, a
//   write to a SharedMap whose writers' mutex a worker holds, a synchronous
//   stop-the-world that an attached, idle worker holds up.
// - lockAsync / criticalSectionAsync / withLockAsync get the lock once the
//   worker releases it.
// - stopTheWorldAsync pauses a busy worker (its loop counter does not move while
//   fn runs; its state is SUSPENDED) and restarts it; with a worker that never
//   checkpoints it times out (ETIMEDOUT, that worker in `blockers`), other code of
//   the JS thread runs meanwhile, and the world runs after as before.
// - stopTheWorldAsync against a worker's stop: it waits detached, is parked by
//   that stop (never runs inside it), times out with no blockers leaving that stop
//   alone, and gets its own stop once the worker's ends.
// - The async variants work on a thread that may block too.
// - withLockAsync writes contend correctly with a worker writing the same map or
//   list: a read-modify-write inside the callback loses no update (exact counts).
// - Messages: a bad mutex address, a destroyed structure, a detached or exited thread.
// No timing is asserted: "promptly" is only that the call returns.
import { describe, expect, it } from 'vitest';
import { Checkpoint, FtheapError, Runtime, SharedList, SharedMap, SharedObjectMap } from '../src/index.ts';
import { LIMIT, Peer, pendingAfter, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { iters, newCtl, setCtl, Ctl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { LoopResult } from './fixtures/thread-shared.ts';

useHarness();

/** The FtheapError `f` throws (fails the test if it does not). */
function errorOf(f: () => unknown): FtheapError {
  try { f(); } catch (e) {
    if (e instanceof FtheapError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

async function rejection(p: Promise<unknown>): Promise<FtheapError> {
  try { await p; } catch (e) {
    if (e instanceof FtheapError) return e;
    throw e;
  }
  throw new Error('did not reject');
}

/** A non-blocking runtime with a thread attached here, and one worker (attached). */
async function mainAndWorker() {
  const rt = await Runtime.create({ blocking: false });
  expect(rt.canBlock).toBe(false);
  const t = rt.attach();
  const ctl = newCtl();
  const w = await Peer.start(rt, ctl, 'worker');
  await w.call('attach');
  const wid = await w.call('id', 0);
  const word = (p: number) => Atomics.load(new Int32Array(rt.memory.buffer), p >>> 2);
  return { rt, t, ctl, w, wid, word };
}

describe('a thread that may not block: EAGAIN, then the async variants', () => {
  it('lock, criticalSection(2) of a held mutex: EAGAIN, nothing changed; lockAsync / criticalSectionAsync get it after the release', async () => {
    const { t, w, word } = await mainAndWorker();
    const m = t.calloc(2, 4), m2 = m + 4;
    await w.call('lock', 0, m);
    expect(word(m)).toBe(1);   // LOCKED, no waiter

    const e = errorOf(() => t.lock(m));
    expect(e.code).toBe('EAGAIN');
    expect(e.message).toContain('lockAsync');
    expect(errorOf(() => t.lock(m, { timeoutMs: 50 })).code).toBe('EAGAIN');
    let ran = false;
    const ec = errorOf(() => t.criticalSection(m, () => { ran = true; }));
    expect(ec.code).toBe('EAGAIN');
    expect(ec.message).toContain('criticalSectionAsync');
    const ec2 = errorOf(() => t.criticalSection2(m2, m, () => { ran = true; }));
    expect(ec2.code).toBe('EAGAIN');
    expect(ran).toBe(false);
    expect(word(m)).toBe(1);            // no waiter counted
    expect(word(m2)).toBe(0);           // the other one given back
    expect(t.runtime.exports.ft_cs_depth()).toBe(0);
    expect(t.tryLock(m)).toBe(false);

    const locked = t.lockAsync(m);
    expect(await pendingAfter(locked, 30)).toBe(true);
    expect(word(m) >>> 3).toBe(1);      // counted as a waiter
    await w.call('unlock', 0, m);
    await within(locked, LIMIT, 'lockAsync');
    expect(t.state).toBe('attached');

    const section = t.criticalSectionAsync(m, () => { ran = true; return t.runtime.exports.ft_cs_depth(); });
    const section2 = t.criticalSection2Async(m, m2, () => 'two');
    expect(await pendingAfter(section, 30)).toBe(true);
    expect(ran).toBe(false);
    t.unlock(m);
    expect(await within(section, LIMIT, 'criticalSectionAsync')).toBe(1);
    expect(await within(section2, LIMIT, 'criticalSection2Async')).toBe('two');
    expect([word(m), word(m2)]).toEqual([0, 0]);
    expect(t.runtime.exports.ft_cs_depth()).toBe(0);
  }, TEST_TIMEOUT);

  it('a SharedMap write while a worker holds its writers\' mutex: EAGAIN, unchanged; withLockAsync writes after the release', async () => {
    const { t, w, word } = await mainAndWorker();
    const map = SharedMap.create(t);
    const list = SharedList.create(t);
    await w.call('lock', 0, map.handle + 4);
    const e = errorOf(() => map.set(1, 1));
    expect(e.code).toBe('EAGAIN');
    expect(e.message).toContain('withLockAsync');
    expect(errorOf(() => map.delete(1)).code).toBe('EAGAIN');
    expect(map.get(1)).toBeUndefined();   // lock-free reads never wait
    list.push(3);                         // another structure: not held

    const p = map.withLockAsync(() => { map.set(1, 5); map.set(2, 6); return map.delete(2); });
    expect(await pendingAfter(p, 30)).toBe(true);
    await w.call('unlock', 0, map.handle + 4);
    expect(await within(p, LIMIT, 'withLockAsync')).toBe(true);
    expect([map.get(1), map.get(2), word(map.handle + 4)]).toEqual([5, undefined, 0]);
    map.destroy();
    list.destroy();
  }, TEST_TIMEOUT);

  it('withLockAsync contends correctly with a worker writing the same map and list: exact counts', async () => {
    const { t, w } = await mainAndWorker();
    const map = SharedMap.create(t);
    const list = SharedList.create(t);
    const N = 3000, M = 300;
    const inc = w.call('mapIncrements', 0, map.handle, 7, N);
    // A read-modify-write: only atomic if the callback holds the writers' lock throughout.
    for (let i = 0; i < M; i++) {
      await map.withLockAsync(() => { const v = map.get(7) ?? 0; map.set(7, v + 1); });
    }
    expect(await inc).toBe(N);
    expect(map.get(7)).toBe(N + M);

    const pushes = w.call('listPushes', 0, list.handle, N);
    // push then set the item just pushed: only its own if no writer came in between.
    const MARK = 0xFFFFFFFF;
    for (let i = 0; i < M; i++) await list.withLockAsync(() => { list.push(0); if (i % 2 === 0) list.set(list.length - 1, MARK); });
    expect(await pushes).toBe(N);
    expect(list.length).toBe(N + M);
    const items = list.toArray();
    expect(items.filter((v) => v === 0).length).toBe(M / 2);
    expect(items.filter((v) => v === MARK).length).toBe(M / 2);
    expect(items.filter((v) => v !== 0 && v !== MARK)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(t.runtime.exports.ft_debug_map_valid(map.handle)).toBe(1);
    map.destroy();
    list.destroy();
  }, TEST_TIMEOUT);

  it('stopTheWorld here: EAGAIN while a worker stays attached; stopTheWorldAsync times out (world running, other code ran meanwhile)', async () => {
    const { rt, t, ctl, w, wid } = await mainAndWorker();   // the worker is attached and idle: it never checkpoints
    let ran = false;
    const e = errorOf(() => t.stopTheWorld(() => { ran = true; }));
    expect(e.code).toBe('EAGAIN');
    expect(e.message).toContain('stopTheWorldAsync');
    expect(e.blockers).toEqual([wid]);
    expect(errorOf(() => t.stopTheWorldGlobal(() => { ran = true; })).message).toContain('stopTheWorldGlobalAsync');
    expect(ran).toBe(false);
    expect(rt.exports.ft_thread_state(wid)).toBe(RawState.ATTACHED);

    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 5);
    const te = await rejection(t.stopTheWorldAsync(() => { ran = true; }, { timeoutMs: 150 }));
    clearInterval(timer);
    expect(te.code).toBe('ETIMEDOUT');
    expect(te.blockers).toEqual([wid]);
    expect(ran).toBe(false);
    expect(ticks).toBeGreaterThan(0);   // the JS thread was not blocked
    // Everything as before: the worker attached, and it runs (its loop's checkpoints do not pause).
    expect(rt.exports.ft_thread_state(wid)).toBe(RawState.ATTACHED);
    const loop = w.call<LoopResult>('loop', 0, { slot: 0 });
    await until(() => Atomics.load(ctl, iters(0)) > 20, LIMIT, 'the worker loops after the timed-out stop');
    setCtl(ctl, Ctl.STOP);
    const r = await loop;
    expect(r.errors).toEqual([]);
    expect(r.stopped).toBe(0);
    // Nothing left behind: a stop of this thread works now (the worker detached at the end of its loop).
    expect(await t.stopTheWorldAsync(() => 'ok')).toBe('ok');
  }, TEST_TIMEOUT);

  it('stopTheWorldAsync pauses a busy worker while fn runs (its counter frozen, SUSPENDED), then restarts it', async () => {
    const { rt, t, ctl, w, wid } = await mainAndWorker();
    const loop = w.call<LoopResult>('loop', 0, { slot: 0 });
    await until(() => Atomics.load(ctl, iters(0)) > 0, LIMIT, 'the worker loops');
    for (const global of [false, true]) {
      const fn = () => {
        const before = Atomics.load(ctl, iters(0));
        const state = rt.exports.ft_thread_state(wid);
        const end = performance.now() + 30;
        while (performance.now() < end) { /* the worker would loop many times here */ }
        return { before, after: Atomics.load(ctl, iters(0)), state };
      };
      const r = await within(global ? t.stopTheWorldGlobalAsync(fn) : t.stopTheWorldAsync(fn, { timeoutMs: 30_000 }),
        LIMIT, 'stopTheWorldAsync');
      expect(r.after, `global ${global}`).toBe(r.before);
      expect(r.state).toBe(RawState.SUSPENDED);
      const at = Atomics.load(ctl, iters(0));
      await until(() => Atomics.load(ctl, iters(0)) > at + 5, LIMIT, 'the worker runs again after the stop');
    }
    setCtl(ctl, Ctl.STOP);
    const lr = await loop;
    expect(lr.errors).toEqual([]);   // (it may pause in the allocator's slow path: STOPPED is not counted there)
    // fn must be synchronous: a promise is refused after the restart.
    expect((await rejection(t.stopTheWorldAsync(() => Promise.resolve(1)))).code).toBe('EINVAL_ARG');
    // ...and one that rejects later is handled, not an unhandled rejection (vitest fails the run on one).
    expect((await rejection(t.stopTheWorldAsync(() => new Promise((_, no) => setTimeout(() => no(new Error('late')), 5))))).code).toBe('EINVAL_ARG');
    await new Promise((r) => setTimeout(r, 20));
    expect(await t.stopTheWorldAsync(() => 2)).toBe(2);
  }, TEST_TIMEOUT);
});

describe('stopTheWorldAsync against another requester', () => {
  it('waits detached while a worker holds a stop (parked by it, never run inside it), times out cleanly, then gets its turn', async () => {
    const { rt, t, ctl, w, wid } = await mainAndWorker();
    const x = await Peer.start(rt, ctl, 'requester');
    await x.call('attach');
    await w.call('detach', 0);
    setCtl(ctl, Ctl.HOLD);
    const stopX = x.call('stop', 0, { holdSlot: Ctl.HOLD, ids: [t.id] });
    await until(() => (rt.exports.ft_thread_breaker(t.id) & Checkpoint.PLEASE_STOP) !== 0, LIMIT, 'X asks this thread to stop');
    // X's stop waits for this (attached) thread; ours finds the scope taken, so it waits detached and X parks it.
    let ran = 0;
    const timedOut = rejection(t.stopTheWorldAsync(() => { ran++; }, { timeoutMs: 200 }));
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, "X's stop complete");
    expect(rt.exports.ft_thread_state(t.id)).toBe(RawState.SUSPENDED);
    const te = await timedOut;
    expect(te.code).toBe('ETIMEDOUT');
    expect(te.blockers).toEqual([]);                // another stop held it up
    expect(rt.exports.ft_thread_state(t.id)).toBe(RawState.SUSPENDED);   // still parked by X: untouched

    const mine = t.stopTheWorldAsync(() => { ran++; return [Atomics.load(ctl, Ctl.IN_STOP), rt.exports.ft_thread_state(wid)]; });
    expect(await pendingAfter(mine, 50)).toBe(true);
    expect(ran).toBe(0);
    setCtl(ctl, Ctl.HOLD, 0);
    await within(stopX, LIMIT, "X's stop");
    expect(await within(mine, LIMIT, 'stopTheWorldAsync after X')).toEqual([1, RawState.SUSPENDED]);
    expect(ran).toBe(1);
    expect(rt.exports.ft_thread_state(wid)).toBe(RawState.DETACHED);   // restarted
  }, TEST_TIMEOUT);
});

describe('the async variants on a thread that may block', () => {
  it('criticalSectionAsync, lockAsync, withLockAsync and stopTheWorldAsync work there too', async () => {
    const rt = await Runtime.create();
    expect(rt.canBlock).toBe(true);
    const t = rt.attach();
    const m = t.calloc(1, 4);
    expect(await t.criticalSectionAsync(m, () => 1)).toBe(1);
    await t.lockAsync(m);
    t.unlock(m);
    const map = SharedMap.create(t);
    await map.withLockAsync(() => map.set(1, 2));
    expect(map.get(1)).toBe(2);
    expect(await t.stopTheWorldAsync(() => 3)).toBe(3);
    expect(await t.stopTheWorldGlobalAsync(() => 4)).toBe(4);
  });
});

describe('messages that said the wrong thing', () => {
  it('a bad mutex address says what a mutex must be, not "not the start of a block"', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    for (const f of [() => t.lock(3), () => t.tryLock(3), () => t.unlock(3), () => t.criticalSection(3, () => 0)]) {
      const e = errorOf(f);
      expect(e.code).toBe('EINVAL_PTR');
      expect(e.message).toContain('4-aligned 32-bit word');
      expect(e.message).not.toContain('start of a block');
    }
    const ea = await rejection(t.lockAsync(3));
    expect(ea.message).toContain('4-aligned 32-bit word');
  });

  it('a destroyed SharedList / SharedMap / SharedObjectMap says it was destroyed', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const list = SharedList.create(t), map = SharedMap.create(t), omap = SharedObjectMap.create(t);
    const other = SharedMap.open(t, map.handle);
    list.destroy(); map.destroy(); omap.destroy();
    for (const f of [() => list.push(1), () => list.length, () => map.set(1, 1), () => map.get(1), () => omap.size]) {
      const e = errorOf(f);
      expect(e.code).toBe('EINVAL_PTR');
      expect(e.message).toContain('destroyed');
      expect(e.message).not.toMatch(/\((list|map|object map) 0\)/);
    }
    // Destroyed through another object: the handle is not a live map any more.
    expect(errorOf(() => other.set(1, 1)).message).toContain('not a live map');
    expect((await rejection(map.withLockAsync(() => 0))).message).toContain('destroyed');
  });

  it('ENOT_ATTACHED says detached, or exited', async () => {
    const rt = await Runtime.create();
    const a = rt.attach(), b = rt.attach();
    a.detach();
    b.exit();
    const ea = errorOf(() => a.alloc(8));
    expect(ea.code).toBe('ENOT_ATTACHED');
    expect(ea.message).toContain('is detached');
    const eb = errorOf(() => b.alloc(8));
    expect(eb.code).toBe('ENOT_ATTACHED');
    expect(eb.message).toContain('has exited');
    expect(errorOf(() => b.exit()).message).toContain('has exited');
  });
});
