// Worker for the churn suite (bench/churn.ts): joins the runtime (the packaged core, through the
// facade: Thread.alloc / free / usableSize) and plays one role. Every block's usable size is
// added to / taken from the shared live-bytes counter as it is allocated / freed, and the
// counter's peak is kept exactly (compare-and-swap max), so the suite's "peak live" is the
// workload's own count, not the allocator's.
//   mstress     rounds of: attach a thread; allocate `allocs` blocks of mixed sizes while freeing
//               the previous round's leftovers (its own retained blocks and those the previous
//               worker passed it) and, at random, half as many of this round's own blocks; pass
//               half of what is still live to the next worker (a list in a SharedArrayBuffer),
//               keep the other half; exit the thread. A barrier between rounds. The last round
//               only frees.
//   produce     rounds of: attach, allocate `bytes` (usable) in mixed sizes, write the list,
//               exit with every block live; hand over to the consumer.
//   consume     one thread: per round, attach, free the producer's list, checkpoint, detach.
//   hold        attach, allocate `bytes` in mixed sizes, barrier with every hold worker, free,
//               exit.
//   victim      attach and spin without ever checkpointing until terminated (reap-latency).
//   requester   attach, wait for go, stopTheWorld (which blocks on the victim); its callback
//               stamps the clock and raises a flag; exit.
import { parentPort } from 'node:worker_threads';
import { joinWorker, type Thread } from '../src/index.ts';
import { C } from './churn.ts';

export type ChurnRole = 'mstress' | 'produce' | 'consume' | 'hold' | 'victim' | 'requester';


/** The worker's joinWorker data (the runtime handle travels beside it). */
export interface ChurnWorkerData {
  role: ChurnRole;
  ctl: SharedArrayBuffer;
  /** mstress, produce/consume: pointer lists, `(count, ptr, size, ptr, size, ...)` per list */
  lists?: SharedArrayBuffer;
  /** words per list (1 + 2 × capacity) */
  listWords?: number;
  index: number;
  /** parties of the barrier (mstress: its workers; hold: every hold worker) */
  workers: number;
  rounds?: number;
  allocs?: number;
  bytes?: number;
  seed: number;
}

export interface ChurnWorkerReply {
  /** blocks allocated */
  allocs: number;
  /** this worker's clock (ns, process.hrtime) at its start and end */
  t0: number;
  t1: number;
  /** victim: its thread id (sent with the ready message) */
  id?: number;
}

// Joins only: every role attaches its own threads, some in rounds.
const { runtime: rt, data: d } = await joinWorker<ChurnWorkerData>({ attach: false });
const ctl = new Int32Array(d.ctl, 0, C.WORDS);
const clock = new BigInt64Array(d.ctl, C.WORDS * 4, 1);
const now = () => Number(process.hrtime.bigint());

let rs = (d.seed ^ Math.imul(d.index + 1, 0x9e3779b9)) >>> 0 || 1;
/** xorshift32 */
function rand(): number {
  rs ^= rs << 13; rs >>>= 0; rs ^= rs >>> 17; rs ^= rs << 5; rs >>>= 0;
  return rs;
}
/** Power-of-two sizes 8..512 B; one in 128 a power of two 4..64 KiB. */
function size(): number {
  const r = rand();
  return (r & 127) === 0 ? 4096 << ((r >>> 7) % 5) : 8 << ((r >>> 7) % 7);
}

function addLive(n: number): void {
  const v = Atomics.add(ctl, C.LIVE, n) + n;
  if (n <= 0) return;
  let p = Atomics.load(ctl, C.PEAK);
  while (v > p) {
    const q = Atomics.compareExchange(ctl, C.PEAK, p, v);
    if (q === p) break;
    p = q;
  }
}

function barrier(n: number): void {
  const gen = Atomics.load(ctl, C.BAR_GEN);
  if (Atomics.add(ctl, C.BAR_COUNT, 1) === n - 1) {
    Atomics.store(ctl, C.BAR_COUNT, 0);
    Atomics.add(ctl, C.BAR_GEN, 1);
    Atomics.notify(ctl, C.BAR_GEN);
  } else {
    while (Atomics.load(ctl, C.BAR_GEN) === gen) Atomics.wait(ctl, C.BAR_GEN, gen, 100);
  }
}

function waitWord(i: number, value: number): void {
  for (let v = Atomics.load(ctl, i); v !== value; v = Atomics.load(ctl, i)) Atomics.wait(ctl, i, v, 100);
}

/** A block list in `lists`: list `k` starts at word k × listWords with its count. */
const lists = d.lists ? new Uint32Array(d.lists) : new Uint32Array(0);
function writeList(k: number, ptrs: number[], sizes: number[], from: number, to: number): void {
  const base = k * d.listWords!;
  if (1 + 2 * (to - from) > d.listWords!) throw new Error('churn: list overflow');
  lists[base] = to - from;
  for (let i = from, o = base + 1; i < to; i++, o += 2) { lists[o] = ptrs[i]; lists[o + 1] = sizes[i]; }
}
function freeList(t: Thread, k: number): void {
  const base = k * d.listWords!;
  const n = lists[base];
  let bytes = 0;
  for (let i = 0, o = base + 1; i < n; i++, o += 2) { t.free(lists[o]); bytes += lists[o + 1]; }
  lists[base] = 0;
  addLive(-bytes);
}

/** Allocate one block of `s` bytes and count its usable size (returned). */
function allocOne(t: Thread, s: number, ptrs: number[], sizes: number[]): number {
  const p = t.alloc(s);
  const u = t.usableSize(p);
  ptrs.push(p); sizes.push(u);
  addLive(u);
  return u;
}

function mstress(): ChurnWorkerReply {
  const W = d.workers, R = d.rounds!, N = d.allocs!;
  const dest = (d.index + 1) % W;
  let keepP: number[] = [], keepS: number[] = [];
  let allocs = 0;
  barrier(W);
  const t0 = now();
  for (let r = 0; r <= R; r++) {
    const t = rt.attach();
    // Older blocks to free this round: the ones this worker kept, and the ones passed to it
    // (lists are per destination, double-buffered by round parity).
    const oldP = keepP, oldS = keepS;
    if (r > 0) {
      const base = (d.index * 2 + ((r - 1) & 1)) * d.listWords!;   // what the previous worker passed here
      for (let i = 0, n = lists[base], o = base + 1; i < n; i++, o += 2) { oldP.push(lists[o]); oldS.push(lists[o + 1]); }
      lists[base] = 0;
    }
    const curP: number[] = [], curS: number[] = [];
    const freeOld = () => {
      const j = rand() % oldP.length;
      t.free(oldP[j]); addLive(-oldS[j]);
      oldP[j] = oldP[oldP.length - 1]; oldS[j] = oldS[oldS.length - 1];
      oldP.pop(); oldS.pop();
    };
    if (r < R) {
      for (let i = 0; i < N; i++) {
        allocOne(t, size(), curP, curS);
        allocs++;
        if ((i & 1) && oldP.length) freeOld();
        if (rand() & 1) {                     // free one of this round's blocks, at random
          const j = rand() % curP.length;
          t.free(curP[j]); addLive(-curS[j]);
          curP[j] = curP[curP.length - 1]; curS[j] = curS[curS.length - 1];
          curP.pop(); curS.pop();
        }
      }
    }
    while (oldP.length) freeOld();
    // Half of what is live goes to the next worker (it frees it next round), half stays.
    const half = curP.length >> 1;
    if (r < R) writeList(dest * 2 + (r & 1), curP, curS, 0, half);
    keepP = curP.slice(half); keepS = curS.slice(half);
    t.exit();
    barrier(W);
  }
  return { allocs, t0, t1: now() };
}

function produce(): ChurnWorkerReply {
  const R = d.rounds!;
  let allocs = 0;
  waitWord(C.GO, 1);
  const t0 = now();
  for (let r = 0; r < R; r++) {
    waitWord(C.TURN, 2 * r);
    const t = rt.attach();
    const ptrs: number[] = [], sizes: number[] = [];
    for (let live = 0; live < d.bytes!;) { live += allocOne(t, size(), ptrs, sizes); allocs++; }
    writeList(0, ptrs, sizes, 0, ptrs.length);
    t.exit();                                // with every block live
    Atomics.store(ctl, C.TURN, 2 * r + 1); Atomics.notify(ctl, C.TURN);
  }
  return { allocs, t0, t1: now() };
}

function consume(): ChurnWorkerReply {
  const R = d.rounds!;
  const t = rt.attach();
  t.detach();
  waitWord(C.GO, 1);
  const t0 = now();
  for (let r = 0; r < R; r++) {
    waitWord(C.TURN, 2 * r + 1);
    t.attach();
    freeList(t, 0);
    t.checkpoint();
    t.detach();
    Atomics.store(ctl, C.TURN, 2 * r + 2); Atomics.notify(ctl, C.TURN);
  }
  t.exit();
  return { allocs: 0, t0, t1: now() };
}

function hold(): ChurnWorkerReply {
  const t = rt.attach();
  const t0 = now();
  const ptrs: number[] = [], sizes: number[] = [];
  for (let live = 0; live < d.bytes!;) live += allocOne(t, size(), ptrs, sizes);
  const t1 = now();
  t.detach();
  barrier(d.workers);                        // every worker's blocks are live now
  t.attach();
  let bytes = 0;
  for (let i = 0; i < ptrs.length; i++) { t.free(ptrs[i]); bytes += sizes[i]; }
  addLive(-bytes);
  t.exit();
  return { allocs: ptrs.length, t0, t1 };
}

function victim(): never {
  const t = rt.attach();
  parentPort!.postMessage({ ready: true, id: t.id });
  // Attached, never checkpointing: a stop-the-world waits for this thread until it is reaped.
  let x = 1;
  while (Atomics.load(ctl, C.SPIN_STOP) === 0) for (let i = 0; i < 1000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  throw new Error(`churn: the victim was not terminated (${x})`);
}

function requester(): ChurnWorkerReply {
  const t = rt.attach();
  t.detach();
  parentPort!.postMessage({ ready: true });
  waitWord(C.GO, 1);
  t.attach();
  const t0 = now();
  Atomics.store(ctl, C.REQUESTING, 1); Atomics.notify(ctl, C.REQUESTING);
  t.stopTheWorld(() => {
    Atomics.store(clock, 0, process.hrtime.bigint());
    Atomics.store(ctl, C.STOPPED, 1); Atomics.notify(ctl, C.STOPPED);
  });
  t.exit();
  return { allocs: 0, t0, t1: now() };
}

switch (d.role) {
  case 'victim': victim(); break;
  case 'requester': parentPort!.postMessage(requester()); break;
  default: {
    if (d.role !== 'hold') parentPort!.postMessage({ ready: true });
    const f = { mstress, produce, consume, hold }[d.role];
    parentPort!.postMessage(f());
  }
}
