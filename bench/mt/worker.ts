// One worker of a multi-threaded cell (bench/mt/harness.ts): instantiates the allocator's bench
// module (ftheap: joins the runtime on the shared memory and attaches a thread; AS TLSF and
// thi.ng: a module and memory of its own, one worker only), then serves the harness's commands.
// A run: set up (not timed), barrier with the other workers, timestamps around the Wasm loop
// (process.hrtime: one clock for every thread), barrier, drain (not timed).
import { parentPort, workerData } from 'node:worker_threads';
import { MemPool } from '@thi.ng/malloc';
import { joinWorker, type Thread } from '../../src/index.ts';
import { barrier, type MtExports, type WorkerInit, type WorkerReply, type WorkerRequest } from './protocol.ts';
import { seedFor } from './workloads.ts';

// ftheap: started by rt.startWorker, init is the joinWorker data; the others get it as workerData.
const joined = (workerData as { ftheap?: unknown }).ftheap ? await joinWorker<WorkerInit>() : undefined;
const init = joined?.data ?? workerData as WorkerInit;
const ctl = new Int32Array(init.ctl);
const now = () => Number(process.hrtime.bigint());

let ex: MtExports;
let peakBytes: () => number;
let restart: () => void = () => {};
/** thi.ng: the context block lives outside the pool, which is reset instead of drained */
let fixedCtx = 0;
let resetPool: (() => void) | undefined;
let ctxWorkload = 0;

if (joined) {
  const rt = joined.runtime;
  let t: Thread = joined.thread!;
  ex = rt.exports as unknown as MtExports;
  rt.exports.ft_remote_batching(1);   // as a Wasm program linking the core does (assembly/remote-free.ts)
  peakBytes = () => rt.stats().memory.committedPeak;
  restart = () => { t.exit(); t = rt.attach(); };
} else if (init.kind === 'tlsf') {
  const inst = await WebAssembly.instantiate(init.module, {});
  ex = inst.exports as unknown as MtExports;
  const memory = (inst.exports as { memory: WebAssembly.Memory }).memory;
  const before = memory.buffer.byteLength;
  peakBytes = () => memory.buffer.byteLength - before;
} else {
  // thi.ng MemPool over the module's imported memory (fixed size: MemPool keeps views of it).
  const pages = init.thingPages ?? 4096;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  fixedCtx = 1 << 20;
  const start = 2 << 20;
  let pool = new MemPool({ buf: memory.buffer, start });
  let state = pool as unknown as { top: number };
  let maxTop = state.top;
  const malloc = (n: number) => {
    const p = pool.malloc(n);
    if (state.top > maxTop) maxTop = state.top;
    return p;
  };
  const inst = await WebAssembly.instantiate(init.module, { env: { memory }, bench: { malloc, free: (p: number) => pool.free(p) } });
  ex = inst.exports as unknown as MtExports;
  peakBytes = () => maxTop - start;
  resetPool = () => { pool = new MemPool({ buf: memory.buffer, start }); state = pool as unknown as { top: number }; };
}

function run(req: Extract<WorkerRequest, { cmd: 'run' }>): WorkerReply {
  const { ctx, seed, params: [p0, p1, p2], units, rounds } = req;
  ex.mt_setup(ctx, init.index, init.threads, seedFor(seed, init.index), p0, p1, p2);
  barrier(ctl, init.threads);
  const t0 = now();
  let t1 = t0, ops = 0;
  if (rounds) {
    // mstress: a round, all finish, sweep the transfer slots, a new thread (as the original
    // starts new threads every round).
    for (let r = 0; r < units; r++) {
      ops += ex.mt_run(1) >>> 0;
      barrier(ctl, init.threads);
      ex.mt_mstress_sweep(r + 1 === units ? 1 : 0);
      t1 = now();
      restart();
      barrier(ctl, init.threads);
    }
  } else {
    ops = ex.mt_run(units) >>> 0;
    t1 = now();
  }
  barrier(ctl, init.threads);     // nobody drains while others may still push to its ring
  const globalPeak = ex.mt_peak_global(ctx);
  const heapPeak = init.index === 0 ? peakBytes() : 0;
  if (resetPool) { ex.mt_forget(); resetPool(); } else ex.mt_drain();
  return { id: req.id, t0, t1, ops, localPeak: ex.mt_peak_local(), globalPeak, heapPeak };
}

function serve(req: WorkerRequest): WorkerReply {
  switch (req.cmd) {
    case 'ctx': ctxWorkload = req.workload; return { id: req.id, ctx: (fixedCtx ? ex.mt_ctx_init(fixedCtx, req.workload, req.threads) : ex.mt_ctx_new(req.workload, req.threads)) >>> 0 };
    case 'prepare': ex.mt_prepare(req.ctx); return { id: req.id };
    case 'finish':   // thi.ng: the pool was reset, nothing left to free; just clear the block
      if (fixedCtx) ex.mt_ctx_init(req.ctx, ctxWorkload, init.threads); else ex.mt_finish(req.ctx);
      return { id: req.id };
    case 'free-ctx': if (!fixedCtx) ex.mt_ctx_free(req.ctx); return { id: req.id };
    case 'peak': return { id: req.id, heapPeak: peakBytes() };
    case 'run': return run(req);
  }
}

parentPort!.on('message', (req: WorkerRequest) => {
  try {
    parentPort!.postMessage(serve(req));
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
  }
});
parentPort!.postMessage({ id: 0, ready: true });
