// handle-holder-review.test.ts — the word in a thread's record that names the
// SharedMap/SharedList whose writers' mutex it holds (T_HANDLE_HELD), which a reap
// of the thread uses to let that mutex go. Debug build, real workers (review).
//
// A: a withLockAsync callback that makes another thread of the same instance
// current. Correct: the end of the hold clears the word of the thread that was
// named. Before: it cleared the current thread's; the first kept naming the
// header, and its reap unlocked the mutex under a live writer.
// B: the structure destroyed under the hold through another thread of the instance.
// Correct: the word of the hold's thread is cleared. Before: it kept naming the
// freed header; a reap of that thread unlocked a structure made later at that
// address under its writer.
// C: a write nested in a callback on another structure. Correct: the inner lock
// is not recorded and the outer stays named, so a kill inside the callback is
// reaped with the outer mutex let go. Before: the inner overwrote the word and its
// unlock cleared it; the outer mutex stayed locked for good. (Known gap: a kill
// inside the inner write itself leaves the inner mutex locked.)
import { describe, expect, it } from 'vitest';
import { DP_HANDLE_LOCKED } from '../src/abi.gen.ts';
import { reapInstance, SharedMap } from '../src/index.ts';
import { until, useHarness, within } from './fixtures/harness.ts';
import { killRig } from './fixtures/killed.ts';

useHarness();
const H_MUTEX = 4;            // assembly/shared-handle.ts
const T_HANDLE_HELD = 440;    // assembly/layout.ts

describe('the word naming the structure whose mutex a thread holds', () => {
  it('A: cleared for the thread it named, whichever is current when the hold ends', async () => {
    const { rt, t, f, peers: [a, b] } = await killRig(2);
    const s = SharedMap.create(t);
    const u32 = () => new Uint32Array(rt.memory.buffer);
    const word = () => Atomics.load(u32(), (s.handle + H_MUTEX) >>> 2);
    await a.call('attach');   // T(0)
    await a.call('attach');   // T(1)
    await b.call('attach');
    t.detach();
    const ia = await a.call<number>('instance');
    const a0 = await a.call<number>('id', 0);
    await a.call('holdSwitch', 0, 1, s.handle);
    expect(Atomics.load(u32(), (a0 + T_HANDLE_HELD) >>> 2), 'A\'s record names no header').toBe(0);
    await b.call('pauseAt', DP_HANDLE_LOCKED, f.addr, 1);
    b.call('mapSet', 0, s.handle, 1, 2).catch(() => {});
    await until(f.paused, 10_000, 'B holds the mutex');
    await a.terminate();
    reapInstance(rt, ia);
    expect(word() & 1, 'B still holds the mutex after A\'s reap').toBe(1);
    f.release();
  }, 60_000);

  it('B: cleared when the structure is destroyed under the hold, through another thread', async () => {
    const { rt, t, peers: [a] } = await killRig(1);
    const s = SharedMap.create(t);
    await a.call('attach');   // T(0)
    await a.call('attach');   // T(1)
    t.detach();
    const a0 = await a.call<number>('id', 0);
    await a.call('holdDestroyOther', 0, 1, s.handle);
    expect(Atomics.load(new Uint32Array(rt.memory.buffer), (a0 + T_HANDLE_HELD) >>> 2), 'T(0)\'s record names no header').toBe(0);
  }, 60_000);

  it('C: a kill inside a withLockAsync callback that wrote another structure lets the outer mutex go', async () => {
    const { rt, t, peers: [a, b] } = await killRig(2);
    const mA = SharedMap.create(t), mB = SharedMap.create(t);
    const flag = t.calloc(2, 4);
    const i32 = () => new Int32Array(rt.memory.buffer);
    const word = () => Atomics.load(i32(), (mA.handle + H_MUTEX) >>> 2);
    await a.call('attach');
    await b.call('attach');
    t.detach();
    const ia = await a.call<number>('instance');
    a.call('nestedHoldSpin', 0, mA.handle, mB.handle, flag).catch(() => {});
    await until(() => Atomics.load(i32(), flag >>> 2) === 1, 10_000, 'A inside its callback, B written');
    await a.terminate();
    reapInstance(rt, ia);
    expect(word() & 1, 'map A\'s mutex let go by the reap').toBe(0);
    await within(b.call('mapSet', 0, mA.handle, 2, 3), 5_000, 'B\'s write of map A');
  }, 60_000);
});
