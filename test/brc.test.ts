// brc.test.ts — biased reference counting with real workers on one memory: who
// pays what (owner local, others shared), the negative-shared -> queue -> merge
// path, owners that exit or are reaped with objects queued to them, storms of
// increments and decrements from 4 workers with exact counts at the end,
// immortal objects, and tryIncref racing the last decref (forced with the
// debug build's pause points, assembly/debug-delay.ts DP_BRC_*).
import { describe, expect, it } from 'vitest';
import { Checkpoint, Runtime } from '../src/index.ts';
import { DP_BRC_QUEUED, DP_BRC_TRY_LOADED, O_TID } from '../src/abi.gen.ts';
import { Peer, pendingAfter, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();
const TEST_TIMEOUT = 120_000;


async function world(workers: number) {
  const rt = await Runtime.create({ debug: true });
  const t = rt.attach();
  const peers = await Peer.startMany(rt, newCtl(), workers);
  for (const p of peers) await p.call('attach');
  return { rt, t, d: rt.domain(), peers };
}

const tidOf = (rt: Runtime, o: number) => new DataView(rt.memory.buffer).getUint32(o + O_TID, true);

describe('owner and others', () => {
  it('the owner counts locally; another thread counts in the shared word; the total is exact either way', async () => {
    const { rt, t, peers: [b] } = await world(1);
    const ty = t.defineType({ name: 'O', size: 8 });
    const o = t.newObject(ty);
    t.share(o);
    const view = () => new DataView(rt.memory.buffer);
    t.incref(o);
    expect(view().getUint32(o + 8, true)).toBe(2);                  // local
    await b.call('incref', 0, o);
    expect(view().getInt32(o + 12, true) >> 2).toBe(1);             // shared count
    expect(t.refcount(o)).toBe(3);
    expect(await b.call<number>('refcount', 0, o)).toBe(3);
    expect(await b.call<boolean>('isOwned', 0, o)).toBe(false);
    await b.call('decref', 0, o);
    t.decref(o);
    t.decref(o);
    expect(rt.domain().stats().objects).toMatchObject({ created: 1, deallocated: 1, queued: 0 });
  }, TEST_TIMEOUT);

  it('a non-owner decref below zero queues the object; the owner merges at its checkpoint (EXPLICIT_MERGE)', async () => {
    const { rt, t, d, peers: [b] } = await world(1);
    const ty = t.defineType({ name: 'Q', size: 8 });
    const o = t.newObject(ty);
    t.incref(o);                                   // local 2: one of them is b's to drop
    await b.call('decref', 0, o);                  // shared would go to -1: QUEUED instead
    expect(d.stats().objects.queued).toBe(1);
    expect(t.refcount(o)).toBe(1);                 // the true count, whatever sits in the queue
    expect(tidOf(rt, o)).not.toBe(0);
    const events = t.checkpoint();
    expect(events & Checkpoint.EXPLICIT_MERGE).toBeTruthy();
    expect(d.stats().objects.merged).toBe(1);
    expect(tidOf(rt, o)).toBe(0);                  // merged: nobody's now
    expect(t.refcount(o)).toBe(1);
    expect(await b.call<number>('refcount', 0, o)).toBe(1);
    await b.call('decref', 0, o);                  // the merged count reaches zero there
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 1 });
  }, TEST_TIMEOUT);

  it('the queued object dies at the merge when the owner dropped its own reference meanwhile', async () => {
    const { t, d, peers: [b] } = await world(1);
    const ty = t.defineType({ name: 'Q2', size: 8 });
    const o = t.newObject(ty);
    t.incref(o);
    await b.call('decref', 0, o);                  // queued
    t.decref(o);                                   // local 2 -> 1: the true count is 0 now, the queue holds the rest
    expect(t.refcount(o)).toBe(0);
    expect(d.stats().objects.deallocated).toBe(0);
    expect(t.mergeQueued()).toBe(1);
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 1, merged: 1 });
  }, TEST_TIMEOUT);

  it('immortal objects are never counted or freed, from any thread', async () => {
    const { t, d, peers: [b] } = await world(1);
    const ty = t.defineType({ name: 'I', size: 8 });
    const o = t.newObject(ty);
    t.immortalize(o);
    await b.call('increfN', 0, o, 100);
    await b.call('decrefN', 0, o, 1000);
    for (let i = 0; i < 1000; i++) t.decref(o);
    expect(t.refcount(o)).toBe(Infinity);
    expect(t.isObject(o)).toBe(true);
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 0, queued: 0 });
  }, TEST_TIMEOUT);
});

describe('storms', () => {
  it('4 workers incref and decref shared objects at random (one of them their owner): counts exact, each freed once', async () => {
    const { t, d, peers } = await world(4);
    const [owner] = peers;
    t.detach();                                   // main holds nothing up
    const ty = await owner.call<number>('defineType', 0, 'S', 16, [], true);
    for (const p of peers.slice(1)) await p.call('defineType', 0, 'S', 16, [], true);
    const os = await owner.call<number[]>('newObjects', 0, ty, 50);
    for (const o of os) await owner.call('share', 0, o);
    // Each other worker gets 3 references per object to drop (the owner makes them: local).
    for (const o of os) await owner.call('increfN', 0, o, 9);
    const storms = peers.map((p, i) => p.call<number>('refStorm', 0, os, 20_000, 100 + i));
    const drops = peers.slice(1).map((p) => p.call('decrefEach', 0, [...os, ...os, ...os]));
    await within(Promise.all([...storms, ...drops]), 60_000, 'the storms');
    await owner.call('mergeQueued', 0);
    for (const o of os) expect(await owner.call<number>('refcount', 0, o)).toBe(1);
    const s = d.stats().objects;
    expect(s.queued).toBeGreaterThan(0);           // some drops went through the queue
    expect(s.merged).toBe(s.queued);
    await owner.call('decrefEach', 0, os);
    await Promise.all(peers.map((p) => p.call('checkpoint', 0)));
    const end = d.stats().objects;
    expect(end).toMatchObject({ created: 50, deallocated: 50, live: 0 });
    const finalized = await Promise.all(peers.map((p) => p.call<number>('finalized')));
    expect(finalized.reduce((a, b) => a + b, 0) + end.unfinalized).toBe(50);
  }, TEST_TIMEOUT);
});

describe('owners that leave', () => {
  it('an owner that exits with objects queued to it merges them first; its objects keep working as merged', async () => {
    const { rt, t, d, peers: [a, b] } = await world(2);
    t.detach();
    const ty = await a.call<number>('defineType', 0, 'E', 8);
    const os = await a.call<number[]>('newObjects', 0, ty, 20);
    for (const o of os) await a.call('increfN', 0, o, 2);   // local 3: two are b's
    await b.call('decrefEach', 0, os.slice(0, 10));           // queued to a
    expect(d.stats().objects.queued).toBe(10);
    await a.call('exit', 0);
    expect(d.stats().objects.merged).toBe(10);
    for (const o of os.slice(0, 10)) expect(tidOf(rt, o)).toBe(0);   // merged when it left
    for (const o of os.slice(0, 10)) expect(await b.call<number>('refcount', 0, o)).toBe(2);
    for (const o of os.slice(10)) expect(await b.call<number>('refcount', 0, o)).toBe(3);
    for (const o of os.slice(0, 10)) await b.call('decrefN', 0, o, 2);
    for (const o of os.slice(10)) await b.call('decrefN', 0, o, 3);
    expect(d.stats().objects).toMatchObject({ created: 20, deallocated: 20, live: 0 });
  }, TEST_TIMEOUT);

  it('an owner reaped with objects queued to it: the reap merges them; a new thread on its record owns none of them', async () => {
    const { rt, t, d, peers: [a, b] } = await world(2);
    t.detach();
    const aid = await a.call<number>('id', 0);
    const ty = await a.call<number>('defineType', 0, 'R', 8, [], true);
    await b.call('defineType', 0, 'R', 8, [], true);
    const os = await a.call<number[]>('newObjects', 0, ty, 20);
    for (const o of os) await a.call('increfN', 0, o, 1);     // local 2: one is b's
    const tids = os.map((o) => tidOf(rt, o));
    await b.call('decrefEach', 0, os.slice(0, 10));            // queued to a, which never merges
    await a.terminate();
    t.attach();
    d.reap(aid);
    t.detach();
    expect(d.stats().objects.merged).toBe(10);
    // A new thread that gets a's record has another serial: it does not own a's objects.
    const [c] = await Peer.startMany(rt, newCtl(), 1);
    const cid = await c.call<number>('attach');
    void cid;
    expect(await c.call<number>('id', 0)).toBe(aid);
    for (const o of os.slice(10)) expect(await c.call<boolean>('isOwned', 0, o)).toBe(false);
    for (const [i, o] of os.entries()) expect(tidOf(rt, o) === 0 || tidOf(rt, o) === tids[i]).toBe(true);
    for (const o of os.slice(0, 10)) expect(await b.call<number>('refcount', 0, o)).toBe(1);
    // Every reference left is dropped by b (a's own and the ones it gave b), through the merged paths.
    await b.call('decrefEach', 0, os.slice(0, 10));
    await b.call('decrefEach', 0, [...os.slice(10), ...os.slice(10)]);
    await c.call('decrefEach', 0, []);
    expect(d.stats().objects).toMatchObject({ created: 20, deallocated: 20, live: 0 });
    // The reaper ran no finalizer for what it freed: none did here (all died in b, which has one).
    expect(await b.call<number>('finalized')).toBe(20);
  }, TEST_TIMEOUT);

  it('an owner cannot leave between a decref\'s QUEUED and its push (forced: paused after QUEUED, under the bucket lock)', async () => {
    const { rt, t, d, peers: [a, b] } = await world(2);
    const f = pauseFlag(rt, t.alloc(8));
    t.detach();
    const ty = await a.call<number>('defineType', 0, 'X', 8);
    const o = await a.call<number>('newObject', 0, ty);
    await a.call('incref', 0, o);                              // b's reference
    await b.call('pauseAt', DP_BRC_QUEUED, f.addr, 1);
    const dec = b.call('decref', 0, o);
    await until(f.paused, 10_000, 'b set QUEUED');
    const exit = a.call('exit', 0);                            // unregistering needs b's bucket lock: it waits
    expect(await pendingAfter(exit, 200)).toBe(true);
    f.release();
    await within(dec, 10_000, 'b\'s decref');
    await within(exit, 10_000, 'a\'s exit');
    expect(d.stats().objects).toMatchObject({ queued: 1, merged: 1 });   // pushed to a, merged by a's exit
    expect(tidOf(rt, o)).toBe(0);
    expect(await b.call<number>('refcount', 0, o)).toBe(1);    // a's own reference, now in the shared word
    await b.call('decref', 0, o);
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 1 });
  }, TEST_TIMEOUT);
});

describe('tryIncref', () => {
  it('racing the last decref (forced): the reader that loaded the count before the owner\'s merge fails, the object dies once', async () => {
    const { rt, t, d, peers: [r] } = await world(1);
    const f = pauseFlag(rt, t.alloc(8));
    const ty = t.defineType({ name: 'T', size: 8 });
    const o = t.newObject(ty);
    t.share(o);                                    // published for lock-free readers
    await r.call('pauseAt', DP_BRC_TRY_LOADED, f.addr, 1);
    const attempt = r.call<boolean>('tryIncref', 0, o);
    await until(f.paused, 10_000, 'the reader loaded the shared word');
    t.decref(o);                                   // the last reference: merged to 0, dead, freed
    expect(d.stats().objects.deallocated).toBe(1);
    f.release();
    expect(await within(attempt, 10_000, 'tryIncref')).toBe(false);
    expect(await r.call<boolean>('tryIncref', 0, o)).toBe(false);
    expect(d.stats().objects).toMatchObject({ created: 1, deallocated: 1 });
  }, TEST_TIMEOUT);

  it('racing the last decref (forced, the other order): the reader\'s +1 lands first, the object lives until it lets go', async () => {
    const { rt, t, d, peers: [r] } = await world(1);
    const ty = t.defineType({ name: 'T', size: 8 });
    const o = t.newObject(ty);
    t.share(o);
    expect(await r.call<boolean>('tryIncref', 0, o)).toBe(true);
    t.decref(o);
    expect(d.stats().objects.deallocated).toBe(0);
    expect(tidOf(rt, o)).toBe(0);
    expect(await r.call<number>('refcount', 0, o)).toBe(1);
    await r.call('decref', 0, o);
    expect(d.stats().objects.deallocated).toBe(1);
  }, TEST_TIMEOUT);

  it('fails on an object never published, and for the owner on nothing it owns alive', async () => {
    const { t, peers: [r] } = await world(1);
    const ty = t.defineType({ name: 'T', size: 8 });
    const o = t.newObject(ty);
    expect(await r.call<boolean>('tryIncref', 0, o)).toBe(false);   // not shared: the owner's zero needs no CAS
    expect(t.tryIncref(o)).toBe(true);
    expect(t.refcount(o)).toBe(2);
    t.decref(o);
    t.decref(o);
    expect(t.tryIncref(o)).toBe(false);
  }, TEST_TIMEOUT);
});
