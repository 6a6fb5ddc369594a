// abi/runtime.ts — the runtime as a whole: init, errors, memory, size classes, debug switches.

import { addRelaxed, loadAcquire } from "../atomics";
import { curThread, instanceId, instanceSet } from "../current";
import { instanceClaim, instanceReserve } from "../instance";
import { EINVAL_ARG, EINVAL_STATE, ENOMEM, OK, takeError } from "../errors";
import { hostSetCanBlock } from "../host";
import { runtimeInit } from "../init";
import { MAX_ALLOC_SIZE } from "../alloc";
import { binBlockSize, binOf } from "../size-class";
import { debugPauseArm, debugReadDelaySet } from "../debug-delay";
import { BIN_LARGE_MAX, LARGE_OBJ_MAX, ROOT, R_INSTANCE_SERIAL } from "../layout";
import { fail, failValue } from "./result";

// @abi-begin runtime
const ABI_VERSION: u32 = 1;
// @abi-end

/**
 * Initialise the runtime root once; every later call (any thread) waits until the
 * first is done. `maxPages` is the memory's maximum in 64 KiB pages. Returns
 * ABI_VERSION (value).
 */
export function ft_init(maxPages: u32): u32 {
  runtimeInit(maxPages);
  return ABI_VERSION;
}

/** This instance's id (current.ts): the owner of the thread records it starts; 0 until it starts one. */
export function ft_instance_id(): u32 { return instanceId; }

/**
 * A fresh instance id, for a worker about to start (the facade's worker helper):
 * the worker adopts it with ft_instance_adopt, so its threads can be reaped by
 * that id even if it dies before it says anything. Value; 0 with ENOMEM (no
 * memory for its reservation slot, instance.ts).
 */
export function ft_instance_reserve(): u32 {
  const id = instanceReserve();
  return id != 0 ? id : <u32>failValue(ENOMEM);
}

/**
 * Take the reserved id `id` as this instance's (before it starts any thread):
 * once only (instance.ts). EINVAL_ARG (0, or no such id handed out), EINVAL_STATE
 * (a thread is current, or `id` is not reserved: adopted already, or cancelled).
 */
export function ft_instance_adopt(id: u32): i32 {
  if (id == 0 || id > loadAcquire(ROOT + R_INSTANCE_SERIAL)) return fail(EINVAL_ARG);
  if (curThread != 0) return fail(EINVAL_STATE);
  if (!instanceClaim(id)) return fail(EINVAL_STATE);
  instanceSet(id);
  return OK;
}

/** Cancel reservation `id` if it was never adopted (its worker is gone): 1 cancelled, 0 not reserved. */
export function ft_instance_unreserve(id: u32): u32 { return instanceClaim(id) ? 1 : 0; }

/** The last error code of this instance (thread), cleared by reading. */
export function ft_last_error(): i32 { return takeError(); }

/** This instance may (true) or may not (browser main thread) block in wait32. */
export function ft_set_can_block(value: bool): void { hostSetCanBlock(value); }

export function ft_memory_pages(): u32 { return <u32>memory.size(); }
export function ft_max_alloc_size(): usize { return MAX_ALLOC_SIZE; }
/** The bin of `size` (0: huge). */
export function ft_bin_of(size: usize): u32 { return size > LARGE_OBJ_MAX ? 0 : binOf(size); }
/** The block size of `bin` (0: no such bin). */
export function ft_bin_size(bin: u32): u32 { return bin == 0 || bin > BIN_LARGE_MAX ? 0 : binBlockSize(bin); }

/** Debug build: this instance's lock-free reads of lists and maps spin `spins` times after loading the storage pointer (race tests). */
export function ft_debug_read_delay(spins: u32): void { debugReadDelaySet(spins); }
/** Debug build: pause this instance at point `point` the `hits`-th time (debug-delay.ts); 0 disarms. */
export function ft_debug_pause_at(point: u32, flag: usize, hits: u32): void { debugPauseArm(point, flag, hits); }
