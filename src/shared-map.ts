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

/** The raw exports' "nothing there": an absent key, or an iteration's start and end. */
const NONE = -1;

/**
 * A u32 → u32 map shared by the threads of one runtime. Every u32 is a valid key
 * and value (0 and 0xFFFFFFFF included).
 *
 * - `get` and `has` are lock-free (wait-free, in fact: no retry), never allocate,
 *   and are linearizable: a lookup returns what the map held at one instant
 *   during the call. The calling thread must be attached (every method attaches it).
 * - `set`, `swap`, `compareAndSet`, `take` and `delete` take the map's mutex; a
 *   thread waiting for it is detached meanwhile. They are linearizable with the
 *   lock-free reads: the old value `swap` and `take` return, and the value
 *   `compareAndSet` compares, is the map's value just before the write took
 *   effect. `size` is read under the mutex too.
 * - Iteration (`entries`, `keys`, `values`, `forEach`, `for...of`) is lock-free
 *   and step by step, not a snapshot; see {@link SharedMap.entries} for what it
 *   guarantees while other threads write.
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
 * m.swap(5, 7);                   // undefined (5 was absent; now 7)
 * m.compareAndSet(5, 7, 8);       // true
 * m.compareAndSet(6, undefined, 1);   // true: only if absent
 * m.take(5);                      // 8 (removed)
 * for (const [k, v] of m) console.log(k, v);
 * ```
 */
export class SharedMap extends SharedHandle implements Iterable<[number, number]> {
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

  /**
   * Map `key` to `value`; returns the value it replaced, or `undefined` if `key`
   * was absent.
   * @throws FtheapError `EINVAL_ARG`, `ENOMEM` (the map is unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  swap(key: number, value: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    checkU32(value, 'value');
    return this.decode(this.x.ft_map_swap(this.h, key, value));
  }

  /**
   * Map `key` to `value` only if its value is `expected` (`undefined`: only if
   * `key` is absent); whether it did.
   *
   * @example
   * ```ts
   * // An exact counter shared by workers:
   * for (;;) {
   *   const v = m.get(k);
   *   if (m.compareAndSet(k, v, (v ?? 0) + 1)) break;
   * }
   * ```
   * @throws FtheapError `EINVAL_ARG` (key, value, or expected neither `undefined`
   *   nor a u32), `ENOMEM` (the map is unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  compareAndSet(key: number, expected: number | undefined, value: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    if (expected !== undefined) checkU32(expected, 'expected');
    checkU32(value, 'value');
    return this.answer(this.x.ft_map_compare_and_set(this.h, key, expected ?? NONE, value)) === 1;
  }

  /** Remove `key`; whether it was present. */
  delete(key: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.answer(this.x.ft_map_delete(this.h, key)) === 1;
  }

  /** Remove `key`; the value it had, or `undefined` if it was absent. */
  take(key: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.decode(this.x.ft_map_take(this.h, key));
  }

  /**
   * The entries as `[key, value]`, read lock-free one step at a time (each step
   * one Wasm call that scans a few slots; nothing is copied or locked, and the
   * thread may checkpoint, detach or await between steps). Keys come in a fixed
   * order that depends only on the keys (their hash), not on insertion or on the
   * table. With other threads writing meanwhile, this is not a snapshot, but:
   *
   * - a key is yielded at most once per iteration, whatever is inserted, deleted,
   *   re-inserted or rebuilt meanwhile;
   * - every key present for the whole iteration (from the first `next()` until
   *   the one that ends it) is yielded exactly once, even across table rebuilds;
   * - each yielded `[key, value]` was in the map at some instant during the step
   *   that yielded it;
   * - keys inserted or deleted during the iteration may or may not be yielded, and
   *   the yielded pairs need not have been in the map together at any one instant.
   *
   * Deleting the key just yielded, or others, while iterating is safe.
   * @throws FtheapError `EINVAL_PTR` (destroyed), `ENOT_ATTACHED` — from the step that meets it
   */
  *entries(): IterableIterator<[number, number]> {
    for (let after = NONE; ;) {
      this.thread.makeCurrent();
      const key = this.decode(this.x.ft_map_next(this.h, after));
      if (key === undefined) return;
      const value = this.x.ft_map_next_value() >>> 0;   // left by the call just above, on this instance
      after = key;
      yield [key, value];
    }
  }

  /** The entries (see {@link SharedMap.entries} for what iteration guarantees). */
  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  /** The keys, in the order and with the guarantees of {@link SharedMap.entries}. */
  *keys(): IterableIterator<number> {
    for (const [k] of this.entries()) yield k;
  }

  /** The values, in the order and with the guarantees of {@link SharedMap.entries}. */
  *values(): IterableIterator<number> {
    for (const [, v] of this.entries()) yield v;
  }

  /** Call `fn(value, key, map)` for each entry, as {@link SharedMap.entries} yields them. */
  forEach(fn: (value: number, key: number, map: this) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
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
