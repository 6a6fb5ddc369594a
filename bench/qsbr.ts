// The qsbr suite (issue 5): what lock-free reads with QSBR reclamation buy, and what QSBR costs.
//   reads       SharedList (4,096 items), SharedMap and SharedObjectMap (4,000 keys) read by 1,
//               2 and 4 reader workers — random gets in a tight Wasm loop, a checkpoint every 256
//               reads, for a fixed time — while one writer worker sets an item / key every 50 µs
//               and reallocates (list) or churns tombstones into rebuilds (maps) every 1 ms, all
//               old storage going through freeDelayed; the writer sleeps detached in between. An
//               object map's get takes a new reference (tryIncref, re-check), reads the payload
//               and decrefs; its writer's sets put new objects and release the old ones. Lock-free
//               gets vs the same structure's get under its mutex. Reads/s, 1→n scaling, ratio.
//   poll        the cost of a QSBR poll that must scan (a goal nobody reaches) with 1..64 thread
//               records registered in the domain (all but one detached), ns per poll and per slot.
//   latency     freeDelayed → actually freed, seen by a worker that checkpoints in a tight loop,
//               with 0, 1 or 2 other attached workers checkpointing every 10 µs or 100 µs.
// Everything runs in Wasm (build/bench/sync.wasm: the core + bench/wasm/qsbr.ts, sync.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime, type Thread } from '../src/index.ts';
import type { Suite, SuiteOptions } from './suite.ts';
import { markdown, type Result, startBenchWorkers } from './report.ts';
import type { QsbrWorkerData, QsbrWorkerReply } from './qsbr-worker.ts';

const WORKER = new URL('./qsbr-worker.js', import.meta.url);

/** Read workload knobs. */
const LIST_ITEMS = 4096;
const MAP_KEYS = 4000;          // 8,192 slots: rebuilds (after ~2,100 tombstones) stay at 8,192
const CHECKPOINT_EVERY = 256;   // reads between checkpoints
const SET_US = 50;              // the writer: a set every 50 µs ...
const CHURN_US = 1000;          // ... and a churn every 1 ms
const WRITER_WAKE_US = 250;     // ... waking at most every 250 µs (doing the sets due then)
const MAP_CHURN_KEYS = 64;      // fresh keys set + deleted per map churn (a rebuild every ~33 churns)
/** Poll workload: thread records registered. */
const REGISTERED = [1, 2, 4, 8, 16, 32, 64];
/** Latency workload: other workers, their checkpoint periods (µs), block size, gap between samples. */
const OTHERS = [0, 1, 2];
const PERIODS_US = [10, 100];
const BLOCK = 64;
const GAP_US = 200;

/** Targets printed next to the figures (issue 5). */
const TARGET_SCALING = 1.9;
const TARGET_RATIO = 10;
const TARGET_NS_PER_SLOT = 5;

interface QsbrMainExports {
  qsbr_list_make(n: number): number;
  qsbr_map_make(n: number): number;
  qsbr_omap_make(n: number, type: number, borrowed: number): number;
  qsbr_poll_loop(n: number): number;
}

type Struct = 'list' | 'map' | 'omap';
const STRUCT_NAMES: Record<Struct, string> = { list: 'SharedList', map: 'SharedMap', omap: 'SharedObjectMap' };
const STRUCT_KINDS: Record<Struct, number> = { list: 0, map: 1, omap: 2 };
type Variant = 'lock-free' | 'mutex' | 'borrowed';

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

/** A fresh runtime on the bench module, its main thread attached, and a zeroed control block (stop, go). */
async function fresh(module: WebAssembly.Module) {
  const rt = await Runtime.create({ module, maximumMemory: 256 << 20 });
  const t = rt.attach();
  const ctl = t.calloc(1, 16);
  return { rt, t, x: rt.exports as unknown as QsbrMainExports, i32: new Int32Array(rt.memory.buffer), ctl };
}

/** Start one worker per entry; resolves once every one is ready (detached at the barrier). `done`: their replies. */
function startWorkers(rt: Runtime, data: QsbrWorkerData[]) {
  return startBenchWorkers<QsbrWorkerData, QsbrWorkerReply>(rt, WORKER, data, 'qsbr');
}

function go(i32: Int32Array, ctl: number): void {
  Atomics.store(i32, (ctl + 4) >>> 2, 1);
  Atomics.notify(i32, (ctl + 4) >>> 2);
}

function stop(i32: Int32Array, ctl: number): void {
  Atomics.store(i32, ctl >>> 2, 1);
  Atomics.notify(i32, ctl >>> 2);        // the writer sleeps on the stop word
}

// ---- reads -----------------------------------------------------------------------------

interface ReadRun {
  /** reads per second, all readers (earliest start to latest end) */
  reads: number;
  /** the writer: sets per second, reallocations (delayed frees queued) per second, busy share */
  sets: number;
  reallocs: number;
  busy: number;
}

async function readRun(module: WebAssembly.Module, struct: Struct, variant: Variant, readers: number, ms: number,
    seed: number): Promise<ReadRun> {
  const { rt, t, x, i32, ctl } = await fresh(module);
  const kind = STRUCT_KINDS[struct];
  const n = struct === 'list' ? LIST_ITEMS : MAP_KEYS;
  const type = struct === 'omap' ? t.defineType({ name: 'bench-cell', size: 8 }) : 0;
  const s = (struct === 'list' ? x.qsbr_list_make(n) : struct === 'map' ? x.qsbr_map_make(n) : x.qsbr_omap_make(n, type, variant === 'borrowed' ? 1 : 0)) >>> 0;
  if (!s) throw new Error(`qsbr: could not make the ${struct}`);
  const domain = rt.domain();
  const queued0 = domain.qsbrInfo().delayedQueued;
  t.detach();                             // the coordinator must not hold up grace periods
  const common = { stop: ctl, struct: s, kind, n };
  const data: QsbrWorkerData[] = [
    ...Array.from({ length: readers }, (_, i) => ({ ...common, role: 'read' as const, seed: (seed + i * 0x9E3779B9) >>> 0,
      locked: variant === 'mutex', borrowed: variant === 'borrowed', every: CHECKPOINT_EVERY })),
    { ...common, role: 'write', seed: (seed ^ 0x5bd1e995) >>> 0, setUs: SET_US, churnUs: CHURN_US, churnKeys: MAP_CHURN_KEYS,
      wakeUs: WRITER_WAKE_US, type },
  ];
  const { ws, done } = await startWorkers(rt, data);
  try {
    go(i32, ctl);
    await new Promise((res) => setTimeout(res, ms));
    stop(i32, ctl);
    const replies = await Promise.all(done);
    const rs = replies.slice(0, readers), w = replies[readers];
    const errors = rs.reduce((a, r) => a + r.errors!, 0);
    if (errors) throw new Error(`qsbr ${struct} ${variant} ×${readers}: ${errors} gets found nothing`);
    const span = (Math.max(...rs.map((r) => r.t1)) - Math.min(...rs.map((r) => r.t0))) / 1e9;
    const wsecs = (w.t1 - w.t0) / 1e9;
    return {
      reads: rs.reduce((a, r) => a + r.count, 0) / span,
      sets: w.count / wsecs,
      reallocs: (domain.qsbrInfo().delayedQueued - queued0) / wsecs,
      busy: w.busyMs! / 1000 / wsecs,
    };
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
    t.attach();
    t.exit();
  }
}

async function reads(module: WebAssembly.Module, opts: SuiteOptions, structs: Struct[], threads: number[],
    results: Result[]): Promise<string> {
  const ms = opts.quick ? 30 : 300;
  const cells: [Struct, Variant, number][] = [];
  for (const s of structs) {
    for (const v of (s === 'omap' ? ['lock-free', 'borrowed', 'mutex'] : ['lock-free', 'mutex']) as Variant[]) {
      for (const n of threads) cells.push([s, v, n]);
    }
  }
  const runs = new Map<string, ReadRun[]>(cells.map((c) => [c.join('/'), []]));
  // Run-major: one run of every cell per round, so a disturbance of a few seconds hits all alike.
  for (let r = 0; r < opts.runs; r++) {
    for (const [s, v, n] of cells) {
      runs.get(`${s}/${v}/${n}`)!.push(await readRun(module, s, v, n, ms, (opts.seed + r * 7919) >>> 0));
      opts.progress.tick(`qsbr ${s} ${v} ×${n}`);
    }
  }
  const med = (s: Struct, v: Variant, n: number) => {
    const rs = runs.get(`${s}/${v}/${n}`)!;
    return { reads: median(rs.map((r) => r.reads)), sets: median(rs.map((r) => r.sets)),
      reallocs: median(rs.map((r) => r.reallocs)), busy: median(rs.map((r) => r.busy)) };
  };
  // Ratios of two cells: the median of the rounds' ratios (the two ran seconds apart in each
  // round), which a slow drift of the machine's speed between rounds does not move.
  const ratio = (a: [Struct, Variant, number], b: [Struct, Variant, number]) => {
    const x = runs.get(a.join('/'))!, y = runs.get(b.join('/'))!;
    return median(x.map((r, i) => r.reads / y[i].reads));
  };
  const rows: string[][] = [];
  for (const [s, v, n] of cells) {
    const m = med(s, v, n);
    results.push({ suite: 'qsbr', workload: `${s}-read`, allocator: v, threads: n, nsPerOp: 1e9 / m.reads, opsPerSec: m.reads,
      peakBytes: 0, liveBytes: 0 });
    rows.push([STRUCT_NAMES[s], v, String(n), (m.reads / 1e6).toFixed(1), (m.reads / n / 1e6).toFixed(1),
      n === 1 ? '–' : `${ratio([s, v, n], [s, v, 1]).toFixed(2)}×`,
      v === 'mutex' ? '–' : `${ratio([s, v, n], [s, 'mutex', n]).toFixed(1)}×`,
      (m.sets / 1e3).toFixed(1), m.reallocs.toFixed(0), `${(m.busy * 100).toFixed(1)} %`]);
  }
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const targets: string[] = [];
  for (const s of structs) {
    const name = STRUCT_NAMES[s];
    const scale = threads.includes(2) ? ratio([s, 'lock-free', 2], [s, 'lock-free', 1]) : NaN;
    const ratio2 = threads.includes(2) ? ratio([s, 'lock-free', 2], [s, 'mutex', 2]) : NaN;
    targets.push(`- ${name}: lock-free reads 1→2 readers ${scale.toFixed(2)}× (target ≥ ${TARGET_SCALING}×) ${mark(scale >= TARGET_SCALING)}; ` +
      `lock-free ÷ mutex at 2 readers ${ratio2.toFixed(2)}× (target ≥ ${TARGET_RATIO}×) ${mark(ratio2 >= TARGET_RATIO)}`);
    if (s === 'omap' && threads.includes(2)) {
      const bscale = ratio([s, 'borrowed', 2], [s, 'borrowed', 1]);
      const bratio = ratio([s, 'borrowed', 2], [s, 'mutex', 2]);
      targets.push(`- ${name} (borrowed reads): 1→2 readers ${bscale.toFixed(2)}× (target ≥ ${TARGET_SCALING}×) ${mark(bscale >= TARGET_SCALING)}; ` +
        `borrowed ÷ mutex at 2 readers ${bratio.toFixed(2)}× (target ≥ ${TARGET_RATIO}×) ${mark(bratio >= TARGET_RATIO)}`);
    }
  }
  const over = threads.filter((n) => n > 2);
  return `## qsbr: SharedList / SharedMap reads, lock-free vs under the mutex (median of ${opts.runs} runs of ${ms} ms)\n\n` +
    markdown(['structure', 'reads', 'readers', 'M reads/s', 'M reads/s per reader', 'speedup vs 1', 'lock-free ÷ mutex',
      'writer k sets/s', 'reallocations/s', 'writer busy'], rows) +
    `\n\nReaders: random gets of ${LIST_ITEMS.toLocaleString('en')} items / ${MAP_KEYS.toLocaleString('en')} present keys in a Wasm loop, ` +
    `a checkpoint every ${CHECKPOINT_EVERY} reads, every get checked to find its item or key. SharedObjectMap: every get ` +
    'takes a new reference (lock-free: tryIncref and re-check; mutex: an incref under the lock), checks the object\'s payload ' +
    `and decrefs it; borrowed: a map made with \`borrowedReads\`, whose get takes no reference (the object is good until the ` +
    'reader\'s next checkpoint: the map releases what it replaces after a grace period), then checks the payload; the ' +
    `writer's sets put new objects and release the replaced ones. One writer worker besides them: a set every ${SET_US} µs ` +
    `and every ${CHURN_US / 1000} ms a churn (list: resize to n + 1, back to n, compact = two new arrays; map: ${MAP_CHURN_KEYS} ` +
    'fresh keys set and deleted, a rebuild once tombstones fill 3/4 of the table), old storage through freeDelayed; it does ' +
    `what is due, checkpoints and sleeps detached, waking at most every ${WRITER_WAKE_US} µs. Reallocations/s = delayed frees ` +
    'queued per second; writer busy = its time awake (working, or waiting for the mutex in the mutex rows) per second. ' +
    'Speedup and lock-free ÷ mutex: the median of the ratios within each round (every cell runs once per round). ' +
    `Readers + writer on 2 cores: 2 readers and the (mostly asleep) writer fit; ${over.join(' and ')} readers are ` +
    'oversubscribed, and those rows say nothing about scaling.\n\n' +
    `### qsbr: read targets\n\n${targets.join('\n')}`;
}

// ---- poll cost ---------------------------------------------------------------------------

async function pollCost(module: WebAssembly.Module, opts: SuiteOptions, results: Result[]): Promise<string> {
  const rows: string[][] = [];
  let worst = 0;
  for (const k of REGISTERED) {
    const rt = await Runtime.create({ module, maximumMemory: 256 << 20 });
    const x = rt.exports as unknown as QsbrMainExports;
    // Each attach detaches the thread current before it: all but the last are offline.
    const ts: Thread[] = [];
    for (let i = 0; i < k; i++) ts.push(rt.domain().attach());
    const info = rt.domain().qsbrInfo();
    if (info.slotsUsed !== k) throw new Error(`qsbr poll: ${info.slotsUsed} slots used, expected ${k}`);
    const time = (n: number) => {
      const t0 = performance.now();
      if (x.qsbr_poll_loop(n) !== 0) throw new Error('qsbr poll: an unreachable goal was reached');
      return (performance.now() - t0) * 1e6 / n;
    };
    time(10_000);
    const ms = opts.quick ? 10 : opts.targetMs;
    const n = Math.max(10_000, Math.min(50_000_000, Math.round(ms * 1e6 / time(100_000))));
    const ns = median(Array.from({ length: opts.runs }, () => time(n)));
    const perSlot = ns / info.slots;
    worst = Math.max(worst, perSlot);
    for (let i = k - 1; i >= 0; i--) ts[i].exit();
    results.push({ suite: 'qsbr', workload: 'poll', allocator: 'ftheap', threads: k, nsPerOp: ns, opsPerSec: 1e9 / ns,
      peakBytes: 0, liveBytes: 0 });
    results.push({ suite: 'qsbr', workload: 'poll-per-slot', allocator: 'ftheap', threads: k, nsPerOp: perSlot,
      opsPerSec: 1e9 / perSlot, peakBytes: 0, liveBytes: 0 });
    rows.push([String(k), String(info.slots), ns.toFixed(1), perSlot.toFixed(2)]);
    opts.progress.tick(`qsbr poll ×${k}`);
  }
  return `## qsbr: poll cost vs registered threads (median of ${opts.runs} runs)\n\n` +
    markdown(['registered threads', 'slots', 'ns per poll', 'ns per slot'], rows) +
    `\n\nA poll for a goal nobody reaches (nobody advances meanwhile) misses the cached minimum and scans the domain's whole ` +
    'slot array: one 64-byte slot (its own cache line) per slot, online or not — offline slots (detached or exited ' +
    'threads, free slots) are read and skipped like online ones, so the cost follows the slot count (8 at least, doubling), ' +
    'not the threads online. One thread registers them all (each attach detaches the one before; the last stays ' +
    `attached) and polls in a Wasm loop. Target ≤ ${TARGET_NS_PER_SLOT} ns per slot: worst ${worst.toFixed(2)} ns ` +
    `${worst <= TARGET_NS_PER_SLOT ? '✓' : '✗'}.`;
}

// ---- freeDelayed latency -------------------------------------------------------------------

async function latencyRun(module: WebAssembly.Module, others: number, periodUs: number, samples: number, seed: number) {
  const { rt, t, i32, ctl } = await fresh(module);
  t.detach();
  const data: QsbrWorkerData[] = [
    { role: 'latency', stop: ctl, seed, samples, size: BLOCK, gapUs: GAP_US },
    ...Array.from({ length: others }, () => ({ role: 'checkpoint' as const, stop: ctl, seed, everyUs: periodUs })),
  ];
  const { ws, done } = await startWorkers(rt, data);
  try {
    go(i32, ctl);
    const m = await done[0];
    stop(i32, ctl);
    await Promise.all(done);
    if (m.count !== samples) throw new Error(`qsbr latency: ${m.count} of ${samples} samples`);
    return m.latencies!;
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
    t.attach();
    t.exit();
  }
}

async function latency(module: WebAssembly.Module, opts: SuiteOptions, results: Result[]): Promise<string> {
  const samples = opts.quick ? 40 : 400;
  const cells: [number, number][] = [[0, 0], ...OTHERS.filter((o) => o > 0).flatMap((o) => PERIODS_US.map((p) => [o, p] as [number, number]))];
  const all = new Map<string, number[]>(cells.map((c) => [c.join('/'), []]));
  for (let r = 0; r < opts.runs; r++) {
    for (const [o, p] of cells) {
      all.get(`${o}/${p}`)!.push(...await latencyRun(module, o, p, samples, (opts.seed + r * 104729) >>> 0));
      opts.progress.tick(`qsbr latency +${o} every ${p} µs`);
    }
  }
  const rows: string[][] = [];
  for (const [o, p] of cells) {
    const us = all.get(`${o}/${p}`)!.sort((a, b) => a - b);
    const variant = o === 0 ? 'alone' : `others-every-${p}us`;
    for (const [name, q] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
      const v = Math.max(pct(us, q), 1e-3);
      results.push({ suite: 'qsbr', workload: `free-delayed-${name}`, allocator: variant, threads: 1 + o,
        nsPerOp: v * 1000, opsPerSec: 1e6 / v, peakBytes: 0, liveBytes: 0 });
    }
    rows.push([String(o), o === 0 ? '–' : String(p), String(us.length), ...[0.5, 0.9, 0.99, 1].map((q) => pct(us, q).toFixed(1))]);
  }
  return `## qsbr: freeDelayed → free latency, µs (${opts.runs} run${opts.runs > 1 ? 's' : ''} × ${samples} samples, pooled)\n\n` +
    markdown(['other attached workers', 'their checkpoint every µs', 'samples', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs'], rows) +
    `\n\nA worker frees a ${BLOCK}-byte block with freeDelayed and checkpoints in a tight loop until its pending count drops ` +
    `to 0 (a random 0–${GAP_US} µs of checkpointing between samples); default policy (deferLimit 10: most goals are the ` +
    'deferred form, whose advance the first checkpoint issues). The others do busy work with a checkpoint every 10 or 100 µs, ' +
    'so the wait is about the time until each of them passes its next checkpoint. The measurer spins too: with 2 others ' +
    'that is 3 busy threads on 2 cores (oversubscribed), and the tail is the scheduler\'s time slice.';
}

// ---- the suite -------------------------------------------------------------------------------

/** `--workload` ids of this suite (the result rows' workloads, or their stem). */
const WORKLOAD_IDS = ['list-read', 'map-read', 'omap-read', 'poll', 'free-delayed'];

export const qsbrSuite: Suite = {
  name: 'qsbr',
  async run(opts) {
    const unknown = (opts.workloads ?? []).filter((id) => !WORKLOAD_IDS.includes(id));
    if (unknown.length) throw new Error(`unknown workload ${unknown.join(', ')}; known: ${WORKLOAD_IDS.join(', ')}`);
    const want = (id: string) => !opts.workloads || opts.workloads.includes(id);
    const module = await WebAssembly.compile(readFileSync(join(opts.root, 'build/bench/sync.wasm')));
    const results: Result[] = [];
    const threads = [...new Set([1, 2, 4, ...opts.threads])].sort((a, b) => a - b);
    const structs = (['list', 'map', 'omap'] as const).filter((s) => want(`${s}-read`));
    const latencyCells = 1 + (OTHERS.length - 1) * PERIODS_US.length;
    opts.progress.start(opts.runs * 2 * structs.length * threads.length + (want('poll') ? REGISTERED.length : 0) +
      (want('free-delayed') ? opts.runs * latencyCells : 0));
    const parts: string[] = [];
    if (structs.length) parts.push(await reads(module, opts, structs, threads, results));
    if (want('poll')) parts.push(await pollCost(module, opts, results));
    if (want('free-delayed')) parts.push(await latency(module, opts, results));
    return { results, report: parts.join('\n\n') };
  },
};
