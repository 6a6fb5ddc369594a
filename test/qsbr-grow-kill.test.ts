// qsbr-grow-kill.test.ts — a worker whose first attach grows the QSBR slot array is killed
// inside the grow's stop-the-world (main's threads hold all 8 slots, detached): at
// DP_STW_BEGUN (inside stwStop, before anything is copied) and at DP_STW_RESTARTING
// (inside stwStart, the new array published). The reap must not assert, the slot
// array must validate, and the next thread must get a slot.
import { describe, expect, it } from 'vitest';
import { DP_QSBR_REPOINTED, DP_STW_BEGUN, DP_STW_RESTARTING } from '../src/abi.gen.ts';
import { reapInstance, type Thread } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a worker killed inside the stop of qsbrGrow', () => {
  for (const [name, point] of [['DP_STW_BEGUN', DP_STW_BEGUN], ['DP_STW_RESTARTING', DP_STW_RESTARTING]] as const) {
    it(`at ${name}: reaped, slots valid, the next attach served`, async () => {
      const { rt, t, f, peers: [w, v] } = await killRig(2);
      const d = rt.domain();
      const ts: Thread[] = [t];
      while (d.qsbrInfo().slotsUsed < d.qsbrInfo().slots) ts.push(rt.attach());
      for (const x of ts) x.detach();
      const before = d.qsbrInfo();
      expect(before.slots).toBe(8);
      const instance = await killAt(w, f, point, name, () => w.call('attach'));
      expect(reapInstance(rt, instance).length).toBe(1);
      t.attach();
      t.validate();
      expect(d.qsbrInfo().slotsUsed).toBe(8);
      t.detach();                     // v may grow again: main must not be attached through that stop
      await v.call('attach');
      t.attach();
      t.validate();
      expect(d.qsbrInfo().slotsUsed).toBe(9);
      t.free(f.addr);
    }, 60_000);
  }
});

// Forced: the grower is killed after the new array is published, in the loop that moves
// the threads' slot pointers to it (DP_QSBR_REPOINTED: one thread moved, the others
// still pointing into the old array). Correct: the reap, which lets go of the dead
// grower's slot mutex, points every thread at its slot in the published array before
// it ends the grower's stop; the slots validate and every thread's quiescent state is
// seen. Before (the pointers moved first, then the array published): the reap's
// validator asserted (A_QSBR_SLOTS), and in a release build a thread left pointing at
// the old array wrote its sequence where no poller reads.
describe('a worker killed while a grow moves the threads\' slot pointers', () => {
  it('is reaped with every thread pointing into the published array', async () => {
    const { rt, t, f, peers: [w] } = await killRig(2);
    const d = rt.domain();
    const ts: Thread[] = [t];
    while (d.qsbrInfo().slotsUsed < d.qsbrInfo().slots) ts.push(rt.attach());
    for (const x of ts) x.detach();
    expect(d.qsbrInfo().slots).toBe(8);
    const instance = await killAt(w, f, DP_QSBR_REPOINTED, 'the grow moved one pointer', () => w.call('attach'));
    expect(reapInstance(rt, instance).length).toBe(1);
    expect(d.qsbrInfo().slots, 'the grown array is in force').toBe(16);
    t.attach();
    t.validate();
    // Every thread's quiescent state reaches the published array: a goal is met.
    const goal = t.qsbr.advance();
    for (const x of ts) { x.attach(); x.qsbr.quiescent(); x.detach(); }
    t.attach();
    expect(t.qsbr.poll(goal)).toBe(true);
    t.free(f.addr);
  }, 60_000);
});
