// object-free.test.ts — a block made by newObject is released only through its
// reference count (or the collector): free, realloc, freeDelayed and freeMany refuse
// it with EINVAL_PTR and a message that says to decref, and the object lives on.
// Before, free() took it (the owner's fast path and a remote free alike), and the
// decref that followed freed the block a second time, into a block handed out again:
// two objects at one address, the heap corrupted (found by a user-style hunt).
import { describe, expect, it } from 'vitest';
import { ErrorCode, FtheapError, Runtime, Tag } from '../src/index.ts';

function refused(f: () => unknown): FtheapError {
  try { f(); } catch (e) {
    if (e instanceof FtheapError) return e;
    throw e;
  }
  throw new Error('accepted');
}

describe('free() of an object', () => {
  it.each([
    ['a plain object', { size: 8 }],
    ['a GC object', { size: 8, refOffsets: [0], gc: true }],
    ['a huge object', { size: 3 << 20 }],
  ])('%s is refused by every free, by its owner and by another thread', async (_, spec) => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const type = t.defineType({ name: 'Obj', ...spec });
    const o = t.newObject(type);
    for (const f of [() => t.free(o), () => t.realloc(o, 64), () => t.freeDelayed(o)]) {
      const e = refused(f);
      expect(e.code).toBe(ErrorCode.EINVAL_PTR);
      expect(e.message).toMatch(/is an object.*decref/);
    }
    expect(refused(() => t.freeMany([o])).code).toBe(ErrorCode.EINVAL_PTR);
    // the raw export a Wasm program calls refuses it too
    expect(rt.exports.ft_free(o)).toBe(3 /* EINVAL_PTR */);
    // a thread that does not own it: the remote path
    const t2 = rt.attach();
    expect(refused(() => t2.free(o)).code).toBe(ErrorCode.EINVAL_PTR);
    t2.exit();
    // still alive, and its count works: the last decref frees it, once
    expect(t.typeOf(o)).toBe(type);
    t.validate();
    t.decref(o);
    t.validate();
    const a = t.newObject(type), b = t.newObject(type);
    expect(a).not.toBe(b);
    t.decref(a); t.decref(b);
    // plain blocks are still freed as before, on every path, and so are raw blocks
    // of the objects' tags (they carry no object marks)
    const p = t.alloc(40), q = t.alloc(40), r = t.alloc(3 << 20);
    t.free(p); t.freeMany([q]); t.freeDelayed(r);
    for (const tag of [Tag.OBJECT, Tag.GC]) {
      const raw = [t.alloc(24, tag), t.alloc(24, tag), t.alloc(24, tag), t.alloc(3 << 20, tag)];
      t.free(raw[0]); t.freeMany([raw[1]]); t.freeDelayed(raw[2]); t.free(raw[3]);
    }
    t.processDelayed();
    t.validate();
    t.exit();
  });
});
