// review-13b.test.ts — reproducers of the review of heap-map, the stats fix, startWorker/joinWorker
// and loading (review 13b). Each test fails without its fix.
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { DP_STATS_XTF_LOADED } from '../src/abi.gen.ts';
import { fixtureUrl, Peer, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { pauseFlag } from './fixtures/util.ts';

useHarness();

// Layout (assembly/layout.ts) the test reads to build the racy state.
const ROOT = 1024, R_BRK_UNITS = 8, R_STATS_LOCK = 64, SEG_PAGES = 256, PAGE_REC_SHIFT = 7, SLICE_SHIFT = 15, SEGMENT = 1 << 22;
const P_START = 16, P_KEY = 32, P_SLICE_OFFSET = 44, P_EXT_BYTES = 20;

function pageOf(u32: Uint32Array, p: number): number {
  const seg = p & ~(SEGMENT - 1);
  const rec = seg + SEG_PAGES + (((p - seg) >>> SLICE_SHIFT) << PAGE_REC_SHIFT);
  return rec - u32[(rec + P_SLICE_OFFSET) >>> 2];
}

describe('review 13b', () => {
  // Defect 1 (stats.ts xthreadCount): a non-owner's stats walk of a page's
  // remote-free list stops at links outside the page, but not at a link inside it
  // that is not on a block boundary. Forced: the walker loads the list head (a
  // block B freed remotely) and pauses (DP_STATS_XTF_LOADED); the owner collects
  // the list, reuses B and writes data whose decoding (XOR the page key) is the
  // last byte of memory — inside the page, which ends where memory ends. The
  // walker then loads 4 bytes there: a trap inside ft_stats_snapshot, which holds
  // the stats spin lock, and the facade calls ft_stats_release only in a `finally`
  // that starts after the snapshot: the lock stays held and every later stats()
  // of the runtime spins forever. Correct: no trap, the lock is free afterwards.
  it('defect 1: a racy remote-free link into the middle of a block neither traps stats nor leaves its lock held', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const u32 = () => new Uint32Array(rt.memory.buffer);
    // Fill segments with 64-byte blocks up to the last byte of memory: the last page ends where memory ends.
    let last = 0;
    for (let i = 0; i < 300_000; i++) {
      last = t.alloc(64);
      if (last + 64 === rt.memory.buffer.byteLength) break;
    }
    const memEnd = rt.memory.buffer.byteLength;
    expect(last + 64).toBe(memEnd);
    const page = pageOf(u32(), last);
    expect(u32()[(page + P_START) >>> 2] + u32()[(page + P_EXT_BYTES) >>> 2]).toBe(memEnd);
    const b = last - 64 * 10;                 // freed remotely: the list head
    const c = last - 64 * 20;                 // freed locally: the page is not full
    t.free(c);
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    await w.call('free', 0, b);
    await w.call('pauseAt', DP_STATS_XTF_LOADED, f.addr, 1);
    const stats = w.call('liveThreads');
    stats.catch(() => {});
    await until(f.paused, 10_000, 'the walker loaded the remote-free head');
    // The owner takes the list and hands B out again, then writes its data.
    const got: number[] = [];
    for (let i = 0; i < 4 && !got.includes(b); i++) got.push(t.alloc(64));
    expect(got).toContain(b);
    const key = u32()[(page + P_KEY) >>> 2];
    u32()[b >>> 2] = ((memEnd - 1) ^ key) >>> 0;
    f.release();
    let error = '';
    try { await within(stats, 10_000, 'stats'); } catch (e) { error = String(e); }
    const held = Atomics.load(new Int32Array(rt.memory.buffer), (ROOT + R_STATS_LOCK) >>> 2);
    expect({ error, held }).toEqual({ error: '', held: 0 });
    await w.call('exit', 0);
  }, TEST_TIMEOUT);
});

describe('review 13b: startWorker', () => {
  // Defect 2 (assembly/abi/runtime.ts ft_instance_adopt, src/runtime.ts join; fixed: instance.ts):
  // adopting an instance id is not exclusive. Any JS thread given a startWorker
  // handle (a worker that forwards `workerData.ftheap` to a helper worker of its
  // own, as the "by hand" docs invite) joins with the same id, and when the
  // started worker dies, reapInstance reaps every thread stamped with that id:
  // also the live threads of the other JS thread, beside them. Here the main
  // thread stands for that helper. Correct: the second adoption is refused (or
  // the reap leaves the live thread alone).
  it('defect 2: a startWorker handle adopted by a second JS thread gets that thread\'s live threads reaped', async () => {
    const rt = await Runtime.create();
    const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'hang' } });
    await within(w.thread, 20_000, 'the worker attached');
    let outcome: string;
    try {
      const helper = await Runtime.join({ ...rt.share(), instance: w.instance });
      const t = helper.attach();
      const reaped = await within(w.terminate(), 20_000, 'terminate');
      outcome = `joined; threads reaped: ${reaped}; the helper's thread: ${String(t.state)}`;
    } catch (e) {
      outcome = `refused ${(e as { code?: string }).code}`;
      await w.terminate();
    }
    expect(outcome).toMatch(/^refused|reaped: 1;/);
  }, TEST_TIMEOUT);
});

describe('review 13b: startWorker errors', () => {
  // Defect 5 (minor, src/workers.ts): startWorker swallowed a worker's uncaught
  // error (its 'error' listener is a no-op, so that Node does not rethrow it), and
  // `thread` rejected with only "ended before its thread attached": why it failed
  // was lost. Correct: the rejection says the worker's error.
  it('defect 5: thread\'s rejection carries the worker\'s uncaught error', async () => {
    const rt = await Runtime.create();
    const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'throw' } });
    const message = await w.thread.then(() => 'resolved', (e: Error) => e.message);
    expect(message).toContain('this worker fails before joining');
    expect(await w.reaped).toBe(0);
  }, TEST_TIMEOUT);
});

describe('review 13b: the stats lock', () => {
  // Defect 3 (stats.ts, the stats spin lock): a worker terminated in the middle
  // of rt.stats() (forced: paused inside the snapshot at DP_STATS_XTF_LOADED)
  // leaves ROOT.statsLock held, and reaping the worker does not release it: every
  // later stats() of the runtime, on any JS thread, spins forever (a browser main
  // thread freezes). Correct: the reap releases a lock held by the dead instance.
  it('defect 3: reaping a worker killed inside stats() releases the stats lock', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const d = rt.domain();
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from({ length: 4 }, () => t.alloc(64));
    const [w] = await Peer.startMany(rt, newCtl(), 1);
    await w.call('attach');
    const id = await w.call<number>('id', 0);
    await w.call('free', 0, ps[1]);   // a non-empty remote-free list: the pause point is reached
    await w.call('pauseAt', DP_STATS_XTF_LOADED, f.addr, 1);
    w.call('liveThreads').catch(() => {});
    await until(f.paused, 10_000, 'the worker is inside its stats snapshot');
    await w.terminate();
    d.reap(id);
    const held = Atomics.load(new Int32Array(rt.memory.buffer), (ROOT + R_STATS_LOCK) >>> 2);
    expect(held).toBe(0);
    if (held === 0) expect(rt.stats().threads.live).toBeGreaterThan(0);
    t.exit();
  }, TEST_TIMEOUT);

  // The same with a worker that has no thread (nothing for Domain.reap): startWorker's reap releases it.
  it('defect 3b: startWorker\'s reap of a thread-less worker killed inside stats() releases the stats lock', async () => {
    const rt = await Runtime.create({ debug: true });
    const t = rt.attach();
    const f = pauseFlag(rt, t.alloc(8));
    const ps = Array.from({ length: 4 }, () => t.alloc(64));
    const [helper] = await Peer.startMany(rt, newCtl(), 1);
    await helper.call('attach');
    await helper.call('free', 0, ps[1]);
    await helper.call('exit', 0);
    const w = await Peer.start(rt, newCtl(), 'stats-reader', { reap: true });
    await w.call('pauseAt', DP_STATS_XTF_LOADED, f.addr, 1);
    w.call('liveThreads').catch(() => {});
    await until(f.paused, 10_000, 'the worker is inside its stats snapshot');
    await w.terminate();
    const lock = () => Atomics.load(new Int32Array(rt.memory.buffer), (ROOT + R_STATS_LOCK) >>> 2);
    let held = lock();
    for (let i = 0; i < 100 && held !== 0; i++) { await new Promise((r) => setTimeout(r, 20)); held = lock(); }
    expect(held).toBe(0);
    t.exit();
  }, TEST_TIMEOUT);
});

describe('review 13b: heap map scratch', () => {
  // Defect 4 (assembly/abi/heap-map.ts ft_heap_map_scratch): each instance made
  // its own 64 KiB scratch buffer from meta memory, which is never freed: every
  // short-lived JS thread (a worker, here a Runtime.join on this thread) that drew
  // a map once leaked 64 KiB for good; 100 of them took 6.4 MiB (new 4 MiB units).
  // Correct: buffers go back to a runtime-wide pool after each call.
  it('defect 4: heapMap() from many short-lived instances takes no new memory', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const p = t.alloc(100);
    rt.heapMap();
    const brk = () => new Uint32Array(rt.memory.buffer)[(ROOT + R_BRK_UNITS) >>> 2];   // 4 MiB units handed out
    const before = brk();
    for (let i = 0; i < 100; i++) {
      const other = await Runtime.join(rt.share());
      expect(other.heapMap().segments.length).toBeGreaterThan(0);
    }
    expect(brk() - before).toBe(0);
    t.free(p);
    t.exit();
  }, TEST_TIMEOUT);
});

describe('review 13b: heap map under churn (checked sound)', () => {
  // Not a defect: rt.heapMap() from a thread that is not attached, in a tight loop
  // while workers take and give back huge segments (memory grows under the walk),
  // fill and empty normal segments, exit (abandoning segments) and are reaped.
  it('heapMap() never traps while segments come and go and memory grows', async () => {
    const rt = await Runtime.create();
    const d = rt.domain();
    const ws = await Peer.startMany(rt, newCtl(), 3);
    let maps = 0;
    const spin = async <T>(p: Promise<T>): Promise<T> => {
      let done = false;
      const q = p.finally(() => { done = true; });
      while (!done) {
        const end = performance.now() + 5;
        while (performance.now() < end) {
          const m = rt.heapMap();
          for (const s of m.segments) {
            if (s.kind === 'normal') expect(s.pages.length).toBeLessThanOrEqual(127);
          }
          maps++;
        }
        await new Promise((r) => setTimeout(r, 0));
      }
      return q;
    };
    for (let round = 0; round < 3; round++) {
      await Promise.all(ws.map((w) => w.call('attach')));
      const ids = await Promise.all(ws.map((w) => w.call<number>('id', round)));
      const huge = await spin(Promise.all(ws.map((w) => w.call<number[]>('allocMany', round, 6, (3 << 20) + round * 4096))));
      const small = await spin(Promise.all(ws.map((w, i) => w.call<number[]>('allocMany', round, 20_000, 24 + 8 * i))));
      await spin(Promise.all(ws.map((w, i) => w.call('freeMany', round, huge[i]))));
      await spin(Promise.all(ws.map((w, i) => w.call('freeMany', round, small[(i + 1) % ws.length].slice(0, 10_000)))));
      if (round === 2) break;
      await spin(Promise.all(ws.map((w) => w.call('exit', round))));
      void ids;
    }
    // The last round's threads die with their workers and are reaped while the map is drawn.
    const ids = await Promise.all(ws.map((w) => w.call<number>('id', 2)));
    await Promise.all(ws.map((w) => w.terminate()));
    await spin(Promise.resolve().then(() => { for (const id of ids) d.reap(id); }));
    expect(rt.heapMap().segments.some((s) => s.abandoned)).toBe(true);
    expect(maps).toBeGreaterThan(20);
  }, TEST_TIMEOUT);
});

describe('review 13b: ft_heap_map bounds (checked sound)', () => {
  it('writes only inside [buf, buf + bytes), rejects bad buffers, resumes from `from`', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const ps = [t.alloc(64), t.alloc(3 << 20), t.alloc(64 << 10)];
    const x = rt.exports;
    const buf = x.ft_heap_map_scratch() >>> 0;
    const bytes = new Uint8Array(rt.memory.buffer);
    const memEnd = rt.memory.buffer.byteLength;
    expect(x.ft_heap_map(buf + 1, 4096, 0)).toBeLessThan(0);                 // not 4-aligned
    expect(x.ft_heap_map(buf, 47, 0)).toBeLessThan(0);                       // no room for a huge segment
    expect(x.ft_heap_map(memEnd - 48, 64, 0)).toBeLessThan(0);               // past the end of memory
    expect(x.ft_heap_map(buf, 0xFFFFFFFF, 0)).toBeLessThan(0);               // buf + bytes past 4 GiB
    expect(x.ft_heap_map(0, 4096, 0)).toBeLessThan(0);
    for (const size of [48, 63, 2063, 2079, 2080, 4099]) {
      bytes.fill(0xAB, buf, buf + 8192);
      const n = x.ft_heap_map(buf, size, 0);
      expect(n).toBeGreaterThanOrEqual(0);
      expect(bytes.subarray(buf + size, buf + 8192).every((b) => b === 0xAB)).toBe(true);
    }
    // Resuming: the segments of calls with a small buffer add up to one call's with a big one.
    const v = () => new DataView(rt.memory.buffer);
    const all = x.ft_heap_map(buf, 65536, 0);
    let sum = 0, from = 0;
    for (let i = 0; i < 100; i++) {
      const n = x.ft_heap_map(buf, 2080, from);
      sum += n;
      from = v().getUint32(buf + 8, true);
      if (from === 0) break;
    }
    expect(sum).toBe(all);
    expect(x.ft_heap_map(buf, 65536, 1 << 20)).toBe(0);   // `from` past the table
    expect(x.ft_heap_map_scratch_release(buf)).toBe(0);
    expect(x.ft_heap_map_scratch_release(buf)).not.toBe(0);   // EINVAL_ARG (status): not held any more
    for (const p of ps) t.free(p);
    t.exit();
  });
});
