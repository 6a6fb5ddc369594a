// thread-state.test.ts — thread states, the interrupt request of the eval breaker,
// and the error codes of the thread calls, with real workers where it matters.
//
// - t.state goes attached -> detached -> attached -> exited (on main, and in a
//   worker as seen from main through the raw states).
// - A thread made while a stop-the-world is under way starts SUSPENDED, and
//   attaching it (a blocking worker) waits until the world restarts.
// - Non-blocking mode (Runtime.join(handle, { blocking: false }) in a worker):
//   attach() of a thread held by a stop throws EAGAIN and attachAsync() resolves
//   only after the restart; a checkpoint that must pause returns WOULD_BLOCK and
//   leaves the thread suspended; a thread made during a stop is suspended and its
//   calls throw EAGAIN until the restart; such a worker requests a stop with
//   stopTheWorldAsync and waits for a lock with lockAsync (lock() is EAGAIN: it
//   may not wait, issue 13); a lock lockAsync gets while the world is stopped
//   does not resolve before the restart (its thread cannot be attached before).
// - interrupt(): 3 workers checkpoint in a loop; main interrupts one by its
//   thread id, a worker interrupts another: only the targets' checkpoints throw
//   InterruptError (instanceof, code EINTERRUPTED), once each; others see nothing.
//   A detached target gets it at its first checkpoint after attaching.
// - ENOT_ATTACHED: allocating, freeing and the other calls through a detached
//   thread and through an exited one (facade and raw exports); interrupting an
//   exited (or recycled-free) thread.
import { describe, expect, it } from 'vitest';
import { Checkpoint, InterruptError, Runtime } from '../src/index.ts';
import { expectBalanced, LIMIT, Peer, pendingAfter, TEST_TIMEOUT, until, useHarness } from './fixtures/harness.ts';
import { counter, Ctl, flag, interrupts, iters, newCtl, setCtl } from './fixtures/protocol.ts';
import { ROOT, R_THREAD_LIST } from '../src/abi.gen.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { LoopResult, StopResult } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

/** The runtime-wide thread list's head (ROOT + R_THREAD_LIST, generated from assembly/layout.ts): the newest record. */
const NEWEST_THREAD = ROOT + R_THREAD_LIST;

useHarness();

describe('thread states', () => {
  it('attached -> detached -> attached -> exited (main)', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const seen = [t.state];
    t.detach();
    seen.push(t.state);
    t.attach();
    seen.push(t.state);
    t.free(t.alloc(10));
    t.exit();
    seen.push(t.state);
    expect(seen).toEqual(['attached', 'detached', 'attached', 'exited']);
  });

  it('attached -> detached -> attached -> exited (a worker, seen from main too)', async () => {
    const rt = await Runtime.create();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call('id', 0);
    const raw = () => rt.exports.ft_thread_state(id);
    const seen: Array<[string, number]> = [[await w.call('state', 0), raw()]];
    await w.call('detach', 0);
    seen.push([await w.call('state', 0), raw()]);
    await w.call('reattach', 0);
    seen.push([await w.call('state', 0), raw()]);
    await w.call('alloc', 0, 100);   // a live block: the record stays EXITED (not recycled)
    await w.call('exit', 0);
    seen.push([await w.call('state', 0), raw()]);
    expect(seen).toEqual([['attached', RawState.ATTACHED], ['detached', RawState.DETACHED],
      ['attached', RawState.ATTACHED], ['exited', RawState.EXITED]]);
  }, TEST_TIMEOUT);

  it('a thread made during a stop starts suspended; attaching it waits for the restart', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const [requester, late] = await Promise.all(['requester', 'late'].map((n) => Peer.start(rt, ctl, n)));
    await requester.call('attach');
    setCtl(ctl, Ctl.HOLD);
    const stop = requester.call<StopResult>('stop', 0, { holdSlot: Ctl.HOLD });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, 'world stopped');

    const attaching = late.call('attachFlagged', flag(0), flag(1));
    await until(() => Atomics.load(ctl, flag(0)) === 1, LIMIT, 'attach called');
    await until(() => rt.stats().threads.live === 2, LIMIT, 'the new record exists');
    const u32 = new Uint32Array(rt.memory.buffer);
    const newest = u32[NEWEST_THREAD >>> 2];
    expect(rt.exports.ft_thread_state(newest)).toBe(RawState.SUSPENDED);
    expect(await pendingAfter(attaching, 100)).toBe(true);   // waiting for the restart
    expect(Atomics.load(ctl, flag(1))).toBe(0);

    setCtl(ctl, Ctl.HOLD, 0);
    await stop;
    expect(await attaching).toBe(0);
    expect(Atomics.load(ctl, flag(1))).toBe(1);
    expect(await late.call('id', 0)).toBe(newest);
    expect(await late.call('state', 0)).toBe('attached');
    const p = await late.call('alloc', 0, 100);
    await late.call('free', 0, p);
  }, TEST_TIMEOUT);
});

describe('non-blocking mode (a worker joined with { blocking: false })', () => {
  async function world() {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const requester = await Peer.start(rt, ctl, 'requester');
    const nb = await Peer.start(rt, ctl, 'nonblocking', { nonBlocking: true });
    await requester.call('attach');
    const holdStop = async (ids: number[] = []) => {
      setCtl(ctl, Ctl.HOLD);
      const n = Atomics.load(ctl, Ctl.IN_STOP);
      const stop = requester.call<StopResult>('stop', 0, { holdSlot: Ctl.HOLD, ids });
      return { stop, stopped: () => until(() => Atomics.load(ctl, Ctl.IN_STOP) === n + 1, LIMIT, 'world stopped') };
    };
    const release = () => setCtl(ctl, Ctl.HOLD, 0);
    return { rt, ctl, requester, nb, holdStop, release };
  }

  it('attach() of a thread held by a stop throws EAGAIN; attachAsync() resolves after the restart', async () => {
    const { nb, holdStop, release } = await world();
    await nb.call('attach');
    await nb.call('detach', 0);
    const { stop, stopped } = await holdStop();
    await stopped();
    expect(await nb.call('state', 0)).toBe('suspended');
    expect(await nb.code('reattach', 0)).toBe('EAGAIN');
    expect(await nb.call('state', 0)).toBe('suspended');
    const attaching = nb.call<string>('attachAsync', 0);
    expect(await pendingAfter(attaching, 100)).toBe(true);
    release();
    await stop;
    expect(await attaching).toBe('attached');
    const p = await nb.call('alloc', 0, 64);
    await nb.call('free', 0, p);
  }, TEST_TIMEOUT);

  it('a checkpoint that must pause returns WOULD_BLOCK and leaves the thread suspended', async () => {
    const { nb, holdStop, release } = await world();
    await nb.call('attach');
    const id = await nb.call('id', 0);
    const { stop, stopped } = await holdStop([id]);   // waits for nb's attached thread
    const ev = await nb.call('checkpointUntil', 0, Checkpoint.WOULD_BLOCK);
    expect(ev & Checkpoint.WOULD_BLOCK).toBeTruthy();
    expect(ev & Checkpoint.STOPPED).toBeFalsy();
    await stopped();                                 // the stop counted it
    expect(await nb.call('state', 0)).toBe('suspended');
    expect(await nb.code('alloc', 0, 16)).toBe('EAGAIN');
    expect(await nb.code('checkpoint', 0)).toBe('EAGAIN');
    const attaching = nb.call<string>('attachAsync', 0);
    expect(await pendingAfter(attaching, 50)).toBe(true);
    release();
    expect((await stop).states).toEqual([RawState.SUSPENDED]);
    expect(await attaching).toBe('attached');
    expect(await nb.call('checkpoint', 0)).toBe(0);
  }, TEST_TIMEOUT);

  it('a thread made during a stop is suspended, its calls throw EAGAIN until the restart', async () => {
    const { nb, holdStop, release } = await world();
    const { stop, stopped } = await holdStop();
    await stopped();
    expect(await nb.call('attach')).toBe(0);
    expect(await nb.call('state', 0)).toBe('suspended');
    expect(await nb.call('current')).toBe(0);
    expect(await nb.code('alloc', 0, 16)).toBe('EAGAIN');
    release();
    await stop;
    const attached = nb.call<string>('attachAsync', 0);
    expect(await attached).toBe('attached');
    const p = await nb.call('alloc', 0, 16);
    await nb.call('free', 0, p);
  }, TEST_TIMEOUT);

  it('such a worker requests a stop with stopTheWorldAsync and waits for a lock with lockAsync (lock: EAGAIN)', async () => {
    const { rt, ctl, nb, requester } = await world();
    const main = rt.attach();
    const m = main.calloc(1, 4);
    main.detach();
    const [looper] = await Peer.startMany(rt, ctl, 1, 'looper');
    await looper.call('attach');
    await nb.call('attach');
    const loop = looper.call<LoopResult>('loop', 0, { slot: 0, counter: counter(0) });
    await until(() => Atomics.load(ctl, iters(0)) > 0, LIMIT, 'loop running');
    const reqId = await requester.call('id', 0);
    await requester.call('detach', 0);   // idle: an attached thread that never checkpoints would hold the stop up
    const s = await nb.call<StopResult>('stopAsync', 0, { counters: [counter(0)], holdMs: 10, ids: [reqId] });
    expect(s.after).toEqual(s.before);
    expect(s.states).toEqual([RawState.SUSPENDED]);   // the other worker's idle thread, parked
    setCtl(ctl, Ctl.STOP);
    expect((await loop).errors).toEqual([]);

    await looper.call('reattach', 0);
    await looper.call('lock', 0, m);
    await nb.call('reattach', 0);          // the stop left it detached
    expect(await nb.code('lock', 0, m)).toBe('EAGAIN');   // it may not wait (issue 13: it used to poll)
    const locking = nb.call('lockAsync', 0, m);
    expect(await pendingAfter(locking, 50)).toBe(true);
    await looper.call('unlock', 0, m);
    await locking;
    await nb.call('unlock', 0, m);
    expect(Atomics.load(new Int32Array(rt.memory.buffer), m >>> 2)).toBe(0);
  }, TEST_TIMEOUT);
});

describe('non-blocking mode: a lock freed while the world is stopped', () => {
  it('lockAsync() returns only once the thread is attached again, after the restart', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const main = rt.attach();
    const m = main.calloc(1, 4);
    main.detach();
    const [holder, requester] = await Promise.all(['holder', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    const nb = await Peer.start(rt, ctl, 'nonblocking', { nonBlocking: true });
    for (const p of [holder, requester, nb]) await p.call('attach');
    await holder.call('lock', 0, m);
    await holder.call('detach', 0);
    const nbId = await nb.call('id', 0);
    await nb.call('checkpoint', 0);           // attached
    const locking = nb.call<{ state: string; raw: number; hold: number }>('lockAsyncThenState', 0, m);
    await until(() => rt.exports.ft_thread_state(nbId) === RawState.DETACHED, LIMIT, 'nb waiting on the lock, detached');
    setCtl(ctl, Ctl.HOLD);
    const stop = requester.call<StopResult>('stop', 0, { holdSlot: Ctl.HOLD, ids: [nbId] });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, 'world stopped');
    await holder.call('unlock', 0, m);       // the lock frees up while nb's thread is suspended
    const earlyReturn = !(await pendingAfter(locking, 200));
    setCtl(ctl, Ctl.HOLD, 0);
    expect((await stop).states).toEqual([RawState.SUSPENDED]);
    const r = await locking;
    console.log(`non-blocking lock freed during a stop: returned early ${earlyReturn}, then ${JSON.stringify(r)}`);
    expect(r).toEqual({ state: 'attached', raw: RawState.ATTACHED, hold: 0 });
    expect(earlyReturn).toBe(false);
  }, TEST_TIMEOUT);
});

describe('interrupt', () => {
  it('hits only its target: main and a worker each interrupt one of 3 looping workers', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const loopers = await Peer.startMany(rt, ctl, 3, 'looper');
    const other = await Peer.start(rt, ctl, 'interrupter');
    for (const p of [...loopers, other]) await p.call('attach');
    const ids = await Promise.all(loopers.map((p) => p.call('id', 0)));
    const loops = loopers.map((p, i) => p.call<LoopResult>('loop', 0, { slot: i, allocs: 1 }));
    const itersOf = (i: number) => Atomics.load(ctl, iters(i));
    const more = async (n: number) => {
      const from = loopers.map((_, i) => itersOf(i));
      await until(() => loopers.every((_, i) => itersOf(i) >= from[i] + n), LIMIT, `${n} more iterations`);
    };
    await more(1);

    const main = rt.attach();
    main.interrupt(ids[1]);                        // by thread id
    await until(() => Atomics.load(ctl, interrupts(1)) === 1, LIMIT, 'looper1 interrupted');
    await more(50);
    await other.call('interrupt', 0, ids[2]);      // from another worker
    await until(() => Atomics.load(ctl, interrupts(2)) === 1, LIMIT, 'looper2 interrupted');
    await more(50);
    expect(main.checkpoint()).toBe(0);             // the interrupter itself is not disturbed
    expect(await other.call('checkpoint', 0)).toBe(0);
    setCtl(ctl, Ctl.STOP);
    const results = await Promise.all(loops);
    for (const r of results) expect(r.errors).toEqual([]);
    expect(results.map((r) => r.interrupts)).toEqual([0, 1, 1]);
    expect(results.map((r) => r.interruptsTyped)).toEqual([0, 1, 1]);   // instanceof InterruptError, code EINTERRUPTED
  }, TEST_TIMEOUT);

  it('a detached target gets it at its first checkpoint after attaching, once (main)', async () => {
    const rt = await Runtime.create();
    const a = rt.attach(), b = rt.attach();
    b.detach();
    a.interrupt(b);
    expect(a.checkpoint()).toBe(0);
    b.attach();
    let caught: unknown;
    try { b.checkpoint(); } catch (e) { caught = e; }
    expect(caught).toBeInstanceOf(InterruptError);
    expect((caught as InterruptError).code).toBe('EINTERRUPTED');
    expect(b.checkpoint()).toBe(0);
    expect(a.checkpoint()).toBe(0);
  });

  it('interrupting an exited thread: ENOT_ATTACHED (from main and from a worker)', async () => {
    const rt = await Runtime.create();
    const a = rt.attach(), b = rt.attach(), c = rt.attach();
    b.alloc(100);          // b leaves a live block (its segment is abandoned to the domain)
    b.exit();
    c.exit();              // c has none; both records are recyclable and read EXITED until reused
    expect(rt.exports.ft_thread_state(b.id)).toBe(RawState.EXITED);
    expect(rt.exports.ft_thread_state(c.id)).toBe(RawState.EXITED);
    expect(codeOf(() => a.interrupt(b))).toBe('ENOT_ATTACHED');
    expect(codeOf(() => a.interrupt(c.id))).toBe('ENOT_ATTACHED');
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    expect(await w.code('interrupt', 0, b.id)).toBe('ENOT_ATTACHED');
    expect(a.checkpoint()).toBe(0);
  }, TEST_TIMEOUT);
});

describe('ENOT_ATTACHED', () => {
  const calls = (t: import('../src/index.ts').Thread, p: number, m: number): Array<[string, () => unknown]> => [
    ['alloc', () => t.alloc(16)],
    ['alloc tagged', () => t.alloc(16, 4)],
    ['calloc', () => t.calloc(2, 8)],
    ['realloc', () => t.realloc(p, 64)],
    ['alignedAlloc', () => t.alignedAlloc(64, 64)],
    ['free', () => t.free(p)],
    ['usableSize', () => t.usableSize(p)],
    ['checkpoint', () => t.checkpoint()],
    ['stopTheWorld', () => t.stopTheWorld(() => 0)],
    ['lock', () => t.lock(m)],
    ['criticalSection', () => t.criticalSection(m, () => 0)],
    ['criticalSection2', () => t.criticalSection2(m, m + 4, () => 0)],
  ];

  it('every call through a detached thread, and the raw allocator with no current thread', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const p = t.alloc(16), m = t.calloc(2, 4);
    t.detach();
    for (const [name, f] of calls(t, p, m)) expect(codeOf(f), name).toBe('ENOT_ATTACHED');
    expect(rt.stats().totals.blocksUsed).toBe(2);   // nothing happened
    expect(rt.exports.ft_malloc(16)).toBe(0);
    expect(rt.exports.ft_last_error()).toBe(6);      // ENOT_ATTACHED
    t.attach();
    t.free(p);
    t.free(m);
    expectBalanced(rt);
  });

  it('every call through an exited thread', async () => {
    const rt = await Runtime.create();
    const keep = rt.attach();
    const t = rt.attach();
    const p = t.alloc(16), m = keep.calloc(2, 4);
    t.exit();
    for (const [name, f] of calls(t, p, m)) expect(codeOf(f), name).toBe('ENOT_ATTACHED');
    expect(codeOf(() => t.attach())).toBe('ENOT_ATTACHED');
    expect(codeOf(() => t.detach())).toBe('ENOT_ATTACHED');
    expect(codeOf(() => t.exit())).toBe('ENOT_ATTACHED');
    await expect(t.attachAsync()).rejects.toMatchObject({ code: 'ENOT_ATTACHED' });
    keep.free(p);
    keep.free(m);
    expectBalanced(rt);
  });

  it('through a detached or exited thread in a worker', async () => {
    const rt = await Runtime.create();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const p = await w.call('alloc', 0, 32);
    await w.call('detach', 0);
    expect(await w.code('alloc', 0, 16)).toBe('ENOT_ATTACHED');
    expect(await w.code('free', 0, p)).toBe('ENOT_ATTACHED');
    await w.call('reattach', 0);
    await w.call('exit', 0);
    expect(await w.code('alloc', 0, 16)).toBe('ENOT_ATTACHED');
    expect(await w.code('free', 0, p)).toBe('ENOT_ATTACHED');
    const t = rt.attach();
    t.free(p);
  }, TEST_TIMEOUT);
});
