// thread.ts — thread records: attach, heaps per tag, exit.
//
// A thread record is what a worker gets when it attaches: its heaps (one per tag,
// made on first use), its segments and free spans, its visit cursor. The record's
// address is the thread id stored in every segment it owns. Records are listed on
// ROOT.threadList forever (stats walk them) and recycled only when an exited
// thread left no segment behind.
//
// Exit (for now, before abandonment exists): every page is switched to
// DELAY_NEVER, remote frees are drained, empty pages and segments are freed; pages
// with live blocks stay owned by the exited record, and other threads can still
// free into them (xthreadFree), which is all they ever need.
//
// See also: current.ts (the thread-local globals), heap.ts, segment.ts.

import { addRelaxed, casAcqRel, loadAcquire, spinLock, spinUnlock, storeRelease } from "./atomics";
import { currentSet, curThread } from "./current";
import { heapCollect, heapInit } from "./heap";
import { metaAlloc } from "./meta";
import { EMPTY_HEAP, HEAP_SIZE, ROOT, R_FREE_THREADS, R_META_LOCK, R_THREADS_LIVE, R_THREAD_LIST,
  R_THREAD_SERIAL, T_FREE_NEXT, T_HEAPS, T_HUGE_COUNT, T_NEXT_ALL, T_SEG_COUNT, T_SERIAL, T_STATE, TAG_COUNT,
  THREAD_ATTACHED, THREAD_EXITED, THREAD_SIZE } from "./layout";

/** The heap of `thread` for `tag`, made on first use; 0 when memory is exhausted. */
export function heapForTag(thread: usize, tag: u32): usize {
  const slot = thread + T_HEAPS + (<usize>tag << 2);
  let heap = <usize>load<u32>(slot);
  if (heap == 0) {
    heap = metaAlloc(HEAP_SIZE);
    if (heap == 0) return 0;
    heapInit(heap, thread, tag);
    store<u32>(slot, <u32>heap);
  }
  return heap;
}

/** Attach a new thread on this instance; returns its record, or 0 (ENOMEM). */
export function threadAttach(): usize {
  let thread: usize = 0;
  spinLock(ROOT + R_META_LOCK);
  thread = <usize>load<u32>(ROOT + R_FREE_THREADS);
  if (thread != 0) store<u32>(ROOT + R_FREE_THREADS, load<u32>(thread, T_FREE_NEXT));
  spinUnlock(ROOT + R_META_LOCK);
  const recycled = thread != 0;
  if (!recycled) {
    thread = metaAlloc(THREAD_SIZE);
    if (thread == 0) return 0;
  } else {
    // Keep the heap records (they are the thread's); reset everything else.
    for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
      const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
      if (heap != 0) { memory.fill(heap, 0, HEAP_SIZE); heapInit(heap, thread, tag); }
    }
    const keepNext = load<u32>(thread, T_NEXT_ALL);
    memory.fill(thread, 0, T_HEAPS);
    store<u32>(thread, keepNext, T_NEXT_ALL);
    memory.fill(thread + T_HEAPS + (<usize>TAG_COUNT << 2), 0, <usize>THREAD_SIZE - T_HEAPS - (<usize>TAG_COUNT << 2));
  }
  store<u32>(thread, addRelaxed(ROOT + R_THREAD_SERIAL, 1) + 1, T_SERIAL);
  const heap = heapForTag(thread, 0);
  if (heap == 0) return 0;
  storeRelease(thread + T_STATE, THREAD_ATTACHED);
  if (!recycled) {
    while (true) {   // push-only list: records are never unlinked
      const head = loadAcquire(ROOT + R_THREAD_LIST);
      store<u32>(thread, head, T_NEXT_ALL);
      if (casAcqRel(ROOT + R_THREAD_LIST, head, <u32>thread)) break;
    }
  }
  addRelaxed(ROOT + R_THREADS_LIVE, 1);
  currentSet(thread, heap);
  return thread;
}

/** Exit the current thread (see the file comment). */
export function threadExit(): void {
  const thread = curThread;
  if (thread == 0) return;
  for (let tag: u32 = 0; tag < TAG_COUNT; tag++) {
    const heap = <usize>load<u32>(thread + T_HEAPS + (<usize>tag << 2));
    if (heap != 0) heapCollect(heap, true, true);
  }
  storeRelease(thread + T_STATE, THREAD_EXITED);
  addRelaxed(ROOT + R_THREADS_LIVE, <u32>-1);
  currentSet(0, EMPTY_HEAP);
  if (load<u32>(thread, T_SEG_COUNT) == 0 && loadAcquire(thread + T_HUGE_COUNT) == 0) {
    spinLock(ROOT + R_META_LOCK);
    store<u32>(thread, load<u32>(ROOT + R_FREE_THREADS), T_FREE_NEXT);
    store<u32>(ROOT + R_FREE_THREADS, <u32>thread);
    spinUnlock(ROOT + R_META_LOCK);
  }
}

/** Make `thread` (attached, owned by this worker) the current one. */
export function threadSetCurrent(thread: usize): bool {
  if (thread == 0 || loadAcquire(thread + T_STATE) != THREAD_ATTACHED) return false;
  currentSet(thread, <usize>load<u32>(thread + T_HEAPS));
  return true;
}

export function threadState(thread: usize): u32 {
  return loadAcquire(thread + T_STATE);
}
