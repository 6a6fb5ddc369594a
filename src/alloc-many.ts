/**
 * Batch allocation from JS: many blocks per call into the core. {@link Thread.allocMany}
 * and {@link Thread.freeMany} delegate here. The arrays go through the thread's
 * batch buffer in the shared memory (`ft_batch_scratch`, kept with its record), at most
 * `BATCH_MAX` (4096) entries per call: one JS→Wasm call per 4096 blocks instead of
 * one per block. The loops are assembly/alloc.ts `mallocMany` / `mallocSizes` and
 * assembly/free.ts `freeMany`.
 * @module
 */
import { BATCH_MAX } from './abi.gen.ts';
import type { ThreadCore } from './core.ts';
import { coreCodeName, coreError, ErrorCode, FtheapError, type BadEntry } from './errors.ts';

// Per thread (the buffer is its record's, which only this thread's instance enters);
// called after t.enter().
const buffers = new WeakMap<ThreadCore, number>();

function scratch(t: ThreadCore): number {
  let buf = buffers.get(t);
  if (buf === undefined) {
    buf = t.x.ft_batch_scratch() >>> 0;
    if (buf === 0) t.fail('the batch buffer');
    buffers.set(t, buf);
  }
  return buf;
}

// A u32 view of the whole memory as it is now (it may have grown in the last call).
const heap32 = (t: ThreadCore) => new Uint32Array(t.memory.buffer);

function sizeError(what: string): FtheapError {
  return new FtheapError(ErrorCode.EINVAL_SIZE, what);
}

/** @internal See {@link Thread.allocMany}. */
export function allocMany(t: ThreadCore, sizes: ArrayLike<number> | number, size?: number | Uint32Array,
  into?: Uint32Array): Uint32Array {
  t.enter();
  const max = t.x.ft_max_alloc_size() >>> 0;
  const uniform = typeof sizes === 'number';
  if (!uniform && !isArrayLike(sizes)) {
    throw sizeError(`sizes: a count or an array of sizes, not ${String(sizes)}`);
  }
  if (!uniform) into = size as Uint32Array | undefined;
  const n = uniform ? sizes : sizes.length;
  if (uniform) {
    // At most 2^29 blocks fit in 4 GiB (8 bytes each at least): more is a bad count, not an out-of-memory.
    if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 29)) throw sizeError(`count ${n} (0 to 2^29)`);
    const sz = size as number;
    if (typeof sz !== 'number' || sz >>> 0 !== sz || sz > max) throw sizeError(`size ${String(sz)}`);
  }
  if (into !== undefined && !(into instanceof Uint32Array && into.length >= n)) {
    throw new FtheapError(ErrorCode.EINVAL_ARG, `into: a Uint32Array of at least ${n} entries`);
  }
  // A fresh result array costs V8 an off-heap backing store (~µs): `into` lets a caller reuse one.
  const out = into ?? new Uint32Array(n);
  const buf = scratch(t), base = buf >>> 2;
  let stage: Uint32Array | undefined;   // this call's (see below)
  for (let done = 0; done < n; done += BATCH_MAX) {
    const m = Math.min(BATCH_MAX, n - done);
    let rc: number;
    if (uniform) {
      rc = t.x.ft_malloc_many(buf, m, size as number);
    } else {
      // Checked batch by batch: a bad size in a later batch gives the earlier
      // batches' blocks back, as a failed allocation does. Read into `stage` first:
      // reading the list may run the caller's code (a getter), which may make a
      // batch call of its own through the same scratch buffer.
      // The caller's code may also throw (a getter), or an entry not be a number
      // (a BigInt makes `>>>` throw): the earlier batches' blocks go back then too.
      stage ??= new Uint32Array(Math.min(BATCH_MAX, n));
      let bad = -1, badValue: unknown;
      try {
        for (let i = 0; i < m; i++) {
          const sz: unknown = sizes[done + i];
          if (typeof sz !== 'number' || sz >>> 0 !== sz || sz > max) { bad = done + i; badValue = sz; break; }
          stage[i] = sz;
        }
      } catch (e) {
        freeAll(t, out.subarray(0, done));
        throw e;
      }
      if (bad >= 0) {
        freeAll(t, out.subarray(0, done));
        throw sizeError(`sizes[${bad}] = ${String(badValue)}; none kept`);
      }
      heap32(t).set(stage.subarray(0, m), base);
      rc = t.x.ft_malloc_sizes(buf, m);
    }
    if (rc !== 0) {
      // All or nothing: the failed call gave its own blocks back; the earlier calls' go now.
      freeAll(t, out.subarray(0, done));
      throw coreError(rc, `allocMany: block ${done}..${done + m - 1} of ${n}; none kept`);
    }
    out.set(heap32(t).subarray(base, base + m), done);
  }
  return out;
}

// Blocks this call just got (valid, listed once): their frees cannot fail.
function freeAll(t: ThreadCore, blocks: Uint32Array): void {
  const buf = scratch(t), base = buf >>> 2;
  for (let done = 0; done < blocks.length; done += BATCH_MAX) {
    const m = Math.min(BATCH_MAX, blocks.length - done);
    heap32(t).set(blocks.subarray(done, done + m), base);
    t.x.ft_free_many(buf, m);
  }
}

// An object with a numeric length (an array, a typed array): what the batch calls take.
function isArrayLike(x: unknown): x is ArrayLike<number> {
  return typeof x === 'object' && x !== null && typeof (x as { length?: unknown }).length === 'number';
}

/** @internal See {@link Thread.freeMany}. */
export function freeMany(t: ThreadCore, ptrs: ArrayLike<number>): void {
  if (!isArrayLike(ptrs)) {
    throw new FtheapError(ErrorCode.EINVAL_ARG, `freeMany: an array of block addresses, not ${String(ptrs)}`);
  }
  t.enter();
  const n = ptrs.length;
  const buf = scratch(t), base = buf >>> 2;
  const bad: BadEntry[] = [];
  // Across calls (lists longer than one batch) the core's duplicate check sees one
  // batch only: the pointers freed by earlier batches are remembered here.
  const freed = n > BATCH_MAX ? new Set<number>() : undefined;
  let stage: Uint32Array | undefined;   // this call's: see below
  for (let done = 0; done < n; done += BATCH_MAX) {
    const m = Math.min(BATCH_MAX, n - done);
    let u32 = heap32(t);
    let local = 0;   // entries this side already failed (written as 0: skipped by the core)
    if (ptrs instanceof Uint32Array && !freed) {
      u32.set(ptrs.subarray(done, done + m), base);   // every entry a u32: nothing to check here
    } else {
      // Read into `stage` first: reading the list may run the caller's code (a
      // getter), which may make a batch call of its own through the same scratch.
      stage ??= new Uint32Array(Math.min(BATCH_MAX, n));
      for (let i = 0; i < m; i++) {
        const p: unknown = ptrs[done + i];
        let code: ErrorCode | undefined;
        if (typeof p !== 'number' || p >>> 0 !== p) code = ErrorCode.EINVAL_PTR;   // a BigInt: not a throw from `>>>`
        else if (freed?.has(p)) code = ErrorCode.EDOUBLE_FREE;
        if (code === undefined) { stage[i] = p as number; continue; }
        stage[i] = 0;
        bad.push({ index: done + i, code });
        local++;
      }
      u32 = heap32(t);
      u32.set(stage.subarray(0, m), base);
    }
    const failed = t.x.ft_free_many(buf, m);
    if (failed < 0) throw coreError(-failed, 'freeMany');
    if (failed > 0 || freed) {
      u32 = heap32(t);
      for (let i = 0; i < m; i++) {
        const rc = u32[base + i];
        if (rc !== 0) bad.push({ index: done + i, code: coreCodeName(rc) });
        else if (freed && stage![i] !== 0) freed.add(stage![i]);   // stage: the list is not read again
      }
      if (local > 0) bad.sort((a, b) => a.index - b.index);
    }
  }
  if (bad.length === 0) return;
  const list = bad.slice(0, 8).map((b) => `[${b.index}] ${b.code}`).join(', ');
  throw new FtheapError(bad[0].code, `freeMany: ${bad.length} of ${n} entries not freed: ${list}${bad.length > 8 ? ', ...' : ''}; every other entry was freed`,
    [], bad);
}
