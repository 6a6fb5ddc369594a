// abi/heap-map.ts — a lock-free picture of every segment and page (heap-map.ts),
// for displays; callable by any instance, attached or not, and it never waits.

import { EINVAL_ARG, ENOMEM } from "../errors";
import { HM_RECORD, HM_SCRATCH_BYTES, heapMapWrite } from "../heap-map";
import { metaAlloc } from "../meta";
import { failSigned, failValue } from "./result";

// This instance's scratch buffer (meta memory, made once, never freed): a thread
// that is not attached has no heap to allocate one from.
let scratch: usize = 0;

/**
 * Write the heap map from unit `from` into `buf` (`bytes` long, 4-aligned, room
 * for the header and one huge segment at least): the segments written (signed),
 * the header saying where to resume; -EINVAL_ARG for a bad buffer.
 */
export function ft_heap_map(buf: usize, bytes: u32, from: u32): i32 {
  if (buf == 0 || (buf & 3) != 0 || bytes < 3 * HM_RECORD || <u64>buf + <u64>bytes > (<u64>memory.size() << 16)) {
    return failSigned(EINVAL_ARG);
  }
  return <i32>heapMapWrite(buf, bytes, from);
}

/** This instance's HM_SCRATCH_BYTES buffer for ft_heap_map (value; 0 with ENOMEM). Takes the meta spin lock once. */
export function ft_heap_map_scratch(): usize {
  if (scratch == 0) scratch = metaAlloc(HM_SCRATCH_BYTES);
  return scratch != 0 ? scratch : failValue(ENOMEM);
}
