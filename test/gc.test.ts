// gc.test.ts — the cycle collector: cycles of many shapes freed and everything
// reachable kept intact; finalizers (once each, resurrection, errors); sweepAll;
// policies (threshold, the automatic one, disable); one collection on an
// allocation failure; the heap lock; zero on allocation; heap info; pystack
// roots; objects of abandoned segments; raw blocks never touched; a collection
// while 4 workers mutate their graphs loses nothing.
import { describe, expect, it } from 'vitest';
import { Checkpoint, FtheapError, Runtime, type Thread } from '../src/index.ts';
import { Peer, useHarness, within } from './fixtures/harness.ts';
import { flag, newCtl, setCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 120_000;

const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return 'OK';
};

async function setup(options: { debug?: boolean; maximumMemory?: number } = {}) {
  const rt = await Runtime.create({ debug: options.debug ?? true, maximumMemory: options.maximumMemory });
  const t = rt.attach();
  const d = rt.domain();
  let finalized = 0;
  const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true, finalize: () => { finalized++; } });
  return { rt, t, d, Node, finalized: () => finalized };
}

/** A node with a stamp in its third word, so a broken object shows. */
function node(t: Thread, type: number): number {
  const o = t.newObject(type);
  new DataView(t.runtime.memory.buffer).setUint32(t.payload(o) + 8, o ^ 0x5A5A5A5A, true);
  return o;
}
const intact = (t: Thread, o: number) => t.isObject(o) && new DataView(t.runtime.memory.buffer).getUint32(t.payload(o) + 8, true) === ((o ^ 0x5A5A5A5A) >>> 0);

describe('collect', () => {
  it('frees cycles of many shapes; what is reachable stays, contents intact, counts and owners right', async () => {
    const { t, d, Node, finalized } = await setup();
    const self = node(t, Node); t.setRef(self, 0, self); t.decref(self);
    const a = node(t, Node), b = node(t, Node); t.setRef(a, 0, b); t.setRef(b, 0, a); t.decref(a); t.decref(b);
    const ring = Array.from({ length: 1000 }, () => node(t, Node));
    ring.forEach((o, i) => t.setRef(o, 0, ring[(i + 1) % ring.length]));
    ring.forEach((o) => t.decref(o));
    // A cycle hanging off a live object: reachable, kept.
    const live = node(t, Node);
    const h1 = node(t, Node), h2 = node(t, Node);
    t.setRef(live, 0, h1); t.setRef(h1, 0, h2); t.setRef(h2, 0, h1);
    t.decref(h1); t.decref(h2);
    // A live cycle held from outside.
    const k1 = node(t, Node), k2 = node(t, Node); t.setRef(k1, 4, k2); t.setRef(k2, 4, k1); t.decref(k2);
    // Garbage that points at live objects: the live ones lose one reference.
    const g = node(t, Node); t.setRef(g, 0, g); t.setRef(g, 4, live); t.decref(g);
    expect(t.refcount(live)).toBe(2);
    const r = d.gc.collect();
    expect(r).toMatchObject({ collected: 1 + 2 + 1000 + 1, finalized: 1004, resurrected: 0, finalizerErrors: 0 });
    expect(finalized()).toBe(1004);
    for (const o of [live, h1, h2, k1, k2]) expect(intact(t, o)).toBe(true);
    expect([t.refcount(live), t.refcount(h1), t.refcount(h2), t.refcount(k1), t.refcount(k2)]).toEqual([1, 2, 1, 2, 1]);
    expect(t.getRef(live, 0)).toBe(h1);
    expect(t.getRef(h2, 0)).toBe(h1);
    expect(t.runtime.exports.ft_obj_is_owned(live)).toBe(1);   // the owner is back
    expect(r.pauseMs).toBeGreaterThan(0);
    expect(d.gc.info().lastPauseMs).toBe(r.pauseMs);
    // Nothing more to collect; then the rest goes.
    expect(d.gc.collect().collected).toBe(0);
    t.decref(live); t.decref(k1);
    expect(d.gc.collect().collected).toBe(4);
    expect(d.stats().objects).toMatchObject({ live: 0 });
  });

  it('a finalizer runs once, even when it resurrects its object and the object dies again later', async () => {
    const { t, d } = await setup();
    let runs = 0;
    let saved = 0;
    const holder = t.newObject(t.defineType({ name: 'Holder', size: 4, refOffsets: [0] }));
    const P = t.defineType({
      name: 'Phoenix', size: 8, refOffsets: [0], gc: true,
      finalize: (th, o) => { runs++; th.setRef(holder, 0, o); saved = o; },
    });
    const a = t.newObject(P), b = t.newObject(P);
    t.setRef(a, 0, b); t.setRef(b, 0, a); t.decref(a); t.decref(b);
    const r1 = d.gc.collect();
    expect(r1).toMatchObject({ finalized: 2, resurrected: 2, collected: 0 });   // each finalizer saved its object
    expect(runs).toBe(2);
    expect(t.isObject(a) && t.isObject(b)).toBe(true);
    expect(saved === a || saved === b).toBe(true);
    t.setRef(holder, 0, 0);                                   // unreachable again
    const r2 = d.gc.collect();
    expect(r2).toMatchObject({ finalized: 0, collected: 2 });
    expect(runs).toBe(2);
  });

  it('a throwing finalizer does not stop the collection; the error goes to onFinalizerError, counted', async () => {
    const { t, d } = await setup();
    const seen: Array<[string, number, number]> = [];
    d.gc.onFinalizerError = (e, o, type) => seen.push([(e as Error).message, o, type]);
    const B = t.defineType({ name: 'Bad', size: 4, refOffsets: [0], gc: true, finalize: () => { throw new Error('boom'); } });
    const xs = Array.from({ length: 10 }, () => t.newObject(B));
    xs.forEach((o, i) => t.setRef(o, 0, xs[(i + 1) % 10]));
    xs.forEach((o) => t.decref(o));
    const r = d.gc.collect();
    expect(r).toMatchObject({ collected: 10, finalized: 10, finalizerErrors: 10 });
    expect(seen.length).toBe(10);
    expect(seen[0][0]).toBe('boom');
    expect(seen[0][2]).toBe(B);
    d.gc.onFinalizerError = undefined;
    const ys = Array.from({ length: 3 }, () => t.newObject(B));
    ys.forEach((o) => { t.setRef(o, 0, o); t.decref(o); });
    expect(d.gc.collect()).toMatchObject({ collected: 3, finalizerErrors: 3 });   // counted only
  });

  it('no collection inside a finalizer; the heap lock refuses GC allocations and collections of its thread only', async () => {
    const { t, d, Node } = await setup();
    let inner = '';
    const F = t.defineType({ name: 'Nested', size: 4, refOffsets: [0], gc: true, finalize: () => { inner = codeOf(() => d.gc.collect()); } });
    const o = t.newObject(F); t.setRef(o, 0, o); t.decref(o);
    d.gc.collect();
    expect(inner).toBe('EINVAL_STATE');
    d.gc.lock();
    d.gc.lock();
    expect(d.gc.lockDepth).toBe(2);
    expect(codeOf(() => t.newObject(Node))).toBe('EHEAP_LOCKED');
    expect(codeOf(() => d.gc.collect())).toBe('EHEAP_LOCKED');
    const plain = t.newObject(t.defineType({ name: 'Plain', size: 4 }));   // non-GC objects are fine
    t.decref(plain);
    const p = t.alloc(64); t.free(p);
    expect(codeOf(() => t.alloc(64, 2))).toBe('EHEAP_LOCKED');   // a raw block on the GC tag is a GC allocation too
    d.gc.unlock();
    expect(codeOf(() => t.newObject(Node))).toBe('EHEAP_LOCKED');
    d.gc.unlock();
    expect(codeOf(() => d.gc.unlock())).toBe('ENOT_LOCKED');
    t.decref(t.newObject(Node));
  });

  it('a raw block on the GC tag and non-GC objects are never touched', async () => {
    const { rt, t, d, Node } = await setup();
    const raw = Array.from({ length: 50 }, () => t.alloc(32, 2));
    for (const p of raw) for (let i = 0; i < 32; i++) rt.bytes()[p + i] = (p + i) & 0xFF;
    const Plain = t.defineType({ name: 'PlainRef', size: 4, refOffsets: [0] });
    const plain = t.newObject(Plain);
    const x = node(t, Node);
    t.setRef(plain, 0, x);                 // a GC object held from a non-GC object: a root
    t.decref(x);
    const cyc = node(t, Node); t.setRef(cyc, 0, cyc); t.decref(cyc);
    expect(d.gc.collect().collected).toBe(1);
    for (const p of raw) for (let i = 0; i < 32; i++) expect(rt.bytes()[p + i]).toBe((p + i) & 0xFF);
    expect(intact(t, x)).toBe(true);
    expect(t.refcount(plain)).toBe(1);
    t.decref(plain);
  });
});

describe('policies', () => {
  it('the threshold schedules a collection at the allocating thread\'s checkpoint; disable() stops that, not collect()', async () => {
    const { t, d, Node } = await setup();
    expect(d.gc.threshold).toBe(0);
    d.gc.threshold = 64 * 1024;
    const before = d.gc.info().collections;
    for (let i = 0; i < 500; i++) { const o = t.newObject(Node); t.setRef(o, 0, o); t.decref(o); }
    expect(d.gc.info().collections).toBe(before);          // never inside an allocation
    for (let i = 0; i < 2000; i++) { const o = t.newObject(Node); t.setRef(o, 0, o); t.decref(o); }
    const ev = t.checkpoint();
    expect(ev & Checkpoint.GC_SCHEDULED).toBeTruthy();
    expect(d.gc.info().collections).toBe(before + 1);
    expect(d.stats().objects.live).toBeLessThan(2500);
    d.gc.disable();
    expect(d.gc.isEnabled()).toBe(false);
    for (let i = 0; i < 3000; i++) { const o = t.newObject(Node); t.setRef(o, 0, o); t.decref(o); }
    t.checkpoint();
    expect(d.gc.info().collections).toBe(before + 1);
    expect(d.gc.collect().collected).toBeGreaterThan(0);   // an explicit collection still runs
    d.gc.enable();
    expect(codeOf(() => { d.gc.threshold = -1; })).toBe('EINVAL_ARG');
  });

  it('the automatic policy (off by default) collects once enough young objects were made', async () => {
    const { t, d, Node } = await setup();
    expect(d.gc.auto).toBe(false);
    d.gc.auto = true;
    d.gc.autoMinYoung = 500;
    const before = d.gc.info().collections;
    for (let i = 0; i < 1000; i++) { const o = t.newObject(Node); t.setRef(o, 0, o); t.decref(o); t.checkpoint(); }
    expect(d.gc.info().collections).toBeGreaterThan(before);
  });

  it('an allocation that fails gets one collection, then one retry, then ENOMEM — never a second collection', async () => {
    const { t, d, Node } = await setup({ debug: false, maximumMemory: 32 << 20 });
    // Garbage cycles first, then fill the memory with live objects until the allocator fails.
    for (let i = 0; i < 20_000; i++) { const o = t.newObject(Node); t.setRef(o, 0, o); t.decref(o); }
    const c0 = d.gc.info().collections;
    const live: number[] = [];
    let code = 'OK';
    while (code === 'OK') {
      try { live.push(t.newObject(Node, 4000)); } catch (e) { code = (e as FtheapError).code; }
      if (live.length > 100_000) break;
    }
    expect(code).toBe('ENOMEM');
    const c1 = d.gc.info().collections;
    expect(c1).toBeGreaterThan(c0);                         // the garbage was collected on a failure first
    expect(codeOf(() => t.newObject(Node, 4000))).toBe('ENOMEM');
    expect(d.gc.info().collections).toBe(c1 + 1);           // exactly one more for this failed request
    for (const o of live) t.decref(o);
    t.decref(t.newObject(Node, 4000));                      // usable again
  }, TEST_TIMEOUT);

  it('zero on allocation: on for the GC tags by default, configurable per tag', async () => {
    const { rt, t, d } = await setup();
    expect(d.gc.zeroesOnAlloc(2)).toBe(true);
    expect(d.gc.zeroesOnAlloc(5)).toBe(false);
    const dirty = (tag: 2 | 5) => { const ps = Array.from({ length: 32 }, () => t.alloc(48, tag)); for (const p of ps) rt.bytes().fill(0xEE, p, p + 48); for (const p of ps) t.free(p); };
    const zeroed = (tag: 2 | 5) => { const p = t.alloc(48, tag); const z = rt.bytes().subarray(p, p + 48).every((b) => b === 0); t.free(p); return z; };
    dirty(2);
    expect(zeroed(2)).toBe(true);
    d.gc.zeroOnAlloc(5);
    dirty(5);
    expect(zeroed(5)).toBe(true);
    d.gc.zeroOnAlloc(5, false);
    dirty(5);
    expect(zeroed(5)).toBe(false);
  });

  it('info(): used + free == total; runs of free blocks counted', async () => {
    const { t, d, Node } = await setup();
    const os = Array.from({ length: 300 }, () => t.newObject(Node));
    os.forEach((o, i) => { if (i % 3 === 0) t.decref(o); });   // holes: runs of one or two free blocks
    const i = d.gc.info();
    expect(i.usedBytes + i.freeBytes).toBe(i.totalBytes);
    expect(i.usedBytes).toBeGreaterThanOrEqual(200 * 40);
    expect(i.oneBlockRuns).toBeGreaterThan(0);
    expect(i.largestFree).toBeGreaterThan(0);
  });
});

describe('sweepAll', () => {
  it('frees every object of the domain (GC or not, whatever its count), every finalizer first; no allocation meanwhile', async () => {
    const { t, d, Node, finalized } = await setup();
    let refused = '';
    const Plain = t.defineType({ name: 'PlainF', size: 4, finalize: (th) => { refused = codeOf(() => th.newObject(Node)); } });
    const live = Array.from({ length: 100 }, () => t.newObject(Node));
    const plains = Array.from({ length: 5 }, () => t.newObject(Plain));
    t.incref(live[0]);
    expect(d.gc.sweepAll()).toBe(105);
    expect(finalized()).toBe(100);
    expect(refused).toBe('EHEAP_LOCKED');
    for (const o of [...live, ...plains]) expect(t.isObject(o)).toBe(false);
    expect(d.stats().objects.live).toBe(0);
    t.decref(t.newObject(Node));                            // usable again
  });
});

describe('a thread that may not block (a browser main thread)', () => {
  it('collects: its stops poll instead of waiting, while another worker keeps checkpointing', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    t.detach();
    const ctl = newCtl();
    const n = await Peer.start(rt, ctl, 'non-blocking', { nonBlocking: true });
    const w = await Peer.start(rt, ctl, 'busy');
    await n.call('attach');
    await w.call('attach');
    const Node = await n.call<number>('defineType', 0, 'Node', 12, [0, 4], false, true);
    await n.call('gcGarbage', 0, Node, 100);
    const busy = w.call<number>('checkpointsUntilFlag', 0, flag(0));   // keeps checkpointing: paused by the stops
    const r = await within(n.call<{ collected: number; pauseMs: number }>('gcCollect', 0), 20_000, 'the non-blocking collection');
    expect(r.collected).toBe(200);
    setCtl(ctl, flag(0));
    expect((await within(busy, 20_000, 'the busy worker')) & Checkpoint.STOPPED).toBeTruthy();   // it was stopped, and went on
  }, TEST_TIMEOUT);
});

describe('close', () => {
  it('d.close() sweeps the domain\'s objects first: their finalizers run on the closing JS thread', async () => {
    const rt = await Runtime.create({ debug: true });
    const main = rt.attach();
    const d = rt.createDomain();
    const t = d.attach();
    let fin = 0;
    const N = t.defineType({ name: 'N', size: 4, refOffsets: [0], gc: true, finalize: () => { fin++; } });
    const P = t.defineType({ name: 'P', size: 4, finalize: () => { fin++; } });
    for (let i = 0; i < 10; i++) t.newObject(N);               // live, never dropped
    const p = t.newObject(P);
    void p;
    t.exit();
    expect(d.stats().objects.live).toBe(11);
    d.close();
    expect(fin).toBe(11);
    expect(main.alloc(8)).toBeGreaterThan(0);                  // the caller's thread comes back
  });
});

describe('roots and heaps', () => {
  it('exact object addresses in live pystack memory are roots; released ones are not', async () => {
    const { t, d, Node } = await setup();
    const mk = () => { const o = node(t, Node); t.setRef(o, 0, o); return o; };
    const a = mk(), b = mk();
    const slot = t.stack.alloc(16);
    const v = new DataView(t.runtime.memory.buffer);
    v.setUint32(slot, a, true);
    v.setUint32(slot + 4, b + 8, true);                     // interior: not a root
    t.decref(a); t.decref(b);
    expect(d.gc.collect().collected).toBe(1);               // b only
    expect(intact(t, a)).toBe(true);
    t.stack.free(slot);
    expect(d.gc.collect().collected).toBe(1);               // a, once its pystack word is gone
  });

  it('objects in abandoned segments are collected; a worker\'s cycles after it exits', async () => {
    const { rt, t, d, Node } = await setup();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    expect(await w.call<number>('defineType', 0, 'Node', 12, [0, 4], true, true)).toBe(Node);
    await w.call('gcGarbage', 0, Node, 500);
    await w.call('exit', 0);
    expect(d.abandoned().segments).toBeGreaterThan(0);
    expect(d.gc.collect().collected).toBe(1000);
    expect(d.stats().objects.live).toBe(0);
    void t;
  }, TEST_TIMEOUT);

  it('4 workers mutate their graphs while another collects over and over: no live object lost', async () => {
    const { rt, t, d, Node } = await setup();
    t.detach();
    const peers = await Peer.startMany(rt, newCtl(), 5);
    for (const p of peers) { await p.call('attach'); await p.call('defineType', 0, 'Node', 12, [0, 4], false, true); }
    const [collector, ...mutators] = peers;
    const work = mutators.map((p, i) => p.call<{ garbageMade: number; reachable: number }>('gcMutate', 0, Node, 6000, 40 + i));
    const collecting = collector.call<Array<{ collected: number }>>('gcCollectMany', 0, 15, 5);
    const done = await within(Promise.all(work), 100_000, 'the mutators');
    const runs = await within(collecting, 100_000, 'the collector');
    expect(done.every((r) => r.reachable > 0)).toBe(true);
    const last = await collector.call<{ collected: number }>('gcCollect', 0);
    const total = runs.reduce((s, r) => s + r.collected, 0) + last.collected;
    expect(total).toBeGreaterThan(0);
    // Every mutator dropped its roots at the end: after a final collection nothing is left.
    expect(d.stats().objects.live).toBe(0);
  }, TEST_TIMEOUT);
});
