// mutex.test.ts — the 32-bit word mutex (any zeroed, 4-aligned word of the
// shared memory) with real workers.
//
// - Exactness: 4 workers each do N plain, non-atomic read-modify-writes of one
//   counter word inside t.lock(m) / t.unlock(m): the counter ends at exactly 4N
//   and the mutex word at 0.
// - Fairness: 4 workers contend on one mutex for a fixed time; min / max / mean
//   acquisitions per worker are logged, and none may be starved. The machine may
//   have 2 cores for 4 workers (and other test files running), so the bound is
//   deliberately lenient: every worker > 0 and min >= mean / 10. No other timing
//   is asserted.
// - tryLock on a free and on a held mutex; a lock taken in one worker and
//   released in another.
// - A thread parked on a lock is detached: a stop-the-world completes while it
//   waits (and while the holder is detached), and it gets the lock after.
// - Error codes: unlock of an unlocked mutex -> ENOT_LOCKED; a misaligned pointer,
//   one inside the runtime's root record, one past the end of memory -> EINVAL_PTR
//   (lock, tryLock, unlock, criticalSection, criticalSection2).
import { describe, expect, it } from 'vitest';
import { LIMIT, Peer, pendingAfter, setupRuntime, sleep, TEST_TIMEOUT, until, useHarness } from './fixtures/harness.ts';
import { Ctl, setCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import type { StopResult } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();

const setup = setupRuntime;

describe('mutex with workers', () => {
  it('a counter under the mutex is exact with 4 workers (plain increments)', async () => {
    const { rt, ctl, base: m, word } = await setup(2);
    const counter = m + 4;
    const N = 20_000;
    const peers = await Peer.startMany(rt, ctl, 4);
    for (const p of peers) await p.call('attach');
    const runs = peers.map((p) => p.call('lockLoop', 0, m, counter, N));
    setCtl(ctl, Ctl.GO);
    expect(await Promise.all(runs)).toEqual([N, N, N, N]);
    expect(word(counter)).toBe(4 * N);
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);

  it('is fair enough: no worker is starved over a fixed time', async () => {
    const { rt, ctl, base: m, word } = await setup(2);
    const counter = m + 4;
    const peers = await Peer.startMany(rt, ctl, 4);
    for (const p of peers) await p.call('attach');
    const runs = peers.map((p, i) => p.call('fairLoop', 0, m, counter, i));
    setCtl(ctl, Ctl.GO);
    await sleep(1500);
    setCtl(ctl, Ctl.STOP);
    const counts = await Promise.all(runs);
    const total = counts.reduce((a, b) => a + b, 0);
    const mean = total / counts.length, min = Math.min(...counts), max = Math.max(...counts);
    console.log(`mutex fairness, 4 workers for 1.5 s: acquisitions ${counts.join(', ')} ` +
      `(min ${min}, max ${max}, mean ${mean.toFixed(0)}, min/mean ${(min / mean).toFixed(2)})`);
    expect(word(counter)).toBe(total);
    // Lenient on purpose (2 cores, 4 workers, other tests running): only starvation fails.
    for (const c of counts) expect(c).toBeGreaterThan(0);
    expect(min).toBeGreaterThanOrEqual(mean / 10);
  }, TEST_TIMEOUT);

  it('tryLock takes a free mutex and fails on a held one; another worker may unlock it', async () => {
    const { rt, ctl, base: m, word } = await setup(1);
    const [a, b] = await Peer.startMany(rt, ctl, 2);
    await a.call('attach');
    await b.call('attach');
    expect(await a.call('tryLock', 0, m)).toBe(true);
    expect(word(m) & 1).toBe(1);
    expect(await b.call('tryLock', 0, m)).toBe(false);
    expect(await a.call('tryLock', 0, m)).toBe(false);   // not re-entrant
    await b.call('unlock', 0, m);                        // any thread may release it
    expect(word(m)).toBe(0);
    expect(await b.call('tryLock', 0, m)).toBe(true);
    await b.call('unlock', 0, m);
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);

  it('a thread waiting on a lock is detached: a stop-the-world completes meanwhile', async () => {
    const { rt, ctl, base: m, word } = await setup(2);
    const counter = m + 4;
    const [holder, waiter, requester] = await Promise.all(['holder', 'waiter', 'requester'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [holder, waiter, requester]) await p.call('attach');
    const waiterId = await waiter.call('id', 0), holderId = await holder.call('id', 0);
    await holder.call('lock', 0, m);
    await holder.call('detach', 0);   // the holder idles: it must not hold stops up either
    const locking = waiter.call('lock', 0, m);
    await until(() => word(m) >>> 3 >= 1 && rt.exports.ft_thread_state(waiterId) === RawState.DETACHED, LIMIT,
      'waiter parked on the mutex, detached');
    const stop = await requester.call<StopResult>('stop', 0, { ids: [waiterId, holderId], holdMs: 5 });
    expect(stop.states).toEqual([RawState.SUSPENDED, RawState.SUSPENDED]);
    expect(await pendingAfter(locking, 50)).toBe(true);   // still waiting: the lock is held
    await holder.call('unlock', 0, m);
    await locking;
    expect(await waiter.call('state', 0)).toBe('attached');
    await waiter.call('inc', counter);
    await waiter.call('unlock', 0, m);
    expect(word(m)).toBe(0);
    expect(word(counter)).toBe(1);
  }, TEST_TIMEOUT);
});

describe('mutex error codes', () => {
  it('unlock of an unlocked mutex: ENOT_LOCKED, and the word stays 0', async () => {
    const { rt, main, base: m, word } = await setup(1);
    expect(codeOf(() => main.unlock(m))).toBe('ENOT_LOCKED');
    expect(word(m)).toBe(0);
    main.attach();
    main.lock(m);
    main.unlock(m);
    expect(codeOf(() => main.unlock(m))).toBe('ENOT_LOCKED');
    expect(word(m)).toBe(0);
    // and through the raw export
    expect(rt.exports.ft_mutex_unlock(m)).toBe(13);
  });

  it('a misaligned pointer, one in the root record, one past the end of memory: EINVAL_PTR', async () => {
    const { rt, main, base, word } = await setup(2);
    main.attach();
    const end = rt.memory.buffer.byteLength;
    const bad = [base + 1, base + 2, base + 3, 4, 1024, end, end + 64, 0xfffffffc];
    for (const p of bad) {
      expect(codeOf(() => main.lock(p)), `lock ${p}`).toBe('EINVAL_PTR');
      expect(codeOf(() => main.tryLock(p)), `tryLock ${p}`).toBe('EINVAL_PTR');
      expect(codeOf(() => main.unlock(p)), `unlock ${p}`).toBe('EINVAL_PTR');
      expect(codeOf(() => main.criticalSection(p, () => 0)), `criticalSection ${p}`).toBe('EINVAL_PTR');
      expect(codeOf(() => main.criticalSection2(base, p, () => 0)), `criticalSection2 ${p}`).toBe('EINVAL_PTR');
      expect(codeOf(() => main.criticalSection2(p, base, () => 0)), `criticalSection2 ${p} first`).toBe('EINVAL_PTR');
    }
    // Nothing was locked or left on the section stack by the failures.
    expect(word(base)).toBe(0);
    expect(rt.exports.ft_cs_depth()).toBe(0);
    main.lock(base);
    main.unlock(base);
    expect(main.criticalSection2(base, base + 4, () => word(base) & word(base + 4) & 1)).toBe(1);
  });
});
