// stats.test.ts — committed bytes with per-thread deltas (assembly/os.ts): each thread
// keeps what it commits in its record and folds it into the root's counter past
// ±256 KiB, at exit and at reap. Checked at quiescent points: `committed` equals what
// the snapshot says is in use (normal segments' headers + made-ready blocks + huge
// blocks) with several threads on this JS thread (commits below and above the fold
// threshold, frees by another thread, exits) and with a worker that is killed and
// reaped; `committedPeak` ≥ committed and never decreases, except by resetPeak.
import { describe, expect, it } from 'vitest';
import { Runtime, type AllocatorStats } from '../src/index.ts';
import { attached, expectBalanced, Peer, useHarness } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';

useHarness();

const SEG_META_BYTES = 24832;   // assembly/layout.ts: a normal segment's header, page records and xthreadFree lines
const T_COMMIT_DELTA = 416;     // assembly/layout.ts: the thread record's unfolded delta (i32)
const MiB = 1 << 20;

/** What the snapshot says is committed: segment headers, pages' made-ready blocks, huge blocks. */
function inUse(s: AllocatorStats): number {
  return s.segments.normal * SEG_META_BYTES + s.sizeClasses.reduce((n, c) => n + c.blocksCapacity * c.blockSize, 0) + s.huge.bytes;
}

function expectExact(rt: Runtime, label: string): AllocatorStats {
  const s = rt.stats();
  expect(s.memory.committed, label).toBe(inUse(s));
  expect(s.memory.committedPeak, label).toBeGreaterThanOrEqual(s.memory.committed);
  return s;
}

describe('committed bytes', () => {
  it('stay exact across threads of one JS thread: small and large commits, remote frees, exits', async () => {
    const { rt, t } = await attached();
    const u = rt.attach(), v = rt.attach();
    let peak = 0;
    const check = (label: string) => {
      const s = expectExact(rt, label);
      expect(s.memory.committedPeak, `${label}: the peak never decreases`).toBeGreaterThanOrEqual(peak);
      peak = s.memory.committedPeak;
    };
    check('start');
    const small = t.allocMany(100, 64);                  // well below the fold threshold
    check('small');
    const medium = u.allocMany(2000, 1000);              // ~2 MiB: folds on the way
    check('medium');
    const big = v.allocMany([3 * MiB, 300 * 1024, 100 * 1024]);   // a huge block, large pages
    check('big');
    t.freeMany(medium);                                  // u's blocks, freed by t (remote)
    u.collect(true);
    check('remote frees collected');
    v.freeMany(big);
    v.collect(true);
    check('big freed');
    u.exit();
    v.exit();
    check('two exits');
    t.freeMany(small);
    t.collect(true);
    const end = expectExact(rt, 'all freed');
    expect(end.memory.committedPeak).toBeGreaterThanOrEqual(peak);
    rt.resetPeak();
    const reset = rt.stats();
    expect(reset.memory.committedPeak).toBe(reset.memory.committed);
    t.exit();
    const after = expectExact(rt, 'every thread exited');
    expect(after.threads.live).toBe(0);
    expectBalanced(rt, { blocksUsed: 0, threadsLive: 0 });
  });

  it('a reaped thread\'s delta is folded: committed stays exact after the reap and after its blocks are freed', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    const d = rt.domain();
    const [victim] = await Peer.startMany(rt, newCtl(), 1);
    await victim.call('attach');
    const id = await victim.call<number>('id', 0);
    // a little (stays in its delta) and a lot (folded)
    const few = await victim.call<number[]>('allocMany', 0, 20, 48);
    const many = await victim.call<number[]>('allocMany', 0, 600, 1024);
    t.collect();
    const before = expectExact(rt, 'victim alive, detached or not');
    const delta = () => new Int32Array(rt.memory.buffer)[(id + T_COMMIT_DELTA) >>> 2];
    expect(delta(), 'the victim holds an unfolded delta').not.toBe(0);
    await victim.terminate();
    d.reap(id);
    expect(delta(), 'the reap folded it').toBe(0);
    const reaped = expectExact(rt, 'after the reap');
    expect(reaped.memory.committedPeak).toBeGreaterThanOrEqual(before.memory.committedPeak);
    t.freeMany([...few, ...many]);
    for (let i = 0; i < 100 && d.abandoned().segments > 0; i++) t.checkpoint();
    t.collect(true);
    expectExact(rt, 'its blocks freed, the pool collected');
    t.exit();
    expectBalanced(rt, { blocksUsed: 0, threadsLive: 0 });
  });

  it('the peak follows commits that stay inside a thread\'s delta once stats are read', async () => {
    const { rt, t } = await attached();
    rt.resetPeak();
    const p = t.alloc(64);                               // a fresh segment and page: ~20 KiB, not folded
    const s = rt.stats();
    expect(s.memory.committed).toBeGreaterThan(SEG_META_BYTES);
    expect(s.memory.committedPeak).toBeGreaterThanOrEqual(s.memory.committed);
    t.free(p);
    t.collect(true);
    const e = rt.stats();
    expect(e.memory.committedPeak).toBe(s.memory.committedPeak);   // not lowered by the free
  });
});
