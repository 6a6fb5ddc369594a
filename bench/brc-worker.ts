// Worker for the brc suite (bench/brc.ts): joins the runtime built from the ftheap bench module
// (build/bench/ftheap/bench.wasm), attaches, does its set-up, waits (detached) at the start
// barrier, takes its own timestamp, runs one loop inside Wasm (bench/wasm/brc.ts), takes its
// timestamp again, exits its thread and reports. Roles:
//   private     private-objects: rounds of 4 objects made, linked, used, destroyed, until stop
//   mq-owner    merge-queue: before the barrier, makes `n` objects with local count 2 and writes
//               their addresses to `out`; then checkpoints (every `gapUs` µs of busy work, or
//               back to back) until all n were merged (the other worker's decrefs queued them); then, untimed, drops its own references (each
//               object dies: its count is whole in the shared word after the merge)
//   mq-decref   merge-queue: one decref of each of the `n` objects at `out` (each is queued)
import { parentPort } from 'node:worker_threads';
import { benchWorkerReady, nowNs } from './report.ts';
import { joinWorker } from '../src/index.ts';

export type BrcRole = 'private' | 'mq-owner' | 'mq-decref';

/** The worker's joinWorker data (the runtime handle travels beside it). */
export interface BrcWorkerData {
  role: BrcRole;
  /** the word the coordinator sets to stop every loop; go = stop + 4 (the start barrier) */
  stop: number;
  /** the bench type's id (16-byte payload, references at 0 and 4) */
  type: number;
  /** private: reference pairs per round, rounds between checkpoints */
  uses?: number;
  every?: number;
  /** merge-queue: objects, and the u32 array of their addresses (the coordinator's allocation) */
  n?: number;
  out?: number;
  /** mq-owner: µs of busy work between its checkpoints (0: back to back) */
  gapUs?: number;
}

export interface BrcWorkerReply {
  /** objects made (private), merged (mq-owner), queued (mq-decref) */
  count: number;
  /** this worker's own timestamps (ns, process.hrtime) around its loop */
  t0: number;
  t1: number;
  /** private: failed calls and objects not deallocated (both should be 0) */
  errors?: number;
  leaked?: number;
  /** mq-owner: checkpoints that merged (objects ÷ batches = the mean batch) */
  batches?: number;
}

interface BrcExports {
  brc_private_loop(type: number, uses: number, every: number, stop: number): number;
  brc_private_errors(): number;
  brc_private_leaked(): number;
  brc_make_batch(type: number, n: number, out: number): number;
  brc_decref_batch(out: number, n: number): number;
  brc_merge_until(n: number, gapUs: number, stop: number): number;
  brc_merge_batches(): number;
}

const { runtime: rt, thread, data: d } = await joinWorker<BrcWorkerData>();
const t = thread!;
const x = rt.exports as unknown as BrcExports;
const i32 = new Int32Array(rt.memory.buffer);
if (d.role === 'mq-owner') {
  const made = x.brc_make_batch(d.type, d.n!, d.out!) >>> 0;
  if (made !== d.n) throw new Error(`brc mq-owner: made ${made} of ${d.n} objects`);
}
benchWorkerReady(t, i32, d.stop);
const now = nowNs;
const t0 = now();
let reply: BrcWorkerReply;
switch (d.role) {
  case 'private': {
    const count = x.brc_private_loop(d.type, d.uses!, d.every!, d.stop);
    reply = { count, t0, t1: now(), errors: x.brc_private_errors() >>> 0, leaked: x.brc_private_leaked() };
    break;
  }
  case 'mq-owner': {
    const count = x.brc_merge_until(d.n!, d.gapUs!, d.stop) >>> 0;
    const t1 = now();
    const batches = x.brc_merge_batches() >>> 0;
    // Merged, each object's count (1: ours) is in its shared word: our decref takes it to 0.
    if (x.brc_decref_batch(d.out!, d.n!) !== 0) throw new Error('brc mq-owner: the clean-up decrefs failed or queued');
    reply = { count, t0, t1, batches };
    break;
  }
  case 'mq-decref': {
    const count = x.brc_decref_batch(d.out!, d.n!);
    if (count < 0) throw new Error('brc mq-decref: a decref failed');
    reply = { count, t0, t1: now() };
    break;
  }
}
t.exit();
parentPort!.postMessage(reply);
