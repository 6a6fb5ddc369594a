// V8's side of the gc suite (bench/gc.ts): a child process, run as
//   node --expose-gc [--single-threaded-gc] dist/bench/gc-v8.js N REPS
// that builds bench/wasm/gc.ts's heap shape as JS objects with two fields (the same live and
// garbage structures, allocated in the same interleaved order) and times a full collection,
// `gc()`, REPS times, each on a freshly built graph (the previous one dropped and collected,
// untimed, first). Prints one JSON line: { ms: number[], usedBefore: number, usedAfter: number }
// (V8's used heap bytes around the last timed gc()).
import { getHeapStatistics } from 'node:v8';

/** An object with two reference fields: the ftheap bench type's payload. */
class Obj {
  a: Obj | null = null;
  b: Obj | null = null;
}

/** Same constants as bench/wasm/gc.ts. */
const RING = 64;
const STRUCTS = 4;

/** The live roots of the current graph (what the ftheap side holds references to). */
let roots: Obj[] = [];

function build(n: number): void {
  const live = n >> 1, garbage = n - live;
  const cap = Math.ceil(live / STRUCTS);
  const trees: Obj[][] = [new Array<Obj>(cap), new Array<Obj>(cap)];
  const tails: (Obj | null)[] = [null, null, null, null];
  const pairs = (garbage >> 1) & ~1;
  roots = new Array<Obj>(STRUCTS);
  let pairA: Obj | null = null, ringFirst: Obj | null = null, ringCur: Obj | null = null, ringLen = 0;
  const ringClose = () => {
    if (!ringFirst) return;
    ringCur!.a = ringFirst;
    ringFirst.b = ringCur;
    ringFirst = ringCur = null;
    ringLen = 0;
  };
  for (let i = 0; i < garbage; i++) {
    if (i < live) {
      const s = i % STRUCTS, p = (i / STRUCTS) | 0;
      const x = new Obj();
      if (p === 0) roots[s] = x;
      else if (s < 2) { const parent = trees[s][(p - 1) >> 1]; if ((p - 1) & 1) parent.b = x; else parent.a = x; }
      else { tails[s]!.a = x; x.b = tails[s]; }
      if (s < 2) trees[s][p] = x; else tails[s] = x;
    }
    const x = new Obj();
    if (i < pairs) {
      if ((i & 1) === 0) pairA = x;
      else { pairA!.a = pairA!.b = x; x.a = x.b = pairA; pairA = null; }
    } else if (!ringFirst) {
      ringFirst = ringCur = x;
      ringLen = 1;
    } else {
      ringCur!.a = x;
      x.b = ringCur;
      ringCur = x;
      if (++ringLen === RING) ringClose();
    }
  }
  ringClose();
}

declare const gc: () => void;

const n = Number(process.argv[2]), reps = Number(process.argv[3]);
if (!(n > 0) || !(reps > 0) || typeof gc !== 'function') {
  throw new Error('usage: node --expose-gc gc-v8.js N REPS');
}
const ms: number[] = [];
let usedBefore = 0, usedAfter = 0;
for (let r = 0; r < reps; r++) {
  roots = [];
  gc();
  build(n);
  usedBefore = getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  gc();
  ms.push(performance.now() - t0);
  usedAfter = getHeapStatistics().used_heap_size;
}
if (roots.length !== STRUCTS) throw new Error('gc-v8: the roots went missing');
process.stdout.write(JSON.stringify({ ms, usedBefore, usedAfter }) + '\n');
