// abi/heap-map.ts — a lock-free picture of every segment and page (heap-map.ts),
// for displays; callable by any instance, attached or not, and it never waits.

import { EINVAL_ARG, ENOMEM, OK } from "../errors";
import { HM_RECORD, heapMapScratchGive, heapMapScratchTake, heapMapWrite } from "../heap-map";
import { fail, failSigned, failValue } from "./result";
import { memHas, memSync } from "../os";

// The scratch buffer this instance holds between ft_heap_map_scratch and its
// release (meta memory: a thread that is not attached has no heap to allocate
// one from), so that only a buffer it took can be given back.
let scratch: usize = 0;

/**
 * Write the heap map from unit `from` into `buf` (`bytes` long, 4-aligned, room
 * for the header and one huge segment at least): the segments written (signed),
 * the header saying where to resume; -EINVAL_ARG for a bad buffer.
 */
export function ft_heap_map(buf: usize, bytes: u32, from: u32): i32 {
  memSync();
  // memory.grow(0), not memory.size(): a pooled scratch buffer may lie in memory another
  // instance grew, which this instance's cached size may not show yet (os.ts osEnsurePages).
  if (buf == 0 || (buf & 3) != 0 || bytes < 3 * HM_RECORD || !memHas(<u64>buf + <u64>bytes)) {
    return failSigned(EINVAL_ARG);
  }
  return <i32>heapMapWrite(buf, bytes, from);
}

/**
 * An HM_SCRATCH_BYTES buffer for ft_heap_map, this instance's until
 * ft_heap_map_scratch_release (value; 0 with ENOMEM). Taken again before a
 * release, the same one. Takes the meta spin lock.
 */
export function ft_heap_map_scratch(): usize {
  memSync();
  if (scratch == 0) scratch = heapMapScratchTake();
  return scratch != 0 ? scratch : failValue(ENOMEM);
}

/** Give back the buffer of ft_heap_map_scratch (status; EINVAL_ARG if `buf` is not the one this instance holds). */
export function ft_heap_map_scratch_release(buf: usize): i32 {
  memSync();
  if (buf == 0 || buf != scratch) return fail(EINVAL_ARG);
  scratch = 0;
  heapMapScratchGive(buf);
  return OK;
}
