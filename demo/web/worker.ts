// demo/web/worker.ts — one worker of the web demo (a module Web Worker started
// with rt.startWorker). Its first message is `{ ftheap, data }`: it joins the
// runtime with the reserved instance id (so main can reap its thread if it is
// terminated), attaches one thread, and works in time slices of ~8 ms, yielding
// to its event loop between them for main's messages:
//   - bag operations (protocol.ts): pick a random slot of the shared bag; empty:
//     allocate a block of a random size and tag (or a refcounted object, some
//     holding a second one) and publish it; full: claim it, check its pattern
//     and free it (decref an object): mostly another thread's block;
//   - the SharedMap: its one writer sets (and now and then deletes) keys, so the
//     table is rebuilt and old tables go to delayed free under QSBR; readers get
//     keys lock-free and check key and value agree;
//   - a small cycle of GC objects dropped now and then: garbage only the cycle
//     collector frees (automatic collections are on; main's "collect" button
//     asks a worker to collect now);
//   - a checkpoint after every batch (QSBR quiescent state, stop-the-world pauses,
//     merges of the BRC queue, scheduled collections).
// While paused it detaches, so it holds nothing back.
import { FtheapError, Runtime, SharedMap, Tag, type RuntimeHandle, type Thread } from '../../src/index.ts';
import { BAG_SLOTS, BLOCK_HEADER, C_ALLOCS, C_ERRORS, C_HEARTBEAT, C_MAP_READS, C_MAP_WRITES, C_OBJECTS, C_OPS,
  C_REMOTE_FREES, CTL_RUN, STRIDE, type FromWorker, type ToWorker, type WorkerInit } from './protocol.ts';

const scope = globalThis as unknown as {
  postMessage(m: FromWorker): void;
  addEventListener(type: 'message', fn: (e: MessageEvent) => void): void;
  close(): void;
};
const post = (m: FromWorker) => scope.postMessage(m);

let init: WorkerInit;
let rt: Runtime;
let t: Thread;
let map: SharedMap;
let writer = false;
let quitting = false;
const inbox: ToWorker[] = [];
let ctl: Int32Array, bag: Int32Array, counters: Uint32Array;
let NODE = 0, GC_NODE = 0;

scope.addEventListener('message', (e: MessageEvent) => {
  if (rt === undefined && init === undefined) {
    const m = e.data as { ftheap: RuntimeHandle; data: WorkerInit };
    init = m.data;
    start(m.ftheap).catch(fail);
  } else {
    inbox.push(e.data as ToWorker);
  }
});

function fail(e: unknown): void {
  const message = e instanceof FtheapError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  post({ type: 'error', slot: init?.slot ?? -1, message });
}

// xorshift32, seeded per slot.
let seed = 0;
function rand(): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return seed >>> 0;
}
const rand01 = () => rand() / 4294967296;

/** 70% 16..256 B, 25% ..4 KiB, 4.9% ..32 KiB, 0.09% 256 KiB..1 MiB, 0.01% 3 MiB (huge). */
function pickSize(): number {
  const r = rand01(), lu = (lo: number, hi: number) => Math.floor(lo * Math.pow(hi / lo, rand01()));
  if (r < 0.7) return lu(16, 256);
  if (r < 0.95) return lu(256, 4096);
  if (r < 0.999) return lu(4096, 32768);
  if (r < 0.9999) return lu(256 << 10, 1 << 20);
  return 3 << 20;
}
const pickTag = () => { const r = rand01(); return r < 0.7 ? Tag.MEM : r < 0.9 ? 4 : 5; };

let u8: Uint8Array, u32: Uint32Array;
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

/** Header {size | slot << 24, seed}, then the seed in every word (bytes past the last word: its low byte). */
function fill(p: number, size: number, s: number): void {
  const w = p >>> 2, words = size >>> 2;
  u32[w] = size | (init.slot << 24);
  u32[w + 1] = s;
  u32.fill(s, w + 2, w + words);
  u8.fill(s & 0xff, p + words * 4, p + size);
}

/** Does the block still hold its pattern (the first and last 64 words of a big block)? Its producer's slot, or -1. */
function check(p: number): number {
  views(p + BLOCK_HEADER);
  const w = p >>> 2, head = u32[w], size = head & 0xffffff, s = u32[w + 1], words = size >>> 2;
  if (size < BLOCK_HEADER) return -1;
  views(p + size);
  const ok = (a: number, b: number) => { for (let i = a; i < b; i++) if (u32[w + i] !== s) return false; return true; };
  if (words <= 130 ? !ok(2, words) : !ok(2, 66) || !ok(words - 64, words)) return -1;
  for (let i = p + words * 4; i < p + size; i++) if (u8[i] !== (s & 0xff)) return -1;
  return head >>> 24;
}

const count = (c: number, n = 1) => Atomics.add(counters, init.slot * STRIDE + c, n);

function produce(i: number): void {
  if (rand01() < 0.15) {
    const o = t.newObject(NODE);
    const pay = t.payload(o), s = rand();
    views(pay + 16);
    u32[(pay >>> 2) + 1] = s;
    u32[(pay >>> 2) + 2] = (s ^ o) >>> 0;
    u32[(pay >>> 2) + 3] = init.slot;
    if (rand01() < 0.3) {   // it holds a second object: freed with it
      const inner = t.newObject(NODE);
      t.setRef(o, 0, inner);
      t.decref(inner);
      count(C_OBJECTS);
    }
    count(C_OBJECTS);
    if (Atomics.compareExchange(bag, i, 0, o | 1) !== 0) t.decref(o);
    return;
  }
  const size = pickSize();
  const p = t.alloc(size, pickTag());
  views(p + size);
  fill(p, size, rand());
  count(C_ALLOCS);
  if (Atomics.compareExchange(bag, i, 0, p) !== 0) t.free(p);
}

function consume(i: number, v: number): void {
  if (Atomics.compareExchange(bag, i, v, 0) !== v) return;
  if (v & 1) {
    const o = (v & ~1) >>> 0, pay = t.payload(o) >>> 2;
    views(pay * 4 + 16);
    if (u32[pay + 2] !== ((u32[pay + 1] ^ o) >>> 0)) count(C_ERRORS);
    if (u32[pay + 3] !== init.slot) count(C_REMOTE_FREES);
    t.decref(o);   // another thread's object: a shared decrement (its owner merges it)
    return;
  }
  const p = v >>> 0;
  const from = check(p);
  if (from < 0) count(C_ERRORS);
  else if (from !== init.slot) count(C_REMOTE_FREES);
  t.free(p);
}

function mapWork(): void {
  if (writer) {
    for (let k = 0; k < 8; k++) {
      const key = rand() & 1023;
      if (rand01() < 0.2) map.delete(key);
      else map.set(key, ((key << 16) | (rand() & 0xffff)) >>> 0);
      count(C_MAP_WRITES);
    }
  } else {
    for (let k = 0; k < 32; k++) {
      const key = rand() & 1023, v = map.get(key);
      if (v !== undefined && v >>> 16 !== key) count(C_ERRORS);
      count(C_MAP_READS);
    }
  }
}

/** Two GC objects referring to each other, dropped: a cycle only the collector frees. */
function gcCycle(): void {
  const a = t.newObject(GC_NODE), b = t.newObject(GC_NODE);
  t.setRef(a, 0, b); t.setRef(b, 0, a);
  t.decref(a); t.decref(b);
}

function batch(): void {
  views();
  for (let n = 0; n < 128; n++) {
    const i = rand() % BAG_SLOTS, v = Atomics.load(bag, i);
    if (v === 0) produce(i); else consume(i, v);
  }
  count(C_OPS, 128);
  mapWork();
  if (rand01() < 0.5) gcCycle();
  t.checkpoint();
  count(C_HEARTBEAT);
}

function handle(m: ToWorker): void {
  if (m.type === 'role') writer = m.writer;
  else if (m.type === 'quit') quitting = true;
  else if (m.type === 'collect') {
    const r = t.domain.gc.collect();
    post({ type: 'collected', slot: init.slot, collected: r.collected, freedOther: r.freedOther, pauseMs: r.pauseMs });
  }
}

const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, ms: number): { value: unknown };
}).waitAsync;

// A macrotask yield without setTimeout's clamping.
const channel = new MessageChannel();
let wake: () => void = () => {};
channel.port1.onmessage = () => wake();
const yieldNow = () => new Promise<void>((r) => { wake = r; channel.port2.postMessage(0); });

async function start(handleRt: RuntimeHandle): Promise<void> {
  ctl = new Int32Array(init.ctl);
  bag = new Int32Array(init.bag);
  counters = new Uint32Array(init.counters);
  seed = (0x9e3779b9 ^ Math.imul(init.slot + 1, 0x85ebca6b) ^ (Date.now() & 0xffff)) >>> 0 || 1;
  writer = init.writer;
  rt = await Runtime.join(handleRt);
  t = rt.attach();
  NODE = t.defineType({ name: 'demo.Node', size: 16, refOffsets: [0] });
  GC_NODE = t.defineType({ name: 'demo.GcNode', size: 8, refOffsets: [0], gc: true });
  if (init.map === 0) {
    map = SharedMap.create(t, 256);
    t.domain.gc.auto = true;   // CPython's young-object policy: collections come by themselves too
  } else {
    map = SharedMap.open(t, init.map);
  }
  post({ type: 'ready', slot: init.slot, thread: t.id, map: map.handle });
  views();
  while (!quitting) {
    while (inbox.length > 0) handle(inbox.shift()!);
    if (quitting) break;
    if (Atomics.load(ctl, CTL_RUN) === 0) {
      t.detach();   // paused: hold nothing back (stops, QSBR goals)
      while (Atomics.load(ctl, CTL_RUN) === 0 && !quitting && inbox.length === 0) {
        await waitAsync(ctl, CTL_RUN, 0, 200).value;
      }
      t.attach();
      continue;
    }
    const end = performance.now() + 8;
    while (performance.now() < end) batch();
    await yieldNow();
  }
  t.exit();
  post({ type: 'quit', slot: init.slot });
  scope.close();
}
