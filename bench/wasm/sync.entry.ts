// The core plus the thread-machinery benchmark loops (see sync.ts).
export * from "../../assembly/index";
export * from "./sync";
