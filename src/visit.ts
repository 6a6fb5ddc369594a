/**
 * Walking a thread's live blocks from JS. {@link Thread.visitBlocks} delegates
 * here; the walk is assembly/visit.ts.
 * @module
 */
import { checkTag } from './checks.ts';
import type { ThreadCore } from './core.ts';

type Visit = (ptr: number, size: number) => void;

/**
 * List every block a core walk yields (`begin(tag)`, then `next()` until 0), then
 * call `visit(ptr, usableSize)` for each: `visit` may free or allocate.
 */
function walk(t: ThreadCore, tag: number, begin: (tag: number) => number, next: () => number, visit: Visit): void {
  t.enter();
  checkTag(tag);
  const blocks: number[] = [];
  if (begin(tag) !== 0) t.fail();
  for (let p = next() >>> 0; p !== 0; p = next() >>> 0) blocks.push(p);
  for (const p of blocks) visit(p, t.x.ft_usable_size(p) >>> 0);
}

/** @internal Every live block of `tag` in `t`'s heap ({@link Thread.visitBlocks}). */
export function visitBlocks(t: ThreadCore, tag: number, visit: Visit): void {
  walk(t, tag, (g) => t.x.ft_visit_begin(g), () => t.x.ft_visit_next(), visit);
}

/** @internal The live blocks of `tag` in the domain's abandoned pool ({@link Thread.visitAbandoned}). */
export function visitAbandoned(t: ThreadCore, tag: number, visit: Visit): void {
  walk(t, tag, (g) => t.x.ft_abandoned_visit_begin(g), () => t.x.ft_abandoned_visit_next(), visit);
}
