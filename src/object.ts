/**
 * Refcounted objects in the shared memory: types, objects, biased reference
 * counting (assembly/brc.ts, object.ts, type.ts). The {@link Thread} methods
 * (`defineType`, `newObject`, `incref`, `decref`, `tryIncref`, ...) delegate
 * here. Objects are plain numbers: the address of their 24-byte header; the
 * payload starts at {@link OBJECT_HEADER} bytes past it.
 * @module
 */
import { FIN_GC, IMMORTAL_LOCAL, OBJECT_HEADER, TF_FINALIZE, TF_GC, TY_FLAGS, TY_NAME, TY_NAME_LENGTH, TY_REFS, TY_SIZE,
  TYPE_NAME_MAX, TYPE_REFS_MAX, TYPE_SIZE_MAX } from './abi.gen.ts';
import type { ObjectStats, ObjectTypeSpec, ObjectTypeInfo } from './api.ts';
import type { CoreExports, ThreadCore } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';
import type { Runtime } from './runtime.ts';
import type { Thread } from './thread.ts';

export { OBJECT_HEADER };

/** A finalizer: runs once per object, on the thread that deallocates it, before its references are released. */
export type Finalizer = (thread: Thread, object: number) => void;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * @internal The finalizers registered on one JS thread (one runtime instance),
 * by domain and type id, and the host function the core calls (env.finalize).
 */
export class FinalizerTable {
  private readonly byDomain = new Map<number, Map<number, Finalizer>>();
  /** What to do with an error a finalizer throws (the deallocation goes on). */
  onError: (error: unknown, object: number) => void = (error, object) => {
    console.error(`ftheap: exception ignored in the finalizer of object ${object}:`, error);
  };

  register(domain: number, type: number, fn: Finalizer): void {
    let m = this.byDomain.get(domain);
    if (!m) this.byDomain.set(domain, m = new Map());
    m.set(type, fn);
  }

  private readonly gcHandlers = new Map<number, (error: unknown, object: number, type: number) => void>();

  /** @internal `d.gc.onFinalizerError` for `domain` (undefined: errors of the collector's finalizers are only counted). */
  setGcErrorHandler(domain: number, fn: ((error: unknown, object: number, type: number) => void) | undefined): void {
    if (fn) this.gcHandlers.set(domain, fn);
    else this.gcHandlers.delete(domain);
  }

  /**
   * env.finalize: 1 if a finalizer ran for `o`, 2 if it threw (reported: to
   * `onError` for a refcount death, to the domain's `gc.onFinalizerError` for
   * the collector's), 0 if this thread has none for its type.
   */
  run(rt: Runtime, o: number, type: number, why: number): number {
    const t = rt.current;
    if (!t) return 0;
    const domain = t.domainId;
    const fn = this.byDomain.get(domain)?.get(type);
    if (!fn) return 0;
    try {
      fn(t, o >>> 0);
      return 1;
    } catch (e) {
      try {
        if (why === FIN_GC) this.gcHandlers.get(domain)?.(e, o >>> 0, type);
        else this.onError(e, o >>> 0);
      } catch { /* the deallocation must go on */ }
      return 2;
    } finally {
      // The deallocation goes on as `t`: a finalizer that used another thread of this JS thread switched away.
      if (rt.current !== t) t.makeCurrent();
    }
  }
}

function checkObject(o: number): void {
  if (o >>> 0 !== o || o === 0) throw new FtheapError(ErrorCode.EINVAL_OBJECT, String(o));
}

function checkOffset(offset: number): void {
  if (offset >>> 0 !== offset) throw new FtheapError(ErrorCode.EINVAL_ARG, `reference offset ${offset}`);
}

/** @internal Define (or find by name) a type of `t`'s domain; registers `spec.finalize` for this JS thread. */
export function defineType(t: ThreadCore, rt: Runtime, domain: number, spec: ObjectTypeSpec): number {
  t.enter();
  if (typeof spec !== 'object' || spec === null) throw new FtheapError(ErrorCode.EINVAL_ARG, 'a type spec object');
  const { name, size, gc = false, finalize } = spec;
  if (typeof name !== 'string' || name.length === 0) throw new FtheapError(ErrorCode.EINVAL_ARG, 'name: a non-empty string');
  const bytes = encoder.encode(name);
  if (bytes.length > TYPE_NAME_MAX) throw new FtheapError(ErrorCode.EINVAL_ARG, `name: at most ${TYPE_NAME_MAX} UTF-8 bytes`);
  if (size >>> 0 !== size || size > TYPE_SIZE_MAX) throw new FtheapError(ErrorCode.EINVAL_SIZE, `size ${size}`);
  if (finalize !== undefined && typeof finalize !== 'function') throw new FtheapError(ErrorCode.EINVAL_ARG, 'finalize: a function');
  if (spec.refOffsets !== undefined && !Array.isArray(spec.refOffsets)) throw new FtheapError(ErrorCode.EINVAL_ARG, 'refOffsets: an array of payload offsets');
  const refs = [...(spec.refOffsets ?? [])].sort((a, b) => a - b);
  if (refs.length > TYPE_REFS_MAX) throw new FtheapError(ErrorCode.EINVAL_ARG, `at most ${TYPE_REFS_MAX} reference offsets`);
  for (let i = 0; i < refs.length; i++) {
    const off = refs[i];
    if (off >>> 0 !== off || off % 4 !== 0 || off + 4 > size) {
      throw new FtheapError(ErrorCode.EINVAL_ARG, `reference offset ${off}: must be a multiple of 4 with 4 bytes inside the payload (size ${size})`);
    }
    if (i > 0 && refs[i - 1] === off) throw new FtheapError(ErrorCode.EINVAL_ARG, `reference offset ${off} given twice`);
  }
  const x = t.x;
  const scratch = x.ft_malloc(bytes.length + 4 * refs.length + 8) >>> 0;
  if (scratch === 0) t.fail('defineType');
  try {
    const refsAt = (scratch + bytes.length + 3) & ~3;
    new Uint8Array(rt.memory.buffer, scratch, bytes.length).set(bytes);
    const view = new DataView(rt.memory.buffer);
    refs.forEach((off, i) => view.setUint32(refsAt + 4 * i, off, true));
    const flags = (gc ? TF_GC : 0) | (finalize ? TF_FINALIZE : 0);
    const id = x.ft_type_define(scratch, bytes.length, size, flags, refsAt, refs.length);
    if (id < 0) {
      const code = -id;
      throw coreError(code, code === 22 ? `type '${name}' exists with another layout` : `type '${name}'`);
    }
    if (finalize) rt.finalizers.register(domain, id, finalize);
    return id;
  } finally {
    x.ft_free(scratch);
  }
}

/** @internal What the registry holds for type `id`. */
export function typeInfo(t: ThreadCore, rt: Runtime, id: number): ObjectTypeInfo {
  t.enter();
  if (id >>> 0 !== id) throw new FtheapError(ErrorCode.EINVAL_TYPE, String(id));
  const ty = t.x.ft_type_record(id) >>> 0;
  if (ty === 0) t.fail(`type ${id}`);
  const view = new DataView(rt.memory.buffer);
  const u32 = (off: number) => view.getUint32(ty + off, true);
  const nameLength = u32(TY_NAME_LENGTH);
  const name = decoder.decode(new Uint8Array(rt.memory.buffer, ty + TY_NAME, nameLength).slice());
  const refsAt = ty + TY_NAME + ((nameLength + 3) & ~3);
  const refOffsets = Array.from({ length: u32(TY_REFS) }, (_, i) => view.getUint32(refsAt + 4 * i, true));
  const flags = Atomics.load(new Uint32Array(rt.memory.buffer, ty + TY_FLAGS, 1), 0);
  return { id, name, size: u32(TY_SIZE), refOffsets, gc: (flags & TF_GC) !== 0, finalizer: (flags & TF_FINALIZE) !== 0 };
}

/** @internal A new object of type `type`, count 1 owned by `t`. */
export function newObject(t: ThreadCore, type: number, extraBytes: number): number {
  t.enter();
  if (type >>> 0 !== type || type === 0) throw new FtheapError(ErrorCode.EINVAL_TYPE, String(type));
  if (extraBytes >>> 0 !== extraBytes) throw new FtheapError(ErrorCode.EINVAL_SIZE, `extraBytes ${extraBytes}`);
  const o = t.x.ft_obj_new(type, extraBytes) >>> 0;
  if (o === 0) t.fail(`type ${type}`);
  return o;
}

/** @internal */
export function incref(t: ThreadCore, o: number): void {
  t.enter();
  checkObject(o);
  const rc = t.x.ft_obj_incref(o);
  if (rc !== 0) throw coreError(rc, `object ${o}`);
}

/** @internal */
export function decref(t: ThreadCore, o: number): void {
  t.enter();
  checkObject(o);
  const rc = t.x.ft_obj_decref(o);
  if (rc !== 0) throw coreError(rc, `object ${o}`);
}

/** @internal */
export function tryIncref(t: ThreadCore, o: number): boolean {
  t.enter();
  checkObject(o);
  const rc = t.x.ft_obj_try_incref(o);
  if (rc < 0) throw coreError(-rc, `object ${o}`);
  return rc === 1;
}

/** @internal The true count; `Infinity` for an immortal object. */
export function refcount(t: ThreadCore, o: number): number {
  t.enter();
  checkObject(o);
  const n = t.x.ft_obj_refcount(o);
  if (n < 0) throw coreError(-n, `object ${o}`);
  return n === IMMORTAL_LOCAL ? Infinity : n;
}

/** @internal */
export function setRef(t: ThreadCore, o: number, offset: number, v: number): void {
  t.enter();
  checkObject(o);
  checkOffset(offset);
  if (v >>> 0 !== v) throw new FtheapError(ErrorCode.EINVAL_OBJECT, String(v));
  const rc = t.x.ft_obj_set_ref(o, offset, v);
  if (rc !== 0) throw coreError(rc, `object ${o} offset ${offset}`);
}

/** @internal */
export function getRef(t: ThreadCore, o: number, offset: number): number {
  t.enter();
  checkObject(o);
  checkOffset(offset);
  const v = t.x.ft_obj_get_ref(o, offset);
  if (v < 0) throw coreError(-v, `object ${o} offset ${offset}`);
  return v;
}

/** @internal */
export function share(t: ThreadCore, o: number): void {
  t.enter();
  checkObject(o);
  const rc = t.x.ft_obj_share(o);
  if (rc !== 0) throw coreError(rc, `object ${o}`);
}

/** @internal */
export function immortalize(t: ThreadCore, o: number): void {
  t.enter();
  checkObject(o);
  const rc = t.x.ft_obj_immortalize(o);
  if (rc !== 0) throw coreError(rc, `object ${o}`);
}

/** @internal */
export function typeOf(t: ThreadCore, o: number): number {
  t.enter();
  checkObject(o);
  const id = t.x.ft_obj_type(o);
  if (id < 0) throw coreError(-id, `object ${o}`);
  return id;
}

/** @internal Is `o` a live object of `t`'s domain? Never throws for a bad pointer. */
export function isObject(t: ThreadCore, o: number): boolean {
  t.enter();
  if (o >>> 0 !== o) return false;
  const r = t.x.ft_obj_is_live(o);
  if (r < 0) t.fail();
  return r === 1;
}

/** @internal */
export function mergeQueued(t: ThreadCore): number {
  t.enter();
  const n = t.x.ft_obj_merge_queued();
  if (n < 0) throw coreError(-n);
  return n;
}

/** @internal `d.stats().objects`. */
export function objectStats(x: CoreExports, domain: number): ObjectStats {
  const field = (i: number) => {
    const v = x.ft_obj_stats(domain, i);
    if (v < 0) throw coreError(-v);
    return v;
  };
  const created = field(0), deallocated = field(1);
  return { created, deallocated, live: created - deallocated, queued: field(2), merged: field(3), unfinalized: field(4) };
}

/**
 * Opt-in: JS wrappers that own one reference each and give it back when the
 * wrapper is garbage-collected (a `FinalizationRegistry`). Off by default: the
 * JS collector runs when it likes (maybe never before exit), so memory held
 * this way comes back late; call {@link ObjectRef.release} to give it back now.
 * The decref runs on the JS thread that made the wrapper, through its thread;
 * once that thread has exited, the reference is left alone (and counted in
 * {@link ObjectRefs.dropped}).
 */
export class ObjectRefs {
  private readonly registry: FinalizationRegistry<number>;
  /** Wrappers collected after their thread had exited: their references were not given back. */
  dropped = 0;

  constructor(private readonly thread: Thread) {
    this.registry = new FinalizationRegistry((o) => {
      if (this.thread.hasExited) { this.dropped++; return; }
      try { this.thread.decref(o); } catch { this.dropped++; }
    });
  }

  /** Wrap `o`, taking over one reference the caller holds. */
  wrap(o: number): ObjectRef {
    const ref = new ObjectRef(o, this);
    this.registry.register(ref, o, ref);
    return ref;
  }

  /** @internal */
  release(ref: ObjectRef): void {
    if (this.registry.unregister(ref)) this.thread.decref(ref.address);
  }
}

/** A JS wrapper owning one reference to an object (see {@link ObjectRefs}). */
export class ObjectRef {
  constructor(readonly address: number, private readonly owner: ObjectRefs) {}
  /** Give the reference back now (once; later calls do nothing). */
  release(): void { this.owner.release(this); }
}
