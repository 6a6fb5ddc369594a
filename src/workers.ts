/**
 * Workers that join a runtime, and are reaped when they die. A worker that is
 * terminated, crashes, or simply ends without calling `exit()` on its threads
 * leaves them attached or detached forever: a stop-the-world would wait for them
 * and QSBR goals would never be reached. {@link startWorker} reserves an instance
 * id for the worker before it starts (so its threads are known even if it dies at
 * once), hands it over in the runtime handle, and reaps every thread of that id
 * when the worker is gone.
 * @module
 */
import type { ReapReport, RuntimeHandle } from './api.ts';
import { ErrorCode, FtheapError } from './errors.ts';
import { isNode, nodeBuiltin } from './platform.ts';
import type { Runtime } from './runtime.ts';

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** Data for the worker, next to the runtime handle (Node: `workerData.data`; browsers: `message.data.data`). */
  data?: unknown;
  /** Node: further `worker_threads` Worker options (`workerData` is set by ftheap). Browsers: Worker options. */
  workerOptions?: Record<string, unknown>;
  /** Called after the dead worker's threads were reaped (with what each reap found). */
  onReaped?: (reports: ReapReport[]) => void;
}

/** A worker started by {@link startWorker}. */
export interface RuntimeWorker {
  /** The worker (Node's `worker_threads.Worker`, or a browser `Worker`). */
  readonly worker: unknown;
  /** The instance id its threads are stamped with. */
  readonly instance: number;
  /** Resolves once the worker is gone and its threads are reaped: how many. */
  readonly reaped: Promise<number>;
  /** Terminate the worker; resolves once its threads are reaped. */
  terminate(): Promise<number>;
}

/**
 * Start a worker joined to `rt`, and reap its threads when it is gone.
 *
 * The worker receives the runtime handle as `workerData.ftheap` in Node (in a
 * browser: as `ftheap` in the first message) and joins with
 * `Runtime.join(handle)`, which adopts the reserved instance id. When the worker
 * exits (normally, by `terminate()`, or by an uncaught error; in a browser: an
 * `error` event or {@link RuntimeWorker.terminate}), every thread it still had is
 * reaped on this JS thread ({@link Domain.reap}).
 *
 * @example
 * ```ts
 * // main
 * const w = await startWorker(rt, new URL('./worker.js', import.meta.url), { data: { job: 1 } });
 * await w.reaped;                      // after it ends, however it ends
 * // worker.js
 * const rt = await Runtime.join(workerData.ftheap);
 * const t = rt.attach();               // reaped by the main thread if this worker dies
 * ```
 */
export async function startWorker(rt: Runtime, url: URL | string, options: StartWorkerOptions = {}): Promise<RuntimeWorker> {
  const instance = rt.exports.ft_instance_reserve() >>> 0;
  const handle: RuntimeHandle = { ...rt.share(), instance };
  let resolveReaped!: (n: number) => void;
  const reaped = new Promise<number>((resolve) => { resolveReaped = resolve; });
  let done = false;
  const reap = () => {
    if (done) return;
    done = true;
    const reports = reapInstance(rt, instance);
    options.onReaped?.(reports);
    resolveReaped(reports.length);
  };
  let worker: { terminate(): unknown };
  if (isNode) {
    const { Worker } = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
    const w = new Worker(url, { ...options.workerOptions, workerData: { ftheap: handle, data: options.data } });
    w.on('exit', reap);
    w.on('error', () => { /* 'exit' follows */ });
    worker = w;
  } else {
    const W = (globalThis as unknown as { Worker: new (u: URL | string, o?: object) => Worker }).Worker;
    const w = new W(url, { type: 'module', ...options.workerOptions });
    w.addEventListener('error', () => { w.terminate(); reap(); });
    w.postMessage({ ftheap: handle, data: options.data });
    worker = w;
  }
  return {
    worker,
    instance,
    reaped,
    terminate: async () => {
      await worker.terminate();
      if (!isNode) reap();
      return reaped;
    },
  };
}

/**
 * Reap every thread stamped with instance id `instance` (a JS thread that is
 * gone), whatever its domain. Returns what each reap found.
 */
export function reapInstance(rt: Runtime, instance: number): ReapReport[] {
  const x = rt.exports;
  const ids: Array<{ id: number; domain: number }> = [];
  for (let t = x.ft_thread_next_all(0) >>> 0; t !== 0; t = x.ft_thread_next_all(t) >>> 0) {
    if (x.ft_thread_owner(t) >>> 0 === instance) ids.push({ id: t, domain: x.ft_thread_domain(t) >>> 0 });
  }
  const reports: ReapReport[] = [];
  for (const { id, domain } of ids) {
    try {
      reports.push(rt.domainById(domain).reap(id));
    } catch (e) {
      if (e instanceof FtheapError && e.code === ErrorCode.EINVAL_STATE) continue;   // it exited (or was reaped) meanwhile
      throw e;
    }
  }
  return reports;
}
