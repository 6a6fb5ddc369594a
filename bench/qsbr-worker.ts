// Worker for the qsbr suite (bench/qsbr.ts): joins the runtime built from build/bench/sync.wasm,
// attaches, waits (detached) at the start barrier, takes its own timestamp, runs one loop inside
// Wasm (bench/wasm/qsbr.ts, or sync.ts's checkpoint loop), takes its timestamp again, exits its
// thread and reports. (bench/main.ts runs with V8 flags that compile Wasm optimised up front, so
// no warm-up is needed.) Roles:
//   read        random gets of the list / map / object map (a reference taken, the payload read,
//               a decref), lock-free or under its mutex, a checkpoint every `every` reads, until
//               the stop word is set
//   write       the one writer: sets and reallocations at a steady rate, asleep (detached) between
//   checkpoint  busy work with a checkpoint every `everyUs`, until the stop word is set
//   latency     `samples` timed freeDelayed → free round trips
import { parentPort } from 'node:worker_threads';
import { benchWorkerReady, nowNs } from './report.ts';
import { joinWorker } from '../src/index.ts';

export type QsbrRole = 'read' | 'write' | 'checkpoint' | 'latency';

/** The worker's joinWorker data (the runtime handle travels beside it). */
export interface QsbrWorkerData {
  role: QsbrRole;
  /** the word the coordinator sets to stop every loop; go = stop + 4 (the start barrier) */
  stop: number;
  seed: number;
  /** read / write: the structure, 0 = list, 1 = map, 2 = object map, and its item / key count */
  struct?: number;
  kind?: number;
  n?: number;
  /** write, object map: the type of the objects it makes */
  type?: number;
  /** read: under the mutex; checkpoint every `every` reads */
  locked?: boolean;
  /** object map only: borrowed reads (the map made for them) */
  borrowed?: boolean;
  every?: number;
  /** write: µs between sets, between churns; fresh keys per map churn; least µs between wake-ups */
  setUs?: number;
  churnUs?: number;
  churnKeys?: number;
  wakeUs?: number;
  /** checkpoint: µs of busy work between checkpoints */
  everyUs?: number;
  /** latency: samples, block size, longest gap between samples (µs) */
  samples?: number;
  size?: number;
  gapUs?: number;
}

export interface QsbrWorkerReply {
  /** reads (read), sets (write), checkpoints (checkpoint), samples (latency) */
  count: number;
  /** this worker's own timestamps (ns, process.hrtime) around its loop */
  t0: number;
  t1: number;
  /** read: gets that found nothing (should be 0) */
  errors?: number;
  /** write: churns done, ms attached and working */
  churns?: number;
  busyMs?: number;
  /** latency: µs per sample */
  latencies?: number[];
}

interface QsbrExports {
  qsbr_read_loop(s: number, kind: number, mode: number, n: number, every: number, stop: number, seed: number): number;
  qsbr_read_errors(): number;
  qsbr_writer_loop(s: number, kind: number, n: number, setUs: number, churnUs: number, churnKeys: number, wakeUs: number,
    stop: number, seed: number, type: number): number;
  qsbr_writer_churns(): number;
  qsbr_writer_busy_ms(): number;
  qsbr_free_latency(samples: number, size: number, maxGapUs: number, out: number, seed: number): number;
  sync_checkpoint_loop(everyUs: number, stop: number): number;
}

const { runtime: rt, thread, data: d } = await joinWorker<QsbrWorkerData>();
const t = thread!;
const x = rt.exports as unknown as QsbrExports;
const i32 = new Int32Array(rt.memory.buffer);
const out = d.role === 'latency' ? t.alloc(d.samples! * 8) : 0;
benchWorkerReady(t, i32, d.stop);
const now = nowNs;
const t0 = now();
let reply: QsbrWorkerReply;
switch (d.role) {
  case 'read': {
    const count = x.qsbr_read_loop(d.struct!, d.kind!, d.locked ? 1 : d.borrowed ? 2 : 0, d.n!, d.every!, d.stop, d.seed);
    reply = { count, t0, t1: now(), errors: x.qsbr_read_errors() >>> 0 };
    break;
  }
  case 'write': {
    const count = x.qsbr_writer_loop(d.struct!, d.kind!, d.n!, d.setUs!, d.churnUs!, d.churnKeys!, d.wakeUs!, d.stop, d.seed,
      d.type ?? 0);
    reply = { count, t0, t1: now(), churns: x.qsbr_writer_churns() >>> 0, busyMs: x.qsbr_writer_busy_ms() };
    break;
  }
  case 'checkpoint': {
    const count = x.sync_checkpoint_loop(d.everyUs!, d.stop) >>> 0;
    reply = { count, t0, t1: now() };
    break;
  }
  case 'latency': {
    const count = x.qsbr_free_latency(d.samples!, d.size!, d.gapUs!, out, d.seed) >>> 0;
    const t1 = now();
    const latencies = Array.from(new Float64Array(rt.memory.buffer, out, count));
    t.free(out);
    reply = { count, t0, t1, latencies };
    break;
  }
}
t.exit();
parentPort!.postMessage(reply);
