// review-15.test.ts — reproducers from the review of 5feefb4 (pageRetire keeps
// only small pages) and 848a6a9 (a reaper killed inside a release). Debug build,
// real workers on one shared memory, pause points force each interleaving. Each
// test names what it forces and what correct code must do.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { AI_LOCK_HOLDER, DP_ABANDON_POOL_LOCKED, DP_OS_LOCKED, DP_REVIEW_REAP_RELEASE } from '../src/abi.gen.ts';
import { Peer, useHarness, within } from './fixtures/harness.ts';
import { killAt, killRig } from './fixtures/killed.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const SEG_MASK = ~((1 << 22) - 1);   // a segment is one 4 MiB unit
const T_REAPED = 256;                // assembly/layout.ts: 1 reaped, 2 (REAP_RELEASING) while a reap releases the record
const ROOT_OS_LOCK = 1024 + 4;       // assembly/layout.ts: ROOT + R_OS_LOCK, the spin lock of memory growth and the unit pool

describe('review 15', () => {
  // Forced: reaper R releases dead thread D and is terminated inside
  // abandonSegments with the domain's pool lock taken in D's name
  // (DP_ABANDON_POOL_LOCKED). R's instance is then reaped, as the facade does
  // when a worker dies (from worker M: before the fix that call spins for ever).
  // Correct: R's death releases what it held acting as D (the pool lock), so
  // reaping R's own thread, and any later exit, can abandon their segments; and
  // D counts as gone. Before: reapsReleaseDead only voided D's FREEING claim;
  // the pool lock stayed with D's record for good, and the reap of R's own
  // thread (abandonSegments -> poolLock) spun for ever.
  it('a reaper killed holding the pool lock as the dead thread: reaping its instance releases the lock', async () => {
    const { rt, t, f, peers: [d, r, o, m] } = await killRig(4);
    const domain = rt.domain().id;
    for (const p of [d, r, o]) {
      await p.call('attach');
      await p.call('allocMany', 0, 50, 64);   // live blocks: a segment to abandon
    }
    const did = await d.call<number>('id', 0);
    const live0 = rt.stats().threads.live;
    await d.terminate();
    const rInstance = await killAt(r, f, DP_ABANDON_POOL_LOCKED, 'the reap holds the pool lock as D', () => r.call('reapIn', 0, did),
      () => expect(rt.exports.ft_abandon_info(domain, AI_LOCK_HOLDER) >>> 0, 'the pool lock is held in D\'s name').toBe(did));
    const reaped = await within(m.call<number>('reapInstance', rInstance), 10_000, 'reaping R\'s instance');
    expect(reaped, 'R\'s own thread was reaped').toBe(1);
    expect(rt.exports.ft_abandon_info(domain, AI_LOCK_HOLDER) >>> 0, 'the pool lock is free').toBe(0);
    await within(o.call('exit', 0), 10_000, 'another thread\'s exit');
    expect(Atomics.load(new Uint32Array(rt.memory.buffer, did + T_REAPED, 1), 0), 'D reads as reaped').toBe(1);
    expect(rt.stats().threads.live, 'D, R and O are gone').toBe(live0 - 3);
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced: reaper R is terminated after it made D's record EXITED and before the
  // release (DP_REVIEW_REAP_RELEASE); main reaps R's instance (the facade's
  // reapInstance: ft_instance_release_dead). Correct: D stops holding anything
  // up: its QSBR slot goes offline (a goal can be reached) and it is no longer
  // counted live (its domain can be closed). Before: D's slot stayed online at
  // its old sequence (no goal of the domain was ever reached again: delayed
  // frees and held pages wait for ever), and D_THREADS_LIVE kept D, so
  // d.close() was EBUSY for good, naming no thread.
  it('a reaper killed before the release: D\'s QSBR slot and live count do not hold the domain up', async () => {
    const { rt, t, f, peers: [d, r] } = await killRig(2);
    const d2 = rt.createDomain();
    await d.call('attach', d2.id);
    const did = await d.call<number>('id', 0);
    await d.call('allocMany', 0, 50, 64);
    await d.terminate();
    const rInstance = await killAt(r, f, DP_REVIEW_REAP_RELEASE, 'the reap is between EXITED and its release',
      () => r.call('reapIn', d2.id, did));
    expect(Atomics.load(new Uint32Array(rt.memory.buffer, did + T_REAPED, 1), 0), 'D\'s release was cut short').toBe(2);
    rt.exports.ft_instance_release_dead(rInstance);   // what reapInstance(rt, rInstance) ends with (R had no thread)
    const t2 = d2.attach();
    const goal = t2.qsbr.advance();
    t2.qsbr.quiescent();
    expect(t2.qsbr.poll(goal), 'a goal of D\'s domain is reached').toBe(true);
    t2.exit();
    expect(rt.exports.ft_domain_threads_live(d2.id) >>> 0, 'D is not counted live').toBe(0);
    expect(() => d2.close()).not.toThrow();
    t.makeCurrent();
    t.free(f.addr);
  }, TEST_TIMEOUT);

  // Forced (no pause needed): a Wasm caller walks its heap with ft_visit_next and
  // frees the block just returned, which the walk allows. The block is the last
  // of a medium page alone in its queue, which pageRetire now frees at once, and
  // the page was its segment's last: the unit goes back to the runtime, and
  // another thread's new segment takes it. Correct: the walk's next step ends
  // (0). Before: visitNext read the freed page record, now the other thread's
  // page, and returned one of that thread's live blocks.
  it('ft_visit_next after freeing the last block of a lone medium page whose segment was reused', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const x = rt.exports;
    const p = t.alloc(20000);   // a medium page, the only page of t's segment
    const units0 = rt.stats().segments.unitsLive;
    expect(x.ft_visit_begin(0)).toBe(0);
    expect(x.ft_visit_next() >>> 0).toBe(p);
    expect(x.ft_free(p)).toBe(0);
    expect(rt.stats().segments.unitsLive, 'precondition: the segment went back with its page').toBe(units0 - 1);
    const [o] = await Peer.startMany(rt, newCtl(), 1);
    await o.call('attach');
    const theirs = await o.call<number[]>('allocMany', 0, 64, 16);
    expect((theirs[0] & SEG_MASK) >>> 0, 'precondition: the other thread took the unit').toBe((p & SEG_MASK) >>> 0);
    t.makeCurrent();
    const next = x.ft_visit_next() >>> 0;
    expect(theirs.includes(next), 'the walk handed out another thread\'s live block').toBe(false);
    expect(next).toBe(0);
  }, TEST_TIMEOUT);

  // Left open by that review, forced here: worker W is terminated inside
  // osUnitsAlloc holding osLock (DP_OS_LOCKED), while taking a huge segment.
  // Worker M reaps W's instance, as the facade does when a worker dies, and then
  // takes a huge block itself. Correct: the lock word says W's instance holds
  // it, the reap lets it go, and M's allocation goes through. Before: the spin
  // locks carried no holder, and every later memory growth or segment taken
  // from the pool spun for ever.
  it('a worker killed holding osLock: reaping its instance lets the lock go', async () => {
    const { rt, t, f, peers: [w, m] } = await killRig(2);
    await w.call('attach');
    await m.call('attach');
    const lock = () => Atomics.load(new Uint32Array(rt.memory.buffer, ROOT_OS_LOCK, 1), 0);
    let held = 0;
    const wInstance = await killAt(w, f, DP_OS_LOCKED, 'W holds osLock', () => w.call('allocMany', 0, 1, 8 << 20),
      () => { held = lock(); });
    expect(held, 'the lock word named W\'s instance').toBe(wInstance);
    expect(await within(m.call<number>('reapInstance', wInstance), 10_000, 'reaping W\'s instance'), 'W\'s thread').toBe(1);
    expect(lock(), 'osLock is free').toBe(0);
    const [big] = await within(m.call<number[]>('allocMany', 0, 1, 8 << 20), 10_000, 'M\'s huge block');
    expect(big).toBeGreaterThan(0);
    await m.call('freeMany', 0, [big]);
    t.free(f.addr);
  }, TEST_TIMEOUT);
});
