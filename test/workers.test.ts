// workers.test.ts — the worker start-up helper: rt.startWorker on the main side,
// joinWorker in the worker. The worker joins and attaches to the starter's
// domain, its thread id comes back, and its threads are reaped when it is gone
// (terminated, failed, or ended without exit()).
import { describe, expect, it } from 'vitest';
import { FtheapError, joinWorker, Runtime } from '../src/index.ts';
import { fixtureUrl } from './fixtures/harness.ts';

const codeOf = async (f: () => Promise<unknown>) => { try { await f(); } catch (e) { return e instanceof FtheapError ? e.code : String(e); } };
const message = <T>(w: unknown) => new Promise<T>((resolve) => (w as { once(e: string, f: (m: T) => void): void }).once('message', resolve));

describe('startWorker + joinWorker', () => {
  it('the worker attaches to the chosen domain and its thread id comes back; a clean exit leaves nothing to reap', async () => {
    const rt = await Runtime.create();
    const d = rt.createDomain();
    const t = d.attach();
    const w = await rt.startWorker(fixtureUrl('join-worker'), { domain: d, data: { mode: 'alloc', n: 10 } });
    const got = message<{ ps: number[]; domain: number }>(w.worker);
    const id = await w.thread;
    expect(id).toBeGreaterThan(0);
    const { ps, domain } = await got;
    expect(domain).toBe(d.id);
    expect(await w.reaped).toBe(0);                  // it exited its thread itself
    for (const p of ps) t.free(p);                   // its blocks are blocks of d: freed here, cross-thread
    expect(d.threads().some((x) => x.id === id && x.state === 'attached')).toBe(false);
    t.exit();
  });

  it('a worker terminated while attached is reaped, and the world runs on', async () => {
    const rt = await Runtime.create();
    const t = rt.attach();
    let reports: unknown[] = [];
    const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'hang' }, onReaped: (r) => { reports = r; } });
    const id = await w.thread;
    expect(rt.domain().threads().find((x) => x.id === id)?.state).toBe('attached');
    expect(await w.terminate()).toBe(1);
    expect(reports).toEqual([expect.objectContaining({ id })]);
    t.stopTheWorld(() => {}, { timeoutMs: 5000 });  // would time out if the dead thread still counted
    t.exit();
  });

  it('a worker that fails before joining: thread rejects, nothing to reap', async () => {
    const rt = await Runtime.create();
    const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'throw' } });
    expect(await codeOf(() => w.thread)).toBe('EINVAL_STATE');
    expect(await w.reaped).toBe(0);
  });

  it('a worker that attaches and ends at once: its thread id still arrives (the report may trail the exit event), and it is reaped', async () => {
    const rt = await Runtime.create();
    // The main thread is kept busy until the workers are gone, so the exit events
    // and the reports wait in the queue together.
    const ws = await Promise.all(Array.from({ length: 6 }, () => rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'exit-now' } })));
    const t0 = Date.now();
    while (rt.exports.ft_thread_next_all(0) === 0 && Date.now() - t0 < 5000) { /* until one attached */ }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const ids = await Promise.all(ws.map((w) => w.thread));
    for (const id of ids) expect(id).toBeGreaterThan(0);
    expect((await Promise.all(ws.map((w) => w.reaped))).reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('attach: false joins only; threads attached by hand are stamped and reapable all the same', async () => {
    const rt = await Runtime.create();
    const w = await rt.startWorker(fixtureUrl('join-worker'), { data: { mode: 'no-attach' } });
    const got = message<{ id: number }>(w.worker);
    expect(await w.thread).toBe(0);
    expect((await got).id).toBeGreaterThan(0);
    expect(await w.reaped).toBe(0);
  });

  it('bad options are EINVAL_OPTION before anything starts; joinWorker outside a started worker is EINVAL_STATE', async () => {
    const rt = await Runtime.create();
    expect(await codeOf(() => rt.startWorker(fixtureUrl('join-worker'), { reapDelayMs: -1 }))).toBe('EINVAL_OPTION');
    expect(await codeOf(() => joinWorker())).toBe('EINVAL_STATE');
  });
});
