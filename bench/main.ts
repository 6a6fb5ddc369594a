// Benchmark entry: `npm run bench [-- flags]` (builds, then runs dist/bench/main.js).
// Runs the selected suites, prints Markdown tables and writes all results as one JSON array.
// Flags: --quick (few pairs, 1 run; writes bench/results/tmp/quick.json unless --out),
//        --suite NAME (repeatable), --alloc ID[,ID] (only these allocators), --runs N,
//        --seed N, --target-ms N (time per timed run), --out PATH (default bench/results/latest.json).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { writeJson, type Result } from './report.ts';
import { singleThread } from './single-thread.ts';

export interface Progress {
  start(total: number): void;
  tick(label: string): void;
}

export interface SuiteOptions {
  root: string;
  quick: boolean;
  runs: number;
  seed: number;
  targetMs: number;
  allocators?: string[];
  progress: Progress;
}

export interface Suite {
  name: string;
  run(opts: SuiteOptions): Promise<{ results: Result[]; report: string }>;
}

const suites: Suite[] = [singleThread];

/** The package root: works from bench/ (sources) and dist/bench/ (compiled). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'asconfig.json'))) {
    if (dirname(dir) === dir) throw new Error('bench: package root not found');
    dir = dirname(dir);
  }
  return dir;
}

function progressBar(): Progress {
  if (!process.stdout.isTTY) return { start() {}, tick() {} };
  const bar = new cliProgress.SingleBar({ format: '{bar} {value}/{total} {label}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic);
  let done = 0, total = 0;
  return {
    start(n) { done = 0; total = n; bar.start(n, 0, { label: '' }); },
    tick(label) { bar.update(++done, { label }); if (done >= total) bar.stop(); },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      suite: { type: 'string', multiple: true },
      alloc: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string', default: '2463534242' },
      'target-ms': { type: 'string', default: '150' },
      out: { type: 'string' },
    },
  });
  const root = findRoot();
  const selected = values.suite ?? suites.map((s) => s.name);
  const unknown = selected.filter((n) => !suites.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown suite ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  const seed = Number(values.seed) >>> 0;
  if (!seed) throw new Error('--seed must be a non-zero 32-bit integer');
  const opts: SuiteOptions = {
    root,
    quick: values.quick!,
    runs: Number(values.runs ?? (values.quick ? 1 : 5)),
    seed,
    targetMs: Number(values['target-ms']),
    allocators: values.alloc?.split(','),
    progress: progressBar(),
  };
  const out = resolve(root, values.out ?? (opts.quick ? 'bench/results/tmp/quick.json' : 'bench/results/latest.json'));
  const all: Result[] = [];
  const heading = `# ftheap benchmarks\n\n${machineLine()}\n`;
  const reports: string[] = [heading];
  console.log(heading);
  for (const suite of suites.filter((s) => selected.includes(s.name))) {
    const { results, report } = await suite.run(opts);
    all.push(...results);
    reports.push(report);
    console.log(report + '\n');
  }
  writeJson(out, all);
  console.log(`results: ${out}`);
  if (!opts.quick && values.out === undefined) {
    // A dated copy per machine kind, and the tables as Markdown for the README.
    const dated = resolve(root, `bench/results/${new Date().toISOString().slice(0, 10)}-${machineName()}.json`);
    writeJson(dated, all);
    const md = reports.join('\n\n') + '\n';
    writeFileSync(resolve(root, 'bench/results/latest.md'), md);
    updateReadme(resolve(root, 'README.md'), md.replace(/^# ftheap benchmarks\n\n/, ''));
    console.log(`results: ${dated}, bench/results/latest.md, README.md`);
  }
}

/** Put the latest tables between the README's bench markers (headings one level down). */
function updateReadme(path: string, md: string): void {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const start = '<!-- bench:start -->', end = '<!-- bench:end -->';
  const i = text.indexOf(start), j = text.indexOf(end);
  if (i < 0 || j < i) return;
  const body = md.replace(/^## /gm, '### ').trim();
  writeFileSync(path, `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`);
}

/** A short name for this machine kind: cores, CPU model, Node version. */
function machineName(): string {
  const cpu = (os.cpus()[0]?.model ?? 'cpu').toLowerCase().replace(/\(r\)|\(tm\)|cpu|@.*$/g, '').trim().replace(/[^a-z0-9]+/g, '-');
  return `${os.cpus().length}core-${cpu}-node${process.versions.node.split('.')[0]}`;
}

function machineLine(): string {
  return `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version} (${os.platform()} ${os.arch()}).`;
}

await main();
