/**
 * ftheap: a memory system for multi-threaded WebAssembly.
 * @module
 */
export { Runtime } from './runtime.ts';
export type { CoreExports } from './core.ts';
export { Thread } from './thread.ts';
export { Domain } from './domain.ts';
export { SharedList } from './shared-list.ts';
export { SharedMap, SharedObjectMap } from './shared-map.ts';
export { ThreadQsbr } from './qsbr.ts';
export { ThreadStack } from './pystack.ts';
export type { Goal, QsbrInfo, QsbrOptions } from './qsbr.ts';
export type { LockOptions } from './mutex.ts';
export { OBJECT_HEADER, ObjectRef, ObjectRefs } from './object.ts';
export { Gc } from './gc.ts';
export type { CollectResult, FinalizerErrorHandler, GcInfo } from './gc.ts';
export type { Finalizer } from './object.ts';
export { FtheapError, ErrorCode, InterruptError } from './errors.ts';
export type { BadEntry } from './errors.ts';
export { Checkpoint, Tag } from './api.ts';
export type { DomainStats, ObjectStats, ObjectTypeInfo, ObjectTypeSpec } from './api.ts';
export type { AbandonInfo, AttachOptions, ReapReport, ThreadInfo, AllocatorStats, JoinOptions, RuntimeHandle, RuntimeOptions, SizeClassStats, TagValue, ThreadState } from './api.ts';
export { startWorker, reapInstance } from './workers.ts';
export { joinWorker } from './join-worker.ts';
export type { RuntimeWorker, StartWorkerOptions } from './workers.ts';
export type { JoinedWorker } from './join-worker.ts';
export { heapMap } from './heap-map.ts';
export type { HeapMap, HeapMapPage, HeapMapSegment } from './heap-map.ts';
