// demo/map-worker.ts — one thread of the demo's SharedMap phase (demo/map-phase.ts).
// Worker 0 is the writer: it inserts and deletes keys of a band so that the map
// grows to up to BAND_KEYS more entries and shrinks back, again and again; every
// rebuild publishes a new table and hands the old one to freeDelayed. The other
// workers are readers: lock-free gets of the stable keys (always present, always
// mapValue(key)) and of band keys (absent or mapValue(key)), every value checked,
// with a checkpoint every READS_PER_CHECKPOINT reads. All exit when the writer is done.
import { joinWorker, SharedMap } from '../src/index.ts';
import {
  BAND_BASE, BAND_KEYS, M, MAP_READY, MAP_STOP, MAP_STRIDE, mapValue, STABLE_KEYS, type MapWorkerInit,
} from './shared.ts';

const READS_PER_CHECKPOINT = 256;
const OPS_PER_CHECKPOINT = 256; // the writer's
const LOW = 16; // the writer turns to growing at this many band keys...
const HIGH_MIN = BAND_KEYS / 4; // ...and to shrinking at a random count from here to BAND_KEYS - 1

const { runtime: rt, thread, data: init } = await joinWorker<MapWorkerInit>();
const t = thread!;
const map = SharedMap.open(t, init.map);
const counters = new Float64Array(init.counters, init.id * MAP_STRIDE * 8, MAP_STRIDE);
const writerProgress = new Float64Array(init.counters, M.PROGRESS * 8, 1); // worker 0's
const control = new Int32Array(init.control);

// xorshift32, seeded per worker.
let seed = 0x2545f491 ^ Math.imul(init.id + 1, 0x85ebca6b);
function random(): number {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
}

let failed = 0;
function fail(what: string): void {
  if (failed++ < 5) console.error(`map ${init.id === 0 ? 'writer' : `reader ${init.id}`}: ${what}`);
}

function read(): void {
  const started = performance.now();
  let reads = 0, checkpoints = 0, k = init.id;
  Atomics.add(control, MAP_READY, 1);
  Atomics.notify(control, MAP_READY);
  while (Atomics.load(control, MAP_STOP) === 0) {
    for (let i = 0; i < READS_PER_CHECKPOINT; i += 8) {
      for (let j = 0; j < 7; j++) {
        k = (k + 17) % STABLE_KEYS; // 17 is prime to STABLE_KEYS: visits every stable key
        const v = map.get(k);
        if (v !== mapValue(k)) fail(`get(${k}) = ${v}, expected ${mapValue(k)}`);
      }
      const b = BAND_BASE + Math.floor(random() * BAND_KEYS);
      const v = map.get(b);
      if (v !== undefined && v !== mapValue(b)) fail(`get(${b}) = ${v}, expected undefined or ${mapValue(b)}`);
    }
    reads += READS_PER_CHECKPOINT;
    // The quiescent state: no table pointer this thread loaded before here is used
    // after it, so tables the writer replaced before it may be freed. Without it
    // this attached (online) reader would hold back every grace period.
    t.checkpoint();
    checkpoints++;
    counters[M.OPS] = reads; counters[M.FAILED] = failed; counters[M.CHECKPOINTS] = checkpoints;
    counters[M.PROGRESS] = writerProgress[0]; counters[M.MILLIS] = performance.now() - started;
  }
}

function write(): void {
  // Wait detached: an attached thread that blocks would hold up every
  // stop-the-world, and a reader's attach may need one (the 9th thread of the
  // domain grows its QSBR slot array).
  t.detach();
  for (let n; (n = Atomics.load(control, MAP_READY)) < init.readers;) Atomics.wait(control, MAP_READY, n, 50);
  t.attach();
  // Every rebuild hands the old table to freeDelayed and nothing else in this
  // phase does, so the domain's delayedQueued counts the rebuilds.
  const domain = rt.domain();
  const queuedBefore = domain.qsbrInfo().delayedQueued;
  // The band keys present, and where each sits in `present` (-1: absent).
  const present: number[] = [];
  const at = new Int32Array(BAND_KEYS).fill(-1);
  let growing = true, high = HIGH_MIN;
  let sets = 0, deletes = 0, checkpoints = 0;
  const started = performance.now(), deadline = started + init.millis;

  const set = () => {
    let i = Math.floor(random() * BAND_KEYS);
    if (growing) while (at[i] >= 0) i = (i + 1) % BAND_KEYS; // an insert; shrinking, maybe an update
    const key = BAND_BASE + i;
    map.set(key, mapValue(key));
    if (at[i] < 0) { at[i] = present.length; present.push(i); }
    sets++;
  };
  const del = () => {
    const n = Math.floor(random() * present.length), i = present[n];
    if (!map.delete(BAND_BASE + i)) fail(`delete(${BAND_BASE + i}): absent`);
    const last = present.pop()!;
    if (last !== i) { present[n] = last; at[last] = n; }
    at[i] = -1;
    deletes++;
  };
  const done = () => (init.ops > 0 ? sets + deletes >= init.ops : performance.now() >= deadline)
    || Atomics.load(control, MAP_STOP) !== 0;

  while (!done()) {
    for (let op = 0; op < OPS_PER_CHECKPOINT && !(init.ops > 0 && sets + deletes >= init.ops); op++) {
      // Three ops in four go the current way (grow or shrink): deletes mix with inserts.
      if (present.length === 0 || (random() < 0.75) === growing) set(); else del();
      if (growing && present.length >= high) growing = false;
      else if (!growing && present.length <= LOW) { growing = true; high = HIGH_MIN + Math.floor(random() * (BAND_KEYS - HIGH_MIN)); }
    }
    t.checkpoint(); // the writer is online too: its quiescent state, and its due delayed frees run here
    checkpoints++;
    counters[M.OPS] = sets + deletes; counters[M.SETS] = sets; counters[M.DELETES] = deletes;
    counters[M.REBUILDS] = domain.qsbrInfo().delayedQueued - queuedBefore;
    counters[M.KEYS] = STABLE_KEYS + present.length; counters[M.CAPACITY] = map.capacity;
    counters[M.FAILED] = failed; counters[M.CHECKPOINTS] = checkpoints;
    counters[M.PROGRESS] = Math.min(1, init.ops > 0 ? (sets + deletes) / init.ops : (performance.now() - started) / init.millis);
    counters[M.MILLIS] = performance.now() - started;
  }
  if (map.size !== STABLE_KEYS + present.length) fail(`size ${map.size}, expected ${STABLE_KEYS + present.length}`);
  counters[M.FAILED] = failed; counters[M.PROGRESS] = 1;
  Atomics.store(control, MAP_STOP, 1);
}

if (init.id === 0) write(); else read();
t.exit(); // pending delayed frees go to the domain's queue
