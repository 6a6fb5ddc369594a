// Allocator shim for the in-Wasm loops: @thi.ng/malloc's MemPool, a JS allocator, imported
// (bench/mt/worker.ts builds the pool over this module's imported, non-shared memory). Each
// call crosses the Wasm→JS boundary (~2 ns), small next to MemPool's own cost.

// @ts-ignore: decorator
@external("bench", "malloc") declare function extMalloc(size: usize): usize;
// @ts-ignore: decorator
@external("bench", "free") declare function extFree(ptr: usize): void;

// @ts-ignore: decorator
@inline export function bmalloc(size: usize): usize { return extMalloc(size); }
// @ts-ignore: decorator
@inline export function bfree(ptr: usize): void { extFree(ptr); }
