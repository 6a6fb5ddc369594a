// object.test.ts — types and objects: the registry, object layout, deallocation
// (references, finalizers, a million-long chain), bad input. The refcount
// protocol itself (owners, the merge queue, races) is test/brc.test.ts.
import { describe, expect, it } from 'vitest';
import { FtheapError, OBJECT_HEADER, Runtime, type Thread } from '../src/index.ts';
import { O_LOCAL, O_MUTEX, O_SHARED, O_TID, O_TYPE } from '../src/abi.gen.ts';
import { Peer, results, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 120_000;

const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return 'OK';
};

async function setup(debug = true): Promise<{ rt: Runtime; t: Thread }> {
  const rt = await Runtime.create({ debug });
  return { rt, t: rt.attach() };
}

describe('the object header', () => {
  it('is 24 bytes: tid, flags, gc bits, local, shared, type, mutex; the payload 8-aligned and zeroed', async () => {
    const { rt, t } = await setup();
    expect([O_TID, O_LOCAL, O_SHARED, O_TYPE, O_MUTEX, OBJECT_HEADER]).toEqual([0, 8, 12, 16, 20, 24]);
    const ty = t.defineType({ name: 'P', size: 40 });
    // Dirty blocks first, so a zeroed payload proves the zeroing.
    const junk = Array.from({ length: 64 }, () => t.alloc(64, 1));
    for (const p of junk) rt.bytes().fill(0xAB, p, p + 64);
    for (const p of junk) t.free(p);
    const o = t.newObject(ty);
    expect(o % 8).toBe(0);
    expect(t.payload(o)).toBe(o + 24);
    expect([...rt.bytes().subarray(o + 24, o + 64)].every((b) => b === 0)).toBe(true);
    const v = new DataView(rt.memory.buffer);
    expect(v.getUint32(o + O_LOCAL, true)).toBe(1);
    expect(v.getInt32(o + O_SHARED, true)).toBe(0);
    expect(v.getUint32(o + O_TYPE, true)).toBe(ty);
    expect(v.getUint32(o + O_MUTEX, true)).toBe(0);
    expect(v.getUint32(o + O_TID, true)).not.toBe(0);
    expect(t.typeOf(o)).toBe(ty);
    expect(t.refcount(o)).toBe(1);
    t.decref(o);
  });
});

describe('types', () => {
  it('are idempotent by name; another layout is EINVAL_TYPE; the registry says what was defined', async () => {
    const { t } = await setup();
    const a = t.defineType({ name: 'Pair', size: 8, refOffsets: [4, 0] });
    expect(t.defineType({ name: 'Pair', size: 8, refOffsets: [0, 4] })).toBe(a);
    expect(codeOf(() => t.defineType({ name: 'Pair', size: 12, refOffsets: [0, 4] }))).toBe('EINVAL_TYPE');
    expect(codeOf(() => t.defineType({ name: 'Pair', size: 8, refOffsets: [0] }))).toBe('EINVAL_TYPE');
    expect(codeOf(() => t.defineType({ name: 'Pair', size: 8, refOffsets: [0, 4], gc: true }))).toBe('EINVAL_TYPE');
    const b = t.defineType({ name: 'Ünïcode ✓', size: 0, gc: true });
    expect(b).not.toBe(a);
    expect(t.typeInfo(a)).toEqual({ id: a, name: 'Pair', size: 8, refOffsets: [0, 4], gc: false, finalizer: false });
    expect(t.typeInfo(b)).toMatchObject({ name: 'Ünïcode ✓', gc: true });
    expect(codeOf(() => t.typeInfo(99))).toBe('EINVAL_TYPE');
  });

  it('reject bad specs with EINVAL_ARG / EINVAL_SIZE and change nothing', async () => {
    const { t } = await setup();
    const bad: unknown[] = [
      { name: '', size: 4 }, { name: 'x'.repeat(256), size: 4 }, { name: 'a', size: 8, refOffsets: [2] },
      { name: 'a', size: 8, refOffsets: [8] }, { name: 'a', size: 8, refOffsets: [0, 0] }, { name: 'a', size: 4, finalize: 3 },
    ];
    for (const spec of bad) expect(codeOf(() => t.defineType(spec as never))).toBe('EINVAL_ARG');
    expect(codeOf(() => t.defineType({ name: 'a', size: -1 }))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.defineType({ name: 'a', size: 2 ** 31 }))).toBe('EINVAL_SIZE');
    expect(t.defineType({ name: 'a', size: 4 })).toBe(1);   // nothing was defined before
  });

  it('defined and looked up by 4 workers at once: one id per name, every lookup right (the table grows under them)', async () => {
    const rt = await Runtime.create({ debug: true });
    const peers = await Peer.startMany(rt, newCtl(), 4);
    for (const p of peers) await p.call('attach');
    // Every worker defines the same 40 shared names and 40 of its own, interleaved.
    const all = await within(Promise.all(peers.map(async (p, i) => {
      const [shared, own] = await Promise.all([p.call<number[]>('defineTypes', 0, 'S', 40), p.call<number[]>('defineTypes', 0, `W${i}-`, 40)]);
      return { shared, own };
    })), 60_000, 'type definitions');
    for (const r of all) expect(r.shared).toEqual(all[0].shared);
    const ids = new Set([...all[0].shared, ...all.flatMap((r) => r.own)]);
    expect(ids.size).toBe(40 + 4 * 40);
    expect(Math.max(...ids)).toBe(40 + 4 * 40);
  }, TEST_TIMEOUT);
});

describe('deallocation', () => {
  it('releases references, runs the finalizer once, before the references go', async () => {
    const { t } = await setup();
    const seen: Array<[number, number]> = [];
    const Node = t.defineType({
      name: 'Node', size: 8, refOffsets: [0],
      finalize: (th, o) => seen.push([o, th.getRef(o, 0) === 0 ? 0 : th.refcount(th.getRef(o, 0))]),
    });
    const a = t.newObject(Node), b = t.newObject(Node);
    t.setRef(a, 0, b);
    t.decref(b);
    expect(t.refcount(b)).toBe(1);
    t.decref(a);
    expect(seen).toEqual([[a, 1], [b, 0]]);   // a's child still held while a's finalizer ran
    expect(t.runtime.domain().stats().objects).toMatchObject({ created: 2, deallocated: 2, live: 0, unfinalized: 0 });
    expect(codeOf(() => t.decref(a))).toBe('EREFCOUNT');
    expect(codeOf(() => t.incref(b))).toBe('EINVAL_OBJECT');
  });

  it('a finalizer that keeps the object resurrects it; it is not finalized again when it dies later', async () => {
    const { t } = await setup();
    let kept = 0;
    let runs = 0;
    const T = t.defineType({ name: 'Phoenix', size: 4, finalize: (th, o) => { runs++; th.incref(o); kept = o; } });
    const o = t.newObject(T);
    t.decref(o);
    expect(runs).toBe(1);
    expect(kept).toBe(o);
    expect(t.refcount(o)).toBe(1);
    expect(t.isObject(o)).toBe(true);
    t.decref(o);
    expect(runs).toBe(1);
    expect(t.isObject(o)).toBe(false);
    expect(t.runtime.domain().stats().objects).toMatchObject({ created: 1, deallocated: 1 });
  });

  it('an error thrown by a finalizer is reported and the deallocation goes on', async () => {
    const { rt, t } = await setup();
    const errors: unknown[] = [];
    rt.finalizers.onError = (e) => errors.push(e);
    const T = t.defineType({ name: 'Thrower', size: 4, refOffsets: [0], finalize: () => { throw new Error('boom'); } });
    const a = t.newObject(T), b = t.newObject(T);
    t.setRef(a, 0, b);
    t.decref(b);
    t.decref(a);
    expect(errors.length).toBe(2);
    expect(rt.domain().stats().objects).toMatchObject({ created: 2, deallocated: 2 });
  });

  it('a 1,000,000-long chain goes with one decref (no stack overflow), every object finalized', async () => {
    const { rt, t } = await setup(false);
    let fin = 0;
    const Link = t.defineType({ name: 'Link', size: 4, refOffsets: [0], finalize: () => { fin++; } });
    const N = 1_000_000;
    let head = t.newObject(Link);
    for (let i = 1; i < N; i++) {
      const o = t.newObject(Link);
      t.setRef(o, 0, head);
      t.decref(head);
      head = o;
    }
    expect(rt.domain().stats().objects.live).toBe(N);
    t.decref(head);
    expect(fin).toBe(N);
    expect(rt.domain().stats().objects).toMatchObject({ created: N, deallocated: N, live: 0 });
  }, TEST_TIMEOUT);

  it('objects freed go back to the allocator: churn keeps the memory flat', async () => {
    const { rt, t } = await setup(false);
    const T = t.defineType({ name: 'Tmp', size: 100 });
    for (let i = 0; i < 3; i++) { const os = Array.from({ length: 20_000 }, () => t.newObject(T)); for (const o of os) t.decref(o); t.checkpoint(); }
    const committed = rt.stats().memory.committed;
    for (let i = 0; i < 10; i++) { const os = Array.from({ length: 20_000 }, () => t.newObject(T)); for (const o of os) t.decref(o); t.checkpoint(); }
    expect(rt.stats().memory.committed).toBeLessThanOrEqual(committed);
  }, TEST_TIMEOUT);

  it('gc types go on the GC tag, others on OBJECT; extra bytes extend the payload', async () => {
    const { t } = await setup();
    const G = t.defineType({ name: 'G', size: 8, gc: true });
    const O = t.defineType({ name: 'O', size: 8 });
    const g = t.newObject(G, 1000), o = t.newObject(O);
    const inTag = (tag: number) => { const ps: number[] = []; t.visitBlocks(tag as 0, (p) => ps.push(p)); return ps; };
    expect(inTag(2)).toContain(g);
    expect(inTag(1)).toContain(o);
    expect(inTag(1)).not.toContain(g);
    expect(t.usableSize(g)).toBeGreaterThanOrEqual(24 + 8 + 1000);
    t.decref(g);
    t.decref(o);
  });
});

describe('bad input', () => {
  it('gets a typed error and changes nothing', async () => {
    const { rt, t } = await setup();
    const T = t.defineType({ name: 'T', size: 8, refOffsets: [4] });
    const o = t.newObject(T);
    const plain = t.alloc(32);
    expect(codeOf(() => t.incref(plain))).toBe('EINVAL_OBJECT');       // a block of another tag
    expect(codeOf(() => t.decref(plain))).toBe('EINVAL_OBJECT');
    expect(codeOf(() => t.incref(o + 8))).toBe('EINVAL_OBJECT');       // interior
    expect(codeOf(() => t.incref(12345))).toBe('EINVAL_OBJECT');
    expect(codeOf(() => t.incref(-1))).toBe('EINVAL_OBJECT');
    expect(codeOf(() => t.newObject(77))).toBe('EINVAL_TYPE');
    expect(codeOf(() => t.newObject(0))).toBe('EINVAL_TYPE');
    expect(codeOf(() => t.newObject(T, -1))).toBe('EINVAL_SIZE');
    expect(codeOf(() => t.setRef(o, 0, o))).toBe('EINVAL_ARG');         // not a reference offset
    expect(codeOf(() => t.getRef(o, 8))).toBe('EINVAL_ARG');
    expect(codeOf(() => t.setRef(o, 4, plain))).toBe('EINVAL_OBJECT');
    expect(t.refcount(o)).toBe(1);
    expect(t.getRef(o, 4)).toBe(0);
    // Another domain's object.
    const d2 = rt.createDomain();
    const t2 = d2.attach();
    const T2 = t2.defineType({ name: 'T', size: 8 });
    const o2 = t2.newObject(T2);
    expect(codeOf(() => t.incref(o2))).toBe('EWRONG_DOMAIN');
    expect(codeOf(() => t.decref(o2))).toBe('EWRONG_DOMAIN');
    expect(codeOf(() => t.setRef(o, 4, o2))).toBe('EWRONG_DOMAIN');
    t2.decref(o2);
    t2.exit();
    // The heap still works.
    t.decref(o);
    t.free(plain);
    expect(rt.domain().stats().objects).toMatchObject({ created: 1, deallocated: 1 });
  });

  it('a decref too many is EREFCOUNT in the release build too, while the block is not reused', async () => {
    const { t } = await setup(false);
    const T = t.defineType({ name: 'T', size: 8 });
    const o = t.newObject(T);
    t.decref(o);
    expect(codeOf(() => t.decref(o))).toBe('EREFCOUNT');
    expect(codeOf(() => t.incref(o))).toBe('EINVAL_OBJECT');
    expect(t.tryIncref(o)).toBe(false);
    expect(t.isObject(o)).toBe(false);
  });
});

describe('workers', () => {
  it('each worker registers its own finalizer; a thread with none counts the object unfinalized', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const [a, b] = await Peer.startMany(rt, newCtl(), 2);
    await a.call('attach');
    await b.call('attach');
    const ty = await a.call<number>('defineType', 0, 'F', 4, [], true);
    expect(await b.call<number>('defineType', 0, 'F', 4, [], false)).toBe(ty);   // b knows it, without a finalizer
    const os = await a.call<number[]>('newObjects', 0, ty, 10);
    await a.call('decrefEach', 0, os.slice(0, 5));                              // a has one: 5 run there
    expect(await a.call<number>('finalized')).toBe(5);
    for (const o of os.slice(5)) await a.call('share', 0, o);
    for (const o of os.slice(5)) expect(await b.call<boolean>('tryIncref', 0, o)).toBe(true);
    await a.call('decrefEach', 0, os.slice(5));                                 // now b holds the last ones
    await b.call('decrefEach', 0, os.slice(5));
    await a.call('checkpoint', 0);
    expect(await b.call<number>('finalized')).toBe(0);
    expect(rt.domain().stats().objects).toMatchObject({ created: 10, deallocated: 10, unfinalized: 5 });
    void t;
    void results;
  }, TEST_TIMEOUT);
});

describe('JS wrappers (opt-in FinalizationRegistry)', () => {
  it('release() gives the reference back once', async () => {
    const { rt, t } = await setup();
    const T = t.defineType({ name: 'W', size: 4 });
    const o = t.newObject(T);
    t.incref(o);
    const ref = t.objectRefs.wrap(o);
    expect(ref.address).toBe(o);
    ref.release();
    ref.release();
    expect(t.refcount(o)).toBe(1);
    t.decref(o);
    expect(rt.domain().stats().objects.deallocated).toBe(1);
  });

  it('a wrapper the JS collector takes gives its reference back (node --expose-gc)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
    const script = `
      import { Runtime } from ${JSON.stringify(entry)};
      const rt = await Runtime.create();
      const t = rt.attach();
      const T = t.defineType({ name: 'W', size: 4 });
      (() => { for (let i = 0; i < 100; i++) t.objectRefs.wrap(t.newObject(T)); })();
      for (let i = 0; i < 20 && rt.domain().stats().objects.deallocated < 100; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log(JSON.stringify(rt.domain().stats().objects));`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toMatchObject({ created: 100, deallocated: 100 });
  }, TEST_TIMEOUT);
});
