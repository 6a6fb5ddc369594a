/**
 * ftheap: a memory system for multi-threaded WebAssembly.
 * @module
 */
export { Runtime } from './runtime.ts';
export type { CoreExports } from './runtime.ts';
export { Thread } from './thread.ts';
export { FtheapError, ErrorCode } from './errors.ts';
export { Tag } from './api.ts';
export type { AllocatorStats, RuntimeHandle, RuntimeOptions, SizeClassStats, TagValue } from './api.ts';
