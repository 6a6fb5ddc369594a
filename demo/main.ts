// demo/main.ts — `npm start [-- --workers N] [--seconds S | --ops N]`.
// Makes one ftheap runtime and runs two phases on it.
// 1. Allocator: starts N workers (demo/worker.ts), shows their progress (a bar per
//    worker on a TTY, a line per second otherwise), snapshots the allocator while
//    the workers are parked with their working sets still live, lets them free
//    everything and exit, then prints a summary.
// 2. SharedMap (demo/map-phase.ts), for 0.6·S s or N writer ops: one writer grows
//    and shrinks a map, N − 1 workers read it lock-free and check every value,
//    then the QSBR figures show every replaced table freed.
// Exit code 1 if any block or value failed verification, or anything (blocks,
// delayed frees) is left at the end of either phase.
import type { Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Runtime, type AllocatorStats } from '../src/index.ts';
import { abortDemo, fmtBytes, fmtCount, table } from './format.ts';
import { runMapPhase } from './map-phase.ts';
import { C, CONTROL_WORDS, GO, ringBytes, STRIDE, type WorkerInit, type WorkerMessage } from './shared.ts';

const { values: args } = parseArgs({
  options: { workers: { type: 'string', default: '4' }, seconds: { type: 'string', default: '5' }, ops: { type: 'string' } },
});
const workers = Number(args.workers), seconds = Number(args.seconds), opsPerWorker = Number(args.ops ?? 0);
if (!(Number.isInteger(workers) && workers >= 1 && seconds > 0 && Number.isInteger(opsPerWorker) && opsPerWorker >= 0)) {
  console.error('usage: node dist/demo/main.js [--workers N] [--seconds S | --ops N (per worker; the map writer\'s too)]');
  process.exit(2);
}

// ---- runtime, shared state, workers -------------------------------------------
const rt = await Runtime.create({ maximumMemory: 2 ** 31 });
const counters = new SharedArrayBuffer(workers * STRIDE * 8);
const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
const rings = new SharedArrayBuffer(ringBytes(workers));
const counts = new Float64Array(counters);
const ctl = new Int32Array(control);
const get = (w: number, slot: number) => counts[w * STRIDE + slot];
const sum = (slot: number) => Array.from({ length: workers }, (_, w) => get(w, slot)).reduce((a, b) => a + b, 0);

console.log(`ftheap demo: ${workers} worker${workers === 1 ? '' : 's'}, ${opsPerWorker ? `${opsPerWorker} ops each` : `${seconds} s`}, ` +
  `memory up to ${fmtBytes(rt.stats().memory.maximum)}`);

// Started through the runtime: a worker that dies has its thread reaped, instead of holding up every stop.
const pool = await Promise.all(Array.from({ length: workers }, (_, id) => {
  const init: WorkerInit = { id, workers, millis: seconds * 1000, ops: opsPerWorker, counters, control, rings };
  return rt.startWorker(new URL('./worker.js', import.meta.url), { data: init });
}));

// ---- progress ------------------------------------------------------------------
const started = performance.now();
const payload = (ops: number, bytes: number, xfree: number, failed: number, millis: number) =>
  ({ ops: fmtCount(ops), rate: fmtCount(ops / Math.max(millis, 1) * 1000), bytes: fmtBytes(bytes), xfree: fmtCount(xfree), failed });
const totals = () => payload(sum(C.OPS), sum(C.BYTES), sum(C.XFREED), sum(C.FAILED), performance.now() - started);

let progress: { update(): void; stop(): void };
if (process.stdout.isTTY) {
  const multi = new cliProgress.MultiBar({
    format: '{name} {bar} {percentage}% | {ops} ops | {rate} ops/s | {bytes} allocated | {xfree} xfree | {failed} failed',
    hideCursor: true, clearOnComplete: false, barsize: 24,
  }, cliProgress.Presets.shades_classic);
  const bars = pool.map((_, w) => multi.create(1000, 0, { name: `worker ${String(w).padStart(2)}`, ...payload(0, 0, 0, 0, 1) }));
  const total = multi.create(1000, 0, { name: 'total    ', ...totals() });
  progress = {
    update() {
      bars.forEach((bar, w) => bar.update(Math.round(get(w, C.PROGRESS) * 1000),
        payload(get(w, C.OPS), get(w, C.BYTES), get(w, C.XFREED), get(w, C.FAILED), get(w, C.MILLIS))));
      total.update(Math.round(sum(C.PROGRESS) / workers * 1000), totals());
    },
    stop() { this.update(); multi.stop(); },
  };
} else {
  let next = 1000; // ms since start of the next line
  const print = () => {
    const p = totals();
    console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${Math.round(sum(C.PROGRESS) / workers * 100)}% ` +
      `${p.ops} ops, ${p.rate} ops/s, ${p.bytes} allocated, ${p.xfree} xfree, ${sum(C.LIVE)} live blocks, ${p.failed} failed`);
  };
  progress = {
    update() { if (performance.now() - started >= next) { next += 1000; print(); } },
    stop() { print(); },
  };
}
const ticker = setInterval(() => progress.update(), 100);

// ---- the protocol: all parked -> snapshot -> GO -> all done ---------------------
let parked = 0, exited = 0;
let atEnd: AllocatorStats | undefined;
await new Promise<void>((resolve, reject) => {
  for (const w of pool.map((p) => p.worker as Worker)) {
    w.on('error', reject);
    w.on('exit', (code) => {
      if (code !== 0 || !atEnd) reject(new Error(`worker exited early (code ${code})`));
      else if (++exited === workers) resolve();
    });
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'parked' && ++parked === workers) {
        atEnd = rt.stats();
        Atomics.store(ctl, GO, 1);
        Atomics.notify(ctl, GO);
      }
    });
  }
}).catch((e: unknown) => abortDemo(e, () => { clearInterval(ticker); progress.stop(); }, pool));
clearInterval(ticker);
progress.stop();
const final = rt.stats();

// ---- summary -------------------------------------------------------------------
const perWorker = pool.map((_, w) => [`worker ${w}`, fmtCount(get(w, C.OPS)), fmtCount(get(w, C.OPS) / get(w, C.MILLIS) * 1000),
  fmtBytes(get(w, C.BYTES)), get(w, C.SENT), get(w, C.XFREED), get(w, C.FAILED)]);
const wall = Math.max(...pool.map((_, w) => get(w, C.MILLIS)));
perWorker.push(['total', fmtCount(sum(C.OPS)), fmtCount(sum(C.OPS) / wall * 1000), fmtBytes(sum(C.BYTES)),
  sum(C.SENT), sum(C.XFREED), sum(C.FAILED)]);
console.log(`\nThroughput (an op is one alloc or one free; blocks are verified before every free)\n`);
console.log(table(['', 'ops', 'ops/s', 'allocated', 'handed off', 'xthread frees', 'failed'], perWorker));

const s = atEnd!;
console.log(`\nSize classes at the end of the run (workers parked, working sets live)\n`);
console.log(table(['bin', 'block size', 'pages', 'blocks used', 'capacity', 'bytes used'], [
  ...s.sizeClasses.map((c) => [c.bin, fmtBytes(c.blockSize), c.pages, c.blocksUsed, c.blocksCapacity, fmtBytes(c.bytesUsed)]),
  ['huge', '> 2 MiB', '', s.huge.blocks, '', fmtBytes(s.huge.bytes)],
  ['total', '', s.totals.pages, s.totals.blocksUsed, '', fmtBytes(s.totals.bytesUsed)],
]));

console.log(`\nSegments and memory\n`);
const row = (name: string, f: (x: AllocatorStats) => string | number) => [name, f(s), f(final)];
console.log(table(['', 'end of run', 'after exit'], [
  row('live blocks', (x) => x.totals.blocksUsed),
  row('segments (4 MiB)', (x) => x.segments.normal),
  row('huge segments', (x) => x.segments.huge),
  row('units live / free', (x) => `${x.segments.unitsLive} / ${x.segments.unitsFree}`),
  row('threads attached', (x) => x.threads.live),
  row('memory current', (x) => fmtBytes(x.memory.current)),
  row('memory high-water', (x) => fmtBytes(x.memory.highWater)),
  row('memory maximum', (x) => fmtBytes(x.memory.maximum)),
  row('committed', (x) => fmtBytes(x.memory.committed)),
  row('committed peak', (x) => fmtBytes(x.memory.committedPeak)),
]));

const failed = sum(C.FAILED), live = final.totals.blocksUsed;
const allocOk = failed === 0 && live === 0;
console.log(allocOk ? '\nOK: every block verified, nothing left live.'
  : `\nFAILED: ${failed} verification failures, ${live} blocks still live.`);

// ---- phase 2: SharedMap ------------------------------------------------------------
const mapOk = await runMapPhase(rt, { workers, millis: seconds * 600, ops: opsPerWorker });
process.exitCode = allocOk && mapOk ? 0 : 1;
