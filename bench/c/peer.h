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
#include <time.h>
#ifdef BENCH_NATIVE_MI
#include <mimalloc.h>
#else
#include <malloc.h>
#endif
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

/**
 * The allocator's memory mark, in bytes; a cell's peak is the highest mark sampled minus the mark
 * at its start. Each figure is what the allocator holds from the system:
 * - Wasm: the sbrk top (never comes down, so the mark after a run is the run's high point);
 * - native mimalloc (BENCH_NATIVE_MI): its own peak committed bytes (mi_process_info), exact;
 * - native glibc: bytes its arenas hold plus mmapped chunks (mallinfo2 arena + hblkhd) at the
 *   moment of sampling; arenas shrink only by trimming their top, so this is close to the high point.
 * Not the resident set: ru_maxrss misses memory that was touched, returned with madvise and
 * touched again, and counts libc's and the threads' own pages.
 */
static inline uintptr_t heapMark(void) {
#ifdef __EMSCRIPTEN__
  return (uintptr_t)sbrk(0);
#elif defined(BENCH_NATIVE_MI)
  size_t elapsed, user, sys, rss, peakRss, commit, peakCommit, faults;
  mi_process_info(&elapsed, &user, &sys, &rss, &peakRss, &commit, &peakCommit, &faults);
  return peakCommit;
#else
  struct mallinfo2 mi = mallinfo2();
  return mi.arena + mi.hblkhd;
#endif
}
#endif
