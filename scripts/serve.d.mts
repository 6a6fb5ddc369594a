/** Types of scripts/serve.mjs (a static server with the cross-origin isolation headers). */
export declare const ISOLATION_HEADERS: Record<string, string>;
export interface Served { url: string; port: number; close(): Promise<void> }
export declare function serve(options?: { root?: string; port?: number; isolate?: boolean; redirect?: string }): Promise<Served>;
