// The gc suite (issue 12): what a full collection of the cycle collector costs against heap
// size, next to V8's full GC on the same object graph.
//   collect   a heap of n objects of a GC type with two reference slots, half live (two binary
//             trees and two doubly linked lists held from 4 roots), half cyclic garbage (2-cycles
//             and rings of 64), built by an in-Wasm loop (bench/wasm/gc.ts, compiled into
//             build/bench/ftheap/bench.wasm with the core) on a fresh runtime; `d.gc.collect()`
//             alone is timed. n = 10 K, 100 K, 1 M (quick: 10 K and 100 K).
//   v8        the same graph as JS objects with two fields, built in the same order by a child
//             `node --expose-gc` (bench/gc-v8.ts), `gc()` timed; once with V8's default (parallel
//             helper threads), once with --single-threaded-gc (one thread, as ftheap collects)
//   mark / sweep rates, derived from each collection: objects in the heap ÷ the pause (the
//             stopped world walks every object: counts, subtract, mark, scan), garbage freed ÷
//             (collect time − pause) (after the restart: references cleared, blocks freed)
//   pause with 2 workers attached that allocate and checkpoint meanwhile (bench/gc-worker.ts)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Runtime, type RuntimeWorker } from '../src/index.ts';
import type { GcWorkerData, GcWorkerReply } from './gc-worker.ts';
import { cpuModel, markdown, type Result, startBenchWorkers } from './report.ts';
import type { Suite, SuiteOptions } from './suite.ts';

const WORKER = new URL('./gc-worker.js', import.meta.url);
const V8_SCRIPT = fileURLToPath(new URL('./gc-v8.js', import.meta.url));

/** The bench type: two references, nothing else (bench/wasm/gc.ts uses offsets 0 and 4). */
const TYPE = { name: 'GcBench', size: 8, refOffsets: [0, 4], gc: true };
/** Heap sizes (objects), full and quick runs. */
const SIZES = [10_000, 100_000, 1_000_000];
const SIZES_QUICK = [10_000, 100_000];
/** Mutators: workers, object pairs between their checkpoints, ms they run before the collection. */
const WORKERS = 2;
const EVERY = 64;
const WARM_MS = 20;
/** V8's variants: extra node flags. */
const V8_VARIANTS: [id: string, flags: string[]][] = [['v8', []], ['v8-single-threaded-gc', ['--single-threaded-gc']]];
/** Timed gc() calls per V8 child (median), at least. */
const V8_REPS = 3;
/** Targets (issue 12). */
const TARGET_RATE = 20e6;
const TARGET_SIZE = 1_000_000;

interface GcMainExports {
  gc_build(type: number, n: number, scratch: number, roots: number): number;
  gc_build_errors(): number;
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const mark = (ok: boolean) => (ok ? '✓' : '✗');
const sizeName = (n: number) => (n >= 1e6 ? `${n / 1e6}m` : `${n / 1e3}k`);
const sizeLabel = (n: number) => (n >= 1e6 ? `${n / 1e6} M` : `${n / 1e3} K`);
const garbageOf = (n: number) => n - (n >> 1);

// ---- ftheap ----------------------------------------------------------------------------------

interface Run {
  /** d.gc.collect(), ms */
  collectMs: number;
  pauseMs: number;
  /** GC block bytes before and after */
  usedBefore: number;
  usedAfter: number;
  buildMs: number;
  /** with workers: their longest stop (ms), checkpoints per ms per worker */
  maxStopMs?: number;
  checkpointsPerMs?: number;
}

/** Start the mutators; resolves once every one is ready (detached at the barrier). */
function startWorkers(rt: Runtime, data: GcWorkerData[]) {
  return startBenchWorkers<GcWorkerData, GcWorkerReply>(rt, WORKER, data, 'gc');
}

function signal(i32: Int32Array, word: number): void {
  Atomics.store(i32, word >>> 2, 1);
  Atomics.notify(i32, word >>> 2);
}

/**
 * One collection on a fresh runtime: the heap of n objects built (main thread), then, with
 * `workers`, that many mutators started and running for WARM_MS, then `d.gc.collect()` timed.
 * Every run checks the collection freed exactly the garbage and left exactly the live half.
 */
async function collectRun(module: WebAssembly.Module, n: number, workers: number): Promise<Run> {
  const rt = await Runtime.create({ module, maximumMemory: 1 << 30 });
  const t = rt.attach();
  const d = rt.domain();
  const type = t.defineType(TYPE);
  const x = rt.exports as unknown as GcMainExports;
  const cap = Math.ceil((n >> 1) / 4);
  const scratch = t.alloc(4 * (2 * cap + 4));
  const roots = t.alloc(16);
  const b0 = performance.now();
  const made = x.gc_build(type, n, scratch, roots) >>> 0;
  const buildMs = performance.now() - b0;
  if (made !== n || x.gc_build_errors() !== 0) throw new Error(`gc build: ${made} of ${n} objects made, ${x.gc_build_errors()} calls failed`);
  t.free(scratch);
  const usedBefore = d.gc.info().usedBytes;
  let ws: RuntimeWorker[] = [];
  let done: Promise<GcWorkerReply>[] = [];
  let ctl = 0;
  const i32 = new Int32Array(rt.memory.buffer);
  try {
    if (workers) {
      ctl = t.calloc(1, 16);
      t.detach();                            // the coordinator must not hold up the workers meanwhile
      ({ ws, done } = await startWorkers(rt, Array.from({ length: workers }, () => ({ stop: ctl, type, every: EVERY }))));
      signal(i32, ctl + 4);
      await new Promise((res) => setTimeout(res, WARM_MS));
      t.attach();
    }
    const c0 = performance.now();
    const r = d.gc.collect();
    const collectMs = performance.now() - c0;
    let maxStopMs: number | undefined, checkpointsPerMs: number | undefined;
    if (workers) {
      t.detach();
      signal(i32, ctl);
      const rs = await Promise.all(done);
      t.attach();
      if (rs.some((w) => w.errors !== 0 || w.objects <= 0)) throw new Error('gc mutators: failed calls');
      maxStopMs = Math.max(...rs.map((w) => w.maxStopMs));
      checkpointsPerMs = median(rs.map((w) => w.checkpoints / ((w.t1 - w.t0) / 1e6)));
    }
    const live = d.stats().objects.live;
    if (r.collected !== garbageOf(n) || r.freedOther !== 0 || live !== n >> 1) {
      throw new Error(`gc collect ${n}: collected ${r.collected} (expected ${garbageOf(n)}), freedOther ${r.freedOther}, ` +
        `${live} objects live (expected ${n >> 1})`);
    }
    const usedAfter = d.gc.info().usedBytes;
    return { collectMs, pauseMs: r.pauseMs, usedBefore, usedAfter, buildMs, maxStopMs, checkpointsPerMs };
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
    t.attach();
    t.exit();
  }
}

// ---- V8 --------------------------------------------------------------------------------------

interface V8Run { ms: number; usedBefore: number; usedAfter: number }

/** A child `node --expose-gc` process: the same graph, `gc()` timed `reps` times; the median. */
function v8Run(n: number, flags: string[], reps: number): V8Run {
  const r = spawnSync(process.execPath, ['--expose-gc', ...flags, V8_SCRIPT, String(n), String(reps)],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`gc v8 child (${n}, ${flags.join(' ')}) failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ms: number[]; usedBefore: number; usedAfter: number };
  return { ms: median(out.ms), usedBefore: out.usedBefore, usedAfter: out.usedAfter };
}

// ---- The suite ---------------------------------------------------------------------------------

const fmtMs = (ms: number) => (ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const mib = (b: number) => (b / (1 << 20)).toFixed(1);

export const gcSuite: Suite = {
  name: 'gc',
  async run(opts: SuiteOptions) {
    const module = await WebAssembly.compile(readFileSync(join(opts.root, 'build/bench/ftheap/bench.wasm')));
    const sizes = opts.quick ? SIZES_QUICK : SIZES;
    const reps = Math.max(V8_REPS, opts.runs);
    opts.progress.start(opts.runs * sizes.length * 2 + sizes.length * V8_VARIANTS.length);
    const alone = new Map<number, Run[]>(sizes.map((n) => [n, []]));
    const withWorkers = new Map<number, Run[]>(sizes.map((n) => [n, []]));
    // Run-major: a drift of the machine's speed hits every size alike.
    for (let r = 0; r < opts.runs; r++) {
      for (const n of sizes) {
        alone.get(n)!.push(await collectRun(module, n, 0));
        opts.progress.tick(`gc collect ${sizeLabel(n)}`);
        withWorkers.get(n)!.push(await collectRun(module, n, WORKERS));
        opts.progress.tick(`gc collect ${sizeLabel(n)}, ${WORKERS} workers`);
      }
    }
    const v8 = new Map<string, V8Run>();
    for (const n of sizes) {
      for (const [id, flags] of V8_VARIANTS) {
        v8.set(`${id}/${n}`, v8Run(n, flags, reps));
        opts.progress.tick(`gc ${id} ${sizeLabel(n)}`);
      }
    }

    const results: Result[] = [];
    const row = (workload: string, allocator: string, threads: number, ns: number, peakBytes = 0, liveBytes = 0) =>
      results.push({ suite: 'gc', workload, allocator, threads, nsPerOp: ns, opsPerSec: 1e9 / ns,
        peakBytes: Math.round(peakBytes), liveBytes: Math.round(liveBytes) });
    const med = (rs: Run[], f: (r: Run) => number) => median(rs.map(f));
    const sizeRows: string[][] = [], rateRows: string[][] = [], pauseRows: string[][] = [];
    for (const n of sizes) {
      const a = alone.get(n)!, w = withWorkers.get(n)!, g = garbageOf(n);
      const collectMs = med(a, (r) => r.collectMs), pauseMs = med(a, (r) => r.pauseMs);
      const afterMs = med(a, (r) => r.collectMs - r.pauseMs);
      const v = v8.get(`v8/${n}`)!, v1 = v8.get(`v8-single-threaded-gc/${n}`)!;
      const usedBefore = med(a, (r) => r.usedBefore), usedAfter = med(a, (r) => r.usedAfter);
      row(`collect-${sizeName(n)}`, 'ftheap', 1, collectMs * 1e6 / n, usedBefore, usedAfter);
      for (const [id] of V8_VARIANTS) {
        const x = v8.get(`${id}/${n}`)!;
        row(`collect-${sizeName(n)}`, id, 1, x.ms * 1e6 / n, x.usedBefore, x.usedAfter);
      }
      row(`mark-${sizeName(n)}`, 'ftheap', 1, pauseMs * 1e6 / n);
      row(`sweep-${sizeName(n)}`, 'ftheap', 1, afterMs * 1e6 / g);
      row(`pause-${sizeName(n)}`, 'ftheap', 1, pauseMs * 1e6);
      const wPause = med(w, (r) => r.pauseMs);
      row(`pause-${sizeName(n)}`, 'ftheap', WORKERS, wPause * 1e6);
      sizeRows.push([sizeLabel(n), g.toLocaleString('en'), fmtMs(collectMs), fmtMs(v.ms), fmtMs(v1.ms),
        `${(collectMs / v.ms).toFixed(2)}×`, `${(collectMs / v1.ms).toFixed(2)}×`, (n / collectMs / 1e3).toFixed(1),
        `${mib(usedBefore)} / ${mib(v.usedBefore)}`, fmtMs(med(a, (r) => r.buildMs))]);
      rateRows.push([sizeLabel(n), fmtMs(pauseMs), (n / pauseMs / 1e3).toFixed(1), fmtMs(afterMs), (g / afterMs / 1e3).toFixed(1),
        (n / collectMs / 1e3).toFixed(1)]);
      pauseRows.push([sizeLabel(n), fmtMs(pauseMs), fmtMs(wPause), fmtMs(med(w, (r) => r.collectMs)),
        fmtMs(med(w, (r) => r.maxStopMs!)), med(w, (r) => r.checkpointsPerMs!).toFixed(0)]);
    }

    const runs = `median of ${opts.runs} run${opts.runs > 1 ? 's' : ''}`;
    const cpu = cpuModel();
    const parts: string[] = [];
    parts.push(`## gc: full collection vs heap size, ftheap and V8 on ${cpu} (${runs}; V8: median of ${reps} gc() calls)\n\n` +
      markdown(['objects', 'garbage', 'ftheap collect ms', 'V8 gc() ms', 'V8 single-threaded ms', 'ftheap ÷ V8',
        'ftheap ÷ V8 single-threaded', 'ftheap M objects/s', 'heap MiB ftheap / V8', 'ftheap build ms'], sizeRows) +
      '\n\nThe heap: n objects with two reference slots, allocated interleaved (one live, one garbage). The live half is ' +
      'two binary trees and two doubly linked lists (cycles inside live data), round robin, held from 4 roots the bench ' +
      'keeps; the garbage half is 2-cycles (each object points at the other from both slots) and doubly linked rings of ' +
      '64 objects, every outside reference dropped. ftheap: a type defined with `gc: true` (8-byte payload, 32-byte ' +
      'blocks), the heap built by an in-Wasm loop (`bench/wasm/gc.ts`: objNew / objSetRef / objDecref) on a fresh ' +
      'runtime per run, `d.gc.collect()` alone timed on the main thread; every run checks it freed exactly the garbage and ' +
      'left the live half. V8: a child `node --expose-gc` (`bench/gc-v8.ts`) builds the same graph of `{ a, b }` objects ' +
      'in the same order and times `gc()`, a full mark-compact, on a freshly built graph each time (the previous one ' +
      'dropped and collected first, untimed); by default V8 marks and sweeps with helper threads on both cores, ' +
      '`--single-threaded-gc` on one, as ftheap does. ftheap\'s cost grows with every object in the heap (it walks the ' +
      'GC pages and frees each garbage object); a tracing GC like V8\'s visits only what is live. Heap MiB: ftheap\'s GC ' +
      'block bytes in use, V8\'s used heap, before the collection. M objects/s: objects in the heap ÷ collect time.');
    parts.push(`## gc: mark and sweep rates (ftheap, ${runs})\n\n` +
      markdown(['objects', 'pause ms', 'M objects/s in the pause', 'after the pause ms', 'M garbage objects freed/s',
        'M objects/s overall'], rateRows) +
      '\n\nDerived from each collection\'s result, not timed by phase: the pause (`pauseMs`, the world stopped) merges ' +
      'queues and walks every object of the GC pages four times (true counts, minus the references from other GC ' +
      'objects, mark from the roots, scan: owners back or onto the garbage list), so "objects/s in the pause" = objects ' +
      'in the heap ÷ pause. After the restart the garbage list is walked (no finalizers here), each garbage object\'s ' +
      'references are cleared and the list\'s reference dropped, so refcounting frees it: "garbage freed/s" = garbage ' +
      'objects ÷ (collect time − pause). Overall = objects in the heap ÷ collect time (the mark+sweep throughput of ' +
      'the target).');
    const cores = os.cpus().length;
    parts.push(`## gc: pause with ${WORKERS} workers attached (ftheap, ${runs})\n\n` +
      markdown(['objects', 'pause ms alone', `pause ms with ${WORKERS} workers`, 'collect ms with workers',
        'workers\' longest stop ms', 'checkpoints per ms per worker'], pauseRows) +
      `\n\nThe same heap; ${WORKERS} workers (\`bench/gc-worker.ts\`) attached to the domain allocate in a Wasm loop ` +
      `(pairs of GC objects made, linked, dropped: they die by refcounting) with a checkpoint every ${EVERY} pairs, and ` +
      `have run ${WARM_MS} ms when the main thread collects. Pause = the result's \`pauseMs\`: from the moment every ` +
      'thread is stopped to the restart (the wait for the workers to reach a checkpoint is not in it, but is in the ' +
      'collect time). Workers\' longest stop: the longest checkpoint call of either worker (stopped at it until the ' +
      'restart), the pause as a mutator feels it. The collector walks the workers\' GC pages too (their blocks are freed ' +
      `at once, so the garbage and live counts stay exact). Main + ${WORKERS} workers are ${WORKERS + 1} busy threads on ` +
      `${cores} cores until the world is stopped.`);

    const largest = sizes.at(-1)!;
    const at = (n: number) => (n === TARGET_SIZE ? sizeLabel(n) : `${sizeLabel(n)} (quick: no ${sizeLabel(TARGET_SIZE)} cell)`);
    const a = alone.get(largest)!;
    const collectMs = med(a, (r) => r.collectMs);
    const v = v8.get(`v8/${largest}`)!, v1 = v8.get(`v8-single-threaded-gc/${largest}`)!;
    const rate = largest / collectMs * 1e3;
    const targets = [
      `- ${at(largest)} objects: ftheap ${fmtMs(collectMs)} ms vs V8 gc() ${fmtMs(v.ms)} ms, ${(collectMs / v.ms).toFixed(2)}× ` +
        `(target ≤ 1×, no slower than V8) ${mark(collectMs <= v.ms)}; vs V8 single-threaded ${fmtMs(v1.ms)} ms, ` +
        `${(collectMs / v1.ms).toFixed(2)}× ${mark(collectMs <= v1.ms)}`,
      `- mark+sweep at ${at(largest)} objects: ${(rate / 1e6).toFixed(1)} M objects/s (target ≥ ${TARGET_RATE / 1e6} M/s) ` +
        mark(rate >= TARGET_RATE),
    ];
    parts.push(`### gc: targets (${cores} × ${cpu})\n\n${targets.join('\n')}`);
    return { results, report: parts.join('\n\n') };
  },
};
