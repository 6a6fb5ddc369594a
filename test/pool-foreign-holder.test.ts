// pool-foreign-holder.test.ts — (review of 82761b8) a thread of domain D that dies holding domain
// D2's pool lock (a collection of D2 with the caller's current thread as holder): the reap used
// to let go only of the dead thread's own domain's pool lock. Now it lets go of every domain's.
import { describe, expect, it } from 'vitest';
import { AI_LOCK_HOLDER, DP_POOL_GIVING } from '../src/abi.gen.ts';
import { reapInstance } from '../src/index.ts';
import { useHarness } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';

useHarness();

describe('a collector of another domain\'s pool killed giving a segment back', () => {
  it('is reaped, and D2\'s pool lock let go', async () => {
    const { rt, t, f, peers: [y, w] } = await killRig(2);
    const d2 = rt.createDomain();
    const units0 = rt.stats().segments.unitsLive;
    await y.call('attach', d2.id);
    const b = await y.call<number>('alloc', 0, 64);
    await y.call('exit', 0);
    await y.call('attach', d2.id);
    await y.call('free', 1, b);
    await w.call('attach');                       // w: a thread of the default domain
    const instance = await killAt(w, f, DP_POOL_GIVING, 'giving D2\'s segment', () => w.call('collectAbandoned', d2.id));
    let reaped: unknown;
    try { reaped = reapInstance(rt, instance).length; } catch (e) { reaped = String(e).slice(0, 120); }
    const holder = rt.exports.ft_abandon_info(d2.id, AI_LOCK_HOLDER) >>> 0;
    // eslint-disable-next-line no-console
    console.log(JSON.stringify({ reaped, holder, units: rt.stats().segments.unitsLive, units0 }));
    expect(reaped).toBe(1);
    expect(holder, 'D2\'s pool lock let go').toBe(0);
    t.free(f.addr);
  }, 60_000);
});
