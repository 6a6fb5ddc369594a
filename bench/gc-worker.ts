// Worker for the gc suite (bench/gc.ts): a mutator that runs while the main thread collects.
// Joins the runtime built from the ftheap bench module, attaches, waits (detached) at the start
// barrier, takes its own timestamp, then allocates in a Wasm loop (bench/wasm/gc.ts
// gc_mutator_loop: pairs of GC objects made, linked and dropped, a timed checkpoint every
// `every` pairs) until told to stop, exits its thread and reports.
import { parentPort } from 'node:worker_threads';
import { benchWorkerReady, nowNs } from './report.ts';
import { joinWorker } from '../src/index.ts';

/** The worker's joinWorker data (the runtime handle travels beside it). */
export interface GcWorkerData {
  /** the word the coordinator sets to stop the loop; go = stop + 4 (the start barrier) */
  stop: number;
  /** the bench's GC type (references at 0 and 4) */
  type: number;
  /** object pairs between checkpoints */
  every: number;
}

export interface GcWorkerReply {
  /** objects made (and freed) */
  objects: number;
  checkpoints: number;
  /** the longest checkpoint, ms: how long a collection held this thread stopped */
  maxStopMs: number;
  /** failed calls (should be 0) */
  errors: number;
  /** this worker's own timestamps (ns, process.hrtime) around its loop */
  t0: number;
  t1: number;
}

interface GcExports {
  gc_mutator_loop(type: number, every: number, stop: number): number;
  gc_mutator_errors(): number;
  gc_mutator_checkpoints(): number;
  gc_mutator_max_stop(): number;
}

const { runtime: rt, thread, data: d } = await joinWorker<GcWorkerData>();
const t = thread!;
const x = rt.exports as unknown as GcExports;
const i32 = new Int32Array(rt.memory.buffer);
benchWorkerReady(t, i32, d.stop);
const now = nowNs;
const t0 = now();
const objects = x.gc_mutator_loop(d.type, d.every, d.stop);
const t1 = now();
const reply: GcWorkerReply = { objects, checkpoints: x.gc_mutator_checkpoints(), maxStopMs: x.gc_mutator_max_stop(),
  errors: objects < 0 ? 1 : x.gc_mutator_errors() >>> 0, t0, t1 };
t.exit();
parentPort!.postMessage(reply);
