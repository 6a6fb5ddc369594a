/**
 * SharedMap: a hash map from unsigned 32-bit integers to unsigned 32-bit integers
 * in the shared memory, usable from every thread of a runtime. Lookups are
 * lock-free; writes serialize on the map's mutex; tables a write replaces are freed
 * only after every thread has passed a quiescent state (see
 * assembly/shared-map.ts for the mechanism and the linearizability argument).
 * SharedObjectMap: the same map with refcounted objects as values.
 * @module
 */
import { ErrorCode, FtheapError } from './errors.ts';
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

/** Throw `EINVAL_OBJECT` unless `o` could be an object's address (the core checks the rest). */
function checkObject(o: number, what: string): void {
  if (o >>> 0 !== o || o === 0) throw new FtheapError(ErrorCode.EINVAL_OBJECT, `${what} ${o}: not an object`);
}

/**
 * A u32 → object map shared by the threads of one domain: CPython's `dict` with
 * lock-free reads. Values are refcounted objects ({@link Thread.newObject}); the
 * map holds one reference to each of its values.
 *
 * - `get(key)` is lock-free and returns a **new reference** (or `undefined`): the
 *   caller owns it and must `thread.decref` it when done. It is linearizable, and
 *   the object it returns cannot be deallocated while that reference is held,
 *   even if another thread replaces or deletes the entry meanwhile.
 * - `set(key, o)` takes the map's own reference (the caller keeps its own) and
 *   releases the value it replaces; `delete` and `clear` release theirs; `swap`
 *   and `take` hand the old value's reference to the caller (it must decref it);
 *   `compareAndSet` compares object addresses. Writes take the map's mutex
 *   (linearizable with the reads, like {@link SharedMap}); a value is released
 *   after the mutex, so a finalizer may use the map.
 * - Iteration is lock-free and step by step, with the guarantees of
 *   {@link SharedMap.entries}; `entries()`, `values()` and `for...of` yield each
 *   object with a new reference (decref each one); `forEach` lends it for the
 *   callback only; `keys()` takes none.
 * - Only live objects of the map's domain may be stored (`EINVAL_OBJECT`,
 *   `EWRONG_DOMAIN`, nothing changed), and only threads of that domain may use the
 *   map (`EWRONG_DOMAIN`). Its handle is refused by {@link SharedMap.open} (and a
 *   u32 map's by {@link SharedObjectMap.open}): the kind is in the shared header.
 * - `destroy()` releases every value first.
 * - Made with `{ borrowedReads: true }`, the map also offers
 *   {@link getBorrowed}: the object without a reference of its own (no write to
 *   it at all, so readers of the same objects do not contend), good until the
 *   reader's next quiescent state (`checkpoint()`, `detach()`). Such a map lets go
 *   of replaced and removed values only after every thread of the domain has
 *   passed a quiescent state (CPython's delayed decref), so their counts drop a
 *   little later than in a plain map.
 *
 * @example
 * ```ts
 * const type = t.defineType({ name: 'point', size: 8 });
 * const m = SharedObjectMap.create(t);
 * const p = t.newObject(type);       // count 1: ours
 * m.set(7, p);                       // count 2: ours and the map's
 * t.decref(p);                       // the map's only
 * // in any worker of the domain:
 * const q = m2.get(7);               // a new reference, or undefined
 * if (q !== undefined) { try { use(q); } finally { t2.decref(q); } }
 * ```
 */
export class SharedObjectMap extends SharedHandle implements Iterable<[number, number]> {
  private constructor(thread: Thread, handle: number) {
    super(thread, handle, 'object map');
  }

  /**
   * A new empty object map of `thread`'s domain in which `expected` entries fit
   * without a resize.
   * @throws FtheapError `EINVAL_SIZE` (not an integer, or too large), `ENOMEM`, `ENOT_ATTACHED`
   */
  static create(thread: Thread, expected = 8, options: { borrowedReads?: boolean } = {}): SharedObjectMap {
    const borrowed = options.borrowedReads === true;
    return new SharedObjectMap(thread, newHandle(thread, expected, 'expected',
      (x, n) => (borrowed ? x.ft_omap_new_borrowed(n) : x.ft_omap_new(n))));
  }

  /**
   * For a map made with `{ borrowedReads: true }`: the object of `key` without a
   * reference (do not decref it), or `undefined`. Lock-free and write-free; the
   * object stays good until this thread's next quiescent state (checkpoint,
   * detach): incref it to keep it longer.
   * @throws FtheapError `EINVAL_ARG` (key not a u32, or a map made without
   *   borrowed reads), `EINVAL_PTR`, `EWRONG_DOMAIN`, `ENOT_ATTACHED`
   */
  getBorrowed(key: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.decode(this.x.ft_omap_get_borrowed(this.h, key));
  }

  /**
   * The object map whose {@link handle} is `handle`, used through `thread` (of
   * the map's domain).
   * @throws FtheapError `EINVAL_PTR` (not a live object map: a u32 map's handle
   *   too), `EWRONG_DOMAIN`, `ENOT_ATTACHED`
   */
  static open(thread: Thread, handle: number): SharedObjectMap {
    const map = new SharedObjectMap(thread, checkHandle(handle, 'object map'));
    void map.capacity;   // checks the handle
    return map;
  }

  /**
   * The object of `key` with a new reference (decref it when done), or `undefined`.
   * Lock-free.
   * @throws FtheapError `EINVAL_ARG` (key not a u32), `EINVAL_PTR`, `EWRONG_DOMAIN`, `ENOT_ATTACHED`
   */
  get(key: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.decode(this.x.ft_omap_get(this.h, key));
  }

  /** Whether `key` is present (lock-free; no reference taken). */
  has(key: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.answer(this.x.ft_omap_has(this.h, key)) === 1;
  }

  /**
   * Map `key` to object `o` (the map takes its own reference; the caller keeps
   * its own) and release the object it replaces; returns this map.
   * @throws FtheapError `EINVAL_OBJECT` (not a live object), `EWRONG_DOMAIN`,
   *   `EINVAL_ARG`, `ENOMEM` (unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  set(key: number, o: number): this {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    checkObject(o, 'value');
    this.check(this.x.ft_omap_set(this.h, key, o), `key ${key}, object ${o}`);
    return this;
  }

  /**
   * Map `key` to object `o` (as {@link set}); returns the object it replaced with
   * the map's reference, now the caller's (decref it), or `undefined`.
   * @throws FtheapError as {@link set}
   */
  swap(key: number, o: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    checkObject(o, 'value');
    return this.decode(this.x.ft_omap_swap(this.h, key, o));
  }

  /**
   * Map `key` to object `o` only if its object is `expected` (an address;
   * `undefined`: only if absent); whether it did. The replaced object is released.
   * @throws FtheapError as {@link set}; `EINVAL_ARG` (expected neither `undefined` nor a u32)
   */
  compareAndSet(key: number, expected: number | undefined, o: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    if (expected !== undefined) checkU32(expected, 'expected');
    checkObject(o, 'value');
    return this.answer(this.x.ft_omap_compare_and_set(this.h, key, expected ?? -1, o)) === 1;
  }

  /** Remove `key` and release its object; whether it was present. */
  delete(key: number): boolean {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.answer(this.x.ft_omap_delete(this.h, key)) === 1;
  }

  /** Remove `key`; its object with the map's reference, now the caller's (decref it), or `undefined`. */
  take(key: number): number | undefined {
    this.thread.makeCurrent();
    checkU32(key, 'key');
    return this.decode(this.x.ft_omap_take(this.h, key));
  }

  /**
   * Remove every entry at once (one linearization point), then release the objects.
   * @throws FtheapError `ENOMEM` (unchanged: it needs a small table and a list of the values)
   */
  clear(): void {
    this.thread.makeCurrent();
    this.check(this.x.ft_omap_clear(this.h));
  }

  /**
   * The entries as `[key, object]`, each object with a **new reference** the
   * caller must decref (also when it stops early: only the entries already
   * yielded hold one). Lock-free, one step at a time, with the guarantees of
   * {@link SharedMap.entries}; each yielded object was the key's at an instant
   * during its step.
   */
  *entries(): IterableIterator<[number, number]> {
    for (let after = -1; ;) {
      this.thread.makeCurrent();
      const key = this.decode(this.x.ft_omap_next(this.h, after, 1));
      if (key === undefined) return;
      const o = this.x.ft_map_next_value() >>> 0;   // left by the call just above, on this instance
      after = key;
      yield [key, o];
    }
  }

  /** The entries, each object with a new reference (see {@link SharedObjectMap.entries}). */
  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  /** The keys (no references taken), in the order and with the guarantees of {@link SharedMap.entries}. */
  *keys(): IterableIterator<number> {
    for (let after = -1; ;) {
      this.thread.makeCurrent();
      const key = this.decode(this.x.ft_omap_next(this.h, after, 0));
      if (key === undefined) return;
      after = key;
      yield key;
    }
  }

  /** The objects, each with a new reference the caller must decref (see {@link SharedObjectMap.entries}). */
  *values(): IterableIterator<number> {
    for (const [, o] of this.entries()) yield o;
  }

  /**
   * Call `fn(object, key, map)` for each entry, as {@link SharedObjectMap.entries}
   * yields them; the object's reference is held for the call and released after
   * it (`thread.incref` it to keep it).
   */
  forEach(fn: (o: number, key: number, map: this) => void): void {
    for (const [k, o] of this.entries()) {
      try {
        fn(o, k, this);
      } finally {
        this.thread.decref(o);
      }
    }
  }

  /** The number of entries (read under the map's mutex). */
  get size(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_omap_size(this.h));
  }

  /** Slots of the current table (lock-free); it holds up to 3/4 of them. */
  get capacity(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_omap_capacity(this.h));
  }

  /**
   * Release every object ({@link clear}), then free the map as
   * {@link SharedMap.destroy} does. Only when no other thread will use the map
   * again; this object's later calls throw `EINVAL_PTR`.
   * @throws FtheapError `ENOMEM` (nothing changed)
   */
  destroy(): void {
    this.release(this.x.ft_omap_destroy);
  }
}
