// qsbr-slot-kill.test.ts — a worker killed during its first attach, right after it
// took its QSBR slot (assembly/qsbr-slots.ts qsbrTakeSlot, pause point
// DP_QSBR_SLOT_TAKEN). Debug build, a real worker on the shared memory.
//
// Correct: the slot is linked to the thread in the same hold of the domain's mutex
// that takes it off the free list, so the reap of the dead worker's instance gives
// it back: the domain's slots are as before, every taken slot names its thread (the
// validator), and the freed slot is reused rather than the array grown. Before: the
// slot was reserved in one hold and registered in another; killed in between, it
// stayed reserved with no thread naming it, and no reap could return it (a slot and
// its 64 bytes lost for every worker killed there, the array growing without end).
import { describe, expect, it } from 'vitest';
import { DP_QSBR_SLOT_TAKEN } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a worker killed right after taking its QSBR slot', () => {
  it('is reaped with its slot given back', async () => {
    const { rt, t, f, peers: [w, v] } = await killRig(2);
    const d = rt.domain();
    const before = d.qsbrInfo();
    const instance = await killAt(w, f, DP_QSBR_SLOT_TAKEN, 'the first attach took its slot', () => w.call('attach'),
      () => expect(d.qsbrInfo().slotsUsed, 'the slot names the worker').toBe(before.slotsUsed + 1));
    expect(reapInstance(rt, instance).length, 'the worker\'s thread was reaped').toBe(1);
    expect(d.qsbrInfo().slotsUsed, 'its slot is free again').toBe(before.slotsUsed);
    t.validate();                    // free + taken = count; every taken slot names a thread
    // The freed slot serves the next thread: the array does not grow.
    await v.call('attach');
    expect(d.qsbrInfo().slots).toBe(before.slots);
    expect(d.qsbrInfo().slotsUsed).toBe(before.slotsUsed + 1);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
