/**
 * Typed errors. Every failure of the facade is an {@link FtheapError} whose `code`
 * names what went wrong; the heap is left exactly as it was before the call.
 * @module
 */

import { ABI_ASSERTS, ABI_ERRORS } from './abi.gen.ts';

/** Error codes: the core's (assembly/errors.ts, through the generated ABI file) and the facade's own. */
export const ErrorCode = {
  ENOMEM: 'ENOMEM',
  EINVAL_SIZE: 'EINVAL_SIZE',
  EINVAL_PTR: 'EINVAL_PTR',
  EDOUBLE_FREE: 'EDOUBLE_FREE',
  EINVAL_ALIGN: 'EINVAL_ALIGN',
  ENOT_ATTACHED: 'ENOT_ATTACHED',
  EINVAL_TAG: 'EINVAL_TAG',
  ENOT_INIT: 'ENOT_INIT',
  EINVAL_HEAP: 'EINVAL_HEAP',
  EAGAIN: 'EAGAIN',
  ECS_DEPTH: 'ECS_DEPTH',
  EINVAL_DOMAIN: 'EINVAL_DOMAIN',
  ENOT_LOCKED: 'ENOT_LOCKED',
  EINVAL_STATE: 'EINVAL_STATE',
  EINVAL_ARG: 'EINVAL_ARG',
  EINTERRUPTED: 'EINTERRUPTED',
  EINVAL_OPTION: 'EINVAL_OPTION',
  EPLATFORM: 'EPLATFORM',
  ELOAD: 'ELOAD',
  ERANGE: 'ERANGE',
  ETIMEDOUT: 'ETIMEDOUT',
  EWRONG_DOMAIN: 'EWRONG_DOMAIN',
  EBUSY: 'EBUSY',
  EREFCOUNT: 'EREFCOUNT',
  EINVAL_OBJECT: 'EINVAL_OBJECT',
  EINVAL_TYPE: 'EINVAL_TYPE',
  ENOT_LIFO: 'ENOT_LIFO',
  ESTACK_EXHAUSTED: 'ESTACK_EXHAUSTED',
  EHEAP_LOCKED: 'EHEAP_LOCKED',
  EINTERNAL: 'EINTERNAL',
  EASSERT: 'EASSERT',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The core's numeric codes → names, from the generated table (OK, 0, is no error). */
const CORE_CODES = new Map<number, ErrorCode>();
for (const [name, code] of Object.entries(ABI_ERRORS)) {
  if (name !== 'OK') CORE_CODES.set(code, ErrorCode[name as keyof typeof ErrorCode]);
}

const MESSAGES: Record<ErrorCode, string> = {
  ENOMEM: 'out of memory: the shared memory cannot grow enough',
  EINVAL_SIZE: 'invalid size: must be an integer from 0 to the largest allocation',
  EINVAL_PTR: 'invalid pointer: not the start of a block that ftheap handed out',
  EDOUBLE_FREE: 'double free: the block is already free',
  EINVAL_ALIGN: 'invalid alignment: must be a power of two, at most 2 MiB',
  ENOT_ATTACHED: 'thread not attached: the detail says whether it was detached, has exited, was reaped, or never attached here',
  EINVAL_TAG: 'invalid tag: must be an integer from 0 to 15',
  ENOT_INIT: 'runtime not initialised',
  EINVAL_HEAP: 'invalid heap for this thread',
  EAGAIN: 'would have to wait, and this thread may not block (browser main thread): retry, or use the async variant',
  ECS_DEPTH: 'critical sections nested too deeply (64 at most)',
  EINVAL_DOMAIN: 'not a domain of this runtime',
  ENOT_LOCKED: 'unlock of a mutex that is not locked',
  EINVAL_STATE: 'not allowed in this thread state (e.g. a stop-the-world inside another)',
  EINVAL_ARG: 'invalid argument: out of its range',
  EINTERRUPTED: 'interrupted by another thread',
  EINVAL_OPTION: 'invalid option',
  EPLATFORM: 'platform does not support shared WebAssembly memory here',
  ELOAD: 'cannot load the ftheap core (the .wasm file): missing, not served at its URL, or not WebAssembly',
  ERANGE: 'index out of range: not an integer below the length of the shared list',
  ETIMEDOUT: 'timed out: the wait ran past its timeoutMs; nothing was changed',
  EWRONG_DOMAIN: 'wrong domain: the block or thread belongs to another domain',
  EBUSY: 'busy: the domain still has threads that have not exited',
  EREFCOUNT: 'reference count error: a decref of an object whose count is already zero',
  EINVAL_OBJECT: 'invalid object: not a live object of this domain (another block, or one already deallocated)',
  EINVAL_TYPE: 'invalid type: no such type in this domain, or the name was defined with another layout',
  ENOT_LIFO: 'not LIFO: a pystack free needs the start of a live pystack block of this thread (not another thread\'s, not an interior pointer, not a block already released); nothing was freed',
  ESTACK_EXHAUSTED: 'pystack exhausted: the allocation does not fit in this thread\'s pystack (attach with a larger stackBytes); nothing was allocated',
  EHEAP_LOCKED: 'heap locked: this thread holds the GC heap lock (d.gc.lock()), so it cannot make GC objects or collect',
  EINTERNAL: 'internal error: the core returned a code the facade does not know (a bug in ftheap)',
  EASSERT: 'an internal assert of the core failed (debug build): the shared state is inconsistent (a bug in ftheap or memory corruption)',
};

/**
 * The error every ftheap call throws.
 *
 * @example
 * ```ts
 * try { t.free(p); } catch (e) {
 *   if (e instanceof FtheapError && e.code === 'EDOUBLE_FREE') console.warn('freed twice', p);
 * }
 * ```
 */
export class FtheapError extends Error {
  /** What went wrong; stable, meant for programs. */
  readonly code: ErrorCode;
  /**
   * `ETIMEDOUT` and `EBUSY`: the ids of the threads that held the call up (a
   * stop-the-world's unpaused threads, a domain's unexited threads). Empty otherwise.
   */
  readonly blockers: readonly number[];
  /**
   * `Thread.freeMany`: every entry of the list that failed, in list order (the
   * others were freed). Empty otherwise.
   */
  readonly bad: readonly BadEntry[];

  constructor(code: ErrorCode, detail?: string, blockers: readonly number[] = [], bad: readonly BadEntry[] = []) {
    super(detail ? `${MESSAGES[code]} (${detail})` : MESSAGES[code]);
    this.name = 'FtheapError';
    this.code = code;
    this.blockers = blockers;
    this.bad = bad;
  }
}

/** An entry of a batch call that failed (`FtheapError.bad`): its index in the list and what was wrong. */
export interface BadEntry {
  /** Index in the list the call was given. */
  readonly index: number;
  /** Why that entry failed (`EINVAL_PTR`, `EDOUBLE_FREE`, `EWRONG_DOMAIN`, ...). */
  readonly code: ErrorCode;
}

/** @internal The error code name of a numeric core code (`EINTERNAL` for one the table lacks). */
export function coreCodeName(code: number): ErrorCode {
  return CORE_CODES.get(code) ?? ErrorCode.EINTERNAL;
}

/** What a bad mutex address is told (the core's EINVAL_PTR: a mutex is a word, not a block). */
const MUTEX_ADDRESS = 'invalid mutex address: a mutex must be a 4-aligned 32-bit word inside the shared memory (past the runtime root), zero-initialised';

/** @internal The error for a bad mutex address (code `EINVAL_PTR`); `what` names it ("mutex 3"). */
export function mutexAddressError(what: string): FtheapError {
  return errorSaying(ErrorCode.EINVAL_PTR, MUTEX_ADDRESS, what);
}

/** @internal An error of `code` whose message is `message` instead of the code's usual one (where that one would mislead). */
export function errorSaying(code: ErrorCode, message: string, detail?: string): FtheapError {
  const e = new FtheapError(code, detail);
  e.message = detail ? `${message} (${detail})` : message;
  return e;
}

/**
 * @internal The `EAGAIN` of a reap that did nothing: instance `blocker` (the
 * core's ft_reap_blocker) held a lock or role the reap needs. `what` names what
 * was being reaped.
 */
export function reapBlockedError(blocker: number, what: string): FtheapError {
  return errorSaying(ErrorCode.EAGAIN, `instance ${blocker} holds a runtime lock this reap needs: if its JS thread is gone `
    + 'too, reap it first (or both at once: reapInstance(rt, [a, b])), else retry later; nothing was reaped '
    + '(never reap a live instance: that releases locks it still uses)', what);
}

/**
 * Thrown by a checkpoint (explicit, or inside a call that checkpoints) after
 * another thread called `interrupt()` on this one.
 */
export class InterruptError extends FtheapError {
  constructor() {
    super(ErrorCode.EINTERRUPTED);
    this.name = 'InterruptError';
  }
}

/**
 * @internal The FtheapError for a numeric core code; a code the table does not
 * have (0 included: a failure without a code) is `EINTERNAL`, never a guess.
 */
export function coreError(code: number, detail?: string): FtheapError {
  const name = CORE_CODES.get(code);
  if (name === undefined) return new FtheapError(ErrorCode.EINTERNAL, `core code ${code}${detail ? `; ${detail}` : ''}`);
  return new FtheapError(name, detail);
}

/** @internal The `EASSERT` error for the core's assert `code` (assembly/assert.ts A_*), failed in `where`. */
export function assertError(code: number, where: string): FtheapError {
  const name = Object.entries(ABI_ASSERTS).find(([, v]) => v === code)?.[0] ?? `assert ${code}`;
  return new FtheapError(ErrorCode.EASSERT, `${name} (${code}) failed in ${where}`);
}
