/**
 * Delayed free from JS: free a block once every thread of the domain has passed a
 * quiescent state (see src/qsbr.ts). {@link Thread.freeDelayed},
 * {@link Thread.processDelayed} and {@link Thread.delayedPending} delegate here;
 * the queues are assembly/delayed-free.ts.
 * @module
 */
import { checkPtr, ptrDetail } from './checks.ts';
import type { ThreadCore } from './core.ts';
import { coreError } from './errors.ts';

/** @internal Queue `ptr` (checked now; 0 ignored) to be freed once its QSBR goal is reached. */
export function freeDelayed(t: ThreadCore, ptr: number): void {
  t.enter();
  checkPtr(ptr);
  const rc = t.x.ft_free_delayed(ptr);
  if (rc !== 0) throw coreError(rc, ptrDetail(t.x, rc, ptr));
}

/** @internal Run `t`'s due delayed frees and free its held pages whose goal passed; the blocks freed. */
export function processDelayed(t: ThreadCore): number {
  t.enter();
  const n = t.x.ft_delayed_process();
  if (n < 0) throw coreError(-n);
  return n;
}

/** @internal Delayed frees `t` queued that have not run yet. */
export function delayedPending(t: ThreadCore): number {
  t.enter();
  return t.x.ft_delayed_pending() >>> 0;
}
