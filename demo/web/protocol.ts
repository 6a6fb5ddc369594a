// demo/web/protocol.ts — what the page's main thread and its workers share:
// the layout of the shared buffers and the messages. Plain data, no imports.
//
// Shared buffers (SharedArrayBuffer, made by main):
//   ctl       Int32Array[CTL_SIZE]      RUN (1 = work, 0 = paused)
//   bag       Int32Array[BAG_SLOTS]     the blocks in flight: 0 (empty), a block address
//                                       (8-aligned), or an object address | 1. Any worker
//                                       fills an empty slot (CAS 0 -> p) or empties a full
//                                       one (CAS p -> 0); so most frees are cross-thread,
//                                       and a dead worker's blocks are freed by the others.
//   counters  Uint32Array[MAX_WORKERS * STRIDE]  per worker slot, written by that worker
//                                       only (Atomics.add/store), read by main; they wrap.

export const CTL_RUN = 0;
export const CTL_SIZE = 4;

export const BAG_SLOTS = 8192;
export const MAX_WORKERS = 16;

// Counter offsets within a worker's stride.
export const C_OPS = 0;          // bag operations (an allocation or a verified free)
export const C_ALLOCS = 1;
export const C_REMOTE_FREES = 2; // frees of another thread's block
export const C_MAP_READS = 3;
export const C_MAP_WRITES = 4;
export const C_OBJECTS = 5;      // refcounted objects made
export const C_ERRORS = 6;       // pattern or map checks that failed
export const C_HEARTBEAT = 7;    // +1 per batch: main sees whether the worker still runs
export const STRIDE = 8;

/** Block header words: the block's size, then the seed its pattern is made of. */
export const BLOCK_HEADER = 8;

/** What a worker gets with the runtime handle (`message.data.data`). */
export interface WorkerInit {
  slot: number;
  ctl: SharedArrayBuffer;
  bag: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  /** The SharedMap's handle; 0: this worker makes it and posts it. */
  map: number;
  /** The map's one writer (the others read). */
  writer: boolean;
}

/** Main -> worker, after the first message. */
export type ToWorker =
  | { type: 'role'; writer: boolean }
  | { type: 'collect' }
  | { type: 'quit' };

/** Worker -> main. */
export type FromWorker =
  | { type: 'ready'; slot: number; thread: number; map: number }
  | { type: 'collected'; slot: number; collected: number; freedOther: number; pauseMs: number }
  | { type: 'error'; slot: number; message: string }
  | { type: 'quit'; slot: number };
