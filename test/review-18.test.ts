// review-18.test.ts — workers killed at the last steps of a thread's life, after
// its record is EXITED: the live-thread figures (a domain's close, stats'
// threads.live) are counted from the records, so no decrement can be left undone.
// Debug build, real workers on one shared memory, pause points force each
// interleaving. Calls that could spin on a dead worker's lock run in a peer,
// under a time limit.
import { describe, expect, it } from 'vitest';
import { DP_EXIT_GONE, DP_REAP_RELEASED, DP_STW_RW_RELEASING, DP_STW_RW_TAKEN, THREAD_EXITED } from '../src/abi.gen.ts';
import { useHarness, within } from './fixtures/harness.ts';
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
});
