/**
 * SharedMap: a hash map from unsigned 32-bit integers to unsigned 32-bit integers
 * in the shared memory, usable from every thread of a runtime. Lookups are
 * lock-free; writes serialize on the map's mutex; tables a write replaces are freed
 * only after every thread has passed a quiescent state (see
 * assembly/shared-map.ts for the mechanism and the linearizability argument).
 * @module
 */
import { checkHandle, checkU32, newHandle, SharedHandle } from './shared-handle.ts';
import type { Thread } from './thread.ts';

/**
 * A u32 → u32 map shared by the threads of one runtime. Every u32 is a valid key
 * and value (0 and 0xFFFFFFFF included).
 *
 * - `get` and `has` are lock-free (wait-free, in fact: no retry), never allocate,
 *   and are linearizable: a lookup returns what the map held at one instant
 *   during the call. The calling thread must be attached (every method attaches it).
 * - `set` and `delete` take the map's mutex; a thread waiting for it is detached
 *   meanwhile. `size` is read under the mutex too.
 * - The table grows (at 3/4 load, tombstones counted) and shrinks (below 1/8) by
 *   building a new one; the old one is freed once every thread of the domain has
 *   passed a quiescent state (a checkpoint or a detach). Readers that stay
 *   attached should call `thread.checkpoint()` regularly.
 *
 * Post {@link handle} to another worker and {@link SharedMap.open} it there.
 *
 * @example
 * ```ts
 * const m = SharedMap.create(t);
 * m.set(0, 1).set(0xFFFFFFFF, 2);
 * m.get(0);       // 1
 * m.get(5);       // undefined
 * m.delete(0);    // true
 * ```
 */
export class SharedMap extends SharedHandle {
  private readonly getRaw: (map: number, key: number) => number;

  private constructor(thread: Thread, handle: number) {
    super(thread, handle, 'map');
    this.getRaw = this.x.ft_map_get;
  }

  /**
   * A new empty map in which `expected` entries fit without a resize.
   * @throws FtheapError `EINVAL_SIZE` (not an integer, or too large), `ENOMEM`, `ENOT_ATTACHED`
   */
  static create(thread: Thread, expected = 8): SharedMap {
    return new SharedMap(thread, newHandle(thread, expected, 'expected', (x, n) => x.ft_map_new(n)));
  }

  /**
   * The map whose {@link handle} is `handle` (made by any thread of the same
   * runtime), used through `thread`.
   * @throws FtheapError `EINVAL_PTR` (not a live map), `ENOT_ATTACHED`
   */
  static open(thread: Thread, handle: number): SharedMap {
    const map = new SharedMap(thread, checkHandle(handle, 'map'));
    void map.capacity;   // checks the handle
    return map;
  }

  /**
   * The value of `key`, or `undefined`.
   * @throws FtheapError `EINVAL_ARG` (key not a u32), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  get(key: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.decode(this.getRaw(this.h, key));
  }

  /** Whether `key` is present. */
  has(key: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.answer(this.x.ft_map_has(this.h, key)) === 1;
  }

  /**
   * Map `key` to `value`; returns this map.
   * @throws FtheapError `EINVAL_ARG`, `ENOMEM` (the map is unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  set(key: number, value: number): this {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    checkU32(value, 'value');
    this.check(this.x.ft_map_set(this.h, key, value), `key ${key}`);
    return this;
  }

  /** Remove `key`; whether it was present. */
  delete(key: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.answer(this.x.ft_map_delete(this.h, key)) === 1;
  }

  /** The number of entries (read under the map's mutex). */
  get size(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_map_size(this.h));
  }

  /** Slots of the current table (lock-free); it holds up to 3/4 of them. */
  get capacity(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_map_capacity(this.h));
  }

  /**
   * Free the map: its header and its table after a grace period (a read racing
   * the destroy gets the old contents or `EINVAL_PTR`). Only when no
   * other thread will use the map again; this object's later calls throw
   * `EINVAL_PTR`.
   */
  destroy(): void {
    this.release(this.x.ft_map_destroy);
  }
}
