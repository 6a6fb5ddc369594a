// memory-view.test.ts — each thread's instance keeps its own copy of the shared
// memory's length, and V8 brings it up to date after another thread grows the
// memory only when the thread gets round to an interrupt check. Loads and stores
// do not consult the copy; memory.fill, memory.copy and memory.size do, so a
// bulk operation on memory another thread just grew trapped as out of bounds
// (the web demo under load: a huge block taken from units another worker had
// grown, zeroed with memory.fill in the middle of malloc, its locks left held).
// The core refreshes the copy (memory.grow(0)) before a bulk operation that
// reaches past it (assembly/os.ts memFill, memCopy, memHas), and when a thread
// takes units or adopts a segment; it uses the bulk operations nowhere else.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../src/index.ts';
import { Peer, useHarness, within } from './fixtures/harness.ts';
import { newCtl } from './fixtures/protocol.ts';
import { ROOT } from './fixtures/source.ts';

useHarness();
const TEST_TIMEOUT = 60_000;
const MIB = 1 << 20;

describe('memory another thread grew a moment ago', () => {
  // Forced as far as V8 lets a test force it: B sits in one Wasm call
  // (ft_debug_fill_follow, debug build) spinning on a word; A, in one Wasm call
  // too (ft_debug_grow_publish), grows the memory a page at a time, stores the
  // new last 64 bytes' address in the word right after each grow, and waits
  // until B has touched there (B does as soon as it sees it). Correct: every
  // round done. Without the refresh B trapped (out of bounds) in every run: now
  // and then it sees the address before its copy of the length has caught up.
  //  - mode 0: B memFills there (os.ts memHas);
  //  - mode 1: B loads the word with loadSynced and reads there atomically (as
  //    every walk and lock-free reader does: memSync after the starting word).
  for (const [mode, what] of [[0, 'memFill'], [1, 'an atomic load after loadSynced']] as const) {
    it(`${what} of memory grown a moment ago by another thread does not trap`, async () => {
      const rt = await Runtime.create({ debug: true });
      const t = rt.attach();
      const word = t.alloc(8);
      new Int32Array(rt.memory.buffer).fill(0, word >>> 2, (word >>> 2) + 2);
      const [a, b] = await Peer.startMany(rt, newCtl(), 2);
      await a.call('attach');
      await b.call('attach');
      const before = rt.exports.ft_memory_pages();
      const rounds = 2000;
      // Together: B's trap (the failure) rejects at once, while A waits on for B.
      const [grown, seen] = await within(Promise.all([a.call<number>('growPublish', word, rounds),
        b.call<number>('fillFollow', word, rounds, mode)]), 20_000, 'A\'s grows and B\'s rounds');
      expect(grown).toBe(rounds);
      expect(rt.exports.ft_memory_pages(), 'A grew the memory').toBe(before + rounds);
      expect(seen, 'rounds B made').toBe(rounds);
      // The allocator goes on over the grown pages.
      const p = t.alloc(12 * MIB);
      expect(p).toBeGreaterThan(0);
      t.free(p);
    }, TEST_TIMEOUT);
  }
});

describe('the core never uses the bulk memory operations directly', () => {
  // memory.fill / memory.copy / memory.size consult the instance's copy of the
  // length: only os.ts's memFill, memCopy, memHas and memPages use them (and grow).
  it('memory.fill, memory.copy, memory.size and memory.grow appear only in os.ts', () => {
    const dir = join(ROOT, 'assembly');
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts') && f !== 'os.ts');
    const uses = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n')
      .map((line, i) => ({ at: `${f}:${i + 1}`, code: line.replace(/\/\/.*$/, '') }))
      .filter((l) => /\bmemory\.(fill|copy|size|grow)\s*\(/.test(l.code)).map((l) => l.at));
    expect(files.length).toBeGreaterThan(30);
    expect(uses).toEqual([]);
  });
});
