// demo/shared.ts — what the demo's main thread and its workers agree on.
// Allocator phase (demo/main.ts, demo/worker.ts): the data a worker starts with,
// the layout of the shared progress counters and control words, and the lock-free
// single-producer/single-consumer rings that carry blocks from one worker to
// another to be freed there (cross-thread frees).
// SharedMap phase (demo/map-phase.ts, demo/map-worker.ts): the same for the map's
// writer and readers, and the keys and values the writer writes.

/** What main gives each worker (`startWorker`'s `data`; the runtime handle travels beside it). */
export interface WorkerInit {
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

// ---- SharedMap phase -------------------------------------------------------------

/** What demo/map-phase.ts gives each demo/map-worker.ts (`startWorker`'s `data`). */
export interface MapWorkerInit {
  /** The SharedMap's handle. */
  map: number;
  /** Worker 0 is the writer, 1..readers the readers. */
  id: number;
  readers: number;
  /** The writer writes for this long (ms) unless `ops` is set. */
  millis: number;
  /** The writer's sets + deletes; 0 = write for `millis`. Readers read until the writer stops. */
  ops: number;
  counters: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

// Per-worker counters: a Float64Array of MAP_STRIDE slots per worker, written by
// the worker, polled by main. OPS..PROGRESS are every worker's; the rest are the
// writer's.
export const M = {
  OPS: 0, // reads (get) for a reader; sets + deletes for the writer
  FAILED: 1, // verification failures
  MILLIS: 2, // time spent running
  PROGRESS: 3, // 0..1 (the writer's; readers run until it is done)
  CHECKPOINTS: 4, // thread.checkpoint() calls
  SETS: 5,
  DELETES: 6,
  REBUILDS: 7, // tables replaced (each old one went to freeDelayed)
  KEYS: 8, // entries in the map now
  CAPACITY: 9, // slots of the current table
} as const;
export const MAP_STRIDE = 10;

// Control words (Int32Array): readers count themselves in MAP_READY once they
// read; the writer starts when all have, and sets MAP_STOP when it is done (main
// sets it too if a worker fails).
export const MAP_READY = 0;
export const MAP_STOP = 1;
export const MAP_CONTROL_WORDS = 2;

/** Keys 0..STABLE_KEYS-1 are in the map for the whole phase, with mapValue(key). */
export const STABLE_KEYS = 64;
/** The writer inserts and deletes keys BAND_BASE..BAND_BASE+BAND_KEYS-1. */
export const BAND_BASE = 0x10000;
export const BAND_KEYS = 2048;

/**
 * The only value a key is ever mapped to: a Fibonacci hash of the key, xor a
 * constant. The multiplier is odd, so no two keys share a value: a value read
 * from another key's slot shows as wrong.
 */
export const mapValue = (key: number) => (Math.imul(key, 0x9E3779B1) ^ 0x5EED) >>> 0;
