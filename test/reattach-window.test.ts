// reattach-window.test.ts — a thread that waited for one of the runtime's own
// mutexes (here the domain's delayed-free queue mutex) records itself as holder as
// soon as it has the lock, before its re-attach, which may wait out a whole
// stop-the-world. Forced schedule (debug build): B holds the mutex (pause point
// DP_REVIEW_DQ_LOCKED); C parks on it; a stop suspends C; B lets go, C takes the
// mutex and waits to re-attach; C is killed there and reaped. Before the fix the
// holder was written after the re-attach: the mutex stayed locked with no holder,
// and every later exit with pending delayed frees hung.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { DP_REVIEW_DQ_LOCKED } from '../src/abi.gen.ts';
import { Peer, until, useHarness, within } from './fixtures/harness.ts';
import { Ctl, newCtl, setCtl } from './fixtures/protocol.ts';

useHarness();
const D_DQ_MUTEX = 320, D_DQ_HOLDER = 420;   // assembly/layout.ts (domain record)

describe('reattach window', () => {
  it('a worker killed while re-attaching after it got the dq mutex: the reap releases the mutex, later exits finish', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const flagAddr = t.alloc(8);
    const w = () => new Int32Array(rt.memory.buffer);
    Atomics.store(w(), flagAddr >> 2, 0);
    const ctl = newCtl();
    const [a, b, c, s, e] = await Peer.startMany(rt, ctl, 5);
    await s.call('attach');
    await a.call('attach');
    await a.call('freeDelayedMany', 0, await a.call<number[]>('allocMany', 0, 10, 64));
    await a.call('exit', 0);
    await b.call('attach');
    await b.call('pauseAt', DP_REVIEW_DQ_LOCKED, flagAddr, 1);
    b.call('checkpoint', 0).catch(() => {});
    await until(() => Atomics.load(w(), flagAddr >> 2) === 1, 10_000, 'B holds the dq mutex');
    await c.call('attach');
    const cid = await c.call<number>('id', 0);
    await c.call('freeDelayedMany', 0, await c.call<number[]>('allocMany', 0, 10, 64));
    c.call('exit', 0).catch(() => {});
    await until(() => (rt.exports.ft_thread_state(cid) >>> 0) === 2, 10_000, 'C parked detached on the dq mutex');
    t.detach();
    setCtl(ctl, Ctl.HOLD, 1);
    s.call('stop', 0, { holdSlot: Ctl.HOLD, maxMs: 20_000 }).catch(() => {});
    await until(() => (rt.exports.ft_thread_state(cid) >>> 0) === 3, 10_000, 'C suspended by the stop');
    Atomics.store(w(), flagAddr >> 2, 2); Atomics.notify(w(), flagAddr >> 2);   // B unlocks; C takes it, re-attach waits
    await b.call('detach', 0);
    await until(() => Atomics.load(ctl, Ctl.IN_STOP) >= 1, 10_000, 'the stop is complete');
    const dom = d.id;
    const mutex = () => Atomics.load(w(), (dom + D_DQ_MUTEX) >> 2);
    const holder = () => Atomics.load(w(), (dom + D_DQ_HOLDER) >> 2);
    await until(() => (mutex() & 1) === 1, 10_000, 'C holds the dq mutex');
    expect(holder()).toBe(cid);
    await c.terminate();
    setCtl(ctl, Ctl.HOLD, 0);
    Atomics.notify(ctl, Ctl.HOLD);

    d.reap(cid);
    expect(holder()).toBe(0);
    await s.call('attach', 0);   // online, idle: E's goals stay pending
    await e.call('attach');
    await e.call('freeDelayedMany', 0, await e.call<number[]>('allocMany', 0, 10, 64));
    expect(await e.call<number>('delayedPending', 0)).toBe(10);
    expect(mutex() & 1).toBe(0);   // the reap released the dead holder's mutex
    const exiting = e.call('exit', 0);
    exiting.catch(() => {});
    await within(exiting, 10_000, "E's exit");
  }, 60_000);
});
