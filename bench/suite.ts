// What a benchmark suite is, and the options bench/main.ts runs every suite with. Its
// own file so that the suites (single-thread, mimalloc-bench, sync, qsbr, churn, brc, gc) and
// main.ts, which lists them, all import it and not each other.
import type { Result } from './report.ts';

export interface Progress {
  start(total: number): void;
  tick(label: string): void;
  /** done, even if fewer ticks came than announced */
  stop(): void;
}

export interface SuiteOptions {
  root: string;
  quick: boolean;
  runs: number;
  seed: number;
  targetMs: number;
  /** worker counts to measure (sorted, always with 1) */
  threads: number[];
  /** only these workloads (suites with several) */
  workloads?: string[];
  allocators?: string[];
  /** run the emscripten peers when built */
  emcc: boolean;
  /** passes over all cells that a multi-threaded suite spreads each cell's runs over */
  passes: number;
  progress: Progress;
}

export interface Chart {
  /** file name stem: bench/results/latest-<name>.svg (a suite's own chart: its suite name) */
  name: string;
  svg: string;
}

export interface Suite {
  name: string;
  run(opts: SuiteOptions): Promise<{ results: Result[]; report: string; charts?: Chart[] }>;
}
