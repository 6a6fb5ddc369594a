// The allocator a C peer's workloads call. wasm-mimalloc (BENCH_MI_API): mimalloc by name;
// emscripten's runtime (thread stacks, TLS, pthread records, stdio) keeps its dlmalloc, since it
// frees with emscripten_builtin_free what pthread_create got from malloc, and mimalloc cannot be
// that allocator (it needs TLS to exist). Every other peer: the C library's malloc as linked.
#ifndef PEER_MALLOC_H
#define PEER_MALLOC_H
#include <stdlib.h>
#ifdef BENCH_MI_API
#include <mimalloc.h>
#define malloc mi_malloc
#define free mi_free
#endif
#endif
