// races-stw.test.ts — the thread-record and stop-the-world races of issue 10,
// each forced with real workers on the DEBUG build (pause points of
// assembly/debug-delay.ts, or an order of events enforced through flags), and
// stop-the-world's time limits.
//
// - Record reuse vs list walks (item 1): a worker re-attaching on a reused record
//   is paused (DP_THREAD_REUSE) after the record's reset and before it is listed
//   again. Meanwhile, an older thread (listed behind the reused record on both
//   lists) must read back as live, not FREE (threadIsValid's walk), a restart
//   must resume it (the restart's walk), and a second stop must stop it (the
//   stop's scan). Before the fix the reset zeroed the list links: the state read
//   FREE, the restart skipped it (left SUSPENDED: its loop never resumed), the
//   scan missed it.
// - A non-blocking requester against another stop (item 4): N (joined with
//   { blocking: false }) asks for a global stop while X holds a domain stop that
//   waits for N. Its synchronous stop is EAGAIN at once (issue 13: it used to
//   poll); its stopTheWorldAsync waits for the reader/writer word detached, X
//   parks it: it must stay SUSPENDED for as long as X holds the world, and get its
//   own stop after. Before the issue-10 fix the (then polling) synchronous N
//   ignored attach's EAGAIN and detached again, storing DETACHED over SUSPENDED
//   (an assert in the debug build) and attaching inside X's stop.
// - A requester's misuse inside its own stop (items 5 and 7): exit, attaching a
//   new thread, and entering another thread of its instance are EINVAL_STATE, and
//   the world restarts after. Before: exit succeeded and the stop never ended;
//   attaching waited forever for a stop waiting for it.
// - Allocation inside a critical section with a stop pending (item 6): W holds a
//   section on m, waits until PLEASE_STOP is set on it, then allocates through
//   the slow path. The slow path must not pause (it would release m mid-section):
//   the stop happens only after W left the section (inside the stop, W's
//   "inside" word is 0), and m stays locked throughout W's section. Before: the
//   stop's body ran while W was inside its section with m unlocked.
// - Time limits: a stop held up by an attached thread that never checkpoints
//   throws ETIMEDOUT naming it (domain and global), the world runs again
//   (loopers go on, nothing left SUSPENDED or with PLEASE_STOP), and a stop
//   without that thread works after; a stop waiting for another requester's stop
//   times out with no blockers; attach({ timeoutMs }) of a suspended thread times
//   out and leaves it suspended; bad timeoutMs is EINVAL_OPTION.
// - 64 attached workers, one stopping the world 20 times (each with a time
//   limit): every stop succeeds, no deadlock, everyone exits.
import { describe, expect, it } from 'vitest';
import { Checkpoint, Runtime } from '../src/index.ts';
import { DP_ATTACH_CAS_FAILED, DP_THREAD_REUSE } from '../src/abi.gen.ts';
import { LIMIT, Peer, results, sleep, startWorkers, TEST_TIMEOUT, until, useHarness } from './fixtures/harness.ts';
import { counter, Ctl, flag, iters, newCtl, setCtl } from './fixtures/protocol.ts';
import type { RacesResult } from './fixtures/races-worker.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { LoopResult, StopResult } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();

interface Timed { code: string; blockers: number[]; states: number[]; words: number[] }

/** A debug-build runtime, and `words` zeroed words of shared memory (allocated by a thread then detached). */
async function debugRuntime(words = 4) {
  const rt = await Runtime.create({ debug: true });
  const main = rt.attach();
  const base = main.calloc(words, 4);
  main.detach();
  const i32 = () => new Int32Array(rt.memory.buffer);
  const word = (p: number) => Atomics.load(i32(), p >>> 2);
  /** Release an instance paused at a pause point whose flag is `p`. */
  const release = (p: number) => { Atomics.store(i32(), p >>> 2, 2); Atomics.notify(i32(), p >>> 2); };
  return { rt, main, base, word, release };
}

describe('record reuse vs list walks and stops (item 1)', () => {
  it('a reused record being reset hides no thread: state reads, a restart and a stop all reach the older thread', async () => {
    const { rt, base, word, release } = await debugRuntime();
    const pause = base;
    const ctl = newCtl();
    const [looper, reuser, requester] = await Promise.all(['looper', 'reuser', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    await looper.call('attach');                     // B: older than the record to be reused
    const b = await looper.call('id', 0);
    await reuser.call('attach');
    const r = await reuser.call('id', 0);
    await requester.call('attach');                  // newest: lists are requester -> r -> b -> ...
    await reuser.call('exit', 0);                    // its record is recyclable (it reads EXITED until reused)
    expect(rt.exports.ft_thread_state(r)).toBe(RawState.EXITED);
    const loops = looper.call<LoopResult>('loop', 0, { slot: 0, counter: counter(0) });
    await until(() => Atomics.load(ctl, iters(0)) > 0, LIMIT, 'loop running');

    // A stop, held; then the reuser re-attaches and pauses inside the reset of r.
    setCtl(ctl, Ctl.HOLD);
    const stop1 = requester.call<Timed>('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [b] });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, 'first stop');
    await reuser.call('pauseAt', DP_THREAD_REUSE, pause, 1);
    const attaching = reuser.call('attach');
    await until(() => word(pause) === 1, LIMIT, 'reuser paused in the reset of a reused record');

    // threadIsValid's walk (no lock): b is live, whatever r's record holds now.
    for (let i = 0; i < 100; i++) {
      const s = rt.exports.ft_thread_state(b);
      expect(rt.exports.ft_last_error(), 'ft_thread_state(b) failed: b not found on the thread list').toBe(0);
      expect(s).toBe(RawState.SUSPENDED);
    }
    // The restart's walk reaches b: its loop resumes (before the fix it stayed SUSPENDED forever).
    setCtl(ctl, Ctl.HOLD, 0);
    expect((await stop1).states).toEqual([RawState.SUSPENDED]);
    const at = Atomics.load(ctl, iters(0));
    await until(() => Atomics.load(ctl, iters(0)) > at + 5, 15_000, 'b resumed after the restart');
    expect(rt.exports.ft_thread_state(b)).not.toBe(RawState.FREE);

    // The stop's scan reaches b: a second stop (r still being reset) stops it.
    setCtl(ctl, Ctl.HOLD);
    const stop2 = requester.call<Timed>('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [b], holdMs: 0 });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 2, LIMIT, 'second stop');
    const frozen = Atomics.load(ctl, counter(0));
    await sleep(20);
    expect(Atomics.load(ctl, counter(0)), 'b ran while the world was stopped').toBe(frozen);
    release(pause);                                  // r is listed during the stop: SUSPENDED, attach waits
    await until(() => rt.exports.ft_thread_state(r) === RawState.SUSPENDED, LIMIT, 'r listed, suspended');
    setCtl(ctl, Ctl.HOLD, 0);
    expect((await stop2).states).toEqual([RawState.SUSPENDED]);
    expect(await attaching).toBe(1);
    expect(await reuser.call('id', 1)).toBe(r);      // the record was reused
    expect(await reuser.call('state', 1)).toBe('attached');
    setCtl(ctl, Ctl.STOP);
    expect((await loops).errors).toEqual([]);
  }, TEST_TIMEOUT);
});

// Forced with pause point DP_ATTACH_CAS_FAILED: W, asked to stop, suspends at its
// checkpoint; its re-attach's CAS (DETACHED -> ATTACHED) fails while it is
// SUSPENDED, and W pauses before it reads the state again. The stop completes and
// restarts (SUSPENDED -> DETACHED) meanwhile. W must then attach. Before the fix
// attach read DETACHED, took it for "not attachable" (ENOT_ATTACHED), and the
// checkpoint returned WOULD_BLOCK with W detached and no current thread on a
// worker that may block: the bench's Wasm checkpoint loop (which ignores the
// events) ran on with curThread 0, and its exit failed ENOT_ATTACHED (stwflake).
describe('a re-attach that races the restart (stwflake)', () => {
  it('a checkpoint whose attach CAS fails just before the restart returns attached, STOPPED', async () => {
    const { rt, base, word, release } = await debugRuntime();
    const pause = base;
    const ctl = newCtl();
    const [w, r] = await Promise.all(['worker', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    await w.call('attach');
    const wid = await w.call<number>('id', 0);
    await r.call('attach');
    await w.call('pauseAt', DP_ATTACH_CAS_FAILED, pause, 1);
    const stop = r.call<StopResult>('stop', 0, {});
    await until(() => (rt.exports.ft_thread_breaker(wid) & Checkpoint.PLEASE_STOP) !== 0, LIMIT, 'the stop asks W to stop');
    const cp = w.call<number>('checkpoint', 0);
    await until(() => word(pause) === 1, LIMIT, 'W suspended, its attach CAS failed');
    await stop;                                      // stopped (W accounted) and restarted
    expect(rt.exports.ft_thread_state(wid)).toBe(RawState.DETACHED);
    release(pause);
    const ev = await cp;
    expect(ev & Checkpoint.WOULD_BLOCK, 'WOULD_BLOCK on a worker that may block').toBe(0);
    expect(ev & Checkpoint.STOPPED).not.toBe(0);
    expect(await w.call('rawState', 0)).toBe(RawState.ATTACHED);
    expect(await w.call('current')).toBe(wid);
    await w.call('exit', 0);
  }, TEST_TIMEOUT);
});

describe('a requester that may not block, against another stop (item 4)', () => {
  it('parked while it waits for the reader/writer word, it stays SUSPENDED until that stop ends', async () => {
    const rt = await Runtime.create({ debug: true });
    const ctl = newCtl();
    const x = await Peer.start(rt, ctl, 'requester');
    const nb = await Peer.start(rt, ctl, 'nonblocking', { nonBlocking: true });
    await x.call('attach');
    await nb.call('attach');
    const n = await nb.call('id', 0);

    // X's domain stop waits for N (attached, idle: it never checkpoints).
    setCtl(ctl, Ctl.HOLD);
    const stopX = x.call<Timed>('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [n] });
    await until(() => (rt.exports.ft_thread_breaker(n) & Checkpoint.PLEASE_STOP) !== 0, LIMIT, 'X waits for N');
    // N's synchronous global stop does not wait (issue 13): EAGAIN at once, N still attached.
    expect(await nb.code('stop', 0, { global: true, stayAttached: true })).toBe('EAGAIN');
    expect(rt.exports.ft_thread_state(n)).toBe(RawState.ATTACHED);
    // Its async one: X holds the reader/writer word, so N waits detached; X parks it.
    const stopN = nb.call<StopResult>('stopAsync', 0, { global: true });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, "X's stop complete");
    expect(rt.exports.ft_thread_state(n)).toBe(RawState.SUSPENDED);
    // For as long as X holds the world, N stays parked, never DETACHED or ATTACHED.
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) { seen.add(rt.exports.ft_thread_state(n)); await sleep(2); }
    expect([...seen]).toEqual([RawState.SUSPENDED]);
    setCtl(ctl, Ctl.HOLD, 0);
    const rx = await stopX;
    expect(rx.code).toBe('OK');
    expect(rx.states).toEqual([RawState.SUSPENDED]);
    const rn = await stopN;
    expect(rn.inStop).toBe(2);                       // N got its own stop after X's
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(2);
    expect(await nb.call('state', 0)).toBe('detached');
  }, TEST_TIMEOUT);
});

describe("a requester's misuse inside its own stop (items 5 and 7)", () => {
  it('exit, attaching a new thread and entering another are EINVAL_STATE; the world restarts', async () => {
    const rt = await Runtime.create({ debug: true });
    const ctl = newCtl();
    const [looper, requester] = await Promise.all(['looper', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    await looper.call('attach');
    await requester.call('attach');                  // thread 0: the requester
    await requester.call('attach');                  // thread 1: another of its instance (0 detached)
    const loops = looper.call<LoopResult>('loop', 0, { slot: 0 });
    await until(() => Atomics.load(ctl, iters(0)) > 0, LIMIT, 'loop running');
    const live = rt.stats().threads.live;
    const r = await requester.callWithin(20_000, 'misuseInsideStop', 0, 1);
    expect(r).toMatchObject({ exit: 'EINVAL_STATE', attachNew: 'EINVAL_STATE', enterOther: 'EINVAL_STATE',
      state: 'attached', stateAfter: 'attached' });
    expect(rt.stats().threads.live).toBe(live);      // nothing exited, nothing attached
    const at = Atomics.load(ctl, iters(0));
    await until(() => Atomics.load(ctl, iters(0)) > at + 5, 15_000, 'the world runs again');
    // After the stop, all three work.
    expect(await requester.call('alloc', 1, 16)).toBeGreaterThan(0);
    await requester.call('exit', 0);
    expect(await requester.call('attach')).toBe(2);
    setCtl(ctl, Ctl.STOP);
    expect((await loops).errors).toEqual([]);
  }, TEST_TIMEOUT);
});

describe('allocation inside a critical section with a stop pending (item 6)', () => {
  it('the slow path does not pause inside a section: the stop happens after the section, its lock held throughout', async () => {
    const { rt, base, word } = await debugRuntime();
    const m = base, inside = base + 4;
    const ctl = newCtl();
    const [w, x] = await Promise.all(['sectioned', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    await w.call('attach');
    await x.call('attach');
    const inSection = w.call<{ lockedAfterAlloc: number; stopRanInside: boolean }>('csAllocDuringStop', 0, m, inside, flag(0));
    await until(() => Atomics.load(ctl, flag(0)) === 1, LIMIT, 'W inside its section');
    const stop = await x.call<Timed>('stopTimed', 0, { words: [inside, m] });
    const r = await inSection;
    expect(stop.code).toBe('OK');
    expect(stop.words, 'inside the stop: [W inside its section, m locked]').toEqual([0, 0]);
    expect(r).toEqual({ lockedAfterAlloc: 1, stopRanInside: false });
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);
});

describe('time limits', () => {
  it('ETIMEDOUT names the thread that held the stop up; the world runs again; attach({ timeoutMs })', async () => {
    const rt = await Runtime.create({ debug: true });
    const ctl = newCtl();
    const [blocker, looper, parked, requester, other] = await Promise.all(
      ['blocker', 'looper', 'parked', 'requester', 'other'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [blocker, looper, parked, requester]) await p.call('attach');
    await other.call('attach', rt.createDomain().id);   // another domain: a domain stop here does not park it
    const [bId, lId, pId] = await Promise.all([blocker, looper, parked].map((p) => p.call('id', 0)));
    await parked.call('detach', 0);
    await other.call('detach', 0);
    const loops = looper.call<LoopResult>('loop', 0, { slot: 0 });
    await until(() => Atomics.load(ctl, iters(0)) > 0, LIMIT, 'loop running');

    // The blocker is attached and idle (no checkpoint): every stop times out on it.
    for (const global of [false, true]) {
      const r = await requester.call<Timed>('stopTimed', 0, { global, timeoutMs: 150 });
      expect(r.code).toBe('ETIMEDOUT');
      expect(r.blockers).toEqual([bId]);
      expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(0);   // the function never ran
      // As it was: the blocker attached without a request, the parked one detached, the looper running.
      expect(rt.exports.ft_thread_state(bId)).toBe(RawState.ATTACHED);
      expect(rt.exports.ft_thread_breaker(bId) & Checkpoint.PLEASE_STOP).toBe(0);
      expect(rt.exports.ft_thread_state(pId)).toBe(RawState.DETACHED);
      const at = Atomics.load(ctl, iters(0));
      await until(() => Atomics.load(ctl, iters(0)) > at + 5, 15_000, 'the looper runs again');
      expect(rt.exports.ft_thread_state(lId)).not.toBe(RawState.SUSPENDED);
    }

    // Without the blocker attached, a timed stop succeeds; a global stop waiting for it times out, with no blockers.
    await blocker.call('detach', 0);
    setCtl(ctl, Ctl.HOLD);
    const held = requester.call<Timed>('stopTimed', 0, { timeoutMs: 20_000, holdSlot: Ctl.HOLD, ids: [pId] });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, 'world stopped');
    const r2 = await other.call<Timed>('stopTimed', 0, { timeoutMs: 100, global: true });
    expect(r2).toMatchObject({ code: 'ETIMEDOUT', blockers: [] });
    // attach({ timeoutMs }) of a parked thread: ETIMEDOUT, still suspended.
    expect(rt.exports.ft_thread_state(pId)).toBe(RawState.SUSPENDED);
    expect(await parked.call('attachTimed', 0, 100)).toEqual({ code: 'ETIMEDOUT', state: 'suspended' });
    expect(rt.exports.ft_thread_state(pId)).toBe(RawState.SUSPENDED);
    setCtl(ctl, Ctl.HOLD, 0);
    expect(await held).toMatchObject({ code: 'OK', states: [RawState.SUSPENDED] });
    expect(await parked.call('attachTimed', 0, 20_000)).toEqual({ code: 'OK', state: 'attached' });
    await parked.call('detach', 0);
    expect((await other.call<Timed>('stopTimed', 0, { timeoutMs: 20_000, global: true, holdMs: 1 })).code).toBe('OK');
    setCtl(ctl, Ctl.STOP);
    expect((await loops).errors).toEqual([]);
  }, TEST_TIMEOUT);

  it('bad timeoutMs is EINVAL_OPTION, naming it', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    for (const bad of [-1, NaN, '5', null]) {
      expect(codeOf(() => t.stopTheWorld(() => 0, { timeoutMs: bad as number }))).toBe('EINVAL_OPTION');
    }
    expect(() => t.attach({ timeoutMs: -5 })).toThrow(/timeoutMs must be a number >= 0, got -5/);
    expect(t.stopTheWorld(() => 7, { timeoutMs: 1000 })).toBe(7);   // alone in its domain: nothing to wait for
    expect(t.stopTheWorldGlobal(() => 8, { timeoutMs: Infinity })).toBe(8);
  });
});

describe('many workers', () => {
  it('64 attached workers, one stopping the world 20 times: every stop succeeds, no deadlock', async () => {
    const rt = await Runtime.create({ maximumMemory: 2 * 2 ** 30 });
    const ctl = newCtl();
    const N = 64, STOPS = Number(process.env.STOPS ?? 20);
    const started = await startWorkers<RacesResult>(rt, { fixture: 'races-worker', count: N, ctl,
      data: () => ({ stops: STOPS, timeoutMs: 60_000 }) });
    await until(() => Atomics.load(ctl, Ctl.READY) === N, 4 * LIMIT, 'workers attached');
    setCtl(ctl, Ctl.GO);
    const rs = await results(started, 4 * LIMIT, 'workers');
    for (const r of rs) expect(r.errors, `worker ${r.index}`).toEqual([]);
    expect(rs[0].stops).toBe(STOPS);
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(STOPS);
    expect(rs.slice(1).reduce((s, r) => s + r.stopped, 0)).toBeGreaterThan(0);
    expect(rt.stats().threads.live).toBe(0);
    console.log(`64 workers: ${STOPS} stops; the memory grew to ${rt.memory.buffer.byteLength >> 20} MiB`);
  }, 5 * LIMIT);
});
