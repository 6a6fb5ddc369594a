// stress.test.ts — many workers on one runtime, checked for lost or corrupted blocks.
//
// Workload (test/fixtures/stress-worker.ts): WORKERS workers each make OPS
// allocations (WORKERS * OPS >= 1,000,000 alloc/free pairs in total), sizes
// log-uniform in 1 B..64 KiB plus rare huge blocks (3..8 MiB, chance HUGE_CHANCE,
// at most MAX_LIVE_HUGE live per worker), holding up to MAX_LIVE blocks. Every
// block is filled with a pattern of (worker, seq) and checked before it is freed.
// Worker i sends some of its live blocks to worker i+1 through a SharedArrayBuffer
// ring; the receiver verifies and frees them (cross-thread frees). At the end each
// worker hands off a share of its blocks, frees the rest and exits its thread
// while the hand-off is still live; the next worker frees those blocks with a
// second thread. The test then checks that every block was freed exactly once
// and that the runtime is back to zero live blocks and zero huge blocks.
// The same workload runs again on the debug build, whose slow paths run the
// core's validators by themselves, with every worker also calling t.validate()
// every DEBUG_VALIDATE_EVERY steps and before each exit.
// Knobs: WORKERS, OPS, DEBUG_OPS, DEBUG_VALIDATE_EVERY, MAX_LIVE, HUGE_CHANCE, MAX_LIVE_HUGE, SEED.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { expectBalanced, results, startWorkers, useHarness } from './fixtures/harness.ts';
import { LINK_BYTES } from './fixtures/stress-shared.ts';
import type { StressData, StressResult } from './fixtures/stress-shared.ts';
import { checkPattern, fillPattern, patternSeed } from './fixtures/pattern.ts';

const WORKERS = 4;
const OPS = 250_000;
/** The debug build (slow paths run the validators by themselves): fewer allocations, explicit checks too. */
const DEBUG_OPS = 100_000;
const DEBUG_VALIDATE_EVERY = 1024;
const MAX_LIVE = 1000;
const HUGE_CHANCE = 1 / 5000;
const MAX_LIVE_HUGE = 2;
const SEED = 20240601;
/** Time limit for the workers' results (the test's own time-out is 120 s). */
const WORKER_LIMIT = 110_000;

useHarness();

/** One stress run: `ops` allocations per worker on the release or the debug build. */
async function stress(debug: boolean, ops: number, validateEvery: number): Promise<void> {
  const links = Array.from({ length: WORKERS }, () => new SharedArrayBuffer(LINK_BYTES));
  for (const l of links) new Int32Array(l)[3] = -1;
  const rt = await Runtime.create({ debug, initialMemory: 64 << 20, maximumMemory: 1 << 30 });
  const data: StressData = { ops, maxLive: MAX_LIVE, hugeChance: HUGE_CHANCE, maxLiveHuge: MAX_LIVE_HUGE, validateEvery, links };
  const rs = await results(await startWorkers<StressResult>(rt, { fixture: 'stress-worker', count: WORKERS, seed: SEED,
    data: () => data }), WORKER_LIMIT, 'stress workers');

  expect(rs.flatMap((r) => r.errors)).toEqual([]);
  const sum = (k: keyof StressResult) => rs.reduce((s, r) => s + (r[k] as number), 0);
  expect(sum('allocs')).toBe(WORKERS * ops);
  // every block freed exactly once, by its owner or by another thread
  expect(sum('localFrees') + sum('remoteFrees')).toBe(sum('allocs'));
  expect(sum('remoteFrees')).toBe(sum('sent') + sum('handedOff'));
  for (const r of rs) expect(r.handedOff).toBeGreaterThan(0);
  if (validateEvery > 0) for (const r of rs) expect(r.validations).toBeGreaterThan(ops / validateEvery);
  if (!debug) {
    expect(sum('allocs')).toBeGreaterThanOrEqual(1_000_000);
    expect(sum('hugeAllocs')).toBeGreaterThan(0);
    expect(sum('sent')).toBeGreaterThan(10_000);
  }

  expectBalanced(rt, { blocksUsed: 0, bytesUsed: 0, hugeBlocks: 0, hugeBytes: 0, threadsLive: 0 });

  // the heap still works for a new thread after all that
  const t = rt.attach();
  const blocks = Array.from({ length: 200 }, (_, i) => {
    const size = 1 + ((i * 997) % 70000);
    const p = t.alloc(size);
    fillPattern(rt.bytes(), p, size, patternSeed(99, i));
    return [p, size] as const;
  });
  blocks.forEach(([p, size], i) => expect(checkPattern(rt.bytes(), p, size, patternSeed(99, i))).toBe(-1));
  for (const [p] of blocks) t.free(p);
  t.validate();
  t.exit();
  expectBalanced(rt);
}

describe('stress: workers allocate, verify and free each other\'s blocks', () => {
  it(`${WORKERS} workers x ${OPS} allocations, cross-thread frees, exit with live blocks`, async () => {
    await stress(false, OPS, 0);
  });

  it(`debug build with validators: ${WORKERS} workers x ${DEBUG_OPS} allocations, t.validate() every ${DEBUG_VALIDATE_EVERY} steps`, async () => {
    await stress(true, DEBUG_OPS, DEBUG_VALIDATE_EVERY);
  });
});
