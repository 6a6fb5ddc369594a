// The multi-threaded suite: nine workloads after mimalloc-bench's programs (bench/mt/workloads.ts,
// loops in bench/wasm/mt.ts), 1..N workers, against Wasm peers in the same run:
//   ftheap (Wasm loop, shared memory, 1..N workers)
//   AssemblyScript's TLSF (same Wasm loop, own memory) and @thi.ng/malloc (same Wasm loop,
//   malloc/free imported from JS): not thread-safe, 1 worker only
//   the C peers (the C twin bench/c/mt.c, built by bench/build-c.mjs; 1..N workers, one process per
//   cell): emscripten's dlmalloc and emmalloc and mimalloc compiled to Wasm (-O3 -pthread), and
//   as native references glibc's malloc and mimalloc (gcc -O3 -pthread). Those not built (no
//   toolchain, no mimalloc source, a failed smoke test) are left out with one line each.
// Medians of the timed runs; one op = one allocation and its free (cache-scratch: one
// malloc + writes + free). See bench/README.md for the method.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { colorOf, lineGrid, type Panel } from './chart.ts';
import { C_PEERS, cPeers, type CPeer } from './c-peers.ts';
import { cCells, wasmCell, type CellOptions, type RunLine } from './mt/harness.ts';
import type { WasmKind } from './mt/protocol.ts';
import { runsInPass, WORKLOADS, type Plan, type Workload } from './mt/workloads.ts';
import { fmtNs, markdown, peakCell, type Result } from './report.ts';
import type { Suite, SuiteOptions } from './suite.ts';

export const SUITE = 'mimalloc-bench';

interface Allocator {
  id: string;
  label: string;
  /** 1 worker only (not thread-safe) */
  single: boolean;
  wasm?: WasmKind;
  /** a C peer (bench/c-peers.ts) */
  c?: CPeer;
}

const ALLOCATORS: Allocator[] = [
  { id: 'ftheap-wasm', label: 'ftheap', single: false, wasm: 'ftheap' },
  { id: 'ftheap-calls-wasm', label: 'ftheap calls', single: false, wasm: 'ftheap-calls' },
  { id: 'as-tlsf-wasm', label: 'AS TLSF', single: true, wasm: 'tlsf' },
  { id: 'thing-wasm', label: 'thi.ng', single: true, wasm: 'thing' },
  ...C_PEERS.map((c) => ({ id: c.id, label: c.label, single: false, c })),
];
const FT = 'ftheap-wasm';
/** ftheap through calls: compared with Wasm mimalloc (the issue's target), not a peer of the inlined loop. */
const FT_CALLS = 'ftheap-calls-wasm';
const WASM_MIMALLOC = 'wasm-mimalloc';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * A full run's runs should last at least this long (shorter ones measured too unsteadily on this
 * VM): the probe sizes them to MT_TARGET_MS (whole units, rounded up), then the warm-up runs size
 * them again until one reaches 0.85 × that; the report lists the timed runs that still fell short.
 */
export const MIN_RUN_MS = 200;
const MT_TARGET_MS = 300;

/** Which allocators run, and one line for each C peer that cannot. */
function available(opts: SuiteOptions): { allocs: Allocator[]; notes: string[]; flags: (id: string) => string; command: (id: string) => string[] } {
  const c = cPeers(opts, 'mt');
  const allocs = ALLOCATORS.filter((a) => (!opts.allocators || opts.allocators.includes(a.id)) && (!a.c || c.peers.includes(a.c)));
  return { allocs, notes: c.notes, flags: c.flags, command: c.command };
}

function selectedWorkloads(opts: SuiteOptions): Workload[] {
  const ws = WORKLOADS.filter((w) => !opts.workloads || opts.workloads.includes(w.id));
  const unknown = (opts.workloads ?? []).filter((id) => !WORKLOADS.some((w) => w.id === id));
  if (unknown.length) throw new Error(`unknown workload ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.id).join(', ')}`);
  return ws;
}

interface Cell { workload: Workload; alloc: Allocator; threads: number; lines: RunLine[]; plan?: Plan; failed?: boolean }

function toResult(c: Cell): Result | undefined {
  const runs = c.lines.filter((l) => l.phase === 'run');
  if (!runs.length) return undefined;
  const nsPerOp = median(runs.map((l) => l.ns / l.ops));
  const live = c.threads === 1 || c.workload.local
    ? Math.max(...c.lines.map((l) => l.localPeaks)) : Math.max(...c.lines.map((l) => l.globalPeak));
  return {
    suite: SUITE, workload: c.workload.id, allocator: c.alloc.id, threads: c.threads,
    nsPerOp: Math.round(nsPerOp * 100) / 100, opsPerSec: Math.round(1e9 / nsPerOp),
    peakBytes: Math.max(...c.lines.map((l) => l.heapPeak)), liveBytes: live,
  };
}

export const mimallocBench: Suite = {
  name: SUITE,
  async run(opts: SuiteOptions) {
    const { allocs, notes, flags, command } = available(opts);
    const workloads = selectedWorkloads(opts);
    const threads = opts.threads;
    const cores = os.cpus().length;
    if (Math.max(...threads) > cores) {
      console.log(`warning: ${Math.max(...threads)} workers on ${cores} cores: oversubscribed, the figures above ${cores} workers are meaningless`);
    }
    const passes = opts.quick ? 1 : Math.max(1, Math.min(opts.passes, opts.runs));
    const cellOpts: CellOptions = {
      quick: opts.quick, runs: opts.runs, warmups: opts.quick ? 0 : 1, passes, seed: opts.seed,
      targetNs: (opts.quick ? opts.targetMs : Math.max(opts.targetMs, MT_TARGET_MS)) * 1e6, scaleUp: !opts.quick,
    };
    const counts = (a: Allocator) => (a.single ? threads.filter((t) => t === 1) : threads);
    const cellCount = workloads.length * allocs.reduce((s, a) => s + counts(a).length, 0);
    opts.progress.start(cellCount * (1 + passes * cellOpts.warmups + cellOpts.runs));
    const modules = new Map<WasmKind, WebAssembly.Module>();
    const moduleOf = (k: WasmKind) => {
      let m = modules.get(k);
      if (!m) modules.set(k, m = new WebAssembly.Module(readFileSync(join(opts.root, 'build/bench', k, 'bench.wasm'))));
      return m;
    };
    const cells: Cell[] = [];
    for (const w of workloads) for (const a of allocs) for (const t of counts(a)) cells.push({ workload: w, alloc: a, threads: t, lines: [] });
    const failed: string[] = [];
    const tick = opts.progress.tick;
    // quick mode: one C process per allocator and worker count (process start-up dominates);
    // otherwise one per cell and pass, so that its memory figures are its own
    if (opts.quick) {
      for (const a of allocs.filter((x) => x.c)) {
        for (const t of counts(a)) {
          try {
            const out = await cCells(command(a.id), a.id, workloads, t, cellOpts, tick);
            for (const c of cells.filter((x) => x.alloc === a && x.threads === t)) {
              // one process for all workloads: only the first one's memory growth is its own
              const own = c.workload === workloads[0];
              c.lines.push(...out.get(c.workload.code)!.lines.map((l) => (own ? l : { ...l, heapPeak: 0 })));
            }
          } catch (e) {
            failed.push(`${a.id} ×${t}: ${(e as Error).message}`);
          }
        }
      }
    }
    // Each cell's runs are spread over `passes` passes through all cells, so that a disturbance
    // of a few seconds cannot make all of a cell's runs (its median) slow.
    for (let pass = 0; pass < passes; pass++) {
      for (const c of cells) {
        if (c.failed || (opts.quick && c.alloc.c)) continue;
        if (c.plan && runsInPass(c.plan.runs, passes, pass) === 0) continue;
        try {
          const out = c.alloc.wasm
            ? await wasmCell(opts.root, c.alloc.wasm, moduleOf(c.alloc.wasm), c.workload, c.threads, cellOpts, tick, c.plan, pass)
            : (await cCells(command(c.alloc.id), c.alloc.id, [c.workload], c.threads, cellOpts, tick, c.plan, pass)).get(c.workload.code)!;
          c.lines.push(...out.lines);
          c.plan = out.plan;
        } catch (e) {
          c.failed = true;
          failed.push(`${c.workload.id} ${c.alloc.id} ×${c.threads}: ${(e as Error).message}`);
        }
      }
    }
    opts.progress.stop();
    for (const f of failed) console.error(`cell failed: ${f}`);
    const results = cells.flatMap((c) => {
      const r = toResult(c);
      return r ? [r] : [];
    });
    return {
      results,
      report: render(results, allocs, workloads, threads, opts, cells, notes, failed, flags),
      charts: charts(results, allocs, workloads, opts),
    };
  },
};

// ---- report -----------------------------------------------------------------------------------

const find = (rs: Result[], w: string, a: string, t: number) => rs.find((r) => r.workload === w && r.allocator === a && r.threads === t);
const ratio = (x?: Result, y?: Result) => (x && y ? x.nsPerOp / y.nsPerOp : undefined);
const fmtRatio = (r?: number) => (r === undefined ? '–' : `${r.toFixed(r < 0.1 ? 3 : 2)}×`);
const fmtMops = (r?: Result) => (r ? (r.opsPerSec / 1e6).toFixed(r.opsPerSec >= 1e7 ? 1 : 2) : '–');

function render(results: Result[], allocs: Allocator[], workloads: Workload[], threads: number[], opts: SuiteOptions,
    cells: Cell[], notes: string[], failed: string[], flags: (id: string) => string): string {
  const peers = allocs.filter((a) => a.id !== FT);
  // ftheap is compared (ratios, targets) with the Wasm peers; the native columns are references,
  // and ftheap calls is the same allocator through calls (its own target line)
  const wasmPeers = peers.filter((a) => !a.c?.native && a.id !== FT_CALLS);
  const multi = threads.filter((t) => t > 1);
  const hasFt = allocs.some((a) => a.id === FT);
  const out: string[] = [];
  const passes = opts.quick ? 1 : Math.max(1, Math.min(opts.passes, opts.runs));
  out.push(`## ${SUITE}: throughput and ns per op (median of ${opts.runs} run${opts.runs > 1 ? 's' : ''}`
    + `${passes > 1 ? ` in ${passes} passes` : ''}, seed ${opts.seed})`, '');
  for (const n of notes) out.push(`${n}.`, '');
  // speed: one row per workload × workers
  const speedHeaders = ['workload', 'workers', ...(hasFt ? ['ftheap Mops/s', 'ftheap ns/op', 'speedup vs 1'] : []),
    ...peers.map((a) => `${a.label} ns/op`), ...(hasFt ? wasmPeers.map((a) => `ftheap ÷ ${a.label}`) : [])];
  const speedRows = workloads.flatMap((w) => threads.map((t) => {
    const ft = find(results, w.id, FT, t), ft1 = find(results, w.id, FT, 1);
    return [w.id, String(t),
      ...(hasFt ? [fmtMops(ft), fmtNs(ft?.nsPerOp), t > 1 && ft && ft1 ? `${(ft.opsPerSec / ft1.opsPerSec).toFixed(2)}×` : '–'] : []),
      ...peers.map((a) => fmtNs(find(results, w.id, a.id, t)?.nsPerOp)),
      ...(hasFt ? wasmPeers.map((a) => fmtRatio(ratio(ft, find(results, w.id, a.id, t)))) : [])];
  }));
  out.push(markdown(speedHeaders, speedRows), '');
  out.push('ns/op = wall time of the run (earliest worker start to latest worker end) ÷ all workers\' ops; '
    + '`ftheap` = the workload loop with ftheap\'s malloc/free fast paths inlined into it (a Wasm program built on ftheap\'s core); '
    + '`ftheap calls` = the same loop calling the exported ft_malloc / ft_free (a call per malloc and per free, as the C peers pay); '
    + 'both turn on batching of remote-free runs (ft_remote_batching) and page sharing (`Runtime.create({ sharePages: true })`: full pages float, '
    + 'and a thread takes over pages other threads freed blocks into before it takes fresh memory). '
    + '`ftheap ÷ X` = ftheap\'s ns/op over X\'s: below 1× ftheap is faster. AS TLSF and thi.ng are not thread-safe: 1 worker only. '
    + 'The native columns (gcc, the same C workloads as the emscripten peers, 64-bit pointers: 8-byte slots) are references, not targets.', '');
  // scaling
  const scalers = allocs.filter((a) => !a.single);
  if (multi.length && scalers.length) {
    out.push(`### ${SUITE}: throughput relative to 1 worker`, '');
    const hdr = ['workload', 'thread-local', ...multi.flatMap((t) => scalers.map((a) => `${a.label} 1→${t}`))];
    const rows = workloads.map((w) => [w.id, w.local ? 'yes' : 'no', ...multi.flatMap((t) => scalers.map((a) => {
      const x = find(results, w.id, a.id, t), one = find(results, w.id, a.id, 1);
      return x && one ? `${(x.opsPerSec / one.opsPerSec).toFixed(2)}×` : '–';
    }))]);
    out.push(markdown(hdr, rows), '');
  }
  // memory
  out.push(`### ${SUITE}: peak memory / peak live requested bytes`, '');
  const memRows = workloads.flatMap((w) => threads.map((t) => [w.id, String(t), ...allocs.map((a) => {
    const r = find(results, w.id, a.id, t);
    return r ? peakCell(r.peakBytes, r.liveBytes, 2) : '–';
  })]));
  out.push(markdown(['workload', 'workers', ...allocs.map((a) => a.label)], memRows), '');
  out.push('Peak memory: ftheap = `committedPeak` of a fresh runtime per cell, made with `exactPeak` (every commit counted at once; by default a thread\'s commits reach the shared counter in 256 KiB steps and a small workload\'s peak can be missed) (pages put to use, segment headers, the main '
    + 'thread\'s context block); AS TLSF = growth of its memory (64 KiB pages); thi.ng = highest `top`; emscripten = highest '
    + '`sbrk(0)` seen minus the start (thread stacks of 64 KiB included; wasm-mimalloc: its sbrk\'d segments and the '
    + 'runtime\'s dlmalloc); native mimalloc = its own peak committed bytes '
    + '(`mi_process_info`) over the cell (it commits whole segments up front on Linux: mapped read-write, not all touched); native glibc = its arenas\' bytes plus mmapped chunks (`mallinfo2` `arena + '
    + 'hblkhd`) after each run, before the drain (arenas shrink only by trimming their top; thread stacks not included). Quick runs put all cells of a C peer in one process: only its first cell\'s peak is '
    + 'its own (`–` where none was seen). Live bytes: requested bytes of the workload, its '
    + 'slot tables and batch arrays included; one worker or thread-local: the sum of each worker\'s exact peak, else the '
    + 'all-threads peak (workers flush their counts every 16 KiB of change). xmalloc-test\'s memory grows with how far '
    + 'producers run ahead: not a memory benchmark.', '');
  if (hasFt) out.push(...targets(results, wasmPeers, workloads, threads, allocs), '');
  const cs = allocs.filter((a) => a.c);
  if (cs.length) {
    out.push('C peers (bench/c/mt.c, built by bench/build-c.mjs; wasm-mimalloc: mimalloc 2.0.9\'s src/static.c compiled in, the '
      + 'workloads call mi_malloc/mi_free, emscripten\'s runtime keeps dlmalloc; native-mimalloc: libmimalloc.so interposes '
      + 'malloc/free for the whole process):', ...cs.map((a) => `- ${a.id}: \`${flags(a.id).replace(/-I\S*\/(mimalloc-[^/\s]+)\/include/, '-I…/$1/include')}\``), '');
  }
  if (!opts.quick) {
    // BENCH_RUN_MS=1: each cell's runs in ms, in order (p probe, w warm-up, r timed), to see why one fell short
    if (process.env.BENCH_RUN_MS) {
      for (const c of cells) console.log(c.workload.id, c.alloc.id, c.threads, c.lines.map((l) => `${l.phase[0]}${(l.ns / 1e6).toFixed(0)}`).join(' '));
    }
    const short = cells.flatMap((c) => c.lines.filter((l) => l.phase === 'run' && l.ns < MIN_RUN_MS * 1e6)
      .map(() => `${c.workload.id} ${c.alloc.label}×${c.threads}`));
    out.push(`Runs shorter than ${MIN_RUN_MS} ms: ${short.length ? [...new Set(short)].join(', ') : 'none'}.`, '');
  }
  out.push('Ops per timed run (all workers; runs are cut to about the target time, whole units of the workload):',
    ...workloads.map((w) => `- ${w.id}: ${allocs.flatMap((a) => cells
      .filter((c) => c.workload === w && c.alloc === a)
      .map((c) => {
        const runs = c.lines.filter((l) => l.phase === 'run');
        return `${a.label}×${c.threads} ${fmtOps(runs[0]?.ops)}${runs.length < opts.runs ? ` (${runs.length} run${runs.length > 1 ? 's' : ''})` : ''}`;
      })).join(', ')}`));
  if (failed.length) out.push('', 'Failed cells:', ...failed.map((f) => `- ${f.split('\n')[0]}`));
  return out.join('\n');
}

const fmtOps = (n?: number) => (n === undefined ? '–' : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(n));

/** The issue's targets, checked against this run. */
function targets(results: Result[], peers: Allocator[], workloads: Workload[], threads: number[], allocs: Allocator[]): string[] {
  const out = [`### ${SUITE}: targets`, ''];
  if (allocs.some((a) => a.id === FT_CALLS) && allocs.some((a) => a.id === WASM_MIMALLOC)) {
    const behind: string[] = [];
    let n = 0;
    for (const w of workloads) for (const t of threads.filter((x) => x <= 2)) {
      const r = ratio(find(results, w.id, FT_CALLS, t), find(results, w.id, WASM_MIMALLOC, t));
      if (r === undefined) continue;
      n++;
      if (r > 1) behind.push(`${w.id} ×${t} (${r.toFixed(2)}×)`);
    }
    out.push(`- ftheap through calls ≤ Wasm mimalloc at 1 and 2 workers: ${n - behind.length} of ${n}`
      + (behind.length ? `; behind: ${behind.join(', ')}` : ' ✓'));
  }
  const misses: string[] = [];
  let checked = 0;
  for (const w of workloads) for (const t of threads.filter((x) => x <= 2)) {
    const ft = find(results, w.id, FT, t);
    for (const a of peers) {
      const r = ratio(ft, find(results, w.id, a.id, t));
      if (r === undefined) continue;
      checked++;
      if (r >= 1) misses.push(`${w.id} ×${t} vs ${a.label} (${r.toFixed(2)}×)`);
    }
  }
  out.push(`- ftheap ahead of every peer at 1 and 2 workers: ${checked - misses.length} of ${checked} comparisons`
    + (misses.length ? `; behind or level: ${misses.join(', ')}` : ' ✓'));
  if (threads.includes(2)) {
    const slow: string[] = [], ok: string[] = [];
    for (const w of workloads.filter((x) => x.local)) {
      const one = find(results, w.id, FT, 1), two = find(results, w.id, FT, 2);
      if (!one || !two) continue;
      const s = two.opsPerSec / one.opsPerSec;
      (s >= 1.8 ? ok : slow).push(`${w.id} ${s.toFixed(2)}×`);
    }
    out.push(`- 2-worker speedup ≥ 1.8× on thread-local workloads: ${ok.length} of ${ok.length + slow.length}`
      + (slow.length ? `; below: ${slow.join(', ')}` : ' ✓') + (ok.length ? ` (met: ${ok.join(', ')})` : ''));
  }
  const at = threads.filter((t) => t <= 2).map((t) => find(results, 'alloc-test', FT, t)).filter((r): r is Result => !!r);
  if (at.length) {
    out.push(`- alloc-test peak memory ≤ 1.2 × peak live: ${at.map((r) => `${r.threads} worker${r.threads > 1 ? 's' : ''} `
      + `${(r.peakBytes / r.liveBytes).toFixed(3)}× ${r.peakBytes <= 1.2 * r.liveBytes ? '✓' : '✗'}`).join(', ')}`);
  }
  return out;
}

function charts(results: Result[], allocs: Allocator[], workloads: Workload[], opts: SuiteOptions) {
  const panels: Panel[] = workloads.map((w) => ({
    title: w.id,
    series: allocs.map((a, i) => ({
      label: a.label, color: colorOf(a.id, i),
      points: results.filter((r) => r.workload === w.id && r.allocator === a.id).map((r): [number, number] => [r.threads, r.opsPerSec / 1e6]),
    })).filter((s) => s.points.length),
  }));
  const svg = lineGrid(`${SUITE}: throughput against workers`, `Mops/s (higher is better), median of ${opts.runs} run(s); `
    + `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`, 'Mops/s', panels);
  return [{ name: SUITE, svg }];
}
