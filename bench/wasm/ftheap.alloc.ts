// Allocator shim for the in-Wasm loops: ftheap's fast paths, inlined as a Wasm
// program built on ftheap would inline them (the slow paths stay calls).
import { heapMalloc } from "../../../assembly/alloc";
import { curHeap } from "../../../assembly/current";
import { ftFree } from "../../../assembly/free";

// @ts-ignore: decorator
@inline export function bmalloc(size: usize): usize { return heapMalloc(curHeap, size); }
// @ts-ignore: decorator
@inline export function bfree(ptr: usize): void { ftFree(ptr); }
