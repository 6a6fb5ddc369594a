// races-delayed.test.ts — delayed free (issue 10), on the debug build. Every wait
// is bounded.
//
// - Exit re-entry (forced with pause point DP_DF_ABANDON): A queues a held-tag
//   (OBJECT) huge block then 254 small blocks (one full chunk of 255) while B is
//   online with an older seq (deferLimit 1: every item has its own, real goal).
//   A exits and is paused after processing its own queue (nothing due yet); B
//   checkpoints (every goal of A's is now reached); A goes on: its queue goes to
//   the domain's queue and is processed there, and freeing the huge block re-enters
//   the delayed-free code (the held huge-block path). Before the fix that re-entry
//   queued the segment's release on A's record, whose full tail chunk now belonged
//   to the domain's queue: a fresh chunk was linked behind it, a nested processing
//   freed the spliced chunk to the pool, the outer one freed it again, and the
//   fresh chunk (with the release) was dropped when A cleared its record: the 4 MiB
//   unit never came back (verified: unitsLive stayed one above the baseline). Now
//   the held huge segment waits on its domain's stack (no chunk), and
//   delayedAbandon takes the queue off the record before splicing it.
// - A held-tag huge block freed by a thread of another domain: it waits for a goal
//   of the block's domain (before: its segment was released at once, under the
//   online reader of that domain).
// - freeDelayed twice (same thread, other thread): EDOUBLE_FREE at the second call,
//   nothing queued; the block freed later is reused and delayed-freed again without
//   a false alarm; a block of another domain: EWRONG_DOMAIN.
// - Domain.blockers(): the online threads whose seq is below the oldest pending goal.
import { describe, expect, it } from 'vitest';
import { Runtime, Tag } from '../src/index.ts';
import { DP_DF_ABANDON } from '../src/abi.gen.ts';
import { expectBalanced, LIMIT, Peer, PeerError, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();

async function setup() {
  const rt = await Runtime.create({ debug: true });
  const main = rt.attach();
  const base = main.calloc(4, 4);
  main.detach();
  const word = (p: number) => Atomics.load(new Int32Array(rt.memory.buffer), p >>> 2) >>> 0;
  const release = (p: number) => {
    const i32 = new Int32Array(rt.memory.buffer);
    Atomics.store(i32, p >>> 2, 2);
    Atomics.notify(i32, p >>> 2);
  };
  return { rt, ctl: newCtl(), main, base, word, release };
}

async function codeOfCall(p: Promise<unknown>): Promise<string> {
  try { await p; return 'OK'; } catch (e) { if (e instanceof PeerError && e.code) return e.code; throw e; }
}

const units = (rt: Runtime) => rt.stats().segments.unitsLive;

describe('delayed free races', () => {
  it('exit hands its queue over safely when freeing a held huge block re-enters', async () => {
    const { rt, ctl, base: flag, word, release } = await setup();
    rt.domain().configureQsbr({ deferLimit: 1 });
    const [a, b] = await Promise.all(['exiting', 'reader'].map((n) => Peer.start(rt, ctl, n)));
    await a.call('attach');
    await b.call('attach');
    await b.call('checkpoint', 0);                       // online, seq older than every goal below
    const uStart = units(rt);                            // the main thread's segment
    const small = await a.call<number[]>('allocMany', 0, 254, 64);
    await a.call('free', 0, await a.call('alloc', 0, 8, Tag.OBJECT));   // heap records made
    const u0 = units(rt);
    const huge = await a.call('alloc', 0, 3 << 20, Tag.OBJECT);
    expect(units(rt)).toBe(u0 + 1);
    await a.call('freeDelayed', 0, huge);
    await a.call('freeDelayedMany', 0, small);
    expect(await a.call('delayedPending', 0)).toBe(255);   // one full chunk, nothing due
    await a.call('pauseAt', DP_DF_ABANDON, flag, 1);
    const exiting = a.call('exit', 0);
    await until(() => word(flag) === 1, LIMIT, 'A paused in delayedAbandon');
    await b.call('checkpoint', 0);                       // every goal of A's is reached now
    release(flag);
    await within(exiting, LIMIT, 'exit');
    for (let i = 0; i < 3; i++) { await b.call('checkpoint', 0); await b.call('processDelayed', 0); }
    expect(units(rt)).toBe(uStart);                       // the huge segment came back (and A's)
    expectBalanced(rt, { delayedPending: 0, delayedFailed: 0, hugeBlocks: 0 });
    // The chunk pool is sound: two threads queue a chunk's worth each and all of it is freed.
    const [c, d] = await Promise.all(['c', 'd'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [c, d]) await p.call('attach');
    const cs = await c.call<number[]>('allocMany', 0, 300, 32), ds = await d.call<number[]>('allocMany', 0, 300, 32);
    await c.call('freeDelayedMany', 0, cs);
    await d.call('freeDelayedMany', 0, ds);
    await b.call('detach', 0);
    for (let i = 0; i < 3; i++) for (const p of [c, d]) { await p.call('checkpoint', 0); await p.call('processDelayed', 0); }
    expect(await c.call('delayedPending', 0)).toBe(0);
    expect(await d.call('delayedPending', 0)).toBe(0);
    expectBalanced(rt, { delayedPending: 0, delayedFailed: 0 });
  }, TEST_TIMEOUT);

  it('a held huge block: another domain may not free it (EWRONG_DOMAIN); freed at home, it waits for a goal of its domain', async () => {
    const { rt, ctl } = await setup();
    const d2 = rt.createDomain();
    const [owner, reader, foreign] = await Promise.all(['owner', 'reader', 'foreign'].map((n) => Peer.start(rt, ctl, n)));
    await owner.call('attach');
    await reader.call('attach');
    await foreign.call('attach', d2.id);
    await owner.call('free', 0, await owner.call('alloc', 0, 8, Tag.OBJECT));
    const u0 = units(rt);
    const huge = await owner.call('alloc', 0, 3 << 20, Tag.OBJECT);
    await reader.call('checkpoint', 0);                   // online in the block's domain
    expect(await codeOfCall(foreign.call('free', 0, huge))).toBe('EWRONG_DOMAIN');
    expect(rt.stats().huge.blocks).toBe(1);                // refused: nothing changed
    await owner.call('free', 0, huge);
    expect(rt.stats().huge.blocks).toBe(0);
    expect(units(rt)).toBe(u0 + 1);                        // held: the reader may still read it
    await owner.call('checkpoint', 0);
    expect(units(rt)).toBe(u0 + 1);                        // the reader has not passed the goal
    await reader.call('checkpoint', 0);
    expect(units(rt)).toBe(u0);                            // released by the reader's checkpoint
  }, TEST_TIMEOUT);

  it('freeDelayed of a pending block: EDOUBLE_FREE at the call; of another domain\'s block: EWRONG_DOMAIN', async () => {
    const { rt, ctl } = await setup();
    const d2 = rt.createDomain();
    const [a, b, reader, foreign] = await Promise.all(['a', 'b', 'reader', 'foreign'].map((n) => Peer.start(rt, ctl, n)));
    for (const p of [a, b, reader]) await p.call('attach');
    await foreign.call('attach', d2.id);
    await reader.call('checkpoint', 0);
    const p = await a.call('alloc', 0, 48);
    await a.call('freeDelayed', 0, p);
    expect(await codeOfCall(a.call('freeDelayed', 0, p))).toBe('EDOUBLE_FREE');
    expect(await codeOfCall(b.call('freeDelayed', 0, p))).toBe('EDOUBLE_FREE');
    expect(await a.call('delayedPending', 0)).toBe(1);
    expect(await b.call('delayedPending', 0)).toBe(0);
    expect(await codeOfCall(foreign.call('freeDelayed', 0, p))).toBe('EWRONG_DOMAIN');
    const q = await foreign.call('alloc', 0, 48);
    expect(await codeOfCall(a.call('freeDelayed', 0, q))).toBe('EWRONG_DOMAIN');
    await foreign.call('freeDelayed', 0, q);                // its own domain: fine
    // Processed: the block is free; allocated again, it may be delayed-freed again.
    for (let i = 0; i < 2; i++) for (const t of [a, b, reader]) await t.call('checkpoint', 0);
    expect(await a.call('delayedPending', 0)).toBe(0);
    const more = await a.call<number[]>('allocMany', 0, 2000, 48);
    expect(more).toContain(p);                              // reused
    await a.call('freeDelayed', 0, p);                      // no false alarm
    await a.call('freeMany', 0, more.filter((x) => x !== p));
    const huge = await a.call('alloc', 0, 3 << 20);
    await a.call('freeDelayed', 0, huge);
    expect(await codeOfCall(b.call('freeDelayed', 0, huge))).toBe('EDOUBLE_FREE');
    for (const t of [a, b, reader]) await t.call('detach', 0);
    await a.call('reattach', 0);
    await a.call('checkpoint', 0);
    expect(await a.call('delayedPending', 0)).toBe(0);
    const info = rt.domain().qsbrInfo();
    expect(info.delayedFailed).toBe(0);
    expect(info.delayedQueued).toBe(info.delayedFreed);
  }, TEST_TIMEOUT);

  it('Domain.blockers(): the online threads below the oldest pending goal', async () => {
    const { rt, ctl } = await setup();
    const d = rt.domain();
    const [a, b] = await Promise.all(['a', 'b'].map((n) => Peer.start(rt, ctl, n)));
    await a.call('attach');
    await b.call('attach');
    const aId = await a.call('id', 0), bId = await b.call('id', 0);
    expect(d.blockers()).toEqual([]);
    await b.call('checkpoint', 0);
    await a.call('checkpoint', 0);
    await a.call('freeDelayed', 0, await a.call('alloc', 0, 100));
    await a.call('qsbrAdvance', 0);   // the deferred goal is issued
    expect(d.blockers().sort()).toEqual([aId, bId].sort());
    await a.call('checkpoint', 0);   // A passes it; B still holds it back
    expect(d.blockers()).toEqual([bId]);
    await b.call('detach', 0);       // offline: holds nothing back
    expect(d.blockers()).toEqual([]);
    await a.call('checkpoint', 0);
    expect(await a.call('delayedPending', 0)).toBe(0);
    expect(d.blockers()).toEqual([]);
  }, TEST_TIMEOUT);
});

// meta.ts: the end of the last 4 MiB unit is 2^32. Before the fix it was kept in
// 32 bits and wrapped to 0, so once the meta allocator's unit was the last one,
// every later record asked for a fresh unit: here none is left, so a new domain
// failed with ENOMEM and a pending-mark bitmap could not be made (a second
// freeDelayed went undetected). Verified on the old meta.ts.
describe('meta records at the 4 GiB limit', () => {
  it('the last unit as the meta unit: records still fit in it', async () => {
    const rt = await Runtime.create({ maximumMemory: 4 * 1024 ** 3 });
    const t = rt.attach();
    const huge: number[] = [];
    for (;;) {   // take every unit
      try { huge.push(t.alloc(3 << 20)); } catch { break; }
    }
    expect(huge.length).toBeGreaterThan(1000);
    t.free(huge.pop()!);                                 // one unit free: the last one
    // Pending-mark bitmaps (64 KiB each, one per unit) fill the meta space of unit 0,
    // then take the free unit, the last one.
    for (let i = 0; i < 80; i++) t.freeDelayed(huge[i]);
    expect(() => t.freeDelayed(huge[79])).toThrow(expect.objectContaining({ code: 'EDOUBLE_FREE' }));
    expect(rt.createDomain().id).toBeGreaterThan(0);     // a record after them fits too
    t.exit();
  }, TEST_TIMEOUT);
});
