// domain.test.ts — domains (isolated worlds of one runtime) and the domain
// version mirrored into every thread's eval breaker, with real workers.
//
// - Version: d.setVersion(5) rewrites every thread's copy at once — looping
//   workers see 5 after a checkpoint, idle ones (attached or detached, no
//   checkpoint) report t.version 5 too, and main reads 5 from every breaker right
//   after the call; d.setVersion(0) resets every copy to 0 (CPython once kept a
//   stale copy on reset and looped forever). A checkpoint reports
//   VERSION_CHANGED at most once per change. Threads made after a change, records
//   recycled after one, and threads suspended by a stop during one all hold the
//   current version. One domain's version leaves the other's threads alone.
// - Domains: ids are the same in every worker; a worker holds threads in two
//   domains and switches between them (each call through a Thread makes it
//   current and detaches the other); threadsLive per domain.
// - Stop-the-world scope: a stop in domain 1 pauses domain 1's threads while a
//   thread only in domain 2 keeps running (its counter advances inside the stop);
//   the global variant pauses both; per-domain stops of two domains and global
//   stops all running concurrently neither deadlock nor let a thread in scope run.
//   A thread made in domain 2 during a domain-1 stop starts running at once;
//   during a global stop it starts suspended and waits for the restart.
// - EINVAL_DOMAIN: rt.domainById(12345) and other non-domains.
import { describe, expect, it } from 'vitest';
import { Checkpoint, Domain, Runtime } from '../src/index.ts';
import { expectBalanced, LIMIT, Peer, pendingAfter, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { counter, Ctl, flag, iters, newCtl, setCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { LoopResult, StopResult } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();

const copyOf = (rt: Runtime, id: number) => rt.exports.ft_thread_breaker(id) >>> 8;
const itersOf = (ctl: Int32Array, slot: number) => Atomics.load(ctl, iters(slot));

/** Wait until every looper slot has done `n` more iterations than now. */
async function progress(ctl: Int32Array, slots: number[], n: number): Promise<void> {
  const from = slots.map((s) => itersOf(ctl, s));
  await until(() => slots.every((s, i) => itersOf(ctl, s) >= from[i] + n), LIMIT, `${n} more iterations`);
}

describe('domain version', () => {
  it('setVersion(5) reaches every thread at once; setVersion(0) resets every copy', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d = rt.domain();
    const loopers = await Peer.startMany(rt, ctl, 4, 'looper');
    const [idleAttached, idleDetached] = await Promise.all(['idleAttached', 'idleDetached'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [...loopers, idleAttached, idleDetached]) await p.call('attach');
    await idleDetached.call('detach', 0);
    const ids = await Promise.all([...loopers, idleAttached, idleDetached].map((p) => p.call('id', 0)));
    const mainT = rt.attach();
    const slots = loopers.map((_, i) => i);
    const loops = loopers.map((p, i) => p.call<LoopResult>('loop', 0, { slot: i, allocs: 1 }));
    await progress(ctl, slots, 1);
    expect(ids.map((id) => copyOf(rt, id))).toEqual(ids.map(() => 0));

    d.setVersion(5);
    expect(d.version).toBe(5);
    // Every copy is rewritten by the call itself: no checkpoint needed.
    expect(ids.map((id) => copyOf(rt, id))).toEqual(ids.map(() => 5));
    expect(mainT.version).toBe(5);
    expect(await idleAttached.call('version', 0)).toBe(5);
    expect(await idleDetached.call('version', 0)).toBe(5);
    await progress(ctl, slots, 20);

    d.setVersion(0);   // the reset: no copy may stay at 5
    expect(d.version).toBe(0);
    expect(ids.map((id) => copyOf(rt, id))).toEqual(ids.map(() => 0));
    expect(mainT.version).toBe(0);
    expect(await idleAttached.call('version', 0)).toBe(0);
    expect(await idleDetached.call('version', 0)).toBe(0);
    await progress(ctl, slots, 20);
    setCtl(ctl, Ctl.STOP);

    const results = await Promise.all(loops);
    // setVersion rewrites every copy itself, so a checkpoint rarely (if ever) finds a stale one to report.
    console.log(`VERSION_CHANGED reports per looper over two changes: ${results.map((r) => r.versionChanged).join(', ')}`);
    for (const r of results) {
      expect(r.errors).toEqual([]);
      expect(r.versions).toEqual([0, 5]);   // they ran under both versions...
      expect(r.version).toBe(0);           // ...and ended on the reset one
      expect(r.versionChanged).toBeLessThanOrEqual(2);   // at most once per change
    }
    // An idle thread's next checkpoint: the copy is current, at most one report.
    const ev = await idleAttached.call('checkpoint', 0);
    expect(ev & ~Checkpoint.VERSION_CHANGED).toBe(0);
    expect(await idleAttached.call('checkpoint', 0)).toBe(0);
  }, TEST_TIMEOUT);

  it('a checkpoint reports VERSION_CHANGED at most once per change (one thread)', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    for (const v of [11, 12, 0, 0x00ffffff, 1]) {
      rt.domain().setVersion(v);
      expect(t.version).toBe(v);
      const reports = [t.checkpoint(), t.checkpoint(), t.checkpoint()].filter((ev) => ev & Checkpoint.VERSION_CHANGED);
      expect(reports.length).toBeLessThanOrEqual(1);
    }
  });

  it('no stale copies: threads made or recycled after a change, suspended during one, of another domain', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d = rt.domain(), d2 = rt.createDomain();
    const a = rt.attach();
    d.setVersion(7);
    const b = rt.attach();                       // made after the change
    expect([a.version, b.version]).toEqual([7, 7]);
    const c = rt.attach();
    c.exit();                                    // no segment: its record is recyclable
    d.setVersion(9);                             // skips the free record...
    const e = rt.attach();
    expect(e.id).toBe(c.id);                     // ...which is recycled here
    expect([a.version, b.version, e.version]).toEqual([9, 9, 9]);
    const other = d2.attach();
    expect(other.version).toBe(0);               // d2 has its own version
    d2.setVersion(3);
    expect([a.version, b.version, e.version, other.version]).toEqual([9, 9, 9, 3]);
    d.setVersion(0);
    expect([a.version, b.version, e.version, other.version]).toEqual([0, 0, 0, 3]);
    for (const t of [a, b, e, other]) t.detach();

    // Threads suspended by a stop get the new copy too (main only reads and writes words: nothing blocks).
    const loopers = await Peer.startMany(rt, ctl, 2, 'looper');
    const requester = await Peer.start(rt, ctl, 'requester');
    for (const p of [...loopers, requester]) await p.call('attach');
    const ids = await Promise.all(loopers.map((p) => p.call('id', 0)));
    const loops = loopers.map((p, i) => p.call<LoopResult>('loop', 0, { slot: i }));
    await progress(ctl, [0, 1], 1);
    setCtl(ctl, Ctl.HOLD);
    const stop = requester.call<StopResult>('stop', 0, { holdSlot: Ctl.HOLD, ids });
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, LIMIT, 'world stopped');
    expect(ids.map((id) => rt.exports.ft_thread_state(id))).toEqual([RawState.SUSPENDED, RawState.SUSPENDED]);
    d.setVersion(4);
    expect(ids.map((id) => copyOf(rt, id))).toEqual([4, 4]);
    expect([a.version, b.version, e.version, other.version]).toEqual([4, 4, 4, 3]);
    setCtl(ctl, Ctl.HOLD, 0);
    await stop;
    await progress(ctl, [0, 1], 5);
    setCtl(ctl, Ctl.STOP);
    for (const r of await Promise.all(loops)) {
      expect(r.errors).toEqual([]);
      expect(r.version).toBe(4);
      expect(r.versionChanged).toBeLessThanOrEqual(1);
    }
  }, TEST_TIMEOUT);
});

describe('domains', () => {
  it('ids are shared by workers; a worker holds threads in two domains and switches between them', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d1 = rt.domain(), d2 = rt.createDomain();
    expect(d2.id).not.toBe(d1.id);
    expect(rt.domainById(d2.id).id).toBe(d2.id);
    const [w] = await Peer.startMany(rt, ctl, 1);
    expect(await w.call('attach')).toBe(0);            // default domain
    expect(await w.call('attach', d2.id)).toBe(1);     // domain 2: now current, thread 0 detached
    expect(await w.call('domainOf', 0)).toBe(d1.id);
    expect(await w.call('domainOf', 1)).toBe(d2.id);
    expect([d1.threadsLive, d2.threadsLive]).toEqual([1, 1]);
    const ids = [await w.call('id', 0), await w.call('id', 1)];
    expect([await w.call('state', 0), await w.call('state', 1)]).toEqual(['detached', 'attached']);

    const p0 = await w.call('alloc', 0, 100);          // a call through thread 0 switches to it
    expect([await w.call('state', 0), await w.call('state', 1)]).toEqual(['attached', 'detached']);
    expect(await w.call('current')).toBe(ids[0]);
    const p1 = await w.call('alloc', 1, 100);
    expect([await w.call('state', 0), await w.call('state', 1)]).toEqual(['detached', 'attached']);
    expect(await w.call('current')).toBe(ids[1]);
    // A block of another domain is refused, and nothing changes: each is freed through its own domain.
    await expect(w.call('free', 1, p0)).rejects.toMatchObject({ code: 'EWRONG_DOMAIN' });
    await expect(w.call('free', 0, p1)).rejects.toMatchObject({ code: 'EWRONG_DOMAIN' });
    await expect(w.call('usableSize', 0, p1)).rejects.toMatchObject({ code: 'EWRONG_DOMAIN' });
    await expect(w.call('realloc', 0, p1, 500)).rejects.toMatchObject({ code: 'EWRONG_DOMAIN' });
    await w.call('free', 0, p0);
    await w.call('free', 1, p1);
    await w.call('alloc', 0, 8).then((p) => w.call('free', 0, p));
    expect(await w.call('current')).toBe(ids[0]);

    // the loop form: many switches, the other thread always detached
    setCtl(ctl, Ctl.STOP, 0);
    const sw = w.call<{ turns: number; errors: string[] }>('switchLoop', 0, 1, counter(0), counter(1), 0);
    await until(() => itersOf(ctl, 0) >= 200, LIMIT, '200 turns');
    setCtl(ctl, Ctl.STOP);
    const r = await sw;
    expect(r.errors).toEqual([]);
    await w.call('exit', 0);
    expect([d1.threadsLive, d2.threadsLive]).toEqual([0, 1]);
    await w.call('exit', 1);
    expect([d1.threadsLive, d2.threadsLive]).toEqual([0, 0]);
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it("a stop in domain 1 leaves domain 2 running; the global stop pauses both", async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d2 = rt.createDomain();
    const [l1, l2, sw, r1, r2] = await Promise.all(['l1', 'l2', 'switcher', 'r1', 'r2'].map((n) => Peer.start(rt, ctl, n)));
    await l1.call('attach');
    await l2.call('attach', d2.id);
    await sw.call('attach');
    await sw.call('attach', d2.id);
    await r1.call('attach');
    await r2.call('attach', d2.id);
    const ids = [await l1.call('id', 0), await l2.call('id', 0), await sw.call('id', 0), await sw.call('id', 1)];
    const [C1, C2, CS1, CS2] = [counter(0), counter(1), counter(2), counter(3)];
    const loops = [
      l1.call<LoopResult>('loop', 0, { slot: 0, counter: C1 }),
      l2.call<LoopResult>('loop', 0, { slot: 1, counter: C2 }),
    ];
    const switching = sw.call<{ turns: number; errors: string[] }>('switchLoop', 0, 1, CS1, CS2, 2);
    await progress(ctl, [0, 1, 2], 1);
    const counters = [C1, C2, CS1, CS2];

    // Domain 1 stopped: l1 and the switcher's domain-1 thread pause; l2 keeps running.
    const s1 = await r1.call<StopResult>('stop', 0, { counters, ids, advance: { slot: C2, by: 20 }, holdMs: 5 });
    expect(s1.advanced).toBe(true);
    expect(s1.after[0]).toBe(s1.before[0]);
    expect(s1.after[2]).toBe(s1.before[2]);
    expect(s1.states[0]).toBe(RawState.SUSPENDED);
    expect(s1.states[2]).toBe(RawState.SUSPENDED);
    expect(s1.states[1]).not.toBe(RawState.SUSPENDED);
    expect(s1.states[3]).not.toBe(RawState.SUSPENDED);

    // Domain 2 stopped: the mirror image.
    await progress(ctl, [0, 1, 2], 5);
    const s2 = await r2.call<StopResult>('stop', 0, { counters, ids, advance: { slot: C1, by: 20 }, holdMs: 5 });
    expect(s2.advanced).toBe(true);
    expect(s2.after[1]).toBe(s2.before[1]);
    expect(s2.after[3]).toBe(s2.before[3]);
    expect([s2.states[1], s2.states[3]]).toEqual([RawState.SUSPENDED, RawState.SUSPENDED]);
    expect(s2.states[0]).not.toBe(RawState.SUSPENDED);

    // Global: everything pauses, whichever domain the requester is in.
    for (const r of [r1, r2]) {
      await progress(ctl, [0, 1, 2], 5);
      const g = await r.call<StopResult>('stop', 0, { global: true, counters, ids, holdMs: 20 });
      expect(g.after).toEqual(g.before);
      expect(g.states).toEqual(ids.map(() => RawState.SUSPENDED));
    }

    setCtl(ctl, Ctl.STOP);
    for (const r of await Promise.all(loops)) expect(r.errors).toEqual([]);
    expect((await switching).errors).toEqual([]);
  }, TEST_TIMEOUT);

  it('per-domain stops of two domains and global stops, all at once: no deadlock, scopes respected', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d2 = rt.createDomain();
    const [l1, l2, r1, r2, g] = await Promise.all(['l1', 'l2', 'r1', 'r2', 'g'].map((n) => Peer.start(rt, ctl, n)));
    await l1.call('attach');
    await l2.call('attach', d2.id);
    await r1.call('attach');
    await r2.call('attach', d2.id);
    await g.call('attach', d2.id);
    const [C1, C2] = [counter(0), counter(1)];
    const loops = [
      l1.call<LoopResult>('loop', 0, { slot: 0, counter: C1 }),
      l2.call<LoopResult>('loop', 0, { slot: 1, counter: C2 }),
    ];
    await progress(ctl, [0, 1], 1);
    const [s1, s2, sg] = await within(Promise.all([
      r1.call<StopResult[]>('stopRepeat', 0, { n: 15, holdMs: 1, gapMs: 1, counters: [C1] }),
      r2.call<StopResult[]>('stopRepeat', 0, { n: 15, holdMs: 1, gapMs: 1, counters: [C2] }),
      g.call<StopResult[]>('stopRepeat', 0, { n: 8, global: true, holdMs: 1, gapMs: 2, counters: [C1, C2] }),
    ]), LIMIT, 'all the stops');
    setCtl(ctl, Ctl.STOP);
    for (const r of await Promise.all(loops)) expect(r.errors).toEqual([]);
    for (const s of [...s1, ...s2, ...sg]) expect(s.after).toEqual(s.before);
    expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(15 + 15 + 8);
  }, TEST_TIMEOUT);
});

describe('threads made during a stop, by scope', () => {
  it('in domain 2 during a domain-1 stop: runs at once; during a global stop: waits for the restart', async () => {
    const rt = await Runtime.create();
    const ctl = newCtl();
    const d2 = rt.createDomain();
    const [requester, late] = await Promise.all(['requester', 'late'].map((n) => Peer.start(rt, ctl, n)));
    await requester.call('attach');
    for (const global of [false, true]) {
      const [before, after] = global ? [flag(2), flag(3)] : [flag(0), flag(1)];
      setCtl(ctl, Ctl.HOLD);
      const n = Atomics.load(ctl, Ctl.IN_STOP);
      const stop = requester.call<StopResult>('stop', 0, { global, holdSlot: Ctl.HOLD });
      await until(() => Atomics.load(ctl, Ctl.IN_STOP) === n + 1, LIMIT, 'world stopped');
      const attaching = late.call('attachFlagged', before, after, d2.id);
      await until(() => Atomics.load(ctl, before) === 1, LIMIT, 'attach called');
      if (!global) {
        const i = await attaching;               // not held by domain 1's stop
        expect(await late.call('state', i)).toBe('attached');
        await late.call('detach', i);
      } else {
        expect(await pendingAfter(attaching, 100)).toBe(true);
        expect(Atomics.load(ctl, after)).toBe(0);
      }
      setCtl(ctl, Ctl.HOLD, 0);
      await stop;
      const i = await attaching;
      expect(await late.call('domainOf', i)).toBe(d2.id);
      if (global) expect(await late.call('state', i)).toBe('attached');
    }
  }, TEST_TIMEOUT);
});

describe('EINVAL_DOMAIN', () => {
  it('rt.domainById of anything but a domain record', async () => {
    const rt = await Runtime.create();
    const d2 = rt.createDomain();
    for (const id of [12345, 0, -1, 1.5, 2 ** 32, d2.id + 4, rt.domain().id + 64]) {
      expect(codeOf(() => rt.domainById(id)), `domainById(${id})`).toBe('EINVAL_DOMAIN');
    }
    expect(rt.domainById(d2.id).id).toBe(d2.id);
    // A Domain object for a non-domain (the constructor is internal) fails on use.
    const bogus = new Domain(rt, 12345);
    expect(codeOf(() => bogus.setVersion(1))).toBe('EINVAL_DOMAIN');
    expect(codeOf(() => bogus.attach())).toBe('EINVAL_DOMAIN');
    expect(bogus.version).toBe(0);
    expect(bogus.threadsLive).toBe(0);
    expectBalanced(rt, { threadsLive: 0 });   // nothing was made by the failures
  });

  it('in a worker too', async () => {
    const rt = await Runtime.create();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    expect(await w.code('attach', 12345)).toBe('EINVAL_DOMAIN');
    expect(await w.code('setVersion', 12345, 1)).toBe('EINVAL_DOMAIN');
    expect(await w.code('attach', rt.createDomain().id)).toBe('OK');
  }, TEST_TIMEOUT);
});
