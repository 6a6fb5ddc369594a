/**
 * Stop-the-world from JS: pause every other thread of the caller's domain (or of
 * the whole runtime), run a callback, restart them. {@link Thread.stopTheWorld}
 * and {@link Thread.stopTheWorldGlobal} delegate here; the mechanism is in
 * assembly/stop-the-world.ts.
 * @module
 */
import type { ThreadCore } from './core.ts';

/**
 * @internal Run `fn` with the other threads of `t`'s domain (`global`: of every
 * domain) paused, then restart them — even if `fn` throws or detaches `t`.
 */
export function stopTheWorld<T>(t: ThreadCore, global: boolean, fn: () => T): T {
  t.enter();
  const g = global ? 1 : 0;
  if (t.x.ft_stw_stop(g) !== 0) t.fail();
  try {
    return fn();
  } finally {
    t.reenterFor(() => { if (t.x.ft_stw_start(g) !== 0) t.fail(); });
  }
}
