// demo/shared.ts — what demo/main.ts and demo/worker.ts agree on: the data a worker
// starts with, the layout of the shared progress counters and control words, and
// the lock-free single-producer/single-consumer rings that carry blocks from one
// worker to another to be freed there (cross-thread frees).
import type { RuntimeHandle } from '../src/index.ts';

/** What main posts to each worker as `workerData`. */
export interface WorkerInit {
  handle: RuntimeHandle;
  id: number;
  workers: number;
  /** Run for this long (ms) unless `ops` is set. */
  millis: number;
  /** Operations per worker; 0 = run for `millis`. */
  ops: number;
  counters: SharedArrayBuffer;
  control: SharedArrayBuffer;
  rings: SharedArrayBuffer;
}

/** Messages from a worker to main. */
export type WorkerMessage = { type: 'parked' };

// Per-worker counters: a Float64Array of STRIDE slots per worker, written by the
// worker, polled by main.
export const C = {
  OPS: 0, // allocations + frees done by this worker
  BYTES: 1, // bytes allocated
  SENT: 2, // blocks handed to another worker to free
  XFREED: 3, // blocks of other workers freed here
  FAILED: 4, // verification failures
  LIVE: 5, // blocks held now
  PROGRESS: 6, // 0..1
  MILLIS: 7, // time spent in the run phase
} as const;
export const STRIDE = 8;

// Control words (Int32Array): workers count themselves in STOPPED when they stop
// producing; main sets GO once it has taken its snapshot of the parked heaps.
export const STOPPED = 0;
export const GO = 1;
export const CONTROL_WORDS = 2;

// One ring per (from, to) pair: [head, tail, CAP entries of (ptr, size, word)].
const CAP = 1024;
const ENTRY = 3;
const RING_WORDS = 2 + CAP * ENTRY;
export const ringBytes = (workers: number) => workers * workers * RING_WORDS * 4;

export class Ring {
  private readonly a: Int32Array;
  private readonly base: number;

  constructor(buffer: SharedArrayBuffer, from: number, to: number, workers: number) {
    this.a = new Int32Array(buffer);
    this.base = (from * workers + to) * RING_WORDS;
  }

  /** Producer side; false when full. */
  push(ptr: number, size: number, word: number): boolean {
    const { a, base } = this;
    const tail = a[base + 1];
    if (((tail - Atomics.load(a, base)) | 0) === CAP) return false;
    const e = base + 2 + (tail & (CAP - 1)) * ENTRY;
    a[e] = ptr; a[e + 1] = size; a[e + 2] = word;
    Atomics.store(a, base + 1, (tail + 1) | 0); // publishes the entry
    return true;
  }

  /** Consumer side: hand every queued entry to `take`; returns how many. */
  drain(take: (ptr: number, size: number, word: number) => void): number {
    const { a, base } = this;
    const head = a[base], tail = Atomics.load(a, base + 1);
    for (let i = head; i !== tail; i = (i + 1) | 0) {
      const e = base + 2 + (i & (CAP - 1)) * ENTRY;
      take(a[e] >>> 0, a[e + 1], a[e + 2] >>> 0);
    }
    Atomics.store(a, base, tail); // frees the slots for the producer
    return (tail - head) | 0;
  }
}
