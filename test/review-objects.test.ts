// review-objects.test.ts — review 11 (issue 11: objects, biased reference
// counting): one reproducer per defect found. Each test failed on the code as
// reviewed (c4ccf71's parent); its comment gives the interleaving and the correct
// behaviour, which the fixes that followed implement: an immortal object's
// merge changes nothing; `merged` counts each take once; exit and detach are
// refused inside a finalizer (EINVAL_STATE) and the facade puts the
// finalizer's thread back as current; the QUEUED transition and the push happen
// under the owner's bucket lock with the object in the bucket's `pending` word,
// which a reap of a dead holder finishes; no chunk for a queue falls back to a
// stop-the-world merge; a thread records its bucket before linking itself.
// Debug build with real workers and pause points (assembly/debug-delay.ts:
// DP_BRC_QUEUED, and DP_OBJ_MERGE_TAKEN / DP_BRC_REGISTERED added for this
// review), except R8, which needs the release build (the debug fill hides it).
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime } from '../src/index.ts';
import { DP_BRC_QUEUED, DP_BRC_REGISTERED, DP_OBJ_MERGE_TAKEN, O_TID, ROOT } from '../src/abi.gen.ts';
import { Peer, pendingAfter, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 120_000;

// Offsets from assembly/layout.ts that the generated ABI does not export.
const T_SERIAL = 4;            // thread record: serial (the owner id objects carry)
const D_OBJECTS = 428;         // domain record: its object record
const D_CHUNK_FREE = 364;      // domain record: the chunk pool's free list
const OR_BUCKETS = 64;         // object record: 64 x {lock, threads}
const T_BRC_NEXT = 300;        // thread record: link in its bucket's thread list
const R_THREAD_SERIAL = 68;    // root record: serials handed out


async function world(workers: number, attach = true) {
  const rt = await Runtime.create({ debug: true });
  const t = rt.attach();
  const peers = await Peer.startMany(rt, newCtl(), workers);
  if (attach) for (const p of peers) await p.call('attach');
  return { rt, t, d: rt.domain(), peers };
}

const u32At = (rt: Runtime, p: number) => new DataView(rt.memory.buffer).getUint32(p, true);
const tidOf = (rt: Runtime, o: number) => u32At(rt, o + O_TID);
const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return 'OK';
};

describe('review 11: objects and biased reference counting', () => {
  // R1 (brc.ts brcExplicitMerge; object.ts objImmortalize / objMergeQueued).
  // Interleaving: t owns o (local 2: one is b's); b's decref finds the shared
  // count 0 and sets QUEUED (o goes on t's merge queue); b takes two references
  // back with tryIncref (shared count 2); t immortalizes o (allowed: it owns it);
  // t merges its queue. brcExplicitMerge folds O_LOCAL = 0xFFFFFFFF in as -1:
  // rc = 2 + (-1) + (-1) = 0, and the immortal object is deallocated while b
  // still holds two references (with shared count 0 it would become a mortal
  // MERGED object with count -2 whose decref is EREFCOUNT).
  // Correct: an immortal object stays immortal; the queued merge of an immortal
  // object changes nothing (refcount Infinity, never freed).
  it('R1 an immortal object waiting in its owner\'s merge queue is made mortal and freed by the merge', async () => {
    const { t, d, peers: [b] } = await world(1);
    const ty = t.defineType({ name: 'Imm', size: 8 });
    const o = t.newObject(ty);
    t.share(o);
    t.incref(o);                                          // b's reference (local 2)
    await b.call('decref', 0, o);                         // QUEUED, on t's queue
    expect(await b.call<boolean>('tryIncref', 0, o)).toBe(true);
    expect(await b.call<boolean>('tryIncref', 0, o)).toBe(true);
    t.immortalize(o);
    expect(t.refcount(o)).toBe(Infinity);
    t.mergeQueued();
    expect(d.stats().objects.deallocated).toBe(0);        // fails: 1, freed
    expect(t.isObject(o)).toBe(true);
    expect(t.refcount(o)).toBe(Infinity);
  }, TEST_TIMEOUT);

  // R2 (object.ts objMergeQueued, leave = true): `merged` accumulates over the
  // loop's takes, and every take adds the running total to T_OBJ_MERGED, so
  // the first take's objects are counted again at each later take.
  // Interleaving: a owns o1, o2 (local 2 each: one is b's); b's decref queues
  // o1; a exits and is paused after taking its queue (DP_OBJ_MERGE_TAKEN, still
  // registered); b's decref queues o2 to a; a goes on: merges o1 (+1), takes
  // again, merges o2 and adds 2. Correct: merged == queued == 2 (got 3).
  it('R2 an exiting owner whose queue is refilled while it merges counts the first merges twice', async () => {
    const { rt, t, d, peers: [a, b] } = await world(2);
    const f = pauseFlag(rt, t.alloc(8));
    t.detach();
    const ty = await a.call<number>('defineType', 0, 'M2', 8);
    const [o1, o2] = await a.call<number[]>('newObjects', 0, ty, 2);
    await a.call('increfN', 0, o1, 1);
    await a.call('increfN', 0, o2, 1);
    await b.call('decref', 0, o1);                        // queued to a
    await a.call('pauseAt', DP_OBJ_MERGE_TAKEN, f.addr, 1);
    const exit = a.call('exit', 0);
    await until(f.paused, 10_000, 'a took its queue while exiting');
    await b.call('decref', 0, o2);                        // queued to a, still registered
    f.release();
    await within(exit, 10_000, 'a\'s exit');
    const s = d.stats().objects;
    expect(s.queued).toBe(2);
    expect(s.merged).toBe(2);                             // fails: 3
  }, TEST_TIMEOUT);

  // R3 (object.ts objFinalize / objDealloc; abi/thread.ts ft_thread_exit).
  // A finalizer that exits its own thread: ft_thread_exit does not refuse (as it
  // refuses inside the thread's own stop-the-world), the thread leaves (counters
  // folded, record recycled, curThread = 0) and the deallocation then goes on
  // with no current thread: objFinalize queues o through brcQueue with
  // curThread 0 (domain read from address 24), objDealloc bumps "its"
  // T_OBJ_DEALLOC at address 280 (below ROOT) and ftFree fails ENOT_ATTACHED,
  // so the block leaks and the domain's books say the object still lives.
  // Correct: exit is refused while the thread is deallocating (EINVAL_STATE,
  // reported through onError), or deferred; the object is freed and counted.
  it('R3 a finalizer that exits its thread leaves the deallocation running with no thread', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const errors: unknown[] = [];
    rt.finalizers.onError = (e) => errors.push(e);
    const T = t.defineType({ name: 'Exiter', size: 8, finalize: (th) => { th.exit(); } });
    const o = t.newObject(T);
    expect(codeOf(() => t.decref(o))).toBe('OK');
    const other = rt.attach();
    expect(rt.domain().stats().objects).toMatchObject({ created: 1, deallocated: 1, live: 0 });   // fails: deallocated 0
    expect(other.isObject(o)).toBe(false);
  }, TEST_TIMEOUT);

  // R4 (object.ts objFinalize, objDealloc; brc.ts brcQueue): the deallocation
  // uses curThread after hostFinalize, but a finalizer may make another thread
  // of the same JS thread current (every Thread call does). Interleaving: t
  // (default domain) drops the last reference to o; o's finalizer calls
  // t2.checkpoint() (t2 of domain d2): t is detached, t2 is current. Back in
  // objFinalize, o looks foreign (tid != curTid): brcDecref queues it through
  // d2's bucket table, finds no owner there, merges it to 0; objDealloc then
  // counts the deallocation on t2 (d2's books: live -1) and ftFree refuses the
  // other domain's block (EWRONG_DOMAIN, ignored): the block leaks and the
  // default domain's books show o alive for good.
  // Correct: the deallocation finishes as the thread that started it (or
  // t2's entry is refused inside a finalizer); d1 {deallocated 1}, d2 untouched.
  it('R4 a finalizer that uses a thread of another domain moves the rest of the deallocation there', async () => {
    const rt = await Runtime.create({ debug: true });
    const d2 = rt.createDomain();
    const t2 = d2.attach();
    const t = rt.attach();
    const T = t.defineType({ name: 'Hop', size: 8, finalize: () => { t2.checkpoint(); } });
    const o = t.newObject(T);
    t.decref(o);
    expect(d2.stats().objects).toMatchObject({ created: 0, deallocated: 0, live: 0 });        // fails: deallocated 1, live -1
    expect(rt.domain().stats().objects).toMatchObject({ created: 1, deallocated: 1, live: 0 });
    expect(t.isObject(o)).toBe(false);
  }, TEST_TIMEOUT);

  // R5 (brc.ts brcDecrefShared -> brcQueue; lifecycle.ts threadReap): a thread
  // that dies between its QUEUED CAS and the push strands its decrement: the
  // shared word says QUEUED (the queue holds -1), but no queue holds o, and the
  // reap cannot know (nothing publishes the object being handed over, unlike
  // T_FREEING for bug 7). Interleaving: t owns o (local 2: one is b's); b's
  // decref sets QUEUED and is paused at DP_BRC_QUEUED; b's worker is
  // terminated and b reaped; t drops its own reference (local 1) and merges.
  // Nothing ever merges o: it leaks, and its "true count" reads 0 while it is
  // live (the owner's next decref would be EREFCOUNT).
  // Correct: the reap completes the dead thread's hand-off (merge for the
  // owner, or push it), so o dies with t's last reference.
  it('R5 a thread reaped between the QUEUED transition and the push loses its decrement: the object leaks', async () => {
    const { rt, t, d, peers: [b] } = await world(1);
    const f = pauseFlag(rt, t.alloc(8));
    const ty = t.defineType({ name: 'Lost', size: 8 });
    const o = t.newObject(ty);
    t.incref(o);                                          // b's reference
    const bid = await b.call<number>('id', 0);
    await b.call('pauseAt', DP_BRC_QUEUED, f.addr, 1);
    void b.call('decref', 0, o).catch(() => {});
    await until(f.paused, 10_000, 'b set QUEUED');
    await b.terminate();
    d.reap(bid);
    t.decref(o);                                          // t's own reference: the last one
    t.checkpoint();
    t.mergeQueued();
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 1, live: 0 });   // fails: deallocated 0
  }, TEST_TIMEOUT);

  // R6 (brc.ts brcQueue): when no chunk can be had (meta memory exhausted, the
  // pool empty), brcQueue asks the owner to merge and retries forever, spinning
  // attached (so it also holds up every stop-the-world). An owner that is
  // detached (or suspended, or on the same JS thread) never merges: the decref
  // never returns. Setup: 16 MiB memory, units taken by huge blocks, the meta
  // unit filled with type records; t (the owner, detached) holds o with local 2
  // (one is b's); b's decref needs the first chunk of t's queue.
  // Correct: the decref completes (CPython: stop the world, merge with -1 for
  // the owner), or fails with ENOMEM leaving the count unchanged.
  it('R6 a decref that needs a merge-queue chunk when none can be had spins forever', async () => {
    const rt = await Runtime.create({ debug: true, maximumMemory: 16 << 20 });
    const t = rt.attach();
    const [b] = await Peer.startMany(rt, newCtl(), 1);
    await b.call('attach');
    const ty = t.defineType({ name: 'NoChunk', size: 8 });
    const o = t.newObject(ty);
    t.incref(o);                                          // b's reference
    const enomem = (f: () => unknown) => {
      for (let n = 0; n < 100_000; n++) {
        try { f(); } catch (e) { if (e instanceof FtheapError && e.code === 'ENOMEM') return; throw e; }
      }
      throw new Error('no ENOMEM');
    };
    const huge: number[] = [];
    enomem(() => huge.push(t.alloc(3 << 20)));            // every unit taken
    const refs = Array.from({ length: 4096 }, (_, i) => i * 4);
    let i = 0;
    enomem(() => t.defineType({ name: `big${i++}`, size: 16384, refOffsets: refs }));   // ~16 KiB meta each
    enomem(() => t.defineType({ name: `small${i++}`, size: 0 }));                       // the rest, 64 B each
    const d = rt.domain();
    expect(u32At(rt, d.id + D_CHUNK_FREE)).toBe(0);      // no chunk in the pool either
    t.detach();
    const dec = b.call('decref', 0, o);
    expect(await pendingAfter(dec, 8000)).toBe(false);    // fails: still spinning
  }, TEST_TIMEOUT);

  // R7 (brc.ts brcRegister; thread.ts threadResetOwned): brcRegister links the
  // thread in its bucket, unlocks, and only then stores T_BRC_BUCKET. A thread
  // that dies in between stays linked: the reap's brcQueueTake sees bucket 0
  // and never unlinks it. When the record is reused, threadResetOwned zeroes
  // its T_BRC_NEXT without the bucket lock, cutting the threads behind it out
  // of the bucket's list: live owners then look gone. Interleaving: a and b get
  // serials in the same bucket; a registers (newObject); b registers and is
  // paused at DP_BRC_REGISTERED (b -> a in the list); b is killed and reaped;
  // its record is reused by c (main); a incref's o for c; c's decref finds the
  // shared count 0, sets QUEUED, looks a up — not found — and merges o for a
  // "gone" owner (a non-owner writing a live owner's local count).
  // Correct: a reaped thread is never left in a bucket list; c's decref queues
  // o to a (o keeps a's tid, queued 1).
  it('R7 a thread reaped while registering stays in its bucket; the record\'s reuse cuts live owners out', async () => {
    const { rt, t, d, peers: [a, b] } = await world(2, false);
    const f = pauseFlag(rt, t.alloc(8));
    await a.call('attach');
    const aid = await a.call<number>('id', 0);
    const sa = u32At(rt, aid + T_SERIAL);
    for (let n = 0; n < 200 && ((u32At(rt, ROOT + R_THREAD_SERIAL) + 1) & 63) !== (sa & 63); n++) rt.attach().exit();
    t.detach();
    await b.call('attach');
    const bid = await b.call<number>('id', 0);
    expect(u32At(rt, bid + T_SERIAL) & 63).toBe(sa & 63);   // the same bucket
    const ty = await a.call<number>('defineType', 0, 'Cut', 8);
    await b.call('defineType', 0, 'Cut', 8);
    const o = await a.call<number>('newObject', 0, ty);   // a registered first
    await b.call('pauseAt', DP_BRC_REGISTERED, f.addr, 1);
    void b.call('newObject', 0, ty).catch(() => {});
    await until(f.paused, 10_000, 'b linked in its bucket');
    await b.terminate();
    d.reap(bid);
    // The reaped thread is in no bucket list any more.
    const bucket = u32At(rt, d.id + D_OBJECTS) + OR_BUCKETS + (sa & 63) * 16;   // BRC_BUCKET_SIZE
    const listed: number[] = [];
    for (let th = u32At(rt, bucket + 4), n = 0; th !== 0 && n < 16; th = u32At(rt, th + T_BRC_NEXT), n++) listed.push(th);
    expect.soft(listed).not.toContain(bid);                // fails: still listed
    const c = rt.attach();                                 // reuses b's record
    expect(c.id).toBe(bid);
    await a.call('incref', 0, o);                          // c's reference
    c.decref(o);                                           // shared 0: QUEUED, to a
    expect(tidOf(rt, o)).toBe(u32At(rt, aid + T_SERIAL));  // still a's
    expect(d.stats().objects.queued).toBe(1);
  }, TEST_TIMEOUT);

  // R8 (object.ts objDealloc's worklist in O_LOCAL; abi/object.ts
  // ft_obj_refcount): a dead object's local word keeps the worklist link (the
  // address of the next dead object) after the free, and ft_obj_refcount
  // checks no deadness: in the release build (no fill) refcount of a freed
  // object returns that address as its count. Interleaving: p holds x and y;
  // x, y are dropped; p's decref frees all three; y's local word = x.
  // Correct: like decref (EREFCOUNT) and isObject (false), refcount of a freed
  // object says so: 0 or EINVAL_OBJECT, never a count in the millions.
  it('R8 refcount of a freed object returns its worklist link as a count (release build)', async () => {
    const rt = await Runtime.create({ debug: false });
    const t = rt.attach();
    const P = t.defineType({ name: 'P2', size: 8, refOffsets: [0, 4] });
    const L = t.defineType({ name: 'Leaf', size: 0 });
    const p = t.newObject(P), x = t.newObject(L), y = t.newObject(L);
    t.setRef(p, 0, x);
    t.setRef(p, 4, y);
    t.decref(x);
    t.decref(y);
    t.decref(p);
    expect(t.isObject(y)).toBe(false);
    let got: number | string;
    try { got = t.refcount(y); } catch (e) { got = e instanceof FtheapError ? e.code : String(e); }
    expect([0, 'EINVAL_OBJECT']).toContain(got);           // fails: got === x
  }, TEST_TIMEOUT);

  // R9 (src/object.ts defineType): bad input must be a typed FtheapError; a
  // non-iterable refOffsets is spread unchecked and throws a TypeError.
  // Correct: FtheapError EINVAL_ARG ('refOffsets: an array').
  it('R9 defineType with a non-array refOffsets throws a TypeError, not EINVAL_ARG', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    expect(codeOf(() => t.defineType({ name: 'Bad', size: 8, refOffsets: 4 as never }))).toBe('EINVAL_ARG');
  }, TEST_TIMEOUT);
});
