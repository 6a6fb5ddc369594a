// review-18b.test.ts — adversarial review of 8237906 (live threads counted from
// the records) and 6770688 (the stop's reader/writer word stamped with its
// holder). Debug build, real workers on one shared memory, pause points force
// each interleaving; a call that could spin on a dead worker's lock runs in a
// peer, under a time limit.
import { describe, expect, it } from 'vitest';
import { AI_LOCK_HOLDER, DP_ABANDON_POOL_LOCKED, DP_REAPS_CLAIMED } from '../src/abi.gen.ts';
import { useHarness, within } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const T_REAPED = 256;   // assembly/layout.ts: 1 reaped, 2 (REAP_RELEASING) while a reap releases the record

describe('review 18b', () => {
  // Forced: thread D of domain D2 dies; reaper R releases it and is terminated
  // holding D2's pool lock in D's name (DP_ABANDON_POOL_LOCKED). X, releasing
  // what R held (reapInstance(R) -> reapsReleaseDead), is terminated once it has
  // claimed that release and before it lets anything go (DP_REAPS_CLAIMED). M
  // then reaps X's instance. Correct: the release X claimed and never did is
  // done by X's reap (or D stays counted live, so D2 refuses to close rather
  // than spin on the lock): the pool lock ends free, D2 closes. Before: X's
  // claim (T_REAPED REAP_RELEASING -> 1) came first, so D read as gone at once:
  // the lock stayed with D's record for good, no reap could find it again,
  // and d2.close() (threads live: 0) spun for ever in abandonedDiscardAll.
  it('a second reaper killed after claiming a dead reaper\'s release: its own reap finishes it', async () => {
    const { rt, t, f, peers: [d, r, x, m] } = await killRig(4);
    const d2 = rt.createDomain();
    await d.call('attach', d2.id);
    const did = await d.call<number>('id', 0);
    await d.call('allocMany', 0, 50, 64);   // live blocks: a segment to abandon
    await d.terminate();
    const rInstance = await killAt(r, f, DP_ABANDON_POOL_LOCKED, 'R holds D2\'s pool lock as D',
      () => r.call('reapIn', d2.id, did),
      () => expect(rt.exports.ft_abandon_info(d2.id, AI_LOCK_HOLDER) >>> 0, 'held in D\'s name').toBe(did));
    const f2 = pauseFlag(rt, f.addr);   // re-armed (the first kill left it paused)
    const xInstance = await killAt(x, f2, DP_REAPS_CLAIMED, 'X claimed R\'s release of D',
      () => x.call('reapInstance', rInstance));
    await within(m.call<number>('reapInstance', xInstance), 10_000, 'reaping X\'s instance');
    expect(rt.exports.ft_abandon_info(d2.id, AI_LOCK_HOLDER) >>> 0, 'D2\'s pool lock is free').toBe(0);
    expect(Atomics.load(new Uint32Array(rt.memory.buffer, did + T_REAPED, 1), 0), 'D reads as reaped').toBe(1);
    expect(d2.stats().threadsLive, 'D2 has no live thread').toBe(0);
    await within(m.call('closeDomain', d2.id), 10_000, 'closing D2');
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
