/**
 * Mutexes from JS: a mutex is any zero-initialised, 4-aligned 32-bit word of the
 * shared memory. {@link Thread.lock}, {@link Thread.tryLock},
 * {@link Thread.lockAsync} and {@link Thread.unlock} delegate here; the lock
 * itself is assembly/mutex.ts.
 * @module
 */
import type { ThreadCore } from './core.ts';
import { coreError } from './errors.ts';
import { waitAsync } from './platform.ts';

/** @internal Lock `m`, waiting detached (polling where this JS thread may not block). */
export function lock(t: ThreadCore, m: number): void {
  t.enter();
  const rc = t.x.ft_mutex_lock(m >>> 0);
  if (rc !== 0) t.fail(`mutex ${m}`);
}

/** @internal Take `m` if it is free (after a brief spin when `spin`); never waits. */
export function tryLock(t: ThreadCore, m: number, spin: boolean): boolean {
  const rc = t.x.ft_mutex_trylock(m >>> 0, spin ? 1 : 0);
  if (rc < 0) throw coreError(-rc, `mutex ${m}`);
  return rc === 1;
}

/** @internal Lock `m` without blocking the JS thread: try, then wait asynchronously on the word. */
export async function lockAsync(t: ThreadCore, m: number): Promise<void> {
  const i32 = new Int32Array(t.memory.buffer);
  while (!tryLock(t, m, true)) {
    const v = Atomics.load(i32, m >>> 2);
    if (v !== 0) await waitAsync(i32, m >>> 2, v);
  }
}

/** @internal Unlock `m`; `ENOT_LOCKED` if it was not locked. */
export function unlock(t: ThreadCore, m: number): void {
  const rc = t.x.ft_mutex_unlock(m >>> 0);
  if (rc !== 0) throw coreError(rc, `mutex ${m}`);
}
