// The thread-machinery suites (thread-state issue):
//   mutex           uncontended lock+unlock in Wasm (mutex vs a plain spin lock), and CPython's
//                   lockbench: 1..N workers lock, do `len` dependent multiply-adds on a shared
//                   value, unlock, for a fixed time, with short (10) and long (200) sections;
//                   throughput and fairness (each worker's share of the acquisitions).
//   stop-the-world  round-trip latency (stop + restart) with 1..N attached workers that
//                   checkpoint every 10 µs; the requester is the main thread, sleeping 200 µs
//                   between round trips. p50 / p90 / max of 400 round trips.
// Everything runs in Wasm (build/bench/sync.wasm: the core + bench/wasm/sync.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime } from '../src/index.ts';
import type { Suite, SuiteOptions } from './suite.ts';
import { markdown, type Result, startBenchWorkers } from './report.ts';
import type { SyncWorkerData } from './sync-worker.ts';

interface SyncExports {
  sync_mutex_pairs(m: number, n: number): void;
  sync_spin_pairs(m: number, n: number): void;
}

const WORKER = new URL('./sync-worker.js', import.meta.url);

async function runtimeFor(opts: SuiteOptions) {
  const module = await WebAssembly.compile(readFileSync(join(opts.root, 'build/bench/sync.wasm')));
  const rt = await Runtime.create({ module, maximumMemory: 256 << 20 });
  const t = rt.attach();
  return { rt, t, x: rt.exports as unknown as SyncExports, i32: new Int32Array(rt.memory.buffer) };
}

/** Start `n` workers, wait until all are ready (detached at the barrier). `done`: each one's count. */
async function startWorkers(rt: Runtime, n: number, data: SyncWorkerData) {
  const { ws, done } = await startBenchWorkers<SyncWorkerData, { count: number }>(rt, WORKER, Array(n).fill(data), 'sync');
  return { ws, done: done.map((p) => p.then((m) => m.count)) };
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];

export const mutexSuite: Suite = {
  name: 'mutex',
  async run(opts) {
    const results: Result[] = [];
    const threads = opts.threads.includes(4) ? opts.threads : [...opts.threads, 4];
    const lens = [10, 200];
    const ms = opts.quick ? 30 : 300;
    opts.progress.start(1 + threads.length * lens.length * 2 * opts.runs);
    // Uncontended, one thread.
    {
      const { t, x } = await runtimeFor(opts);
      const m = t.calloc(1, 8);
      const n = opts.quick ? 100_000 : 5_000_000;
      for (const [id, f] of [['ftheap-mutex', x.sync_mutex_pairs], ['spinlock', x.sync_spin_pairs]] as const) {
        f(m, n);
        const samples: number[] = [];
        for (let r = 0; r < opts.runs; r++) { const t0 = performance.now(); f(m, n); samples.push((performance.now() - t0) * 1e6 / n); }
        const ns = median(samples);
        results.push({ suite: 'mutex', workload: 'uncontended', allocator: id, threads: 1, nsPerOp: ns, opsPerSec: 1e9 / ns, peakBytes: 0, liveBytes: 0 });
      }
      opts.progress.tick('mutex uncontended');
      t.exit();
    }
    // Contended.
    const fairness: string[][] = [];
    for (const len of lens) {
      for (const n of threads) {
        for (const spin of [false, true]) {
          const id = spin ? 'spinlock' : 'ftheap-mutex';
          const tputs: number[] = [];
          let worst = { min: 0, max: 0, share: 0 };
          for (let r = 0; r < opts.runs; r++) {
            const { rt, t, i32 } = await runtimeFor(opts);
            const block = t.calloc(1, 64);
            const stop = block, mutex = block + 16, shared = block + 32;
            t.detach();
            const { ws, done } = await startWorkers(rt, n, { role: 'lock', stop, mutex, shared, csLen: len, spin, everyUs: 0 });
            const t0 = performance.now();
            Atomics.store(i32, (stop + 4) >>> 2, 1); Atomics.notify(i32, (stop + 4) >>> 2);
            await new Promise((res) => setTimeout(res, ms));
            Atomics.store(i32, stop >>> 2, 1);
            const counts = await Promise.all(done);
            const secs = (performance.now() - t0) / 1000;
            await Promise.all(ws.map((w) => w.terminate()));
            const total = counts.reduce((a, b) => a + b, 0);
            if (i32[(shared + 4) >>> 2] !== total) throw new Error(`${id}: counter ${i32[(shared + 4) >>> 2]} != ${total} acquisitions`);
            tputs.push(total / secs);
            const share = Math.min(...counts) / (total / n);
            if (r === 0 || share < worst.share) worst = { min: Math.min(...counts), max: Math.max(...counts), share };
            t.attach(); t.exit();
            opts.progress.tick(`mutex len ${len} x${n} ${id}`);
          }
          const tput = median(tputs);
          results.push({ suite: 'mutex', workload: `contended-len${len}`, allocator: id, threads: n,
            nsPerOp: 1e9 / tput, opsPerSec: tput, peakBytes: 0, liveBytes: 0 });
          fairness.push([`len ${len}`, String(n), id, (tput / 1e6).toFixed(2), String(worst.min), String(worst.max), worst.share.toFixed(2)]);
        }
      }
    }
    const un = (id: string) => results.find((r) => r.workload === 'uncontended' && r.allocator === id)!.nsPerOp.toFixed(1);
    const report = `## mutex (median of ${opts.runs} runs)\n\n` +
      `Uncontended lock+unlock in Wasm: ftheap mutex ${un('ftheap-mutex')} ns, plain spin lock ${un('spinlock')} ns.\n\n` +
      markdown(['section', 'workers', 'lock', 'M acquisitions/s', 'min per worker', 'max per worker', 'min ÷ mean (worst run)'], fairness) +
      `\n\n${threads.includes(4) ? '4 workers on 2 cores are oversubscribed: that is where a spin lock collapses.' : ''}`;
    return { results, report };
  },
};

export const stopTheWorldSuite: Suite = {
  name: 'stop-the-world',
  async run(opts) {
    const results: Result[] = [];
    const threads = opts.threads.includes(4) ? opts.threads : [...opts.threads, 4];
    const trips = opts.quick ? 40 : 400;
    const rows: string[][] = [];
    opts.progress.start(threads.length);
    for (const n of threads) {
      const { rt, t, i32 } = await runtimeFor(opts);
      const block = t.calloc(1, 16);
      const stop = block;
      const { ws, done } = await startWorkers(rt, n, { role: 'checkpoint', stop, mutex: 0, shared: 0, csLen: 0, spin: false, everyUs: 10 });
      Atomics.store(i32, (stop + 4) >>> 2, 1); Atomics.notify(i32, (stop + 4) >>> 2);
      const sleep = new Int32Array(new SharedArrayBuffer(4));
      const us: number[] = [];
      for (let k = 0; k < trips + 20; k++) {
        Atomics.wait(sleep, 0, 0, 0.2);
        const t0 = performance.now();
        t.stopTheWorld(() => {});
        if (k >= 20) us.push((performance.now() - t0) * 1000);   // the first 20 warm up
      }
      Atomics.store(i32, stop >>> 2, 1);
      await Promise.all(done);
      await Promise.all(ws.map((w) => w.terminate()));
      t.exit();
      us.sort((a, b) => a - b);
      const p50 = us[us.length >> 1], p90 = us[Math.floor(us.length * 0.9)], max = us[us.length - 1];
      results.push({ suite: 'stop-the-world', workload: 'roundtrip-p50', allocator: 'ftheap', threads: n,
        nsPerOp: p50 * 1000, opsPerSec: 1e6 / p50, peakBytes: 0, liveBytes: 0 });
      results.push({ suite: 'stop-the-world', workload: 'roundtrip-p90', allocator: 'ftheap', threads: n,
        nsPerOp: p90 * 1000, opsPerSec: 1e6 / p90, peakBytes: 0, liveBytes: 0 });
      rows.push([String(n), p50.toFixed(1), p90.toFixed(1), max.toFixed(1)]);
      opts.progress.tick(`stop-the-world x${n}`);
    }
    const report = `## stop-the-world: round trip (stop + restart), µs, ${trips} round trips\n\n` +
      markdown(['attached workers', 'p50 µs', 'p90 µs', 'max µs'], rows) +
      '\n\nWorkers checkpoint every 10 µs; the requester (main thread) sleeps 200 µs between round trips. ' +
      'With more busy threads than the 2 cores, a descheduled worker holds the stop up for a time slice.';
    return { results, report };
  },
};
