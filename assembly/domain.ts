// domain.ts — isolated worlds inside a runtime (CPython's interpreters).
//
// A domain has its own threads, stop-the-world state, QSBR state (qsbr.ts) and
// queue of delayed frees handed over by exited threads; types, the GC and
// abandoned segments join it in later issues. The runtime makes a default domain
// at init; more come from domainCreate. Thread lists are push-only (records are
// recycled within their domain) and a record's links are never rewritten, not
// even while a reused record is reset (thread.ts threadNew), so walks under
// ROOT.headLock never lose a thread.
// The domain's version is mirrored into every thread's eval breaker (bits 8..31);
// setting it, resets included, rewrites every copy under headLock, so no thread
// keeps a stale copy (CPython once looped forever on one).
//
// See also: breaker.ts, thread.ts, stop-the-world.ts.

import { loadAcquire, spinLock, spinUnlock, storeRelease } from "./atomics";
import { breakerSetVersion, versionOf } from "./breaker";
import { metaAlloc } from "./meta";
import { qsbrInit } from "./qsbr";
import { D_FLOAT_BINS, QUEUE_COUNT, OR_GC_AUTO_MIN, OR_ZERO_TAGS, TAG_GC, TAG_GC_PRE, D_OBJECTS, OBJECT_RECORD_SIZE, DOMAIN_SIZE, D_CLOSED, D_ID, D_NEXT, D_THREADS, D_VERSION, ROOT, R_DEFAULT_DOMAIN, R_DOMAIN_LIST,
  R_DOMAIN_SERIAL, R_HEAD_LOCK, THREAD_FREE, T_DOMAIN_NEXT, T_STATE } from "./layout";
import { loadSynced } from "./os";

// @ts-ignore: decorator
@inline export function headLock(): void { spinLock(ROOT + R_HEAD_LOCK); }
// @ts-ignore: decorator
@inline export function headUnlock(): void { spinUnlock(ROOT + R_HEAD_LOCK); }

/** A new domain record, listed; 0 when memory is exhausted. */
export function domainCreate(): usize {
  const d = metaAlloc(DOMAIN_SIZE);
  if (d == 0 || !qsbrInit(d)) return 0;
  const objects = metaAlloc(OBJECT_RECORD_SIZE);   // types and merge queues (type.ts, brc.ts)
  if (objects == 0) return 0;
  store<u32>(d, <u32>objects, D_OBJECTS);
  const floatBins = metaAlloc(QUEUE_COUNT << 3);   // the float lists' heads and tails (float.ts)
  if (floatBins == 0) return 0;
  store<u32>(d, <u32>floatBins, D_FLOAT_BINS);
  store<u32>(objects, (1 << TAG_GC) | (1 << TAG_GC_PRE), OR_ZERO_TAGS);   // zero on allocation: the GC tags
  store<u32>(objects, 2000, OR_GC_AUTO_MIN);
  headLock();
  const serial = load<u32>(ROOT + R_DOMAIN_SERIAL) + 1;
  store<u32>(ROOT + R_DOMAIN_SERIAL, serial);
  store<u32>(d, serial, D_ID);
  store<u32>(d, load<u32>(ROOT + R_DOMAIN_LIST), D_NEXT);
  storeRelease(ROOT + R_DOMAIN_LIST, <u32>d);
  headUnlock();
  return d;
}

export function domainDefault(): usize {
  return <usize>loadAcquire(ROOT + R_DEFAULT_DOMAIN);
}

/** Is `d` a domain record of this runtime, not closed? (Walks the list: for checking input.) */
export function domainIsValid(d: usize): bool {
  let x = <usize>loadAcquire(ROOT + R_DOMAIN_LIST);
  while (x != 0) {
    if (x == d) return loadAcquire(d + D_CLOSED) == 0;
    x = <usize>load<u32>(x, D_NEXT);
  }
  return false;
}

/**
 * Set the domain's version and every thread's copy of it, atomically with respect
 * to thread creation and other version changes (both under headLock).
 */
export function domainSetVersion(d: usize, version: u32): void {
  const v = versionOf(version);
  headLock();
  storeRelease(d + D_VERSION, v);
  let t = <usize>loadSynced(d + D_THREADS);
  while (t != 0) {
    if (loadAcquire(t + T_STATE) != THREAD_FREE) breakerSetVersion(t, v);
    t = <usize>load<u32>(t, T_DOMAIN_NEXT);
  }
  headUnlock();
}
