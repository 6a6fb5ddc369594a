// reap.test.ts — recovering threads whose workers died (Domain.reap, startWorker),
// with real workers killed by worker.terminate() mid-workload: a stop-the-world
// and a QSBR goal that waited for the dead thread complete, its pending delayed
// frees are done by the domain, its blocks stay freeable by others and its
// segments come back once they are freed; its record refuses its old JS thread.
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime, Tag } from '../src/index.ts';
import { expectBalanced, fixtureUrl, Peer, until, useHarness, within } from './fixtures/harness.ts';
import { counter, Ctl, flag, iters, newCtl, setCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

const codeOf = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return undefined;
};

describe('reaping', () => {
  it('a worker killed while attached, with live blocks and pending delayed frees: a pending stop and a QSBR goal complete after reap', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const ctl = newCtl();
    const units0 = rt.stats().segments.unitsLive;
    const [victim, requester] = await Peer.startMany(rt, ctl, 2);
    await victim.call('attach');
    const id = await victim.call<number>('id', 0);
    const live = await victim.call<number[]>('allocMany', 0, 2000, 80, Tag.OBJECT);
    const delayed = await victim.call<number[]>('allocMany', 0, 300, 200);
    await victim.call('freeDelayedMany', 0, delayed);
    expect(await victim.call('delayedPending', 0)).toBe(300);
    // The victim stays attached and never checkpoints again: a goal and a stop wait for it.
    const goal = t.qsbr.advance();
    expect(t.qsbr.poll(goal)).toBe(false);
    await requester.call('attach');
    const stop = requester.call('stop', 0, {});
    await new Promise((r) => setTimeout(r, 50));
    expect(d.threads().find((x) => x.id === id)?.state).toBe('attached');
    await victim.terminate();
    const report = d.reap(id);
    expect(report).toEqual({ id, heldLocks: [] });
    await within(stop, 10_000, 'the pending stop completes once the dead thread is reaped');
    expect(t.qsbr.poll(goal)).toBe(true);
    expect(d.threads().find((x) => x.id === id)?.state).toBe('reaped');
    // Its pending delayed frees were handed to the domain: a checkpoint frees them.
    for (let i = 0; i < 50 && d.qsbrInfo().delayedPending > 0; i++) t.checkpoint();
    expect(d.qsbrInfo().delayedPending).toBe(0);
    // Its live blocks are in the domain's pool, freeable by anyone; then the segments go back.
    expect(d.abandoned().segments).toBeGreaterThanOrEqual(1);
    for (const p of live) t.free(p);
    for (let i = 0; i < 100 && d.abandoned().segments > 0; i++) t.checkpoint();
    expect(d.abandoned().segments).toBe(0);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    await requester.call('exit', 0);
    t.exit();
    expectBalanced(rt, { blocksUsed: 0, threadsLive: 0 });
  }, TEST_TIMEOUT);

  it('a requester killed while it holds the world stopped: reaping it restarts the world, and stops work again', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const ctl = newCtl();
    const [looper, requester] = await Promise.all(['looper', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    await looper.call('attach');
    const loops = looper.call('loop', 0, { slot: 0, counter: counter(0) });
    await until(() => Atomics.load(ctl, iters(0)) > 0, 10_000, 'loop running');
    await requester.call('attach');
    const rid = await requester.call<number>('id', 0);
    t.detach();
    setCtl(ctl, Ctl.HOLD);
    const stop = requester.call('stop', 0, { holdSlot: Ctl.HOLD });
    stop.catch(() => {});
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) === 1, 10_000, 'the world stopped');
    const frozen = Atomics.load(ctl, counter(0));
    await new Promise((r) => setTimeout(r, 20));
    expect(Atomics.load(ctl, counter(0))).toBe(frozen);
    await requester.terminate();                      // dies holding the world stopped
    d.reap(rid);
    await until(() => Atomics.load(ctl, counter(0)) > frozen + 5, 10_000, 'the looper runs again');
    t.attach();
    expect(t.stopTheWorld(() => 'stopped again')).toBe('stopped again');
    setCtl(ctl, Ctl.STOP);
    await loops;
    await looper.call('exit', 0);
    t.exit();
  }, TEST_TIMEOUT);

  it('a reaped record refuses its old JS thread; reaping twice, a bad id or another domain are refused', async () => {
    const rt = await Runtime.create();
    const d = rt.domain(), d2 = rt.createDomain();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    const p = await w.call<number>('alloc', 0, 64);
    await w.call('detach', 0);
    // Reaped with no current thread on this JS thread.
    expect(d.reap(id).id).toBe(id);
    const err = await w.call('reattach', 0).then(() => null, (e) => e);
    expect(err?.code).toBe('ENOT_ATTACHED');
    expect(String(err?.message)).toMatch(/reaped/);
    expect(codeOf(() => d.reap(id))).toBe('EINVAL_STATE');
    expect(codeOf(() => d.reap(12345 * 64))).toBe('EINVAL_ARG');
    expect(codeOf(() => d.reap(-1))).toBe('EINVAL_ARG');
    await w.call('attach', d2.id);
    const id2 = await w.call<number>('id', 1);
    expect(codeOf(() => d.reap(id2))).toBe('EWRONG_DOMAIN');
    // With a current thread here: it is detached for the reap and attaches again on its next call.
    const t = rt.attach();
    expect(codeOf(() => d.reap(t.id))).toBe('EINVAL_STATE');
    t.free(p);
    await w.call('exit', 1);
    t.exit();
    expectBalanced(rt, { blocksUsed: 0, threadsLive: 0 });
  }, TEST_TIMEOUT);

  it('a thread killed inside a critical section: reap reports the mutex it held, which stays locked', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const m = t.alloc(8);
    new Int32Array(rt.memory.buffer, m, 2).fill(0);
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    expect(await w.call('csOpen', 0, m)).toBeGreaterThanOrEqual(0);
    await w.terminate();
    expect(d.reap(id).heldLocks).toEqual([m]);
    expect(t.tryLock(m)).toBe(false);          // still locked: the caller decides
    t.free(m);
    t.exit();
  }, TEST_TIMEOUT);

  it('startWorker reaps a terminated worker by itself; the world runs on', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const ctl = newCtl();
    const w = await rt.startWorker(fixtureUrl('reap-worker'), { data: { ctl: ctl.buffer } });
    await until(() => Atomics.load(ctl, flag(0)) !== 0, 20_000, 'the worker attached');
    const id = Atomics.load(ctl, flag(0)) >>> 0;
    expect(d.threads().find((x) => x.id === id)?.instance).toBe(w.instance);
    expect(await within(w.terminate(), 10_000, 'terminate and reap')).toBe(1);
    expect(d.threads().find((x) => x.id === id)?.state).toBe('reaped');
    expect(t.stopTheWorld(() => 7)).toBe(7);
    for (let i = 0; i < 50 && d.abandoned().segments > 0; i++) t.checkpoint();
    t.exit();
  }, TEST_TIMEOUT);

  it('startWorker with reap: false leaves a terminated worker\'s thread to the caller, who reaps it by hand', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const ctl = newCtl();
    let called = false;
    const w = await rt.startWorker(fixtureUrl('reap-worker'), { data: { ctl: ctl.buffer }, reap: false, onReaped: () => { called = true; } });
    const id = await within(w.thread, 20_000, 'the worker attached');
    await until(() => Atomics.load(ctl, flag(0)) !== 0, 20_000, 'the worker allocated');
    expect(await within(w.terminate(), 10_000, 'terminate')).toBe(0);
    expect(called).toBe(false);
    expect(d.threads().find((x) => x.id === id)?.state).toBe('attached');
    expect(d.reap(id)).toEqual({ id, heldLocks: [] });
    expect(d.threads().find((x) => x.id === id)?.state).toBe('reaped');
    expect(t.stopTheWorld(() => 7)).toBe(7);
    t.exit();
  }, TEST_TIMEOUT);

  it('workers killed at random moments mid-workload are reaped: the world, QSBR and the heap stay sound', async () => {
    const rt = await Runtime.create({ debug: true, maximumMemory: 1 << 30 });
    const t = rt.attach();
    const d = rt.domain();
    const m = t.alloc(8);
    const SLOTS = 512;
    const ring = t.alloc(SLOTS * 4);
    const ctl = newCtl();
    for (let round = 0; round < 8; round++) {
      new Uint32Array(rt.memory.buffer, ring, SLOTS).fill(0);
      const w = await Peer.start(rt, ctl, `chaos${round}`);
      await w.call('attach');
      const id = await w.call<number>('id', 0);
      const run = w.call('chaos', 0, m, ring, SLOTS, round + 1);
      run.catch(() => {});
      await new Promise((r) => setTimeout(r, 10 + ((round * 37) % 60)));
      await w.terminate();
      const report = d.reap(id);
      for (const held of report.heldLocks) t.unlock(held);   // the workload under it is repairable: blocks only
      // The world and QSBR go on without the dead thread.
      expect(t.stopTheWorld(() => round)).toBe(round);
      const goal = t.qsbr.advance();
      for (let i = 0; i < 20 && !t.qsbr.poll(goal); i++) t.checkpoint();
      expect(t.qsbr.poll(goal)).toBe(true);
      // Its listed live blocks are freeable by another thread.
      const live = Array.from(new Uint32Array(rt.memory.buffer, ring, SLOTS)).filter((p) => p !== 0);
      for (const p of live) t.free(p);
      for (let i = 0; i < 30; i++) t.checkpoint();
    }
    // Everything it left is consistent: adopt it all and run the validators over it.
    t.reclaimAbandoned();
    t.validate();
    t.free(ring);
    t.free(m);
    t.collect(true);
    for (let i = 0; i < 30; i++) t.checkpoint();
    // At most one block per kill can be unaccounted for (allocated, not yet listed).
    expect(rt.stats().totals.blocksUsed).toBeLessThanOrEqual(8);
    expect(d.qsbrInfo().delayedPending).toBe(0);
    t.exit();
  }, TEST_TIMEOUT);
});
