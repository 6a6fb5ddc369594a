// review-16.test.ts — reproducers from the review of 4b576b4 (spin locks carry
// their holder's instance id; reaping a dead instance lets them go). Debug build,
// real workers on one shared memory, pause points force each interleaving. Each
// test names what it forces and what correct code must do. The main JS thread
// never takes a lock a dead worker may hold: every call that could spin for ever
// runs in a peer, under a time limit, so a bug fails the test instead of hanging it.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { AI_LOCK_HOLDER, DP_OS_FREE_PARTIAL, DP_RES_CLAIM, DP_RES_RESERVE, DP_REVIEW_POOL_LOCKED, DP_STW_RESTARTING, DP_THREAD_LISTING, DP_THREAD_STARTED,
  THREAD_DETACHED } from '../src/abi.gen.ts';
import { Peer, fixtureUrl, until, useHarness, within } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const ROOT = 1024;                    // assembly/layout.ts
const R_BRK_UNITS = 8, R_SEGS_LIVE = 56, R_SEGS_FREE = 60, R_RES_LOCK = 108;
const SEGTABLE = ROOT + 3072, FIRST_UNIT = 1;
const D_ABANDON_LOCK = 384;          // a domain record's pool lock
const UNIT_NORMAL = 1, UNIT_HUGE = 2, UNIT_CONT = 3, UNIT_FREE = 4, UNIT_META = 5;

const word = (rt: Runtime, addr: number) => Atomics.load(new Uint32Array(rt.memory.buffer, addr, 1), 0);

/**
 * After a failure: free a lock word a dead worker left at `stuck`, so that the
 * harness's teardown (the facade's reap of each peer, on this JS thread) does
 * not spin on it for ever.
 */
function unstick(rt: Runtime, addr: number, stuck: number): void {
  Atomics.compareExchange(new Uint32Array(rt.memory.buffer, addr, 1), 0, stuck, 0);
}

/**
 * A worker in test/fixtures/join-worker.ts 'paused' mode: instantiated with no
 * instance id, pause point `point` armed, then `call`. Started by hand, not
 * with startWorker: the facade's reap on its exit would run on this JS thread.
 */
function pausedWorker(rt: Runtime, instance: number, point: number, flag: number, call: 'adopt' | 'reserve'): Worker {
  return new Worker(fixtureUrl('join-worker'), {
    workerData: { ftheap: { ...rt.share(), instance }, data: { mode: 'paused', point, flag, call }, domain: rt.domain().id },
  });
}

/** The segment table's books: FREE units = segsFree, NORMAL + HUGE + CONT = segsLive, nothing else below brk. */
function unitBooks(rt: Runtime) {
  const brk = word(rt, ROOT + R_BRK_UNITS);
  const table = new Uint8Array(rt.memory.buffer, SEGTABLE, 1024);
  let free = 0, live = 0, other = 0;
  for (let u = FIRST_UNIT; u < brk; u++) {
    const s = Atomics.load(table, u);
    if (s === UNIT_FREE) free++;
    else if (s === UNIT_NORMAL || s === UNIT_HUGE || s === UNIT_CONT) live++;
    else if (s !== UNIT_META) other++;
  }
  return { free, live, other, segsFree: word(rt, ROOT + R_SEGS_FREE), segsLive: word(rt, ROOT + R_SEGS_LIVE) };
}

describe('review 16', () => {
  // Forced: a worker started by startWorker is terminated inside
  // ft_instance_adopt (Runtime.join's second step), in the claim of its reserved
  // id (DP_RES_CLAIM). It has no id of its own yet. Worker M then does what the
  // facade's reap does when a worker exits: cancel the reservation
  // (ft_instance_unreserve), reap its instance, and reserve an id for another
  // worker. Correct: all three return. Before: the claim took resLock stamped
  // 0xFFFFFFFF (no id yet), which no reap lets go, and the reap's very first
  // call, the unreserve, spun on it for ever (on the main thread, in the facade).
  it('a worker killed while adopting its reserved id: the reap on its exit does not spin', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const [m] = await Peer.startMany(rt, newCtl(), 1);
    const id = rt.exports.ft_instance_reserve() >>> 0;
    const w = pausedWorker(rt, id, DP_RES_CLAIM, f.addr, 'adopt');
    try {
      await until(f.paused, 20_000, 'W is claiming its id');
      await w.terminate();
      expect(await within(m.call<number>('instanceUnreserve', id), 10_000, 'cancelling W\'s reservation (the facade\'s reap, first)'),
        'W died before its claim: the reservation is cancelled').toBe(1);
      expect(await within(m.call<number>('reapInstance', id), 10_000, 'reaping W\'s instance')).toBe(0);
      const next = await within(m.call<number>('instanceReserve'), 10_000, 'reserving an id for the next worker');
      expect(next).toBeGreaterThan(id);
      expect(word(rt, ROOT + R_RES_LOCK), 'resLock is free').toBe(0);
    } finally {
      await w.terminate();
      unstick(rt, ROOT + R_RES_LOCK, 0xFFFFFFFF);
    }
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W, which has no instance id (joined with no reservation, as a
  // worker given rt.share() does), reserves an id for a worker of its own and
  // stops holding resLock (DP_RES_RESERVE). W is alive. M calls
  // ft_instance_release_dead(0xFFFFFFFF) (what reapInstance(rt, -1) ends with:
  // bad input). Correct: EINVAL_ARG, no id of this runtime is that; resLock stays
  // W's, and W's reservation completes. Before: 0xFFFFFFFF is what spinLock
  // stamps for an instance with no id, and the call released W's lock while W
  // was inside it: another thread could enter the reservation list beside W.
  it('release_dead of 0xFFFFFFFF (no id is that) leaves a live id-less holder\'s lock alone', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const [m] = await Peer.startMany(rt, newCtl(), 1);
    const w = pausedWorker(rt, 0, DP_RES_RESERVE, f.addr, 'reserve');
    try {
      await until(f.paused, 20_000, 'W holds resLock');
      const held = word(rt, ROOT + R_RES_LOCK);
      expect(held, 'W holds resLock').not.toBe(0);
      const rc = await within(m.call<number>('releaseDead', held), 10_000, 'release_dead(W\'s stamp)');
      expect(rc, 'no instance has that id').toBeLessThan(0);
      expect(word(rt, ROOT + R_RES_LOCK), 'W still holds resLock').toBe(held);
      f.release();
      await until(() => word(rt, ROOT + R_RES_LOCK) === 0, 10_000, 'W\'s reservation done');
    } finally {
      await w.terminate();
    }
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W, with no thread of its own (joined with attach: false, or
  // its thread detached), runs d.collectAbandoned() and is terminated holding the
  // domain's pool lock (DP_REVIEW_POOL_LOCKED), which is stamped 1 ("no thread").
  // M reaps W's instance, as the facade does when W exits. Correct: the pool lock
  // is let go, so M's collect, and every later thread exit, can take it. Before:
  // no reap knew whose the 1 was; every exit (abandonSegments) spun for ever.
  it('a thread-less worker killed holding the abandoned pool\'s lock: reaping its instance lets it go', async () => {
    const { rt, t, f, peers: [o, w, m] } = await killRig(3);
    const domain = rt.domain().id;
    await o.call('attach');
    await o.call('allocMany', 0, 50, 64);
    await o.call('exit', 0);   // its segment, with live blocks, goes to the pool
    expect(rt.domain().abandoned().segments, 'precondition: a pooled segment').toBeGreaterThan(0);
    const wInstance = await killAt(w, f, DP_REVIEW_POOL_LOCKED, 'W holds the pool lock', () => w.call('collectAbandoned'),
      () => expect(rt.exports.ft_abandon_info(domain, AI_LOCK_HOLDER) >>> 0, 'the pool lock is held').not.toBe(0));
    try {
      expect(await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance')).toBe(0);
      expect(rt.exports.ft_abandon_info(domain, AI_LOCK_HOLDER) >>> 0, 'the pool lock is free').toBe(0);
      await within(m.call('collectAbandoned'), 10_000, 'M\'s collect');
      await m.call('attach');
      await within(m.call('exit', 0), 10_000, 'M\'s thread exit');
    } finally {
      unstick(rt, domain + D_ABANDON_LOCK, 1);
    }
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W frees a huge block (three units) and is terminated inside
  // osUnitsFree after marking the first unit FREE (DP_OS_FREE_PARTIAL: V8 checks
  // for termination at the loop's back edge). M reaps W's instance, which lets
  // osLock go. Correct: what W left half done is made whole (or at worst lost):
  // the unit table's books balance, and M takes and frees a huge block and
  // validates its thread. Before: the lock was let go as it was: two CONT units
  // with no head, segsFree and segsLive off by the segment, and the debug
  // build's unit validator failed in M's next osUnitsAlloc (a trap, A_UNITS).
  it('a worker killed half way through osUnitsFree: the reap that lets osLock go leaves the unit books whole', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    await w.call('attach');
    await m.call('attach');
    const [big] = await w.call<number[]>('allocMany', 0, 1, 8 << 20);
    const wInstance = await killAt(w, f, DP_OS_FREE_PARTIAL, 'W is inside osUnitsFree', () => w.call('free', 0, big));
    expect(await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance')).toBe(1);
    const books = unitBooks(rt);
    expect({ free: books.segsFree, live: books.segsLive, other: 0 }, 'the unit table\'s books')
      .toEqual({ free: books.free, live: books.live, other: books.other });
    const [big2] = await within(m.call<number[]>('allocMany', 0, 1, 8 << 20), 10_000, 'M\'s huge block');
    expect(big2).toBeGreaterThan(0);
    await m.call('free', 0, big2);
    await m.call('validate', 0);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W starts a thread in domain D2 and is terminated under
  // headLock inside threadNew, at the runtime-wide list's CAS loop
  // (DP_THREAD_LISTING: V8 checks for termination at the loop's back edge). M
  // reaps W's instance, which lets headLock go. Correct: W's record is lost at
  // worst (on no list); M starts and ends a thread in D2, and D2 can be closed.
  // Before: the record was on D2's list but not the runtime's, DETACHED and not
  // counted: the debug build's thread validator failed in M's threadNew (a trap,
  // A_THREADS); in release, D2 could never close (EBUSY naming a thread that
  // d.reap refuses as no thread of this runtime).
  it('a worker killed listing its new thread: the reap that lets headLock go leaves the domain whole', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const d2 = rt.createDomain();
    const wInstance = await killAt(w, f, DP_THREAD_LISTING, 'W is listing its thread', () => w.call('attach', d2.id));
    expect(await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance')).toBe(0);
    await within(m.call('attach', d2.id), 10_000, 'M\'s thread in D2');
    await m.call('validate', 0);
    await m.call('exit', 0);
    expect(() => d2.close(), 'D2 has no thread left').not.toThrow();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Left open by that review, forced here: worker W starts a thread in domain
  // D2 and is terminated after threadNew made the record live (listed, counted)
  // and before it entered it (DP_THREAD_STARTED). M reaps W's instance, as the
  // facade does when a worker dies. Correct: the record carries W's id (stamped
  // in threadNew as it goes live), so the reap finds and reaps it, and D2 can be
  // closed. Before: the owner was stamped after threadNew, so the record was
  // counted live with owner 0: reapInstance did not see it, and D2 stayed EBUSY.
  it('a worker killed between making its thread and entering it: reaping its instance reaps the thread', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const d2 = rt.createDomain();
    const wInstance = await killAt(w, f, DP_THREAD_STARTED, 'W made its thread', () => w.call('attach', d2.id));
    expect(await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance'), 'W\'s thread').toBe(1);
    expect(() => d2.close(), 'D2 has no thread left').not.toThrow();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: requester R stops domain D2, where O1 and O2 are parked (detached,
  // then SUSPENDED by the stop), and is terminated in stwStart's restart after
  // restarting the first of them (DP_STW_RESTARTING). M reaps R's instance:
  // headLock is let go, and R's thread is reaped (stwReleaseDead ends a stop it
  // requested). Correct: both O1 and O2 run again (DETACHED) and attach.
  // Before: restart cleared the request before walking the threads, so the
  // reap found no stop of R's to end: the thread not yet restarted stayed
  // SUSPENDED for good (its attach waited for ever), and the reader/writer word
  // R held for the stop was never released.
  it('a requester killed half way through restarting the world: its reap restarts the rest', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const d2 = rt.createDomain();
    const [r, o1, o2, m] = await Peer.startMany(rt, newCtl(), 4);
    const ids: number[] = [];
    for (const o of [o1, o2]) {
      await o.call('attach', d2.id);
      ids.push(await o.call<number>('id', 0));
      await o.call('detach', 0);
    }
    await r.call('attach', d2.id);
    const rInstance = await r.call<number>('instance');
    await r.call('pauseAt', DP_STW_RESTARTING, f.addr, 1);
    r.call('stop', 0, {}).catch(() => {});
    await until(f.paused, 10_000, 'R is restarting D2');
    await r.terminate();
    expect(await within(m.call<number>('reapInstance', rInstance), 10_000, 'reaping R\'s instance')).toBe(1);
    const states = ids.map((id) => rt.exports.ft_thread_state(id) >>> 0);
    expect(states, 'O1 and O2 run again').toEqual([THREAD_DETACHED, THREAD_DETACHED]);
    await within(o1.call('reattach', 0), 10_000, 'O1 attaches');
    await within(o2.call('reattach', 0), 10_000, 'O2 attaches');
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
