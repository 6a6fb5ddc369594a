// abi/domain.ts — domains: the default one, new ones, their version.

import { loadAcquire } from "../atomics";
import { domainCreate, domainDefault, domainIsValid, domainSetVersion } from "../domain";
import { EINVAL_DOMAIN, ENOMEM, OK } from "../errors";
import { D_VERSION } from "../layout";
import { domainClose } from "../lifecycle";
import { threadsLive } from "../thread";
import { fail, failSigned, failValue } from "./result";
import { memSync } from "../os";

export function ft_domain_default(): usize { memSync(); return domainDefault(); }
export function ft_domain_valid(d: usize): bool { memSync(); return domainIsValid(d); }
/** A new domain, or 0 (ENOMEM). */
export function ft_domain_create(): usize {
  memSync();
  const d = domainCreate();
  return d != 0 ? d : failValue(ENOMEM);
}
export function ft_domain_version(d: usize): u32 {
  memSync();
  return domainIsValid(d) ? loadAcquire(d + D_VERSION) : <u32>failValue(EINVAL_DOMAIN);
}
export function ft_domain_set_version(d: usize, version: u32): i32 {
  memSync();
  if (!domainIsValid(d)) return fail(EINVAL_DOMAIN);
  domainSetVersion(d, version);
  return OK;
}
export function ft_domain_threads_live(d: usize): u32 {
  memSync();
  return domainIsValid(d) ? threadsLive(d) : <u32>failValue(EINVAL_DOMAIN);
}

/**
 * Close domain `d`: the units given back to the runtime, or -code: EINVAL_DOMAIN
 * (not a domain, closed already, or the default one), EBUSY (a thread of it has
 * not exited). See lifecycle.ts domainClose.
 */
export function ft_domain_close(d: usize): i32 {
  memSync();
  if (!domainIsValid(d) || d == domainDefault()) return failSigned(EINVAL_DOMAIN);
  const rc = domainClose(d);
  return rc < 0 ? failSigned(-rc) : rc;
}
