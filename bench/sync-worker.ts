// Worker for the mutex and stop-the-world suites (bench/sync.ts): joins the runtime built from
// build/bench/sync.wasm, attaches, waits (detached) at the start barrier, runs one loop inside
// Wasm, and reports its count. (bench/main.ts runs with V8 flags that compile Wasm optimised
// up front, so no warm-up is needed.) Roles: 'lock' (mutex or spin lock, fixed time), 'checkpoint' (busy work,
// a checkpoint every `everyUs`).
import { parentPort } from 'node:worker_threads';
import { joinWorker } from '../src/index.ts';
import { benchWorkerReady } from './report.ts';

/** The worker's joinWorker data (the runtime handle travels beside it). */
export interface SyncWorkerData {
  role: 'lock' | 'checkpoint';
  /** the word the coordinator sets to stop every loop; go = stop + 4 (the start barrier) */
  stop: number;
  mutex: number;
  shared: number;
  csLen: number;
  spin: boolean;
  everyUs: number;
}

interface SyncExports {
  sync_lock_loop(m: number, shared: number, len: number, stop: number, spin: number): number;
  sync_checkpoint_loop(everyUs: number, stop: number): number;
}

const { runtime: rt, thread, data: d } = await joinWorker<SyncWorkerData>();
const t = thread!;
const x = rt.exports as unknown as SyncExports;
const i32 = new Int32Array(rt.memory.buffer);
benchWorkerReady(t, i32, d.stop);             // detached while waiting at the barrier: it holds no stop up
const count = d.role === 'lock'
  ? x.sync_lock_loop(d.mutex, d.shared, d.csLen, d.stop, d.spin ? 1 : 0) >>> 0
  : x.sync_checkpoint_loop(d.everyUs, d.stop) >>> 0;
t.exit();
parentPort!.postMessage({ count });
