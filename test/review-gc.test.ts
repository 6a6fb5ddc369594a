// review-gc.test.ts — review 12 (the cycle collector, assembly/gc.ts): one
// reproducer per defect found. Each test states the interleaving it forces and
// the correct behaviour; each failed at the code under review (e505df9). The
// fixes: every phase of a walk requires the object's marks (OF_OBJECT and the
// magic byte at +7), so a block on a delayed-free list or raw data is never an
// object; sweepAll drops the merge queues instead of merging them, makes every
// object it lists immortal while it runs, and is EBUSY while a collection runs;
// a reap ends a dead collector's collection (undoing a half-done pause before
// the world restarts; stale garbage loses its list reference at the next
// collection) and waits for a live one's to end before it touches the heaps;
// realloc zeroes the grown part in a zeroed tag, tag MEM refuses zeroing; a
// scheduled collection re-checks the policy.
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime, Tag } from '../src/index.ts';
import { DP_GC_PAUSE1, DP_REVIEW_REAP_RELEASE } from '../src/abi.gen.ts';
import { Peer, pendingAfter, sleep, until, useHarness, within } from './fixtures/harness.ts';
import { flag, newCtl, setCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 120_000;

const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return 'OK';
};

const ctlIs = (ctl: Int32Array, slot: number) => () => Atomics.load(ctl, slot) !== 0;

async function setup() {
  const rt = await Runtime.create({ debug: true });
  const t = rt.attach();
  const d = rt.domain();
  const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
  return { rt, t, d, Node };
}

describe('blocks that are not objects', () => {
  // gc.ts PH_ROOTS / PH_SCAN (gcVisit) test only the gc-bits byte (+6) of every
  // block the walk yields, not the OF_OBJECT marker. The walk yields every block
  // not on its page's three free lists — which includes blocks a remote free put
  // on the owning heap's delayed list (free.ts freeMt: +0 = key, +4 = the list's
  // link, so +6 is bits 16..23 of the next block's address). Interleaving: the
  // collector (t2) frees garbage of t1's full pages (the first remote free into a
  // full page goes to t1's heap delayed list); t1 does not allocate (its delayed
  // list stays); t2 collects again: a delayed block whose link has bit 16 set reads
  // as COLLECTING: either marked (link and key word overwritten) or, with the key
  // negative as an i32, put on the garbage list, decref'd to 0 and deallocated
  // again: a second ftFree of a free block (not detected: its first word was
  // overwritten) and one deallocation counted too many — stats().objects.live
  // goes below the true count, as in gc.test.ts's "4 workers mutate" run that
  // ended with live == -1. Correct: the second collection frees nothing, touches
  // no free block, and the books stay exact.
  it('a block on a heap\'s delayed-free list is never taken for an object (the live == -1 of gc.test.ts)', async () => {
    const { rt, t: t1, d, Node } = await setup();
    const kept: number[] = [];
    // ~40 full pages of t1's GC heap: every 16th object a self-cycle (garbage), the rest kept.
    for (let i = 0; i < 40 * 820; i++) {
      const o = t1.newObject(Node);
      if (i % 16 === 0) { t1.setRef(o, 0, o); t1.decref(o); } else kept.push(o);
    }
    t1.detach();
    const t2 = rt.attach();
    const first = d.gc.collect();
    expect(first.collected).toBe(Math.ceil(40 * 820 / 16));
    expect(d.stats().objects.live).toBe(kept.length);
    // t1's heap now has one block per full page on its delayed list. Collect again.
    let second: { collected: number } | string;
    try { second = d.gc.collect(); } catch (e) { second = String(e); }
    expect(second).toMatchObject({ collected: 0 });
    expect(d.stats().objects.live).toBe(kept.length);
    t2.detach();
    t1.attach();
    // t1's next slow-path allocation drains its delayed list: the heap must be intact.
    const more = Array.from({ length: 5000 }, () => t1.newObject(Node));
    expect(codeOf(() => t1.validate())).toBe('OK');
    for (const o of [...kept, ...more]) t1.decref(o);
    expect(d.stats().objects.live).toBe(0);
    void rt;
  }, TEST_TIMEOUT);
});

describe('raw blocks of a GC tag', () => {
  // The same PH_ROOTS / PH_SCAN test as above, on a raw block the program filled:
  // a block of bytes 0x01 reads as COLLECTING with gc_refs 0x01010101 (> 0): it is
  // "marked" (+0 := 0, +6 |= REACHABLE, then +0 := an owner serial, +6 := 0); a
  // block of 0xFD reads as COLLECTING with gc_refs < 0: it goes on the garbage
  // list, gets "merged" (+8, +12 overwritten) and is decref'd — and freed while the
  // program still owns it. gc.test.ts's "raw block ... never touched" passes only
  // because its pattern (p + i) & 0xFF has an even byte at +6. Correct: a raw block
  // is never read as an object, whatever its bytes.
  it('a raw GC block whose +6 byte is odd is neither written nor freed', async () => {
    const { rt, t, d } = await setup();
    const fills = [0x01, 0xFD, 0xFF, 0x05];
    const raw = fills.map((f) => { const p = t.alloc(48, Tag.GC); rt.bytes().fill(f, p, p + 48); return p; });
    const r = d.gc.collect();
    const changed = raw.filter((p, i) => !rt.bytes().subarray(p, p + 48).every((b) => b === fills[i])).length;
    expect({ collected: r.collected, changed, live: d.stats().objects.live }).toEqual({ collected: 0, changed: 0, live: 0 });
    for (const p of raw) expect(codeOf(() => t.free(p))).toBe('OK');   // still the program's blocks
  });

  // gc.ts isGcObject (and inSet) identify an object by OF_OBJECT (bit 1 of the
  // u16 at +4) and a defined GC type id at +16: bytes a program may well store in
  // a raw block of a GC tag (here the u32 array [5, 2, 0, 0, Node, 0, ...]). Such
  // a block joins the set with gc_refs = 0 (+8 and +12 read as its counts), is
  // found unreachable, and the delete phase "deallocates" it: the program's block
  // is freed under it and counted as a deallocated object. Correct: only blocks the
  // core made objects (objNew) are objects — the marker must not be forgeable by
  // raw data (e.g. a per-page or side bitmap, or raw blocks kept off GC pages).
  it('a raw GC block holding small integers that look like a header is not an object', async () => {
    const { rt, t, d, Node } = await setup();
    const p = t.alloc(32, Tag.GC);
    const words = [5, 2, 0, 0, Node, 0, 0, 0];
    const view = () => new Uint32Array(rt.memory.buffer, p, 8);
    view().set(words);
    const r = d.gc.collect();
    expect({ collected: r.collected, words: [...view()], live: d.stats().objects.live })
      .toEqual({ collected: 0, words, live: 0 });
    expect(codeOf(() => t.free(p))).toBe('OK');
  });
});

describe('sweepAll', () => {
  // gc.ts gcSweepAll: its pause merges every queue (mergeAllQueues): an object
  // whose queued decrement takes it to 0 gets +1 and goes on `later` — and, being
  // an object, on the sweep list too (PH_SWEEP takes every OF_OBJECT block;
  // gcCollect keeps `later` objects out of the garbage as roots, sweepAll does
  // not). After the restart decrefLater deallocates it (objDealloc: counted,
  // tid := 0, then freed: the free writes its free-list link at +0 — the tid
  // word, which was its sweep-list link); the sweep then follows that link into
  // foreign memory (here: "memory access out of bounds"), or, with the link cut,
  // frees the object a second time and never frees those after it. Interleaving (one JS thread):
  // v makes 10 objects and detaches; t drops one of v's references (queued to v,
  // never merged: v stays detached); t sweeps. Correct: every object freed
  // exactly once, live == 0.
  it('an object whose queued decrement reaches 0 in the sweep\'s pause is freed once, and the sweep goes on past it', async () => {
    const rt = await Runtime.create({ debug: true });
    const v = rt.attach();
    const d = rt.domain();
    const Plain = v.defineType({ name: 'Plain', size: 8 });
    const objs = Array.from({ length: 10 }, () => v.newObject(Plain));
    v.detach();
    const t = rt.attach();
    t.decref(objs[5]);                     // v's reference, handed to t: queued on v
    expect(d.stats().objects.live).toBe(10);
    let n: number | string;
    try { n = d.gc.sweepAll(); } catch (e) { n = String(e); }
    const s = d.stats().objects;
    expect({ n, live: s.live, stillObjects: objs.filter((o) => t.isObject(o)).length })
      .toEqual({ n: 10, live: 0, stillObjects: 0 });
  });

  // gc.ts gcSweepAll lists every object in its pause and frees them after the
  // world restarted, without making them its own: they keep their counts and
  // owners, and their tid words become the list's links. A thread that still
  // drops a reference meanwhile (here the owner m, after the list was made, while
  // s runs a finalizer) finds itself not the owner (tid is a link), queues to a
  // "thread" that does not exist, merges, reaches 0 and deallocates the object:
  // its free writes the free-list link over the tid word (the sweep's link), and
  // the sweep follows it into foreign memory ("memory access out of bounds"), or
  // frees the object again. Correct: each object is deallocated exactly once (the sweep's
  // objects are its own, e.g. merged with +1 as gcCollect does), books exact.
  it('a decref by another thread while sweepAll runs its finalizers does not free an object twice', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const ctl = newCtl();
    const [s, m] = await Peer.startMany(rt, ctl, 2);
    await s.call('attach');
    await m.call('attach');
    const H = await s.call<number>('gcHoldType', 0, 'Hold', 4, [], false, flag(0), flag(1));
    const Plain = await m.call<number>('defineType', 0, 'Plain', 8);
    const mine = await m.call<number[]>('newObjects', 0, Plain, 20);
    const h = t.newObject(H);                                  // its finalizer (s's) holds the sweep open
    void h;
    t.detach();
    await s.call('detach', 0);
    const dropping = m.call<string>('decrefWhen', 0, mine[7], flag(2), flag(3));
    const sweeping = s.call<number>('gcSweepAll', 0);
    await until(ctlIs(ctl, flag(0)), 20_000, 'sweepAll runs the finalizer');
    setCtl(ctl, flag(2));                                      // m drops its reference now
    await until(ctlIs(ctl, flag(3)), 20_000, 'm dropped it');
    setCtl(ctl, flag(1));
    const n = await within(sweeping, 20_000, 'sweepAll').catch((e) => String(e));
    expect(await dropping).toBe('OK');
    const st = d.stats().objects;
    expect({ n, live: st.live, deallocatedEqualsCreated: st.deallocated === st.created })
      .toEqual({ n: 21, live: 0, deallocatedEqualsCreated: true });
  }, TEST_TIMEOUT);

  // gc.ts gcSweepAll spins on `while (!cas(OR_GC_COLLECTING)) {}` while attached,
  // never reaching a checkpoint. A collection running on another thread (here in
  // its finalizers, world running) then needs its second pause: its stop waits
  // for the spinning thread, which waits for the collection: a deadlock (the same
  // with pause 1 when the collector took the word just before). Correct: sweepAll
  // waits where a stop can pause it (or fails with EBUSY/EINVAL_STATE); the
  // collection ends, then the sweep runs. Fixed: EBUSY at once; the caller (the
  // worker op) retries after a checkpoint, which lets the collection's stop through.
  it('sweepAll while another thread collects: both finish', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const ctl = newCtl();
    const [a, b] = await Peer.startMany(rt, ctl, 2);
    await a.call('attach');
    await b.call('attach');
    const H = await a.call<number>('gcHoldType', 0, 'Hold', 4, [0], true, flag(0), flag(1));
    const h = t.newObject(H); t.setRef(h, 0, h); t.decref(h);   // garbage with a finalizer a runs
    t.detach();
    await b.call('detach', 0);
    const collecting = a.call('gcCollect', 0);
    await until(ctlIs(ctl, flag(0)), 20_000, 'a runs the finalizer (it holds the collection)');
    const sweeping = b.call<number>('gcSweepAll', 0, flag(2));
    await until(ctlIs(ctl, flag(2)), 20_000, 'b calls sweepAll');
    await sleep(50);
    setCtl(ctl, flag(1));                                        // a's finalizer returns: a needs its second pause
    await within(collecting, 10_000, 'the collection (its second pause needs b)');
    await a.call('detach', 0);                                   // idle from here: the sweep's stop must not wait for it
    await within(sweeping, 10_000, 'the sweep');
  }, TEST_TIMEOUT);
});

describe('a collector whose worker dies', () => {
  // gc.ts: OR_GC_COLLECTING (and GCF_SWEEPING) are released only by the thread
  // that set them; a reap (lifecycle.ts threadReap) knows nothing of them. A
  // worker killed inside a finalizer its collection runs, then reaped: every later
  // collect() of the domain "succeeds" at once with nothing collected (the CAS
  // fails), the threshold/auto policies never schedule again, sweepAll spins
  // forever; the dead collector's garbage keeps its list reference and gc bits.
  // Correct: the reap ends the dead thread's collection (or a later collection can
  // take over) and the domain collects again.
  it('a collector killed inside a finalizer and reaped: the domain collects again', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
    const ctl = newCtl();
    const [a] = await Peer.startMany(rt, ctl, 1);
    await a.call('attach');
    const aid = await a.call<number>('id', 0);
    const H = await a.call<number>('gcHoldType', 0, 'Hold', 4, [0], true, flag(0), flag(1), 60_000);
    const h = t.newObject(H); t.setRef(h, 0, h); t.decref(h);
    t.detach();
    void a.call('gcCollect', 0).catch(() => {});
    await until(ctlIs(ctl, flag(0)), 20_000, 'a runs the finalizer');
    await a.terminate();
    d.reap(aid);
    t.attach();
    const x = t.newObject(Node); t.setRef(x, 0, x); t.decref(x);
    expect(d.gc.collect().collected).toBeGreaterThanOrEqual(1);
  }, TEST_TIMEOUT);

  // Same, killed with the world stopped in pause 1 (reaping restarts the world:
  // stop-the-world.ts). Every GC object's tid word still holds its gc_refs (and
  // +6 its gc bits): the owner no longer owns its objects (is_owned 0), and a
  // tid equal to some live thread's serial makes that thread their "owner".
  // Correct: the headers are restored (or the collection finished/undone) when
  // the collector is reaped; the owner owns its object again and collections work.
  it('a collector killed in pause 1 and reaped: owners keep their objects, the domain collects again', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
    const o = t.newObject(Node); t.incref(o); t.incref(o);      // count 3: gc_refs 3 in its tid word
    const f = pauseFlag(rt, t.calloc(1, 4));
    const ctl = newCtl();
    const [c] = await Peer.startMany(rt, ctl, 1);
    await c.call('attach');
    const cid = await c.call<number>('id', 0);
    await c.call('pauseAt', DP_GC_PAUSE1, f.addr, 1);
    t.detach();
    void c.call('gcCollect', 0).catch(() => {});
    await until(f.paused, 20_000, 'c in pause 1');
    await c.terminate();
    d.reap(cid);
    t.attach();
    expect({ owned: rt.exports.ft_obj_is_owned(o), refcount: t.refcount(o) }).toEqual({ owned: 1, refcount: 3 });
    const x = t.newObject(Node); t.setRef(x, 0, x); t.decref(x);
    expect(d.gc.collect().collected).toBeGreaterThanOrEqual(1);
  }, TEST_TIMEOUT);

  // Same, killed inside a finalizer sweepAll runs: GCF_SWEEPING stays set, and
  // every objNew of the domain fails with EHEAP_LOCKED for good. Correct: the
  // reap ends the dead thread's sweep; objects can be made again.
  it('a sweeper killed inside a finalizer and reaped: objects can be made again', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
    const ctl = newCtl();
    const [s] = await Peer.startMany(rt, ctl, 1);
    await s.call('attach');
    const sid = await s.call<number>('id', 0);
    const H = await s.call<number>('gcHoldType', 0, 'Hold', 4, [], false, flag(0), flag(1), 60_000);
    t.newObject(H);
    t.detach();
    void s.call('gcSweepAll', 0).catch(() => {});
    await until(ctlIs(ctl, flag(0)), 20_000, 's runs the finalizer');
    await s.terminate();
    d.reap(sid);
    t.attach();
    expect(codeOf(() => t.decref(t.newObject(Node)))).toBe('OK');
  }, TEST_TIMEOUT);
});

describe('a reap while the world is stopped', () => {
  // gc.ts walks with the world stopped but without headLock (CPython visits
  // heaps under STW *and* HEAD_LOCK, cpython_ft_spec.md §3.4), and a reap
  // (lifecycle.ts threadReap) is not a thread the stop pauses: it runs on any
  // instance, takes headLock only to mark the record EXITED, then acts as the
  // dead thread while the collector walks — merging its queue (brcExplicitMerge:
  // local := 0, tid := 0, shared := MERGED) over headers whose tid word holds
  // gc_refs. Interleaving: v (killed) owns o (local 2: one reference handed to t,
  // one queued to v by t's decref) and x (held by o only); r reaps v and is held
  // after marking it EXITED (so the collection does not merge v's queue); c is
  // held in pause 1 after PH_INIT (o's gc_refs = 2 in its tid word); r goes on
  // and merges o: gc_refs := 0 — t's reference is forgotten; c goes on: o and x
  // are unreachable, o's reference to x is cleared and x freed, while t still
  // holds o. Correct: the reap waits for the pause (or the collector for the
  // reap): o keeps x, nothing is collected.
  it('a reap during pause 1 merges an object of the set: an object held from outside is not taken for garbage', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const Node = t.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
    const f1 = pauseFlag(rt, t.calloc(1, 4)), f2 = pauseFlag(rt, t.calloc(1, 4));
    const ctl = newCtl();
    const [v, r, c] = await Peer.startMany(rt, ctl, 3);
    await v.call('attach');
    const vid = await v.call<number>('id', 0);
    const [o, x] = await v.call<number[]>('newObjects', 0, Node, 2);
    await v.call('setRef', 0, o, 0, x);
    await v.call('decref', 0, x);                  // x: held by o only
    await v.call('incref', 0, o);                  // o: local 2, both references handed to t
    await v.call('detach', 0);
    t.decref(o);                                   // one of them dropped: queued to v (never merged by v)
    t.detach();                                    // t keeps the other
    await v.terminate();
    await r.call('pauseAt', DP_REVIEW_REAP_RELEASE, f1.addr, 1);
    const reaping = r.call('reapIn', 0, vid);
    await until(f1.paused, 20_000, 'v marked EXITED');
    await c.call('attach');
    await c.call('pauseAt', DP_GC_PAUSE1, f2.addr, 1);
    const collecting = c.call<{ collected: number }>('gcCollect', 0);
    await until(f2.paused, 20_000, 'c in pause 1, gc_refs in the tid words');
    f1.release();
    await pendingAfter(reaping, 1000);             // the reap goes on (here: inside the pause)
    f2.release();
    const res = await within(collecting, 20_000, 'the collection');
    await within(reaping, 20_000, 'the reap');
    t.attach();
    expect({ collected: res.collected, ref: t.getRef(o, 0), xAlive: t.isObject(x) })
      .toEqual({ collected: 0, ref: x, xAlive: true });
  }, TEST_TIMEOUT);
});

describe('policies and zeroing', () => {
  // abi/alloc.ts zeroes raw allocations of a zeroed tag only in ft_heap_malloc,
  // ft_heap_aligned_alloc (and calloc). (a) ft_realloc's move (alloc.ts
  // heapRealloc: heapMalloc in the block's tag, copy the old bytes) does not: the
  // grown part of a GC-tag block holds whatever the reused block held (MicroPython
  // zeroes it, micropython_gc.md §3.4). (b) zeroOnAlloc(Tag.MEM) is accepted, but
  // alloc(size) on tag MEM goes to ft_malloc, which never zeroes. Correct: every
  // raw allocation of a zeroed tag reads 0 past what realloc copied.
  it('zero on allocation covers realloc\'s new part and tag MEM', async () => {
    const { rt, t, d } = await setup();
    const stale = (tag: number, make: () => number) => {
      const dirty = Array.from({ length: 64 }, () => t.alloc(200, tag));
      for (const p of dirty) rt.bytes().fill(0xEE, p, p + 200);
      for (const p of dirty) t.free(p);
      let n = 0;
      const keep: number[] = [];
      for (let i = 0; i < 128; i++) {
        const q = make();
        keep.push(q);
        if (!rt.bytes().subarray(q, q + 200).every((b) => b === 0)) n++;
      }
      for (const q of keep) t.free(q);
      return n;
    };
    const realloc = stale(Tag.GC, () => t.realloc(t.alloc(16, Tag.GC), 200));
    expect(realloc).toBe(0);
    // (b) fixed by refusing: tag MEM keeps its lean fast path and is never zeroed (calloc is there).
    expect(codeOf(() => d.gc.zeroOnAlloc(Tag.MEM))).toBe('EINVAL_TAG');
  });

  // object.ts gcAccount sets GC_SCHEDULED on every thread whose flush finds the
  // domain past its threshold; thread.ts collectScheduled then collects
  // unconditionally. Two threads scheduled before either checkpoints: the first
  // collects and resets the count; the second collects again with nothing
  // allocated since (N threads: N back-to-back full collections). CPython
  // re-checks the heuristic in the scheduled thread (cpython_ft_spec.md §5.6).
  // Correct: the second checkpoint does not collect (allocatedBytes 0 < threshold).
  it('a scheduled collection is skipped when another thread collected since', async () => {
    const rt = await Runtime.create({ debug: true });
    const t1 = rt.attach();
    const d = rt.domain();
    const Node = t1.defineType({ name: 'Node', size: 12, refOffsets: [0, 4], gc: true });
    d.gc.threshold = 8192;
    const a = Array.from({ length: 300 }, () => t1.newObject(Node));   // > 8 KiB: t1 scheduled
    t1.detach();
    const t2 = rt.attach();
    const b = Array.from({ length: 300 }, () => t2.newObject(Node));   // t2 scheduled too
    const c0 = d.gc.info().collections;
    t2.checkpoint();
    expect(d.gc.info().collections).toBe(c0 + 1);
    expect(d.gc.counters().allocatedBytes).toBe(0);
    t2.detach();
    t1.attach();
    t1.checkpoint();
    expect(d.gc.info().collections).toBe(c0 + 1);
    void a; void b;
  });
});
