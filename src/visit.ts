/**
 * Walking a thread's live blocks from JS. {@link Thread.visitBlocks} delegates
 * here; the walk is assembly/visit.ts.
 * @module
 */
import { checkTag } from './checks.ts';
import type { ThreadCore } from './core.ts';

/**
 * @internal Call `visit(ptr, usableSize)` for every live block of `tag` in `t`'s
 * heap. The blocks are listed first and visited after, so `visit` may free or allocate.
 */
export function visitBlocks(t: ThreadCore, tag: number, visit: (ptr: number, size: number) => void): void {
  t.enter();
  checkTag(tag);
  const blocks: number[] = [];
  if (t.x.ft_visit_begin(tag) !== 0) t.fail();
  for (let p = t.x.ft_visit_next() >>> 0; p !== 0; p = t.x.ft_visit_next() >>> 0) blocks.push(p);
  for (const p of blocks) visit(p, t.x.ft_usable_size(p) >>> 0);
}

/** {@link Thread.visitAbandoned}: the live blocks of `tag` in the domain's abandoned pool. */
export function visitAbandoned(t: ThreadCore, tag: number, visit: (ptr: number, size: number) => void): void {
  t.enter();
  checkTag(tag);
  const blocks: number[] = [];
  if (t.x.ft_abandoned_visit_begin(tag) !== 0) t.fail();
  for (let p = t.x.ft_abandoned_visit_next() >>> 0; p !== 0; p = t.x.ft_abandoned_visit_next() >>> 0) blocks.push(p);
  for (const p of blocks) visit(p, t.x.ft_usable_size(p) >>> 0);
}
