// The C twin of the single-thread loops (bench/wasm/loops.ts, driven by bench/single-thread.ts) for
// the C peers (bench/build-c.mjs): the same four patterns, xorshift32 stream, sizes and byte
// written per block, on a ring of 1024 [pointer, size] entries obtained from the allocator under
// test. Patterns: 0 lifo32, 1 ring8-256, 2 rand16-1024, 3 em1000.
// Every peer calls the real malloc/free: the builds pass -fno-builtin-malloc -fno-builtin-free, so
// the compiler cannot treat them as known functions and drop lifo32's malloc/free pair (whose
// block never escapes); wasm-mimalloc calls mi_malloc/mi_free by name (BENCH_MI_API, as in mt.c).
// Usage: <pattern> <pairs> <warmups> <runs> <targetNs> <seed> <calibrate>
//   `warmups` runs of `pairs` pairs; with calibrate 1, `pairs` then grows ×4 until a run takes
//   ≥ targetNs / 4 and is set to the run size predicted to take targetNs (as single-thread.ts
//   does for its Wasm and JS cells); then `runs` timed runs. One JSON line per timed run:
//   {"pattern":..,"pairs":..,"ns":..,"peakLive":..,"peakBytes":..}
// ns: the timed pairs only (fill and drain untimed). peakBytes, Wasm: growth of the sbrk top since
// start; natively: growth of what the allocator holds from the system since start (peer.h heapMark:
// mimalloc's peak committed bytes, glibc's arena + mmapped bytes after each run).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <time.h>
#endif
#include "peer.h"

enum { LIFO, RING8, RAND, EM1000 };
#define SLOTS 1024u

typedef uint32_t u32;
typedef struct { uint8_t *p; u32 size; } Entry;

static Entry *ring;
static u32 rng = 1, live, peak;

static inline u32 xorshift(u32 x) { x ^= x << 13; x ^= x >> 17; return x ^ (x << 5); }

static inline u32 place(Entry *e, u32 size, u32 tag) {
  uint8_t *p = malloc(size);
  if (!p) abort();
  p[0] = (uint8_t)tag;
  e->p = p;
  e->size = size;
  return size;
}

static inline void pairs(int pattern, u32 n) {
  u32 x = rng, lv = live, pk = peak;
  if (pattern == LIFO) {
    for (u32 i = 0; i < n; i++) {
      volatile uint8_t *p = malloc(32);
      if (!p) abort();
      p[0] = (uint8_t)i;
      lv += 32; if (lv > pk) pk = lv;
      free((void *)p);
      lv -= 32;
    }
  } else {
    Entry *r = ring;
    for (u32 i = 0; i < n; i++) {
      u32 slot = i & (SLOTS - 1);
      if (pattern == RAND) { x = xorshift(x); slot = x & (SLOTS - 1); }
      Entry *e = r + slot;
      free(e->p);
      lv -= e->size;
      u32 size = 1000 + slot;
      if (pattern == RING8) { x = xorshift(x); size = 8 + x % 249; }
      else if (pattern == RAND) { x = xorshift(x); size = 16 + x % 1009; }
      lv += place(e, size, i);
      if (lv > pk) pk = lv;
    }
  }
  rng = x; live = lv; peak = pk;
}

static void fill(int pattern, u32 seed) {
  rng = seed ? seed : 1; live = 0; peak = 0;
  if (pattern == LIFO) return;
  ring = malloc(SLOTS * sizeof(Entry));
  if (!ring) abort();
  u32 x = rng, lv = 0;
  for (u32 slot = 0; slot < SLOTS; slot++) {
    u32 size = 1000 + slot;
    if (pattern == RING8) { x = xorshift(x); size = 8 + x % 249; }
    else if (pattern == RAND) { x = xorshift(x); size = 16 + x % 1009; }
    lv += place(ring + slot, size, slot);
  }
  rng = x; live = lv; peak = lv;
}

static void drain(void) {
  if (ring) {
    for (u32 slot = 0; slot < SLOTS; slot++) free(ring[slot].p);
    free(ring);
    ring = 0;
  }
  live = 0;
}

static double nowNs(void) { return nowMs() * 1e6; }


static uintptr_t base, top;

/** fill + n timed pairs + drain, as a Wasm cell's run(); returns the ns of the pairs. */
static double run(int pattern, u32 n, u32 seed) {
  fill(pattern, seed);
  double t0 = nowNs();
  pairs(pattern, n);
  double ns = nowNs() - t0;
  uintptr_t m = heapMark();
  if (m > top) top = m;
  drain();
  return ns;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: pattern pairs warmups runs targetNs seed calibrate\n");
    return 2;
  }
  int pattern = atoi(argv[1]);
  double n = atof(argv[2]);
  int warmups = atoi(argv[3]), runs = atoi(argv[4]);
  double target = atof(argv[5]);
  u32 seed = (u32)strtoul(argv[6], 0, 10);
  int calibrate = atoi(argv[7]);
  if (pattern < LIFO || pattern > EM1000 || n < 1 || n > 4e9) return 2;
  base = top = heapMark();
  for (int w = 0; w < warmups; w++) run(pattern, (u32)n, seed);
  if (calibrate) {   // as runWorkload in bench/single-thread.ts
    double guess = n * target / run(pattern, (u32)n, seed);
    while (guess > 4 * n && n * 4 <= 1e9) { n *= 4; guess = n * target / run(pattern, (u32)n, seed); }
    if (guess > 4e9) guess = 4e9;
    double g = (u32)(guess + 0.5) * target / run(pattern, (u32)(guess + 0.5), seed);
    n = (double)((long long)(g / 1000 + 0.5) * 1000);
    if (n < 1000) n = 1000;
  }
  for (int r = 0; r < runs; r++) {
    double ns = run(pattern, (u32)n, seed);
    printf("{\"pattern\":%d,\"pairs\":%u,\"ns\":%.0f,\"peakLive\":%u,\"peakBytes\":%lu}\n", pattern, (u32)n, ns, peak,
      (unsigned long)(top - base));
    fflush(stdout);
  }
  return 0;
}
