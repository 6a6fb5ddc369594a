// Allocator shim for the in-Wasm loops: AssemblyScript's TLSF (std heap.alloc/heap.free → __alloc/__free).

// @ts-ignore: decorator
@inline export function bmalloc(size: usize): usize { return heap.alloc(size); }
// @ts-ignore: decorator
@inline export function bfree(ptr: usize): void { heap.free(ptr); }
