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
import type { Domain } from './domain.ts';
import { EAGAIN, THREAD_ATTACHED } from './abi.gen.ts';
import { coreError, ErrorCode, FtheapError, reapBlockedError } from './errors.ts';
import { isNode, nodeBuiltin } from './platform.ts';
import type { Runtime } from './runtime.ts';

/** @internal What a worker started by {@link startWorker} gets: the handle, its data, and where to report its thread. */
export interface StartMessage {
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
   * Browsers: how long to wait after `Worker.terminate()` before reaping. A
   * browser stops a terminated worker asynchronously and says nothing when it
   * has, and a reap must never run beside the thread it reaps: it lets go of
   * the runtime locks the dead thread held. V8 stops the worker's code at its
   * next loop back-edge or call once its thread runs, but on a loaded machine
   * that thread may wait for a core; 100 ms was seen to be too short there (a
   * worker of the web demo trapped after a reap, under a full test run).
   * @defaultValue 1000
   */
  reapDelayMs?: number;
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
  const reapDelayMs = options.reapDelayMs ?? 1000;
  if (!(reapDelayMs >= 0 && reapDelayMs <= 60_000)) throw new FtheapError(ErrorCode.EINVAL_OPTION, `reapDelayMs must be 0..60000, got ${String(options.reapDelayMs)}`);
  const instance = rt.exports.ft_instance_reserve() >>> 0;
  if (instance === 0) throw coreError(rt.exports.ft_last_error(), 'startWorker: reserving an instance id');
  try {
    return launch(rt, url, options, instance, reapDelayMs);
  } catch (e) {
    rt.exports.ft_instance_unreserve(instance);   // no worker: nobody will adopt it
    throw e;
  }
}

/** A thread stamped this recently may still be running (see launch's seenLately). */
const SEEN_LATELY_MS = 150;

function launch(rt: Runtime, url: URL | string, options: StartWorkerOptions, instance: number, reapDelayMs: number): RuntimeWorker {
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
  let failure = '';   // the worker's uncaught error, for `thread`'s rejection
  const reap = () => {
    if (done) return;
    done = true;
    // A worker that attached and then ended at once: its report may still be in
    // the port, behind the exit event (another channel). Take it first.
    if (isNode) {
      const pending = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads').receiveMessageOnPort(port1 as never);
      if (pending) onReport(pending.message as { thread?: number; error?: string });
    }
    port1.close();
    rt.exports.ft_instance_unreserve(instance);   // it died before adopting its id: nobody else may
    rejectThread(new FtheapError(ErrorCode.EINVAL_STATE,
      `the worker ended before its thread attached${failure ? ` (its uncaught error: ${failure})` : ''}`));
    if (options.reap === false) { resolveReaped(0); return; }
    reapRetrying(0);
  };
  // EAGAIN: another instance holds a lock the reap needs. It may have died too,
  // its exit event queued behind this one: waiting here, on the thread that
  // handles those events, would wait for ever. Retry later instead (backing off
  // to four times a second); that instance's own reap lets its locks go meanwhile.
  // Browsers: terminate() does not wait for the worker to stop, and a reap beside a
  // thread still running lets go of what it holds under it (a demo worker trapped
  // so, under load, 1 s after terminate). While a thread of the instance was seen
  // lately (attach, detach and checkpoints stamp it), wait: up to 5 s more.
  const seenLately = () => {
    const x = rt.exports;
    for (let t = x.ft_thread_next_all(0) >>> 0; t !== 0; t = x.ft_thread_next_all(t) >>> 0) {
      if (x.ft_thread_owner(t) >>> 0 !== instance) continue;
      const idle = x.ft_thread_idle_ms(t);
      if (idle >= 0 && idle < SEEN_LATELY_MS) return true;
    }
    return false;
  };
  const reports: ReapReport[] = [];   // kept across retries: a try that gave up part way reaped some
  const reapRetrying = (attempt: number) => {
    if (!isNode && attempt < 100 && seenLately()) { setTimeout(() => reapRetrying(attempt + 1), 50); return; }
    try {
      reapOne(rt, instance, reports);
    } catch (e) {
      if (!(e instanceof FtheapError && e.code === ErrorCode.EAGAIN)) throw e;
      setTimeout(() => reapRetrying(attempt + 1), Math.min(250, 5 << Math.min(attempt, 6)));
      return;
    }
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
    w.on('error', (e: Error) => { failure = e?.message ?? String(e); });   // 'exit' follows
    worker = w;
  } else {
    port1.onmessage = (e) => onReport(e.data);
    const W = (globalThis as unknown as { Worker: new (u: URL | string, o?: object) => Worker }).Worker;
    const w = new W(url, { type: 'module', ...options.workerOptions });
    // An uncaught error does not end a browser worker: end it, then reap.
    w.addEventListener('error', (e) => { failure = e.message; w.terminate(); setTimeout(reap, reapDelayMs); });
    w.postMessage(start, [port2]);
    worker = w;
  }
  return {
    worker,
    instance,
    thread,
    reaped,
    terminate: async () => {
      await worker.terminate();   // Node: resolves once the worker has stopped ('exit' reaps)
      if (!isNode && !done) setTimeout(reap, reapDelayMs);
      return reaped;
    },
  };
}

/**
 * Reap every thread stamped with instance id `instance` (a JS thread that is
 * gone), whatever its domain. Returns what each reap found. Several instances
 * that are all gone: pass them together, and none waits for a lock another one
 * died holding (each lets its own go first; a reap that finds a lock of another
 * is tried again after the others).
 * @throws FtheapError `EAGAIN` when another instance, not in the list, holds a
 *   runtime lock the reap needs (it may be gone too: reap it, then retry; the
 *   message names it; what was reaped so far stays reaped)
 */
export function reapInstance(rt: Runtime, instance: number | readonly number[]): ReapReport[] {
  if (typeof instance === 'number') return reapOne(rt, instance, []);
  const reports: ReapReport[] = [];
  let pending = [...instance];
  // Passes in a row that reaped nothing. Each try lets its own instance's spin locks
  // go first, and, once no other instance holds one, its roles (a mutex, a stop, a
  // collection): so a pass can reap nothing and still free the rest (A waits for
  // B's spin lock, B then for A's role). Blocked only by listed instances, the
  // first pass lets every spin lock go, the second every role: a third that reaps
  // nothing is stuck.
  let stalled = 0;
  while (pending.length > 0) {
    let blocked: FtheapError | undefined;
    let outside = false;   // a blocker not in the list: trying again cannot help
    const left: number[] = [];
    const before = reports.length;
    for (const i of pending) {
      try {
        reapOne(rt, i, reports);
      } catch (e) {
        if (!(e instanceof FtheapError && e.code === ErrorCode.EAGAIN)) throw e;
        blocked = e;
        if (!pending.includes(rt.exports.ft_reap_blocker() >>> 0)) outside = true;
        left.push(i);
      }
    }
    if (left.length < pending.length || reports.length > before) stalled = 0;
    else if (blocked && (outside || ++stalled > 2)) throw blocked;
    pending = left;
  }
  return reports;
}

// Reaps `instance`'s threads, adding each one's report to `reports` as it goes (an
// EAGAIN part way leaves the threads reaped so far reported: their heldLocks are
// the caller's only record of them). Returns `reports`.
function reapOne(rt: Runtime, instance: number, reports: ReapReport[]): ReapReport[] {
  const x = rt.exports;
  const ids: Array<{ id: number; domain: number }> = [];
  for (let t = x.ft_thread_next_all(0) >>> 0; t !== 0; t = x.ft_thread_next_all(t) >>> 0) {
    if (x.ft_thread_owner(t) >>> 0 === instance) ids.push({ id: t, domain: x.ft_thread_domain(t) >>> 0 });
  }
  let closed = false;
  for (const { id, domain } of ids) {
    // A record listed in a domain closed under its start (lifecycle.ts threadStart),
    // never entered: d.reap refuses a closed domain; ft_reap_instance retires it below.
    if (x.ft_domain_valid(domain) === 0) { closed = true; continue; }
    // Reaped by another reap since it was listed, its record maybe a live thread's now (review-18d).
    if (x.ft_thread_owner(id) >>> 0 !== instance) continue;
    try {
      reports.push(rt.domainById(domain).reap(id));
    } catch (e) {
      if (e instanceof FtheapError && e.code === ErrorCode.EINVAL_STATE) continue;   // it exited (or was reaped) meanwhile
      throw e;
    }
  }
  if (closed) check(x.ft_reap_instance(instance) | 0);   // nothing held: no report
  check(x.ft_instance_release_dead(instance) | 0);   // a worker with no thread may have died inside stats()
  return reports;

  function check(rc: number): void {
    // A reap detaches this JS thread's current thread (its next call attaches it again).
    const cur = rt.current;
    if (cur && x.ft_thread_state(cur.id) >>> 0 !== THREAD_ATTACHED) rt.setCurrent(null);
    if (rc === -EAGAIN) throw reapBlockedError(x.ft_reap_blocker() >>> 0, `instance ${instance}`);
  }
}
