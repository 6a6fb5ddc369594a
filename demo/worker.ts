// demo/worker.ts — one allocating thread of the demo. It joins the runtime main
// made and attaches (joinWorker), then churns a working set of blocks from 8 B to several MiB:
// each block is filled with a word derived from (worker id, sequence number) and
// checked before it is freed. About one free in ten is handed to another worker
// through a shared ring, to be checked and freed there (a cross-thread free).
// When the run ends: stop producing, wait for every worker to stop while draining
// the inbox, park so main can snapshot the heaps, then free everything and exit.
import { parentPort } from 'node:worker_threads';
import { FtheapError, joinWorker } from '../src/index.ts';
import { C, GO, Ring, STOPPED, STRIDE, type WorkerInit, type WorkerMessage } from './shared.ts';

const { runtime: rt, thread, data: init } = await joinWorker<WorkerInit>();
const t = thread!;
const { id, workers } = init;
const WORKING_SET = 4000; // blocks held at most; about half of it on average
const HANDOFF = 0.1; // share of frees done by another worker

const counters = new Float64Array(init.counters, id * STRIDE * 8, STRIDE);
const control = new Int32Array(init.control);
const outbox = Array.from({ length: workers }, (_, to) => new Ring(init.rings, id, to, workers));
const inbox = Array.from({ length: workers }, (_, from) => new Ring(init.rings, from, id, workers));
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

// xorshift32, seeded per worker: runs are repeatable up to thread timing.
let seed = 0x9e3779b9 ^ Math.imul(id + 1, 0x85ebca6b);
function random(): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}
const logUniform = (lo: number, hi: number) => Math.floor(lo * Math.pow(hi / lo, random()));

/** 70% 8..512 B, 29.5% 512 B..64 KiB, 0.48% 1 MiB, 0.02% huge 4..8 MiB. */
function pickSize(): number {
  const r = random();
  if (r < 0.7) return logUniform(8, 512);
  if (r < 0.995) return logUniform(512, 65536);
  if (r < 0.9998) return 1 << 20;
  return logUniform(4 << 20, 8 << 20);
}

// Views of the shared memory, rebuilt when it grows.
let u8 = rt.bytes(), u32 = new Uint32Array(u8.buffer);
/**
 * The memory views, covering [0, end): another worker may have grown the memory
 * a moment ago for the block at hand, and rt.bytes() follows this thread's idea
 * of the length, which can lag; rt.view catches up.
 */
function views(end = 0): void {
  let b = rt.bytes();
  if (end > b.length) { rt.view(end - 1, 1); b = rt.bytes(); }
  if (b !== u8) { u8 = b; u32 = new Uint32Array(b.buffer); }
}

function fill(ptr: number, size: number, word: number): void {
  views(ptr + size);
  const words = size >>> 2;
  u32.fill(word, ptr >>> 2, (ptr >>> 2) + words);
  u8.fill(word & 0xff, ptr + words * 4, ptr + size);
}

/** Is the block 8-aligned and still holding its pattern? */
function intact(ptr: number, size: number, word: number): boolean {
  views(ptr + size);
  if (ptr % 8 !== 0) return false;
  const w0 = ptr >>> 2, w1 = w0 + (size >>> 2);
  for (let i = w0; i < w1; i++) if (u32[i] !== word) return false;
  for (let i = w1 * 4; i < ptr + size; i++) if (u8[i] !== (word & 0xff)) return false;
  return true;
}

// The working set, as parallel arrays.
const ptrs: number[] = [], sizes: number[] = [], wordsOf: number[] = [];
let seq = 0, ops = 0, bytes = 0, sent = 0, xfreed = 0, failed = 0;

function check(ptr: number, size: number, word: number, from: number): void {
  if (intact(ptr, size, word)) return;
  if (failed++ < 5) console.error(`worker ${id}: block ${ptr} (${size} B, from worker ${from}) corrupted`);
}

function allocate(): void {
  const size = pickSize();
  let ptr: number;
  try {
    ptr = t.alloc(size);
  } catch (e) {
    if (e instanceof FtheapError && e.code === 'ENOMEM' && ptrs.length > 0) return release(0); // make room
    throw e;
  }
  const word = (Math.imul(id + 1, 0x01000193) ^ Math.imul(++seq, 0x9e3779b1)) >>> 0;
  fill(ptr, size, word);
  ptrs.push(ptr); sizes.push(size); wordsOf.push(word);
  ops++; bytes += size;
}

/** Take block i out of the working set; free it here or hand it to another worker. */
function release(i: number): void {
  const ptr = ptrs[i], size = sizes[i], word = wordsOf[i];
  const last = ptrs.length - 1;
  ptrs[i] = ptrs[last]; sizes[i] = sizes[last]; wordsOf[i] = wordsOf[last];
  ptrs.pop(); sizes.pop(); wordsOf.pop();
  if (workers > 1 && random() < HANDOFF) {
    const to = (id + 1 + Math.floor(random() * (workers - 1))) % workers;
    if (outbox[to].push(ptr, size, word)) { sent++; return; }
  }
  check(ptr, size, word, id);
  t.free(ptr);
  ops++;
}

function drainInbox(): void {
  for (let from = 0; from < workers; from++) {
    if (from === id) continue;
    xfreed += inbox[from].drain((ptr, size, word) => { check(ptr, size, word, from); t.free(ptr); ops++; });
  }
}

function publish(progress: number, started: number): void {
  counters[C.OPS] = ops; counters[C.BYTES] = bytes; counters[C.SENT] = sent; counters[C.XFREED] = xfreed;
  counters[C.FAILED] = failed; counters[C.LIVE] = ptrs.length; counters[C.PROGRESS] = Math.min(1, progress);
  counters[C.MILLIS] = performance.now() - started;
}

// Run phase.
const started = performance.now(), deadline = started + init.millis;
for (;;) {
  for (let k = 0; k < 256; k++) {
    if (random() * WORKING_SET >= ptrs.length) allocate(); // the fuller, the likelier a free
    else release(Math.floor(random() * ptrs.length));
  }
  drainInbox();
  const progress = init.ops > 0 ? ops / init.ops : (performance.now() - started) / init.millis;
  publish(progress, started);
  if (init.ops > 0 ? ops >= init.ops : performance.now() >= deadline) break;
}

// Stop producing; keep freeing what others send until all have stopped.
Atomics.add(control, STOPPED, 1);
for (let n; (n = Atomics.load(control, STOPPED)) < workers;) {
  drainInbox();
  t.checkpoint(); // a late worker's attach may stop the world (the 9th grows the QSBR slots): pause for it
  Atomics.wait(control, STOPPED, n, 1);
}
drainInbox();
publish(1, started);
const runMillis = counters[C.MILLIS];

// Park while main snapshots the heaps, then free everything and leave.
post({ type: 'parked' });
Atomics.wait(control, GO, 0);
while (ptrs.length > 0) {
  const i = ptrs.length - 1;
  check(ptrs[i], sizes[i], wordsOf[i], id);
  t.free(ptrs[i]);
  ptrs.pop(); sizes.pop(); wordsOf.pop();
}
publish(1, started);
counters[C.MILLIS] = runMillis;
t.exit();
