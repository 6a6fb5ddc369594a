// index.ts — the Wasm ABI: composes the per-concept export groups in abi/ and
// nothing else. Each export's contract, and the three result conventions, are
// in README.md in this folder.

export * from "./abi/runtime";
export * from "./abi/domain";
export * from "./abi/thread";
export * from "./abi/stop-the-world";
export * from "./abi/mutex";
export * from "./abi/alloc";
export * from "./abi/abandon";
export * from "./abi/reap";
export * from "./abi/qsbr";
export * from "./abi/stats";
export * from "./abi/shared-list";
export * from "./abi/shared-map";
export * from "./abi/shared-handle";
export * from "./abi/object";
export * from "./abi/gc";
export * from "./abi/pystack";
export * from "./abi/heap-map";
