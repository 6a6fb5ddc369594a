// current.ts — this instance's thread, i.e. this Wasm thread's.
//
// Wasm globals are per instance, and every thread instantiates the module itself,
// so these two globals are thread-local storage. `curHeap` is the current thread's
// heap for tag MEM (what ft_malloc uses); while no thread is attached it is the
// read-only EMPTY_HEAP, whose direct table leads every fast path into the slow
// path, which reports ENOT_ATTACHED. Thread-local only: nothing here is shared.

import { loadAcquire, spinHolderSet } from "./atomics";
import { EMPTY_HEAP, T_SERIAL } from "./layout";

export let curThread: usize = 0;
/**
 * The owner word free()'s fast path compares a segment's with: curThread, or
 * 0xFFFFFFFF while none is current. Not 0 then: an abandoned segment's owner word
 * is 0, and an unattached instance's free would take it for its own.
 */
export let curOwnerWord: u32 = 0xFFFFFFFF;
/** The current thread's serial: the owner id its objects carry (brc.ts); 0 while none is current. */
export let curTid: u32 = 0;
// A literal on purpose: an initializer computed from other constants would make
// the compiler emit a start function, which re-runs on every instantiation.
export let curHeap: usize = 1280;   // == EMPTY_HEAP, checked by ft_init
/** The literal above must equal EMPTY_HEAP. */
export const CUR_HEAP_INITIAL_OK: bool = EMPTY_HEAP == 1280;

/**
 * This instance's id (never 0 once set): the owner stamped on the thread records
 * it starts, so that no other instance can enter them, and a reaped record
 * refuses its old instance (lifecycle.ts). Drawn when the instance starts its
 * first thread, or adopted from a reservation made for a worker before it
 * started (ft_instance_reserve).
 */
export let instanceId: u32 = 0;

export function instanceSet(id: u32): void {
  instanceId = id;
  spinHolderSet(id);   // the runtime's spin locks this instance takes carry its id
}

export function currentSet(thread: usize, heap: usize): void {
  curThread = thread;
  curOwnerWord = thread != 0 ? <u32>thread : 0xFFFFFFFF;
  curHeap = heap;
  curTid = thread != 0 ? loadAcquire(thread + T_SERIAL) : 0;
}
