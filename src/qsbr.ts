/**
 * QSBR (quiescent-state-based reclamation) as seen from JS: goals, polling and
 * the domain's policy. Memory that lock-free readers may still be reading is
 * freed once a goal is reached: once every thread of the domain that was online
 * has passed a quiescent state — a checkpoint, a detach, or exit.
 *
 * A thread is online while attached. A pointer it read without a lock stays
 * valid until its next {@link Thread.checkpoint}, {@link Thread.detach},
 * `lock()` that has to wait (it detaches), or exit — allocation does not end it.
 * @module
 */
import { QI_CHUNKS, QI_DEFER_LIMIT, QI_DELAYED_FAILED, QI_DELAYED_FREED, QI_DELAYED_QUEUED, QI_FREE_LIMIT, QI_HELD_TAGS,
  QI_PAGE_LIMIT, QI_PAGES_HELD, QI_RD_SEQ, QI_SLOTS, QI_SLOTS_USED, QI_WR_SEQ, QSBR_KEEP, TAG_COUNT } from './abi.gen.ts';
import { checkTag } from './checks.ts';
import type { CoreExports, ThreadCore } from './core.ts';
import { coreError, ErrorCode, FtheapError } from './errors.ts';

/** A goal: a value of the domain's write sequence (odd, grows by 2 per advance). */
export type Goal = number;

/** The QSBR state and delayed-free accounting of a domain ({@link Domain.qsbrInfo}). */
export interface QsbrInfo {
  /** The write sequence: 1, then +2 per advance. */
  wrSeq: number;
  /** The cached minimum of the online threads' read sequences (goals up to it are reached). */
  rdSeq: number;
  /** Slots in the domain's slot array (grows by doubling, from 8). */
  slots: number;
  /** Slots with a thread registered. */
  slotsUsed: number;
  /** `freeDelayed` calls ever accepted. */
  delayedQueued: number;
  /** Of those, blocks freed. */
  delayedFreed: number;
  /** Of those, frees refused when they ran (the block had been freed already). */
  delayedFailed: number;
  /** Queued and not yet freed (queued − freed − failed). */
  delayedPending: number;
  /** Empty pages of held tags waiting for their goal before they may be reused otherwise. */
  pagesHeld: number;
  /** 4 KiB chunks the domain's delayed-free queues have made (meta memory, reused; 255 items each). */
  chunks: number;
  /** The current policy (see {@link QsbrOptions}). */
  options: Required<QsbrOptions>;
}

/** A domain's QSBR policy ({@link Domain.configureQsbr}). */
export interface QsbrOptions {
  /** `deferredAdvance` (and `freeDelayed`) really advance every Nth call. @defaultValue 10 */
  deferLimit?: number;
  /** ... or once this many bytes wait for delayed free on one thread. @defaultValue 1 MiB */
  freeBytesLimit?: number;
  /** Held pages advance once this many page bytes are held on one thread. @defaultValue 80 KiB */
  pageBytesLimit?: number;
  /**
   * Tags whose empty pages wait for a goal before changing size class, heap or
   * going back to the segment (object-holding tags). @defaultValue [1, 2, 3] (OBJECT, GC, GC_PRE)
   */
  heldTags?: number[];
}

/** Per-thread QSBR calls ({@link Thread.qsbr}). Each makes its thread current first. */
export class ThreadQsbr {
  /** @internal Built by its {@link Thread}. */
  constructor(private readonly t: ThreadCore) {}

  /** Advance the domain's write sequence; returns the new value, a goal no thread has passed yet. */
  advance(): Goal {
    this.t.enter();
    return this.checked(this.t.x.ft_qsbr_advance());
  }

  /**
   * A goal that advances the write sequence only every `deferLimit`-th call;
   * otherwise the value the next advance will produce (cheaper; reached one
   * advance later).
   */
  deferredAdvance(): Goal {
    this.t.enter();
    return this.checked(this.t.x.ft_qsbr_deferred_advance());
  }

  /**
   * Has every thread of the domain passed `goal`? Scans the slots when the
   * cached minimum does not tell (O(threads), no allocation). This thread counts
   * too: report a quiescent state ({@link quiescent} or a checkpoint) first.
   */
  poll(goal: Goal): boolean {
    this.t.enter();
    return this.bool(this.t.x.ft_qsbr_poll(goal));
  }

  /** {@link poll} from the cached minimum only (no scan). */
  goalReached(goal: Goal): boolean {
    this.t.enter();
    return this.bool(this.t.x.ft_qsbr_goal_reached(goal));
  }

  /** Report a quiescent state: this thread holds no pointer it read lock-free before now. */
  quiescent(): void {
    this.t.enter();
    const rc = this.t.x.ft_qsbr_quiescent();
    if (rc !== 0) throw coreError(rc);
  }

  /** This thread's read sequence (0 while offline: detached, suspended, exited). */
  get seq(): number {
    return this.t.x.ft_qsbr_thread_seq(this.t.id);
  }

  private checked(v: number): Goal {
    if (v < 0) throw coreError(-v);
    return v;
  }

  private bool(v: number): boolean {
    if (v < 0) throw coreError(-v);
    return v === 1;
  }
}

const KEEP = QSBR_KEEP;

/** @internal Read a domain's QSBR figures. */
export function qsbrInfo(x: CoreExports, domain: number): QsbrInfo {
  const f = (i: number) => x.ft_qsbr_info(domain, i);
  // Read in the order the counts move (failed, freed, queued): a snapshot taken while
  // other threads free never shows fewer queued than taken.
  const failed = f(QI_DELAYED_FAILED), freed = f(QI_DELAYED_FREED), queued = f(QI_DELAYED_QUEUED);
  const mask = f(QI_HELD_TAGS);
  const heldTags: number[] = [];
  for (let t = 0; t < TAG_COUNT; t++) if ((mask >>> t) & 1) heldTags.push(t);
  return {
    wrSeq: f(QI_WR_SEQ), rdSeq: f(QI_RD_SEQ), slots: f(QI_SLOTS), slotsUsed: f(QI_SLOTS_USED),
    delayedQueued: queued, delayedFreed: freed, delayedFailed: failed, delayedPending: queued - freed - failed,
    pagesHeld: f(QI_PAGES_HELD), chunks: f(QI_CHUNKS),
    options: { deferLimit: f(QI_DEFER_LIMIT), freeBytesLimit: f(QI_FREE_LIMIT), pageBytesLimit: f(QI_PAGE_LIMIT), heldTags },
  };
}

/** @internal Apply {@link QsbrOptions} to a domain. */
export function qsbrConfigure(x: CoreExports, domain: number, o: QsbrOptions): void {
  const u32 = (name: string, v: number | undefined, min: number): number => {
    if (v === undefined) return KEEP;
    if (!Number.isInteger(v) || v < min || v >= KEEP) throw new FtheapError(ErrorCode.EINVAL_ARG, `${name} ${v}`);
    return v;
  };
  let tags = KEEP;
  if (o.heldTags !== undefined) {
    if (!Array.isArray(o.heldTags)) throw new FtheapError(ErrorCode.EINVAL_ARG, 'heldTags');
    tags = 0;
    for (const t of o.heldTags) tags |= 1 << checkTag(t);
  }
  const rc = x.ft_qsbr_configure(domain, u32('deferLimit', o.deferLimit, 1), u32('freeBytesLimit', o.freeBytesLimit, 0),
    u32('pageBytesLimit', o.pageBytesLimit, 0), tags);
  if (rc !== 0) throw coreError(rc);
}
