/**
 * The worker's side of {@link startWorker}: {@link joinWorker} joins the runtime,
 * attaches a thread to the starter's domain and reports its id back.
 * @module
 */
import type { JoinOptions } from './api.ts';
import { ErrorCode, FtheapError } from './errors.ts';
import { isNode, nodeBuiltin } from './platform.ts';
import { Runtime } from './runtime.ts';
import type { Thread } from './thread.ts';
import type { StartMessage } from './workers.ts';

// In a browser worker the start message may arrive before the worker's own code
// reaches joinWorker (after an await, say): catch it as soon as this module runs.
const startMessage: Promise<StartMessage> | undefined = !isNode && typeof self !== 'undefined'
    && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined'
  ? new Promise((resolve) => {
    const on = (e: MessageEvent) => {
      if (!e.data || typeof e.data !== 'object' || e.data.ftheap?.kind !== 'ftheap-runtime') return;
      self.removeEventListener('message', on);   // (the worker's own listeners see it too)
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
 * Outside such a worker it throws `EINVAL_STATE` in Node; in a browser worker it
 * waits for the start message, which only `startWorker` sends.
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
