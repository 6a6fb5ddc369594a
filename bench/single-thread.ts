// Single-thread malloc+free pair benchmark (foundation issue): four patterns (lifo32, ring8-256,
// rand16-1024, em1000) measured side by side for ftheap with the loop inside Wasm (malloc/free inlined
// into the loop, and through calls), AssemblyScript's
// TLSF with the same Wasm loop, @thi.ng/malloc MemPool driven from JS, and ftheap driven from JS
// through its raw exports and through the TS facade. Median ns per pair of `runs` timed runs
// after a warm-up (V8 tiers Wasm up lazily); peak memory vs peak live requested bytes.
// One worker (fresh isolate) per workload; every allocator runs in it, one after the other.
// The C peers (bench/c/st.c, built by bench/build-c.mjs: em-dlmalloc, wasm-mimalloc, native-glibc,
// native-mimalloc) run the same loop in a process of their own per workload, after the in-process
// allocators, and get columns of their own.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { MemPool } from '@thi.ng/malloc';
import { Runtime } from '../src/index.ts';
import { freshLoop, PATTERNS, type Free, type LoopResult, type Malloc, type Workload } from './loop.ts';
import { cPeers, type CPeers } from './c-peers.ts';
import { colorOf, logBars } from './chart.ts';
import { memoryTable, speedTable, type Result, type TableSpec } from './report.ts';
import type { Suite, SuiteOptions } from './suite.ts';

const MAX_MEMORY = 1 << 30;
const THING_POOL = 64 << 20;

/** One allocator's state for one workload (fresh per workload, so peaks are per workload). */
interface Cell {
  /** fill + n timed pairs + drain */
  run(pattern: number, n: number, seed: number): LoopResult;
  peakBytes(): number;
}

interface Allocator {
  id: string;
  label: string;
  /** slow allocators (O(live) per op) get far fewer pairs */
  slow?: boolean;
  create(): Promise<Cell>;
}

interface WasmLoops {
  bench_fill(pattern: number, seed: number): void;
  bench_run(pattern: number, n: number): void;
  bench_drain(): void;
  bench_peak_live(): number;
}

function wasmCell(ex: WasmLoops, peakBytes: () => number): Cell {
  return {
    run(pattern, n, seed) {
      ex.bench_fill(pattern, seed);
      const t0 = performance.now();
      ex.bench_run(pattern, n);
      const ns = (performance.now() - t0) * 1e6;
      ex.bench_drain();
      return { ns, peakLive: ex.bench_peak_live() >>> 0 };
    },
    peakBytes,
  };
}

/** A JS-driven cell: its own compiled copy of the shared JS loop (see freshLoop). */
function jsCell(malloc: Malloc, free: Free, view: () => Uint8Array, peakBytes: () => number): Cell {
  const loop = freshLoop();
  return { run: (pattern, n, seed) => loop(pattern, n, seed, malloc, free, view), peakBytes };
}

async function ftheapRuntime(module?: WebAssembly.Module) {
  const rt = await Runtime.create({ maximumMemory: MAX_MEMORY, module, exactPeak: true });
  const t = rt.attach();
  return { rt, t, view: () => rt.bytes(), peak: () => rt.stats().memory.committedPeak };
}

function allocators(root: string): Allocator[] {
  const compile = (name: string) => new WebAssembly.Module(readFileSync(`${root}/build/bench/${name}/bench.wasm`));
  let ftModule: WebAssembly.Module | undefined, callsModule: WebAssembly.Module | undefined;
  let tlsfModule: WebAssembly.Module | undefined;
  return [
    {
      id: 'ftheap-wasm', label: 'ftheap inlined (Wasm loop)',
      async create() {
        const { rt, peak } = await ftheapRuntime(ftModule ??= compile('ftheap'));
        return wasmCell(rt.exports as unknown as WasmLoops, peak);
      },
    },
    {
      id: 'ftheap-calls-wasm', label: 'ftheap calls (Wasm loop)',
      async create() {
        const { rt, peak } = await ftheapRuntime(callsModule ??= compile('ftheap-calls'));
        return wasmCell(rt.exports as unknown as WasmLoops, peak);
      },
    },
    {
      id: 'as-tlsf-wasm', label: 'AS TLSF (Wasm loop)',
      async create() {
        const inst = new WebAssembly.Instance(tlsfModule ??= compile('tlsf'), {});
        const ex = inst.exports as unknown as WasmLoops & { memory: WebAssembly.Memory };
        const before = ex.memory.buffer.byteLength;
        return wasmCell(ex, () => ex.memory.buffer.byteLength - before);
      },
    },
    {
      id: 'thing-js', label: 'thi.ng MemPool (JS)', slow: true,
      async create() {
        const pool = new MemPool({ size: THING_POOL });
        const state = pool as unknown as { top: number; u8: Uint8Array };
        const start = state.top;
        let maxTop = start;
        // its top can shrink (compaction), so sample it after every malloc (~1 ns vs µs per op)
        const malloc = (n: number) => { const p = pool.malloc(n); if (state.top > maxTop) maxTop = state.top; return p; };
        return jsCell(malloc, (p) => pool.free(p), () => state.u8, () => maxTop - start);
      },
    },
    {
      id: 'ftheap-raw-js', label: 'ftheap raw (JS)',
      async create() {
        const { rt, view, peak } = await ftheapRuntime();
        const ex = rt.exports as unknown as { ft_malloc: Malloc; ft_free: Free };
        return jsCell(ex.ft_malloc, ex.ft_free, view, peak);
      },
    },
    {
      id: 'ftheap-facade-js', label: 'ftheap facade (JS)',
      async create() {
        const { t, view, peak } = await ftheapRuntime();
        return jsCell((n) => t.alloc(n), (p) => t.free(p), view, peak);
      },
    },
  ];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Checks that the Wasm and JS loops draw the same PRNG stream (equal peak live bytes). */
function checkSameStream(tlsf: Cell, pattern: number, seed: number): void {
  const n = 5000, u8 = new Uint8Array(16);
  const js = freshLoop()(pattern, n, seed, () => 8, () => 0, () => u8).peakLive;
  const wasm = tlsf.run(pattern, n, seed).peakLive;
  if (js !== wasm) throw new Error(`pattern ${pattern}: JS loop peak live ${js} != Wasm loop ${wasm}`);
}

type WorkloadOptions = Omit<SuiteOptions, 'progress'>;
interface WorkloadOutput { results: Result[]; pairs: string }

/** All allocators on one workload: fresh cells, warm-up, calibration, interleaved timed runs. */
async function runWorkload(workload: Workload, opts: WorkloadOptions, tick: (label: string) => void): Promise<WorkloadOutput> {
  const allocs = selected(opts);
  const pattern = PATTERNS[workload];
  const cells = await Promise.all(allocs.map((a) => a.create()));
  const tlsf = allocs.findIndex((a) => a.id === 'as-tlsf-wasm');
  if (tlsf >= 0) checkSameStream(cells[tlsf], pattern, opts.seed);
  // warm up, then size each cell's runs to ~targetMs
  const pairs = allocs.map((a, i) => {
    const n0 = opts.quick ? (a.slow ? 200 : 20_000) : (a.slow ? 1000 : 1 << 17);
    for (let w = 0; w < warmups(opts); w++) {
      cells[i].run(pattern, n0, opts.seed);
      tick(`${workload} ${a.id} warm-up`);
    }
    if (opts.quick) return n0;
    // grow n until a run takes >= target/4, then re-measure once at the predicted size
    // (early runs are still cold: a JS cell's first runs can be 2-4× slower than later ones)
    const target = opts.targetMs * 1e6;
    const predict = (n: number) => (n * target) / cells[i].run(pattern, n, opts.seed).ns;
    let n = n0, guess = predict(n);
    while (guess > 4 * n) guess = predict(n *= 4);
    return Math.max(1000, Math.round(predict(Math.round(guess)) / 1000) * 1000);
  });
  const samples: number[][] = allocs.map(() => []);
  const live: number[] = allocs.map(() => 0);
  for (let r = 0; r < opts.runs; r++) {
    allocs.forEach((a, i) => { // interleaved, so drift hits every allocator alike
      const res = cells[i].run(pattern, pairs[i], opts.seed);
      samples[i].push(res.ns / pairs[i]);
      live[i] = res.peakLive;
      tick(`${workload} ${a.id} run ${r + 1}/${opts.runs}`);
    });
  }
  const results = allocs.map((a, i): Result => {
    const nsPerOp = median(samples[i]);
    return { suite: 'single-thread', workload, allocator: a.id, threads: 1,
      nsPerOp: Math.round(nsPerOp * 100) / 100, opsPerSec: Math.round(1e9 / nsPerOp), peakBytes: cells[i].peakBytes(), liveBytes: live[i] };
  });
  return { results, pairs: `${workload}: ${allocs.map((a, i) => `${a.id} ${pairs[i]}`).join(', ')}` };
}

const selected = (opts: WorkloadOptions) => allocators(opts.root).filter((a) => !opts.allocators || opts.allocators.includes(a.id));
const warmups = (opts: WorkloadOptions) => (opts.quick ? 1 : 2);

// ---- Batch calls from JS ---------------------------------------------------------------

/** The batch line's workload: BATCH_N blocks of BATCH_SIZE bytes allocated, then freed, from JS. */
const BATCH = 'js-batch1000x32';
const BATCH_N = 1000, BATCH_SIZE = 32;

type Thread = Awaited<ReturnType<typeof ftheapRuntime>>['t'];
type Exports = { ft_malloc: Malloc; ft_free: Free };

/** The ways of allocating and freeing BATCH_N blocks from JS: [id, label, one round]. */
const BATCH_WAYS: [string, string, (t: Thread, x: Exports, ptrs: Uint32Array, sizes: number[]) => void][] = [
  ['ftheap-raw-js', 'raw ft_malloc/ft_free per block', (_, x, ptrs) => {
    for (let i = 0; i < BATCH_N; i++) ptrs[i] = x.ft_malloc(BATCH_SIZE);
    for (let i = 0; i < BATCH_N; i++) x.ft_free(ptrs[i]);
  }],
  ['ftheap-facade-js', 't.alloc/t.free per block', (t, _, ptrs) => {
    for (let i = 0; i < BATCH_N; i++) ptrs[i] = t.alloc(BATCH_SIZE);
    for (let i = 0; i < BATCH_N; i++) t.free(ptrs[i]);
  }],
  ['ftheap-many-js', 't.allocMany(n, size, into) + t.freeMany', (t, _, ptrs) => t.freeMany(t.allocMany(BATCH_N, BATCH_SIZE, ptrs))],
  ['ftheap-many-sizes-js', 't.allocMany(sizes, into) + t.freeMany', (t, _, ptrs, sizes) => t.freeMany(t.allocMany(sizes, ptrs))],
  ['ftheap-many-fresh-js', 't.allocMany(n, size) + t.freeMany', (t) => t.freeMany(t.allocMany(BATCH_N, BATCH_SIZE))],
];

/** Every way on one fresh runtime: warm-up, rounds sized to ~targetMs, interleaved timed runs; ns per block. */
async function runBatch(opts: WorkloadOptions, tick: (label: string) => void): Promise<WorkloadOutput> {
  const { rt, t, peak } = await ftheapRuntime();
  const x = rt.exports as unknown as Exports;
  const ptrs = new Uint32Array(BATCH_N), sizes = new Array<number>(BATCH_N).fill(BATCH_SIZE);
  const time = (way: (typeof BATCH_WAYS)[number][2], rounds: number) => {
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) way(t, x, ptrs, sizes);
    return (performance.now() - t0) * 1e6;
  };
  const rounds = BATCH_WAYS.map(([id, , way]) => {
    const r0 = opts.quick ? 20 : 200;
    for (let w = 0; w < warmups(opts); w++) { time(way, r0); tick(`${BATCH} ${id} warm-up`); }
    if (opts.quick) return r0;
    return Math.max(10, Math.round((r0 * opts.targetMs * 1e6) / time(way, r0)));
  });
  const samples: number[][] = BATCH_WAYS.map(() => []);
  for (let r = 0; r < opts.runs; r++) {
    BATCH_WAYS.forEach(([id, , way], i) => {
      samples[i].push(time(way, rounds[i]) / (rounds[i] * BATCH_N));
      tick(`${BATCH} ${id} run ${r + 1}/${opts.runs}`);
    });
  }
  const results = BATCH_WAYS.map(([id], i): Result => {
    const nsPerOp = median(samples[i]);
    return { suite: 'single-thread', workload: BATCH, allocator: id, threads: 1, nsPerOp: Math.round(nsPerOp * 100) / 100,
      opsPerSec: Math.round(1e9 / nsPerOp), peakBytes: peak(), liveBytes: BATCH_N * BATCH_SIZE };
  });
  return { results, pairs: `${BATCH}: ${BATCH_WAYS.map(([id], i) => `${id} ${rounds[i]} rounds`).join(', ')}` };
}

function renderBatch(out: WorkloadOutput): string {
  const spec: TableSpec = {
    allocators: BATCH_WAYS.map(([id, label]) => [id, label]),
    ratios: [['ftheap-many-js', 'ftheap-facade-js', 'allocMany(n) ÷ t.alloc'], ['ftheap-many-sizes-js', 'ftheap-facade-js',
      'allocMany(sizes) ÷ t.alloc']],
  };
  return [
    `## single-thread: JS batch calls, ns per block (${BATCH_N} blocks of ${BATCH_SIZE} B allocated, then freed)`,
    '',
    speedTable(out.results, spec),
    '',
    `One JS→Wasm call per 4096 blocks (allocMany/freeMany) against one per block. Rounds per timed run: ${out.pairs}.`,
  ].join('\n');
}

/**
 * Each workload runs in its own worker (a fresh V8 isolate): shared JS such as the facade's
 * Thread methods would otherwise collect type feedback from every earlier workload's runtime
 * and instance and go polymorphic (measured: facade − raw grew from ~8 to ~30 ns), which an
 * application with one runtime never sees. From .ts sources (no worker support) it runs inline.
 */
function isolated(workload: Workload | typeof BATCH, opts: SuiteOptions): Promise<WorkloadOutput> {
  const { progress, ...plain } = opts;
  if (!import.meta.url.endsWith('.js')) {
    return workload === BATCH ? runBatch(plain, progress.tick) : runWorkload(workload, plain, progress.tick);
  }
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { suite: 'single-thread', workload, opts: plain } });
    w.on('message', (m: { tick?: string; done?: WorkloadOutput }) => (m.done ? resolve(m.done) : progress.tick(m.tick!)));
    w.on('error', reject);
    w.on('exit', (code) => code && reject(new Error(`single-thread worker (${workload}) exited with ${code}`)));
  });
}

if (!isMainThread && workerData?.suite === 'single-thread') {
  const { workload, opts } = workerData as { workload: Workload | typeof BATCH; opts: WorkloadOptions };
  const tick = (t: string) => parentPort!.postMessage({ tick: t });
  const done = workload === BATCH ? await runBatch(opts, tick) : await runWorkload(workload, opts, tick);
  parentPort!.postMessage({ done });
}

/**
 * A C peer on one workload: bench/c/st.c's build in its own process, sized like runWorkload sizes
 * a cell (warm-ups of n0 pairs, then ×4 until a run takes ≥ target / 4, then the predicted size).
 */
function cWorkload(c: CPeers, id: string, workload: Workload, opts: SuiteOptions): { result: Result; pairs: number } {
  const [cmd, ...pre] = c.command(id);
  const n0 = opts.quick ? 20_000 : 1 << 17;
  const args = [PATTERNS[workload], n0, warmups(opts), opts.runs, Math.round(opts.targetMs * 1e6), opts.seed, opts.quick ? 0 : 1].map(String);
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    throw new Error(`${id} ${workload} exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').filter((l) => l.length < 400).slice(-3).join(' | ')}`);
  }
  const runs = r.stdout.split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { pairs: number; ns: number; peakLive: number; peakBytes: number });
  if (runs.length !== opts.runs) throw new Error(`${id} ${workload}: ${runs.length} runs printed, ${opts.runs} asked`);
  const nsPerOp = median(runs.map((x) => x.ns / x.pairs));
  return {
    result: { suite: 'single-thread', workload, allocator: id, threads: 1, nsPerOp: Math.round(nsPerOp * 100) / 100,
      opsPerSec: Math.round(1e9 / nsPerOp), peakBytes: Math.max(...runs.map((x) => x.peakBytes)), liveBytes: runs.at(-1)!.peakLive },
    pairs: runs[0].pairs,
  };
}

export const singleThread: Suite = {
  name: 'single-thread',
  async run(opts: SuiteOptions) {
    const workloads = Object.keys(PATTERNS) as Workload[];
    const allocs = selected(opts);
    const batch = !opts.allocators || opts.allocators.some((a) => BATCH_WAYS.some(([id]) => id === a));
    const c = cPeers(opts, 'st');
    opts.progress.start(workloads.length * (allocs.length * (warmups(opts) + opts.runs) + c.peers.length)
      + (batch ? BATCH_WAYS.length * (warmups(opts) + opts.runs) : 0));
    const out: WorkloadOutput[] = [];
    const failed: string[] = [];
    for (const workload of workloads) {
      const o = await isolated(workload, opts);
      for (const p of c.peers) {
        try {
          const { result, pairs } = cWorkload(c, p.id, workload, opts);
          o.results.push(result);
          o.pairs += `, ${p.id} ${pairs}`;
        } catch (e) {
          failed.push((e as Error).message);
        }
        opts.progress.tick(`${workload} ${p.id}`);
      }
      out.push(o);
    }
    const batchOut = batch ? await isolated(BATCH, opts) : undefined;
    opts.progress.stop();
    for (const f of failed) console.error(`cell failed: ${f}`);
    const results = out.flatMap((o) => o.results);
    const all: Allocator[] = [...allocs, ...c.peers.map((p) => ({ id: p.id, label: p.id, create: () => { throw new Error('C peer'); } }))];
    const report = render(results, all, opts, out.map((o) => o.pairs), c, failed) + (batchOut ? `\n\n${renderBatch(batchOut)}` : '');
    return { results: [...results, ...(batchOut?.results ?? [])], report, charts: [chart(results, all, opts)] };
  },
};

/** ns per malloc+free pair per pattern, every allocator (log scale: thi.ng is 100s of times slower). */
function chart(results: Result[], allocs: Allocator[], opts: SuiteOptions) {
  const svg = logBars('single-thread: ns per malloc+free pair', `lower is better, log scale; median of ${opts.runs} run(s)`, 'ns',
    (Object.keys(PATTERNS) as Workload[]).map((w) => ({
      label: w,
      bars: allocs.map((a, i) => ({ label: a.label, color: colorOf(a.id, i),
        value: results.find((r) => r.workload === w && r.allocator === a.id)?.nsPerOp ?? 0 })),
    })));
  return { name: 'single-thread', svg };
}

function render(results: Result[], allocs: Allocator[], opts: SuiteOptions, pairsUsed: string[], c: CPeers, failed: string[]): string {
  const spec: TableSpec = {
    allocators: allocs.map((a) => [a.id, a.label]),
    ratios: [['ftheap-wasm', 'as-tlsf-wasm', 'ftheap ÷ TLSF (Wasm)'], ['ftheap-raw-js', 'thing-js', 'ftheap raw ÷ thi.ng'],
      ['ftheap-facade-js', 'thing-js', 'facade ÷ thi.ng']],
    diffs: [['ftheap-calls-wasm', 'ftheap-wasm', 'calls − inlined ns'], ['ftheap-facade-js', 'ftheap-raw-js', 'facade − raw ns']],
    quick: opts.quick,
  };
  const ids = new Set(allocs.map((a) => a.id));
  spec.ratios = spec.ratios!.filter(([a, b]) => ids.has(a) && ids.has(b));
  spec.diffs = spec.diffs!.filter(([a, b]) => ids.has(a) && ids.has(b));
  const short: TableSpec = { allocators: spec.allocators.map(([id, l]) => [id, l.replace(/ \(.*\)$/, '')]) };
  return [
    `## single-thread: ns per malloc+free pair (median of ${opts.runs} run${opts.runs > 1 ? 's' : ''}, seed ${opts.seed})`,
    '',
    speedTable(results, spec),
    '',
    '## single-thread: peak memory / peak live requested bytes',
    '',
    memoryTable(results, short),
    '',
    'ftheap inlined: the loop has ftheap\'s malloc/free fast paths inlined (bench/wasm/ftheap.alloc.ts), as a Wasm',
    'program built with ftheap\'s core may; ftheap calls: the same loop calling the exported `ft_malloc` / `ft_free`,',
    'one call per malloc and per free, as a C program linking an allocator pays (bench/wasm/ftheap-calls.alloc.ts).',
    'ftheap raw (JS) calls the exports from a JS loop; ftheap facade (JS) calls `t.alloc` / `t.free`, which check their',
    'arguments and then call the same exports: a negative facade − raw is run-to-run noise between two JS loops V8',
    'compiled apart (a few ns), not a facade cheaper than what it calls.',
    '',
    'Peak memory: ftheap = `rt.stats().memory.committedPeak` of a fresh runtime per workload made with `exactPeak`',
    '(every commit counted at once; by default a small peak inside a thread\'s 256 KiB delta is missed) (pages put to use,',
    'incl. segment metadata); AS TLSF = growth of its own memory, page-granular (64 KiB); thi.ng = highest `top`',
    'minus its start. The Wasm loops keep their 8 KiB ring in memory from the allocator under test (included in',
    'peak memory, not in live bytes); the JS loops keep it in JS arrays.',
    ...(c.peers.length ? ['',
      'C peers (bench/c/st.c: the same loop, PRNG and bytes written; the ring of [pointer, size] entries from the allocator',
      'under test, 16-byte entries natively). They run after the in-process allocators, in a process of their own per',
      'workload (not interleaved with them), sized the same way. Emscripten builds are -pthread (the thread-safe',
      'allocator, as ftheap is). Peak memory, Wasm: growth of the sbrk top; native mimalloc: growth of its peak committed',
      'bytes (mi_process_info); native glibc: growth of its arena + mmapped bytes (mallinfo2) after each run. malloc/free are real calls: built with',
      '-fno-builtin-malloc -fno-builtin-free (else the compiler may drop lifo32\'s non-escaping pair); wasm-mimalloc calls',
      'mi_malloc/mi_free by name.', ...c.peers.map((p) => `- ${p.id}: \`${c.flags(p.id).replace(/-I\S*\/(mimalloc-[^/\s]+)\/include/, '-I…/$1/include')}\``)] : []),
    ...c.notes.map((n) => `${n}.`),
    ...(failed.length ? ['Failed cells:', ...failed.map((f) => `- ${f}`)] : []),
    'Pairs per timed run:', ...pairsUsed.map((p) => `- ${p}`),
  ].join('\n');
}
