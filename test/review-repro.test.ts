// review-repro.test.ts — reproducers from the adversarial review of thread exit,
// abandonment, reclaim, reaping and domain teardown. Debug build, real workers on
// one shared memory, pause points DP_REVIEW_* (assembly/debug-delay.ts, 50..53)
// force each interleaving. Each test names the interleaving it forces and what
// correct code must do; at the reviewed commit (3d7d8cd) every one of them FAILS.
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime } from '../src/index.ts';
import { DP_EXIT_BEFORE_ABANDON, DP_REVIEW_CLOSE_ENTER, DP_REVIEW_COLLECT_EMPTY, DP_REVIEW_DQ_LOCKED, DP_REVIEW_FREE_MT_DELAYED, DP_REVIEW_FREE_MT_PUSHED, DP_REVIEW_POOL_LOCKED,
  DP_REVIEW_REAP_RELEASE } from '../src/abi.gen.ts';
import { Peer, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const SEG = 1 << 22;
const D_ABANDON_DIRTY = 396;   // assembly/layout.ts (not in the generated ABI)


const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); }
  return 'OK';
};

describe('review reproducers', () => {
  // Bug 1 (FAILS: hang, caught by the bounded wait). Forced: the victim takes the
  // domain's pool lock at a checkpoint (abandonedCollect, DP_REVIEW_POOL_LOCKED)
  // and is terminated there. Reaping it runs its exit from outside:
  // abandonSegments needs the pool lock for the victim's own segment and spins on
  // it forever (poolLock has no way out), so d.reap() never returns — on the main
  // thread (startWorker's exit handler) that freezes the process. Correct: reap
  // returns (releasing the dead holder's pool lock, as stwReleaseDead does for a
  // scope lock, or at least reporting it).
  it('bug 1: reap of a worker killed while holding the abandoned pool lock returns', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const f = pauseFlag(rt, t.alloc(8));
    const [victim, w1, reaper] = await Peer.startMany(rt, newCtl(), 3);
    await victim.call('attach');
    const vid = await victim.call<number>('id', 0);
    await victim.call('allocMany', 0, 10, 64);         // the victim owns a segment: its reap abandons it
    await w1.call('attach');
    await w1.call('alloc', 0, 64);                     // a live block: w1's segment is pooled at exit
    await w1.call('exit', 0);                          // ...and the pool is marked dirty
    expect(d.abandoned().segments).toBe(1);
    await victim.call('pauseAt', DP_REVIEW_POOL_LOCKED, f.addr, 1);
    victim.call('checkpoint', 0).catch(() => {});
    await until(f.paused, 10_000, 'the victim holds the pool lock');
    expect(d.abandoned().lockHolder).toBe(vid);
    await victim.terminate();
    const reap = reaper.call('reapIn', 0, vid);
    reap.catch(() => {});
    await within(reap, 10_000, 'reap of the dead pool-lock holder');
  }, TEST_TIMEOUT);

  // Bug 2 (FAILS: a word of an unrelated live block is overwritten). Forced: a
  // remote free of the last live block of an abandoned segment S pauses right
  // after its CAS pushed the block (DP_REVIEW_FREE_MT_PUSHED), before freeMt reads
  // S's header. Meanwhile the pool is collected: S's page empties, S goes back to
  // the runtime, and a 2-unit huge block takes S's unit as its continuation unit;
  // the program writes its data (0 where S's xthreadId was, a value V where S's
  // domain was). freeMt then reads xthreadId 0 and markAbandonDirty stores 1 at
  // V + D_ABANDON_DIRTY: an arbitrary write. Correct: the freed block's word stays.
  it('bug 2: freeMt reads the segment header after its push, when the segment may be gone', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const f = pauseFlag(rt, t.alloc(8));
    const target = t.alloc(64);                        // an unrelated live block of main's
    new Int32Array(rt.memory.buffer)[target >>> 2] = 0;
    const [w1, w2] = await Peer.startMany(rt, newCtl(), 2);
    await w1.call('attach');
    const x = await w1.call<number>('alloc', 0, 3 << 20);   // huge, one unit
    const p = await w1.call<number>('alloc', 0, 64);        // its first normal segment: the next unit
    const segX = x - (x % SEG), segP = p - (p % SEG);
    expect(segP).toBe(segX + SEG);                           // setup precondition
    await w1.call('free', 0, x);                             // unit segX free again
    await w1.call('exit', 0);                                // segP pooled, p live
    expect(d.abandoned().segments).toBe(1);
    await w2.call('attach');
    await w2.call('pauseAt', DP_REVIEW_FREE_MT_PUSHED, f.addr, 1);
    const freeing = w2.call('free', 0, p);
    freeing.catch(() => {});
    await until(f.paused, 10_000, 'the remote free pushed its block');
    expect(d.collectAbandoned()).toBe(1);                   // segP given back to the runtime
    const h = t.alloc(6 << 20);                             // two units: segX (head) + segP (continuation)
    expect(h - (h % SEG)).toBe(segX);                        // setup precondition
    const m = new Int32Array(rt.memory.buffer);
    m[segP >>> 2] = 0;                                       // user data at the old header's xthreadId...
    m[(segP + 24) >>> 2] = target - D_ABANDON_DIRTY;         // ...and at its domain word
    f.release();
    await within(freeing, 10_000, 'the remote free finishes');
    expect(Atomics.load(new Int32Array(rt.memory.buffer), target >>> 2)).toBe(0);
  }, TEST_TIMEOUT);

  // Bug 3 (FAILS: the reaped thread's segment leaks into the closed domain).
  // Forced: a reap pauses after it made the record EXITED under headLock and before
  // threadRelease (DP_REVIEW_REAP_RELEASE). d.close() then sees every thread EXITED
  // and tears the domain down; the reap goes on and abandons the dead thread's
  // segments into the closed domain's pool, where nothing can ever reach them.
  // Correct: close refuses (EBUSY) while a reap is under way, or every unit of the
  // domain comes back.
  it('bug 3: close() racing a reap of the domain\'s last thread', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const d2 = rt.createDomain();
    const units0 = rt.stats().segments.unitsLive;
    const [victim, reaper] = await Peer.startMany(rt, newCtl(), 2);
    await victim.call('attach', d2.id);
    const vid = await victim.call<number>('id', 0);
    await victim.call('allocMany', 0, 1000, 64);
    await victim.terminate();
    await reaper.call('pauseAt', DP_REVIEW_REAP_RELEASE, f.addr, 1);
    const reap = reaper.call('reapIn', d2.id, vid);
    reap.catch(() => {});
    await until(f.paused, 10_000, 'the reap is between EXITED and its release');
    const code = codeOf(() => d2.close());
    f.release();
    await within(reap, 10_000, 'the reap finishes');
    if (code === 'OK') expect(rt.stats().segments.unitsLive).toBe(units0);
    else expect(code).toBe('EBUSY');
  }, TEST_TIMEOUT);

  // Bug 4 (FAILS: both closes succeed). Forced: a close from a worker passes
  // ft_domain_close's validity check and pauses before domainClose's headLock
  // (DP_REVIEW_CLOSE_ENTER); main closes the domain; the worker's close goes on
  // and tears the closed domain down a second time (domainClose does not look at
  // D_CLOSED under headLock). Here the second teardown finds nothing left; with
  // the two overlapping, delayedDiscardDomain (no lock) would free a queued huge
  // segment twice. Correct: the second close is EINVAL_DOMAIN.
  it('bug 4: two concurrent closes: the second is EINVAL_DOMAIN', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const d2 = rt.createDomain();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('pauseAt', DP_REVIEW_CLOSE_ENTER, f.addr, 1);
    const second = w.call<{ n: number; code: string }>('closeDomain', d2.id);
    second.catch(() => {});
    await until(f.paused, 10_000, 'the worker\'s close is past its validity check');
    expect(codeOf(() => d2.close())).toBe('OK');
    f.release();
    const r = await within(second, 10_000, 'the second close returns');
    expect(r.code).toBe('EINVAL_DOMAIN');
  }, TEST_TIMEOUT);

  // Bug 5 (FAILS: the old JS thread attaches a record another instance now owns).
  // ft_thread_enter checks T_OWNER, ft_thread_enter_timed (attach({ timeoutMs }))
  // does not. Forced (no pause needed): worker A's thread is reaped while A is
  // alive but detached (reaping is the caller's assertion, and the owner check is
  // what protects the old JS thread from the record); worker B's new thread
  // recycles the record. A's attach({ timeoutMs }) then enters B's thread on A's
  // instance: one record attached from two instances. Correct: ENOT_ATTACHED.
  it('bug 5: attach({ timeoutMs }) of a reaped thread whose record was reused is refused', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const [a, b] = await Peer.startMany(rt, newCtl(), 2);
    await a.call('attach');
    const aid = await a.call<number>('id', 0);
    await a.call('detach', 0);
    expect(d.reap(aid)).toEqual({ id: aid, heldLocks: [] });
    t.attach();
    await b.call('attach');
    expect(await b.call<number>('id', 0)).toBe(aid);          // the record was recycled for B
    await b.call('detach', 0);
    const r = await a.call<{ code: string; state: string }>('attachTimed', 0, 1000);
    expect(r.code).toBe('ENOT_ATTACHED');
  }, TEST_TIMEOUT);

  // Bug 6 (FAILS: the segment stays in the pool, nothing collects it). A lost
  // wake-up of the pool's dirty flag. Forced: worker E exits and pauses with its
  // heaps collected, segments not yet abandoned (DP_EXIT_BEFORE_ABANDON); main
  // frees E's last live block (a remote free that reads E as the owner, so it
  // marks nothing: E's exit will). A collector (d.collectAbandoned on worker C)
  // reads the pool empty and pauses before it clears `dirty`
  // (DP_REVIEW_COLLECT_EMPTY). E goes on: pools its segment, sets dirty. C goes on:
  // clears dirty. The pool now holds a segment with no live block and a clear
  // dirty flag: no checkpoint ever collects it. Correct: a checkpoint gives it back.
  it('bug 6: a collector that saw the pool empty clears the dirty mark of an exit that pooled a segment meanwhile', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const fe = pauseFlag(rt, t.alloc(8));
    const fc = pauseFlag(rt, t.alloc(8));
    const units0 = rt.stats().segments.unitsLive;
    const [e, c] = await Peer.startMany(rt, newCtl(), 2);
    await e.call('attach');
    const p = await e.call<number>('alloc', 0, 64);
    await e.call('pauseAt', DP_EXIT_BEFORE_ABANDON, fe.addr, 1);
    const exiting = e.call('exit', 0);
    exiting.catch(() => {});
    await until(fe.paused, 10_000, 'the exit paused before abandoning');
    t.free(p);                                               // E still owns the segment: no dirty mark
    await c.call('pauseAt', DP_REVIEW_COLLECT_EMPTY, fc.addr, 1);
    const collecting = c.call('collectAbandoned', 0);
    collecting.catch(() => {});
    await until(fc.paused, 10_000, 'the collector read an empty pool');
    fe.release();
    await within(exiting, 10_000, 'the exit finishes');
    expect(d.abandoned().segments).toBe(1);
    fc.release();
    await within(collecting, 10_000, 'the collector finishes');
    for (let i = 0; i < 64 && d.abandoned().segments > 0; i++) t.checkpoint();
    expect(d.abandoned().segments).toBe(0);
    expect(rt.stats().segments.unitsLive).toBe(units0);
  }, TEST_TIMEOUT);

  // Bug 7 (failed before the fix: hang, caught by the bounded wait). A remote
  // freer killed inside the DELAY_FREEING window (freeMt: the page is in its
  // owner's full queue, the freer set FREEING to push the block on the heap's
  // delayed list) left the state FREEING forever; pageSetDelayed spun on it
  // without bound, so the live owner's exit (heapCollect -> NEVER) hung.
  // Forced: K pauses right after its CAS to FREEING (DP_REVIEW_FREE_MT_PUSHED),
  // or after its push on the heap list (DP_REVIEW_FREE_MT_DELAYED), and is
  // terminated, then reaped. Correct: the owner's exit returns (the freer had
  // published the page in its record; once it is reaped nobody live claims the
  // FREEING, and the owner clears it), and the owner's other blocks still free.
  for (const [where, point] of [['after taking FREEING', DP_REVIEW_FREE_MT_PUSHED], ['after its heap-list push', DP_REVIEW_FREE_MT_DELAYED]] as const) {
    it(`bug 7: an owner exit after a remote freer died in the DELAY_FREEING window (${where}) returns`, async () => {
      const rt = await Runtime.create({ debug: true });
      const t = rt.attach();
      const d = rt.domain();
      const f = pauseFlag(rt, t.alloc(8));
      const [e, k] = await Peer.startMany(rt, newCtl(), 2);
      await e.call('attach');
      const ps = await e.call<number[]>('allocMany', 0, 4000, 64);   // the first pages go to the full queue
      await k.call('attach');
      const kid = await k.call<number>('id', 0);
      await k.call('pauseAt', point, f.addr, 1);
      k.call('free', 0, ps[0]).catch(() => {});
      await until(f.paused, 10_000, 'the remote free is inside FREEING');
      // The page's xthreadFree state (assembly/layout.ts: P_SLICE_OFFSET 44; the word at
      // SEG_XTF 16640 + 64 per page record; DELAY_FREEING 1).
      const m = new Int32Array(rt.memory.buffer);
      const seg = ps[0] - (ps[0] % SEG);
      let rec = seg + 256 + (Math.floor((ps[0] - seg) / 32768) << 7);
      rec -= m[(rec + 44) >>> 2];
      const xtf = seg + 16640 + (((rec - seg - 256) >> 7) << 6);
      expect(Atomics.load(m, xtf >>> 2) & 3).toBe(1);
      await k.terminate();
      d.reap(kid);
      expect(Atomics.load(m, xtf >>> 2) & 3).toBe(1);          // nobody cleared it yet: the owner does
      await within(e.call('freeMany', 0, ps.slice(1, 100)), 10_000, 'the owner\'s frees');
      const exiting = e.call('exit', 0);
      exiting.catch(() => {});
      await within(exiting, 10_000, 'the owner\'s exit');
      expect(Atomics.load(m, xtf >>> 2) & 3).not.toBe(1);
      // The other blocks stay freeable from here (the segment is abandoned now).
      expect(codeOf(() => t.free(ps[200]))).toBe('OK');
    }, TEST_TIMEOUT);
  }

  // The other side of bug 7: a freer that is only slow (paused, alive, not
  // reaped) keeps its FREEING: the owner waits for it, and its block is freed.
  it('bug 7: a live freer paused inside FREEING is waited for, not overridden', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const f = pauseFlag(rt, t.alloc(8));
    const [e, k] = await Peer.startMany(rt, newCtl(), 2);
    await e.call('attach');
    const ps = await e.call<number[]>('allocMany', 0, 4000, 64);
    await k.call('attach');
    await k.call('pauseAt', DP_REVIEW_FREE_MT_PUSHED, f.addr, 1);
    const freeing = k.call('free', 0, ps[0]);
    await until(f.paused, 10_000, 'the remote free is inside FREEING');
    let exited = false;
    const exiting = e.call('exit', 0).then(() => { exited = true; });
    await new Promise((r) => setTimeout(r, 300));
    expect(exited).toBe(false);                          // still waiting for the live freer
    f.release();
    await within(exiting, 10_000, 'the owner\'s exit');
    await freeing;
    expect(codeOf(() => t.free(ps[0]))).toBe('EDOUBLE_FREE');   // K's free went through
    for (const p of ps.slice(1)) t.free(p);
    d.collectAbandoned();
    expect(d.abandoned().segments).toBe(0);                      // every block came back: the segment too
  }, TEST_TIMEOUT);

  // Bug 8 (FAILS: hang, caught by the bounded wait). Same class as bug 1, for the
  // domain's delayed-free queue: B is killed while it processes the domain queue
  // at a checkpoint (D_DQ_MUTEX taken, DP_REVIEW_DQ_LOCKED). The mutex stays
  // locked for good (reaping B does not release it): the domain queue is never
  // processed again, and every later exit with pending delayed frees waits for
  // the mutex forever in delayedAbandon (lockDetaching), as would a reap of such
  // a thread. Correct: C's exit returns.
  it('bug 8: an exit with pending delayed frees after a worker died holding the domain queue returns', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();                                   // online, never quiescent: goals stay pending
    const d = rt.domain();
    const f = pauseFlag(rt, t.alloc(8));
    const [a, b, c] = await Peer.startMany(rt, newCtl(), 3);
    await a.call('attach');
    await a.call('freeDelayedMany', 0, await a.call<number[]>('allocMany', 0, 10, 64));
    await a.call('exit', 0);                                 // its pending frees go to the domain queue
    expect(d.qsbrInfo().delayedPending).toBeGreaterThan(0);
    await b.call('attach');
    const bid = await b.call<number>('id', 0);
    await b.call('pauseAt', DP_REVIEW_DQ_LOCKED, f.addr, 1);
    b.call('checkpoint', 0).catch(() => {});
    await until(f.paused, 10_000, 'B processes the domain queue');
    await b.terminate();
    d.reap(bid);
    t.attach();                                              // the reap detached main: online again
    await c.call('attach');
    await c.call('freeDelayedMany', 0, await c.call<number[]>('allocMany', 0, 10, 64));
    expect(await c.call<number>('delayedPending', 0)).toBe(10);
    const exiting = c.call('exit', 0);
    exiting.catch(() => {});
    await within(exiting, 10_000, 'C\'s exit');
  }, TEST_TIMEOUT);
});
