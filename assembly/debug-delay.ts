// debug-delay.ts — delay injection for race tests (debug build only).
//
// A lock-free reader holds a pointer it loaded for a few nanoseconds, so a test
// would almost never see a writer free that memory under it, even if the
// reclamation were wrong. In the debug build, readers of shared-list.ts and
// shared-map.ts call debugReadDelay() between loading a structure's storage
// pointer and reading through it; a test sets a spin count per instance (i.e.
// per thread) with ft_debug_read_delay, which widens that window to microseconds.
// The release build compiles the call away; the count defaults to 0.
//
// Thread-local only: nothing here is shared.

import { FT_DEBUG_BUILD } from "./layout";

let readDelaySpins: u32 = 0;
let sink: u32 = 0;

/** This instance's spin count for debugReadDelay (debug build; ignored in release). */
export function debugReadDelaySet(spins: u32): void {
  readDelaySpins = spins;
}

/** Spin `readDelaySpins` times (debug build only). */
// @ts-ignore: decorator
@inline export function debugReadDelay(): void {
  if (FT_DEBUG_BUILD) {
    if (readDelaySpins != 0) debugSpin(readDelaySpins);
  }
}

function debugSpin(n: u32): void {
  let x = sink;
  for (let i: u32 = 0; i < n; i++) x = x * 1664525 + 1013904223;   // not optimised away: stored below
  sink = x;
}
