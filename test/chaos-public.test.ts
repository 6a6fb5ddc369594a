// chaos-public.test.ts — workers killed at random moments while the others go on,
// through the public API only, as a user's program would run them: rt.startWorker
// (which reaps a worker's threads on its exit), joinWorker, and a workload of
// allocations, cross-thread frees, batch calls, critical sections on one mutex,
// SharedMap writes, objects shared through a SharedObjectMap, garbage cycles and
// collections, async critical sections, SharedList pushes, the pystack, a global
// stop, threads of a second domain, realloc and aligned blocks, delayed frees, checkpoints, stops of the world, huge blocks
// and thread churn (test/fixtures/chaos-worker.ts). The main thread terminates a
// random worker every few tens of milliseconds and starts another in its place;
// the rest never stop. Checked: no worker ever sees an error, a broken critical
// section or a corrupted block; every worker keeps making progress after each
// kill (a lock, a stop or a QSBR goal the dead one held would stall them); the
// reaps release what the dead held (a mutex held in a critical section is
// unlocked by the onReaped callback, as the README says a user must); at the end
// the heap validates, the live blocks are what the ring holds plus at most one per
// kill, and everything frees back. A third run makes every second worker one
// that may not block, as a browser's main thread (EAGAIN → the async variants,
// attachAsync after a stop left it suspended). Rounds: CHAOS_ROUNDS (default 16); seed:
// CHAOS_SEED; workers: CHAOS_WORKERS (default 3); CHAOS_DEBUG=1: the first test on the debug build too (the second
// always is, with 8 rounds unless CHAOS_ROUNDS says).
import { describe, expect, it } from 'vitest';
import { Runtime, SharedList, SharedMap, SharedObjectMap, type RuntimeWorker } from '../src/index.ts';
import { fixtureUrl, freeRing, sleep, until, useHarness } from './fixtures/harness.ts';
import { Rng } from './fixtures/prng.ts';
import type { ChaosData } from './fixtures/chaos-worker.ts';

useHarness();

const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 16);
const DEBUG_ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 8);
const NB_ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 12);
const SEED = Number(process.env.CHAOS_SEED ?? 20261205);
const WORKERS = Number(process.env.CHAOS_WORKERS ?? 3);
const SLOTS = 256;

describe('chaos through the public API', () => {
  it(`${ROUNDS} kills among ${WORKERS} busy workers: the others go on, the heap stays sound`, () => chaos(ROUNDS, process.env.CHAOS_DEBUG === '1'), 180_000);
  it(`the same on the debug build (validators in the slow paths), ${DEBUG_ROUNDS} kills`, () => chaos(DEBUG_ROUNDS, true), 180_000);
  // Every second worker joins as a thread that may not block (a browser's main
  // thread): its waits fail with EAGAIN and it goes through the async variants,
  // and a stop leaves it suspended at its checkpoints until it attaches again.
  it(`${NB_ROUNDS} kills among workers half of which may not block`, () => chaos(NB_ROUNDS, process.env.CHAOS_DEBUG === '1', true), 180_000);
});

async function chaos(ROUNDS: number, debug: boolean, someNonBlocking = false): Promise<void> {
  const rt = await Runtime.create({ maximumMemory: 1 << 30, debug });
  const t = rt.attach();
  const ring = t.alloc(SLOTS * 4);
  new Uint32Array(rt.memory.buffer, ring, SLOTS).fill(0);
  const mutex = t.alloc(8), owner = mutex + 4;
  new Uint32Array(rt.memory.buffer, mutex, 2).fill(0);
  const map = SharedMap.create(t);
  const omap = SharedObjectMap.create(t);
  const type = t.defineType({ name: 'ChaosBox', size: 8 });
  const node = t.defineType({ name: 'ChaosNode', size: 8, refOffsets: [0, 4], gc: true });
  const list = SharedList.create(t);
  const domain2 = rt.createDomain();
  const used0 = rt.stats().totals.blocksUsed;
  t.detach();   // an attached thread that waits here would hold up the workers' stops

  const status = new SharedArrayBuffer(4 * 4096);
  const rng = new Rng(SEED);
  const errors: string[] = [];
  const steps = new Map<number, number>();   // worker id → steps it reported
  const nbSeen = new Map<number, number>();  // worker id → EAGAINs gone async + suspensions it reported
  const live = new Map<number, RuntimeWorker>();
  let next = 0, reaped = 0, unlocked = 0;
  const reapLog: string[] = [];
  const start = async () => {
    const id = ++next;
    const data: ChaosData = { ring, slots: SLOTS, mutex, owner, map: map.handle, omap: omap.handle, list: list.handle, type, node, domain2: domain2.id, seed: SEED * 31 + id, id, status,
      nonBlocking: someNonBlocking && id % 2 === 0 };
    const w = await rt.startWorker(fixtureUrl('chaos-worker'), {
      data,
      onReaped: (reports) => {
        reapLog.push(`worker ${id} (instance ${w.instance}): ${reports.map((r) => r.id).join(',')}`);
        // Locks its critical section held: the data under them (one word) is repairable.
        for (const r of reports) for (const m of r.heldLocks) { new Uint32Array(rt.memory.buffer, owner, 1)[0] = 0; t.unlock(m); unlocked++; }
        if (t.state === 'attached') t.detach();
      },
    });
    (w.worker as unknown as { on(e: string, f: (m: { steps?: number; error?: string; deferred?: number; suspended?: number }) => void): void }).on('message', (m) => {
      if (m.error) errors.push(`worker ${id}: ${m.error}`);
      if (m.steps) steps.set(id, m.steps);
      if (m.deferred !== undefined) nbSeen.set(id, m.deferred + m.suspended!);
    });
    (w.worker as unknown as { on(e: string, f: (x: unknown) => void): void }).on('error', (e) => { errors.push(`worker ${id} crashed: ${String((e as Error)?.stack ?? e)}`); });
    (w.worker as unknown as { on(e: string, f: (x: unknown) => void): void }).on('exit', (code) => { reapLog.push(`worker ${id} exit ${String(code)}`); });
    await w.thread;
    live.set(id, w);
  };
  for (let i = 0; i < WORKERS; i++) await start();

  for (let round = 0; round < ROUNDS; round++) {
    // every live worker makes progress since the last kill
    const seen = new Map([...live.keys()].map((id) => [id, steps.get(id) ?? 0]));
    try {
      await until(() => [...seen].every(([id, s]) => (steps.get(id) ?? 0) > s + 256) || errors.length > 0,
        20_000, `progress of workers ${[...seen.keys()]} after round ${round}`);
    } catch (e) {
      const st = new Int32Array(status);
      console.log([...seen.keys()].map((id) => ({ id, step: st[id] - 1, thread: st[2048 + id], steps: steps.get(id) })),
        rt.domain().threads(), { mutex: new Uint32Array(rt.memory.buffer, mutex, 2).join(',') }, reapLog, errors);
      throw e;
    }
    expect(errors).toEqual([]);
    await sleep(5 + rng.int(40));
    const ids = [...live.keys()];
    const victim = ids[rng.int(ids.length)];
    const w = live.get(victim)!;
    live.delete(victim);
    reaped += await w.terminate();   // resolves once the worker stopped; its threads are reaped (retrying while blocked)
    await start();
  }
  for (const w of live.values()) reaped += await w.terminate();
  live.clear();
  expect(errors).toEqual([]);
  // the workers that may not block did meet EAGAIN, or were left suspended by a stop
  if (someNonBlocking) expect([...nbSeen.values()].reduce((a, b) => a + b, 0), 'non-blocking waits gone async').toBeGreaterThan(0);
  // one thread each, but none for a worker killed between exit() and its next
  // attach, and two for one killed with a thread of the second domain attached
  expect(reaped, 'threads reaped').toBeGreaterThan((ROUNDS + WORKERS) / 2);
  expect(reaped).toBeLessThanOrEqual(2 * (ROUNDS + WORKERS));

  t.attach();
  t.reclaimAbandoned();
  t.validate();
  freeRing(t, ring, SLOTS);
  for (const [k] of [...map]) map.delete(k);
  omap.clear();
  while (list.pop() !== undefined) { /* empty it */ }
  rt.domain().gc.collect();   // the garbage cycles left
  for (let i = 0; i < 5; i++) { t.checkpoint(); t.processDelayed(); }
  t.collect(true);
  rt.domain().collectAbandoned();
  domain2.collectAbandoned();
  // a killed worker may lose the block in its hands, or a batch of allocMany
  const lost = rt.stats().totals.blocksUsed - used0;
  expect(lost, `blocks left used after ${ROUNDS + WORKERS} kills`).toBeLessThanOrEqual((ROUNDS + WORKERS) * 16);
  const q = rt.domain().qsbrInfo();
  expect(q.delayedPending, `queued ${q.delayedQueued}, freed ${q.delayedFreed}, failed ${q.delayedFailed}`).toBe(0);
  // a killed worker may leak the object in its hands (a reference it had not let go)
  const objects = rt.domain().stats().objects;
  expect(objects.live, `objects left live after ${ROUNDS + WORKERS} kills`).toBeLessThanOrEqual(ROUNDS + WORKERS);
  expect(t.tryLock(mutex), 'the mutex is free').toBe(true);
  t.unlock(mutex);
  t.stopTheWorld(() => {}, { timeoutMs: 5000 });
  t.validate();
  if (process.env.CHAOS_VERBOSE) console.log({ lost, unlocked, reaped, objects, nb: [...nbSeen.values()].reduce((a, b) => a + b, 0), steps: [...steps.values()].reduce((a, b) => a + b, 0) });
  t.exit();
}
