// review-fixes.test.ts — review 13: the fixes of reviews 11 and 12 (brc.ts
// brcQueue / brcReleaseDead / brcMergeStopped, gc.ts gcReleaseDead / gcWaitIdle /
// dropStaleGarbage / sweepAll, abi/alloc.ts ft_realloc, src/object.ts
// FinalizerTable.run). One reproducer per defect found; each states the
// interleaving it forces and the correct behaviour, and failed at 8e42d9d. Fixed:
// the reaper detaches before it waits for a collection; the repair of a dead
// collector's pause zeroes the local word (pause 2's scratch) of its garbage.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { DP_GC_RESURRECT_SCRATCH } from '../src/abi.gen.ts';
import { Peer, PeerError, sleep, until, useHarness, within } from './fixtures/harness.ts';
import { flag, newCtl, setCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 120_000;
/** A pause flag word in the shared memory (see assembly/debug-delay.ts). */
function pauseFlag(rt: Runtime, addr: number) {
  const w = () => new Int32Array(rt.memory.buffer, addr, 1);
  Atomics.store(w(), 0, 0);
  return { addr, paused: () => Atomics.load(w(), 0) === 1 };
}
const ctlIs = (ctl: Int32Array, slot: number) => () => Atomics.load(ctl, slot) !== 0;

describe('a reap waiting for a live collection', () => {
  // lifecycle.ts threadReap calls gc.ts gcWaitIdle (a busy loop until
  // OR_GC_COLLECTING is 0) while the reaper's own thread is still ATTACHED: it
  // is detached only on the next line. A collection that still has a pause to
  // come stops the world and waits for every attached thread to checkpoint —
  // the reaper, which spins inside Wasm and never checkpoints; the reaper waits
  // for the collection to end: deadlock. Interleaving: c collects a cycle with
  // a finalizer (pause 1 done, the world runs, c is in the finalizer, so
  // OR_GC_COLLECTING = c); v died detached; r (attached) reaps v -> gcWaitIdle spins;
  // the finalizer returns; c's pause 2 (garbage != 0) waits for r forever.
  // Correct: the reaper does not hold up pause 2. Since reaps watch what other
  // instances hold, it gives up at once with EAGAIN (c's collection has not moved
  // for 10 ms; nothing done, its thread detached), the collection ends, and the
  // reap succeeds when tried again.
  it('an attached reaper waiting in gcWaitIdle holds up the collection\'s pause 2: both hang', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const ctl = newCtl();
    const [c, v, r] = await Peer.startMany(rt, ctl, 3);
    await v.call('attach');
    const vid = await v.call<number>('id', 0);
    await v.call('detach', 0);                            // (so no stop waits for it)
    await v.terminate();                                  // v dies
    await c.call('attach');
    const H = await c.call<number>('gcHoldType', 0, 'Hold', 4, [0], true, flag(0), flag(1), 60_000);
    const h = t.newObject(H); t.setRef(h, 0, h); t.decref(h);   // cyclic garbage with a finalizer
    t.detach();
    const collecting = c.call('gcCollect', 0);
    await until(ctlIs(ctl, flag(0)), 20_000, 'c runs the finalizer (between its pauses)');
    await r.call('attach');                               // the reaper has an attached current thread
    const first = await within(r.call('reapIn', 0, vid).then(() => 'OK', (e: PeerError) => e.code), 10_000, 'the reap');
    expect(first, 'c\'s collection in its finalizer: retry later').toBe('EAGAIN');
    setCtl(ctl, flag(1));                                 // the finalizer returns: pause 2 comes
    await within(collecting, 10_000, 'the collection (pause 2 would wait for an attached reaper)');
    await within(r.call('reapIn', 0, vid), 10_000, 'the reap, again');
  }, TEST_TIMEOUT);
});

describe('a collector killed in pause 2', () => {
  // gc.ts handleResurrected (pause 2, only when a finalizer ran) uses the local
  // word of every garbage object as scratch (count - 1, then less the references
  // from other garbage, then a stack link). gcReleaseDead's PH_REPAIR keeps a
  // garbage object as it is ("merged, with the list's +1": setBits(o, GB_GARBAGE)
  // only): the scratch stays in O_LOCAL. trueCount (local + shared) then counts
  // it as references: dropStaleGarbage drops the list's +1 but the object keeps
  // a phantom local count, is taken as held from outside, survives every later
  // collection (restoreOwner leaves local alone for a merged object): a leak of
  // the whole dead cycle; a stack-link scratch (an address) makes it a huge count.
  // Interleaving: h (type with a finalizer, h -> h) is garbage; c collects, runs
  // h's finalizer, pause 2: handleResurrected's first loop sets h.local = 1
  // (count 2 - 1); c is killed there (DP_GC_RESURRECT_SCRATCH) and reaped
  // (stopped: PH_REPAIR). t collects. Correct: the repair resets the scratch
  // (a garbage object is merged: local 0), so t's collection frees h.
  it('scratch counts left in garbage objects\' local words: the dead cycle is never collected', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const f = pauseFlag(rt, t.calloc(1, 4));
    const ctl = newCtl();
    setCtl(ctl, flag(1));                                   // finalizers return at once
    const [c] = await Peer.startMany(rt, ctl, 1);
    await c.call('attach');
    const cid = await c.call<number>('id', 0);
    const H = await c.call<number>('gcHoldType', 0, 'Hold', 4, [0], true, flag(0), flag(1), 60_000);
    const h = t.newObject(H); t.setRef(h, 0, h); t.decref(h);   // a dead self-cycle with a finalizer
    t.detach();
    await c.call('pauseAt', DP_GC_RESURRECT_SCRATCH, f.addr, 1);
    void c.call('gcCollect', 0).catch(() => {});
    await until(f.paused, 20_000, 'c in pause 2, scratch in the local words');
    await c.terminate();
    d.reap(cid);
    t.attach();
    const count = t.refcount(h);                            // h -> h and the dead list's +1: 2
    const first = d.gc.collect().collected;
    const second = d.gc.collect().collected;
    expect({ count, collected: first + second, hAlive: t.isObject(h) }).toEqual({ count: 2, collected: 1, hAlive: false });
  }, TEST_TIMEOUT);
});
