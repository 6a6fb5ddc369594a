// Reporting for every suite: the result record written to bench/results/*.json, Markdown tables
// (speed per allocator with ratios/overheads, memory peak vs live bytes), the JSON writer and the
// CPU model the reports name, and the start of a suite's workers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parentPort, type Worker } from 'node:worker_threads';
import type { Runtime, RuntimeWorker, Thread } from '../src/index.ts';
import os from 'node:os';
import { dirname } from 'node:path';

export interface Result {
  suite: string;
  workload: string;
  allocator: string;
  threads: number;
  /** ns per op (single-thread suite: one op = one malloc+free pair) */
  nsPerOp: number;
  opsPerSec: number;
  /** peak memory the allocator used for this cell (see the suite's notes for how it is measured) */
  peakBytes: number;
  /** peak live requested bytes of the workload */
  liveBytes: number;
}

export interface TableSpec {
  /** allocator ids in column order, with display names */
  allocators: [id: string, label: string][];
  /** ratio columns: nsPerOp(a) / nsPerOp(b) */
  ratios?: [a: string, b: string, header: string][];
  /** difference columns: nsPerOp(a) - nsPerOp(b) (a does more work than b: never negative) */
  diffs?: [a: string, b: string, header: string][];
  /** a quick run: a negative difference is noise and prints as '–' */
  quick?: boolean;
}

export function markdown(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return [line(headers), `|${widths.map((w, i) => (i ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|')}|`,
    ...rows.map(line)].join('\n');
}

export const fmtNs = (ns: number | undefined): string =>
  ns === undefined ? '–' : ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);

export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1 << 20) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / (1 << 20)).toFixed(2)} MiB`;
}

function cell(results: Result[], workload: string, allocator: string): Result | undefined {
  return results.find((r) => r.workload === workload && r.allocator === allocator);
}

/** ns/op per workload × allocator, then the ratio and difference columns. */
export function speedTable(results: Result[], spec: TableSpec): string {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const headers = ['workload', ...spec.allocators.map(([, l]) => `${l} ns`),
    ...(spec.ratios ?? []).map(([, , h]) => h), ...(spec.diffs ?? []).map(([, , h]) => h)];
  const ns = (w: string, a: string) => cell(results, w, a)?.nsPerOp;
  const rows = workloads.map((w) => [w,
    ...spec.allocators.map(([a]) => fmtNs(ns(w, a))),
    ...(spec.ratios ?? []).map(([a, b]) => {
      const x = ns(w, a), y = ns(w, b);
      return x === undefined || y === undefined ? '–' : `${(x / y).toFixed(x / y < 0.1 ? 4 : 2)}×`;
    }),
    ...(spec.diffs ?? []).map(([a, b]) => {
      const x = ns(w, a), y = ns(w, b);
      if (x === undefined || y === undefined || (spec.quick && x < y)) return '–';
      return (x - y >= 0 ? '+' : '') + (x - y).toFixed(1);
    })]);
  return markdown(headers, rows);
}

/** Peak memory vs peak live requested bytes per workload × allocator. */
export function memoryTable(results: Result[], spec: TableSpec): string {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const headers = ['workload', ...spec.allocators.map(([, l]) => `${l} peak / live`)];
  const rows = workloads.map((w) => [w, ...spec.allocators.map(([a]) => {
    const r = cell(results, w, a);
    return r ? peakCell(r.peakBytes, r.liveBytes, 1) : '–';
  })]);
  return markdown(headers, rows);
}

/**
 * One "peak / live (ratio)" cell. No growth seen (a later cell of a quick run's shared process)
 * or a peak below the live bytes (a mark that missed part of the memory) is not a figure; a ratio
 * to a few bytes of live data says nothing (lifo32, cache-scratch).
 */
export function peakCell(peak: number, live: number, digits: number): string {
  if (peak <= 0 || peak < live) return `– / ${fmtBytes(live)}`;
  return `${fmtBytes(peak)} / ${fmtBytes(live)}${live >= 4096 ? ` (${(peak / live).toFixed(digits)}×)` : ''}`;
}

export function writeJson(path: string, results: Result[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
}

/** The CPU model, with family / model / clock from /proc/cpuinfo (VMs often name only "Intel(R) Xeon(R) Processor"). */
export function cpuModel(): string {
  const name = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.+)$`, 'm').exec(info)?.[1].trim();
    const family = field('cpu family'), model = field('model'), mhz = field('cpu MHz');
    if (family === undefined || model === undefined) return name;
    return `${name} (family ${family}, model ${model}${mhz ? `, ${Math.round(Number(mhz))} MHz` : ''})`;
  } catch {
    return name;   // not Linux
  }
}

/**
 * Start one worker of `url` on `rt` per entry of `data` (its joinWorker data);
 * resolves once every one posted `{ ready: true }` (set up, detached at its
 * barrier). `done` settles with each worker's next message, or rejects if it
 * fails or exits first.
 */
export async function startBenchWorkers<D, R>(rt: Runtime, url: URL, data: D[], what: string):
    Promise<{ ws: RuntimeWorker[]; done: Promise<R>[] }> {
  const ws: RuntimeWorker[] = [];
  const ready: Promise<void>[] = [];
  const done: Promise<R>[] = [];
  for (const d of data) {
    const rw = await rt.startWorker(url, { data: d });
    ws.push(rw);
    const w = rw.worker as Worker;
    let readyResolve!: () => void, readyReject!: (e: Error) => void;
    ready.push(new Promise((res, rej) => { readyResolve = res; readyReject = rej; }));
    done.push(new Promise((resolve, reject) => {
      const fail = (e: Error) => { readyReject(e); reject(e); };
      w.on('message', (m) => { if (m.ready) readyResolve(); else resolve(m as R); });
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`${what} worker exited (${code})`)));
    }));
  }
  await Promise.all(ready);
  return { ws, done };
}

/**
 * A suite worker's side of startBenchWorkers (after joinWorker): `t` detached while it waits (so it
 * holds up no stop and no grace period), `{ ready: true }` posted, then the go
 * word (the control block's second word, at `ctl + 4`) awaited, and `t` attached again.
 */
export function benchWorkerReady(t: Thread, i32: Int32Array, ctl: number): void {
  t.detach();
  parentPort!.postMessage({ ready: true });
  Atomics.wait(i32, (ctl + 4) >>> 2, 0);
  t.attach();
}

/** Nanoseconds, one clock for every thread (process.hrtime). */
export const nowNs = (): number => Number(process.hrtime.bigint());
