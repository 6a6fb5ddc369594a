// races-mutex.test.ts — mutex waiters that are not parked threads (issue 10):
// lockAsync as a counted waiter, a waiter killed while parked, and timeouts. All on
// the debug build. Every wait is bounded.
//
// Both waiter races start from one forced schedule (starvingWaiter): H holds; W
// parks; H unlocks and W, woken, is stopped at pause point DP_MUTEX_WOKEN while B
// takes the free lock; W is released, finds the lock held past the fairness limit,
// sets STARVING and parks again. B's unlock is then a hand-off.
// - lockAsync and a hand-off: A's lockAsync starts waiting (Atomics.waitAsync)
//   while W is paused, so A is ahead of W in the word's wait list, and B's
//   hand-off wakes A. Before the fix A was not a counted waiter: it could not take
//   a handed-off lock and went back to waiting, and W (the counted waiter the
//   hand-off was for) slept forever: neither got the lock within 10 s (verified
//   with the old lockAsync). Now A counts itself and takes the hand-off (or W, if
//   the wake went to it); the other gets the lock after.
// - A waiter killed while parked: W is terminated (worker.terminate()) while
//   parked, its count and STARVING left in the word. Before the fix B's unlock
//   handed the lock to nobody: LOCKED|HANDOFF stayed set and tryLock failed on a
//   mutex nobody held (verified: the word's low bits were 7). Now the hand-off woke
//   nobody (notify's count), so it is withdrawn: the lock is free, the dead
//   waiter's count stays as a hint, and tryLock, lock and a live waiter work.
// - lock({ timeoutMs }) and lockAsync(m, { timeoutMs }): ETIMEDOUT while another
//   thread holds the lock, the word exactly as before (waiter count restored), the
//   thread attached as before; a timed lock that gets the lock in time succeeds;
//   bad timeouts are EINVAL_ARG.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { DP_HANDLE_READ, DP_MUTEX_WOKEN, EINVAL_PTR } from '../src/abi.gen.ts';
import { LIMIT, Peer, PeerError, pendingAfter, sleep, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';
import { codeOf } from './fixtures/util.ts';

useHarness();

const LOCKED = 1, HANDOFF = 2, STARVING = 4;
const waiters = (v: number) => v >>> 3;

async function setup(words: number) {
  const rt = await Runtime.create({ debug: true });
  const main = rt.attach();
  const base = main.calloc(words, 4);
  main.detach();
  const word = (p: number) => Atomics.load(new Int32Array(rt.memory.buffer), p >>> 2) >>> 0;
  return { rt, ctl: newCtl(), main, base, word };
}

async function codeOfCall(p: Promise<unknown>): Promise<string> {
  try { await p; return 'OK'; } catch (e) { if (e instanceof PeerError && e.code) return e.code; throw e; }
}

/**
 * Make W a starving waiter parked on `m` (behind whatever `between` puts in the
 * word's wait list), by a forced schedule: H holds; W parks; H unlocks and W,
 * woken, is paused (DP_MUTEX_WOKEN) while B takes the lock; `between` runs; W is
 * released, finds the lock held after more than the fairness limit, sets STARVING
 * and parks again. B holds the lock at the end.
 */
async function starvingWaiter(rt: Runtime, m: number, word: (p: number) => number, flag: number,
    h: Peer, w: Peer, b: Peer, between: () => Promise<void>): Promise<{ wLock: Promise<unknown> }> {
  const wId = await w.call('id', 0);
  await h.call('lock', 0, m);
  await w.call('pauseAt', DP_MUTEX_WOKEN, flag, 1);
  const wLock = w.call('lock', 0, m);
  wLock.catch(() => {});
  await until(() => waiters(word(m)) === 1 && rt.exports.ft_thread_state(wId) === RawState.DETACHED, LIMIT, 'W parked');
  await h.call('unlock', 0, m);
  await until(() => word(flag) === 1, LIMIT, 'W woken and paused');
  await b.call('lock', 0, m);   // takes the free word (spin), W still paused
  await between();
  const i32 = new Int32Array(rt.memory.buffer);
  Atomics.store(i32, flag >>> 2, 2);
  Atomics.notify(i32, flag >>> 2);
  // Seen rarely under load (about 1 full run in 3): W, released, never looks at the word again
  // (word 9: B's lock and W counted, no STARVING; W detached; the flag at 2): it stays in the
  // pause hook's wait loop, which V8 11.3's baseline tier can mis-run (host.ts, waitWhile). The
  // schedule is then retried (retry below); the property under test is not involved.
  try {
    await until(() => (word(m) & STARVING) !== 0, 15_000, 'W starving');
  } catch (e) {
    throw new Error(`${(e as Error).message}: word ${word(m).toString(16)}, W state ${rt.exports.ft_thread_state(wId)}, flag ${word(flag)}`);
  }
  await sleep(5);   // W is back in wait32
  return { wLock };
}

describe('mutex waiters that are not parked threads', () => {
  it('lockAsync is a counted waiter: a hand-off woken into it is taken, and the parked waiter gets the lock after', { retry: 2, timeout: TEST_TIMEOUT }, async () => {
    const { rt, ctl, main, base: m, word } = await setup(2);
    const flag = m + 4;
    const [h, a, w, b] = await Promise.all(['holder', 'async', 'waiter', 'barger'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [h, a, w, b]) await p.call('attach');
    let asyncLock: Promise<unknown> = Promise.resolve();
    // A waits asynchronously before W parks again: A is first in the wait list.
    const { wLock } = await starvingWaiter(rt, m, word, flag, h, w, b, async () => {
      asyncLock = a.call('lockAsync', 0, m);
      asyncLock.catch(() => {});
      await sleep(5);
    });
    await b.call('unlock', 0, m);   // STARVING: a hand-off; its one wake goes to A
    const first = await within(Promise.race([asyncLock.then(() => a), wLock.then(() => w)]), 10_000,
      'a waiter gets the handed-off lock');
    await first.call('unlock', 0, m);
    await within(first === a ? wLock : asyncLock, 10_000, 'the other waiter');
    await (first === a ? w : a).call('unlock', 0, m);
    expect(word(m)).toBe(0);
    void main;
  });

  it('a waiter killed while parked: the hand-off is withdrawn and the mutex stays usable', { retry: 2, timeout: TEST_TIMEOUT }, async () => {
    const { rt, ctl, main, base: m, word } = await setup(2);
    const flag = m + 4;
    const [h, w, b] = await Promise.all(['holder', 'doomed', 'live'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [h, w, b]) await p.call('attach');
    await starvingWaiter(rt, m, word, flag, h, w, b, async () => {});
    await w.terminate();   // killed while parked: its count and STARVING stay
    expect(waiters(word(m))).toBe(1);
    await b.call('unlock', 0, m);
    // The dead waiter's count stays (a hint); the lock is free, not handed to nobody.
    expect(word(m) & (LOCKED | HANDOFF | STARVING)).toBe(0);
    expect(waiters(word(m))).toBe(1);
    expect(main.tryLock(m)).toBe(true);          // no spin: a free word, whatever its count
    main.unlock(m);
    await b.call('lock', 0, m);
    await b.call('unlock', 0, m);
    // A live waiter still gets the lock.
    await h.call('lock', 0, m);
    const bLock = b.call('lock', 0, m);
    await until(() => waiters(word(m)) === 2, LIMIT, 'B counted');
    await h.call('unlock', 0, m);
    await within(bLock, 10_000, 'the live waiter');
    await b.call('unlock', 0, m);
    expect(word(m) & (LOCKED | HANDOFF)).toBe(0);
  });
});

describe('mutex timeouts', () => {
  it('lock({ timeoutMs }) gives up with ETIMEDOUT leaving the word and the thread as they were', async () => {
    const { rt, ctl, base: m, word } = await setup(1);
    const [h, b, w] = await Promise.all(['holder', 'timed', 'waiter'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [h, b, w]) await p.call('attach');
    await h.call('lock', 0, m);
    expect(await codeOfCall(b.call('lockTimed', 0, m, 30))).toBe('ETIMEDOUT');
    expect(word(m)).toBe(LOCKED);
    expect(await b.call('state', 0)).toBe('attached');
    expect(await codeOfCall(b.call('lockTimed', 0, m, 0))).toBe('ETIMEDOUT');
    expect(word(m)).toBe(LOCKED);
    // With another waiter parked: the count goes back to that one waiter.
    const wLock = w.call('lock', 0, m);
    await until(() => waiters(word(m)) === 1, LIMIT, 'W counted');
    expect(await codeOfCall(b.call('lockTimed', 0, m, 30))).toBe('ETIMEDOUT');
    expect(waiters(word(m))).toBe(1);
    expect(word(m) & (LOCKED | HANDOFF)).toBe(LOCKED);
    expect(await codeOfCall(b.call('lockAsync', 0, m, 30))).toBe('ETIMEDOUT');
    expect(waiters(word(m))).toBe(1);
    await h.call('unlock', 0, m);
    await within(wLock, 10_000, 'W after the timeouts');
    await w.call('unlock', 0, m);
    expect(word(m)).toBe(0);
    // A timed lock that gets the lock in time, and a timed lockAsync.
    await h.call('lock', 0, m);
    const timed = b.call('lockTimed', 0, m, 60_000);
    await until(() => waiters(word(m)) === 1, LIMIT, 'B counted');
    await h.call('unlock', 0, m);
    await within(timed, 10_000, 'timed lock');
    expect(await b.call('state', 0)).toBe('attached');
    await b.call('unlock', 0, m);
    await b.call('lockAsync', 0, m, 1000);
    await b.call('unlock', 0, m);
    expect(word(m)).toBe(0);
  }, TEST_TIMEOUT);

  it('bad timeouts: EINVAL_ARG', async () => {
    const { main, base: m, word } = await setup(1);
    main.attach();
    for (const bad of [-1, NaN, Infinity, '5' as unknown as number]) {
      expect(codeOf(() => main.lock(m, { timeoutMs: bad })), String(bad)).toBe('EINVAL_ARG');
      await expect(main.lockAsync(m, { timeoutMs: bad })).rejects.toMatchObject({ code: 'EINVAL_ARG' });
    }
    expect(word(m)).toBe(0);
    main.lock(m, { timeoutMs: 0 });   // free: taken at once
    expect(codeOf(() => main.lock(m, { timeoutMs: 0 }))).toBe('ETIMEDOUT');
    main.unlock(m);
    main.detach();
  });
});

// ---- A destroy under a lock-free reader (shared-handle.ts) ---------------------------------
//
// Forced with pause point DP_HANDLE_READ: R's lock-free get has passed the handle
// check and is stopped before it loads the storage pointer; W (the creator)
// destroys the structure, then allocates 16-byte blocks (the header's size) and the
// test writes into each the address of a forged array/table at the storage field.
// Before the fix the header was freed at once, so one of W's blocks WAS the header
// and R read the forged contents (0xBAD) — verified on the old shared-handle.ts.
// Now the header waits for a grace period (R is attached and has not passed a
// quiescent state): it is not reused, and R loads storage 0 and reports EINVAL_PTR.
describe('destroy under a lock-free reader', () => {
  for (const kind of ['list', 'map'] as const) {
    it(`${kind}: the header is not reused under a reader; the reader gets EINVAL_PTR, not another block's data`, async () => {
      const { rt, ctl, base: flag, word } = await setup(2);
      const [w, r] = await Promise.all(['writer', 'reader'].map((n) => Peer.start(rt, ctl, n)));
      await w.call('attach');
      await r.call('attach');
      type Raw = { value: number; code: number };
      const raw = (p: Peer, name: string, ...args: number[]) => p.call<Raw>('rawShared', 0, name, ...args);
      const h = (await raw(w, `${kind}_new`, 4)).value >>> 0;
      expect(h).not.toBe(0);
      if (kind === 'list') expect((await raw(w, 'list_push', h, 7)).value).toBe(0);
      else expect((await raw(w, 'map_set', h, 1, 7)).value).toBe(0);
      // A forged list array {capacity 4, length 1, items [0xBAD]} / map table {capacity 8, mask 7, slots: key 1 -> 0xBAD}.
      const forged = await w.call('calloc', 0, 1, 256);
      const v = new DataView(rt.memory.buffer);
      if (kind === 'list') {
        v.setUint32(forged, 4, true); v.setUint32(forged + 8, 1, true); v.setUint32(forged + 16, 0xbad, true);
      } else {
        v.setUint32(forged, 8, true); v.setUint32(forged + 4, 7, true);
        for (let i = 0; i < 8; i++) {   // every slot: key 1, FULL, value 0xBAD
          v.setUint32(forged + 16 + i * 16, 1, true);
          v.setUint32(forged + 16 + i * 16 + 8, 0xbad, true); v.setUint32(forged + 16 + i * 16 + 12, 1, true);
        }
      }
      await r.call('pauseAt', DP_HANDLE_READ, flag, 1);
      const read = kind === 'list' ? raw(r, 'list_get', h, 0) : raw(r, 'map_get', h, 1);
      await until(() => word(flag) === 1, LIMIT, 'reader paused after the handle check');
      expect((await raw(w, `${kind}_destroy`, h)).value).toBe(0);
      const blocks = await w.call<number[]>('allocMany', 0, 600, 16);
      for (const b of blocks) v.setUint32(b + 8, forged, true);
      const i32 = new Int32Array(rt.memory.buffer);
      Atomics.store(i32, flag >>> 2, 2);
      Atomics.notify(i32, flag >>> 2);
      const got = await within(read, LIMIT, 'the paused read');
      expect(got.value).not.toBe(0xbad);
      expect(blocks).not.toContain(h);
      expect(got).toEqual({ value: -2, code: EINVAL_PTR });
      // Later: the header's grace period passes and calls on it are refused.
      await r.call('checkpoint', 0);
      await w.call('checkpoint', 0);
      expect((await raw(r, kind === 'list' ? 'list_get' : 'map_get', h, 0)).code).toBe(EINVAL_PTR);
    }, TEST_TIMEOUT);
  }
});
