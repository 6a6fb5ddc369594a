/**
 * Argument checks that several concept files share: the one place where a heap
 * tag or a pointer is validated before it reaches the core.
 * @module
 */
import { EDOUBLE_FREE, TAG_COUNT } from './abi.gen.ts';
import { ErrorCode, FtheapError } from './errors.ts';

/** @internal Heap tags per thread: 0..15. */
export const TAGS = TAG_COUNT;

/**
 * @internal `tag`, or `EINVAL_TAG` unless it is an integer 0..15 (any other value,
 * of any type, is an `EINVAL_TAG`, never a `TypeError`).
 */
export function checkTag(tag: number): number {
  if (!(Number.isInteger(tag) && tag >= 0 && tag < TAGS)) throw new FtheapError(ErrorCode.EINVAL_TAG, String(tag));
  return tag;
}

/** @internal Throw `EINVAL_PTR` unless `ptr` is an integer 0..2^32-1 (the core checks the rest). */
export function checkPtr(ptr: number): void {
  if (typeof ptr !== 'number' || ptr >>> 0 !== ptr) throw new FtheapError(ErrorCode.EINVAL_PTR, String(ptr));   // a BigInt throws on `>>>`
}

/**
 * @internal The detail of a failed call on block `ptr`: its address, and for a
 * block waiting for its delayed free (EDOUBLE_FREE) that its delayed free frees it.
 */
export function ptrDetail(x: { ft_delayed_is_pending(p: number): number }, rc: number, ptr: number): string {
  const pending = rc === EDOUBLE_FREE && x.ft_delayed_is_pending(ptr) === 1;
  return `ptr ${ptr >>> 0}${pending ? ' waits for its delayed free (freeDelayed): that frees it' : ''}`;
}
