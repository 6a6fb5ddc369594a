// qsbr-grow-kill.test.ts — a worker whose first attach grows the QSBR slot array is killed
// inside the grow's stop-the-world (main's threads hold all 8 slots, detached): at
// DP_STW_BEGUN (inside stwStop, before anything is copied) and at DP_STW_RESTARTING
// (inside stwStart, the new array published). The reap must not assert, the slot
// array must validate, and the next thread must get a slot.
import { describe, expect, it } from 'vitest';
import { DP_STW_BEGUN, DP_STW_RESTARTING } from '../src/abi.gen.ts';
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
