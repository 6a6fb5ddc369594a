// init.ts — setting up the runtime root, once per memory.
//
// The first instance to call runtimeInit wins a CAS on ROOT.init (0 -> 1), lays
// out the root record, the segment table, the size classes, the shared empty
// page and heap, and the default domain, then publishes init = 2; every other
// instance (thread) waits for that. Nothing here runs at instantiation: the module
// has no start function and no data segment, because every thread instantiates it
// on the same memory and would re-apply them.
//
// See also: layout.ts (the root record), os.ts (units), domain.ts.

import { casAcqRel, loadAcquire, storeRelease } from "./atomics";
import { CUR_HEAP_INITIAL_OK } from "./current";
import { domainCreate } from "./domain";
import { heapInit } from "./heap";
import { sizeClassInit } from "./size-class";
import { EMPTY_HEAP, EMPTY_PAGE, FIRST_UNIT, PAGE_REC_SIZE, ROOT, R_BRK_UNITS, R_DEFAULT_DOMAIN, R_HIGH_WATER_PAGES, R_INIT,
  R_MAX_PAGES, SEGTABLE, UNITS, UNIT_NONE } from "./layout";
import { memFill, memPages } from "./os";

const INIT_NONE: u32 = 0;
const INIT_RUNNING: u32 = 1;
const INIT_DONE: u32 = 2;

/** Initialise the root once (`maxPages`: the memory's maximum in 64 KiB pages); waits for the winner. */
export function runtimeInit(maxPages: u32): void {
  if (!CUR_HEAP_INITIAL_OK) unreachable();
  if (casAcqRel(ROOT + R_INIT, INIT_NONE, INIT_RUNNING)) {
    store<u32>(ROOT + R_MAX_PAGES, maxPages);
    store<u32>(ROOT + R_BRK_UNITS, FIRST_UNIT);
    storeRelease(ROOT + R_HIGH_WATER_PAGES, memPages());
    for (let u: u32 = 0; u < UNITS; u++) store<u8>(SEGTABLE + <usize>u, UNIT_NONE);
    sizeClassInit();
    memFill(EMPTY_PAGE, 0, PAGE_REC_SIZE);
    heapInit(EMPTY_HEAP, 0, 0);
    const d = domainCreate();
    if (d == 0) unreachable();   // the first meta record always fits below the first segment
    storeRelease(ROOT + R_DEFAULT_DOMAIN, <u32>d);
    storeRelease(ROOT + R_INIT, INIT_DONE);   // partner: the loads below in other threads
  }
  while (loadAcquire(ROOT + R_INIT) != INIT_DONE) {}
}

/** Has the root been initialised? */
// @ts-ignore: decorator
@inline export function runtimeReady(): bool { return loadAcquire(ROOT + R_INIT) == INIT_DONE; }
