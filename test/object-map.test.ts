// object-map.test.ts — SharedObjectMap: the u32 -> object map (assembly/shared-map.ts,
// "Object maps"; src/shared-map.ts).
//
// - One thread: every operation with exact refcounts after it — set (the map's own
//   reference; the replaced value released), get (a new reference), swap and take
//   (the map's reference handed over), compareAndSet (by address), delete, clear,
//   iteration (entries/values with a new reference each, keys none, forEach lends
//   one for the call), growth and shrinking of the table with objects in it,
//   destroy releasing every value; objects whose only reference was the map's are
//   deallocated at once, and d.stats().objects balances (created = deallocated).
// - A finalizer that uses the map while the map releases its object (set, delete,
//   clear, destroy): values are released after the mutex, so it does not deadlock.
// - Bad input: values that are not live objects (EINVAL_OBJECT: numbers, a plain
//   block, an interior pointer, a dead object), another domain's object and a
//   thread of another domain (EWRONG_DOMAIN), the wrong kind of handle both ways
//   (EINVAL_PTR), ENOMEM while growing: nothing changes, counts exact.
// - Forced (debug build, pause point DP_OMAP_LOADED in a worker's lock-free get,
//   after it loaded the slot's object and before its tryIncref): the object is
//   replaced and deallocated meanwhile, and its block (found again by allocating)
//   left free, reused by a new published object kept elsewhere, reused by the
//   object now in the same key, or reused after the table was rebuilt (the frozen
//   old table still shows the address: only the table re-check catches it). The
//   get returns the key's object of the moment, with exactly one reference more.
// - Workers (debug build): one writer replaces the objects of 64 keys (set, swap,
//   compareAndSet in turn, stamped payloads, old ones released) and churns fresh
//   keys into table rebuilds, while 2 readers get (facade and raw), check the
//   object is live and stamped for its key, hold the last 16 and check them again
//   when they let go, and iterate. No reader ever sees a dead or foreign object;
//   afterwards, destroy + every decref: created = deallocated.
import { beforeAll, describe, expect, it } from 'vitest';
import { DP_OMAP_LOADED } from '../src/abi.gen.ts';
import { OBJECT_HEADER, Runtime, SharedList, SharedMap } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { SharedObjectMap } from '../src/shared-map.ts';
import { attached, LIMIT, Peer, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { badHandles, raceProblems, readersVsWriter } from './fixtures/shared-structures.ts';
import { objStamp, OBJ_PAYLOAD, OMAP_FIXED } from './fixtures/shared-values.ts';
import { codeOf } from './fixtures/util.ts';

const MiB = 1 << 20;
const EINVAL_PTR = 3;

useHarness();

// ---- One thread -----------------------------------------------------------------------

describe('SharedObjectMap, one thread: refcounts exact after every operation', () => {
  let rt: Runtime;
  let t: Thread;
  let type: number;
  beforeAll(async () => {
    ({ rt, t } = await attached({ debug: true }));
    type = t.defineType({ name: 'cell', size: 16 });
  });
  const objects = () => rt.domain().stats().objects;

  it('set, get, swap, compareAndSet, take, delete', () => {
    const before = objects();
    const m = SharedObjectMap.create(t);
    const [p, q, r] = [t.newObject(type), t.newObject(type), t.newObject(type)];
    const rc = (o: number) => t.refcount(o);
    expect([rc(p), rc(q), rc(r)]).toEqual([1, 1, 1]);
    // set: the map's own reference.
    expect(m.set(1, p)).toBe(m);
    expect(rc(p)).toBe(2);
    expect(m.get(1)).toBe(p);                 // a new reference
    expect(rc(p)).toBe(3);
    t.decref(p);
    expect(m.set(1, p).get(1)).toBe(p);       // the same object again: still one map reference
    t.decref(p);
    expect(rc(p)).toBe(2);
    m.set(1, q);                              // replaces p: p's map reference released
    expect([rc(p), rc(q)]).toEqual([1, 2]);
    expect(m.get(2)).toBeUndefined();
    expect(m.has(1)).toBe(true);
    expect(m.has(2)).toBe(false);
    // take: the map's reference handed to us.
    expect(m.take(1)).toBe(q);
    expect(rc(q)).toBe(2);
    t.decref(q);
    expect(m.take(1)).toBeUndefined();
    expect(m.has(1)).toBe(false);
    // delete: released.
    m.set(2, p);
    expect(rc(p)).toBe(2);
    expect(m.delete(2)).toBe(true);
    expect(rc(p)).toBe(1);
    expect(m.delete(2)).toBe(false);
    // swap: the old value's map reference handed to us; the new one counted.
    expect(m.swap(3, p)).toBeUndefined();
    expect(rc(p)).toBe(2);
    expect(m.swap(3, q)).toBe(p);
    expect([rc(p), rc(q)]).toEqual([2, 2]);   // p: ours + the one swap handed over
    t.decref(p);
    // compareAndSet: by address.
    expect(m.compareAndSet(3, p, r)).toBe(false);           // holds q
    expect(m.compareAndSet(3, undefined, r)).toBe(false);   // present
    expect([rc(q), rc(r)]).toEqual([2, 1]);                 // nothing changed
    expect(m.compareAndSet(3, q, r)).toBe(true);
    expect([rc(q), rc(r)]).toEqual([1, 2]);
    expect(m.compareAndSet(3, r, r)).toBe(true);            // the same object: still one map reference
    expect(rc(r)).toBe(2);
    expect(m.compareAndSet(4, undefined, p)).toBe(true);
    expect(m.compareAndSet(4, undefined, q)).toBe(false);
    expect([rc(p), rc(q)]).toEqual([2, 1]);
    expect(m.size).toBe(2);
    expect(rt.exports.ft_debug_omap_valid(m.handle)).toBe(1);
    // One object under several keys: one map reference per key.
    m.set(5, p).set(6, p);
    expect(rc(p)).toBe(4);
    m.destroy();                              // releases every value
    expect([rc(p), rc(q), rc(r)]).toEqual([1, 1, 1]);
    for (const o of [p, q, r]) t.decref(o);
    const after = objects();
    expect(after.created - before.created).toBe(3);
    expect(after.deallocated - before.deallocated).toBe(3);
  });

  it('an object whose only reference is the map is deallocated when the map lets it go', () => {
    const m = SharedObjectMap.create(t);
    const fresh = () => { const o = t.newObject(type); return o; };
    const gone = (o: number) => !t.isObject(o);
    const a = fresh(), b = fresh(), c = fresh(), d = fresh(), e = fresh();
    m.set(1, a).set(2, b).set(3, c).set(4, d);
    for (const o of [a, b, c, d, e]) t.decref(o);
    expect(gone(e)).toBe(true);
    expect([a, b, c, d].some(gone)).toBe(false);
    const d0 = objects().deallocated;
    m.set(1, b);                              // a: replaced
    expect(gone(a)).toBe(true);
    expect(m.delete(2)).toBe(true);           // b still under key 1
    expect(gone(b)).toBe(false);
    expect(m.delete(1)).toBe(true);
    expect(gone(b)).toBe(true);
    const cc = m.take(3)!;                    // ours now
    expect(gone(c)).toBe(false);
    t.decref(cc);
    expect(gone(c)).toBe(true);
    m.clear();
    expect(gone(d)).toBe(true);
    expect(m.size).toBe(0);
    expect(objects().deallocated - d0).toBe(4);
    m.set(9, t.newObject(type));             // the map's reference, and ours (given back below)
    expect(m.size).toBe(1);
    const [o9] = [...m.values()];
    t.decref(o9);                             // the iteration's reference
    t.decref(o9);                             // the newObject's
    m.destroy();
    expect(gone(o9)).toBe(true);
  });

  it('iteration: entries/values give a new reference each, keys none, forEach lends one; the table grows and shrinks', () => {
    const m = SharedObjectMap.create(t, 0);
    const n = 1500;
    const objs = Array.from({ length: n }, (_, i) => {
      const o = t.newObject(type);
      new Uint32Array(rt.memory.buffer, o + OBJECT_HEADER, 1)[0] = i;
      return o;
    });
    const caps = new Set<number>();
    objs.forEach((o, i) => { m.set(i * 7, o); caps.add(m.capacity); });
    expect(caps.size).toBeGreaterThan(5);     // rebuilt while holding objects
    expect(m.size).toBe(n);
    for (const o of objs) expect(t.refcount(o)).toBe(2);
    expect(rt.exports.ft_debug_omap_valid(m.handle)).toBe(1);
    const seen = new Map<number, number>();
    for (const [k, o] of m) {
      expect(t.refcount(o)).toBe(3);          // ours, the map's, the iteration's
      seen.set(k, o);
      t.decref(o);
    }
    expect(seen.size).toBe(n);
    for (let i = 0; i < n; i++) expect(seen.get(i * 7)).toBe(objs[i]);
    expect([...m.keys()]).toEqual([...seen.keys()]);        // same order, no references
    for (const o of objs) expect(t.refcount(o)).toBe(2);
    const vals = [...m.values()];
    expect(vals).toEqual([...seen.values()]);
    for (const o of vals) { expect(t.refcount(o)).toBe(3); t.decref(o); }
    let calls = 0;
    m.forEach((o, k, map) => {
      expect(map).toBe(m);
      expect(seen.get(k)).toBe(o);
      expect(t.refcount(o)).toBe(3);          // lent for the call
      calls++;
    });
    expect(calls).toBe(n);
    for (const o of objs) expect(t.refcount(o)).toBe(2);
    // A throwing callback still gives its reference back.
    expect(() => m.forEach(() => { throw new Error('stop'); })).toThrow('stop');
    for (const o of objs) expect(t.refcount(o)).toBe(2);
    // Shrink: delete all but 10.
    for (let i = 0; i < n - 10; i++) expect(m.delete(i * 7)).toBe(true);
    expect(m.capacity).toBeLessThanOrEqual(64);
    for (let i = 0; i < n; i++) expect(t.refcount(objs[i])).toBe(i < n - 10 ? 1 : 2);
    // Raw: -1 for absent; next with and without a reference.
    const x = rt.exports;
    expect(x.ft_omap_get(m.handle, 1)).toBe(-1);
    const k0 = x.ft_omap_next(m.handle, -1, 0);
    const o0 = x.ft_map_next_value() >>> 0;
    expect(t.refcount(o0)).toBe(2);
    expect(x.ft_omap_next(m.handle, -1, 1)).toBe(k0);
    expect(x.ft_map_next_value() >>> 0).toBe(o0);
    expect(t.refcount(o0)).toBe(3);
    t.decref(o0);
    expect(x.ft_omap_get_locked(m.handle, k0)).toBe(o0);   // the locked read counts one too
    expect(t.refcount(o0)).toBe(3);
    t.decref(o0);
    m.destroy();
    for (const o of objs) { expect(t.refcount(o)).toBe(1); t.decref(o); }
  });

  it('a finalizer that uses the map runs after the map released its mutex (set, delete, clear, destroy)', () => {
    const m = SharedObjectMap.create(t);
    const log: string[] = [];
    const spare = t.newObject(type);
    const fin = t.defineType({
      name: 'finalized', size: 8,
      // Runs while set/delete/clear/destroy release an object of this type: a
      // release under the map's mutex would deadlock here.
      finalize: () => {
        log.push('fin');
        try {
          if (!m.has(100)) { m.set(100, spare); log.push('set 100'); }
          log.push(`size ${m.size}`);
        } catch (e) {
          log.push((e as { code?: string }).code ?? String(e));
        }
      },
    });
    const put = (k: number, ty: number) => { const o = t.newObject(ty); m.set(k, o); t.decref(o); return o; };
    put(1, fin);
    put(1, type);                             // replaces the finalized object: it dies, its finalizer sets key 100
    expect(log).toEqual(['fin', 'set 100', 'size 2']);
    expect(t.refcount(spare)).toBe(2);
    put(2, fin);
    expect(m.delete(2)).toBe(true);           // dies: key 100 is there
    expect(log.slice(3)).toEqual(['fin', 'size 2']);
    put(3, fin);
    m.clear();                                // empty at once; the finalizer puts key 100 back
    expect(log.slice(5)).toEqual(['fin', 'set 100', 'size 1']);
    expect(m.size).toBe(1);
    put(4, fin);
    m.destroy();                              // released after the destroy: the finalizer finds it gone
    expect(log.slice(8)).toEqual(['fin', 'EINVAL_PTR']);
    expect(t.refcount(spare)).toBe(1);        // the map's reference released by destroy
    t.decref(spare);
  });
});

// ---- Bad input -------------------------------------------------------------------------

describe('SharedObjectMap errors: nothing changes', () => {
  let rt: Runtime;
  let t: Thread;
  let type: number;
  beforeAll(async () => {
    ({ rt, t } = await attached({ debug: true }));
    type = t.defineType({ name: 'cell', size: 16 });
  });

  it('a value that is not a live object of the domain: EINVAL_OBJECT / EWRONG_DOMAIN', () => {
    const m = SharedObjectMap.create(t);
    const p = t.newObject(type);
    m.set(1, p);
    const dead = t.newObject(type);
    t.decref(dead);
    const block = t.alloc(64);
    const other = rt.createDomain();
    const u = other.attach();
    const otherType = u.defineType({ name: 'cell', size: 16 });
    const foreign = u.newObject(otherType);
    t.makeCurrent();
    const state = () => ({ size: m.size, p: t.refcount(p), got: (() => { const o = m.get(1); if (o !== undefined) t.decref(o); return o; })() });
    const s0 = state();
    expect(s0).toEqual({ size: 1, p: 2, got: p });
    for (const v of [0, -1, 1.5, 2 ** 32, NaN]) {
      expect(codeOf(() => m.set(2, v)), `set ${v}`).toBe('EINVAL_OBJECT');
      expect(codeOf(() => m.swap(1, v)), `swap ${v}`).toBe('EINVAL_OBJECT');
      expect(codeOf(() => m.compareAndSet(1, p, v)), `compareAndSet ${v}`).toBe('EINVAL_OBJECT');
    }
    for (const [what, v] of [['a plain block', block], ['an interior pointer', p + 8], ['a dead object', dead],
      ['a header past the payload', p + OBJECT_HEADER]] as const) {
      expect(codeOf(() => m.set(2, v)), what).toBe('EINVAL_OBJECT');
      expect(codeOf(() => m.swap(1, v)), what).toBe('EINVAL_OBJECT');
      expect(codeOf(() => m.compareAndSet(1, p, v)), what).toBe('EINVAL_OBJECT');
      expect(state(), what).toEqual(s0);
    }
    expect(codeOf(() => m.set(2, foreign))).toBe('EWRONG_DOMAIN');
    expect(codeOf(() => m.swap(1, foreign))).toBe('EWRONG_DOMAIN');
    expect(codeOf(() => m.compareAndSet(1, p, foreign))).toBe('EWRONG_DOMAIN');
    expect(state()).toEqual(s0);
    // A thread of another domain may not use the map at all.
    expect(codeOf(() => SharedObjectMap.open(u, m.handle))).toBe('EWRONG_DOMAIN');
    const x = rt.exports;
    u.makeCurrent();
    expect(x.ft_omap_get(m.handle, 1)).toBe(-2);
    expect(x.ft_last_error()).toBe(18);
    expect(x.ft_omap_set(m.handle, 3, foreign)).toBe(18);
    expect(x.ft_omap_delete(m.handle, 1)).toBe(-18);
    expect(x.ft_omap_destroy(m.handle)).toBe(18);
    u.decref(foreign);
    u.exit();
    t.makeCurrent();
    expect(state()).toEqual(s0);
    // compareAndSet's expected is any u32 (an address is only compared) or undefined.
    expect(codeOf(() => m.compareAndSet(1, -5, p))).toBe('EINVAL_ARG');
    expect(x.ft_omap_compare_and_set(m.handle, 1, 0.5, p)).toBe(-15);
    expect(m.compareAndSet(1, dead, p)).toBe(false);
    expect(codeOf(() => m.get(-1))).toBe('EINVAL_ARG');
    expect(codeOf(() => m.set(2 ** 32, p))).toBe('EINVAL_ARG');
    expect(state()).toEqual(s0);
    expect(x.ft_debug_omap_valid(m.handle)).toBe(1);
    t.free(block);
    m.destroy();
    expect(t.refcount(p)).toBe(1);
    t.decref(p);
  });

  it('the kind is in the shared header: each kind\'s exports refuse the other\'s handle (EINVAL_PTR)', () => {
    const m = SharedObjectMap.create(t);
    const p = t.newObject(type);
    m.set(7, p);
    const u32map = SharedMap.create(t);
    u32map.set(7, 1234);
    const list = SharedList.create(t);
    const dead = SharedObjectMap.create(t);
    const deadHandle = dead.handle;
    dead.destroy();
    expect(codeOf(() => SharedMap.open(t, m.handle))).toBe('EINVAL_PTR');
    expect(codeOf(() => SharedObjectMap.open(t, u32map.handle))).toBe('EINVAL_PTR');
    const x = rt.exports;
    // A u32 write would corrupt the counts: refused.
    expect(x.ft_map_set(m.handle, 7, 5)).toBe(EINVAL_PTR);
    expect(x.ft_map_get(m.handle, 7)).toBe(-2);
    expect(x.ft_map_delete(m.handle, 7)).toBe(-EINVAL_PTR);
    expect(x.ft_map_destroy(m.handle)).toBe(EINVAL_PTR);
    expect(x.ft_omap_set(u32map.handle, 7, p)).toBe(EINVAL_PTR);
    expect(x.ft_omap_get(u32map.handle, 7)).toBe(-2);
    const { handles: bad, block } = badHandles(rt, t, m.handle, list.handle, deadHandle);
    for (const h of [...bad, u32map.handle]) {
      expect(codeOf(() => SharedObjectMap.open(t, h)), `open ${h}`).toBe('EINVAL_PTR');
      expect(x.ft_omap_get(h, 0), `get ${h}`).toBe(-2);
      expect(x.ft_last_error()).toBe(EINVAL_PTR);
      expect(x.ft_omap_get_locked(h, 0)).toBe(-2);
      expect(x.ft_omap_has(h, 0)).toBe(-EINVAL_PTR);
      expect(x.ft_omap_set(h, 0, p)).toBe(EINVAL_PTR);
      expect(x.ft_omap_swap(h, 0, p)).toBe(-2);
      expect(x.ft_omap_compare_and_set(h, 0, -1, p)).toBe(-EINVAL_PTR);
      expect(x.ft_omap_take(h, 0)).toBe(-2);
      expect(x.ft_omap_delete(h, 0)).toBe(-EINVAL_PTR);
      expect(x.ft_omap_clear(h)).toBe(EINVAL_PTR);
      expect(x.ft_omap_next(h, -1, 1)).toBe(-2);
      expect(x.ft_omap_size(h)).toBe(-EINVAL_PTR);
      expect(x.ft_omap_capacity(h)).toBe(-EINVAL_PTR);
      expect(x.ft_omap_destroy(h)).toBe(EINVAL_PTR);
      expect(x.ft_debug_omap_valid(h)).toBe(0);
    }
    expect(codeOf(() => dead.get(0))).toBe('EINVAL_PTR');
    expect(codeOf(() => dead.set(0, p))).toBe('EINVAL_PTR');
    expect(u32map.get(7)).toBe(1234);
    expect(t.refcount(p)).toBe(2);
    const got = m.get(7)!;
    expect(got).toBe(p);
    t.decref(got);
    t.free(block);
    list.destroy();
    u32map.destroy();
    m.destroy();
    t.decref(p);
  });

  it('ENOMEM while growing: the map unchanged, every count exact', async () => {
    const small = await Runtime.create({ maximumMemory: 24 * MiB });
    const st = small.attach();
    const ty = st.defineType({ name: 'cell', size: 16 });
    const p = st.newObject(ty);
    const m = SharedObjectMap.create(st);
    let n = 0, code = 'OK';
    while (code === 'OK') {
      code = codeOf(() => m.set(Math.imul(n, 0x9E3779B1) >>> 0, p));
      if (code === 'OK') n++;
      if (n % 4096 === 0) st.checkpoint();
    }
    expect(code).toBe('ENOMEM');
    expect(n).toBeGreaterThan(10_000);
    expect(m.size).toBe(n);
    expect(st.refcount(p)).toBe(1 + n);       // the failed set's reference was undone
    const failing = Math.imul(n, 0x9E3779B1) >>> 0;
    expect(codeOf(() => m.swap(failing, p))).toBe('ENOMEM');
    expect(codeOf(() => m.compareAndSet(failing, undefined, p))).toBe('ENOMEM');
    expect(st.refcount(p)).toBe(1 + n);
    expect(m.has(failing)).toBe(false);
    expect(small.exports.ft_debug_omap_valid(m.handle)).toBe(1);
    m.destroy();
    expect(st.refcount(p)).toBe(1);
    st.decref(p);
    expect(small.domain().stats().objects.live).toBe(0);
  });
});

// ---- Forced: a value freed (and its block reused) under a paused lock-free get ------------

type Raw = { value: number; code: number };

describe('get paused between loading the slot and its tryIncref (DP_OMAP_LOADED)', () => {
  const cases = ['freed', 'reused elsewhere', 'reused in the slot', 'reused after a rebuild'] as const;
  for (const scenario of cases) {
    it(`${scenario}: the get returns the key's object of the moment, with one reference more`, async () => {
      const rt = await Runtime.create({ debug: true });
      const t = rt.attach();
      const type = t.defineType({ name: 'cell', size: 16 });
      const flag = t.calloc(1, 4);
      const m = SharedObjectMap.create(t);
      const K = 5;
      const a = t.newObject(type);
      m.set(K, a);
      t.decref(a);                            // the map holds a's only reference
      const r = await Peer.start(rt, newCtl(), 'reader');
      await r.call('attach');
      const raw = (name: string, ...args: number[]) => r.call<Raw>('rawShared', 0, name, ...args);
      await r.call('pauseAt', DP_OMAP_LOADED, flag, 1);
      const read = raw('omap_get', m.handle, K);
      const word = () => Atomics.load(new Int32Array(rt.memory.buffer), flag >>> 2);
      await until(() => word() === 1, LIMIT, 'reader paused with a loaded');
      t.makeCurrent();
      if (scenario === 'reused after a rebuild') {
        const cap = m.capacity;
        for (let i = 0; m.capacity === cap; i++) { const o = t.newObject(type); m.set(1000 + i, o); t.decref(o); }
        expect(m.capacity).not.toBe(cap);     // the reader's table is retired: frozen, still showing a
      }
      const b = t.newObject(type);
      m.set(K, b);                            // a released: dead, its block free
      t.decref(b);
      expect(t.isObject(a)).toBe(false);
      let z = 0;
      const extra: number[] = [];
      if (scenario !== 'freed') {
        for (let i = 0; i < 200_000 && z === 0; i++) {
          const o = t.newObject(type);
          if (o === a) z = o; else extra.push(o);
        }
        expect(z, 'a new object in a\'s block').toBe(a);
        t.share(z);                           // published: another thread's tryIncref succeeds on it
        if (scenario === 'reused in the slot') { m.set(K, z); t.decref(z); }   // b released; the map holds z
      }
      const expected = scenario === 'reused in the slot' ? z : b;
      Atomics.store(new Int32Array(rt.memory.buffer), flag >>> 2, 2);
      Atomics.notify(new Int32Array(rt.memory.buffer), flag >>> 2);
      const got = await within(read, LIMIT, 'the paused get');
      expect(got.value).toBe(expected);
      expect(t.refcount(expected)).toBe(2);   // the map's and the reader's
      if (scenario === 'reused elsewhere' || scenario === 'reused after a rebuild') {
        expect(t.refcount(z)).toBe(1);        // the reader's speculative reference was given back
      }
      expect((await raw('obj_decref', got.value)).value).toBe(0);
      expect(t.refcount(expected)).toBe(1);
      await r.call('exit', 0);
      if (z !== 0 && z !== expected) t.decref(z);
      for (const o of extra) t.decref(o);
      expect(rt.exports.ft_debug_omap_valid(m.handle)).toBe(1);
      m.destroy();
      expect(rt.domain().stats().objects.live).toBe(0);
    }, TEST_TIMEOUT);
  }
});

// ---- Workers -----------------------------------------------------------------------------

describe('SharedObjectMap with borrowed reads', () => {
  it('getBorrowed takes no reference; replaced values are let go of after a grace period', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const type = t.defineType({ name: 'b', size: 8 });
    const plain = SharedObjectMap.create(t);
    expect(codeOf(() => plain.getBorrowed(1))).toBe('EINVAL_ARG');
    const map = SharedObjectMap.create(t, 8, { borrowedReads: true });
    const a = t.newObject(type), b = t.newObject(type);
    map.set(1, a);
    expect(t.refcount(a)).toBe(2);
    expect(map.getBorrowed(1)).toBe(a);
    expect(map.getBorrowed(2)).toBeUndefined();
    expect(t.refcount(a)).toBe(2);                 // no reference taken
    map.set(1, b);                                 // a is let go of... later
    expect(t.refcount(a)).toBe(2);
    t.processDelayed();                            // every thread (only this one) past a quiescent state
    t.checkpoint();
    expect(t.refcount(a)).toBe(1);
    expect(map.delete(1)).toBe(true);
    t.checkpoint();
    t.processDelayed();
    expect(t.refcount(b)).toBe(1);
    t.decref(a); t.decref(b);
    map.destroy();
    expect(rt.domain().stats().objects).toMatchObject({ created: 2, deallocated: 2 });
  });
});

describe('SharedObjectMap with workers (debug build: freed memory reads 0xDD)', () => {
  it('2 readers read borrowed objects while a writer replaces them: never a dead one before their checkpoint', async () => {
    const ROUNDS = 60, CHURN = 200;
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const type = main.defineType({ name: 'stamped', size: OBJ_PAYLOAD });
    const map = SharedObjectMap.create(main, 8, { borrowedReads: true });
    for (let k = 0; k < OMAP_FIXED; k++) {
      const o = main.newObject(type);
      new Uint32Array(rt.memory.buffer, o + OBJECT_HEADER, 4).set(objStamp(k, 0xFFFFFF00 + k));
      map.set(k, o);
      main.decref(o);
    }
    main.detach();
    const race = await readersVsWriter(rt, {
      label: 'SharedObjectMap (borrowed)', storage: 'tables', readers: 2, ms: LIMIT,
      reader: (i) => ({ role: 'omap-reader', map: map.handle, seed: 5000 + i, hold: 0, delaySpins: 300, borrowed: true }),
      writer: { role: 'omap-writer', map: map.handle, type, readers: 2, rounds: ROUNDS, churn: CHURN },
    });
    expect(raceProblems(race)).toEqual([]);
    main.attach();
    main.checkpoint();
    main.processDelayed();
    map.destroy();
    for (let i = 0; i < 3; i++) { main.checkpoint(); main.processDelayed(); }
    const s = rt.domain().stats().objects;
    expect(s.created).toBe(OMAP_FIXED + race.writer.objects!);
    expect(s.deallocated).toBe(s.created);
  }, TEST_TIMEOUT);

  it('2 readers get and hold objects while a writer replaces them: never a dead one; the books balance', async () => {
    const ROUNDS = 100, CHURN = 600, HOLD = 16;   // 664 keys grow the table to 1,024 slots, 64 shrink it to 128
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const type = main.defineType({ name: 'stamped', size: OBJ_PAYLOAD });
    const map = SharedObjectMap.create(main);
    for (let k = 0; k < OMAP_FIXED; k++) {
      const o = main.newObject(type);
      new Uint32Array(rt.memory.buffer, o + OBJECT_HEADER, 4).set(objStamp(k, 0xFFFFFF00 + k));
      map.set(k, o);
      main.decref(o);   // the map's only: the writer's first replacement releases it (queued to us, the owner)
    }
    main.detach();      // an attached thread that never checkpoints would hold every grace period up
    const race = await readersVsWriter(rt, {
      label: 'SharedObjectMap', storage: 'tables', readers: 2, ms: LIMIT,
      reader: (i) => ({ role: 'omap-reader', map: map.handle, seed: 4000 + i, hold: HOLD, delaySpins: 300 }),
      writer: { role: 'omap-writer', map: map.handle, type, readers: 2, rounds: ROUNDS, churn: CHURN },
    });
    expect(raceProblems(race)).toEqual([]);
    const outlived = race.readers.reduce((n, r) => n + (r.outlived ?? 0), 0);
    console.log(`SharedObjectMap: ${race.writer.objects} objects made; readers held ${outlived} past their replacement`);
    expect(race.writer.objects).toBe(ROUNDS * (OMAP_FIXED + CHURN));
    expect(race.writer.reallocs).toBeGreaterThanOrEqual(ROUNDS);
    expect(outlived).toBeGreaterThan(0);     // readers did hold objects the map had let go
    main.attach();
    main.checkpoint();                        // merges the decrefs of our first objects queued to us
    expect(map.size).toBe(OMAP_FIXED);
    expect(rt.exports.ft_debug_omap_valid(map.handle)).toBe(1);
    map.destroy();                            // the writer has exited: its last objects are merged by us
    main.checkpoint();
    const s = rt.domain().stats().objects;
    expect(s.created).toBe(OMAP_FIXED + race.writer.objects!);
    expect(s.deallocated).toBe(s.created);
    expect(s.live).toBe(0);
  }, TEST_TIMEOUT);
});
