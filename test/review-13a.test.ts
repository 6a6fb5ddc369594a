// review-13a.test.ts — adversarial review of issue 13 (calls that may not block fail
// fast with EAGAIN; the async variants). Real workers (thread-worker.ts).
//
// Defects found (each test failed before its fix):
// - An async stop's requester on a thread that may block, between two polls, took a
//   lock (lock, lock with timeoutMs, a SharedMap write) whose holder its own stop had
//   parked: a deadlock (the holder runs again only when the stop ends, which needs
//   this JS thread to poll). Now EAGAIN (thread.ts lockOrAgain, stwWaitingHere).
// - A critical section whose fn detached its thread (t.detach(), another thread of
//   this JS thread entered, a reap) was ended by attaching again, which re-took the
//   lock only to release it: on a thread that may not block, an unbounded, starved
//   poll (10 s here); and while a worker's stop held the thread, EAGAIN thrown from
//   the section's end, fn's result lost, the section left pushed and, after the next
//   attach, its lock held for good. Now it ends detached (ft_cs_end_detached).
// - A failed attach (EAGAIN, parked) detached the thread current here, but the
//   facade still took that one for current: its calls failed ENOT_ATTACHED.
// Checked and sound (tests pass as written): a worker killed while an async stop
// waits for it, reaped between polls; an async requester parked by a worker's stop
// whose worker is killed inside it, then reaped; an async requester in a worker
// killed mid-wait, then reaped; a sync requester vs an async one; two async
// requesters (domain / global) at once; other code between polls (another thread
// refused, lockAsync of the requester, a user detach); threads attaching,
// detaching, exiting, reaped and made between a sync stop's count and its first
// poll (pause point DP_STW_BEGUN).
import { describe, expect, it } from 'vitest';
import { Runtime, SharedMap } from '../src/index.ts';
import { DP_STW_BEGUN } from '../src/abi.gen.ts';
import { LIMIT, Peer, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { Ctl, flag, newCtl, setCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

describe('an async stop\'s requester between polls', () => {
  for (const what of ['lock', 'lockTimed', 'set'] as const) {
    it(`on a thread that may block: ${what === 'set' ? 'a SharedMap write' : what === 'lock' ? 'lock(m)' : 'lock(m, { timeoutMs })'} held by a thread its stop parked is EAGAIN, not a deadlock`, async () => {
      const rt = await Runtime.create();
      const t = rt.attach();   // attached and idle here: holds the requester's stop up until it detaches
      const ctl = newCtl();
      const map = SharedMap.create(t);
      const m = what === 'set' ? map.handle + 4 : t.calloc(1, 4);   // +4: the map's writers' mutex
      const w = await Peer.start(rt, ctl, 'holder');
      const x = await Peer.start(rt, ctl, 'requester');
      await w.call('attach');
      await x.call('attach');
      const wid = await w.call('id', 0);
      // W holds m (as a writer would across a slow write) and checkpoints: the stop parks it holding m.
      await w.call('lock', 0, m);
      const holding = w.call('checkpointsUntilFlag', 0, flag(0));
      const res = x.call<{ code: string; stopped: string }>('stopAsyncThen', 0, what, what === 'set' ? map.handle : m, 50);
      await until(() => rt.exports.ft_thread_state(wid) === RawState.SUSPENDED, LIMIT, 'W parked by X\'s stop');
      // Give X's synchronous call time to run while its stop still waits for this thread.
      await new Promise((r) => setTimeout(r, 200));
      t.detach();   // X's stop can complete now — if X's JS thread is free to poll
      const r = await within(res, 5_000, 'X: the call between polls, then its stop');
      expect(r).toEqual({ code: 'EAGAIN', stopped: 'stopped' });
      expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(1);
      setCtl(ctl, flag(0));
      await within(holding, LIMIT, 'W runs again');
      await w.call('unlock', 0, m);
      t.attach();
      map.destroy();
    }, TEST_TIMEOUT);
  }
});

describe('an async stop against dead and synchronous threads (thread that may not block)', () => {
  it('a worker killed while the stop waits for it, reaped between polls: the stop completes, the requester usable after', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    const ctl = newCtl();
    const w = await Peer.start(rt, ctl, 'doomed');
    await w.call('attach');
    const wid = await w.call('id', 0);
    let ran = 0;
    const stop = t.stopTheWorldAsync(() => { ran++; return rt.exports.ft_thread_state(wid); });
    await until(() => (rt.exports.ft_thread_breaker(wid) & 1) !== 0 || ran > 0, LIMIT, 'the stop asks W to stop');
    await w.terminate();                 // attached, counted, never checkpoints again
    await new Promise((r) => setTimeout(r, 30));
    expect(ran).toBe(0);
    const report = t.domain.reap(wid);   // between two polls of our own stop
    expect(report.heldLocks).toEqual([]);
    expect([RawState.EXITED, RawState.FREE]).toContain(await within(stop, 5_000, 'the stop after the reap'));
    expect(ran).toBe(1);
    // Nothing left behind on this instance: another thread attaches, a stop works, exit works.
    const p = t.alloc(64);
    t.free(p);
    const u = rt.attach();
    expect(await within(u.stopTheWorldAsync(() => 7), 5_000, 'a second stop')).toBe(7);
    u.exit();
    expect(await within(t.stopTheWorldAsync(() => 8, { timeoutMs: 5_000 }), 6_000, 'a third stop')).toBe(8);
    t.exit();
  }, TEST_TIMEOUT);

  it('waiting for the scope of a worker\'s stop (parked by it), the worker killed inside its stop, then reaped: ours completes', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    const ctl = newCtl();
    const x = await Peer.start(rt, ctl, 'doomed-requester');
    await x.call('attach');
    const xid = await x.call('id', 0);
    setCtl(ctl, Ctl.HOLD);
    void x.call('stopTimed', 0, { holdSlot: Ctl.HOLD }).catch(() => undefined);   // never returns: killed inside
    await until(() => (rt.exports.ft_thread_breaker(t.id) & 1) !== 0, LIMIT, "X's stop asks this thread to stop");
    let ran = 0;
    const mine = t.stopTheWorldAsync(() => { ran++; return 'mine'; });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, "X's stop complete (this thread parked)");
    expect(rt.exports.ft_thread_state(t.id)).toBe(RawState.SUSPENDED);
    await x.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(ran).toBe(0);
    t.domain.reap(xid);   // X's stop ends: this thread runs again, the scope is free
    expect(await within(mine, 5_000, 'our stop after the reap')).toBe('mine');
    expect(ran).toBe(1);
    expect(t.state).toBe('attached');
    expect(await within(t.stopTheWorldAsync(() => 2), 5_000, 'another stop')).toBe(2);
  }, TEST_TIMEOUT);

  it('an async requester in a worker killed while its stop waits (for this attached thread), then reaped: the world runs', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();   // attached and idle: X's stop waits for it
    const ctl = newCtl();
    const x = await Peer.start(rt, ctl, 'doomed-async-requester', { nonBlocking: true });
    const y = await Peer.start(rt, ctl, 'bystander');
    await x.call('attach');
    await y.call('attach');
    await y.call('detach', 0);
    const [xid, yid] = [await x.call('id', 0), await y.call('id', 0)];
    void x.call('stopAsync', 0, {}).catch(() => undefined);
    await until(() => (rt.exports.ft_thread_breaker(t.id) & 1) !== 0, LIMIT, "X's stop asks this thread to stop");
    await until(() => rt.exports.ft_thread_state(yid) === RawState.SUSPENDED, LIMIT, 'X parks the detached bystander');
    await x.terminate();
    t.domain.reap(xid);
    expect(rt.exports.ft_thread_state(yid)).toBe(RawState.DETACHED);        // restarted
    expect(rt.exports.ft_thread_breaker(t.id) & 1).toBe(0);                  // no stale request
    await y.call('reattach', 0);   // runs again
    await y.call('detach', 0);
    expect(await within(t.stopTheWorldAsync(() => rt.exports.ft_thread_state(yid), { timeoutMs: 5_000 }), 6_000, 'a stop after'))
      .toBe(RawState.SUSPENDED);
  }, TEST_TIMEOUT);

  it('a synchronous requester in a worker while ours waits: parked by ours, then gets its own stop', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    const ctl = newCtl();
    const y = await Peer.start(rt, ctl, 'idle');
    const x = await Peer.start(rt, ctl, 'sync-requester');
    await y.call('attach');
    await x.call('attach');
    const [yid, xid] = [await y.call('id', 0), await x.call('id', 0)];
    let seen: number[] = [];
    const mine = t.stopTheWorldAsync(() => { seen = [rt.exports.ft_thread_state(xid), Atomics.load(ctl, Ctl.IN_STOP)]; return 'mine'; });
    await until(() => (rt.exports.ft_thread_breaker(yid) & 1) !== 0, LIMIT, 'our stop asks Y to stop');
    // X asks for its own stop (sync, blocking): it finds the scope taken and waits detached.
    const theirs = x.call<{ code: string; states: number[] }>('stopTimed', 0, { ids: [t.id], timeoutMs: 10_000 });
    await until(() => rt.exports.ft_thread_state(xid) === RawState.SUSPENDED, LIMIT, 'X parked by our stop');
    await y.call('detach', 0);
    expect(await within(mine, 5_000, 'our stop')).toBe('mine');
    expect(seen).toEqual([RawState.SUSPENDED, 0]);   // X never ran its stop inside ours
    t.detach();                                       // X's stop would wait for this thread otherwise
    const r = await within(theirs, 15_000, "X's stop");
    expect(r.code).toBe('OK');
    expect(r.states).toEqual([RawState.SUSPENDED]);   // we were parked by X's
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(1);
    t.attach();
    expect(t.state).toBe('attached');
  }, TEST_TIMEOUT);
});

describe('a section whose fn detached the thread (thread that may not block)', () => {
  // Was: ending the section attached the thread again (reenterFor), and the attach re-took the
  // section's lock (csResumeTop) only for ft_cs_end to release it. Where the thread may not block
  // that re-take polled, uncounted, so a worker re-taking the lock in a loop starved it: the JS
  // thread froze (10 s here, until the worker stopped) — forever if the holder died. Now the
  // section ends detached (ft_cs_end_detached): no lock is needed to end it.
  it('criticalSectionAsync(m, () => t.detach()): the end does not wait for m', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    const ctl = newCtl();
    const m = t.calloc(1, 4);
    const w = await Peer.start(rt, ctl, 'holder');
    await w.call('attach');
    const HOLD_MS = 400;
    const loop = w.call('csHoldLoop', 0, m, HOLD_MS, 0);   // sections on m, HOLD_MS each
    let fnEnd = 0;
    const p = t.criticalSectionAsync(m, () => {
      t.detach();   // the section's lock is released; W, waiting for it, takes it
      const until = performance.now() + 2_000;
      while ((Atomics.load(new Int32Array(rt.memory.buffer), m >>> 2) & 1) === 0 && performance.now() < until) { /* spin */ }
      fnEnd = performance.now();
      return 'done';
    });
    expect(await within(p, 20_000, 'criticalSectionAsync')).toBe('done');
    const frozeMs = performance.now() - fnEnd;
    setCtl(ctl, Ctl.STOP);
    await within(loop, LIMIT, 'W');
    expect(t.state).toBe('detached');
    expect(frozeMs).toBeLessThan(HOLD_MS / 4);
  }, TEST_TIMEOUT);
});

describe('a section whose fn detached the thread, parked meanwhile by a worker\'s stop (thread that may not block)', () => {
  for (const variant of ['criticalSection', 'criticalSectionAsync'] as const) {
    it(`${variant}: the section ends cleanly (fn's result, no lock left held, depth 0)`, async () => {
      const rt = await Runtime.create({ blocking: false });
      const t = rt.attach();
      const ctl = newCtl();
      const m = t.calloc(1, 4);
      const x = await Peer.start(rt, ctl, 'requester');
      await x.call('attach');
      setCtl(ctl, Ctl.HOLD);
      const stop = x.call<{ code: string; states: number[] }>('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [t.id] });
      await until(() => (rt.exports.ft_thread_breaker(t.id) & 1) !== 0, LIMIT, "X's stop asks this thread to stop");
      const fn = () => {
        t.detach();   // the section's lock released; X's stop parks this thread now
        const end = performance.now() + 5_000;
        while (Atomics.load(ctl, Ctl.IN_STOP) === 0 && performance.now() < end) { /* spin */ }
        return 'fn';
      };
      let result: unknown;
      try {
        result = variant === 'criticalSection' ? t.criticalSection(m, fn) : await t.criticalSectionAsync(m, fn);
      } catch (e) {
        result = e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : e;
      }
      expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(1);
      setCtl(ctl, Ctl.HOLD, 0);
      expect((await within(stop, LIMIT, "X's stop")).states).toEqual([RawState.SUSPENDED]);
      await t.attachAsync();
      const word = Atomics.load(new Int32Array(rt.memory.buffer), m >>> 2);
      expect({ result, word, depth: rt.exports.ft_cs_depth() }).toEqual({ result: 'fn', word: 0, depth: 0 });
    }, TEST_TIMEOUT);
  }
});

describe('two async requesters at once (two JS threads that may not block)', () => {
  it('domain and global stops, 20 rounds: each completes, each runs with the other parked', async () => {
    const rt = await Runtime.create({ blocking: false });
    const t = rt.attach();
    const ctl = newCtl();
    const x = await Peer.start(rt, ctl, 'async-requester', { nonBlocking: true });
    await x.call('attach');
    const xid = await x.call('id', 0);
    await x.call('detach', 0);
    for (let i = 0; i < 20; i++) {
      const global = i % 3 === 1, xGlobal = i % 2 === 1;
      let seen = -1;
      const fn = () => { Atomics.add(ctl, Ctl.IN_STOP, 1); seen = rt.exports.ft_thread_state(xid); return i; };
      await t.attachAsync();
      // Once ours is done this thread detaches (attached and idle, it would hold X's stop up for good).
      const pm = (global ? t.stopTheWorldGlobalAsync(fn, { timeoutMs: 10_000 }) : t.stopTheWorldAsync(fn, { timeoutMs: 10_000 }))
        .finally(() => t.detach());
      const px = x.call<{ states: number[] }>('stopAsync', 0, { ids: [t.id], global: xGlobal });
      const [mine, theirs] = await within(Promise.all([pm, px]), 20_000, `round ${i}`);
      expect(mine).toBe(i);
      expect(seen, `round ${i}: X while ours ran`).toBe(RawState.SUSPENDED);
      expect(theirs.states, `round ${i}: this thread while X's ran`).toEqual([RawState.SUSPENDED]);
      expect(['detached', 'suspended']).toContain(t.state);
    }
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(40);
  }, TEST_TIMEOUT);
});

describe('other code of the JS thread between an async stop\'s polls (thread that may not block)', () => {
  it('another thread here is refused, a lockAsync of the requester detaches it, a detach is kept: the stop completes, nothing left behind', async () => {
    const rt = await Runtime.create({ blocking: false });
    const a = rt.attach();
    const b = rt.attach();
    const m = b.calloc(2, 4);
    b.detach();
    a.attach();
    const ctl = newCtl();
    const y = await Peer.start(rt, ctl, 'idle');
    await y.call('attach');
    const yid = await y.call('id', 0);
    await y.call('lock', 0, m);
    let inside: unknown[] = [];
    const stop = a.stopTheWorldAsync(() => { inside = [rt.exports.ft_thread_state(yid), rt.exports.ft_thread_state(b.id)]; return 'stopped'; });
    await until(() => (rt.exports.ft_thread_breaker(yid) & 1) !== 0, LIMIT, 'our stop asks Y to stop');
    const codes: string[] = [];
    const codeOf = (f: () => unknown) => { try { f(); return 'OK'; } catch (e) { return (e as { code?: string }).code ?? String(e); } };
    codes.push(codeOf(() => b.attach()));       // another thread here: refused while the stop waits
    codes.push(codeOf(() => rt.attach()));
    codes.push(codeOf(() => a.exit()));
    codes.push(codeOf(() => a.stopTheWorld(() => 0)));
    const locked = a.lockAsync(m);               // Y holds m: the requester waits detached
    await new Promise((r) => setTimeout(r, 20));   // (the polls re-attach it meanwhile: a requester stays attached)
    await y.call('unlock', 0, m);
    await within(locked, 5_000, 'lockAsync between polls');
    codes.push(a.state);
    a.unlock(m);
    a.detach();                                  // the user's detach: the polls re-attach for themselves only
    await y.call('detach', 0);
    expect(await within(stop, 5_000, 'the stop')).toBe('stopped');
    expect(codes).toEqual(['EINVAL_STATE', 'EINVAL_STATE', 'EINVAL_STATE', 'EINVAL_STATE', 'attached']);
    expect(inside[0]).toBe(RawState.SUSPENDED);
    expect(a.state).toBe('detached');
    expect(Atomics.load(new Int32Array(rt.memory.buffer), m >>> 2)).toBe(0);
    b.attach();                                   // allowed again
    b.exit();
    a.attach();
    expect(await within(a.stopTheWorldAsync(() => 2), 5_000, 'again')).toBe(2);
  }, TEST_TIMEOUT);
});

describe('a section whose thread another thread of this JS thread displaced inside fn, parked meanwhile (may not block)', () => {
  it('criticalSection: fn enters a thread of another domain; a worker\'s stop parks the section\'s thread: the section ends cleanly', async () => {
    const rt = await Runtime.create({ blocking: false });
    const a = rt.attach();
    const b = rt.createDomain().attach();   // another domain: the worker's domain stop leaves it alone
    const ctl = newCtl();
    const m = a.calloc(1, 4);
    const x = await Peer.start(rt, ctl, 'requester');
    await x.call('attach');
    setCtl(ctl, Ctl.HOLD);
    const stop = x.call<{ code: string; states: number[] }>('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [a.id] });
    await until(() => (rt.exports.ft_thread_breaker(a.id) & 1) !== 0, LIMIT, "X's stop asks A to stop");
    let result: unknown;
    try {
      result = a.criticalSection(m, () => {
        b.free(b.alloc(8));   // B current here: A detached (its section's lock released), and X parks it
        const end = performance.now() + 5_000;
        while (Atomics.load(ctl, Ctl.IN_STOP) === 0 && performance.now() < end) { /* spin */ }
        return 'fn';
      });
    } catch (e) {
      result = (e as { code?: string }).code ?? String(e);
    }
    setCtl(ctl, Ctl.HOLD, 0);
    expect((await within(stop, LIMIT, "X's stop")).states).toEqual([RawState.SUSPENDED]);
    await a.attachAsync();
    const word = Atomics.load(new Int32Array(rt.memory.buffer), m >>> 2);
    expect({ result, word, depth: rt.exports.ft_cs_depth() }).toEqual({ result: 'fn', word: 0, depth: 0 });
  }, TEST_TIMEOUT);
});

describe('a failed attach of a parked thread does not strand the current one (may not block)', () => {
  it('A parked by a worker\'s stop: A.alloc is EAGAIN, and B (current, another domain) still works', async () => {
    const rt = await Runtime.create({ blocking: false });
    const a = rt.attach();
    const b = rt.createDomain().attach();   // current now; A detached
    const ctl = newCtl();
    const x = await Peer.start(rt, ctl, 'requester');
    await x.call('attach');
    setCtl(ctl, Ctl.HOLD);
    const stop = x.call('stopTimed', 0, { holdSlot: Ctl.HOLD, ids: [a.id] });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, "X's stop (A parked)");
    expect(rt.exports.ft_thread_state(a.id)).toBe(RawState.SUSPENDED);
    b.free(b.alloc(8));
    const codeOf = (f: () => unknown) => { try { f(); return 'OK'; } catch (e) { return (e as { code?: string }).code ?? String(e); } };
    expect(codeOf(() => a.alloc(8))).toBe('EAGAIN');
    expect(codeOf(() => b.free(b.alloc(8)))).toBe('OK');
    expect(b.state).toBe('attached');
    setCtl(ctl, Ctl.HOLD, 0);
    await within(stop, LIMIT, "X's stop");
  }, TEST_TIMEOUT);
});

describe('the synchronous stop lets go of headLock between counting and its first poll', () => {
  it('threads attaching, detaching, exiting, reaped and new in that window: the stop completes with every live one parked', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    t.detach();   // counted (DETACHED), parked by the first poll
    const ctl = newCtl();
    const [x, a, b, c, d, e] = await Promise.all(['requester', 'detacher', 'attacher', 'exiter', 'killed', 'newcomer']
      .map((n) => Peer.start(rt, ctl, n)));
    for (const p of [x, a, b, c, d]) await p.call('attach');
    await b.call('detach', 0);
    const [aid, bid, cid, did] = await Promise.all([a, b, c, d].map((p) => p.call('id', 0)));
    await x.call('pauseAt', DP_STW_BEGUN, f.addr, 1);
    const stop = x.call<{ code: string; states: number[] }>('stopTimed', 0, { ids: [t.id, aid, bid, cid], timeoutMs: 10_000 });
    await until(f.paused, 10_000, 'X counted the threads, before its first poll');
    await a.call('detach', 0);                             // ATTACHED -> DETACHED
    await b.call('reattach', 0);                           // DETACHED -> ATTACHED (no stop check in attach)
    const bLoop = b.call('checkpointsUntilFlag', 0, flag(1));   // it pauses at its next checkpoint
    await c.call('exit', 0);                               // accounted at its exit
    await d.terminate();
    // Accounted by the reap: it counts D off X's stop first; X, paused holding its
    // stop, then makes it give up (EAGAIN, nothing else done) — reaped after the restart.
    let rep: { heldLocks: number[] } | undefined;
    try { rep = t.domain.reap(did); } catch (err) { expect((err as { code?: string }).code).toBe('EAGAIN'); }
    const eAttach = e.call('attach');                      // a new thread: starts SUSPENDED, waits for the restart
    eAttach.catch(() => undefined);
    f.release();
    const r = await within(stop, 15_000, "X's stop");
    expect(r.code).toBe('OK');
    expect(r.states.slice(0, 3)).toEqual([RawState.SUSPENDED, RawState.SUSPENDED, RawState.SUSPENDED]);
    // C's record: exited, free, or already the newcomer's (SUSPENDED: D's record was not free yet to reuse).
    expect([RawState.EXITED, RawState.FREE, RawState.SUSPENDED]).toContain(r.states[3]);
    expect(await within(eAttach, 10_000, 'the newcomer attaches after the restart')).toBe(0);
    setCtl(ctl, flag(1));
    await within(bLoop, 10_000, 'B runs again');
    rep ??= t.domain.reap(did);
    expect(rep.heldLocks).toEqual([]);
    t.attach();
    expect(t.state).toBe('attached');
  }, TEST_TIMEOUT);
});

