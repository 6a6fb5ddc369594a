// The C twin of bench/wasm/mt.ts for the C peers (bench/build-c.mjs): emscripten's dlmalloc and
// emmalloc, mimalloc compiled to Wasm, and natively glibc's malloc and mimalloc: the same nine
// workloads, parameters, PRNG streams and live-byte accounting, driven by a small pthreads
// harness instead of bench/mimalloc-bench.ts. Portable: the emscripten-only parts are under
// __EMSCRIPTEN__. Pointer slots are pointer-sized (4 bytes in Wasm, as in mt.ts; 8 natively).
// Usage (node --no-experimental-fetch build/bench/c/<peer>/mt.js ..., or build/bench/c/<peer>/mt ...):
//   <threads> <runs> <warmups> <seed> <targetNs> <passes> <scaleUp> {<workload> <units> <probeUnits> <minUnits> <p0> <p1> <p2>}...
// Per cell (one workload), first pass: one probe run of probeUnits units sizes the runs to about
// targetNs (scaleUp 1: up or down, never below `minUnits`; 0: down only, never above `units`), then
// warm-up runs, then this pass's timed runs; later passes (probeUnits 0): warm-ups and the given
// runs (see cell()). Each run prints one JSON line on stdout:
//   {"workload":..,"phase":"probe"|"warm"|"run","units":..,"ops":..,"ns":..,"localPeaks":..,
//    "globalPeak":..,"heapPeak":..}
// heapPeak: the highest memory mark (peer.h heapMark) sampled after each run, before the drain,
// minus the mark at the cell's start. In Wasm the sbrk top; natively what the allocator holds from
// the system: mimalloc's peak committed bytes (exact), glibc's arena + mmapped bytes (mallinfo2; its
// arenas shrink only by trimming their top). Exact as a per-process figure only for the first cell
// (the bench runs one cell per process except in --quick mode).
// Timing: every thread takes its own timestamps (emscripten_get_now: process.hrtime in Node;
// natively clock_gettime(CLOCK_MONOTONIC); one clock for all threads) after a barrier; a run lasts
// from the earliest start to the latest end.
// mstress starts new threads every round (as the original does); its run spans all rounds.
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#include <emscripten/threading.h>
#else
#include <sched.h>
#include <time.h>
#endif
#include "peer.h"

enum { ALLOC_TEST, LARSON, XMALLOC, CACHE_SCRATCH, MSTRESS, RPTEST, GLIBC_SIMPLE, GLIBC_THREAD, MALLOC_MT };

#define C_LIVE 64
#define C_PEAK 68
#define C_OBJS 128
#define C_RINGS 256
#define RING_BYTES (128 + RCAP * WS)   /* head, tail, RCAP pointers: 384 in Wasm */
#define RCAP 64u
#define TRANSFERS 1000u
#define MAX_THREADS 16u
#define FLUSH 16384

typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t i32;

#define U32(p) (*(u32 *)(p))
#define A32(p) ((_Atomic u32 *)(p))
#define AI32(p) ((_Atomic i32 *)(p))
// Pointer slots (tables, rings, transfer slots) are pointer-sized: 4 bytes in Wasm as in mt.ts,
// 8 natively (so native runs count 8 bytes per slot in their live bytes).
typedef uintptr_t uw;
#define WS ((u32)sizeof(uw))
#define ES (2 * WS)   /* a [pointer, u32 size] table entry */
#define W(p) (*(uw *)(p))
#define AW(p) ((_Atomic uw *)(p))
#define PTR(v) ((u8 *)(v))
#define VAL(p) ((uw)(p))

/** One worker's state (the Wasm version keeps it in per-instance globals). */
typedef struct {
  u8 *ctx;
  int wl;
  u32 me, nthreads, rng, p0, p1, p2;
  u8 *arr;
  u32 pos, loops;
  i32 lv, pk, pend;
  u32 sink;
  double t0, t1;
  u32 ops;
} S;

static inline u32 xorshift(u32 x) { x ^= x << 13; x ^= x >> 17; return x ^ (x << 5); }
static inline u32 next(S *s) { u32 x = xorshift(s->rng); s->rng = x; return x; }
static inline u32 below(S *s, u32 n) { return (u32)(((u64)next(s) * (u64)n) >> 32); }
static inline int chance(S *s, u32 pct) { return below(s, 100) < pct; }

static void flushLive(S *s) {
  i32 now = atomic_fetch_add(AI32(s->ctx + C_LIVE), s->pend) + s->pend;
  s->pend = 0;
  i32 seen = atomic_load(AI32(s->ctx + C_PEAK));
  while (now > seen) {
    if (atomic_compare_exchange_weak(AI32(s->ctx + C_PEAK), &seen, now)) break;
  }
}

static inline void track(S *s, i32 delta) {
  i32 l = s->lv + delta;
  s->lv = l;
  if (l > s->pk) s->pk = l;
  i32 p = s->pend + delta;
  s->pend = p;
  if ((u32)(p + FLUSH) > (u32)(FLUSH << 1)) flushLive(s);
}

static inline u8 *alloc(S *s, u32 size) {
  u8 *p = malloc(size);
  if (!p) { fprintf(stderr, "malloc(%u) failed\n", size); abort(); }
  track(s, (i32)size);
  return p;
}
static inline void release(S *s, u8 *p, u32 size) {
  free(p);
  track(s, -(i32)size);
}


// ---- rings --------------------------------------------------------------------------------
static inline u8 *ringOf(S *s, u32 w) { return s->ctx + C_RINGS + (size_t)w * RING_BYTES; }

static int ringPush(u8 *r, uw v, u32 cap) {
  u32 head = atomic_load(A32(r));
  if (head - atomic_load(A32(r + 64)) >= cap) return 0;
  W(r + 128 + (head & (RCAP - 1)) * WS) = v;
  atomic_store(A32(r), head + 1);
  return 1;
}

static uw ringPop(u8 *r) {
  u32 tail = atomic_load(A32(r + 64));
  if (atomic_load(A32(r)) == tail) return 0;
  uw v = W(r + 128 + (tail & (RCAP - 1)) * WS);
  atomic_store(A32(r + 64), tail + 1);
  return v;
}

static void pause_(u8 *addr, u32 spins) {
  if (spins <= 2000) return;
#ifdef __EMSCRIPTEN__
  emscripten_futex_wait(addr, atomic_load(A32(addr)), 0.02);
#else
  (void)addr;
  struct timespec ts = { 0, 20000 };   // 20 µs, as the futex wait's timeout above
  nanosleep(&ts, 0);
#endif
}

static uw ringPopWait(u8 *r) {
  u32 spins = 0;
  for (;;) {
    uw v = ringPop(r);
    if (v) return v;
    pause_(r, ++spins);
  }
}

// ---- sizes --------------------------------------------------------------------------------
static inline u32 sizeAllocTest(S *s) {
  u32 x = next(s);
  u32 base = 8u << below(s, 7);
  return base + ((x >> 16) & (base - 1));
}
static inline u32 sizePareto(S *s, u32 min, u32 max) {
  u32 v = (min << 20) / ((next(s) >> 12) + 1);
  return v < max ? v : max;
}

// ---- context, prepare, finish ---------------------------------------------------------------
static u32 ctxSize(u32 threads) { return C_RINGS + threads * RING_BYTES + (TRANSFERS * WS); }

static u8 *ctxNew(int workload, u32 threads) {
  u8 *c = malloc(ctxSize(threads));
  if (!c) abort();
  memset(c, 0, ctxSize(threads));
  *(i32 *)c = workload;
  U32(c + 4) = threads;
  return c;
}

static void prepare(u8 *c) {
  atomic_store(AI32(c + C_LIVE), 0);
  atomic_store(AI32(c + C_PEAK), 0);
  u32 t = U32(c + 4);
  if (*(i32 *)c == CACHE_SCRATCH) {
    for (u32 w = 0; w < t; w++) {
      u8 *p = malloc(8);
      if (!p) abort();
      memset(p, 0, 8);
      atomic_store(AW(c + C_OBJS + (w * WS)), VAL(p));
    }
  }
}

static void finish(u8 *c) {
  u32 t = U32(c + 4);
  for (u32 w = 0; w < t; w++) {
    uw p = atomic_exchange(AW(c + C_OBJS + (w * WS)), 0);
    if (p) free(PTR(p));
  }
  for (u32 i = 0; i < TRANSFERS; i++) {
    uw p = atomic_exchange(AW(c + C_RINGS + t * RING_BYTES + (i * WS)), 0);
    if (p) free(PTR(p));
  }
  memset(c + C_RINGS, 0, t * RING_BYTES);
}

// ---- setup / drain ---------------------------------------------------------------------------
static void setup(S *s) {
  s->lv = 0; s->pk = 0; s->pend = 0; s->pos = 0; s->loops = 0; s->arr = 0;
  if (s->wl == ALLOC_TEST) {
    s->arr = alloc(s, s->p0 * ES);
    for (u32 k = 0; k < s->p0; k++) {
      u32 size = sizeAllocTest(s);
      u8 *p = alloc(s, size);
      memset(p, (u8)k, size);
      W(s->arr + k * ES) = VAL(p);
      U32(s->arr + k * ES + WS) = size;
    }
  } else if (s->wl == LARSON) {
    s->arr = alloc(s, s->p0 * ES);
    for (u32 k = 0; k < s->p0; k++) {
      u32 size = 8 + below(s, 993);
      u8 *p = alloc(s, size);
      p[0] = (u8)k; p[size - 1] = (u8)k;
      W(s->arr + k * ES) = VAL(p);
      U32(s->arr + k * ES + WS) = size;
    }
  } else if (s->wl == GLIBC_SIMPLE) {
    s->arr = alloc(s, 1600 * WS);
  } else if (s->wl == GLIBC_THREAD) {
    s->arr = alloc(s, s->p0 * WS);
    for (u32 k = 0; k < s->p0; k++) {
      u32 size = sizePareto(s, 4, 32768);
      u8 *p = alloc(s, size);
      p[size - 1] = (u8)k; U32(p) = size;
      W(s->arr + (k * WS)) = VAL(p);
    }
  } else if (s->wl == MALLOC_MT) {
    s->arr = alloc(s, 1024 * WS);
    for (u32 k = 0; k < 1024; k++) {
      u8 *p = alloc(s, 1000 + k);
      p[0] = (u8)k;
      W(s->arr + (k * WS)) = VAL(p);
    }
  }
  flushLive(s);
}

static void freeBatch(S *s, u8 *b) {
  u32 n = s->p0, size = s->p1;
  for (u32 j = 0; j < n; j++) release(s, PTR(W(b + (j * WS))), size);
  release(s, b, n * WS);
}

static void freeSet(S *s, u8 *set) {
  u32 n = s->p0;
  for (u32 j = 0; j < n; j++) {
    u8 *p = PTR(W(set + (j * WS)));
    release(s, p, U32(p));
  }
  release(s, set, n * WS);
}

static void drain(S *s) {
  if (s->wl == ALLOC_TEST || s->wl == LARSON) {
    for (u32 k = 0; k < s->p0; k++) release(s, PTR(W(s->arr + k * ES)), U32(s->arr + k * ES + WS));
    release(s, s->arr, s->p0 * ES);
  } else if (s->wl == XMALLOC) {
    uw b;
    while ((b = ringPop(ringOf(s, s->me)))) freeBatch(s, PTR(b));
  } else if (s->wl == RPTEST) {
    uw b;
    while ((b = ringPop(ringOf(s, s->me)))) freeSet(s, PTR(b));
  } else if (s->wl == GLIBC_SIMPLE) {
    release(s, s->arr, 1600 * WS);
  } else if (s->wl == GLIBC_THREAD) {
    for (u32 k = 0; k < s->p0; k++) {
      u8 *p = PTR(W(s->arr + (k * WS)));
      release(s, p, U32(p));
    }
    release(s, s->arr, s->p0 * WS);
  } else if (s->wl == MALLOC_MT) {
    for (u32 k = 0; k < 1024; k++) release(s, PTR(W(s->arr + (k * WS))), 1000 + k);
    release(s, s->arr, 1024 * WS);
  }
  s->arr = 0;
  flushLive(s);
}

// ---- the workloads (see bench/wasm/mt.ts) ---------------------------------------------------
static u32 runAllocTest(S *s, u32 n) {
  u8 *t = s->arr;
  for (u32 i = 0; i < n; i++) {
    u8 *e = t + below(s, s->p0) * ES;
    release(s, PTR(W(e)), U32(e + WS));
    u32 size = sizeAllocTest(s);
    u8 *p = alloc(s, size);
    memset(p, (u8)i, size);
    W(e) = VAL(p);
    U32(e + WS) = size;
  }
  return n;
}

static u32 runLarson(S *s, u32 epochs) {
  u32 n = epochs * s->p1;
  for (u32 i = 0; i < n; i++) {
    u8 *e = s->arr + below(s, s->p0) * ES;
    release(s, PTR(W(e)), U32(e + WS));
    u32 size = 8 + below(s, 993);
    u8 *p = alloc(s, size);
    p[0] = (u8)i; p[size - 1] = (u8)i;
    W(e) = VAL(p);
    U32(e + WS) = size;
    if (++s->pos == s->p1) {
      s->pos = 0;
      if (!ringPush(ringOf(s, (s->me + 1) % s->nthreads), VAL(s->arr), RCAP)) abort();
      s->arr = PTR(ringPopWait(ringOf(s, s->me)));
    }
  }
  return n;
}

static u32 runXmalloc(S *s, u32 batches) {
  u8 *out = ringOf(s, (s->me + 1) % s->nthreads), *inc = ringOf(s, s->me);
  u32 n = s->p0, size = s->p1;
  u32 made = 0, freed = 0, spins = 0;
  while (made < batches || freed < batches) {
    int progress = 0;
    if (made < batches && atomic_load(A32(out)) - atomic_load(A32(out + 64)) < s->p2) {
      u8 *b = alloc(s, n * WS);
      for (u32 j = 0; j < n; j++) {
        u8 *p = alloc(s, size);
        U32(p) = j; U32(p + 4) = made;
        W(b + (j * WS)) = VAL(p);
      }
      if (!ringPush(out, VAL(b), s->p2)) abort();
      made++;
      progress = 1;
    }
    if (freed < batches) {
      uw b = ringPop(inc);
      if (b) { freeBatch(s, PTR(b)); freed++; progress = 1; }
    }
    if (progress) spins = 0; else pause_(inc, ++spins);
  }
  return batches * n;
}

static u32 runCacheScratch(S *s, u32 n) {
  uw given = atomic_exchange(AW(s->ctx + C_OBJS + (s->me * WS)), 0);
  if (given) free(PTR(given));
  u32 rounds = s->p0, size = s->p1, acc = s->sink;
  for (u32 i = 0; i < n; i++) {
    volatile u8 *p = alloc(s, size);
    for (u32 r = 0; r < rounds; r++) {   // as in mt.ts
      p[0] = (u8)r; u32 a0 = p[0];
      p[1] = (u8)(r + 1); u32 a1 = p[1];
      p[2] = (u8)(r + 2); u32 a2 = p[2];
      p[3] = (u8)(r + 3); u32 a3 = p[3];
      p[4] = (u8)(r + 4); u32 a4 = p[4];
      p[5] = (u8)(r + 5); u32 a5 = p[5];
      p[6] = (u8)(r + 6); u32 a6 = p[6];
      p[7] = (u8)(r + 7); u32 a7 = p[7];
      acc += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
    }
    release(s, (u8 *)p, size);
  }
  s->sink = acc;
  return n;
}

static u8 *allocItems(S *s, u32 words) {
  if (chance(s, 1)) {
    if (chance(s, 1)) words *= 10000;
    else if (chance(s, 10)) words *= 1000;
    else words *= 100;
  }
  u32 size = words << 3;
  u8 *p = alloc(s, size);
  U32(p) = size;
  memset(p + 4, 0xA5, size - 4);
  return p;
}

static void freeItems(S *s, u8 *p) {
  if (!p) return;
  u32 size = U32(p);
  if (p[size - 1] != 0xA5) { fprintf(stderr, "mstress: corrupt item\n"); abort(); }
  release(s, p, size);
}

static u32 runMstressRound(S *s) {
  u32 allocs = s->p0, retain = s->p0 >> 1;
  u8 *data = alloc(s, allocs * WS), *kept = alloc(s, retain * WS);
  u8 *transfer = s->ctx + C_RINGS + s->nthreads * RING_BYTES;
  u32 top = 0, keptTop = 0;
  while (allocs > 0 || retain > 0) {
    if (retain == 0 || (chance(s, 50) && allocs > 0)) {
      allocs--;
      u8 *p = allocItems(s, 1u << below(s, 5));
      W(data + (top * WS)) = VAL(p);
      top++;
    } else {
      u8 *p = allocItems(s, 1u << below(s, 7));
      W(kept + (keptTop * WS)) = VAL(p);
      keptTop++;
      retain--;
    }
    if (chance(s, 66) && top > 0) {
      u8 *e = data + (below(s, top) * WS);
      freeItems(s, PTR(W(e)));
      W(e) = 0;
    }
    if (chance(s, 25) && top > 0) {
      u8 *e = data + (below(s, top) * WS);
      u8 *slot = transfer + (below(s, TRANSFERS) * WS);
      uw q = atomic_exchange(AW(slot), W(e));
      W(e) = q;
    }
  }
  for (u32 i = 0; i < keptTop; i++) freeItems(s, PTR(W(kept + (i * WS))));
  for (u32 i = 0; i < top; i++) freeItems(s, PTR(W(data + (i * WS))));
  release(s, kept, (s->p0 >> 1) * WS);
  release(s, data, s->p0 * WS);
  return s->p0 + (s->p0 >> 1);
}

static void mstressSweep(S *s, int all) {
  u8 *transfer = s->ctx + C_RINGS + s->nthreads * RING_BYTES;
  for (u32 i = s->me; i < TRANSFERS; i += s->nthreads) {
    if (all || chance(s, 50)) freeItems(s, PTR(atomic_exchange(AW(transfer + (i * WS)), 0)));
  }
  flushLive(s);
}

static inline u8 *rpBlock(S *s, u32 j) {
  u32 size = sizePareto(s, 8, s->p2);
  u8 *p = alloc(s, size);
  p[size - 1] = (u8)j; U32(p) = size;
  return p;
}

static u32 runRptest(S *s, u32 n) {
  u8 *out = ringOf(s, (s->me + 1) % s->nthreads), *inc = ringOf(s, s->me);
  for (u32 l = 0; l < n; l++) {
    uw old;
    while ((old = ringPop(inc))) freeSet(s, PTR(old));
    u8 *set = alloc(s, s->p0 * WS);
    for (u32 j = 0; j < s->p0; j++) {
      u8 *p = rpBlock(s, j);
      W(set + (j * WS)) = VAL(p);
    }
    for (u32 k = 0; k < s->p1; k++) {
      u8 *e = set + (below(s, s->p0) * WS);
      u8 *p = PTR(W(e));
      release(s, p, U32(p));
      u8 *q = rpBlock(s, k);
      W(e) = VAL(q);
    }
    if ((++s->loops & 1) == 0 && ringPush(out, VAL(set), RCAP)) continue;
    freeSet(s, set);
  }
  return n * (s->p0 + s->p1);
}

static u32 runGlibcSimple(S *s, u32 units) {
  u8 *t = s->arr;
  for (u32 u = 0; u < units; u++) {
    for (u32 c = 25; c <= 1600; c <<= 2) {
      for (u32 size = 16; size <= 64; size <<= 1) {
        for (u32 r = 1600 / c; r > 0; r--) {
          for (u32 i = 0; i < c; i++) {
            u8 *p = alloc(s, size);
            U32(p) = i;
            W(t + (i * WS)) = VAL(p);
          }
          u32 half = c >> 1;
          for (u32 i = 0; i < half; i++) release(s, PTR(W(t + (i * WS))), size);
          for (u32 i = c; i > half; i--) release(s, PTR(W(t + ((i - 1) * WS))), size);
        }
      }
    }
  }
  return units * 19200;
}

static u32 runGlibcThread(S *s, u32 n) {
  u8 *t = s->arr;
  for (u32 i = 0; i < n; i++) {
    u8 *e = t + (below(s, s->p0) * WS);
    u8 *old = PTR(W(e));
    release(s, old, U32(old));
    u32 size = sizePareto(s, 4, 32768);
    u8 *p = alloc(s, size);
    p[size - 1] = (u8)i; U32(p) = size;
    W(e) = VAL(p);
  }
  return n;
}

static u32 runMallocMt(S *s, u32 n) {
  u8 *t = s->arr;
  for (u32 i = 0; i < n; i++) {
    u32 slot = i & 1023;
    u8 *e = t + (slot * WS);
    release(s, PTR(W(e)), 1000 + slot);
    u8 *p = alloc(s, 1000 + slot);
    p[0] = (u8)i;
    W(e) = VAL(p);
  }
  return n;
}

static u32 runUnits(S *s, u32 units) {
  u32 ops = 0;
  switch (s->wl) {
    case ALLOC_TEST: ops = runAllocTest(s, units * 100); break;
    case LARSON: ops = runLarson(s, units); break;
    case XMALLOC: ops = runXmalloc(s, units); break;
    case CACHE_SCRATCH: ops = runCacheScratch(s, units * 100); break;
    case MSTRESS: ops = runMstressRound(s); break;
    case RPTEST: ops = runRptest(s, units); break;
    case GLIBC_SIMPLE: ops = runGlibcSimple(s, units); break;
    case GLIBC_THREAD: ops = runGlibcThread(s, units * 1000); break;
    case MALLOC_MT: ops = runMallocMt(s, units * 1000); break;
  }
  flushLive(s);
  return ops;
}

// ---- harness -----------------------------------------------------------------------------
static S states[MAX_THREADS];
static u32 nthreads, curUnits, lastRound;
static pthread_barrier_t barrier;
static _Atomic uintptr_t heapPeak;
static uintptr_t heapBase;

static void sampleHeap(void) {
  uintptr_t top = heapMark();
  uintptr_t seen = atomic_load(&heapPeak);
  while (top > seen && !atomic_compare_exchange_weak(&heapPeak, &seen, top)) {}
}

/** A worker for one run (all workloads but mstress). */
static void *worker(void *arg) {
  S *s = arg;
  setup(s);
  pthread_barrier_wait(&barrier);
  s->t0 = nowMs();
  s->ops = runUnits(s, curUnits);
  s->t1 = nowMs();
  pthread_barrier_wait(&barrier);
  if (s->me == 0) sampleHeap();
  drain(s);
  return 0;
}

/** A worker for one mstress round: a new thread every round, as in the original. */
static void *mstressWorker(void *arg) {
  S *s = arg;
  pthread_barrier_wait(&barrier);
  double t0 = nowMs();
  if (s->t0 == 0) s->t0 = t0;
  s->ops += runUnits(s, 1);
  if (s->me == 0) sampleHeap();
  pthread_barrier_wait(&barrier);
  mstressSweep(s, lastRound);
  s->t1 = nowMs();
  return 0;
}

static void runOnce(u8 *ctx, int wl, u32 units, u32 seed, u32 p0, u32 p1, u32 p2, const char *phase) {
  prepare(ctx);
  curUnits = units;
  for (u32 w = 0; w < nthreads; w++) {
    S *s = &states[w];
    memset(s, 0, sizeof *s);
    s->ctx = ctx; s->wl = wl; s->me = w; s->nthreads = nthreads;
    u32 x = seed ^ ((w + 1) * 0x9E3779B9u);
    s->rng = x ? x : 1;
    s->p0 = p0; s->p1 = p1; s->p2 = p2;
  }
  pthread_t th[MAX_THREADS];
  pthread_barrier_init(&barrier, 0, nthreads);
  if (wl == MSTRESS) {
    for (u32 r = 0; r < units; r++) {
      lastRound = r + 1 == units;
      for (u32 w = 0; w < nthreads; w++) pthread_create(&th[w], 0, mstressWorker, &states[w]);
      for (u32 w = 0; w < nthreads; w++) pthread_join(th[w], 0);
    }
  } else {
    for (u32 w = 0; w < nthreads; w++) pthread_create(&th[w], 0, worker, &states[w]);
    for (u32 w = 0; w < nthreads; w++) pthread_join(th[w], 0);
  }
  pthread_barrier_destroy(&barrier);
  sampleHeap();
  double t0 = states[0].t0, t1 = states[0].t1;
  u64 ops = 0;
  i32 localPeaks = 0;
  for (u32 w = 0; w < nthreads; w++) {
    if (states[w].t0 < t0) t0 = states[w].t0;
    if (states[w].t1 > t1) t1 = states[w].t1;
    ops += states[w].ops;
    localPeaks += states[w].pk;
  }
  i32 globalPeak = atomic_load(AI32(ctx + C_PEAK));
  finish(ctx);
  printf("{\"workload\":%d,\"phase\":\"%s\",\"units\":%u,\"ops\":%llu,\"ns\":%.0f,\"localPeaks\":%d,\"globalPeak\":%d,\"heapPeak\":%lu}\n",
    wl, phase, units, (unsigned long long)ops, (t1 - t0) * 1e6, localPeaks, globalPeak,
    (unsigned long)(atomic_load(&heapPeak) - heapBase));
  fflush(stdout);
}

/** The last run's ns: earliest start to latest end of its threads. */
static double runNs(void) {
  double t0 = states[0].t0, t1 = states[0].t1;
  for (u32 w = 0; w < nthreads; w++) {
    if (states[w].t0 < t0) t0 = states[w].t0;
    if (states[w].t1 > t1) t1 = states[w].t1;
  }
  return (t1 - t0) * 1e6;
}

/**
 * One pass of a cell (one workload). probeUnits > 0 (the first pass): probe, plan `runs` runs in
 * all, print the plan ({"phase":"plan","units":units,"ops":runs,"ns":warmups}), make this pass's
 * share of them (as runsInPass in bench/mt/workloads.ts). probeUnits 0: warm-ups and `runs` runs
 * of `units` units.
 */
static void cell(int wl, u32 units, u32 probeUnits, u32 minUnits, int runs, int warmups, int passes, u32 seed,
    double targetNs, int scaleUp, u32 p0, u32 p1, u32 p2) {
  heapBase = heapMark();
  atomic_store(&heapPeak, heapBase);
  u8 *ctx = ctxNew(wl, nthreads);
  if (probeUnits == 0) {
    for (int i = 0; i < warmups + runs; i++) runOnce(ctx, wl, units, seed, p0, p1, p2, i < warmups ? "warm" : "run");
    free(ctx);
    return;
  }
  // Probe: probeUnits units; size the runs to about targetNs (as fitUnits in bench/mt/workloads.ts).
  runOnce(ctx, wl, probeUnits, seed, p0, p1, p2, "probe");
  double perUnit = runNs() / probeUnits;
  if (scaleUp) {
    double fit = perUnit > 0 ? targetNs / perUnit + 0.999999 : units;   // ceil: at least the target
    units = fit < minUnits ? minUnits : fit > 4e9 ? 4000000000u : (u32)fit;
  } else {
    double fit = perUnit > 0 ? targetNs / perUnit : units;
    if (fit < units) units = fit < minUnits ? minUnits : (u32)fit;
  }
  if (perUnit * units > 4 * targetNs) warmups = 0;   // as fitRuns: very slow runs skip the warm-up
  int warmed = 0;
  if (scaleUp && warmups > 0) {
    // as cellRuns: a cold probe (and first warm-up) runs slower than warm code, and runs vary;
    // size again from the warm-up runs (at least 2, at most 4) by the fastest ns per unit seen
    // until that would still reach RESIZE_BELOW (0.85) of the target
    double best = 1e300;   // fastest ns per unit seen
    for (int extra = 0; extra <= 3; extra++) {
      runOnce(ctx, wl, units, seed, p0, p1, p2, "warm");
      double ns = runNs();
      if (ns / units < best) best = ns / units;
      if ((extra > 0 && best * units >= 0.85 * targetNs) || extra == 3) break;   // at least 2: the first can run cold
      double fit = best > 0 ? targetNs / best + 0.999999 : units;
      units = fit < minUnits ? minUnits : fit > 4e9 ? 4000000000u : (u32)fit;
    }
    warmed = 1;
  }
  printf("{\"workload\":%d,\"phase\":\"plan\",\"units\":%u,\"ops\":%d,\"ns\":%d,\"localPeaks\":0,\"globalPeak\":0,\"heapPeak\":0}\n",
    wl, units, runs, warmups);
  int now = (runs + passes - 1) / passes;   // pass 0's share
  for (int i = 0; i < warmups - warmed + now; i++) runOnce(ctx, wl, units, seed, p0, p1, p2, i < warmups - warmed ? "warm" : "run");
  free(ctx);
}

int main(int argc, char **argv) {
  if (argc < 15 || (argc - 8) % 7 != 0) {
    fprintf(stderr, "usage: threads runs warmups seed targetNs passes scaleUp {workload units probeUnits minUnits p0 p1 p2}...\n");
    return 2;
  }
  nthreads = (u32)atoi(argv[1]);
  int runs = atoi(argv[2]), warmups = atoi(argv[3]);
  u32 seed = (u32)strtoul(argv[4], 0, 10);
  double targetNs = atof(argv[5]);
  int passes = atoi(argv[6]), scaleUp = atoi(argv[7]);
  if (nthreads == 0 || nthreads > MAX_THREADS || passes < 1) return 2;
  for (int a = 8; a < argc; a += 7) {
    int wl = atoi(argv[a]);
    if (wl < 0 || wl > MALLOC_MT) return 2;
    u32 v[6];
    for (int k = 0; k < 6; k++) v[k] = (u32)strtoul(argv[a + 1 + k], 0, 10);
    cell(wl, v[0], v[1], v[2] ? v[2] : 1, runs, warmups, passes, seed, targetNs, scaleUp, v[3], v[4], v[5]);
  }
  return 0;
}
