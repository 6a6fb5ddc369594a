// Allocator shim for the in-Wasm loops: ftheap through real calls, one per malloc
// and one per free, as a C program linking an allocator pays them (the exported
// ft_malloc / ft_free: too large for Binaryen to inline, which bench/build-wasm.mjs
// checks in the built module). The other ftheap build (ftheap.alloc.ts) inlines the
// fast paths into the loop instead; the loop's work is the same.
import { ft_free, ft_malloc } from "../../../assembly/abi/alloc";

// @ts-ignore: decorator
@inline export function bmalloc(size: usize): usize { return ft_malloc(size); }
// @ts-ignore: decorator
@inline export function bfree(ptr: usize): void { ft_free(ptr); }
