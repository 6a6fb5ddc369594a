// kill-fuzz.test.ts — workers killed at random moments of a random mix of public-API
// calls (allocations and frees across threads, delayed frees, a SharedMap, critical
// sections, a mutex, stops of a domain and of the whole runtime, QSBR goals, thread
// exits and new threads in two domains, collects). Each round starts fuzzers, lets
// them run, terminates each at a moment of its own, and reaps their instances from a
// checker worker. Then the runtime must still work: a global stop, a QSBR goal, the
// map, allocation; at the end the second domain closes, no thread is counted live but
// the main and the checker, and the validators pass over everything left.
// Rounds: KILL_FUZZ_ROUNDS (default 6; a long hunt: KILL_FUZZ_ROUNDS=200). Seed:
// KILL_FUZZ_SEED. Every wait is bounded, so a hang fails the round that caused it.
import { describe, expect, it } from 'vitest';
import { Runtime, SharedMap } from '../src/index.ts';
import { Peer, sleep, useHarness, within } from './fixtures/harness.ts';
import { Ctl, newCtl } from './fixtures/protocol.ts';
import { Rng } from './fixtures/prng.ts';

useHarness();

/** The runtime's lock words and every thread record, for a round that hung (diagnosis only). */
function dump(rt: Runtime, domains: number[]): string {
  const w = new Uint32Array(rt.memory.buffer);
  const at = (a: number) => w[a >>> 2];
  const ROOT = 1024;
  const lines = [`root locks: os ${at(ROOT + 4)} meta ${at(ROOT + 32)} stats ${at(ROOT + 64)} head ${at(ROOT + 76)} res ${at(ROOT + 108)} stwRw ${at(ROOT + 92)}`];
  for (const d of domains) {
    lines.push(`domain ${d}: qsbrMutex ${at(d + 256)} dqMutex ${at(d + 320)} chunk ${at(d + 360)} abandon ${at(d + 384)} dqHolder ${at(d + 420)} qsbrHolder ${at(d + 424)} stw mutex ${at(d + 64)} req ${at(d + 68)} requester ${at(d + 80)} rwHeld ${at(d + 84)}`);
  }
  for (let t = at(ROOT + 48); t !== 0; t = at(t + 8)) {
    lines.push(`thread ${t}: domain ${at(t + 24)} state ${at(t)} serial ${at(t + 4)} owner ${at(t + 252)} reaped ${at(t + 256)} reaper ${at(t + 248)} freeing ${at(t + 260)}`);
    if (lines.length > 200) break;
  }
  return lines.join('\n');
}
const ROUNDS = Number(process.env.KILL_FUZZ_ROUNDS ?? 6);
const SEED = Number(process.env.KILL_FUZZ_SEED ?? 20261203);
const FUZZERS = 3;
const SLOTS = 256;

describe('kill fuzz', () => {
  it(`${ROUNDS} rounds of ${FUZZERS} workers killed at random moments of random API calls: the runtime stays usable`, async () => {
    const rt = await Runtime.create({ debug: true, maximumMemory: 1 << 30 });
    const t = rt.attach();
    const m = t.alloc(8), m2 = t.alloc(8);
    const rings = [t.alloc(SLOTS * 4), t.alloc(SLOTS * 4)];   // block slots of the default domain, of D2
    const objRings = [t.alloc(SLOTS * 4), t.alloc(SLOTS * 4)];   // object slots, the same way
    for (const r of [...rings, ...objRings]) new Uint32Array(rt.memory.buffer, r, SLOTS).fill(0);
    const map = SharedMap.create(t);
    const d2 = rt.createDomain();
    t.detach();   // an attached main thread that awaits would hold up every stop
    const ctl = newCtl();
    const [checker] = await Peer.startMany(rt, ctl, 1);
    const c = await checker.call<number>('attach');
    await checker.call('detach', c);
    const rng = new Rng(SEED);
    for (let round = 0; round < ROUNDS; round++) {
      const what = `round ${round} (seed ${SEED})`;
      const fuzzers = await Peer.startMany(rt, ctl, FUZZERS);
      const instances: number[] = [];
      for (const [i, f] of fuzzers.entries()) {
        instances.push(await f.call<number>('instance'));
        const th = await f.call<number>('attach', rng.int(2) === 0 ? 0 : d2.id);
        f.call('fuzz', th, { m, m2, rings, objRings, slots: SLOTS, map: map.handle, seed: SEED + round * 16 + i, stop: Ctl.STOP,
          domains: [0, d2.id] }).catch(() => {});
      }
      await Promise.all(fuzzers.map(async (f) => { await sleep(2 + rng.int(60)); await f.terminate(); }));
      // One by one, as exit events come: a reap that finds a lock another dead one held gives up (EAGAIN) and is
      // tried again after the others.
      let pending = [...instances];
      for (let pass = 0; pending.length > 0; pass++) {
        expect(pass, `${what}: reaps still blocked after ${pass} passes: ${pending}`).toBeLessThan(FUZZERS + 2);
        const left: number[] = [];
        for (const instance of pending) {
          const r = await within(checker.call<{ blocked?: string }>('reapAndUnlock', c, instance), 10_000, `${what}: reaping instance ${instance}`)
            .catch((e) => { console.log(`${what}: instances ${instances}\n${dump(rt, [rt.domain().id, d2.id])}`); throw e; });
          if (r.blocked) left.push(instance);
        }
        pending = left;
      }
      Atomics.store(new Int32Array(rt.memory.buffer), m2 >>> 2, 0);   // a lock a dead worker held (not a section's)
      if (process.env.KILL_FUZZ_VERBOSE) console.log(what, [...new Uint32Array(rt.memory.buffer, rings[0], SLOTS)].filter(Boolean).length, [...new Uint32Array(rt.memory.buffer, rings[1], SLOTS)].filter(Boolean).length);
      // The runtime works on without them.
      await within(checker.call('reattach', c), 10_000, `${what}: the checker attaches`);
      const stop = await within(checker.call<{ code: string }>('stopTimed', c, { global: true, timeoutMs: 5000, stayAttached: true }),
        10_000, `${what}: a global stop`);
      expect(stop.code, `${what}: a global stop`).toBe('OK');
      const goal = await checker.call<number>('qsbrAdvance', c);
      await within((async () => {
        while (!(await checker.call<boolean>('qsbrPoll', c, goal))) await checker.call('checkpoint', c);
      })(), 10_000, `${what}: a QSBR goal`);
      const p = await within(checker.call<number>('alloc', c, 100), 10_000, `${what}: an allocation`);
      await checker.call('free', c, p);
      await within(checker.call('mapSet', c, map.handle, 99, round), 10_000, `${what}: the map`);
      await checker.call('detach', c);
    }
    // Whatever the fuzzers left: freed, the second domain closed, everything adopted and checked.
    t.attach();
    for (const p of new Uint32Array(rt.memory.buffer, rings[0], SLOTS)) if (p !== 0) t.free(p);   // D2's go with D2
    for (const o of new Uint32Array(rt.memory.buffer, objRings[0], SLOTS)) if (o !== 0) t.decref(o);
    t.domain.gc.collect();   // the cycles the fuzzers made
    expect(map.get(99), 'the map kept the checker\'s last write').toBe(ROUNDS - 1);
    expect(() => d2.close(), 'no thread of D2 is live').not.toThrow();
    expect(rt.stats().threads.live, 'the main thread and the checker\'s').toBe(2);
    t.reclaimAbandoned();
    t.validate();
  }, 60_000 + ROUNDS * 15_000);
});
