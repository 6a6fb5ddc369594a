// demo/map-phase.ts — the demo's second phase: safe reclamation at work. Main makes
// a SharedMap holding the stable keys and detaches; worker 0 (demo/map-worker.ts)
// writes — a band of keys inserted and deleted so that the table is rebuilt over
// and over, each old table freed with freeDelayed — while the other workers read
// it lock-free, check every value and checkpoint every few hundred reads. Shows
// progress like the first phase, then the reads, the writes and the domain's QSBR
// figures at three points: the workers just exited; main attached and
// checkpointed (the exited threads' pending frees drain from the domain's queue);
// the map destroyed (its last table goes to freeDelayed too), main checkpointed
// and collected. That last point must have nothing pending and no block live.
import type { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { SharedMap, type QsbrInfo, type Runtime } from '../src/index.ts';
import { abortDemo, fmtCount, table } from './format.ts';
import {
  BAND_BASE, BAND_KEYS, M, MAP_CONTROL_WORDS, MAP_STOP, MAP_STRIDE, mapValue, STABLE_KEYS, type MapWorkerInit,
} from './shared.ts';

export interface MapPhaseOptions {
  /** The writer plus workers − 1 readers. */
  workers: number;
  /** How long the writer writes (ms), unless `ops` is set. */
  millis: number;
  /** The writer's sets + deletes; 0 = write for `millis`. */
  ops: number;
}

/** Run the phase and print its report; true if every value verified and nothing was left. */
export async function runMapPhase(rt: Runtime, o: MapPhaseOptions): Promise<boolean> {
  const readers = o.workers - 1;
  console.log(`\nSharedMap phase: 1 writer, ${readers === 0 ? 'no readers (--workers 1)' :
    `${readers} lock-free reader${readers === 1 ? '' : 's'}`}, ${o.ops ? `${o.ops} writer ops` : `${o.millis / 1000} s`}\n`);

  // Main's thread makes the map, then detaches: attached and idle, it would be an
  // online thread that never passes a quiescent state, holding back every free.
  const main = rt.attach();
  const map = SharedMap.create(main, STABLE_KEYS); // sized for them: main rebuilds no table
  for (let k = 0; k < STABLE_KEYS; k++) map.set(k, mapValue(k));
  main.detach();
  const domain = rt.domain();

  const counters = new SharedArrayBuffer(o.workers * MAP_STRIDE * 8);
  const ctl = new Int32Array(new SharedArrayBuffer(MAP_CONTROL_WORDS * 4));
  const counts = new Float64Array(counters);
  const get = (w: number, slot: number) => counts[w * MAP_STRIDE + slot];
  const readerIds = Array.from({ length: readers }, (_, i) => i + 1);
  const readRate = (w: number) => get(w, M.OPS) / Math.max(get(w, M.MILLIS), 1) * 1000;
  const pool = await Promise.all(Array.from({ length: o.workers }, (_, id) => {
    const init: MapWorkerInit = { map: map.handle, id, readers, millis: o.millis, ops: o.ops,
      counters, control: ctl.buffer as SharedArrayBuffer };
    return rt.startWorker(new URL('./map-worker.js', import.meta.url), { data: init });
  }));

  // ---- progress ----------------------------------------------------------------
  // Short enough for an 80-column terminal; the tables below have the rest.
  const writerText = () => `${fmtCount(get(0, M.OPS))} ops, ${fmtCount(get(0, M.REBUILDS))} rebuilds, ` +
    `${get(0, M.KEYS)} keys, ${get(0, M.FAILED)} failed`;
  const readerText = (w: number) => `${fmtCount(get(w, M.OPS))} reads, ${fmtCount(readRate(w))} reads/s, ${get(w, M.FAILED)} failed`;
  const qsbrText = () => {
    const q = domain.qsbrInfo();
    return `wrSeq ${q.wrSeq}, rdSeq ${q.rdSeq} | ${fmtCount(q.delayedFreed)} freed, ${q.delayedPending} pending`;
  };
  const started = performance.now();
  let progress: { update(): void; stop(): void };
  if (process.stdout.isTTY) {
    const multi = new cliProgress.MultiBar({
      format: '{name} {bar} {percentage}% | {text}', hideCursor: true, clearOnComplete: false, barsize: 16,
    }, cliProgress.Presets.shades_classic);
    const writer = multi.create(1000, 0, { name: 'writer   ', text: writerText() });
    const bars = readerIds.map((w) => multi.create(1000, 0, { name: `reader ${String(w).padStart(2)}`, text: readerText(w) }));
    const qsbr = multi.create(1000, 0, { name: 'qsbr     ', text: qsbrText() });
    progress = {
      update() {
        const p = Math.round(get(0, M.PROGRESS) * 1000);
        writer.update(p, { text: writerText() });
        bars.forEach((bar, i) => bar.update(Math.round(get(readerIds[i], M.PROGRESS) * 1000), { text: readerText(readerIds[i]) }));
        qsbr.update(p, { text: qsbrText() });
      },
      stop() { this.update(); multi.stop(); },
    };
  } else {
    let next = 1000;
    const print = () => {
      const reads = readerIds.reduce((s, w) => s + readRate(w), 0);
      const failed = readerIds.reduce((s, w) => s + get(w, M.FAILED), 0);
      console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${Math.round(get(0, M.PROGRESS) * 100)}% ` +
        `writer ${writerText()}; ${readers === 0 ? 'no readers' : `readers ${fmtCount(reads)} reads/s, ${failed} failed`}; ` +
        `qsbr ${qsbrText()}`);
    };
    progress = {
      update() { if (performance.now() - started >= next) { next += 1000; print(); } },
      stop() { print(); },
    };
  }
  const ticker = setInterval(() => progress.update(), 100);

  let exited = 0;
  await new Promise<void>((resolve, reject) => {
    for (const w of pool.map((p) => p.worker as Worker)) {
      w.on('error', reject);
      w.on('exit', (code) => {
        if (code !== 0) reject(new Error(`map worker exited with code ${code}`));
        else if (++exited === o.workers) resolve();
      });
    }
  }).catch((e: unknown) => {
    Atomics.store(ctl, MAP_STOP, 1);
    return abortDemo(e, () => { clearInterval(ticker); progress.stop(); }, pool);
  });
  clearInterval(ticker);
  progress.stop();

  // ---- after exit: drain, check the map, destroy it, drain again ----------------
  const snap = () => ({ q: domain.qsbrInfo(), live: rt.stats().totals.blocksUsed });
  const exitedSnap = snap();
  main.attach();
  main.checkpoint(); // any thread's checkpoint drains what exited threads left in the domain's queue
  const drainedSnap = snap();

  let mainFailed = 0;
  const keys = get(0, M.KEYS);
  if (map.size !== keys) { mainFailed++; console.error(`map: size ${map.size}, the writer left ${keys}`); }
  for (let k = 0; k < STABLE_KEYS; k++) if (map.get(k) !== mapValue(k)) { mainFailed++; console.error(`map: get(${k}) = ${map.get(k)}`); }
  let band = 0;
  for (let k = BAND_BASE; k < BAND_BASE + BAND_KEYS; k++) {
    const v = map.get(k);
    if (v === undefined) continue;
    band++;
    if (v !== mapValue(k)) { mainFailed++; console.error(`map: get(${k}) = ${v}`); }
  }
  if (STABLE_KEYS + band !== keys) { mainFailed++; console.error(`map: ${band} band keys, the writer left ${keys - STABLE_KEYS}`); }

  // destroy frees the header now and the table with freeDelayed: only a
  // checkpoint after it (main is the only thread left) frees the table.
  map.destroy();
  main.checkpoint();
  main.collect(true);
  const endSnap = snap();
  main.exit();

  // ---- report ------------------------------------------------------------------
  const wall = get(0, M.MILLIS);
  console.log(`\nSharedMap: reads (a read is one lock-free get, its value checked; readers checkpoint every 256 reads)\n`);
  if (readers === 0) console.log('(no readers: --workers 1)');
  else {
    const totalReads = readerIds.reduce((s, w) => s + get(w, M.OPS), 0);
    console.log(table(['', 'reads', 'reads/s', 'checkpoints', 'failed'], [
      ...readerIds.map((w) => [`reader ${w}`, fmtCount(get(w, M.OPS)), fmtCount(readRate(w)), fmtCount(get(w, M.CHECKPOINTS)), get(w, M.FAILED)]),
      ['total', fmtCount(totalReads), fmtCount(readerIds.reduce((s, w) => s + readRate(w), 0)),
        fmtCount(readerIds.reduce((s, w) => s + get(w, M.CHECKPOINTS), 0)), readerIds.reduce((s, w) => s + get(w, M.FAILED), 0)],
    ]));
  }
  console.log(`\nSharedMap: writes (band of ${BAND_KEYS} keys grown and shrunk; each rebuild frees the old table with freeDelayed)\n`);
  console.log(table(['', 'sets', 'deletes', 'ops/s', 'rebuilds', 'checkpoints', 'keys / slots at end', 'failed'], [
    ['writer', fmtCount(get(0, M.SETS)), fmtCount(get(0, M.DELETES)), fmtCount(get(0, M.OPS) / Math.max(wall, 1) * 1000),
      fmtCount(get(0, M.REBUILDS)), fmtCount(get(0, M.CHECKPOINTS)), `${keys} / ${get(0, M.CAPACITY)}`, get(0, M.FAILED)],
  ]));

  console.log(`\nQSBR and delayed free (the runtime's domain)\n`);
  const col = (f: (s: { q: QsbrInfo; live: number }) => string | number) => [f(exitedSnap), f(drainedSnap), f(endSnap)];
  console.log(table(['', 'workers exited', 'main checkpointed', 'map destroyed, main checkpointed'], [
    ['wrSeq', ...col((s) => s.q.wrSeq)],
    ['rdSeq', ...col((s) => s.q.rdSeq)],
    ['slots used / slots', ...col((s) => `${s.q.slotsUsed} / ${s.q.slots}`)],
    ['delayed queued', ...col((s) => s.q.delayedQueued)],
    ['delayed freed', ...col((s) => s.q.delayedFreed)],
    ['delayed failed', ...col((s) => s.q.delayedFailed)],
    ['delayed pending', ...col((s) => s.q.delayedPending)],
    ['pages held', ...col((s) => s.q.pagesHeld)],
    ['live blocks', ...col((s) => s.live)],
  ]));

  const failed = pool.reduce((s, _, w) => s + get(w, M.FAILED), 0) + mainFailed;
  const pending = endSnap.q.delayedPending + drainedSnap.q.delayedPending, refused = endSnap.q.delayedFailed;
  const live = endSnap.live;
  const ok = failed === 0 && pending === 0 && refused === 0 && live === 0;
  console.log(ok ? '\nOK: every value verified; every old table freed, nothing pending, nothing left live.'
    : `\nFAILED: ${failed} verification failures, ${endSnap.q.delayedPending} delayed frees pending ` +
      `(${drainedSnap.q.delayedPending} after main's first checkpoint), ${refused} refused, ${live} blocks still live.`);
  return ok;
}
