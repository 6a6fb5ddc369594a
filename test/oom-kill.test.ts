// oom-kill.test.ts — workers that keep a small memory full (most slow paths end in
// ENOMEM: small, medium, large and huge blocks, allocMany), freeing each other's
// blocks, while the main thread terminates one at a random moment and starts
// another (test/fixtures/oom-worker.ts). Checked: every error a worker sees is the
// typed ENOMEM, and every live worker keeps making progress after each kill; at the
// end, with every block freed, the reaped workers' segments collected and the heap
// valid, the memory is usable again: as many 1 MiB blocks fit as on a fresh runtime
// of the same size, less a few. Twice: on the release build and on the debug build
// (validators in the slow paths). Rounds: OOM_ROUNDS (default 12 and 6); seed: OOM_SEED.
import { describe, expect, it } from 'vitest';
import { ErrorCode, FtheapError, Runtime, type RuntimeWorker, type Thread } from '../src/index.ts';
import { fixtureUrl, freeRing, sleep, until, useHarness } from './fixtures/harness.ts';
import { Rng } from './fixtures/prng.ts';
import type { OomData } from './fixtures/oom-worker.ts';

useHarness();

const ROUNDS = Number(process.env.OOM_ROUNDS ?? 12);
const DEBUG_ROUNDS = Number(process.env.OOM_ROUNDS ?? 6);
const SEED = Number(process.env.OOM_SEED ?? 4242);
const MAX = 64 << 20;
const SLOTS = 4096;

// 1 MiB blocks until ENOMEM; all freed again. How many fitted.
function fill(t: Thread): number {
  const got: number[] = [];
  for (;;) {
    try { got.push(t.alloc(1 << 20)); } catch (e) {
      if (e instanceof FtheapError && e.code === ErrorCode.ENOMEM) break;
      throw e;
    }
  }
  for (const p of got) t.free(p);
  return got.length;
}

describe('out of memory, with workers killed', () => {
  it(`${ROUNDS} kills among 3 workers that keep ${MAX >> 20} MiB full`, () => oomChaos(ROUNDS, false), 180_000);
  it(`the same on the debug build, ${DEBUG_ROUNDS} kills`, () => oomChaos(DEBUG_ROUNDS, true), 180_000);
});

async function oomChaos(ROUNDS: number, debug: boolean): Promise<void> {
  const fresh = await Runtime.create({ maximumMemory: MAX, debug });
  const f = fresh.attach();
  const capacity = fill(f);
  f.exit();

  const rt = await Runtime.create({ maximumMemory: MAX, debug });
  const t = rt.attach();
  const ring = t.alloc(SLOTS * 4);
  new Uint32Array(rt.memory.buffer, ring, SLOTS).fill(0);
  const used0 = rt.stats().totals.blocksUsed, bytes0 = rt.stats().totals.bytesUsed;
  t.detach();

  const rng = new Rng(SEED);
  const errors: string[] = [];
  const steps = new Map<number, number>();
  let ooms = 0, next = 0;
  const live = new Map<number, RuntimeWorker>();
  const start = async () => {
    const id = ++next;
    const data: OomData = { ring, slots: SLOTS, seed: SEED * 17 + id };
    const w = await rt.startWorker(fixtureUrl('oom-worker'), { data });
    (w.worker as unknown as { on(e: string, f: (m: { steps?: number; ooms?: number; error?: string }) => void): void }).on('message', (m) => {
      if (m.error) errors.push(`worker ${id}: ${m.error}`);
      if (m.steps) { steps.set(id, m.steps); ooms += m.ooms! - (oomsOf.get(id) ?? 0); oomsOf.set(id, m.ooms!); }
    });
    await w.thread;
    live.set(id, w);
  };
  const oomsOf = new Map<number, number>();
  for (let i = 0; i < 3; i++) await start();
  for (let round = 0; round < ROUNDS; round++) {
    const seen = new Map([...live.keys()].map((id) => [id, steps.get(id) ?? 0]));
    await until(() => [...seen].every(([id, s]) => (steps.get(id) ?? 0) > s + 64) || errors.length > 0,
      20_000, `progress of workers ${[...seen.keys()]} after round ${round}`);
    expect(errors).toEqual([]);
    await sleep(5 + rng.int(60));
    const ids = [...live.keys()];
    const victim = ids[rng.int(ids.length)];
    await live.get(victim)!.terminate();
    live.delete(victim);
    await start();
  }
  for (const w of live.values()) await w.terminate();
  expect(errors).toEqual([]);
  expect(ooms, 'the workers did run out of memory').toBeGreaterThan(0);

  t.attach();
  freeRing(t, ring, SLOTS);
  t.collect(true);
  rt.domain().collectAbandoned();
  t.validate();
  // a killed worker may lose the block (or allocMany batch) in its hands
  const lost = rt.stats().totals.blocksUsed - used0;
  expect(lost).toBeLessThanOrEqual((ROUNDS + 3) * 4);
  // What the lost blocks take, rounded up to 1 MiB blocks, plus one for each (the
  // rest of its page or segment): every other byte is back in use, the reaped
  // workers' segments adopted or returned to the runtime.
  const lostMiB = Math.ceil((rt.stats().totals.bytesUsed - bytes0) / (1 << 20));
  const now = fill(t);
  if (process.env.OOM_VERBOSE) console.log({ capacity, now, lost, lostMiB, ooms, memory: rt.stats().memory });
  expect(now).toBeGreaterThanOrEqual(capacity - lostMiB - lost - 1);
  t.validate();
  t.exit();
}
