/**
 * Typed errors. Every failure of the facade is an {@link FtheapError} whose `code`
 * names what went wrong; the heap is left exactly as it was before the call.
 * @module
 */

/** Error codes, shared with the Wasm core (assembly/errors.ts). */
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
  ERANGE: 'ERANGE',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Numeric codes of the core, by position (0 = OK). */
const CORE_CODES: readonly ErrorCode[] = [
  ErrorCode.ENOMEM, ErrorCode.ENOMEM, ErrorCode.EINVAL_SIZE, ErrorCode.EINVAL_PTR, ErrorCode.EDOUBLE_FREE,
  ErrorCode.EINVAL_ALIGN, ErrorCode.ENOT_ATTACHED, ErrorCode.EINVAL_TAG, ErrorCode.ENOT_INIT, ErrorCode.EINVAL_HEAP,
  ErrorCode.EAGAIN, ErrorCode.ECS_DEPTH, ErrorCode.EINVAL_DOMAIN, ErrorCode.ENOT_LOCKED, ErrorCode.EINVAL_STATE,
  ErrorCode.EINVAL_ARG, ErrorCode.ERANGE,
];

const MESSAGES: Record<ErrorCode, string> = {
  ENOMEM: 'out of memory: the shared memory cannot grow enough',
  EINVAL_SIZE: 'invalid size: must be an integer from 0 to the largest allocation',
  EINVAL_PTR: 'invalid pointer: not the start of a block that ftheap handed out',
  EDOUBLE_FREE: 'double free: the block is already free',
  EINVAL_ALIGN: 'invalid alignment: must be a power of two, at most 2 MiB',
  ENOT_ATTACHED: 'thread not attached: it has exited (or never attached)',
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
  ERANGE: 'index out of range: not an integer below the length of the shared list',
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

  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${MESSAGES[code]} (${detail})` : MESSAGES[code]);
    this.name = 'FtheapError';
    this.code = code;
  }
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

/** The FtheapError for a numeric core code. */
export function coreError(code: number, detail?: string): FtheapError {
  return new FtheapError(CORE_CODES[code] ?? ErrorCode.ENOMEM, detail);
}
