// abandon.test.ts — segments of exited threads (assembly/abandon.ts), with real
// workers on one shared memory: they go to their domain's pool, blocks in them
// stay freeable from any thread, a segment whose last block is freed goes back to
// the runtime (at the latest at the next checkpoint of a thread of the domain),
// live threads of the same domain adopt pooled segments (pages to the heap of the
// same tag; never across domains), huge blocks outlive their owner, and the
// allocator releases what it keeps before it reports ENOMEM.
import { describe, expect, it } from 'vitest';
import { FtheapError, Runtime, Tag } from '../src/index.ts';
import { DP_EXIT_BEFORE_ABANDON } from '../src/abi.gen.ts';
import { expectBalanced, Peer, until, useHarness } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 60_000;

describe('abandonment', () => {
  it('a thread exits with live blocks: another frees them, and the segment goes back at its next checkpoint', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const units0 = rt.stats().segments.unitsLive;
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const small = await w.call<number[]>('allocMany', 0, 3000, 48);
    const medium = await w.call<number[]>('allocMany', 0, 40, 20_000, Tag.USER);
    const wid = await w.call<number>('id', 0);
    await w.call('exit', 0);
    expect(d.abandoned().segments).toBeGreaterThanOrEqual(1);
    expect(rt.stats().segments.unitsLive).toBeGreaterThan(units0);
    // Blocks of the pool are freed from main (remote frees into ownerless pages).
    for (const p of [...small, ...medium]) t.free(p);
    t.checkpoint();
    expect(d.abandoned().segments).toBe(0);
    expect(d.abandoned().freed).toBeGreaterThanOrEqual(1);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(rt.stats().totals.blocksUsed).toBe(0);
    // The exited record is reused by the next thread of the domain.
    await w.call('attach');
    expect(await w.call<number>('id', 1)).toBe(wid);
    await w.call('exit', 1);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('produce -> exit -> consume, 64 rounds: the pool gives every segment back (memory stays bounded)', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const units0 = rt.stats().segments.unitsLive;
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    let maxUnits = 0;
    for (let round = 0; round < 64; round++) {
      const i = await w.call<number>('attach');
      const ps = await w.call<number[]>('allocMany', i, 1500, 16 + (round % 8) * 40, round % 2 ? Tag.USER : Tag.MEM);
      const keep = await w.call<number[]>('allocMany', i, 500, 100);
      await w.call('freeMany', i, keep);
      await w.call('exit', i);
      for (const p of ps) t.free(p);
      t.checkpoint();
      maxUnits = Math.max(maxUnits, rt.stats().segments.unitsLive - units0);
    }
    expect(maxUnits).toBeLessThanOrEqual(2);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('100 workers churned in sequence, each exiting with half its blocks live, a consumer freeing them: memory stays bounded', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const units0 = rt.stats().segments.unitsLive;
    let maxUnits = 0;
    let pending: number[] = [];
    for (let i = 0; i < 100; i++) {
      const w = await Peer.start(rt, newCtl(), `churn${i}`);
      await w.call('attach');
      const ps = await w.call<number[]>('allocMany', 0, 1000, 24 + (i % 13) * 72, i % 3 === 0 ? Tag.USER : Tag.MEM);
      await w.call('freeMany', 0, ps.filter((_, k) => k % 2 === 0));
      await w.call('exit', 0);
      await w.terminate();
      for (const p of pending) t.free(p);            // the consumer lags one worker behind
      pending = ps.filter((_, k) => k % 2 === 1);
      t.checkpoint();
      maxUnits = Math.max(maxUnits, rt.stats().segments.unitsLive - units0);
    }
    for (const p of pending) t.free(p);
    t.checkpoint();
    expect(maxUnits).toBeLessThanOrEqual(3);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('adoption: pages go to the heap of their own tag, and only threads of the same domain adopt', async () => {
    const rt = await Runtime.create();
    const d1 = rt.domain(), d2 = rt.createDomain();
    const [a, b, c] = await Peer.startMany(rt, newCtl(), 3);
    await a.call('attach');
    const mem = await a.call<number[]>('allocMany', 0, 2000, 64, Tag.MEM);
    const user = await a.call<number[]>('allocMany', 0, 300, 1000, Tag.USER);
    const obj = await a.call<number[]>('allocMany', 0, 500, 48, Tag.OBJECT);
    await a.call('exit', 0);
    const pooled = d1.abandoned().segments;
    expect(pooled).toBeGreaterThanOrEqual(1);
    // A thread of another domain allocating a lot never takes them.
    await c.call('attach', d2.id);
    const other = await c.call<number[]>('allocMany', 0, 20_000, 64);
    expect(d1.abandoned().segments).toBe(pooled);
    expect(d2.abandoned().reclaimed).toBe(0);
    await c.call('freeMany', 0, other);
    // A thread of the same domain adopts them all: each page in its heap of the same tag.
    await b.call('attach');
    expect(await b.call('reclaimAbandoned', 0)).toBe(pooled);
    expect(d1.abandoned().segments).toBe(0);
    expect(d1.abandoned().reclaimed).toBe(pooled);
    expect((await b.call<{ blocksUsed: number }>('ownStats', 0, Tag.MEM)).blocksUsed).toBe(mem.length);
    expect((await b.call<{ blocksUsed: number }>('ownStats', 0, Tag.USER)).blocksUsed).toBe(user.length);
    expect((await b.call<{ blocksUsed: number }>('ownStats', 0, Tag.OBJECT)).blocksUsed).toBe(obj.length);
    expect((await b.call<{ blocksUsed: number }>('ownStats', 0, 5)).blocksUsed).toBe(0);
    // The adopter owns them now: its frees are local, and it allocates from the adopted pages.
    await b.call('freeMany', 0, [...mem, ...user, ...obj]);
    await b.call('exit', 0);
    await c.call('exit', 0);
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('pooled blocks are walkable by tag (pages and ownerless huge blocks), and only those of the tag', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const user = await w.call<number[]>('allocMany', 0, 700, 200, Tag.USER);
    const gone = await w.call<number[]>('allocMany', 0, 300, 200, Tag.USER);
    const mem = await w.call<number[]>('allocMany', 0, 500, 64, Tag.MEM);
    const huge = await w.call<number>('alloc', 0, 3 << 20, Tag.USER);
    await w.call('exit', 0);
    for (const p of gone) t.free(p);                  // freed into the pool: not live any more
    const seen = new Map<number, number>();
    t.visitAbandoned(Tag.USER, (p, size) => seen.set(p, size));
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...user, huge].sort((a, b) => a - b));
    expect(seen.get(huge)).toBeGreaterThanOrEqual(3 << 20);
    const memSeen: number[] = [];
    t.visitAbandoned(Tag.MEM, (p) => memSeen.push(p));
    expect(memSeen.sort((a, b) => a - b)).toEqual([...mem].sort((a, b) => a - b));
    t.visitAbandoned(Tag.USER, (p) => t.free(p));     // visit may free
    for (const p of mem) t.free(p);
    t.checkpoint();
    expect(rt.domain().abandoned().segments).toBe(0);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('the slow path adopts pooled segments of its domain before it takes fresh memory', async () => {
    const rt = await Runtime.create();
    const d = rt.domain();
    const [a, b] = await Peer.startMany(rt, newCtl(), 2);
    await a.call('attach');
    const live = await a.call<number[]>('allocMany', 0, 4000, 64);
    const gone = live.filter((_, i) => i % 2 === 1);
    const kept = live.filter((_, i) => i % 2 === 0);
    await a.call('freeMany', 0, gone);
    await a.call('exit', 0);
    expect(d.abandoned().segments).toBe(1);
    const units = rt.stats().segments.unitsLive;
    await b.call('attach');
    const more = await b.call<number[]>('allocMany', 0, 1000, 64);
    expect(d.abandoned().reclaimed).toBe(1);
    expect(rt.stats().segments.unitsLive).toBe(units);   // no fresh segment: the holes were reused
    await b.call('freeMany', 0, [...kept, ...more]);
    await b.call('exit', 0);
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('huge blocks outlive their owner; its record is reused safely', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const units0 = rt.stats().segments.unitsLive;
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const big = await w.call<number[]>('allocMany', 0, 3, 5 << 20);
    const id = await w.call<number>('id', 0);
    await w.call('exit', 0);
    await w.call('attach');
    expect(await w.call<number>('id', 1)).toBe(id);            // recycled at once
    const again = await w.call<number>('alloc', 1, 6 << 20);   // the new owner's own huge block
    for (const p of big) t.free(p);                            // the old owner's: no effect on the new one
    await w.call('free', 1, again);
    await w.call('exit', 1);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('forced: a remote free lands after the exit collected its heaps but before it abandoned (the exit marks the pool)', async () => {
    // Schedule: the exiting worker pauses at DP_EXIT_BEFORE_ABANDON (its heaps are
    // collected, its segments still its own); main frees the last live block then
    // (a remote free: xthreadId is the exiting thread, so the freer does not mark
    // the pool); the exit resumes and abandons. Only the exit's own dirty mark makes
    // main's next checkpoint collect the pool and give the segment back.
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const flag = t.alloc(8);
    const units0 = rt.stats().segments.unitsLive;
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const p = await w.call<number>('alloc', 0, 64);
    const word = () => new Int32Array(rt.memory.buffer, flag, 1);
    Atomics.store(word(), 0, 0);
    await w.call('pauseAt', DP_EXIT_BEFORE_ABANDON, flag, 1);
    const exiting = w.call('exit', 0);
    await until(() => Atomics.load(word(), 0) === 1, 10_000, 'the exit paused');
    t.free(p);
    Atomics.store(word(), 0, 2);
    Atomics.notify(word(), 0);
    await exiting;
    expect(d.abandoned().segments).toBe(1);
    t.checkpoint();
    expect(d.abandoned().segments).toBe(0);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    t.free(flag);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);
});

describe('no avoidable ENOMEM', () => {
  it('a thread whose blocks another thread freed allocates its share again in another size, without collect', async () => {
    const rt = await Runtime.create({ initialMemory: 8 << 20, maximumMemory: 48 << 20 });
    const t = rt.attach();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const ps = await w.call<number[]>('fillUntilEnomem', 0, 1024);
    expect(ps.length).toBeGreaterThan(1000);
    for (const p of ps) t.free(p);                  // remote frees: the pages stay the worker's
    // 80% of the same bytes in another size class: needs the worker's pages back.
    const n = Math.floor((ps.length * 1024 * 0.8) / 3000);
    const qs = await w.call<number[]>('allocMany', 0, n, 3000);
    expect(qs.length).toBe(n);
    await w.call('freeMany', 0, qs);
    await w.call('exit', 0);
    t.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);

  it('ENOMEM is an error, and the heap stays usable', async () => {
    const rt = await Runtime.create({ initialMemory: 8 << 20, maximumMemory: 32 << 20 });
    const t = rt.attach();
    let err: unknown;
    try { t.alloc(40 << 20); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(FtheapError);
    expect((err as FtheapError).code).toBe('ENOMEM');
    t.free(t.alloc(100));
    t.exit();
    expectBalanced(rt);
  });
});

describe('domain teardown', () => {
  it('close() needs every thread exited (EBUSY names them), frees every block, and a new domain reuses the memory without growth', async () => {
    const rt = await Runtime.create();
    const main = rt.attach();
    const d = rt.createDomain();
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    const units0 = rt.stats().segments.unitsLive;
    await w.call('attach', d.id);
    const id = await w.call<number>('id', 0);
    await w.call('allocMany', 0, 5000, 200);
    await w.call('allocMany', 0, 2, 5 << 20);                 // huge blocks too
    await w.call('allocMany', 0, 500, 64, Tag.OBJECT);
    let err: unknown;
    try { d.close(); } catch (e) { err = e; }
    expect((err as FtheapError).code).toBe('EBUSY');
    expect((err as FtheapError).blockers).toEqual([id]);
    await w.call('exit', 0);                                   // everything live is abandoned
    const pages = rt.stats().memory.current;
    expect(d.abandoned().segments).toBeGreaterThanOrEqual(1);
    expect(d.close()).toBeGreaterThanOrEqual(3);
    expect(rt.stats().segments.unitsLive).toBe(units0);
    expect(rt.stats().totals.blocksUsed).toBe(0);
    expect(rt.stats().huge.blocks).toBe(0);
    // Every later use is EINVAL_DOMAIN.
    expect(() => d.attach()).toThrow(expect.objectContaining({ code: 'EINVAL_DOMAIN' }));
    expect(() => d.close()).toThrow(expect.objectContaining({ code: 'EINVAL_DOMAIN' }));
    expect(() => rt.domain().close()).toThrow(expect.objectContaining({ code: 'EINVAL_DOMAIN' }));
    // A new domain's threads reuse the units: the memory does not grow.
    const d2 = rt.createDomain();
    await w.call('attach', d2.id);
    const again = await w.call<number[]>('allocMany', 1, 5000, 200);
    await w.call('allocMany', 1, 2, 5 << 20).then((ps) => w.call('freeMany', 1, ps));
    expect(rt.stats().memory.current).toBe(pages);
    await w.call('freeMany', 1, again);
    await w.call('exit', 1);
    main.exit();
    expectBalanced(rt);
  }, TEST_TIMEOUT);
});
