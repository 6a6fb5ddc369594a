// abi/runtime.ts — the runtime as a whole: init, errors, memory, size classes, debug switches.

import { floatSharingOn } from "../float";
import { addRelaxed, loadAcquire, spinLock, spinUnlock, storeRelease } from "../atomics";
import { curThread, instanceId, instanceSet } from "../current";
import { instanceClaim, instanceReserve } from "../instance";
import { EINVAL_ARG, EINVAL_STATE, ENOMEM, OK, takeError } from "../errors";
import { hostSetCanBlock } from "../host";
import { runtimeInit } from "../init";
import { MAX_ALLOC_SIZE } from "../alloc";
import { binBlockSize, binOf } from "../size-class";
import { debugPauseArm, debugReadDelaySet } from "../debug-delay";
import { BIN_LARGE_MAX, FT_DEBUG_BUILD, LARGE_OBJ_MAX, ROOT, R_INSTANCE_SERIAL, R_OS_LOCK } from "../layout";
import { fail, failValue } from "./result";
import { loadSynced, memFill, memPages, memSync, memViewPages, osCommitExact, osEnsurePages } from "../os";

// @abi-begin runtime
const ABI_VERSION: u32 = 1;
// @abi-end

/**
 * Initialise the runtime root once; every later call (any thread) waits until the
 * first is done. `maxPages` is the memory's maximum in 64 KiB pages. Returns
 * ABI_VERSION (value).
 */
export function ft_init(maxPages: u32): u32 {
  memSync();
  runtimeInit(maxPages);
  return ABI_VERSION;
}

/**
 * Make committed bytes and their peak exact for the whole runtime (os.ts): each
 * commit is then one shared atomic. Before any thread is made: EINVAL_STATE after.
 */
export function ft_commit_exact(): i32 {
  memSync();
  return osCommitExact() ? OK : fail(EINVAL_STATE);
}

/**
 * Let full pages float, so that other threads may take over pages whose blocks
 * they freed (float.ts). Before any thread is made: EINVAL_STATE after.
 */
export function ft_share_pages(): i32 {
  memSync();
  return floatSharingOn() ? OK : fail(EINVAL_STATE);
}

/** This instance's id (current.ts): the owner of the thread records it starts; 0 until it starts one. */
export function ft_instance_id(): u32 { memSync(); return instanceId; }

/**
 * A fresh instance id, for a worker about to start (the facade's worker helper):
 * the worker adopts it with ft_instance_adopt, so its threads can be reaped by
 * that id even if it dies before it says anything. Value; 0 with ENOMEM (no
 * memory for its reservation slot, instance.ts).
 */
export function ft_instance_reserve(): u32 {
  memSync();
  const id = instanceReserve();
  return id != 0 ? id : <u32>failValue(ENOMEM);
}

/**
 * Take the reserved id `id` as this instance's (before it starts any thread):
 * once only (instance.ts). EINVAL_ARG (0, or no such id handed out), EINVAL_STATE
 * (a thread is current, or `id` is not reserved: adopted already, or cancelled).
 */
export function ft_instance_adopt(id: u32): i32 {
  memSync();
  if (id == 0 || id > loadAcquire(ROOT + R_INSTANCE_SERIAL)) return fail(EINVAL_ARG);
  if (curThread != 0) return fail(EINVAL_STATE);
  if (!instanceClaim(id)) return fail(EINVAL_STATE);
  instanceSet(id);
  return OK;
}

/** Cancel reservation `id` if it was never adopted (its worker is gone): 1 cancelled, 0 not reserved. */
export function ft_instance_unreserve(id: u32): u32 { memSync(); return instanceClaim(id) ? 1 : 0; }

/** The last error code of this instance (thread), cleared by reading. */
export function ft_last_error(): i32 { return takeError(); }

/** This instance may (true) or may not (browser main thread) block in wait32. */
export function ft_set_can_block(value: bool): void { hostSetCanBlock(value); }

/**
 * This instance's idea of the memory's length in 64 KiB pages: cheap, but it may
 * lag another thread's grow for a while (os.ts memHas). ft_memory_sync gives the
 * length now.
 */
export function ft_memory_pages(): u32 { return memViewPages(); }
/**
 * The memory's length in 64 KiB pages now, and this instance's idea of it (what
 * memory.fill, memory.copy and memory.size go by) brought up to date: call it
 * before a bulk operation on a block another thread allocated, which may lie in
 * memory grown since. Costly (about 2 µs): not in a loop.
 */
export function ft_memory_sync(): u32 { return memPages(); }
export function ft_max_alloc_size(): usize { return MAX_ALLOC_SIZE; }
/** The bin of `size` (0: huge). */
export function ft_bin_of(size: usize): u32 { return size > LARGE_OBJ_MAX ? 0 : binOf(size); }
/** The block size of `bin` (0: no such bin). */
export function ft_bin_size(bin: u32): u32 { return bin == 0 || bin > BIN_LARGE_MAX ? 0 : binBlockSize(bin); }

/** Debug build: this instance's lock-free reads of lists and maps spin `spins` times after loading the storage pointer (race tests). */
export function ft_debug_read_delay(spins: u32): void { debugReadDelaySet(spins); }
/** Debug build: pause this instance at point `point` the `hits`-th time (debug-delay.ts); 0 disarms. */
export function ft_debug_pause_at(point: u32, flag: usize, hits: u32): void { debugPauseArm(point, flag, hits); }
/**
 * Debug build (test of os.ts memHas): `rounds` times, grow the memory by one page
 * (past the units: nothing uses it) and store the address of its last 64 bytes
 * in the word at `word`, at once, inside this one call, and wait until the
 * follower (ft_debug_fill_follow) filled there; then 0xFFFFFFFF. Starts once
 * `word + 4` is not 0 (the follower is in its call). Returns
 * the pages grown (0 in release builds or when the memory cannot grow).
 */
export function ft_debug_grow_publish(word: usize, rounds: u32): u32 {
  if (!FT_DEBUG_BUILD) return 0;
  while (loadAcquire(word + 4) == 0) {}   // until the follower is in its call
  let n: u32 = 0;
  for (; n < rounds; n++) {
    spinLock(ROOT + R_OS_LOCK);
    const pages = memPages() + 1;
    const ok = osEnsurePages(pages);
    spinUnlock(ROOT + R_OS_LOCK);
    if (!ok) break;
    const at = (pages << 16) - 64;
    storeRelease(word, at);
    while (loadAcquire(word + 4) != at) {}   // until the follower filled there
  }
  storeRelease(word, 0xFFFFFFFF);
  return n;
}
/**
 * Debug build (test of os.ts memHas and loadSynced): until `rounds` values were
 * seen, wait (spinning, inside this one call) for the word at `word` to change,
 * then touch 64 bytes at the address it holds: `mode` 0 memFills them after a plain
 * load of the word; 1 loads the word with loadSynced and reads the bytes with an
 * atomic load. A word of 0xFFFFFFFF ends early. Returns the rounds done (0 in
 * release builds). Stores 1 at `word + 4` first, then each address touched
 * (ft_debug_grow_publish waits for them).
 */
let sink: u32 = 0;   // keeps the atomic loads of ft_debug_fill_follow

export function ft_debug_fill_follow(word: usize, rounds: u32, mode: u32): u32 {
  if (!FT_DEBUG_BUILD) return 0;
  storeRelease(word + 4, 1);   // in the call: the grower may start
  let last: u32 = 0, n: u32 = 0;
  while (n < rounds) {
    const a = mode == 0 ? loadAcquire(word) : loadSynced(word);
    if (a == 0xFFFFFFFF) break;
    if (a != last && a != 0) {
      if (mode == 0) memFill(<usize>a, 0, 64); else sink += loadAcquire(<usize>a + 60);
      last = a; n++; storeRelease(word + 4, a);
    }
  }
  return n;
}
