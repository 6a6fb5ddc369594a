// pool-giving-review.test.ts — the review of the pool give-back marks (82761b8): a mark names its
// domain (another domain's give-back of the same unit is not ours), and a finish counts off
// only what the dead collector had not (committed bytes stay exact).
import { describe, expect, it } from 'vitest';
import { DP_POOL_GIVEN, DP_POOL_GIVING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { until } from './fixtures/harness.ts';
import { useHarness } from './fixtures/harness.ts';
import { abandonOne, killAt, killRig } from './fixtures/killed.ts';

useHarness();

// D's collector w dies at DP_POOL_GIVEN: unit S is free, D_ABANDON_GIVING(D) still names S.
// S is handed to a thread of another domain D2 (mark cleared), abandoned into D2's pool,
// and D2's live collector z is giving it back (SEG_GIVING(S) = 1, paused at DP_POOL_GIVING).
// The reap of w lets D's pool lock go; D's next collection runs poolGivingFinish(D), finds
// S NORMAL and marked, and releases it: z's unit, which z frees again when it goes on.
describe('cross-domain: a stale D_ABANDON_GIVING names a unit another domain is giving back', () => {
  it('D\'s finish must leave D2\'s give-back alone', async () => {
    const { rt, t, f, peers: [x, w, y, z] } = await killRig(4);
    const d = rt.domain();
    const d2 = rt.createDomain();
    const units0 = rt.stats().segments.unitsLive;
    const b = await abandonOne(x);
    t.free(b);
    await w.call('attach');
    const instance = await killAt(w, f, DP_POOL_GIVEN, 'unit free, D still names it', () => w.call('collectAbandoned'));
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(reapInstance(rt, instance).length).toBe(1);   // D's pool lock let go, D marked; nothing collects D yet
    // D2: the same unit, pooled and emptied.
    await y.call('attach', d2.id);
    const b2 = await y.call<number>('alloc', 0, 64);
    expect(b2 >>> 22, 'the same unit, now D2\'s').toBe(b >>> 22);
    await y.call('exit', 0);
    await y.call('attach', d2.id);
    await y.call('free', 1, b2);
    expect(rt.stats().segments.unitsLive).toBe(units0 + 1);
    // z (D2) collects: S marked giving, paused before it frees it.
    await z.call('attach', d2.id);
    f.reset();
    await z.call('pauseAt', DP_POOL_GIVING, f.addr, 1);
    const zDone = z.call('collectAbandoned', d2.id).then((n) => ({ ok: true, n }), (e) => ({ ok: false, e: String(e) }));
    await until(f.paused, 10_000, 'z giving S back');
    d.collectAbandoned();   // poolGivingFinish(D)
    const afterFinish = rt.stats().segments.unitsLive;
    // Another thread takes a fresh segment meanwhile: S again if D's finish freed it.
    const blocks = await y.call<number[]>('allocMany', 1, 50, 64);
    const sameUnit = (blocks[0] >>> 22) === (b >>> 22);
    f.release();
    const r = await zDone;
    const after = rt.stats().segments.unitsLive;
    // eslint-disable-next-line no-console
    console.log(JSON.stringify({ units0, afterFinish, sameUnit, z: r, after }));
    expect(afterFinish, 'S is still z\'s to give back').toBe(units0 + 1);
    expect(sameUnit, 'S not handed out while z still gives it back').toBe(false);
    expect(r.ok).toBe(true);
    await y.call('freeManyBatch', 1, blocks);
    await y.call('validate', 1);
    t.validate();
    t.free(f.addr);
  }, 60_000);
});

// Committed bytes after a collector is killed at DP_POOL_GIVING (the page not yet freed):
// the finish releases the segment (SEG_META_BYTES) but never decommits the page.
describe('committed bytes after a give-back finished by the next holder', () => {
  for (const kill of [false, true]) {
    it(kill ? 'killed at DP_POOL_GIVING' : 'control: no kill', async () => {
      const { rt, t, f, peers: [x, w] } = await killRig(2);
      const d = rt.domain();
      await x.call('attach');
      await w.call('attach');
      const c0 = rt.stats().memory.committed;
      const units0 = rt.stats().segments.unitsLive;
      const b = await x.call<number>('alloc', 0, 64);
      await x.call('exit', 0);
      t.free(b);
      if (kill) {
        const instance = await killAt(w, f, DP_POOL_GIVING, 'giving', () => w.call('collectAbandoned'));
        expect(reapInstance(rt, instance).length).toBe(1);
        d.collectAbandoned();
      } else {
        await w.call('collectAbandoned');
      }
      expect(rt.stats().segments.unitsLive).toBe(units0);
      const c1 = rt.stats().memory.committed;
      // eslint-disable-next-line no-console
      console.log(JSON.stringify({ kill, c0, c1, drift: c1 - c0 }));
      expect(c1 - c0, 'committed back where it was').toBe(0);
      t.free(f.addr);
    }, 60_000);
  }
});
