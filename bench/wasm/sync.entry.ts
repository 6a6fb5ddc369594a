// The core plus the thread-machinery benchmark loops: mutex and stop-the-world (sync.ts),
// QSBR, SharedList / SharedMap reads and delayed frees (qsbr.ts).
export * from "../../assembly/index";
export * from "./sync";
export * from "./qsbr";
