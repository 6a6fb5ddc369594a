// review-17.test.ts — reproducers from the review of e85a14c (threadNew stamps
// the owner's instance id as the record goes live). Debug build, real workers on
// one shared memory, pause points force each interleaving. The main JS thread
// never takes a lock a dead worker may hold: calls that could spin run in a
// peer, under a time limit.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { DP_THREAD_LISTING, DP_THREAD_START_CLOSED, DP_THREAD_STARTING, THREAD_DETACHED, THREAD_EXITED } from '../src/abi.gen.ts';
import { fixtureUrl, Peer, sleep, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const T_OWNER = 252;   // assembly/layout.ts: the thread record's owning instance id

describe('review 17', () => {
  // Forced: worker W starts a thread in domain D2 and stops after the domain
  // check, before making the record (DP_THREAD_STARTING); D2 is closed (no thread
  // live yet); W goes on, lists its record in the closed domain and stops as it
  // finds D2 closed (DP_THREAD_START_CLOSED, a second stop armed with the first).
  // Worker B then holds headLock (DP_THREAD_LISTING, listing a thread of its
  // own); W is let go, runs into headLock in the closed path and is terminated
  // spinning there. M reaps W's instance, as the facade does when W dies.
  // Correct: the record still names W until it is retired (EXITED) under
  // headLock, so the reap finds it and it is no longer counted live.
  // Before: the closed path cleared the owner before it took headLock: W died
  // with its record DETACHED, ownerless and counted live for good (stats'
  // threads.live off by one; no reap by instance or by id — the domain is
  // closed — could ever retire it, and an id-less instance could enter it).
  it('a worker killed retiring its new thread in a domain closed under it: reaping its instance retires it', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const g = pauseFlag(rt, t.alloc(8));
    const d2 = rt.createDomain();
    const [w, b, m] = await Peer.startMany(rt, newCtl(), 3);
    const wInstance = await w.call<number>('instance');
    await w.call('pauseAt', DP_THREAD_STARTING | (DP_THREAD_START_CLOSED << 16), f.addr, 1);
    w.call('attach', d2.id).catch(() => {});
    await until(f.paused, 10_000, 'W is about to make its thread');
    d2.close();
    f.release();
    await until(f.paused, 10_000, 'W found D2 closed');
    const rec = rt.exports.ft_thread_next_all(0) >>> 0;   // the newest record: W's
    expect(rt.exports.ft_thread_owner(rec) >>> 0, 'W\'s record').toBe(wInstance);
    expect(rt.exports.ft_thread_state(rec), 'listed, not yet retired').toBe(THREAD_DETACHED);
    await b.call('pauseAt', DP_THREAD_LISTING, g.addr, 1);
    const bAttach = b.call('attach').catch(() => {});
    await until(g.paused, 10_000, 'B holds headLock');
    f.release();
    await sleep(300);   // W spins on headLock in the closed path
    await w.terminate();
    g.release();
    await within(bAttach, 10_000, 'B\'s thread');
    const live = rt.stats().threads.live;
    await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance');
    expect(rt.exports.ft_thread_state(rec), 'retired').toBe(THREAD_EXITED);
    expect(rt.exports.ft_thread_owner(rec) >>> 0, 'no owner').toBe(0);
    expect(rt.stats().threads.live, 'no longer counted live').toBe(live - 1);
    await m.call('attach');
    await m.call('validate', 0);
    t.free(f.addr);
    t.free(g.addr);
  }, TEST_TIMEOUT);

  // Left open by that review, forced here by a deterministic schedule: exit and
  // reap store a thread's owner word 0 and then EXITED, in one headLock section.
  // The record is put in that window by hand (owner 0, still DETACHED), and a
  // worker that joined with no instance id (as one given rt.share() does) calls
  // ft_thread_enter on it. Correct: ENOT_ATTACHED (an instance with no id
  // started no thread). Before: owner 0 matched its id 0, and it entered the
  // other instance's thread.
  it('an instance with no id cannot enter a thread whose owner word reads 0', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const u = rt.attach();   // u is current: t is left detached
    const owner = new Uint32Array(rt.memory.buffer, t.id + T_OWNER, 1);
    const mine = Atomics.load(owner, 0);
    Atomics.store(owner, 0, 0);
    const w = new Worker(fixtureUrl('join-worker'), {
      workerData: { ftheap: { ...rt.share(), instance: 0 }, data: { mode: 'enter', thread: t.id }, domain: rt.domain().id },
    });
    try {
      const rc = await within(new Promise<number>((res, rej) => { w.once('message', res); w.once('error', rej); }), 10_000, 'W\'s enter');
      expect(rc, 'ENOT_ATTACHED').not.toBe(0);
      expect(rt.domain().threads().find((th) => th.id === t.id)?.state, 't stays detached').toBe('detached');
    } finally {
      await w.terminate();
      Atomics.store(owner, 0, mine);
    }
    u.exit();
    t.makeCurrent();
    t.exit();
  }, TEST_TIMEOUT);
});
