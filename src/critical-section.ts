/**
 * Critical sections from JS: a callback run holding one or two mutexes, which are
 * released while the thread is detached and taken again when it attaches.
 * {@link Thread.criticalSection} and {@link Thread.criticalSection2} delegate
 * here; the mechanism is in assembly/critical-section.ts.
 *
 * Where this JS thread may not block (a browser main thread), a section whose
 * mutex another thread holds is not waited for: `EAGAIN` (nothing changed). The
 * async variants wait for the mutex(es) as counted waiters (src/mutex.ts
 * acquireAsync, the thread detached meanwhile), attach again without blocking,
 * and hand the locks they took to the section (ft_mutex_adopt): `fn` then runs
 * synchronously, in the same turn, holding them.
 * @module
 */
import { CS_ASYNC_SLOTS, EINVAL_STATE, T_CS_ASYNC } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { ErrorCode, FtheapError } from './errors.ts';
import { acquireAsync, mutexError } from './mutex.ts';

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
// even if `fn` throws or detaches the thread. A thread detached inside `fn` (by the
// user, by another thread made current here, by a reap) released the section's
// locks: the section ends detached, without re-taking them, and the thread stays
// detached (its next call attaches it). Attaching to end it polled for the locks
// where the thread may not block, and failed with EAGAIN while a stop held the
// thread, leaving the section — and, after the next attach, its lock — held
// (review-13a).
function held<T>(t: ThreadCore, token: number, fn: () => T, m1: number, m2?: number): T {
  if (token < 0) {
    t.x.ft_last_error();   // (cleared: thrown here)
    throw mutexError(-token, m2 === undefined ? `mutex ${m1 >>> 0}` : `mutexes ${m1 >>> 0}, ${m2 >>> 0}`,
      m2 === undefined ? 'criticalSectionAsync()' : 'criticalSection2Async()');
  }
  try {
    return fn();
  } finally {
    if (t.detachedNow()) {
      if (t.x.ft_cs_end_detached(t.id, token) !== 0) t.fail('ending a critical section its callback detached');
    } else t.reenterFor(() => t.x.ft_cs_end(token));
  }
}

/**
 * @internal criticalSection without blocking the JS thread: the mutex is taken
 * asynchronously, then `fn` (synchronous) runs in the section. A `fn` that
 * returns a promise is refused (`EINVAL_ARG`, after the section ended): the
 * section would not cover what it awaits.
 */
export async function criticalSectionAsync<T>(t: ThreadCore, m: number, fn: () => T): Promise<T> {
  return sectionAsync(t, [m >>> 0], fn, () => t.x.ft_cs_begin(m >>> 0));
}

/** @internal criticalSection2 without blocking the JS thread (the mutexes taken in address order). */
export async function criticalSection2Async<T>(t: ThreadCore, m1: number, m2: number, fn: () => T): Promise<T> {
  const a = m1 >>> 0, b = m2 >>> 0;
  if (a === b) return criticalSectionAsync(t, a, fn);
  return sectionAsync(t, a < b ? [a, b] : [b, a], fn, () => t.x.ft_cs_begin2(a, b));
}

// The thread record's async-section slots (T_CS_ASYNC) in use, per thread of this JS
// thread: a lock taken for an async section is named in one from the CAS that takes
// it until the section takes it over or lets it go, so a reap of a worker killed
// meanwhile (awaiting the other lock, or the re-attach) reports it in heldLocks.
// More async sections at once on one thread than there are slots wait unnamed.
const asyncSlots = new Map<number, number>();   // thread id -> bit mask of slots in use

/** @internal Is an async section of thread `id` (this JS thread's) under way? */
export function asyncSectionsPending(id: number): boolean {
  return asyncSlots.has(id);
}

function slotTake(t: ThreadCore): number {
  const used = asyncSlots.get(t.id) ?? 0;
  for (let k = 0; k < CS_ASYNC_SLOTS; k++) {
    if ((used & (1 << k)) === 0) { asyncSlots.set(t.id, used | (1 << k)); return t.id + T_CS_ASYNC + 4 * k; }
  }
  return 0;
}

function slotsGive(t: ThreadCore, holders: number[]): void {
  let used = asyncSlots.get(t.id) ?? 0;
  for (const h of holders) if (h !== 0) used &= ~(1 << ((h - t.id - T_CS_ASYNC) >>> 2));
  if (used === 0) asyncSlots.delete(t.id); else asyncSlots.set(t.id, used);
}

async function sectionAsync<T>(t: ThreadCore, ms: number[], fn: () => T, begin: () => number): Promise<T> {
  const taken: number[] = [];
  const holders = ms.map(() => slotTake(t));
  let adopted = false;
  try {
    for (const [i, m] of ms.entries()) { await acquireAsync(t, m, -1, holders[i]); taken.push(m); }
    return await t.enterAsync(() => {
      adopted = true;   // from here on the section, or the lines below, own the locks
      let token = -EINVAL_STATE;
      try {
        let all = true;
        for (const [i, m] of ms.entries()) {
          if (t.x.ft_mutex_adopt(m, holders[i]) !== 0) { t.x.ft_last_error(); t.x.ft_mutex_unlock(m, holders[i]); all = false; }
        }
        if (all) token = begin();
      } finally {
        t.x.ft_mutex_adopt_end();   // unlocks what the section did not take over (its slot cleared)
      }
      const r = held(t, token, fn, ms[0], ms[1]);
      if (refusedPromise(r)) throw new FtheapError(ErrorCode.EINVAL_ARG, 'criticalSectionAsync: fn must be synchronous (it returned a promise; the section has ended)');
      return r;
    });
  } finally {
    if (!adopted) for (const [i, m] of taken.entries()) t.x.ft_mutex_unlock(m, holders[i]);
    slotsGive(t, holders);
  }
}

/**
 * @internal Does `v` look like a promise? Such a result of an async variant's `fn`
 * is refused; its rejection, if it comes, is handled here (not an unhandled rejection).
 */
export function refusedPromise(v: unknown): boolean {
  const thenable = v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
  if (thenable) Promise.resolve(v).catch(() => { /* refused: the caller got EINVAL_ARG */ });
  return thenable;
}
