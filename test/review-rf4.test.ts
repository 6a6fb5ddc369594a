// review-rf4.test.ts — reproducers from the adversarial review of 2434058 (a
// batched flush into a full page sends the chain's tail the delayed way). Debug
// build; pause point DP_RF_TAIL_SENT (121) sits right after pushOne(tail)
// returned, before the rest is pushed. Tests 1 and 2 fail at 2434058: prev still
// linked to the tail, so once the tail was handed out again a valid free of it
// (its first word link-like) was EDOUBLE_FREE and the block stayed allocated.
// Now the chain is cut before the tail leaves. Tests 3 and 4 rule out a lost or
// doubled block at the reap and a missed second free.
import { describe, expect, it } from 'vitest';
import { DP_RF_SEARCH_HEAD, DP_RF_TAIL_SENT, EDOUBLE_FREE } from '../src/abi.gen.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { batchingWorkers, expectHandedOutOnce, flushPausedAt, fullPageChain, pageOf, used } from './fixtures/remote-free.ts';
import { codeOf, pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

async function setupFullChain(chainLen: number) {
  const { rt, t, peers: [w] } = await batchingWorkers(1, [0]);
  const wid = await w.call<number>('id', 0);
  const f = pauseFlag(rt, t.alloc(8));
  const { chain } = await fullPageChain(rt, t, w, chainLen);   // head = last, tail = chain[0]
  const dv = () => new DataView(rt.memory.buffer);
  // The page key: chain[1]'s link encodes chain[0].
  const key = (dv().getUint32(chain[1], true) ^ chain[0]) >>> 0;
  return { rt, t, w, wid, f, chain, dv, key };
}

describe('review-rf4: tail sent the delayed way', () => {
  // Forced: W's chain c1 -> c0 (+ more) into a full page; W's flush sends the tail c0
  // the delayed way and pauses before relinking prev (c1 -> c0 stays). The owner
  // drains its delayed list, gets c0 back from malloc, stores a word that decodes
  // to a zero link, and frees c0: a valid free. Correct: OK.
  it('a valid free of the sent, reallocated tail while prev still links to it', async () => {
    const { t, w, f, chain, dv, key } = await setupFullChain(2);
    const c0 = chain[0];
    const { flushing } = await flushPausedAt(w, DP_RF_TAIL_SENT, f);
    const got: number[] = [];
    let back = false;
    for (let i = 0; i < 80 && !back; i++) { const p = t.alloc(1000); got.push(p); back = p === c0; }
    expect(back, 'c0 handed out again').toBe(true);
    dv().setUint32(c0, key, true);                      // program data that reads as a zero link
    const code = codeOf(() => t.free(c0));
    f.release();
    await within(flushing, 10_000, 'the flush');
    expect(code, 'valid free of a live block').toBe('OK');
  }, TEST_TIMEOUT);

  // Same, W terminated at that point and not yet reaped: the dead slot names the
  // chain, prev still links to the reallocated tail. Then the reap.
  it('killed after the tail was sent: before the reap a valid free of the tail; after it nothing lost or doubled', async () => {
    const { rt, t, w, wid, f, chain, dv, key } = await setupFullChain(10);
    const c0 = chain[0];
    const before = used(t);
    const { flushing } = await flushPausedAt(w, DP_RF_TAIL_SENT, f);
    await w.terminate();
    const got: number[] = [];
    let back = false;
    for (let i = 0; i < 80 && !back; i++) { const p = t.alloc(1000); got.push(p); back = p === c0; }
    expect(back, 'c0 handed out again').toBe(true);
    dv().setUint32(c0, key, true);
    const code = codeOf(() => t.free(c0));
    if (code === 'OK') got.pop(); // c0 freed; else it is still live: freed below with the rest
    if (code !== 'OK') dv().setUint32(c0, 0, true);
    await within(Promise.resolve().then(() => rt.domain().reap(wid)), 10_000, 'the reap');
    t.freeMany(got);
    const lost = used(t) - (before - chain.length);
    console.log('rf4 kill: code', code, 'before', before, 'after', used(t), 'lost', lost);
    expect(lost, 'nothing lost').toBe(0);
    expectHandedOutOnce(t, 400, 1000);
    expect(code, 'valid free of a live block').toBe('OK');
  }, TEST_TIMEOUT);

  // Killed after the tail was sent, the owner fills the page again (DELAY_USE), then the reap:
  // the reap sends prev the delayed way and pushes the rest. Correct: nothing lost, nothing doubled.
  it('killed after the tail was sent, page full again at the reap: exactly the rest pushed', async () => {
    const { rt, t, w, wid, f, chain } = await setupFullChain(10);
    const before = used(t);
    const { flushing } = await flushPausedAt(w, DP_RF_TAIL_SENT, f);
    await w.terminate();
    // The owner takes c0 back (drain) and fills the page: DELAY_USE again.
    const got: number[] = [];
    for (let i = 0; i < 40 && !got.includes(chain[0]); i++) got.push(t.alloc(1000));
    expect(got.includes(chain[0])).toBe(true);
    for (let i = 0; i < 4; i++) got.push(t.alloc(1000));   // the page found without a free block: full queue
    const full = pageOf(rt, chain[1])?.page.full;
    await within(Promise.resolve().then(() => rt.domain().reap(wid)), 10_000, 'the reap');
    t.freeMany(got);
    const lost = used(t) - (before - chain.length);
    console.log('rf4 kill/full: page full at reap', full, 'lost', lost);
    expect(lost).toBe(0);
    const again = expectHandedOutOnce(t, 400, 1000);
    for (const p of chain) expect(again.includes(p), `block ${p} back`).toBe(true);
  }, TEST_TIMEOUT);

  // A genuine second free of the pending tail by S, whose search read W's head and
  // pauses; W sends the tail and pauses after pushOne. Correct: EDOUBLE_FREE.
  it('a second free of the tail, search paused on the head while the tail is sent: EDOUBLE_FREE', async () => {
    const { rt, t, peers: [w, s] } = await batchingWorkers(2, [0]);
    const fS = pauseFlag(rt, t.alloc(8));
    const fW = pauseFlag(rt, t.alloc(8));
    const { chain } = await fullPageChain(rt, t, w, 3);   // c2 -> c1 -> c0
    await s.call('pauseAt', DP_RF_SEARCH_HEAD, fS.addr, 1);
    const second = s.call<number[]>('rawFree', 0, [chain[0]]);
    await until(fS.paused, 10_000, 'search read head');
    const { flushing } = await flushPausedAt(w, DP_RF_TAIL_SENT, fW);
    fS.release();
    const codes = await within(second, 10_000, 'second free');
    fW.release();
    await within(flushing, 10_000, 'flush');
    expect(codes).toEqual([EDOUBLE_FREE]);
    expectHandedOutOnce(t, 400, 1000);
  }, TEST_TIMEOUT);
});
