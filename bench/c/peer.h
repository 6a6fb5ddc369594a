// What both C twins (mt.c, st.c) share: the allocator their workloads call, the clock,
// and the memory mark.
// Allocator. wasm-mimalloc (BENCH_MI_API): mimalloc by name; emscripten's runtime (thread
// stacks, TLS, pthread records, stdio) keeps its dlmalloc, since it frees with
// emscripten_builtin_free what pthread_create got from malloc, and mimalloc cannot be that
// allocator (it needs TLS to exist). Every other peer: the C library's malloc as linked.
#ifndef PEER_H
#define PEER_H
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <sys/resource.h>
#include <time.h>
#endif
#ifdef BENCH_MI_API
#include <mimalloc.h>
#define malloc mi_malloc
#define free mi_free
#endif

/** Milliseconds on one clock for every thread (emscripten: process.hrtime in Node). */
static inline double nowMs(void) {
#ifdef __EMSCRIPTEN__
  return emscripten_get_now();
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
#endif
}

/** The allocator's memory mark: the sbrk top in Wasm, the peak resident set natively (bytes). */
static inline uintptr_t heapMark(void) {
#ifdef __EMSCRIPTEN__
  return (uintptr_t)sbrk(0);
#else
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (uintptr_t)ru.ru_maxrss * 1024;
#endif
}
#endif
