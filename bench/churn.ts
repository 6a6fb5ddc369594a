// The churn suite: how much memory ftheap keeps when threads come and go (abandoned segments
// adopted and given back), and how fast a dead worker's thread is reaped. ftheap only, through
// the facade (Thread.alloc / free / usableSize) with the packaged core; every cell on a fresh
// runtime (initial memory 2 pages, so its memory high-water is its own). Workers: bench/churn-worker.ts.
//   churn-mstress          W workers, rounds of: attach, allocate a mix (8..512 B, a few 4..64 KiB)
//                          while freeing the previous round's leftovers, free half as many of the
//                          new blocks, pass half of the rest to the next worker, keep the other
//                          half for the next round's thread, exit.
//   churn-produce-consume  rounds of: a producer thread allocates ~4 MiB and exits with it all live;
//                          a consumer thread frees it all and checkpoints.
//   churn-64-workers       64 workers each attach and hold ~1 MiB, meet at a barrier, free, exit.
//   reap-latency           a worker attached and spinning (no checkpoints), another blocked in
//                          stopTheWorld; main terminates the first and reaps its thread: ms from
//                          terminate() to the requester's stop callback running.
// The workloads count live bytes themselves (usable sizes, exact, shared counter with its peak);
// high-water = stats().memory.highWater (the Wasm memory's size, which never shrinks).
import type { Worker } from 'node:worker_threads';
import { Runtime, type RuntimeWorker } from '../src/index.ts';
import type { ChurnRole, ChurnWorkerData, ChurnWorkerReply } from './churn-worker.ts';
import { fmtBytes, markdown, type Result } from './report.ts';
import type { Suite, SuiteOptions } from './suite.ts';

/** The control block's words (a SharedArrayBuffer shared with bench/churn-worker.ts). */
export const C = {
  /** barrier: arrivals, generation */
  BAR_COUNT: 0, BAR_GEN: 1,
  /** live usable bytes now, and their peak */
  LIVE: 2, PEAK: 3,
  /** start signal (all roles wait for it after their set-up) */
  GO: 4,
  /** produce / consume: turn number (2r: produce round r, 2r+1: consume it) */
  TURN: 5,
  /** reap-latency: the requester is about to stop the world; its stop callback ran */
  REQUESTING: 6, STOPPED: 7,
  /** reap-latency: the victim's spin stops when set (never, in practice: it is terminated) */
  SPIN_STOP: 8,
  /** words: 16; then a BigInt64 at byte 64: the requester's clock in its stop callback (ns) */
  WORDS: 16,
} as const;
export const CTL_BYTES = C.WORDS * 4 + 8;

const WORKER = new URL('./churn-worker.js', import.meta.url);
const MiB = 1 << 20;

/** Targets (the churn issue). */
const TARGET_RATIO = 1.5;            // high-water ≤ 1.5 × peak live bytes
const TARGET_PER_WORKER = 4 * MiB;   // churn-64-workers: high-water per worker
const TARGET_REAP_MS = 10;

interface Sizes {
  /** churn-mstress: rounds (plus one that only frees) and allocations per worker and round */
  mstressRounds: number; mstressAllocs: number;
  /** churn-produce-consume: rounds, usable bytes produced per round */
  pcRounds: number; pcBytes: number;
  /** churn-64-workers: workers, usable bytes each */
  holdWorkers: number; holdBytes: number;
  /** reap-latency: runs (median) */
  reapRuns: number;
}

function sizesFor(opts: SuiteOptions): Sizes {
  return opts.quick
    ? { mstressRounds: 4, mstressAllocs: 20000, pcRounds: 8, pcBytes: 4 * MiB, holdWorkers: 16, holdBytes: MiB, reapRuns: 3 }
    : { mstressRounds: 20, mstressAllocs: 20000, pcRounds: 64, pcBytes: 4 * MiB, holdWorkers: 64, holdBytes: MiB, reapRuns: Math.max(9, opts.runs) };
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

/** A fresh runtime (its memory starts at 2 pages) and a zeroed control block. */
async function fresh() {
  const rt = await Runtime.create({ initialMemory: 128 << 10, maximumMemory: 1 << 30, exactPeak: true });
  const ctl = new SharedArrayBuffer(CTL_BYTES);
  return { rt, ctl, i32: new Int32Array(ctl, 0, C.WORDS) };
}

interface Spawned {
  worker: RuntimeWorker;
  ready: Promise<{ id?: number }>;
  done: Promise<ChurnWorkerReply>;
}

/** `reap: false`: its thread is left for the caller to reap by hand (reap-latency times that reap). */
async function spawn(rt: Runtime, data: ChurnWorkerData, reap = true): Promise<Spawned> {
  const worker = await rt.startWorker(WORKER, { data, reap });
  const w = worker.worker as Worker;
  let readyResolve!: (m: { id?: number }) => void, readyReject!: (e: Error) => void;
  const ready = new Promise<{ id?: number }>((res, rej) => { readyResolve = res; readyReject = rej; });
  const done = new Promise<ChurnWorkerReply>((resolve, reject) => {
    const fail = (e: Error) => { readyReject(e); reject(e); };
    w.on('message', (m) => { if (m.ready) readyResolve(m); else resolve(m as ChurnWorkerReply); });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`churn ${data.role} worker exited (${code}) before replying`)));
  });
  ready.catch(() => {}); done.catch(() => {});
  return { worker, ready, done };
}

function go(i32: Int32Array): void {
  Atomics.store(i32, C.GO, 1);
  Atomics.notify(i32, C.GO);
}

/** What one memory cell measured. */
interface MemoryRun {
  /** peak live usable bytes (the workload's count) */
  live: number;
  /** stats().memory.highWater, committedPeak */
  highWater: number;
  committedPeak: number;
  allocs: number;
  /** ns: earliest worker start to latest worker end (`ownTime`: the sum of the workers' own times) */
  ns: number;
  /**
   * Once every block was freed and every thread exited: 4 MiB units in use and segments in the
   * domain's abandoned pool; units in use after `collectAbandoned()`.
   */
  unitsEnd: number;
  abandonedEnd: number;
  unitsCollected: number;
}

async function finish(rt: Runtime, i32: Int32Array, spawned: Spawned[], what: string, ownTime = false): Promise<MemoryRun> {
  const replies = await Promise.all(spawned.map((s) => s.done));
  await Promise.all(spawned.map((s) => s.worker.terminate()));
  const live = Atomics.load(i32, C.LIVE);
  if (live !== 0) throw new Error(`churn ${what}: ${live} live bytes left (the workload's count)`);
  const st = rt.stats();
  const abandonedEnd = rt.domain().abandoned().segments;
  rt.domain().collectAbandoned();
  return {
    live: Atomics.load(i32, C.PEAK), highWater: st.memory.highWater, committedPeak: st.memory.committedPeak,
    allocs: replies.reduce((s, r) => s + r.allocs, 0),
    ns: ownTime ? replies.reduce((s, r) => s + r.t1 - r.t0, 0)
      : Math.max(...replies.map((r) => r.t1)) - Math.min(...replies.map((r) => r.t0)),
    unitsEnd: st.segments.unitsLive, abandonedEnd, unitsCollected: rt.stats().segments.unitsLive,
  };
}

async function mstressRun(w: number, z: Sizes, seed: number): Promise<MemoryRun> {
  const { rt, ctl, i32 } = await fresh();
  const listWords = 1 + 2 * z.mstressAllocs;
  const lists = new SharedArrayBuffer(w * 2 * listWords * 4);
  const spawned = await Promise.all(Array.from({ length: w }, (_, index) => spawn(rt, {
    role: 'mstress', ctl, lists, listWords, index, workers: w, rounds: z.mstressRounds, allocs: z.mstressAllocs, seed })));
  return finish(rt, i32, spawned, 'mstress');
}

async function produceConsumeRun(z: Sizes, seed: number): Promise<MemoryRun> {
  const { rt, ctl, i32 } = await fresh();
  const listWords = 1 + 2 * Math.ceil(z.pcBytes / 8);
  const lists = new SharedArrayBuffer(listWords * 4);
  const spawned = await Promise.all((['produce', 'consume'] as ChurnRole[]).map((role, index) => spawn(rt, {
    role, ctl, lists, listWords, index, workers: 2, rounds: z.pcRounds, bytes: z.pcBytes, seed })));
  await Promise.all(spawned.map((s) => s.ready));
  go(i32);
  return finish(rt, i32, spawned, 'produce-consume');
}

async function holdRun(z: Sizes, seed: number): Promise<MemoryRun> {
  const { rt, ctl, i32 } = await fresh();
  const spawned = await Promise.all(Array.from({ length: z.holdWorkers }, (_, index) => spawn(rt, {
    role: 'hold', ctl, index, workers: z.holdWorkers, bytes: z.holdBytes, seed })));
  return finish(rt, i32, spawned, '64-workers', true);
}

interface ReapRun {
  /** ms: terminate() resolving; from its return to the stop callback running; total */
  terminate: number;
  afterTerminate: number;
  reap: number;
  total: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reapRun(seed: number): Promise<ReapRun> {
  const { rt, ctl, i32 } = await fresh();
  const d = rt.domain();
  const victim = await spawn(rt, { role: 'victim', ctl, index: 0, workers: 2, seed }, false);
  const requester = await spawn(rt, { role: 'requester', ctl, index: 1, workers: 2, seed });
  const { id } = await victim.ready;
  await requester.ready;
  go(i32);
  while (Atomics.load(i32, C.REQUESTING) === 0) await sleep(1);
  await sleep(20);                                   // the requester is waiting for the victim now
  if (Atomics.load(i32, C.STOPPED) !== 0) throw new Error('churn reap-latency: the stop did not wait for the spinning thread');
  const clock = new BigInt64Array(ctl, C.WORDS * 4, 1);
  const t0 = process.hrtime.bigint();
  await victim.worker.terminate();
  const t1 = process.hrtime.bigint();
  d.reap(id!);
  const t2 = process.hrtime.bigint();
  if (Atomics.wait(i32, C.STOPPED, 0, 10_000) === 'timed-out') throw new Error('churn reap-latency: the stop did not complete after reap');
  const ts = Atomics.load(clock, 0);
  await requester.done;
  await requester.worker.terminate();
  const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
  return { terminate: ms(t0, t1), reap: ms(t1, t2), afterTerminate: ms(t1, ts), total: ms(t0, ts) };
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

export const churnSuite: Suite = {
  name: 'churn',
  async run(opts) {
    const z = sizesFor(opts);
    const want = (w: string) => !opts.workloads || opts.workloads.includes(w);
    const runs = opts.quick ? 1 : opts.runs;
    const results: Result[] = [];
    const rows: string[][] = [];
    opts.progress.start((want('churn-mstress') ? opts.threads.length * runs : 0) + (want('churn-produce-consume') ? runs : 0) +
      (!opts.quick && want('churn-mstress-large') ? opts.threads.length : 0) + (!opts.quick && want('churn-produce-consume-large') ? 1 : 0) +
      (want('churn-64-workers') ? 1 : 0) + (want('reap-latency') ? z.reapRuns : 0));
    // Each memory cell: the median ns per allocation; the memory figures of the run with the
    // highest high-water ÷ peak live.
    const cell = async (workload: string, threads: number, n: number, f: () => Promise<MemoryRun>) => {
      const rs: MemoryRun[] = [];
      for (let r = 0; r < n; r++) { rs.push(await f()); opts.progress.tick(`${workload} ×${threads}`); }
      const ns = median(rs.map((r) => r.ns / r.allocs));
      const m = rs.reduce((a, b) => (b.highWater / b.live > a.highWater / a.live ? b : a));
      results.push({ suite: 'churn', workload, allocator: 'ftheap', threads, nsPerOp: ns, opsPerSec: 1e9 / ns,
        peakBytes: m.highWater, liveBytes: m.live });
      const perWorker = workload === 'churn-64-workers';
      rows.push([workload, String(threads), fmtBytes(m.live), fmtBytes(m.highWater), ratio(m.highWater, m.live),
        fmtBytes(m.committedPeak), ratio(m.committedPeak, m.live),
        perWorker ? fmtBytes(Math.round(m.highWater / threads)) : '–',
        perWorker ? `per worker ≤ ${fmtBytes(TARGET_PER_WORKER)}` : `≤ ${TARGET_RATIO}×`,
        (perWorker ? m.highWater / threads <= TARGET_PER_WORKER : m.highWater <= TARGET_RATIO * m.live) ? 'met' : 'missed',
        ns.toFixed(0), `${m.unitsEnd} / ${m.abandonedEnd} → ${m.unitsCollected}`]);
    };
    if (want('churn-mstress')) {
      for (const w of opts.threads) await cell('churn-mstress', w, runs, () => mstressRun(w, z, opts.seed));
    }
    if (want('churn-produce-consume')) await cell('churn-produce-consume', 2, runs, () => produceConsumeRun(z, opts.seed));
    // The same workloads ten and eight times larger: the fixed part of the high-water (the runtime's first 4 MiB
    // unit, whole 4 MiB segments) weighs less, and the ratio approaches what the allocator itself keeps.
    const large: Sizes = { ...z, mstressAllocs: z.mstressAllocs * 10, pcRounds: 16, pcBytes: z.pcBytes * 8 };
    if (!opts.quick && want('churn-mstress-large')) {   // full runs only
      for (const w of opts.threads) await cell('churn-mstress-large', w, 1, () => mstressRun(w, large, opts.seed));
    }
    if (!opts.quick && want('churn-produce-consume-large')) await cell('churn-produce-consume-large', 2, 1, () => produceConsumeRun(large, opts.seed));
    if (want('churn-64-workers')) await cell('churn-64-workers', z.holdWorkers, 1, () => holdRun(z, opts.seed));

    let reapReport = '';
    if (want('reap-latency')) {
      const rr: ReapRun[] = [];
      for (let r = 0; r < z.reapRuns; r++) { rr.push(await reapRun(opts.seed)); opts.progress.tick('reap-latency'); }
      const med = (k: keyof ReapRun) => median(rr.map((r) => r[k]));
      const total = med('total');
      results.push({ suite: 'churn', workload: 'reap-latency', allocator: 'ftheap', threads: 2, nsPerOp: total * 1e6,
        opsPerSec: 1e3 / total, peakBytes: 0, liveBytes: 0 });
      reapReport = `\n\n## churn: reap latency, ms (median of ${z.reapRuns} runs)\n\n` +
        markdown(['workload', 'terminate()', 'reap()', 'terminate() returned → stop ran', 'total', 'max total', 'target'],
          [['reap-latency', med('terminate').toFixed(2), med('reap').toFixed(3), med('afterTerminate').toFixed(2), total.toFixed(2),
            Math.max(...rr.map((r) => r.total)).toFixed(2), `≤ ${TARGET_REAP_MS} ms: ${total <= TARGET_REAP_MS ? 'met' : 'missed'}`]]) +
        '\n\nA worker attached and spinning without checkpoints; another blocked in stopTheWorld on it. The main thread ' +
        'times `worker.terminate()`, `domain.reap(id)`, and the requester\'s stop callback running (its own clock stamp); ' +
        'total = terminate() called → stop callback ran.';
    }
    const sizes = `${opts.quick ? 'quick sizes: ' : ''}mstress ${z.mstressRounds} rounds × ${z.mstressAllocs.toLocaleString('en')} ` +
      `allocations per worker; produce-consume ${z.pcRounds} rounds × ${fmtBytes(z.pcBytes)}; ${z.holdWorkers} workers × ` +
      `${fmtBytes(z.holdBytes)}${opts.quick ? '' : `; the -large rows: mstress ×10 allocations, produce-consume 16 rounds × ` +
      `${fmtBytes(z.pcBytes * 8)}`}`;
    const memReport = rows.length ? `## churn: memory high-water vs peak live bytes (${sizes})\n\n` +
      markdown(['workload', 'workers', 'peak live', 'high-water', '÷ live', 'committed peak', '÷ live', 'high-water / worker',
        'target', 'met?', 'ns / alloc', 'units / abandoned at end → collected'], rows) +
      '\n\nPeak live: the workload\'s own exact count of usable bytes live at once. High-water: ' +
      '`stats().memory.highWater`, the Wasm memory\'s size (it never shrinks; the first 4 MiB hold the runtime and ' +
      'the alignment to the first segment). Committed peak: `stats().memory.committedPeak` (an `exactPeak` runtime). ' +
      `Memory figures of the run with the highest high-water ÷ live${runs > 1 ? ` of ${runs}` : ''}; ns per allocation ` +
      '(facade calls, live-byte counting and barriers included, earliest start to latest end; churn-64-workers: the ' +
      'workers\' own allocation loops, summed; median). Units / abandoned at end → collected: 4 MiB units in use and ' +
      'segments in the domain\'s abandoned pool once every block was freed and every thread exited (no thread is left ' +
      'to collect the pool), then units in use after `domain.collectAbandoned()`.' : '';
    return { results, report: (memReport + reapReport).trim() };
  },
};
