// A runtime that must never run. ftheap's core uses no managed objects: every
// allocation of the AssemblyScript runtime would keep its heap in per-instance
// globals, i.e. per thread, on a memory every thread shares. If a managed
// allocation ever slips into the core, it traps here instead of corrupting memory.

// @ts-ignore: decorator
@unsafe @global
function __alloc(size: usize): usize { unreachable(); return 0; }
// @ts-ignore: decorator
@unsafe @global
function __realloc(ptr: usize, size: usize): usize { unreachable(); return 0; }
// @ts-ignore: decorator
@unsafe @global
function __free(ptr: usize): void { unreachable(); }
// @ts-ignore: decorator
@unsafe @global
function __new(size: usize, id: u32): usize { unreachable(); return 0; }
// @ts-ignore: decorator
@unsafe @global
function __renew(ptr: usize, size: usize): usize { unreachable(); return 0; }
// @ts-ignore: decorator
@global
function __reset(): void { unreachable(); }
// @ts-ignore: decorator
@global
function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {}
// @ts-ignore: decorator
@global
function __pin(ptr: usize): usize { return ptr; }
// @ts-ignore: decorator
@global
function __unpin(ptr: usize): void {}
// @ts-ignore: decorator
@global
function __collect(): void {}
// @ts-ignore: decorator
@global @unsafe
function __visit(ptr: usize, cookie: u32): void {}
