/**
 * Critical sections from JS: a callback run holding one or two mutexes, which are
 * released while the thread is detached and taken again when it attaches.
 * {@link Thread.criticalSection} and {@link Thread.criticalSection2} delegate
 * here; the mechanism is in assembly/critical-section.ts.
 * @module
 */
import type { ThreadCore } from './core.ts';
import { coreError } from './errors.ts';

/** @internal Run `fn` in a critical section on the mutex `m`. */
export function criticalSection<T>(t: ThreadCore, m: number, fn: () => T): T {
  t.enter();
  return held(t, t.x.ft_cs_begin(m >>> 0), fn, m);
}

/** @internal Run `fn` in a critical section on `m1` and `m2` (taken in address order). */
export function criticalSection2<T>(t: ThreadCore, m1: number, m2: number, fn: () => T): T {
  t.enter();
  return held(t, t.x.ft_cs_begin2(m1 >>> 0, m2 >>> 0), fn, m1, m2);
}

// The section `ft_cs_begin*` opened (a token, or -code): run `fn`, then end it
// even if `fn` throws or detaches the thread.
function held<T>(t: ThreadCore, token: number, fn: () => T, m1: number, m2?: number): T {
  if (token < 0) throw coreError(-token, m2 === undefined ? `mutex ${m1}` : `mutexes ${m1}, ${m2}`);
  try {
    return fn();
  } finally {
    t.reenterFor(() => t.x.ft_cs_end(token));
  }
}
