// review-13a.test.ts — adversarial review of issue 13 (calls that may not block fail
// fast with EAGAIN; the async variants). Real workers (thread-worker.ts).
//
// - An async stop's requester on a thread that may block, between two polls, takes a
//   lock (or writes a shared map) whose holder its own stop has parked: it must not
//   wait (the holder runs again only when the stop ends, which needs this JS thread).
// - A worker killed while an async stop waits for it, then reaped between polls: the
//   stop completes, and the requester is attached and usable after.
// - A synchronous requester in a worker against an async one on a thread that may
//   not block: each gets its stop, neither runs inside the other's.
import { describe, expect, it } from 'vitest';
import { Runtime, SharedMap } from '../src/index.ts';
import { LIMIT, Peer, TEST_TIMEOUT, until, useHarness, within } from './fixtures/harness.ts';
import { Ctl, flag, newCtl, setCtl } from './fixtures/protocol.ts';
import { RawState } from './fixtures/thread-shared.ts';

useHarness();

describe('an async stop\'s requester between polls', () => {
  for (const what of ['lock', 'set'] as const) {
    it(`on a thread that may block: ${what === 'lock' ? 'lock(m)' : 'a SharedMap write'} held by a thread its stop parked is EAGAIN, not a deadlock`, async () => {
      const rt = await Runtime.create();
      const t = rt.attach();   // attached and idle here: holds the requester's stop up until it detaches
      const ctl = newCtl();
      const map = SharedMap.create(t);
      const m = what === 'lock' ? t.calloc(1, 4) : map.handle + 4;   // +4: the map's writers' mutex
      const w = await Peer.start(rt, ctl, 'holder');
      const x = await Peer.start(rt, ctl, 'requester');
      await w.call('attach');
      await x.call('attach');
      const wid = await w.call('id', 0);
      // W holds m (as a writer would across a slow write) and checkpoints: the stop parks it holding m.
      await w.call('lock', 0, m);
      const holding = w.call('checkpointsUntilFlag', 0, flag(0));
      const res = x.call<{ code: string; stopped: string }>('stopAsyncThen', 0, what, what === 'lock' ? m : map.handle, 50);
      await until(() => rt.exports.ft_thread_state(wid) === RawState.SUSPENDED, LIMIT, 'W parked by X\'s stop');
      // Give X's synchronous call time to run while its stop still waits for this thread.
      await new Promise((r) => setTimeout(r, 200));
      t.detach();   // X's stop can complete now — if X's JS thread is free to poll
      const r = await within(res, 5_000, 'X: the call between polls, then its stop');
      expect(r).toEqual({ code: 'EAGAIN', stopped: 'stopped' });
      expect(Atomics.load(ctl, Ctl.IN_STOP)).toBe(1);
      setCtl(ctl, flag(0));
      await within(holding, LIMIT, 'W runs again');
      await w.call('unlock', 0, m);
      t.attach();
      map.destroy();
    }, TEST_TIMEOUT);
  }
});

