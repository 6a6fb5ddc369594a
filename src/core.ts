/**
 * The core as the facade sees it: the raw Wasm exports, and what the concept
 * files (stop-the-world, mutex, critical sections, delayed free, visit, QSBR) are
 * given of a thread. Declarations only: this file imports nothing.
 * @module
 */

/**
 * The raw Wasm exports (`ft_*`) of one instance ({@link Runtime.exports}), callable
 * with no facade cost. Pointers are i32: use `>>> 0`. The raw calls act for the
 * thread that is current on the instance ({@link Runtime.current}), return codes
 * instead of throwing, and skip the facade's argument checks.
 *
 * The method names here are exactly the module's exports (test/exports.test.ts
 * checks both builds).
 *
 * @example
 * ```ts
 * const t = rt.attach();          // t is now current on rt's instance
 * const p = rt.exports.ft_malloc(64) >>> 0;
 * if (p === 0) console.log('error code', rt.exports.ft_last_error());
 * ```
 */
export interface CoreExports {
  ft_init(maxPages: number): number;
  ft_commit_exact(): number;
  ft_domain_default(): number;
  ft_domain_create(): number;
  ft_domain_version(domain: number): number;
  ft_domain_set_version(domain: number, version: number): number;
  ft_domain_threads_live(domain: number): number;
  ft_domain_valid(domain: number): number;
  ft_thread_attach(): number;
  ft_thread_attach_new(domain: number): number;
  ft_thread_enter(thread: number, mayBlock: number): number;
  ft_thread_enter_timed(thread: number, timeoutMs: number): number;
  ft_thread_detach(): number;
  ft_thread_exit(): number;
  ft_thread_current(): number;
  ft_thread_state(thread: number): number;
  ft_thread_breaker(thread: number): number;
  ft_thread_domain(thread: number): number;
  ft_checkpoint(): number;
  ft_reclaim_abandoned(): number;
  ft_abandoned_visit_begin(tag: number): number;
  ft_abandoned_visit_next(): number;
  ft_thread_reap(domain: number, thread: number): number;
  ft_thread_held_lock(thread: number, i: number): number;
  ft_thread_reaped(thread: number): number;
  ft_thread_owner(thread: number): number;
  ft_thread_idle_ms(thread: number): number;
  ft_reap_instance(instance: number): number;
  ft_instance_release_dead(instance: number): number;
  ft_reap_blocker(): number;
  ft_domain_thread_next(domain: number, thread: number): number;
  ft_domain_close(domain: number): number;
  ft_thread_next_all(thread: number): number;
  ft_instance_id(): number;
  ft_instance_reserve(): number;
  ft_instance_adopt(id: number): number;
  ft_instance_unreserve(id: number): number;
  ft_abandoned_collect(domain: number): number;
  ft_abandon_info(domain: number, field: number): number;
  ft_heap_map(buf: number, bytes: number, fromUnit: number): number;
  ft_heap_map_scratch(): number;
  ft_heap_map_scratch_release(buf: number): number;
  ft_interrupt(thread: number): number;
  ft_set_can_block(value: number): void;
  ft_stw_stop(global: number): number;
  ft_stw_stop_timed(global: number, timeoutMs: number): number;
  ft_stw_start(global: number): number;
  ft_stw_begin(global: number): number;
  ft_stw_poll(global: number): number;
  ft_stw_cancel(global: number): number;
  ft_stw_word(global: number, which: number): number;
  ft_mutex_lock(m: number): number;
  ft_mutex_trylock(m: number, spin: number): number;
  ft_mutex_unlock(m: number, holder?: number): number;
  ft_mutex_lock_timed(m: number, timeoutMs: number): number;
  ft_mutex_wait_begin(m: number, holder?: number): number;
  ft_mutex_wait_step(m: number, startMs: number, holder?: number): number;
  ft_mutex_wait_cancel(m: number, holder?: number): number;
  ft_mutex_adopt(m: number, holder?: number): number;
  ft_mutex_adopt_end(): number;
  ft_handle_hold(h: number): number;
  ft_handle_hold_end(): void;
  ft_cs_begin(m: number): number;
  ft_cs_begin2(a: number, b: number): number;
  ft_cs_end(token: number): number;
  ft_cs_end_detached(thread: number, token: number): number;
  ft_cs_depth(): number;
  ft_heap(tag: number): number;
  ft_collect(force: number): void;
  ft_malloc(size: number): number;
  ft_calloc(count: number, size: number): number;
  ft_realloc(ptr: number, size: number): number;
  ft_aligned_alloc(align: number, size: number): number;
  ft_free(ptr: number): number;
  ft_free_now(ptr: number): number;
  ft_delayed_is_pending(ptr: number): number;
  ft_remote_batching(on: number): void;
  ft_share_pages(): number;
  /** Trusted callers: no validation, no double-free test; a bad pointer is undefined behaviour. */
  ft_free_unchecked(ptr: number): void;
  /** The current thread's batch buffer (`BATCH_SCRATCH_BYTES`, kept with its record), 0 with ENOT_ATTACHED / ENOMEM. */
  ft_batch_scratch(): number;
  /** `n` blocks of `size` into the u32 array at `buf`, all or nothing: status. */
  ft_malloc_many(buf: number, n: number, size: number): number;
  /** A block for each size buf[i], written over it, all or nothing: status. */
  ft_malloc_sizes(buf: number, n: number): number;
  /** Free buf[0..n) (n ≤ BATCH_MAX), each entry replaced by its code: how many failed, or -code. */
  ft_free_many(buf: number, n: number): number;
  ft_usable_size(ptr: number): number;
  ft_heap_malloc(heap: number, size: number): number;
  ft_heap_calloc(heap: number, count: number, size: number): number;
  ft_heap_aligned_alloc(heap: number, align: number, size: number): number;
  ft_visit_begin(tag: number): number;
  ft_visit_next(): number;
  ft_stats_snapshot(thread: number, tag: number): number;
  ft_stats_release(): void;
  ft_stats_reset_peak(): void;
  ft_last_error(): number;
  ft_bin_of(size: number): number;
  ft_bin_size(bin: number): number;
  ft_max_alloc_size(): number;
  ft_memory_pages(): number;
  ft_memory_sync(): number;
  ft_debug_page_valid(page: number): number;
  /** Run every validator the current thread may run: 0, or the failing assert code (`ABI_ASSERTS`). */
  ft_debug_validate(): number;
  /** The assert that trapped on this instance (0: none). */
  ft_assert_code(): number;
  /** The first assert that failed on any thread (0: none). */
  ft_assert_first(): number;
  /** The assert tier compiled in: 0 release, 3 debug. */
  ft_assert_level(): number;
  ft_free_delayed(ptr: number): number;
  ft_delayed_process(): number;
  ft_delayed_pending(): number;
  ft_qsbr_advance(): number;
  ft_qsbr_deferred_advance(): number;
  ft_qsbr_poll(goal: number): number;
  ft_qsbr_goal_reached(goal: number): number;
  ft_qsbr_quiescent(): number;
  ft_qsbr_thread_seq(thread: number): number;
  ft_qsbr_info(domain: number, field: number): number;
  ft_qsbr_configure(domain: number, deferLimit: number, freeLimit: number, pageLimit: number, heldTags: number): number;
  ft_qsbr_pending_goal(domain: number): number;
  ft_qsbr_blocker(domain: number, goal: number, prev: number): number;
  // ---- SharedList and SharedMap (assembly/shared-list.ts, shared-map.ts) ----
  // f64 results: a value, -1 (nothing there) or -2 (error: ft_last_error); i32: OK/code, or an answer / -code.
  ft_list_new(capacity: number): number;
  ft_list_get(list: number, index: number): number;
  ft_list_get_locked(list: number, index: number): number;
  ft_list_length(list: number): number;
  ft_list_capacity(list: number): number;
  ft_list_set(list: number, index: number, value: number): number;
  ft_list_push(list: number, value: number): number;
  ft_list_pop(list: number): number;
  ft_list_resize(list: number, length: number): number;
  ft_list_compact(list: number): number;
  ft_list_destroy(list: number): number;
  ft_debug_list_valid(list: number): number;
  ft_map_new(expected: number): number;
  ft_map_get(map: number, key: number): number;
  ft_map_get_locked(map: number, key: number): number;
  ft_map_has(map: number, key: number): number;
  ft_map_set(map: number, key: number, value: number): number;
  ft_map_delete(map: number, key: number): number;
  ft_map_swap(map: number, key: number, value: number): number;
  ft_map_compare_and_set(map: number, key: number, expected: number, value: number): number;
  ft_map_take(map: number, key: number): number;
  ft_map_next(map: number, after: number): number;
  ft_map_next_value(): number;
  ft_map_size(map: number): number;
  ft_map_capacity(map: number): number;
  // Object maps (u32 -> object; values are counted references): get, get_locked, swap, take and
  // next with withRef 1 hand the caller a reference it must decref.
  ft_omap_new(expected: number): number;
  ft_omap_new_borrowed(expected: number): number;
  ft_omap_get_borrowed(map: number, key: number): number;
  ft_omap_get(map: number, key: number): number;
  ft_omap_get_locked(map: number, key: number): number;
  ft_omap_has(map: number, key: number): number;
  ft_omap_set(map: number, key: number, o: number): number;
  ft_omap_swap(map: number, key: number, o: number): number;
  ft_omap_compare_and_set(map: number, key: number, expected: number, o: number): number;
  ft_omap_take(map: number, key: number): number;
  ft_omap_delete(map: number, key: number): number;
  ft_omap_clear(map: number): number;
  ft_omap_next(map: number, after: number, withRef: number): number;
  ft_omap_size(map: number): number;
  ft_omap_capacity(map: number): number;
  ft_omap_destroy(map: number): number;
  ft_debug_omap_valid(map: number): number;
  ft_type_define(name: number, nameLength: number, size: number, flags: number, refs: number, nRefs: number): number;
  ft_type_record(id: number): number;
  ft_type_count(): number;
  ft_type_set_finalize(id: number): number;
  ft_obj_new(type: number, extra: number): number;
  ft_obj_incref(o: number): number;
  ft_obj_decref(o: number): number;
  ft_obj_try_incref(o: number): number;
  ft_obj_refcount(o: number): number;
  ft_obj_set_ref(o: number, offset: number, v: number): number;
  ft_obj_get_ref(o: number, offset: number): number;
  ft_obj_share(o: number): number;
  ft_obj_immortalize(o: number): number;
  ft_obj_type(o: number): number;
  ft_obj_is_live(o: number): number;
  ft_obj_is_owned(o: number): number;
  ft_obj_merge_queued(): number;
  ft_obj_stats(domain: number, field: number): number;
  ft_gc_collect(): number;
  ft_gc_collect_scheduled(): number;
  ft_gc_result(field: number): number;
  ft_gc_sweep_all(): number;
  ft_gc_info_scan(): number;
  ft_gc_info(field: number): number;
  ft_gc_lock(): number;
  ft_gc_unlock(): number;
  ft_gc_lock_depth(): number;
  ft_gc_get(domain: number, field: number): number;
  ft_gc_set(domain: number, field: number, value: number): number;
  ft_map_destroy(map: number): number;
  ft_debug_map_valid(map: number): number;
  ft_pystack_alloc(n: number): number;
  ft_pystack_free(p: number): number;
  ft_pystack_pop_to(depth: number): number;
  ft_pystack_set_size(thread: number, bytes: number): number;
  ft_pystack_info(thread: number, field: number): number;
  ft_debug_read_delay(spins: number): void;
  ft_debug_pause_at(point: number, flag: number, hits: number): void;
  ft_debug_fill_follow(word: number, rounds: number, mode: number): number;
  ft_debug_grow_publish(word: number, rounds: number): number;
  [name: string]: unknown;
}

/**
 * @internal What the concept files need of a thread: its instance's exports and
 * its record, and the thread-state steps every call goes through. A {@link Thread}
 * builds one for itself (its methods delegate with it); nothing else makes one.
 */
export interface ThreadCore {
  /** The raw exports of the thread's instance. */
  readonly x: CoreExports;
  /** The thread record's address. */
  readonly id: number;
  /** The runtime's shared memory (async waits watch words in it). */
  readonly memory: WebAssembly.Memory;
  /**
   * Make the thread attached and current on its instance before a raw call.
   * Throws `ENOT_ATTACHED` after exit or a user's detach.
   */
  enter(): void;
  /** Throw the core's last error (`ft_last_error`), with `detail`. */
  fail(detail?: string): never;
  /**
   * Run `finish` (the end of a stop or a critical section) attached, even if the
   * caller's callback detached the thread; then leave it detached as the callback did.
   */
  reenterFor(finish: () => void): void;
  /**
   * Before an asynchronous wait: detach the thread if it is the attached,
   * current one outside any critical section (a stop then need not wait for it,
   * as for a synchronous lock's wait). True if it did.
   */
  parkForWait(): boolean;
  /**
   * Run `fn` attached and current, never blocking the JS thread: while a stop
   * holds the thread suspended it waits with Atomics.waitAsync. `fn` runs in the
   * same turn as the successful attach. Past `deadline` (performance.now()
   * milliseconds) while still suspended: `ETIMEDOUT`, the thread left suspended.
   */
  enterAsync<T>(fn: () => T, deadline?: number): Promise<T>;
  /**
   * Whether the thread (not exited) is detached now: by the user ({@link Thread.detach}),
   * or because another thread became current on its instance, or a reap detached it.
   */
  detachedNow(): boolean;
}
