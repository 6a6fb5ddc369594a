/**
 * SharedList: a resizable array of unsigned 32-bit integers in the shared memory,
 * usable from every thread of a runtime. Reads are lock-free; writes serialize on
 * the list's mutex; storage a write replaces is freed only after every thread has
 * passed a quiescent state (see assembly/shared-list.ts for the mechanism).
 * @module
 */
import { ErrorCode, FtheapError } from './errors.ts';
import { checkHandle, checkU32, newHandle, SharedHandle } from './shared-handle.ts';
import type { Thread } from './thread.ts';

/**
 * A list of u32 values shared by the threads of one runtime.
 *
 * - `get`, `length`, `capacity` and iteration are lock-free: they never wait and
 *   never allocate, each read is linearizable, and a read sees one consistent
 *   (capacity, length, items) state of the list, never freed or half-copied
 *   memory. The calling thread must be attached (every method attaches it).
 * - `set`, `push`, `pop`, `resize`, `compact` and `clear` take the list's mutex; a
 *   thread waiting for it is detached meanwhile, so a stop-the-world does not wait
 *   for it.
 * - When the capacity changes, the items move to a new array; the old one is
 *   freed once every thread of the domain has passed a quiescent state (a
 *   checkpoint or a detach). Readers that stay attached should call
 *   `thread.checkpoint()` regularly, or old arrays pile up.
 *
 * A list lives in the shared memory, not in this object: post {@link handle} to
 * another worker and {@link SharedList.open} it there with that worker's thread.
 *
 * @example
 * ```ts
 * const list = SharedList.create(t);
 * list.push(7); list.push(0xFFFFFFFF);
 * worker.postMessage(list.handle);
 * // in the worker:
 * const l = SharedList.open(t2, handle);
 * l.get(1);   // 4294967295
 * ```
 */
export class SharedList extends SharedHandle implements Iterable<number> {
  private readonly getRaw: (list: number, index: number) => number;

  private constructor(thread: Thread, handle: number) {
    super(thread, handle, 'list');
    this.getRaw = this.x.ft_list_get;
  }

  /**
   * A new empty list with room for `capacity` items before its first reallocation.
   * @throws FtheapError `EINVAL_SIZE` (capacity not an integer 0..2^28), `ENOMEM`, `ENOT_ATTACHED`
   */
  static create(thread: Thread, capacity = 8): SharedList {
    return new SharedList(thread, newHandle(thread, capacity, 'capacity', (x, n) => x.ft_list_new(n)));
  }

  /**
   * The list whose {@link handle} is `handle` (made by any thread of the same
   * runtime), used through `thread`.
   * @throws FtheapError `EINVAL_PTR` (not a live list), `ENOT_ATTACHED`
   */
  static open(thread: Thread, handle: number): SharedList {
    const list = new SharedList(thread, checkHandle(handle, 'list'));
    void list.length;   // checks the handle
    return list;
  }

  /**
   * The item at `index`.
   * @throws FtheapError `ERANGE` (not an integer below the length), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  get(index: number): number {
    this.thread.makeCurrent();
    if (index >>> 0 !== index) throw new FtheapError(ErrorCode.ERANGE, `index ${index}`);
    const v = this.decode(this.getRaw(this.h, index));
    if (v === undefined) throw new FtheapError(ErrorCode.ERANGE, `index ${index}`);   // past the end
    return v;
  }

  /** The number of items (lock-free). */
  get length(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_list_length(this.h));
  }

  /** Items the current array holds before the next reallocation (lock-free). */
  get capacity(): number {
    this.thread.makeCurrent();
    return this.answer(this.x.ft_list_capacity(this.h));
  }

  /**
   * Replace the item at `index`.
   * @throws FtheapError `ERANGE`, `EINVAL_ARG` (value not a u32), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  set(index: number, value: number): void {
    this.thread.makeCurrent();
    if (index >>> 0 !== index) throw new FtheapError(ErrorCode.ERANGE, `index ${index}`);
    checkU32(value, 'value');
    this.check(this.x.ft_list_set(this.h, index, value), `index ${index}`);
  }

  /**
   * Append `value`.
   * @throws FtheapError `EINVAL_ARG`, `ENOMEM` (the list is unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  push(value: number): void {
    this.thread.makeCurrent();
    checkU32(value, 'value');
    this.check(this.x.ft_list_push(this.h, value));
  }

  /** Remove and return the last item; `undefined` when the list is empty. */
  pop(): number | undefined {
    this.thread.makeCurrent();
    return this.decode(this.x.ft_list_pop(this.h));
  }

  /**
   * Set the length to `length`: items past it are dropped, new items are 0. The
   * array shrinks when the length falls below a quarter of the capacity.
   * @throws FtheapError `EINVAL_SIZE` (not an integer 0..2^28), `ENOMEM` (unchanged), `EINVAL_PTR`, `ENOT_ATTACHED`
   */
  resize(length: number): void {
    this.thread.makeCurrent();
    if (length >>> 0 !== length) throw new FtheapError(ErrorCode.EINVAL_SIZE, `length ${length}`);
    this.check(this.x.ft_list_resize(this.h, length), `length ${length}`);
  }

  /** Remove every item (`resize(0)`). */
  clear(): void {
    this.resize(0);
  }

  /** Shrink the capacity to the length (at least 4). @throws FtheapError `ENOMEM` (unchanged) */
  compact(): void {
    this.thread.makeCurrent();
    this.check(this.x.ft_list_compact(this.h));
  }

  /**
   * Free the list: its header and its items after a grace period (a read racing
   * the destroy gets the old contents or `EINVAL_PTR`). Only when no
   * other thread will use the list again; this object's later calls throw
   * `EINVAL_PTR`.
   */
  destroy(): void {
    this.release(this.x.ft_list_destroy);
  }

  /**
   * The items from index 0 until the end, each read lock-free when the iteration
   * reaches it: the length is re-checked at every step, so with concurrent
   * writers the result is not one snapshot.
   */
  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; ; i++) {
      this.thread.makeCurrent();
      const v = this.decode(this.getRaw(this.h, i));
      if (v === undefined) return;
      yield v;
    }
  }

  /** The items as an array (see the iterator: one read per item, not a snapshot under concurrent writes). */
  toArray(): number[] {
    return [...this];
  }
}
