// Runs one cell (a workload × an allocator × a number of workers) of the multi-threaded suite.
//   Wasm allocators (ftheap, AS TLSF, thi.ng): T Node workers each instantiate the bench module
//   (bench/mt/worker.ts); for ftheap on one fresh runtime's shared memory, with the main thread
//   as the coordinator (it allocates the shared context block). TLSF and thi.ng are not
//   thread-safe: one worker, which is its own coordinator.
//   C peers (emscripten's dlmalloc and emmalloc, mimalloc in Wasm; natively glibc and mimalloc): one
//   process per cell running a build of bench/c/mt.c (bench/build-c.mjs, bench/c-peers.ts).
// A cell: a probe run sizes the runs (whole units, about the target time each: scaled up or down
// in full runs, only down in quick ones), then warm-up runs, then timed runs. A run's time is the
// earliest worker start to the latest worker end, from the workers' own timestamps.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Runtime } from '../../src/index.ts';
import { isFtheap, type MtExports, type WasmKind, type WorkerInit, type WorkerReply, type WorkerRequest } from './protocol.ts';
import { fitRuns, fitUnits, runsInPass, type Plan, type Workload } from './workloads.ts';

export interface CellOptions {
  quick: boolean;
  /** timed runs in all passes */
  runs: number;
  /** warm-up runs per pass */
  warmups: number;
  /** the suite's passes over all cells; each cell's runs are spread over them */
  passes: number;
  seed: number;
  targetNs: number;
  /** size runs up to the target too (full runs); quick runs only scale down */
  scaleUp: boolean;
}

export interface CellOutput {
  lines: RunLine[];
  /** settled in the first pass (later passes repeat it without a probe) */
  plan: Plan;
}

/** One run of a cell, as the C harness prints it too. */
export interface RunLine {
  workload: number;
  phase: 'probe' | 'warm' | 'run' | 'plan';
  units: number;
  ops: number;
  ns: number;
  /** sum of each worker's exact peak of live bytes */
  localPeaks: number;
  /** the flushed all-threads peak of live bytes (approximate by ≤ 16 KiB per worker) */
  globalPeak: number;
  /** the allocator's peak memory so far */
  heapPeak: number;
}

export type Tick = (label: string) => void;

const MAX_MEMORY = 2 ** 31;          // ftheap runtime: 2 GiB maximum
const INITIAL_MEMORY = 64 << 20;

/** Full runs size a cell again from a warm-up run that took less than this share of the target (the C harness too). */
export const RESIZE_BELOW = 0.85;

/** A worker driven by request/response messages. */
class Peer {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;
  private failure: Error | null = null;

  constructor(readonly worker: Worker) {
    let ready!: () => void, failed!: (e: Error) => void;
    this.ready = new Promise((res, rej) => { ready = res; failed = rej; });
    worker.on('message', (m: WorkerReply) => {
      if (m.ready) { ready(); return; }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error)); else p.resolve(m);
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      failed(e);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`bench worker exited (${code})`)));
  }

  call(req: WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }
}

function workerUrl(root: string): URL {
  if (import.meta.url.endsWith('.js')) return new URL('./worker.js', import.meta.url);
  const url = pathToFileURL(join(root, 'dist/bench/mt/worker.js'));
  if (!existsSync(url)) throw new Error(`${url.pathname} is missing: run \`npm run build\``);
  return url;
}

function summarize(workload: number, phase: RunLine['phase'], units: number, replies: WorkerReply[], heapPeak: number): RunLine {
  const t0 = Math.min(...replies.map((r) => r.t0!)), t1 = Math.max(...replies.map((r) => r.t1!));
  return {
    workload, phase, units, ns: t1 - t0,
    ops: replies.reduce((s, r) => s + r.ops!, 0),
    localPeaks: replies.reduce((s, r) => s + r.localPeak!, 0),
    globalPeak: Math.max(...replies.map((r) => r.globalPeak!)),
    heapPeak,
  };
}

/**
 * First pass (no plan yet): probe, size the runs, plan them, make this pass's share of them.
 * Later passes: the plan's warm-ups and this pass's share of its runs, no probe.
 */
async function cellRuns(w: Workload, opts: CellOptions, plan: Plan | undefined, pass: number,
    runOnce: (units: number, phase: RunLine['phase']) => Promise<RunLine>): Promise<CellOutput> {
  const lines: RunLine[] = [];
  if (!plan) {
    const probeUnits = w.probeUnits(opts.quick);
    const probe = await runOnce(probeUnits, 'probe');
    lines.push(probe);
    const units = fitUnits(w.units(opts.quick), probeUnits, w.minUnits, probe.ns, opts.targetNs, opts.scaleUp);
    plan = { units, ...fitRuns(opts.runs, opts.warmups, (probe.ns / probeUnits) * units, opts.targetNs) };
    // A cold probe runs slower than warm code, and so can the first warm-up (fresh memory, code
    // still tiering up), and runs of a cross-thread workload vary 2-3x on a shared VM: size
    // again from the warm-up runs (at least 2, at most 4), by the fastest time per unit seen,
    // until the fastest would still reach RESIZE_BELOW of the target. Sized from one warm-up,
    // the timed runs of some cells ran in half the target.
    if (opts.scaleUp && plan.warmups > 0) {
      let best = Infinity;   // fastest ns per unit seen
      for (let extra = 0; extra <= 3; extra++) {
        const warm = await runOnce(plan.units, 'warm');
        lines.push(warm);
        best = Math.min(best, warm.ns / plan.units);
        if ((extra > 0 && best * plan.units >= RESIZE_BELOW * opts.targetNs) || extra === 3) break;
        plan.units = fitUnits(plan.units, 1, w.minUnits, best, opts.targetNs, true);
      }
      const runs = runsInPass(plan.runs, opts.passes, pass);
      for (let i = 0; i < plan.warmups - 1 + runs; i++) lines.push(await runOnce(plan.units, i < plan.warmups - 1 ? 'warm' : 'run'));
      return { lines, plan };
    }
  }
  const runs = runsInPass(plan.runs, opts.passes, pass);
  for (let i = 0; i < plan.warmups + runs; i++) lines.push(await runOnce(plan.units, i < plan.warmups ? 'warm' : 'run'));
  return { lines, plan };
}

/** One pass of a cell of a Wasm allocator: fresh workers (and, for ftheap, a fresh runtime). */
export async function wasmCell(root: string, kind: WasmKind, module: WebAssembly.Module, w: Workload, threads: number,
    opts: CellOptions, tick: Tick, plan?: Plan, pass = 0): Promise<CellOutput> {
  if (!isFtheap(kind) && threads !== 1) throw new Error(`${kind} is not thread-safe: 1 worker only`);
  const ctlBuf = new SharedArrayBuffer(8);
  const rt = isFtheap(kind) ? await Runtime.create({ module, maximumMemory: MAX_MEMORY, initialMemory: INITIAL_MEMORY, exactPeak: true, sharePages: true }) : undefined;
  const main = rt?.attach();
  const url = workerUrl(root);
  // ftheap's workers join the runtime (init as their joinWorker data; reaped if they die); the others get init as workerData.
  const peers = await Promise.all(Array.from({ length: threads }, async (_, index) => {
    const init: WorkerInit = { kind, module, index, threads, ctl: ctlBuf };
    return new Peer(rt ? (await rt.startWorker(url, { data: init })).worker as Worker : new Worker(url, { workerData: init }));
  }));
  try {
    await Promise.all(peers.map((p) => p.ready));
    const ex = rt?.exports as unknown as MtExports | undefined;
    const coord = {
      ctx: async () => (ex ? ex.mt_ctx_new(w.code, threads) >>> 0 : (await peers[0].call({ cmd: 'ctx', workload: w.code, threads })).ctx!),
      async prepare(ctx: number) { if (ex) ex.mt_prepare(ctx); else await peers[0].call({ cmd: 'prepare', ctx }); },
      async finish(ctx: number) { if (ex) ex.mt_finish(ctx); else await peers[0].call({ cmd: 'finish', ctx }); },
      async free(ctx: number) { if (ex) ex.mt_ctx_free(ctx); else await peers[0].call({ cmd: 'free-ctx', ctx }); },
    };
    const ctx = await coord.ctx();
    if (!ctx) throw new Error('mt_ctx_new failed');
    const params = w.params(opts.quick, threads);
    const out = await cellRuns(w, opts, plan, pass, async (units, phase) => {
      await coord.prepare(ctx);
      const replies = await Promise.all(peers.map((p) => p.call({ cmd: 'run', ctx, seed: opts.seed, params, units, rounds: !!w.rounds })));
      await coord.finish(ctx);
      const heapPeak = rt ? rt.stats().memory.committedPeak : replies[0].heapPeak!;
      tick(`${w.id} ${kind} ×${threads} ${phase}`);
      return summarize(w.code, phase, units, replies, heapPeak);
    });
    await coord.free(ctx);
    return out;
  } finally {
    await Promise.all(peers.map((p) => p.worker.terminate()));
    if (main && !main.hasExited) main.exit();
  }
}

/** The V8 flags every bench process runs with (see bench/main.ts). */
export const V8_FLAGS = ['--no-liftoff', '--no-wasm-lazy-compilation'];

/**
 * One pass of cells of a C peer (a build of bench/c/mt.c: `command` runs it), one process per call
 * (several workloads in one process only in quick mode: its memory figures then hold for the
 * first workload alone). Without a plan the program probes and plans (printing a "plan" line)
 * like cellRuns.
 */
export async function cCells(command: string[], label: string, workloads: Workload[], threads: number, opts: CellOptions,
    tick: Tick, plan?: Plan, pass = 0): Promise<Map<number, CellOutput>> {
  if (plan && workloads.length !== 1) throw new Error('a plan is for one workload');
  const args = [...command.slice(1), String(threads),
    String(plan ? runsInPass(plan.runs, opts.passes, pass) : opts.runs), String(plan ? plan.warmups : opts.warmups),
    String(opts.seed), String(Math.round(opts.targetNs)), String(opts.passes), opts.scaleUp ? '1' : '0',
    ...workloads.flatMap((w) => [w.code, plan ? plan.units : w.units(opts.quick), plan ? 0 : w.probeUnits(opts.quick), w.minUnits,
      ...w.params(opts.quick, threads)].map(String))];
  const lines = await cProcess(command[0], args, label, workloads, threads, tick);
  const out = new Map<number, CellOutput>();
  for (const w of workloads) {
    const mine = lines.filter((l) => l.workload === w.code);
    const planned = mine.find((l) => l.phase === 'plan');
    out.set(w.code, {
      lines: mine.filter((l) => l.phase !== 'plan'),
      plan: plan ?? { units: planned!.units, runs: planned!.ops, warmups: planned!.ns },
    });
  }
  return out;
}

function cProcess(cmd: string, args: string[], label: string, workloads: Workload[], threads: number, tick: Tick): Promise<RunLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: RunLine[] = [];
    let buf = '', err = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!text.startsWith('{')) continue;
        const line = JSON.parse(text) as RunLine;
        lines.push(line);
        if (line.phase !== 'plan') tick(`${workloads.find((w) => w.code === line.workload)?.id} ${label} ×${threads} ${line.phase}`);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { err += chunk; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(lines);
      // the last lines of stderr, cut: a Node crash prints a whole line of minified glue
      else reject(new Error(`${label} ×${threads} exited with ${code}: ${err.trim().split('\n').filter((l) => l.length < 400).slice(-5).join('\n')}`));
    });
  });
}
