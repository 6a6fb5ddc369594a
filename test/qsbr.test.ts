// QSBR, delayed free and delayed page reuse, with real workers on one shared memory.
// Readers are workers whose threads stay attached (online) without checkpointing:
// nothing in these tests stops the world while they idle, except the slot-array
// growth test, whose workers checkpoint in loops.
import { describe, expect, it } from 'vitest';
import { Runtime, FtheapError, Tag } from '../src/index.ts';
import type { Thread } from '../src/index.ts';
import { expectBalanced, Peer, setupRuntime, until, useHarness, within } from './fixtures/harness.ts';
import { Ctl, iters, setCtl } from './fixtures/protocol.ts';
import type { LoopResult } from './fixtures/thread-shared.ts';

useHarness();

const SLICE = 32 * 1024;

/** A worker with one attached thread (index 0): online until it checkpoints or detaches. */
async function onlineReader(rt: Runtime, ctl: Int32Array, name = 'reader'): Promise<Peer> {
  const p = await Peer.start(rt, ctl, name);
  await p.call('attach');
  return p;
}

describe('QSBR goals', () => {
  it('advance returns the new, odd write sequence; deferredAdvance advances every Nth call', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const wr = d.qsbrInfo().wrSeq;
    expect(wr % 2).toBe(1);
    const g = t.qsbr.advance();
    expect(g).toBe(wr + 2);
    expect(d.qsbrInfo().wrSeq).toBe(g);
    d.configureQsbr({ deferLimit: 4 });
    const goals = Array.from({ length: 8 }, () => t.qsbr.deferredAdvance());
    // Calls 1..3 return wrSeq + 2 without writing it; the 4th advances (and returns the new value).
    expect(goals.slice(0, 4)).toEqual([g + 2, g + 2, g + 2, g + 2]);
    expect(goals.slice(4)).toEqual([g + 4, g + 4, g + 4, g + 4]);
    expect(d.qsbrInfo().wrSeq).toBe(g + 4);
    expect(d.qsbrInfo().options.deferLimit).toBe(4);
    t.exit();
  });

  it('a thread alone reaches a goal once it reports a quiescent state', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const g = t.qsbr.advance();
    expect(t.qsbr.goalReached(g)).toBe(false);
    expect(t.qsbr.poll(g)).toBe(false);          // its own read sequence is older than g
    t.qsbr.quiescent();
    expect(t.qsbr.seq).toBe(g);
    expect(t.qsbr.poll(g)).toBe(true);
    expect(t.qsbr.goalReached(g)).toBe(true);    // the poll published the new minimum
    t.exit();
  });

  it('rejects bad goals and options with typed errors and stays usable', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    for (const bad of [-1, 1.5, NaN, 2 ** 60]) {
      expect(() => t.qsbr.poll(bad)).toThrow(FtheapError);
      try { t.qsbr.poll(bad); } catch (e) { expect((e as FtheapError).code).toBe('EINVAL_ARG'); }
    }
    expect(() => rt.domain().configureQsbr({ deferLimit: 0 })).toThrow(/invalid argument/);
    expect(() => rt.domain().configureQsbr({ heldTags: [16] })).toThrow(FtheapError);
    expect(() => t.freeDelayed(12345)).toThrow(expect.objectContaining({ code: 'EINVAL_PTR' }));
    const p = t.alloc(10);
    t.free(p);
    expect(() => t.freeDelayed(p)).toThrow(FtheapError);   // already free
    t.freeDelayed(0);                                      // ignored
    expect(t.delayedPending).toBe(0);
    const q = t.alloc(10);
    t.freeDelayed(q);
    expect(t.delayedPending).toBe(1);
    t.checkpoint();
    expect(t.delayedPending).toBe(0);
    expectBalanced(rt, { delayedPending: 0 });
    t.exit();
  });
});

describe('reclamation with readers online', () => {
  it('an online reader holds back delayed frees until it checkpoints', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const writer = await Peer.start(rt, ctl, 'writer');
    await writer.call('attach');
    const before = await writer.call<{ delayedFreed: number }>('qsbrInfo');
    const ps = await writer.call<number[]>('allocMany', 0, 100, 64);
    await writer.call('freeDelayedMany', 0, ps);
    const goal = await writer.call<number>('qsbrAdvance', 0);
    for (let i = 0; i < 3; i++) await writer.call('checkpoint', 0);
    expect(await writer.call('delayedPending', 0)).toBe(100);
    expect(await writer.call('qsbrPoll', 0, goal)).toBe(false);
    expect((await writer.call<{ delayedFreed: number }>('qsbrInfo')).delayedFreed).toBe(before.delayedFreed);
    // The blocks are still allocated: the reader may still read them.
    expect(rt.stats().totals.blocksUsed).toBeGreaterThanOrEqual(100);

    await reader.call('checkpoint', 0);
    expect(await writer.call('qsbrPoll', 0, goal)).toBe(true);
    await writer.call('checkpoint', 0);
    expect(await writer.call('delayedPending', 0)).toBe(0);
    expect((await writer.call<{ delayedFreed: number }>('qsbrInfo')).delayedFreed).toBe(before.delayedFreed + 100);
  });

  it("a reader's detach reaches the goal just as a checkpoint does", async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const writer = await Peer.start(rt, ctl, 'writer');
    await writer.call('attach');
    const p = await writer.call<number>('alloc', 0, 256);
    await writer.call('freeDelayed', 0, p);
    const goal = await writer.call<number>('qsbrAdvance', 0);
    await writer.call('checkpoint', 0);
    expect(await writer.call('delayedPending', 0)).toBe(1);
    expect(await reader.call('qsbrSeq', 0)).toBeGreaterThan(0);
    await reader.call('detach', 0);
    expect(await reader.call('qsbrSeq', 0)).toBe(0);        // offline
    expect(await writer.call('qsbrPoll', 0, goal)).toBe(true);
    await writer.call('checkpoint', 0);
    expect(await writer.call('delayedPending', 0)).toBe(0);
    // Attaching again puts it online at the current write sequence.
    await reader.call('reattach', 0);
    expect(await reader.call('qsbrSeq', 0)).toBe(rt.domain().qsbrInfo().wrSeq);
  });

  it('offline threads never block: detached and exited threads are ignored', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const idle = await Peer.start(rt, ctl, 'idle');
    await idle.call('attach');     // thread 0: detached below
    await idle.call('attach');     // thread 1: attaching it detached thread 0
    await idle.call('exit', 1);
    expect(await idle.call('state', 0)).toBe('detached');
    const writer = await Peer.start(rt, ctl, 'writer');
    await writer.call('attach');
    const ps = await writer.call<number[]>('allocMany', 0, 50, 40);
    await writer.call('freeDelayedMany', 0, ps);
    await writer.call('checkpoint', 0);      // one checkpoint of the only online thread suffices
    expect(await writer.call('delayedPending', 0)).toBe(0);
    const info = rt.domain().qsbrInfo();
    expect(info.delayedPending).toBe(0);
  });

  it('a thread that exits with pending delayed frees loses nothing: the domain queue frees them', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const writer = await Peer.start(rt, ctl, 'writer');
    await writer.call('attach');
    const base = rt.stats().totals.blocksUsed;
    const n = 700;                                   // spans three 255-item chunks
    const ps = await writer.call<number[]>('allocMany', 0, n, 24);
    await writer.call('freeDelayedMany', 0, ps);
    await writer.call('checkpoint', 0);
    expect(await writer.call('delayedPending', 0)).toBe(n);
    await writer.call('exit', 0);
    // Handed to the domain, held by the reader; the items are still allocated (their
    // queue's chunks are meta memory, not blocks).
    expectBalanced(rt, { delayedPending: n, blocksUsed: base + n });
    expect(rt.domain().qsbrInfo().chunks).toBeGreaterThanOrEqual(Math.ceil(n / 255));
    await reader.call('checkpoint', 0);              // any thread's checkpoint processes the domain queue
    expectBalanced(rt, { delayedPending: 0, delayedFailed: 0, blocksUsed: base });
  });
});

describe('churn', () => {
  it('workers mixing free and freeDelayed, then exiting, leave the books balanced and nothing allocated', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const base = rt.stats().totals.blocksUsed;
    const peers = await Peer.startMany(rt, ctl, 4);
    await Promise.all(peers.map((p) => p.call('attach')));
    const delayed = await within(Promise.all(peers.map((p, i) => p.call<number>('delayedChurn', 0, 4000, 100 + i))),
      60_000, 'churn');
    const t = rt.attach();
    t.checkpoint();                                  // drains the domain queue the exited threads left
    expectBalanced(rt, { delayedQueued: delayed.reduce((a, b) => a + b, 0), delayedPending: 0, delayedFailed: 0,
      blocksUsed: base });
    t.exit();
  });
});

describe('delayed page reuse', () => {
  /** 32 KiB slices holding the blocks (small pages are one slice). */
  const slices = (ps: number[]) => new Set(ps.map((p) => Math.floor(p / SLICE)));

  async function emptiedObjectPages(rt: Runtime, t: Thread) {
    // Enough 48-byte objects for several pages, then all freed: the pages empty.
    const ps = Array.from({ length: 4000 }, () => t.alloc(48, Tag.OBJECT));
    const held = slices(ps);
    for (const p of ps) t.free(p);
    return held;
  }

  it('an emptied OBJECT page keeps its size class until its goal, then may be reused for others', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const t = rt.attach();
    const held = await emptiedObjectPages(rt, t);
    t.collect(true);
    t.checkpoint();
    const info = rt.domain().qsbrInfo();
    expect(info.pagesHeld).toBeGreaterThanOrEqual(held.size - 1);
    // Other size classes of the same tag must not land in a held page...
    const other = Array.from({ length: 3000 }, () => t.alloc(200, Tag.OBJECT));
    for (const p of other) expect(held.has(Math.floor(p / SLICE))).toBe(false);
    const pagesBefore = t.stats().totals.pages;
    // ... while the same size class may reuse one at once (that cancels its hold).
    const same = t.alloc(48, Tag.OBJECT);
    expect(held.has(Math.floor(same / SLICE))).toBe(true);
    expect(t.stats().totals.pages).toBe(pagesBefore);
    t.free(same);
    for (const p of other) t.free(p);

    // Page goals are deferred (wrSeq + 2): this checkpoint issues them, the
    // reader's passes them, and the next one frees the pages.
    t.checkpoint();
    expect(rt.domain().qsbrInfo().pagesHeld).toBeGreaterThan(0);
    await reader.call('checkpoint', 0);
    t.checkpoint();
    expect(rt.domain().qsbrInfo().pagesHeld).toBe(0);
    // Pages kept for reuse are held too when collected (their goal issued by collect).
    t.collect(true);
    await reader.call('checkpoint', 0);
    t.checkpoint();
    expect(t.stats().totals.pages).toBe(0);
    // Now the slices are free spans again: a different size class may take them.
    const later = Array.from({ length: 3000 }, () => t.alloc(200, Tag.OBJECT));
    expect(later.some((p) => held.has(Math.floor(p / SLICE)))).toBe(true);
    t.exit();
  });

  it('MEM pages are not held; heldTags makes any tag held', async () => {
    const { rt, ctl } = await setupRuntime(4);
    await onlineReader(rt, ctl);
    const t = rt.attach();
    const ps = Array.from({ length: 4000 }, () => t.alloc(48, Tag.MEM));
    for (const p of ps) t.free(p);
    t.collect(true);
    expect(rt.domain().qsbrInfo().pagesHeld).toBe(0);
    rt.domain().configureQsbr({ heldTags: [Tag.MEM, Tag.OBJECT] });
    const qs = Array.from({ length: 4000 }, () => t.alloc(48, Tag.MEM));
    for (const p of qs) t.free(p);
    t.collect(true);
    expect(rt.domain().qsbrInfo().pagesHeld).toBeGreaterThan(0);
    expect(rt.domain().qsbrInfo().options.heldTags).toEqual([0, 1]);
    t.exit();
  });
});

describe('QSBR slots', () => {
  it('grow past the initial 8 under stop-the-world with 20 workers attaching at once', async () => {
    const { rt, ctl } = await setupRuntime(4);
    expect(rt.domain().qsbrInfo().slots).toBe(8);
    const used0 = rt.domain().qsbrInfo().slotsUsed;   // setupRuntime's (detached) thread
    const n = 20;
    const peers = await Peer.startMany(rt, ctl, n);
    // Each worker attaches and checkpoints in a loop (so the growth's stops can pause it).
    const loops = peers.map(async (p, i) => {
      await p.call('attach');
      return p.call<LoopResult>('loop', 0, { slot: i, maxMs: 60_000 });
    });
    await until(() => peers.every((_, i) => Atomics.load(ctl, iters(i)) > 2), 60_000, 'every worker looping');
    const info = rt.domain().qsbrInfo();
    expect(info.slots).toBeGreaterThanOrEqual(32);
    expect(info.slotsUsed).toBe(used0 + n);
    // Reclamation works across all of them: a delayed free waits for every looper.
    const t = rt.attach();
    const p = t.alloc(100);
    t.freeDelayed(p);
    await until(() => { t.checkpoint(); return t.delayedPending === 0; }, 20_000, 'delayed free with 20 online threads');
    t.detach();
    setCtl(ctl, Ctl.STOP);
    const results = await within(Promise.all(loops), 60_000, 'loops');
    for (const r of results) expect(r.errors).toEqual([]);
    await Promise.all(peers.map((p) => p.call('exit', 0)));
    expect(rt.domain().qsbrInfo().slotsUsed).toBe(used0 + 1);   // t is detached, not exited
    t.attach();
    t.exit();
    expect(rt.domain().qsbrInfo().slotsUsed).toBe(used0);
  });

  it('a thread that may not block (browser main-thread rules) grows the slots by polling', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const used0 = rt.domain().qsbrInfo().slotsUsed;
    const loopers = await Peer.startMany(rt, ctl, 8 - used0);         // fill the 8 slots
    const loops = loopers.map(async (p, i) => {
      await p.call('attach');
      return p.call<LoopResult>('loop', 0, { slot: i, maxMs: 60_000 });
    });
    await until(() => loopers.every((_, i) => Atomics.load(ctl, iters(i)) > 2), 30_000, 'loopers');
    expect(rt.domain().qsbrInfo().slots).toBe(8);
    const nb = await Peer.start(rt, ctl, 'non-blocking', { nonBlocking: true });
    await nb.callWithin(30_000, 'attach');   // the 9th: grows under a polled stop
    expect(await nb.call('state', 0)).toBe('attached');
    expect(rt.domain().qsbrInfo().slots).toBe(16);
    expect(rt.domain().qsbrInfo().slotsUsed).toBe(9);
    await nb.call('detach', 0);
    setCtl(ctl, Ctl.STOP);
    for (const r of await within(Promise.all(loops), 30_000, 'loops')) expect(r.errors).toEqual([]);
  });

  it('domains have separate QSBR state', async () => {
    const rt = await Runtime.create();
    const d2 = rt.createDomain();
    const a = rt.attach();
    const g = a.qsbr.advance();
    expect(rt.domain().qsbrInfo().wrSeq).toBe(g);
    expect(d2.qsbrInfo().wrSeq).toBe(1);
    const b = d2.attach();                       // a detaches: one thread per JS thread at a time
    const p = b.alloc(32);
    b.freeDelayed(p);
    b.checkpoint();
    expect(d2.qsbrInfo().delayedFreed).toBe(1);
    expect(rt.domain().qsbrInfo().delayedQueued).toBe(0);
    b.exit();
    a.attach();
    a.exit();
  });
});

describe('debug fill', () => {
  it('fills freed blocks with 0xDD but keeps the object header words of held tags', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const keep = t.alloc(64, Tag.OBJECT);   // keeps the pages non-empty
    const cases: [number, number][] = [[Tag.MEM, 4], [Tag.OBJECT, 16], [Tag.GC, 16], [Tag.GC_PRE, 24], [7, 4]];
    for (const [tag, kept] of cases) {
      const other = t.alloc(64, tag);
      const p = t.alloc(64, tag);
      const u8 = () => new Uint8Array(rt.memory.buffer, p, 64);
      u8().fill(0x11);
      t.free(p);
      const bytes = [...u8()];
      // Word 0 is the free-list link; up to `kept` the header survives; the rest is 0xDD.
      expect(bytes.slice(4, kept).every((b) => b === 0x11), `tag ${tag} header`).toBe(true);
      expect(bytes.slice(kept).every((b) => b === 0xDD), `tag ${tag} body`).toBe(true);
      t.free(other);
    }
    t.free(keep);
    t.exit();
  });
});

describe('edge cases', () => {
  it('turning a tag off while its pages are held releases them cleanly', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const t = rt.attach();
    const d = rt.domain();
    const ps = Array.from({ length: 4000 }, () => t.alloc(48, Tag.OBJECT));
    for (const p of ps) t.free(p);
    t.collect(true);
    expect(d.qsbrInfo().pagesHeld).toBeGreaterThan(0);
    d.configureQsbr({ heldTags: [] });
    t.collect(true);
    expect(d.qsbrInfo().pagesHeld).toBe(0);
    expect(t.stats(Tag.OBJECT).totals.pages).toBe(0);
    // Held again from here on; the list still works.
    d.configureQsbr({ heldTags: [Tag.OBJECT] });
    const qs = Array.from({ length: 4000 }, () => t.alloc(48, Tag.OBJECT));
    for (const p of qs) t.free(p);
    t.collect(true);
    expect(d.qsbrInfo().pagesHeld).toBeGreaterThan(0);
    await reader.call('checkpoint', 0);
    t.checkpoint();
    expect(d.qsbrInfo().pagesHeld).toBe(0);
    t.exit();
  });

  it('a huge block of a held tag keeps its segment until the goal', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const t = rt.attach();
    const units = () => rt.stats().segments.unitsLive;   // 4 MiB units of live segments
    t.free(t.alloc(8, Tag.OBJECT));                  // both heaps exist (their records may take a unit)
    t.free(t.alloc(8, Tag.MEM));
    const u0 = units();
    const p = t.alloc(3 << 20, Tag.OBJECT);
    const m = t.alloc(3 << 20, Tag.MEM);
    expect(units()).toBe(u0 + 2);
    t.free(m);
    expect(units()).toBe(u0 + 1);                   // MEM: released at once
    t.free(p);
    expect(rt.stats().segments.huge).toBe(0);       // no live huge block...
    expect(() => t.free(p)).toThrow(expect.objectContaining({ code: 'EDOUBLE_FREE' }));
    t.checkpoint();
    expect(units()).toBe(u0 + 1);                   // ...but OBJECT's segment waits: a reader may read its header
    await reader.call('checkpoint', 0);
    t.checkpoint();
    expect(units()).toBe(u0);
    t.exit();
  });

  it('freeDelayed inside a stop-the-world frees at once when every other thread is offline', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const peers = await Peer.startMany(rt, ctl, 2);
    // Loopers that only checkpoint: paused at a checkpoint, a thread is offline. (One
    // paused inside malloc would stay online, and the free would wait as usual.)
    const loops = peers.map(async (p, i) => {
      await p.call('attach');
      return p.call<LoopResult>('loop', 0, { slot: i, allocs: 0 });
    });
    await until(() => peers.every((_, i) => Atomics.load(ctl, iters(i)) > 2), 20_000, 'loopers');
    const t = rt.attach();
    const p = t.alloc(64);
    const freed = rt.domain().qsbrInfo().delayedFreed;
    t.stopTheWorld(() => {
      t.freeDelayed(p);                             // loopers are paused at checkpoints: offline
      expect(rt.domain().qsbrInfo().delayedFreed).toBe(freed + 1);
    });
    expect(t.delayedPending).toBe(0);
    t.detach();
    setCtl(ctl, Ctl.STOP);
    for (const r of await within(Promise.all(loops), 20_000, 'loops')) expect(r.errors).toEqual([]);
  });

  it('thread ids from outside are checked', async () => {
    const rt = await Runtime.create();
    const x = rt.exports;
    for (const bad of [0, 3, 64, 0x7ffffff0]) {
      expect(x.ft_qsbr_thread_seq(bad)).toBe(-1);
      expect(x.ft_thread_state(bad)).toBe(0);
      expect(x.ft_interrupt(bad)).not.toBe(0);
    }
    const t = rt.attach();
    expect(x.ft_thread_state(t.id)).toBe(1);
    expect(x.ft_qsbr_thread_seq(t.id)).toBeGreaterThan(0);
    t.exit();
  });
});

describe('allocation does not end a read-side section', () => {
  it("a thread paused for a stop inside malloc keeps its QSBR seq, so a delayed free waits for it", async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    await reader.call('checkpoint', 0);
    const rid = await reader.call<number>('id', 0);
    const seq = await reader.call<number>('qsbrSeq', 0);
    const busy = reader.call<number>('allocNoCheckpoint', 0, Ctl.STOP);
    await until(() => Atomics.load(ctl, iters(0)) > 2, 20_000, 'allocating');
    const t = rt.attach();
    const seen: number[] = [];
    const p = t.alloc(64);
    for (let i = 0; i < 10; i++) {
      // The reader only stops inside malloc's slow path: it stays online with its old seq.
      t.stopTheWorld(() => {
        seen.push(rt.exports.ft_qsbr_thread_seq(rid));
        if (i === 0) t.freeDelayed(p);
        t.qsbr.advance();
      });
    }
    expect(seen).toEqual(Array(10).fill(seq));
    t.checkpoint();
    expect(t.delayedPending).toBe(1);                  // held back by the reader's old seq
    t.detach();
    setCtl(ctl, Ctl.STOP);
    expect(await within(busy, 20_000, 'allocator loop')).toBeGreaterThan(2);
    await reader.call('checkpoint', 0);
    t.attach();
    t.checkpoint();
    expect(t.delayedPending).toBe(0);
    t.exit();
  });
});

describe('held pages of exited threads', () => {
  it('keep their goal in the abandoned pool; a live checkpoint frees them once due, and the segment goes back', async () => {
    const { rt, ctl } = await setupRuntime(4);
    const reader = await onlineReader(rt, ctl);
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const held0 = d.qsbrInfo().pagesHeld;
    const churn = await Peer.start(rt, ctl, 'churn');
    const t = await churn.call<number>('attach');
    const id = await churn.call<number>('id', t);
    const ps = await churn.call<number[]>('allocMany', t, 2000, 48, Tag.OBJECT);
    await churn.call('freeMany', t, ps);
    await churn.call('exit', t);
    // The reader never checkpointed: the emptied OBJECT pages still wait, now in the pool.
    expect(d.qsbrInfo().pagesHeld).toBeGreaterThan(held0);
    expect(d.abandoned().segments).toBeGreaterThanOrEqual(1);
    expect(rt.stats().segments.unitsLive).toBeGreaterThanOrEqual(units0 + 1);
    // Collecting the pool before the goal frees nothing held.
    d.collectAbandoned();
    expect(d.qsbrInfo().pagesHeld).toBeGreaterThan(held0);
    // The reader's checkpoints pass the goal and collect the pool.
    const done = () => d.qsbrInfo().pagesHeld === held0 && rt.stats().segments.unitsLive === units0;
    for (let i = 0; i < 200 && !done(); i++) await reader.call('checkpoint', 0);
    expect(done()).toBe(true);
    expect(d.abandoned().segments).toBe(0);
    expect(d.abandoned().freed).toBeGreaterThanOrEqual(1);
    // The record, left with nothing, is reused.
    const t2 = await churn.call<number>('attach');
    expect(await churn.call<number>('id', t2)).toBe(id);
  });
});
