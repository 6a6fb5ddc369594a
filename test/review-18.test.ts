// review-18.test.ts — workers killed at the last steps of a thread's life, after
// its record is EXITED: the live-thread figures (a domain's close, stats'
// threads.live) are counted from the records, so no decrement can be left undone.
// Debug build, real workers on one shared memory, pause points force each
// interleaving. Calls that could spin on a dead worker's lock run in a peer,
// under a time limit.
import { describe, expect, it } from 'vitest';
import { SharedMap } from '../src/index.ts';
import { DP_EXIT_GONE, DP_HANDLE_LOCKED, DP_REAP_RELEASED, DP_SEGMENT_TAKING, DP_STW_RW_RELEASING, DP_STW_RW_TAKEN, DP_THREAD_LISTING, THREAD_EXITED } from '../src/abi.gen.ts';
import { Peer, PeerError, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

describe('review 18', () => {
  // Forced: worker W exits its thread in domain D2 and is terminated right after
  // the record is EXITED and headLock let go (DP_EXIT_GONE). M reaps W's instance
  // (nothing left to reap). Correct: D2 has no live thread, closes, and stats no
  // longer count W's thread. Before: the live counters were decremented after
  // that point; W's death left D2 counted busy for good (close: EBUSY for ever)
  // and threads.live one too high.
  it('a worker killed just after its thread exited: the domain closes', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const d2 = rt.createDomain();
    const live = rt.stats().threads.live;
    const th = await w.call<number>('attach', d2.id);
    const rec = await w.call<number>('id', th);
    expect(rt.stats().threads.live, 'W\'s thread counted').toBe(live + 1);
    const wInstance = await killAt(w, f, DP_EXIT_GONE, 'W\'s thread exited', () => w.call('exit', th));
    expect(rt.exports.ft_thread_state(rec) >>> 0, 'exited').toBe(THREAD_EXITED);
    await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance');
    expect(rt.stats().threads.live, 'no longer counted').toBe(live);
    expect(d2.stats().threadsLive, 'D2 has no live thread').toBe(0);
    expect(() => d2.close(), 'D2 closes').not.toThrow();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W (a thread in D2) dies; reaper R reaps W's instance and is
  // terminated once W's record is released (DP_REAP_RELEASED), before it returns.
  // M then reaps R's instance. Correct: D2 closes and threads.live is back where
  // it was. Before: the reap counted the record gone only after that point, so
  // R's death left it counted live for good (D2: EBUSY for ever), and no later
  // reap could help (the record reads reaped).
  it('a reaper killed just after releasing the thread it reaped: the domain closes', async () => {
    const { rt, t, f, peers: [w, r, m] } = await killRig(3);
    const d2 = rt.createDomain();
    const live = rt.stats().threads.live;
    await w.call('attach', d2.id);
    const wInstance = await w.call<number>('instance');
    await w.terminate();
    const rInstance = await killAt(r, f, DP_REAP_RELEASED, 'R released W\'s thread',
      () => r.call('reapInstance', wInstance));
    await within(m.call<number>('reapInstance', rInstance), 10_000, 'reaping R\'s instance');
    expect(rt.stats().threads.live, 'W\'s thread no longer counted').toBe(live);
    expect(() => d2.close(), 'D2 closes').not.toThrow();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: requester R (a thread in domain D2) stops D2 and is terminated at
  // one of the two points where it holds the reader/writer word (a reader) but
  // no request names it: after taking the word, before listing itself as the
  // requester (DP_STW_RW_TAKEN), and after its restart cleared the request,
  // before the release (DP_STW_RW_RELEASING). M reaps R's instance; then G, in
  // the default domain, stops the whole runtime (the writer), with a time limit.
  // Correct: the reap releases the word (it is stamped with R's serial), and the
  // global stop succeeds. Before: the reap released the word only for a stop it
  // found requested by R, so here it stayed taken for good, and every global
  // stop timed out.
  for (const [point, where] of [[DP_STW_RW_TAKEN, 'R took the word'], [DP_STW_RW_RELEASING, 'R restarted D2']] as const) {
    it(`a domain stop's requester killed holding the reader/writer word (${where}): a global stop still gets it`, async () => {
      const { rt, t, f, peers: [r, m, g] } = await killRig(3);
      const d2 = rt.createDomain();
      await r.call('attach', d2.id);
      const rInstance = await killAt(r, f, point, where, () => r.call('stopTimed', 0, {}));
      await within(m.call<number>('reapInstance', rInstance), 10_000, 'reaping R\'s instance');
      await g.call('attach');
      t.detach();   // the main thread would hold up a global stop: it does not checkpoint while it awaits
      const got = await within(g.call<{ code: string }>('stopTimed', 0, { global: true, timeoutMs: 2000 }), 10_000, 'G\'s stop');
      t.attach();
      expect(got.code, 'the global stop').toBe('OK');
      t.free(f.addr);
    }, TEST_TIMEOUT);
  }

  // Forced: worker W1 is killed holding headLock (listing a new thread,
  // DP_THREAD_LISTING); worker W2, attached, is killed too. M reaps W2's instance
  // alone. Correct: EAGAIN naming W1, nothing done (W1 may be dead too); reaping
  // both together succeeds, each letting its own locks go first. Before: the reap
  // of W2 spun on headLock for ever (on a main thread that reaps on exit events,
  // W1's exit was then never handled).
  it('a reap that needs a lock another dead worker holds: EAGAIN naming it; both reaped together', async () => {
    const { rt, t, f, peers: [w1, w2, m] } = await killRig(3);
    const live = rt.stats().threads.live;
    await w2.call('attach');
    const w2Instance = await w2.call<number>('instance');
    const w1Instance = await killAt(w1, f, DP_THREAD_LISTING, 'W1 holds headLock', () => w1.call('attach'));
    await w2.terminate();
    const alone = await within(m.call('reapInstance', w2Instance).then(() => 'reaped', (e: PeerError) => e), 10_000, 'reaping W2 alone');
    expect(alone, 'W2 alone').toBeInstanceOf(PeerError);
    expect((alone as PeerError).code).toBe('EAGAIN');
    expect((alone as PeerError).message).toContain(`instance ${w1Instance}`);
    expect(rt.stats().threads.live, 'nothing reaped').toBe(live + 1);
    expect(await within(m.call<number>('reapInstance', [w2Instance, w1Instance]), 10_000, 'reaping both'), 'W2\'s thread').toBe(1);
    expect(rt.stats().threads.live, 'W2\'s thread gone (W1 had made none)').toBe(live);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // The same deaths with startWorker's own reaps (on the main thread, on each
  // exit event): W2, attached, exits first while W1 (paused) holds headLock; W1 is
  // killed after. Correct: W2's reap gives up and is tried again later, W1's
  // exit is handled meanwhile, and both end reaped. Before: W2's reap spun on
  // the main thread for ever.
  it('startWorker\'s reaps on exit: one that needs a lock a later-dying worker holds is retried, and both are reaped', async () => {
    const { rt, t, f } = await killRig(0);
    const ctl = newCtl();
    const w1 = await Peer.start(rt, ctl, 'w1', { reap: true });
    const w2 = await Peer.start(rt, ctl, 'w2', { reap: true });
    const live = rt.stats().threads.live;
    const th = await w2.call<number>('attach');
    const rec = await w2.call<number>('id', th);
    await w1.call('pauseAt', DP_THREAD_LISTING, f.addr, 1);
    w1.call('attach').catch(() => {});
    await until(f.paused, 10_000, 'W1 holds headLock');
    await w2.terminate();
    await new Promise((r) => setTimeout(r, 100));   // W2's reap ran (and gave up) on its exit event
    expect(rt.exports.ft_thread_reaped(rec), 'not yet').toBe(0);
    await w1.terminate();
    await until(() => rt.exports.ft_thread_reaped(rec) === 1, 10_000, 'W2\'s thread reaped');
    await until(() => rt.stats().threads.live === live, 10_000, 'no thread of W1 or W2 left live');
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W, allocating its first block (5000 B, a medium page of 8
  // slices), is terminated inside segmentPageTake after the span was taken off its
  // queue and split, before the page's records are written (DP_SEGMENT_TAKING).
  // M reaps W's instance, then adopts what W left and runs the validators, and
  // allocates from it. Correct: the reap makes the segment whole first (the
  // slices W had not made a page go back to the spans). Before: the reap freed
  // pages into a segment whose slices were tiled wrong (the taken span still
  // claimed the split-off remainder): the debug build's segment check failed in
  // the reap (EASSERT A_SEGMENT); a release build could hand out the same
  // slices twice.
  it('a worker killed half way through taking a page: the reap makes its segment whole', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const th = await w.call<number>('attach');
    const wInstance = await killAt(w, f, DP_SEGMENT_TAKING, 'W takes a page', () => w.call('alloc', th, 5000));
    await within(m.call('reapInstance', wInstance), 10_000, 'reaping W\'s instance');
    const mt = await m.call<number>('attach');
    await m.call('reclaimAbandoned', mt);
    await m.call('validate', mt);
    const ps = await m.call<number[]>('allocMany', mt, 64, 5000);
    await m.call('validate', mt);
    await m.call('freeMany', mt, ps);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: worker W writes to a SharedMap and is terminated right after taking
  // the map's writers' mutex (DP_HANDLE_LOCKED). M reaps W's instance, then writes
  // to the map. Correct: the reap lets the mutex go (W's record names the map it
  // held), and the write goes through. Before: the mutex stayed locked for good;
  // every later write, and the map's destroy, waited for ever.
  it('a worker killed inside a SharedMap write: the reap lets the map\'s mutex go', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    const map = SharedMap.create(t);
    map.set(1, 10);
    t.detach();
    const th = await w.call<number>('attach');
    const wInstance = await killAt(w, f, DP_HANDLE_LOCKED, 'W holds the map\'s mutex', () => w.call('mapSet', th, map.handle, 2, 20));
    await within(m.call('reapInstance', wInstance), 10_000, 'reaping W\'s instance');
    const mt = await m.call<number>('attach');
    await within(m.call('mapSet', mt, map.handle, 3, 30), 10_000, 'M writes to the map');
    await m.call('detach', mt);
    t.attach();
    expect(map.get(1)).toBe(10);
    expect(map.get(3)).toBe(30);
    map.destroy();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Deterministic schedule: worker W, attached in domain D2, stays in its event
  // loop (it never reaches a checkpoint); worker C starts a collection of D2,
  // whose stop waits for W; both are terminated. M reaps W's instance first (as
  // an exit event may come first). Correct: the reap counts W off C's stop, finds
  // C's collection held by an instance that does not move, and gives up with
  // EAGAIN naming C; reaping both succeeds (C's reap ends its collection). Before:
  // the reap of W waited for ever for C's collection to end (C was dead).
  it('a reap that would wait for a collection a dead worker was running: EAGAIN naming it; both reaped together', async () => {
    const { rt, t, peers: [w, c, m] } = await killRig(3);
    const d2 = rt.createDomain();
    await w.call('attach', d2.id);
    const wInstance = await w.call<number>('instance');
    const ct = await c.call<number>('attach', d2.id);
    const cInstance = await c.call<number>('instance');
    c.call('gcCollect', ct).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));   // C's stop waits for W
    await c.terminate();
    await w.terminate();
    const alone = await within(m.call('reapInstance', wInstance).then(() => 'reaped', (e: PeerError) => e), 10_000, 'reaping W alone');
    expect(alone, 'W alone').toBeInstanceOf(PeerError);
    expect((alone as PeerError).code).toBe('EAGAIN');
    expect((alone as PeerError).message).toContain(`instance ${cInstance}`);
    await within(m.call('reapInstance', [wInstance, cInstance]), 10_000, 'reaping both');
    expect(() => d2.close(), 'D2 has no live thread').not.toThrow();
    void t;
  }, TEST_TIMEOUT);
});
