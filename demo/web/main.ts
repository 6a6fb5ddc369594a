// demo/web/main.ts — the web demo's main thread (served by `npm run demo:web`).
//
// It makes the runtime, starts the workers (worker.ts) with rt.startWorker, and
// ~10 times a second draws what it reads: the heap map (rt.heapMap(): no lock,
// no wait), the runtime's counters, per-worker rates and a throughput chart.
// It NEVER blocks: it attaches no thread, takes no lock that waits, never stops
// the world (a browser main thread may not Atomics.wait). A collection is asked
// of a worker by message. The one heavier call it makes is the reap of a
// terminated worker's thread (startWorker does it here: Domain.reap), which
// only spins on the core's short spin locks and polls where it would wait.
import { FtheapError, Runtime, type HeapMap, type ReapReport, type RuntimeWorker } from '../../src/index.ts';
import { GF_COLLECTIONS, GF_LAST_PAUSE, GF_MAX_PAUSE } from '../../src/abi.gen.ts';
import { BAG_SLOTS, C_ALLOCS, C_ERRORS, C_MAP_READS, C_MAP_WRITES, C_OBJECTS, C_OPS, C_REMOTE_FREES,
  CTL_RUN, CTL_SIZE, MAX_WORKERS, STRIDE, type FromWorker, type ToWorker, type WorkerInit } from './protocol.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $('status');
const startBtn = $<HTMLButtonElement>('start');
const countSel = $<HTMLSelectElement>('workers');
const terminateBtn = $<HTMLButtonElement>('terminate');
const collectBtn = $<HTMLButtonElement>('collect');
const logEl = $('log');

function log(text: string, kind = ''): void {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  logEl.prepend(li);
  while (logEl.children.length > 60) logEl.lastChild!.remove();
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const bytes = (n: number) => n >= 1 << 20 ? `${fmt(n / (1 << 20), 1)} MiB` : n >= 1024 ? `${fmt(n / 1024, 1)} KiB` : `${n} B`;

// ---- Not cross-origin isolated: say so plainly, and stop ---------------------------------

if (!globalThis.crossOriginIsolated) {
  const box = $('isolation');
  box.style.display = 'block';
  box.innerHTML = '<b>This page is not cross-origin isolated</b>, so the browser gives it no <code>SharedArrayBuffer</code> '
    + 'and no shared <code>WebAssembly.Memory</code>, and ftheap cannot run here. Serve it with these two response headers:<br>'
    + '<code>Cross-Origin-Opener-Policy: same-origin</code><br><code>Cross-Origin-Embedder-Policy: require-corp</code><br>'
    + '(<code>npm run demo:web</code> serves it with them.)';
  statusEl.textContent = 'not cross-origin isolated';
  document.body.dataset.state = 'not-isolated';
} else {
  main().catch((e) => {
    statusEl.textContent = `failed: ${e instanceof FtheapError ? e.code : ''} ${e instanceof Error ? e.message : e}`;
    console.error(e);
  });
}

// ---- Workers ---------------------------------------------------------------------------------

interface Slot {
  slot: number;
  rw?: RuntimeWorker;
  thread: number;
  state: 'starting' | 'running' | 'quitting' | 'terminating' | 'reaped' | 'quit' | 'failed';
  /** Counter values at the previous sample (for rates). */
  prev: number[];
  rate: number;
  writer: boolean;
}

async function main(): Promise<void> {
  const rt = await Runtime.create({ maximumMemory: 512 << 20 });
  const d = rt.domain();
  const x = rt.exports;
  const ctl = new SharedArrayBuffer(CTL_SIZE * 4), bag = new SharedArrayBuffer(BAG_SLOTS * 4);
  const counters = new SharedArrayBuffer(MAX_WORKERS * STRIDE * 4);
  const ctl32 = new Int32Array(ctl), c32 = new Uint32Array(counters);
  const slots: Slot[] = [];
  let mapHandle = 0;
  let running = true;
  Atomics.store(ctl32, CTL_RUN, 1);
  const workerUrl = new URL('./worker.js', import.meta.url);
  const live = () => slots.filter((s) => s.state === 'running' || s.state === 'starting');
  const send = (s: Slot, m: ToWorker) => (s.rw?.worker as Worker | undefined)?.postMessage(m);

  let readyWaiters: Array<() => void> = [];
  function onMessage(m: FromWorker): void {
    const s = slots[m.slot];
    if (m.type === 'ready') {
      s.thread = m.thread;
      if (s.state === 'starting') s.state = 'running';
      mapHandle = m.map;
      log(`worker ${m.slot} ready: thread ${m.thread}${s.writer ? ' (the map writer)' : ''}`);
      for (const w of readyWaiters) w();
      readyWaiters = [];
    } else if (m.type === 'collected') {
      log(`collect (worker ${m.slot}): ${fmt(m.collected)} garbage objects, ${fmt(m.freedOther)} freed with them, `
        + `pause ${fmt(m.pauseMs, 2)} ms`, 'gc');
      document.body.dataset.collects = String(Number(document.body.dataset.collects ?? 0) + 1);
    } else if (m.type === 'error') {
      log(`worker ${m.slot}: ${m.message}`, 'err');
      console.error(`worker ${m.slot}: ${m.message}`);
    } else if (m.type === 'quit') {
      s.state = 'quit';
      log(`worker ${m.slot} exited its thread and closed`);
    }
  }

  async function startOne(): Promise<void> {
    let slot = slots.findIndex((s) => s.state === 'quit' || s.state === 'reaped' || s.state === 'failed');
    if (slot < 0) slot = slots.length;
    if (slot >= MAX_WORKERS) return;
    const writer = !live().some((s) => s.writer);
    const s: Slot = { slot, thread: 0, state: 'starting', prev: [], rate: 0, writer };
    slots[slot] = s;
    for (let c = 0; c < STRIDE; c++) Atomics.store(c32, slot * STRIDE + c, 0);
    const data: WorkerInit = { slot, ctl, bag, counters, map: mapHandle, writer };
    const ready = new Promise<void>((r) => readyWaiters.push(r));
    s.rw = await rt.startWorker(workerUrl, {
      data,
      onReaped: (reports: ReapReport[]) => onReaped(s, reports),
    });
    const w = s.rw.worker as Worker;
    w.addEventListener('message', (e: MessageEvent) => onMessage(e.data as FromWorker));
    w.addEventListener('error', (e: ErrorEvent) => {
      s.state = 'failed';
      log(`worker ${slot} failed: ${e.message}`, 'err');
      console.error(`worker ${slot} failed: ${e.message}`);
    });
    if (mapHandle === 0) await ready;   // the first one makes the map: the others open it
  }

  function onReaped(s: Slot, reports: ReapReport[]): void {
    s.state = 'reaped';
    const a = d.abandoned();
    const what = reports.length === 0 ? 'no thread left to reap'
      : reports.map((r) => `thread ${r.id} reaped (locks it held: ${r.heldLocks.length ? r.heldLocks.join(', ') : 'none'})`).join('; ');
    log(`worker ${s.slot} (instance ${s.rw!.instance}) terminated: ${what}. Its segments went to the domain's abandoned `
      + `pool (${a.segments} there now): the other workers free its blocks there, or adopt the segments`, 'reap');
    document.body.dataset.reaped = String(Number(document.body.dataset.reaped ?? 0) + reports.length);
  }

  /** Reassign the map's writer if it is gone. */
  function ensureWriter(): void {
    const l = live();
    if (l.length === 0 || l.some((s) => s.writer)) return;
    l[0].writer = true;
    send(l[0], { type: 'role', writer: true });
    log(`worker ${l[0].slot} is the map writer now`);
  }

  async function setCount(n: number): Promise<void> {
    while (live().length < n) await startOne();
    const l = live();
    for (let i = l.length - 1; i >= n; i--) {
      l[i].state = 'quitting';
      l[i].writer = false;
      send(l[i], { type: 'quit' });
    }
    ensureWriter();
  }

  /**
   * Terminate the newest worker abruptly; startWorker's terminate() then reaps
   * its thread on this thread, once the browser has had time to stop it
   * (StartWorkerOptions.reapDelayMs): a reap never runs beside the thread it reaps.
   */
  async function terminateOne(): Promise<void> {
    const s = live().filter((w) => w.state === 'running').pop();
    if (!s) return;
    s.state = 'terminating';
    s.writer = false;
    ensureWriter();
    terminateBtn.disabled = true;
    await s.rw!.terminate();   // reaps (onReaped logs the report)
    countSel.value = String(Math.max(1, live().length));
    terminateBtn.disabled = false;
  }

  // ---- Controls ------------------------------------------------------------------------------
  for (let n = 1; n <= 8; n++) countSel.add(new Option(String(n), String(n), n === 4, n === 4));
  countSel.addEventListener('change', () => { void setCount(Number(countSel.value)); });
  startBtn.addEventListener('click', () => {
    running = !running;
    Atomics.store(ctl32, CTL_RUN, running ? 1 : 0);
    Atomics.notify(ctl32, CTL_RUN);
    startBtn.textContent = running ? 'Stop' : 'Start';
    log(running ? 'running' : 'paused (workers detach)');
  });
  terminateBtn.addEventListener('click', () => { void terminateOne(); });
  collectBtn.addEventListener('click', () => {
    const s = live().find((w) => w.state === 'running');
    if (!s) return;
    if (!running) { log('collect: start the workers first (a paused worker is detached)'); return; }
    send(s, { type: 'collect' });
    log(`collect asked of worker ${s.slot}`);
  });

  await setCount(4);
  startBtn.disabled = terminateBtn.disabled = collectBtn.disabled = false;
  statusEl.textContent = 'running';
  document.body.dataset.state = 'running';

  // ---- Display ---------------------------------------------------------------------------------
  const history: number[] = [];
  let lastSample = performance.now();
  let totalOps = 0;
  const frame = () => {
    const now = performance.now();
    if (now - lastSample >= 100) {
      const dt = (now - lastSample) / 1000;
      lastSample = now;
      let sum = 0;
      for (const s of slots) {
        if (!s) continue;
        const cur = Array.from({ length: STRIDE }, (_, c) => Atomics.load(c32, s.slot * STRIDE + c));
        const ops = s.prev.length ? (cur[C_OPS] - s.prev[C_OPS]) >>> 0 : 0;
        s.rate = s.state === 'running' ? ops / dt : 0;
        totalOps += ops;
        sum += s.rate;
        s.prev = cur;
      }
      history.push(sum);
      if (history.length > 600) history.shift();
      const map = rt.heapMap();
      drawHeapMap(map);
      drawChart(history);
      showCounters(map, sum);
      showWorkers();
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);

  function showCounters(map: HeapMap, rate: number): void {
    const q = d.qsbrInfo(), st = rt.stats(), o = d.stats().objects, a = d.abandoned();
    const gc = (f: number) => x.ft_gc_get(d.id, f);
    let pages = 0, waiting = 0, abandoned = 0;
    for (const s of map.segments) for (const p of s.pages) {
      if (p.free) continue;
      pages++;
      if (p.qsbrWaiting) waiting++;
      if (p.abandoned) abandoned++;
    }
    const rows: Array<[string, string, string]> = [
      ['ops/s (all workers)', fmt(rate), 'c-rate'],
      ['bag operations', fmt(totalOps), 'c-ops'],
      ['QSBR wrSeq / rdSeq', `${fmt(q.wrSeq)} / ${fmt(q.rdSeq)}`, 'c-qsbr'],
      ['delayed frees pending', fmt(q.delayedPending), 'c-delayed'],
      ['pages held for a QSBR goal', `${fmt(q.pagesHeld)} (map: ${waiting})`, 'c-held'],
      ['live blocks', fmt(st.totals.blocksUsed), 'c-blocks'],
      ['live bytes', bytes(st.totals.bytesUsed), 'c-bytes'],
      ['committed / memory', `${bytes(st.memory.committed)} / ${bytes(st.memory.current)}`, 'c-mem'],
      ['segments / pages', `${fmt(map.segments.length)} / ${fmt(pages)}`, 'c-segs'],
      ['objects live (made)', `${fmt(o.live)} (${fmt(o.created)})`, 'c-objects'],
      ['BRC queued / merged', `${fmt(o.queued)} / ${fmt(o.merged)}`, 'c-brc'],
      ['GC collections', fmt(gc(GF_COLLECTIONS)), 'c-gc'],
      ['GC pause last / max', `${fmt(gc(GF_LAST_PAUSE), 2)} / ${fmt(gc(GF_MAX_PAUSE), 2)} ms`, 'c-pause'],
      ['abandoned: pooled / given back / adopted', `${a.segments} / ${a.freed} / ${a.reclaimed} (pages: ${abandoned})`, 'c-abandoned'],
      ['threads live', fmt(st.threads.live), 'c-threads'],
    ];
    $('counters').innerHTML = rows.map(([k, v, id]) => `<tr><td>${k}</td><td id="${id}">${v}</td></tr>`).join('');
  }

  function showWorkers(): void {
    const head = '<tr><th>worker</th><th>thread</th><th>ops/s</th><th>allocs</th><th>remote frees</th><th>map r / w</th><th>objects</th><th>errors</th><th>state</th></tr>';
    const body = slots.filter(Boolean).map((s) => {
      const v = s.prev;
      const gone = s.state === 'reaped' || s.state === 'quit' || s.state === 'failed';
      return `<tr class="${gone ? 'gone' : ''}" data-slot="${s.slot}" data-state="${s.state}"><td>#${s.slot}${s.writer ? ' ✎' : ''}</td>`
        + `<td>${s.thread || '–'}</td><td>${fmt(s.rate)}</td><td>${fmt(v[C_ALLOCS] ?? 0)}</td><td>${fmt(v[C_REMOTE_FREES] ?? 0)}</td>`
        + `<td>${fmt(v[C_MAP_READS] ?? 0)} / ${fmt(v[C_MAP_WRITES] ?? 0)}</td><td>${fmt(v[C_OBJECTS] ?? 0)}</td>`
        + `<td>${fmt(v[C_ERRORS] ?? 0)}</td><td>${s.state}</td></tr>`;
    }).join('');
    $('per-worker').innerHTML = head + body;
  }
}

// ---- Drawing ------------------------------------------------------------------------------------

const BG = '#161b22';
const TAG_COLORS = ['#4f8ff7', '#3fb950', '#d2a8ff', '#ff7b72', '#f0883e', '#39c5cf'];
const TAG_NAMES = ['MEM', 'OBJECT', 'GC', 'GC_PRE', 'user 4', 'user 5'];
const FREE = '#262d36';
const WAIT = '#ffd33d';
const ABANDONED = '#f85149';
const LABEL_W = 96, CELL_W = 6, ROW_H = 12, GAP = 3, SLICES = 127;

{
  const legend = document.getElementById('legend')!;
  const sw = (color: string, text: string, style = '') =>
    `<span><span class="sw" style="background:${color};${style}"></span>${text}</span>`;
  legend.innerHTML = TAG_NAMES.map((n, i) => sw(TAG_COLORS[i], n)).join('')
    + sw(FREE, 'free slices') + sw('transparent', 'waiting for a QSBR goal', `outline:2px solid ${WAIT};outline-offset:-2px`)
    + sw(`repeating-linear-gradient(135deg, ${ABANDONED} 0 2px, transparent 2px 4px)`, 'abandoned (thread gone)')
    + '<span>brightness: fill level (blocks used / blocks that fit)</span>';
}

function shade(hex: string, k: number): string {
  const n = parseInt(hex.slice(1), 16);
  const c = (v: number) => Math.round(v * k);
  return `rgb(${c(n >> 16)},${c((n >> 8) & 255)},${c(n & 255)})`;
}

function drawHeapMap(map: HeapMap): void {
  const canvas = document.getElementById('heapmap') as HTMLCanvasElement;
  const h = Math.max(60, map.segments.length * (ROW_H + GAP) + GAP);
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext('2d')!;
  g.fillStyle = BG;
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.font = '10px ui-monospace, monospace';
  g.textBaseline = 'middle';
  map.segments.forEach((s, row) => {
    const y = GAP + row * (ROW_H + GAP);
    g.fillStyle = s.abandoned ? ABANDONED : '#8b949e';
    g.fillText(`${s.kind === 'huge' ? 'H' : '#'}${s.unit} ${s.abandoned ? 'abandoned' : `t${s.owner}`}`, 4, y + ROW_H / 2);
    for (const p of s.pages) {
      const x0 = LABEL_W + (s.kind === 'huge' ? 0 : (p.slice - 1) * CELL_W);
      const w = s.kind === 'huge' ? SLICES * CELL_W : p.slices * CELL_W;
      if (p.free) {
        g.fillStyle = FREE;
        g.fillRect(x0, y, w - 1, ROW_H);
      } else {
        const color = TAG_COLORS[p.tag] ?? '#8b949e';
        const fill = p.capacity > 0 ? Math.min(1, p.used / p.capacity) : 0;
        g.fillStyle = shade(color, 0.3);
        g.fillRect(x0, y, w - 1, ROW_H);
        g.fillStyle = shade(color, 0.55 + 0.45 * fill);
        const fh = Math.max(p.used > 0 ? 2 : 0, Math.round(ROW_H * fill));
        g.fillRect(x0, y + ROW_H - fh, w - 1, fh);
        if (p.qsbrWaiting) {
          g.strokeStyle = WAIT;
          g.lineWidth = 2;
          g.strokeRect(x0 + 1, y + 1, w - 3, ROW_H - 2);
        }
      }
      if (p.abandoned) {
        g.save();
        g.beginPath();
        g.rect(x0, y, w - 1, ROW_H);
        g.clip();
        g.strokeStyle = ABANDONED;
        g.lineWidth = 1;
        g.beginPath();
        for (let hx = x0 - ROW_H; hx < x0 + w; hx += 4) { g.moveTo(hx, y + ROW_H); g.lineTo(hx + ROW_H, y); }
        g.stroke();
        g.restore();
      }
    }
  });
  if (map.segments.length === 0) {
    g.fillStyle = '#8b949e';
    g.fillText('no segments yet', 4, 20);
  }
}

function drawChart(history: number[]): void {
  const canvas = document.getElementById('chart') as HTMLCanvasElement;
  const g = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height, pad = 28;
  g.fillStyle = BG;
  g.fillRect(0, 0, W, H);
  const max = Math.max(1, ...history) * 1.1;
  g.strokeStyle = '#30363d';
  g.lineWidth = 1;
  g.font = '10px ui-monospace, monospace';
  g.fillStyle = '#8b949e';
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (H - pad) * (1 - i / 4);
    g.beginPath(); g.moveTo(60, y); g.lineTo(W - 4, y); g.stroke();
    g.fillText(fmt(max * i / 4), 4, y + 3);
  }
  g.fillText('−60 s', 60, H - 4);
  g.fillText('now', W - 26, H - 4);
  if (history.length < 2) return;
  g.strokeStyle = '#3fb950';
  g.lineWidth = 1.5;
  g.beginPath();
  const step = (W - 64) / 599;
  history.forEach((v, i) => {
    const x = W - 4 - (history.length - 1 - i) * step;
    const y = pad / 2 + (H - pad) * (1 - v / max);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}
