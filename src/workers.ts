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
import type { JoinOptions, ReapReport, RuntimeHandle } from './api.ts';
import type { Domain } from './domain.ts';
import { ErrorCode, FtheapError } from './errors.ts';
import { isNode, nodeBuiltin } from './platform.ts';
import { Runtime } from './runtime.ts';
import type { Thread } from './thread.ts';

/** What a worker started by {@link startWorker} gets: the handle, its data, and where to report its thread. */
interface StartMessage {
  ftheap: RuntimeHandle;
  data: unknown;
  /** The domain its thread attaches to. */
  domain: number;
  /** Carries `{ thread }` (or `{ error }`) back to the starter, apart from the user's own messages. */
  port: MessagePort;
}

/** Options of {@link startWorker}. */
export interface StartWorkerOptions {
  /** Data for the worker, next to the runtime handle (Node: `workerData.data`; browsers: `message.data.data`). */
  data?: unknown;
  /** Node: further `worker_threads` Worker options (`workerData` is set by ftheap). Browsers: Worker options. */
  workerOptions?: Record<string, unknown>;
  /** Called after the dead worker's threads were reaped (with what each reap found). */
  onReaped?: (reports: ReapReport[]) => void;
  /** The domain the worker's thread attaches to in {@link joinWorker} (default: the runtime's default domain). */
  domain?: Domain;
  /**
   * Reap the worker's threads when it is gone. With `false`, nothing is reaped
   * on its exit ({@link RuntimeWorker.reaped} resolves with 0 and `onReaped` is
   * not called): for a caller that reaps by hand ({@link Domain.reap}), such as a
   * test that asserts what a reap found, which an automatic reap would race.
   * @defaultValue true
   */
  reap?: boolean;
}

/** A worker started by {@link startWorker}. */
export interface RuntimeWorker {
  /** The worker (Node's `worker_threads.Worker`, or a browser `Worker`). */
  readonly worker: unknown;
  /** The instance id its threads are stamped with. */
  readonly instance: number;
  /**
   * The id of the thread the worker attached in {@link joinWorker}, once it has;
   * rejects if the worker failed to join or is gone before.
   */
  readonly thread: Promise<number>;
  /** Resolves once the worker is gone and its threads are reaped: how many. */
  readonly reaped: Promise<number>;
  /** Terminate the worker; resolves once its threads are reaped. */
  terminate(): Promise<number>;
}

/**
 * Start a worker joined to `rt`, and reap its threads when it is gone.
 *
 * The worker calls {@link joinWorker}: it joins the runtime (adopting the
 * instance id reserved for it), attaches a thread to `options.domain`, and the
 * thread's id arrives in {@link RuntimeWorker.thread}. (By hand: the handle is
 * `workerData.ftheap` in Node, and `ftheap` in the first message in a browser;
 * `Runtime.join(handle)` adopts the id.) When the worker
 * exits (normally, by `terminate()`, or by an uncaught error; in a browser: an
 * `error` event or {@link RuntimeWorker.terminate}), every thread it still had is
 * reaped on this JS thread ({@link Domain.reap}).
 *
 * @example
 * ```ts
 * // main
 * const w = await rt.startWorker(new URL('./worker.js', import.meta.url), { data: { job: 1 } });
 * const id = await w.thread;           // the worker's thread, attached
 * await w.reaped;                      // after it ends, however it ends
 * // worker.js
 * const { runtime, thread, data } = await joinWorker();   // reaped by the main thread if this worker dies
 * ```
 */
export async function startWorker(rt: Runtime, url: URL | string, options: StartWorkerOptions = {}): Promise<RuntimeWorker> {
  const instance = rt.exports.ft_instance_reserve() >>> 0;
  const handle: RuntimeHandle = { ...rt.share(), instance };
  const domain = options.domain?.id ?? rt.domain().id;
  let resolveReaped!: (n: number) => void;
  const reaped = new Promise<number>((resolve) => { resolveReaped = resolve; });
  let resolveThread!: (id: number) => void, rejectThread!: (e: Error) => void;
  const thread = new Promise<number>((resolve, reject) => { resolveThread = resolve; rejectThread = reject; });
  thread.catch(() => { /* only for those who ask */ });
  const { port1, port2 } = new MessageChannel();
  const onReport = (m: { thread?: number; error?: string }) => {
    if (m.thread !== undefined) resolveThread(m.thread);
    else rejectThread(new FtheapError(ErrorCode.EINVAL_STATE, `the worker did not join: ${m.error}`));
    port1.close();
  };
  let done = false;
  const reap = () => {
    if (done) return;
    done = true;
    port1.close();
    rejectThread(new FtheapError(ErrorCode.EINVAL_STATE, 'the worker ended before its thread attached'));
    if (options.reap === false) { resolveReaped(0); return; }
    const reports = reapInstance(rt, instance);
    options.onReaped?.(reports);
    resolveReaped(reports.length);
  };
  const start: StartMessage = { ftheap: handle, data: options.data, domain, port: port2 };
  let worker: { terminate(): unknown };
  if (isNode) {
    const { Worker } = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
    (port1 as unknown as { on(e: string, f: (m: object) => void): void }).on('message', onReport);
    (port1 as unknown as { unref(): void }).unref();
    const w = new Worker(url, { ...options.workerOptions, workerData: start, transferList: [port2 as never] });
    w.on('exit', reap);
    w.on('error', () => { /* 'exit' follows */ });
    worker = w;
  } else {
    port1.onmessage = (e) => onReport(e.data);
    const W = (globalThis as unknown as { Worker: new (u: URL | string, o?: object) => Worker }).Worker;
    const w = new W(url, { type: 'module', ...options.workerOptions });
    w.addEventListener('error', () => { w.terminate(); reap(); });
    w.postMessage(start, [port2]);
    worker = w;
  }
  return {
    worker,
    instance,
    thread,
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

// In a browser worker the start message may arrive before the worker's own code
// reaches joinWorker (after an await, say): catch it as soon as this module runs.
const startMessage: Promise<StartMessage> | undefined = !isNode && typeof self !== 'undefined'
    && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined'
  ? new Promise((resolve) => {
    const on = (e: MessageEvent) => {
      if (!e.data || typeof e.data !== 'object' || e.data.ftheap?.kind !== 'ftheap-runtime') return;
      self.removeEventListener('message', on);
      e.stopImmediatePropagation();
      resolve(e.data as StartMessage);
    };
    self.addEventListener('message', on);
  })
  : undefined;

/** What {@link joinWorker} gives a worker. */
export interface JoinedWorker<D> {
  /** This worker's runtime object for the shared memory. */
  runtime: Runtime;
  /** Its thread, attached to the starter's chosen domain (`null` with `attach: false`). */
  thread: Thread | null;
  /** `options.data` of {@link startWorker}. */
  data: D;
}

/**
 * In a worker started by {@link startWorker}: join the runtime, attach a thread
 * to the domain the starter chose, and report the thread's id back
 * ({@link RuntimeWorker.thread}). The thread is reaped if the worker dies.
 * `attach: false` joins only (attach threads yourself; they are reaped all the same).
 * Outside such a worker it throws `EINVAL_STATE`.
 *
 * @example
 * ```ts
 * const { runtime, thread, data } = await joinWorker<{ job: number }>();
 * const p = thread.alloc(64);
 * ```
 */
export async function joinWorker<D = unknown>(options: JoinOptions & { attach?: boolean } = {}): Promise<JoinedWorker<D>> {
  let start: StartMessage | undefined;
  if (isNode) {
    const wt = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
    const d = wt.workerData as StartMessage | undefined;
    if (!wt.isMainThread && d?.ftheap?.kind === 'ftheap-runtime') start = d;
  } else {
    start = await startMessage;
  }
  if (!start) throw new FtheapError(ErrorCode.EINVAL_STATE, 'joinWorker: this is not a worker started by startWorker');
  const port = start.port as MessagePort & { unref?: () => void };
  try {
    const runtime = await Runtime.join(start.ftheap, options);
    const thread = options.attach === false ? null : runtime.domainById(start.domain).attach();
    port.postMessage({ thread: thread?.id ?? 0 });
    return { runtime, thread, data: start.data as D };
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? e.message : String(e) });
    throw e;
  } finally {
    port.close();
  }
}
