// handle-unlock-kill.test.ts — a SharedMap / SharedList writer killed while it lets
// go of the structure's writers' mutex, another writer parked on it: killed at the
// entry of the unlock's slow path (DP_UNLOCK_SLOW, a call, where V8 may stop a
// worker), which any waiter — or a count a dead waiter leaked — sends every unlock
// down. Debug build, real workers.
//
// Correct: the thread record names the header (T_HANDLE_HELD) until the CAS that
// lets the mutex go, so the reap lets it go and the parked writer gets it. Before:
// the word was cleared just before the unlock, so the mutex stayed held with no
// holder named, and every later writer waited for ever (a user-style hunt hit it
// within a few dozen random kills of two map writers).
import { describe, expect, it } from 'vitest';
import { DP_HANDLE_LOCKED, DP_UNLOCK_SLOW } from '../src/abi.gen.ts';
import { reapInstance, SharedList, SharedMap } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';

useHarness();
const H_MUTEX = 4;    // assembly/shared-handle.ts: the writers' mutex in the header
const M_WAITER = 8;   // assembly/mutex.ts: one counted waiter

describe('a writer killed letting go of a shared structure\'s mutex, another parked on it', () => {
  it.each(['SharedMap', 'SharedList'])('%s: the reap lets it go and the parked writer gets it', async (kind) => {
    const { rt, t, f, peers: [a, b] } = await killRig(2);
    const s = kind === 'SharedMap' ? SharedMap.create(t) : SharedList.create(t);
    const word = () => Atomics.load(new Uint32Array(rt.memory.buffer, s.handle + H_MUTEX, 1), 0);
    const write = (p: typeof a) => kind === 'SharedMap'
      ? p.call('mapSet', 0, s.handle, 1, 2)
      : p.call('listPushes', 0, s.handle, 1);
    await a.call('attach');
    await b.call('attach');
    t.detach();
    const instance = await a.call<number>('instance');
    // A pauses holding the mutex inside its write, then again entering the unlock's slow path.
    await a.call('pauseAt', DP_HANDLE_LOCKED | (DP_UNLOCK_SLOW << 16), f.addr, 1);
    write(a).catch(() => {});
    await until(f.paused, 10_000, 'A holds the mutex');
    const bWrote = write(b);                        // B parks on the mutex
    await until(() => word() >= M_WAITER, 10_000, 'B parked on the mutex');
    f.release();
    await until(f.paused, 10_000, 'A in the unlock\'s slow path');
    await a.terminate();
    expect(reapInstance(rt, instance).length, 'A\'s thread was reaped').toBe(1);
    await within(bWrote, 10_000, 'B\'s write (the mutex let go)');
    t.attach();
    if (s instanceof SharedMap) expect(s.get(1)).toBe(2); else expect(s.length).toBeGreaterThanOrEqual(1);
    t.validate();
  }, 60_000);
});
