// brc-over-release.test.ts — decrements by non-owners beyond an object's count:
// the caller cannot see it (the local count is the owner's), the merge can. The
// object is deallocated there (finalized once), whether the owner merges its queue
// at a checkpoint or a collection merges every queue in its pause. Before, the merge
// left it with a count below zero: counted live for good, never finalized or freed
// (found by a user-style hunt).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';

describe('a non-owner that decrefs an object more times than it has references', () => {
  it.each([['the owner\'s checkpoint', false], ['a collection', true]])('the object is deallocated at %s', async (_, gc) => {
    const rt = await Runtime.create({ debug: true });
    const d = rt.domain();
    const t1 = d.attach();
    const finalized: number[] = [];
    const N = t1.defineType({ name: 'N', size: 8, refOffsets: gc ? [0] : [], gc, finalize: (_t, o) => { finalized.push(o); } });
    const live0 = d.stats().objects.live;
    const a = t1.newObject(N);            // count 1, owned by t1
    const t2 = d.attach();                // another thread of the domain
    t2.decref(a);                         // 1 -> 0, queued to the owner
    t2.decref(a);                         // one too many: not visible here
    t2.detach();
    t1.attach();
    if (gc) d.gc.collect(); else t1.checkpoint();
    expect(finalized).toEqual([a]);
    expect(d.stats().objects.live).toBe(live0);
    t1.validate();
    const b = t1.newObject(N);            // the heap goes on
    t1.decref(b);
    expect(d.stats().objects.live).toBe(live0);
    t2.exit();
    t1.exit();
  });
});
