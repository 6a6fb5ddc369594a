// pool-giving-kill.test.ts — a worker killed while its collection of the domain's
// abandoned pool gives an emptied segment back to the runtime (assembly/abandon.ts
// segmentCollect, pause point DP_POOL_GIVING: the segment is out of the pool, its
// unit not yet free). Debug build, real workers on the shared memory.
//
// Correct: the collector marks the segment (SEG_GIVING) and names it in the domain
// (D_ABANDON_GIVING) in the same breath as it unlinks it; the reap that lets the
// dead collector's pool lock go marks the pool, and the next holder finds the mark
// and gives the unit back: the runtime's live units return to what they were.
// Before: the unit was in no pool and no thread's list, and stayed live for good
// (4 MiB lost per collector killed there).
import { describe, expect, it } from 'vitest';
import { AI_FREED, AI_SEGMENTS, DP_POOL_GIVEN, DP_POOL_GIVING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { abandonOne, killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a pool collector killed giving a segment back', () => {
  it('leaves the unit to the next holder, which gives it back', async () => {
    const { rt, t, f, peers: [x, w] } = await killRig(2);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const b = await abandonOne(x);                       // its segment, holding b, goes to the pool
    expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0).toBe(1);
    expect(rt.stats().segments.unitsLive).toBe(units0 + 1);
    t.free(b);                                     // the pooled segment is now empty
    await w.call('attach');
    const instance = await killAt(w, f, DP_POOL_GIVING, 'the collection is giving the segment back',
      () => w.call('collectAbandoned'),
      () => expect(rt.exports.ft_abandon_info(d.id, AI_SEGMENTS) >>> 0, 'out of the pool').toBe(0));
    expect(rt.stats().segments.unitsLive, 'the unit is not free yet').toBe(units0 + 1);
    const freed0 = rt.exports.ft_abandon_info(d.id, AI_FREED) >>> 0;
    expect(reapInstance(rt, instance).length).toBe(1);
    d.collectAbandoned();
    expect(rt.stats().segments.unitsLive, 'the unit went back to the runtime').toBe(units0);
    expect(rt.exports.ft_abandon_info(d.id, AI_FREED) >>> 0, 'counted as given back').toBe(freed0 + 1);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

describe('a pool collector killed after the unit went back, before it cleared its mark', () => {
  it('the unit, handed out again meanwhile, is not given back a second time', async () => {
    const { rt, t, f, peers: [x, w, y] } = await killRig(3);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const b = await abandonOne(x);
    t.free(b);
    await w.call('attach');
    const instance = await killAt(w, f, DP_POOL_GIVEN, 'the unit is free, the domain still names it',
      () => w.call('collectAbandoned'));
    expect(rt.stats().segments.unitsLive, 'the unit went back').toBe(units0);
    // Another thread takes a fresh segment: the first free unit, the very one.
    await y.call('attach');
    const blocks = await y.call<number[]>('allocMany', 0, 100, 64);
    expect(blocks[0] >>> 22, 'the same unit, handed out again').toBe(b >>> 22);
    expect(rt.stats().segments.unitsLive).toBe(units0 + 1);
    expect(reapInstance(rt, instance).length).toBe(1);
    d.collectAbandoned();            // finds the dead collector's mark: must leave the live segment alone
    expect(rt.stats().segments.unitsLive, 'the live segment is still live').toBe(units0 + 1);
    await y.call('freeManyBatch', 0, blocks);
    await y.call('validate', 0);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});
