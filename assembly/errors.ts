// errors.ts — error codes. The core never throws: a failing export returns its
// result convention's failure (abi/result.ts) and leaves the code in this
// instance's `lastError`; the facade turns it into an FtheapError through the
// generated ABI file (the names below are the facade's `code`s).

// @abi-begin errors
export const OK: i32 = 0;
export const ENOMEM: i32 = 1;          // the memory cannot grow enough
export const EINVAL_SIZE: i32 = 2;     // size beyond what can ever be allocated
export const EINVAL_PTR: i32 = 3;      // not a block ftheap handed out (outside, interior, misaligned)
export const EDOUBLE_FREE: i32 = 4;    // the block is already free
export const EINVAL_ALIGN: i32 = 5;    // alignment not a power of two, or too large
export const ENOT_ATTACHED: i32 = 6;   // no attached thread on this instance (or it exited)
export const EINVAL_TAG: i32 = 7;      // tag outside 0..15
export const ENOT_INIT: i32 = 8;       // the runtime root was never initialised
export const EINVAL_HEAP: i32 = 9;     // heap pointer not a heap of the current thread
export const EAGAIN: i32 = 10;         // would have to wait where this thread may not block
export const ECS_DEPTH: i32 = 11;      // critical sections nested deeper than CS_MAX_DEPTH
export const EINVAL_DOMAIN: i32 = 12;  // not a domain of this runtime
export const ENOT_LOCKED: i32 = 13;    // unlock of a mutex that is not locked
export const EINVAL_STATE: i32 = 14;   // the call needs another thread state (e.g. a stop inside a stop)
export const EINVAL_ARG: i32 = 15;     // an argument out of its range (e.g. a QSBR goal, a limit)
export const ERANGE: i32 = 16;         // an index at or past a shared list's length (shared-list.ts)
export const ETIMEDOUT: i32 = 17;      // a wait with a timeout ran out; nothing changed
export const EWRONG_DOMAIN: i32 = 18;  // a block, thread or object of another domain
export const EBUSY: i32 = 19;          // the domain still has threads that have not exited
export const EREFCOUNT: i32 = 20;      // a decref below zero (the object's count is zero already)
export const EINVAL_OBJECT: i32 = 21;  // not a live object (a block of another tag, or deallocated)
export const EINVAL_TYPE: i32 = 22;    // no such type, or a name defined with another layout
export const ENOT_LIFO: i32 = 23;      // a pystack free of anything but a live block start of this thread
export const ESTACK_EXHAUSTED: i32 = 24;   // a pystack allocation that does not fit; nothing changed
export const EHEAP_LOCKED: i32 = 25;   // a GC allocation or collection while this thread holds the heap lock
// @abi-end

/** Per instance, i.e. per thread: Wasm globals are not shared. */
let lastError: i32 = 0;

// @ts-ignore: decorator
@inline export function setError(code: i32): void {
  lastError = code;
}

/** The last error, left in place. */
export function peekError(): i32 {
  return lastError;
}

export function takeError(): i32 {
  const e = lastError;
  lastError = 0;
  return e;
}
