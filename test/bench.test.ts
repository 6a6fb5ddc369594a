// bench.test.ts — the benchmark code runs and produces well-formed results (no timing checks).
// Builds the in-Wasm bench modules (bench/build-wasm.mjs, bench/build-sync.mjs) and the C peers
// that this machine can build (bench/build-c.mjs; columns of peers it cannot are left out and
// their checks skipped), then runs every suite in
// quick mode with 1 and 2 workers (the thread-machinery suites also with 4, qsbr's poll cost
// with up to 64 registered threads, churn's many-workers cell with 16 workers, brc's pairs and
// one-thread merge queue on the main thread, gc's collections at 10 K and 100 K objects beside V8's;
// `node dist/bench/main.js --quick`, the tsc output that `npm run build` made) and checks the
// JSON, the report's headings and the charts it writes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WORKLOADS } from '../bench/mt/workloads.ts';
import type { Result } from '../bench/report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'ftheap-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')));

function node(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, env });
  return { code: r.status, text: `${r.stdout}\n${r.stderr}` };
}

describe('bench: every suite in quick mode', () => {
  it('builds, runs, and writes well-formed results and charts', () => {
    const wasm = node(['bench/build-wasm.mjs']);
    expect(wasm.code, wasm.text).toBe(0);
    const sync = node(['bench/build-sync.mjs']);
    expect(sync.code, sync.text).toBe(0);
    // The C peers (bench/build-c.mjs: rebuilt only when a stamp changed, then smoke-tested; a peer
    // whose toolchain or mimalloc source is missing, or whose smoke test fails, is left out of
    // peers.json and of the tables). emcc runs without node_modules/.bin on its PATH, so npm's
    // binaryen cannot shadow Debian's (it did under vitest: JS glue that failed to link).
    const c = node(['bench/build-c.mjs']);
    expect(c.code, c.text).toBe(0);
    const manifest = join(root, 'build/bench/c/peers.json');
    const built = existsSync(manifest)
      ? JSON.parse(readFileSync(manifest, 'utf8')) as { peers: Record<string, { programs: Record<string, unknown> }>; missing: Record<string, string> }
      : { peers: {}, missing: {} };
    const cIds = ['em-dlmalloc', 'em-emmalloc', 'wasm-mimalloc', 'native-glibc', 'native-mimalloc'];
    const mtPeers = cIds.filter((id) => built.peers[id]?.programs.mt);
    const stPeers = cIds.filter((id) => id !== 'em-emmalloc' && built.peers[id]?.programs.st);

    const file = join(out, 'quick.json');
    const run = node(['dist/bench/main.js', '--quick', '--threads', '2', '--out', file]);
    expect(run.code, run.text).toBe(0);
    const results = JSON.parse(readFileSync(file, 'utf8')) as Result[];

    for (const r of results) {
      expect(Object.keys(r).sort()).toEqual(['allocator', 'liveBytes', 'nsPerOp', 'opsPerSec', 'peakBytes', 'suite', 'threads', 'workload']);
      expect(typeof r.suite).toBe('string');
      expect(typeof r.workload).toBe('string');
      expect(typeof r.allocator).toBe('string');
      expect(Number.isInteger(r.threads) && r.threads >= 1).toBe(true);
      expect(Number.isFinite(r.nsPerOp) && r.nsPerOp > 0).toBe(true);
      expect(Number.isFinite(r.opsPerSec) && r.opsPerSec > 0).toBe(true);
      expect(Math.abs(r.opsPerSec * r.nsPerOp / 1e9 - 1)).toBeLessThan(0.01);
      expect(Number.isInteger(r.peakBytes) && r.peakBytes >= 0).toBe(true);
      expect(Number.isInteger(r.liveBytes) && r.liveBytes >= 0).toBe(true);
    }

    // single-thread: four patterns, every allocator, one worker
    // (and the JS batch-call line: five ways of allocating and freeing 1000 blocks)
    const batch = results.filter((r) => r.suite === 'single-thread' && r.workload === 'js-batch1000x32');
    expect(batch.map((r) => r.allocator)).toEqual(['ftheap-raw-js', 'ftheap-facade-js', 'ftheap-many-js', 'ftheap-many-sizes-js',
      'ftheap-many-fresh-js']);
    const st = results.filter((r) => r.suite === 'single-thread' && r.workload !== 'js-batch1000x32');
    expect(new Set(st.map((r) => r.workload))).toEqual(new Set(['lifo32', 'ring8-256', 'rand16-1024', 'em1000']));
    expect(new Set(st.map((r) => r.allocator))).toContain('ftheap-calls-wasm');
    expect(st.every((r) => r.threads === 1)).toBe(true);
    expect(st.length).toBe(4 * new Set(st.map((r) => r.allocator)).size);
    // every built C peer has its four cells (bench/c/st.c); a peer left out says so in one line
    for (const id of stPeers) expect(st.filter((r) => r.allocator === id).length, id).toBe(4);
    for (const id of cIds.filter((x) => x !== 'em-emmalloc' && !stPeers.includes(x))) expect(run.text).toContain(id);

    // mimalloc-bench: every workload; ftheap (inlined and through calls) at 1 and 2 workers, TLSF and thi.ng at 1; every C peer
    // built here at 1 and 2 workers (a machine may lack emcc, gcc or mimalloc: those are left out).
    const mb = results.filter((r) => r.suite === 'mimalloc-bench');
    const cells = new Set(mb.map((r) => `${r.workload}/${r.allocator}/${r.threads}`));
    const allocs: [string, number[]][] = [['ftheap-wasm', [1, 2]], ['ftheap-calls-wasm', [1, 2]], ['as-tlsf-wasm', [1]], ['thing-wasm', [1]]];
    for (const w of WORKLOADS) {
      for (const [a, ts] of allocs) for (const t of ts) expect(cells.has(`${w.id}/${a}/${t}`), `${w.id}/${a}/${t}`).toBe(true);
    }
    const own = mb.filter((r) => !cIds.includes(r.allocator));
    expect(own.length).toBe(WORKLOADS.length * allocs.reduce((s, [, ts]) => s + ts.length, 0));
    // every built C peer: every workload at 1 and 2 workers
    for (const id of mtPeers) {
      for (const w of WORKLOADS) for (const t of [1, 2]) expect(cells.has(`${w.id}/${id}/${t}`), `${w.id}/${id}/${t}`).toBe(true);
    }
    expect(mb.filter((r) => cIds.includes(r.allocator)).length).toBe(mtPeers.length * WORKLOADS.length * 2);

    // the mutex and stop-the-world suites
    const mx = results.filter((r) => r.suite === 'mutex');
    expect(mx.some((r) => r.workload === 'uncontended' && r.allocator === 'ftheap-mutex')).toBe(true);
    expect(mx.some((r) => r.workload === 'contended-len10' && r.allocator === 'spinlock' && r.threads === 2)).toBe(true);
    const stw = results.filter((r) => r.suite === 'stop-the-world');
    expect(new Set(stw.map((r) => r.threads))).toEqual(new Set([1, 2, 4]));
    expect(mb.filter((r) => r.allocator === 'ftheap-wasm' && r.workload !== 'cache-scratch').every((r) => r.liveBytes > 0)).toBe(true);

    // the qsbr suite: reads (both structures, both variants, 1/2/4 readers), poll cost at 1..64
    // registered threads, freeDelayed latency alone and with 1 or 2 others at either period
    const q = results.filter((r) => r.suite === 'qsbr');
    const qcells = new Set(q.map((r) => `${r.workload}/${r.allocator}/${r.threads}`));
    const want: string[] = [];
    for (const w of ['list-read', 'map-read', 'omap-read']) for (const a of ['lock-free', 'mutex']) for (const t of [1, 2, 4]) want.push(`${w}/${a}/${t}`);
    for (const t of [1, 2, 4]) want.push(`omap-read/borrowed/${t}`);
    for (const w of ['poll', 'poll-per-slot']) for (const t of [1, 2, 4, 8, 16, 32, 64]) want.push(`${w}/ftheap/${t}`);
    for (const p of ['p50', 'p90', 'p99']) {
      want.push(`free-delayed-${p}/alone/1`);
      for (const a of ['others-every-10us', 'others-every-100us']) for (const t of [2, 3]) want.push(`free-delayed-${p}/${a}/${t}`);
    }
    for (const c of want) expect(qcells.has(c), c).toBe(true);
    expect(q.length).toBe(want.length);
    for (const heading of ['## qsbr: SharedList / SharedMap reads', '### qsbr: read targets', '## qsbr: poll cost vs registered threads',
      '## qsbr: freeDelayed → free latency']) expect(run.text).toContain(heading);

    // the churn suite: ftheap only; mstress at 1 and 2 workers, produce-consume, many workers (16
    // in quick mode, 64 in full runs), reap latency; memory rows carry high-water and peak live bytes
    const ch = results.filter((r) => r.suite === 'churn');
    const chCells = new Set(ch.map((r) => `${r.workload}/${r.threads}`));
    for (const c of ['churn-mstress/1', 'churn-mstress/2', 'churn-produce-consume/2', 'churn-64-workers/16', 'reap-latency/2']) {
      expect(chCells.has(c), c).toBe(true);
    }
    expect(ch.length).toBe(5);
    expect(ch.every((r) => r.allocator === 'ftheap')).toBe(true);
    for (const r of ch.filter((x) => x.workload !== 'reap-latency')) {
      expect(r.liveBytes, r.workload).toBeGreaterThan(0);
      expect(r.peakBytes, r.workload).toBeGreaterThanOrEqual(r.liveBytes);
    }
    for (const heading of ['## churn: memory high-water vs peak live bytes', '## churn: reap latency']) expect(run.text).toContain(heading);

    // the brc suite: the three pairs (one thread), private objects at 1 and 2 workers, the merge
    // queue on one thread (total, push, merge) and with two workers (back to back, every 10 µs)
    const brc = results.filter((r) => r.suite === 'brc');
    const brcCells = new Set(brc.map((r) => `${r.workload}/${r.allocator}/${r.threads}`));
    const brcWant = ['owner-pair/ftheap/1', 'atomic-pair/plain-atomic/1', 'nonowner-pair/ftheap/1', 'private-objects/ftheap/1',
      'private-objects/ftheap/2', 'merge-queue/one-thread/1', 'merge-queue-push/one-thread/1', 'merge-queue-merge/one-thread/1'];
    for (const v of ['two-workers', 'two-workers-every-10us']) brcWant.push(`merge-queue/${v}/2`, `merge-queue-push/${v}/2`);
    for (const c of brcWant) expect(brcCells.has(c), c).toBe(true);
    expect(brc.length).toBe(brcWant.length);
    for (const heading of ['## brc: incref + decref pairs', '## brc: private objects', '## brc: the merge queue', '### brc: targets']) {
      expect(run.text).toContain(heading);
    }

    // the gc suite: quick sizes 10 K and 100 K; ftheap and both V8 variants per size, ftheap's mark,
    // sweep, and pause alone (1) and with the 2 workers (2)
    const gc = results.filter((r) => r.suite === 'gc');
    const gcCells = new Set(gc.map((r) => `${r.workload}/${r.allocator}/${r.threads}`));
    const gcWant: string[] = [];
    for (const n of ['10k', '100k']) {
      for (const a of ['ftheap', 'v8', 'v8-single-threaded-gc']) gcWant.push(`collect-${n}/${a}/1`);
      gcWant.push(`mark-${n}/ftheap/1`, `sweep-${n}/ftheap/1`, `pause-${n}/ftheap/1`, `pause-${n}/ftheap/2`);
    }
    for (const c of gcWant) expect(gcCells.has(c), c).toBe(true);
    expect(gc.length).toBe(gcWant.length);
    for (const r of gc.filter((x) => x.workload.startsWith('collect-'))) {
      expect(r.peakBytes, `${r.workload}/${r.allocator}`).toBeGreaterThan(0);
      expect(r.liveBytes, `${r.workload}/${r.allocator}`).toBeGreaterThan(0);
    }
    for (const heading of ['## gc: full collection vs heap size', '## gc: mark and sweep rates', '## gc: pause with 2 workers attached',
      '### gc: targets']) {
      expect(run.text).toContain(heading);
    }

    // quick tables say so, and name the CPU; no impossible values (0 B peaks, negative differences)
    for (const h of run.text.split('\n').filter((l) => /^#{2,3} /.test(l))) {
      expect(h, h).toContain('— quick run, not a measurement');
      expect(h, h).toMatch(/\[\d+ × .+\]/);
    }
    const mine = run.text.split(/^(?=## )/m).filter((b) => /^## (single-thread|mimalloc-bench)/.test(b)).join('\n');
    expect(mine).not.toMatch(/\|\s+0 B \//);
    expect(mine).not.toMatch(/\|\s+-\d/);

    // the report and the charts
    expect(run.text).toContain('## mimalloc-bench: throughput and ns per op');
    expect(run.text).toContain('### mimalloc-bench: targets');
    for (const name of ['single-thread', 'mimalloc-bench']) {
      const svg = readFileSync(join(out, `quick-${name}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
  });
});
