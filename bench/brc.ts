// The brc suite (issue 11): what biased reference counting costs, all loops in Wasm
// (bench/wasm/brc.ts, compiled into build/bench/ftheap/bench.wasm with the core, so that
// brcIncref / brcDecref inline into them and no JS call is timed).
//   owner-pair       the owner's incref + decref of an object it owns (plain loads and stores)
//   atomic-pair      an atomic add + sub-and-test-for-zero on a payload word of the same object:
//                    what a plain atomic refcount pays for the same pair
//   nonowner-pair    incref + decref by a thread that does not own the object (atomic add, then
//                    a compare-and-swap on the shared word); the owner keeps its reference, so
//                    the shared count never goes below zero and nothing is queued
//   private-objects  1 and 2 workers, each making, linking, using and destroying objects of its
//                    own (CPython's Tools/ftscalingbench idea: threads on private objects scale)
//   merge-queue      non-owner decrefs that go through the owner's merge queue, and the owner's
//                    merge: on one JS thread (two thread records, phases timed apart) and with
//                    two workers running at once (the owner merging at its checkpoints)
// The pairs and the one-thread merge queue run on the main thread; the rest in workers
// (bench/brc-worker.ts) on one fresh runtime per run, the main thread detached meanwhile.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Runtime, type Thread } from '../src/index.ts';
import type { BrcWorkerData, BrcWorkerReply } from './brc-worker.ts';
import { cpuModel, markdown, type Result, startBenchWorkers } from './report.ts';
import type { Suite, SuiteOptions } from './suite.ts';

const WORKER = new URL('./brc-worker.js', import.meta.url);

/** The bench type: a 16-byte payload, references at 0 and 4 (bench/wasm/brc.ts uses word 8). */
const TYPE = { name: 'BrcBench', size: 16, refOffsets: [0, 4] };
/** private-objects: reference pairs (child and grandchild) per round of 4 objects; rounds between checkpoints. */
const USES = 4;
const EVERY = 64;
/** merge-queue: objects per run. */
const MQ_OBJECTS = 200_000;
const MQ_OBJECTS_QUICK = 20_000;
/** merge-queue, two workers: µs of busy work between the owner's checkpoints (0: back to back). */
const MQ_GAPS_US = [0, 10];

/** Targets (issue 11). */
const TARGET_OWNER_VS_ATOMIC = 4;
const TARGET_SCALING = 1.8;

interface BrcMainExports {
  brc_pairs(o: number, n: number): number;
  brc_atomic_pairs(o: number, n: number): number;
  brc_make_batch(type: number, n: number, out: number): number;
  brc_decref_batch(out: number, n: number): number;
  brc_merge(): number;
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const mark = (ok: boolean) => (ok ? '✓' : '✗');
/** A fresh runtime on the bench module, its main thread attached, the bench type defined. */
async function fresh(module: WebAssembly.Module) {
  const rt = await Runtime.create({ module, maximumMemory: 512 << 20 });
  const t = rt.attach();
  const type = t.defineType(TYPE);
  return { rt, t, type, x: rt.exports as unknown as BrcMainExports, i32: new Int32Array(rt.memory.buffer) };
}

// ---- Pairs ---------------------------------------------------------------------------------

type PairKind = 'owner-pair' | 'atomic-pair' | 'nonowner-pair';
const PAIR_KINDS: PairKind[] = ['owner-pair', 'atomic-pair', 'nonowner-pair'];

async function pairs(module: WebAssembly.Module, opts: SuiteOptions, kinds: PairKind[], results: Result[]): Promise<{ text: string; ratio: number }> {
  const { rt, t: owner, type, x } = await fresh(module);
  const o = owner.newObject(type);
  // A second thread record on this JS thread (attaching it detaches `owner`): it does not own o.
  const other = rt.domain().attach();
  const run: Record<PairKind, { thread: Thread; fn: (n: number) => number }> = {
    'owner-pair': { thread: owner, fn: (n) => x.brc_pairs(o, n) },
    'atomic-pair': { thread: owner, fn: (n) => x.brc_atomic_pairs(o, n) },
    'nonowner-pair': { thread: other, fn: (n) => x.brc_pairs(o, n) },
  };
  const time = (k: PairKind, n: number) => {
    run[k].thread.makeCurrent();
    const t0 = performance.now();
    const bad = run[k].fn(n);
    const ns = (performance.now() - t0) * 1e6 / n;
    if (bad !== 0) throw new Error(`brc ${k}: ${bad} decrefs did not report the object alive`);
    return ns;
  };
  const ms = opts.quick ? 10 : opts.targetMs;
  const sizes = new Map<PairKind, number>();
  for (const k of kinds) {
    time(k, 100_000);
    sizes.set(k, Math.max(100_000, Math.min(2e9, Math.round(ms * 1e6 / time(k, 1_000_000)))));
  }
  const ns = new Map<PairKind, number[]>(kinds.map((k) => [k, []]));
  // Run-major: one run of every kind per round, so that a drift of the machine's speed hits all alike.
  for (let r = 0; r < opts.runs; r++) {
    for (const k of kinds) {
      ns.get(k)!.push(time(k, sizes.get(k)!));
      opts.progress.tick(`brc ${k}`);
    }
  }
  if (owner.refcount(o) !== 1) throw new Error(`brc pairs: the object's count is ${owner.refcount(o)}, expected 1`);
  owner.decref(o);
  other.exit();
  owner.exit();
  // Ratios: the median of the rounds' ratios (the two ran a fraction of a second apart).
  const ratio = (a: PairKind, b: PairKind) => {
    const p = ns.get(a), q = ns.get(b);
    return p && q ? median(p.map((v, i) => v / q[i])) : NaN;
  };
  const what: Record<PairKind, string> = {
    'owner-pair': 'the owner: plain load + store of the local count, twice',
    'atomic-pair': 'plain atomic refcount: atomic add, atomic sub + zero test',
    'nonowner-pair': 'a non-owner: atomic add, then load + compare-and-swap of the shared word',
  };
  const rows = kinds.map((k) => {
    const v = median(ns.get(k)!);
    results.push({ suite: 'brc', workload: k, allocator: k === 'atomic-pair' ? 'plain-atomic' : 'ftheap', threads: 1,
      nsPerOp: v, opsPerSec: 1e9 / v, peakBytes: 0, liveBytes: 0 });
    return [k, what[k], v.toFixed(2), (1e3 / v).toFixed(0), kinds.includes('owner-pair') ? `${ratio(k, 'owner-pair').toFixed(2)}×` : '–'];
  });
  const text = `## brc: incref + decref pairs on ${cpuModel()} (median of ${opts.runs} run${opts.runs > 1 ? 's' : ''} of ~${ms} ms)\n\n` +
    markdown(['workload', 'what one pair does', 'ns per pair', 'M pairs/s', '÷ owner pair'], rows) +
    `\n\nOne object of a type with a ${TYPE.size}-byte payload; each loop is a Wasm function of n pairs on it, the count ` +
    'checked alive after every decref (brcIncref / brcDecref inlined; the non-owner\'s decref calls brcDecrefShared). ' +
    'The non-owner is a second thread record on the same JS thread: the owner holds its reference, so the shared count goes ' +
    '0 → 1 → 0 and never reaches the merge queue. The atomic pair is what every pair would cost with one atomic count ' +
    '(two locked read-modify-writes on x86). The owner\'s pairs run back to back on one word, so each load waits for the ' +
    'store before it (store-to-load forwarding): a chain, not a throughput figure. ÷ owner pair: the median of ' +
    'the rounds\' ratios.';
  return { text, ratio: ratio('atomic-pair', 'owner-pair') };
}

// ---- Workers ---------------------------------------------------------------------------------

/** Start one worker per entry; resolves once every one is ready (set up, detached at the barrier). */
function startWorkers(rt: Runtime, data: BrcWorkerData[]) {
  return startBenchWorkers<BrcWorkerData, BrcWorkerReply>(rt, WORKER, data, 'brc');
}

/** The control block: stop word at +0, go word at +4. */
function signal(i32: Int32Array, word: number): void {
  Atomics.store(i32, word >>> 2, 1);
  Atomics.notify(i32, word >>> 2);
}

// ---- Private objects ---------------------------------------------------------------------------

async function privateRun(module: WebAssembly.Module, workers: number, ms: number): Promise<number> {
  const { rt, t, type, i32 } = await fresh(module);
  const ctl = t.calloc(1, 16);
  t.detach();                             // the coordinator must not hold up grace periods or stops
  const data = Array.from({ length: workers }, () => ({ role: 'private' as const, stop: ctl, type, uses: USES, every: EVERY }));
  const { ws, done } = await startWorkers(rt, data);
  try {
    signal(i32, ctl + 4);
    await new Promise((res) => setTimeout(res, ms));
    signal(i32, ctl);
    const rs = await Promise.all(done);
    const errors = rs.reduce((a, r) => a + r.errors!, 0), leaked = rs.reduce((a, r) => a + r.leaked!, 0);
    if (errors || leaked || rs.some((r) => r.count <= 0)) {
      throw new Error(`brc private-objects ×${workers}: ${errors} failed calls, ${leaked} objects not deallocated`);
    }
    const span = (Math.max(...rs.map((r) => r.t1)) - Math.min(...rs.map((r) => r.t0))) / 1e9;
    return rs.reduce((a, r) => a + r.count, 0) / span;
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
    t.attach();
    t.exit();
  }
}

async function privateObjects(module: WebAssembly.Module, opts: SuiteOptions, results: Result[]): Promise<{ text: string; scaling: number }> {
  const ms = opts.quick ? 30 : 300;
  const threads = opts.threads;
  const rates = new Map<number, number[]>(threads.map((n) => [n, []]));
  for (let r = 0; r < opts.runs; r++) {
    for (const n of threads) {
      rates.get(n)!.push(await privateRun(module, n, ms));
      opts.progress.tick(`brc private-objects ×${n}`);
    }
  }
  const speedup = (n: number) => median(rates.get(n)!.map((v, i) => v / rates.get(1)![i]));
  const rows = threads.map((n) => {
    const v = median(rates.get(n)!);
    results.push({ suite: 'brc', workload: 'private-objects', allocator: 'ftheap', threads: n, nsPerOp: 1e9 / v, opsPerSec: v,
      peakBytes: 0, liveBytes: 0 });
    return [String(n), (v / 1e6).toFixed(2), (v / n / 1e6).toFixed(2), (1e9 * n / v).toFixed(1), n === 1 ? '–' : `${speedup(n).toFixed(2)}×`];
  });
  const cores = os.cpus().length;
  const over = threads.filter((n) => n > cores);
  const text = `## brc: private objects, made + linked + used + destroyed per worker (median of ${opts.runs} run${opts.runs > 1 ? 's' : ''} of ${ms} ms)\n\n` +
    markdown(['workers', 'M objects/s', 'M objects/s per worker', 'ns per object (one worker)', 'speedup vs 1'], rows) +
    `\n\nEach worker, in a Wasm loop until told to stop, makes rounds of 4 objects (16-byte payload, references at 0 and 4): ` +
    'root, a, b, leaf; links root → a, root → b, a → leaf, b → leaf (setRef); drops its own references to a, b and leaf; ' +
    `${USES} times takes and drops a reference to a child and to its leaf (read from their slots); then drops root, and all ` +
    `four die in that decref (iterative deallocation, the references released). A checkpoint every ${EVERY} rounds. Every ` +
    'object is the worker\'s own, so every count is an owner\'s: nothing is shared but the type registry (read-only) and ' +
    'the memory itself. One op = one object (its make, links, uses and deallocation); objects/s from the earliest worker ' +
    'start to the latest end; speedup: the median of the rounds\' ratios.' +
    (over.length ? ` ${over.join(', ')} workers on ${cores} cores are oversubscribed: those rows say nothing about scaling.` : '');
  return { text, scaling: threads.includes(2) ? speedup(2) : NaN };
}

// ---- Merge queue ----------------------------------------------------------------------------------

/** One JS thread: owner makes n objects (local 2), a second thread record decrefs each (queued), the owner merges. */
async function mergeOneThread(module: WebAssembly.Module, n: number) {
  const { rt, t: owner, type, x } = await fresh(module);
  const out = owner.alloc(4 * n);
  if ((x.brc_make_batch(type, n, out) >>> 0) !== n) throw new Error('brc merge-queue: out of memory making the objects');
  const other = rt.domain().attach();
  const t0 = performance.now();
  const queued = x.brc_decref_batch(out, n);
  const t1 = performance.now();
  owner.makeCurrent();
  const t2 = performance.now();
  const merged = x.brc_merge() >>> 0;
  const t3 = performance.now();
  if (queued !== n || merged !== n) throw new Error(`brc merge-queue: ${queued} queued, ${merged} merged of ${n}`);
  if (x.brc_decref_batch(out, n) !== 0) throw new Error('brc merge-queue: the clean-up decrefs failed or queued');
  const live = rt.domain().stats().objects.live;
  if (live !== 0) throw new Error(`brc merge-queue: ${live} objects left alive`);
  owner.free(out);
  other.exit();
  owner.exit();
  return { pushNs: (t1 - t0) * 1e6 / n, mergeNs: (t3 - t2) * 1e6 / n };
}

interface TwoRun {
  /** objects per second: earliest start to the owner's last merge */
  rate: number;
  /** ns per queued decref, the decref worker's own loop */
  pushNs: number;
  /** objects per checkpoint that merged */
  batch: number;
}

/** Two workers at once: the owner checkpoints (merging) every `gapUs` while the other decrefs. */
async function mergeTwoWorkers(module: WebAssembly.Module, n: number, gapUs: number): Promise<TwoRun> {
  const { rt, t, type, i32 } = await fresh(module);
  const ctl = t.calloc(1, 16);
  const out = t.alloc(4 * n);
  t.detach();
  const common = { stop: ctl, type, n, out, gapUs };
  const { ws, done } = await startWorkers(rt, [{ ...common, role: 'mq-owner' }, { ...common, role: 'mq-decref' }]);
  try {
    signal(i32, ctl + 4);
    const [own, dec] = await Promise.all(done);
    if (own.count !== n || dec.count !== n) throw new Error(`brc merge-queue ×2: ${dec.count} queued, ${own.count} merged of ${n}`);
    t.attach();
    const live = rt.domain().stats().objects.live;
    if (live !== 0) throw new Error(`brc merge-queue ×2: ${live} objects left alive`);
    return { rate: n / ((own.t1 - Math.min(own.t0, dec.t0)) / 1e9), pushNs: (dec.t1 - dec.t0) / n,
      batch: n / Math.max(1, own.batches!) };
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
    t.attach();
    t.exit();
  }
}

async function mergeQueue(module: WebAssembly.Module, opts: SuiteOptions, results: Result[]): Promise<string> {
  const n = opts.quick ? MQ_OBJECTS_QUICK : MQ_OBJECTS;
  const one: { pushNs: number; mergeNs: number }[] = [];
  const two = new Map<number, TwoRun[]>(MQ_GAPS_US.map((g) => [g, []]));
  for (let r = 0; r < opts.runs; r++) {
    one.push(await mergeOneThread(module, n));
    opts.progress.tick('brc merge-queue one thread');
    for (const g of MQ_GAPS_US) {
      two.get(g)!.push(await mergeTwoWorkers(module, n, g));
      opts.progress.tick(`brc merge-queue two workers, checkpoint every ${g} µs`);
    }
  }
  const row = (workload: string, allocator: string, threads: number, ns: number) =>
    results.push({ suite: 'brc', workload, allocator, threads, nsPerOp: ns, opsPerSec: 1e9 / ns, peakBytes: 0, liveBytes: 0 });
  const push = median(one.map((s) => s.pushNs)), merge = median(one.map((s) => s.mergeNs));
  const seq = median(one.map((s) => s.pushNs + s.mergeNs));
  row('merge-queue', 'one-thread', 1, seq);
  row('merge-queue-push', 'one-thread', 1, push);
  row('merge-queue-merge', 'one-thread', 1, merge);
  const rows = [['one JS thread, phases apart', '–', push.toFixed(1), merge.toFixed(1), seq.toFixed(1), (1e3 / seq).toFixed(2),
    n.toLocaleString('en')]];
  for (const g of MQ_GAPS_US) {
    const rs = two.get(g)!;
    const rate = median(rs.map((s) => s.rate)), pushNs = median(rs.map((s) => s.pushNs)), batch = median(rs.map((s) => s.batch));
    const variant = g === 0 ? 'two-workers' : `two-workers-every-${g}us`;
    row('merge-queue', variant, 2, 1e9 / rate);
    row('merge-queue-push', variant, 2, pushNs);
    rows.push(['two workers at once', g === 0 ? 'back to back' : `every ${g} µs`, pushNs.toFixed(1), '–', (1e9 / rate).toFixed(1),
      (rate / 1e6).toFixed(2), batch.toFixed(1)]);
  }
  return `## brc: the merge queue, ${n.toLocaleString('en')} objects per run (median of ${opts.runs} run${opts.runs > 1 ? 's' : ''})\n\n` +
    markdown(['variant', 'owner checkpoints', 'ns per queued decref', 'ns per merge', 'ns per object', 'M objects/s',
      'objects per merge'], rows) +
    '\n\nThe owner makes the objects and takes a second reference to each (local count 2: its own and the one it hands ' +
    'over); another thread drops one reference to each. That thread does not own them and their shared count is 0, so ' +
    'each decref marks the object QUEUED and pushes it on the owner\'s merge queue (under its bucket\'s lock, chunks of ' +
    '1,020 from the domain\'s pool) and asks the owner to merge; the owner\'s merge folds local count and the queued −1 ' +
    'into the shared word (each object lives on, merged, with count 1). One JS thread: two thread records, the decrefs ' +
    'then one merge call, timed apart. Two workers: the decrefs and the owner\'s checkpoints (each merges what is queued ' +
    `so far) run at once, the owner checkpointing back to back or after ${MQ_GAPS_US.filter((g) => g > 0).join(', ')} µs of ` +
    'busy work each; ns per queued decref = the decref worker\'s own loop; ns per object = earliest start to the owner\'s ' +
    'last merge ÷ objects; objects per merge = objects ÷ the checkpoints that merged. A merge takes the whole queue ' +
    '(and gives its last chunk back empty when nothing was queued meanwhile); an owner that merges as fast as the queue ' +
    'fills still makes every push fetch the bucket lock, the queue\'s chunk and the owner\'s breaker word from the other ' +
    'core, and every merge fetch them back. The owner\'s clean-up ' +
    'decrefs (every object dies) are not timed; every run checks all objects were queued, merged and deallocated.';
}

// ---- The suite ---------------------------------------------------------------------------------

/** `--workload` ids of this suite. */
const WORKLOAD_IDS = [...PAIR_KINDS, 'private-objects', 'merge-queue'];

export const brcSuite: Suite = {
  name: 'brc',
  async run(opts) {
    const unknown = (opts.workloads ?? []).filter((id) => !WORKLOAD_IDS.includes(id));
    if (unknown.length) throw new Error(`unknown workload ${unknown.join(', ')}; known: ${WORKLOAD_IDS.join(', ')}`);
    const want = (id: string) => !opts.workloads || opts.workloads.includes(id);
    const module = await WebAssembly.compile(readFileSync(join(opts.root, 'build/bench/ftheap/bench.wasm')));
    const results: Result[] = [];
    const kinds = PAIR_KINDS.filter(want);
    opts.progress.start(opts.runs * (kinds.length + (want('private-objects') ? opts.threads.length : 0) +
      (want('merge-queue') ? 1 + MQ_GAPS_US.length : 0)));
    const parts: string[] = [];
    const targets: string[] = [];
    if (kinds.length) {
      const p = await pairs(module, opts, kinds, results);
      parts.push(p.text);
      if (!Number.isNaN(p.ratio)) {
        targets.push(`- owner pair vs atomic pair: ${p.ratio.toFixed(2)}× faster (target ≥ ${TARGET_OWNER_VS_ATOMIC}×) ` +
          mark(p.ratio >= TARGET_OWNER_VS_ATOMIC));
      }
    }
    if (want('private-objects')) {
      const p = await privateObjects(module, opts, results);
      parts.push(p.text);
      if (!Number.isNaN(p.scaling)) {
        targets.push(`- private objects, 1 → 2 workers: ${p.scaling.toFixed(2)}× (target ≥ ${TARGET_SCALING}× on 2 cores) ` +
          mark(p.scaling >= TARGET_SCALING));
      }
    }
    if (want('merge-queue')) parts.push(await mergeQueue(module, opts, results));
    if (targets.length) parts.push(`### brc: targets (${os.cpus().length} × ${cpuModel()})\n\n${targets.join('\n')}`);
    return { results, report: parts.join('\n\n') };
  },
};
