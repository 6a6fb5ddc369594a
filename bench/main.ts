// Benchmark entry: `npm run bench [-- flags]` (builds, then runs dist/bench/main.js).
// Runs the selected suites with progress bars, prints Markdown tables, writes all results as one
// JSON array and the suites' SVG charts next to it, and (full runs) the README's bench section.
// Flags: --quick (little work, 1 run; writes to bench/results/tmp/ unless --out),
//        --suite NAME (repeatable; default all), --workload ID (repeatable; mimalloc-bench, qsbr, churn, brc; not gc),
//        --threads N or LIST (workers: N → 1..N, or e.g. 1,2,4; default 1,2),
//        --alloc ID[,ID] (only these allocators), --no-emcc (skip the emscripten columns),
//        --runs N (default 5), --passes N (multi-threaded: spread each cell's runs over N passes
//        through all cells; default 3), --seed N, --target-ms N (time per timed run), --out PATH.
// The process re-runs itself with V8_FLAGS (Wasm compiled by the optimising tier up front, for
// every allocator alike; see bench/README.md).
// A full run of some suites only (--suite) replaces those suites' results in latest.json, the
// dated JSON, latest.md and the README, and keeps the other suites' figures from earlier runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { brcSuite } from './brc.ts';
import { churnSuite } from './churn.ts';
import { gcSuite } from './gc.ts';
import { mimallocBench } from './mimalloc-bench.ts';
import { V8_FLAGS } from './mt/harness.ts';
import { qsbrSuite } from './qsbr.ts';
import { cpuModel, writeJson, type Result } from './report.ts';
import { singleThread } from './single-thread.ts';
import type { Chart, Progress, Suite, SuiteOptions } from './suite.ts';
import { mutexSuite, stopTheWorldSuite } from './sync.ts';

/** The suites, in run order. Add a suite here (and to bench/README.md). */
const suites: Suite[] = [singleThread, mimallocBench, mutexSuite, stopTheWorldSuite, qsbrSuite, churnSuite, brcSuite,
  gcSuite];

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
  if (!process.stdout.isTTY) return { start() {}, tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar({ format: '{bar} {value}/{total} {label}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic);
  let done = 0, total = 0, active = false;
  const stop = () => { if (active) { active = false; bar.stop(); } };
  return {
    start(n) { done = 0; total = n; active = true; bar.start(n, 0, { label: '' }); },
    tick(label) { if (!active) return; bar.update(++done, { label }); if (done >= total) stop(); },
    stop,
  };
}

/** "2" → [1, 2]; "1,2,4" → [1, 2, 4]; 1 is always measured (speedups, single-thread peers). */
function parseThreads(text: string): number[] {
  const parts = text.split(',').map((x) => Number(x.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error(`--threads: 1..16, got ${text}`);
  const list = parts.length === 1 ? Array.from({ length: parts[0] }, (_, i) => i + 1) : parts;
  return [...new Set([1, ...list])].sort((a, b) => a - b);
}

async function main(): Promise<void> {
  if (!V8_FLAGS.every((f) => process.execArgv.includes(f))) {
    const r = spawnSync(process.execPath, [...process.execArgv, ...V8_FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      suite: { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
      threads: { type: 'string', default: '2' },
      alloc: { type: 'string' },
      'no-emcc': { type: 'boolean', default: false },
      runs: { type: 'string' },
      passes: { type: 'string', default: '3' },
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
    threads: parseThreads(values.threads!),
    workloads: values.workload,
    allocators: values.alloc?.split(','),
    emcc: !values['no-emcc'],
    passes: Number(values.passes),
    progress: progressBar(),
  };
  const out = resolve(root, values.out ?? (opts.quick ? `bench/results/tmp/quick-${machineName()}.json` : 'bench/results/latest.json'));
  const all: Result[] = [];
  const charts: Chart[] = [];
  const today = new Date().toISOString().slice(0, 10);
  const blocks: Block[] = [];
  console.log(`# ftheap benchmarks\n\n${machineLine(opts.threads)}\n`);
  for (const suite of suites.filter((s) => selected.includes(s.name))) {
    const cpu0 = cpuTimes();
    const { results, report: raw, charts: c } = await suite.run(opts);
    opts.progress.stop();
    const report = labelHeadings(raw, opts.quick);
    all.push(...results);
    charts.push(...(c ?? []));
    // Each suite's report ends with the share of the CPU that other processes took meanwhile.
    const others = otherLoad(cpu0, cpuTimes());
    const text = others === undefined ? report : `${report}\n\nOther processes used ${(others * 100).toFixed(0)} % of the ` +
      `machine's CPU time during this suite's run${others > 0.05 ? ': the figures are disturbed (rerun on a quiet machine).' : '.'}`;
    blocks.push({ suite: suite.name, date: today, text, charts: (c ?? []).map((x) => x.name) });
    console.log(text + '\n');
  }
  const full = !opts.quick && values.out === undefined;
  const ran = new Set(blocks.map((b) => b.suite));
  writeJson(out, full ? mergeResults(out, all, ran) : all);
  // charts next to the JSON: latest-<name>.svg (and a dated copy for full runs)
  const stamp = `${today}-${machineName()}`;
  const chartFiles: string[] = [];
  for (const c of charts) {
    const file = join(dirname(out), `${full ? 'latest' : basenameNoExt(out)}-${c.name}.svg`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, c.svg);
    chartFiles.push(file);
    if (full) writeFileSync(join(dirname(out), `${stamp}-${c.name}.svg`), c.svg);
  }
  console.log(`results: ${out}${chartFiles.length ? `, charts: ${chartFiles.join(', ')}` : ''}`);
  if (full) {
    // A dated copy per machine kind, and the tables as Markdown for the README; suites not run
    // this time keep their blocks from the previous latest.md.
    const dated = resolve(root, `bench/results/${stamp}.json`);
    writeJson(dated, mergeResults(dated, all, ran));
    const latestMd = resolve(root, 'bench/results/latest.md');
    const previous = existsSync(latestMd) ? readBlocks(readFileSync(latestMd, 'utf8')) : [];
    const merged = suites.flatMap((s) => blocks.find((b) => b.suite === s.name) ?? previous.find((b) => b.suite === s.name) ?? []);
    const kept = merged.filter((b) => !ran.has(b.suite));
    const heading = machineLine(opts.threads) + (kept.length ? ` This run measured ${[...ran].join(', ')}; ` +
      `${kept.map((b) => `${b.suite} (${b.date})`).join(', ')} keep${kept.length === 1 ? 's' : ''} the figures of an earlier run.` : '');
    const body = merged.map((b) => `<!-- suite:${b.suite} ${b.date} -->\n${b.text}`).join('\n\n');
    writeFileSync(latestMd, `# ftheap benchmarks\n\n${heading}\n\n${body}\n`);
    // Charts: this run's, and a kept suite's own (latest-<suite>.svg) when it is there.
    const images = merged.flatMap((b) => b.charts ?? (existsSync(resolve(root, `bench/results/latest-${b.suite}.svg`)) ? [b.suite] : []))
      .map((n) => `![${n}](bench/results/latest-${n}.svg)`).join('\n');
    updateReadme(resolve(root, 'README.md'), `${heading}\n\n${body}\n` + (images ? `\n${images}\n` : ''));
    console.log(`results: ${dated}, bench/results/latest.md, README.md`);
  }
}

/** One suite's Markdown report in latest.md, with the date it was measured. */
interface Block { suite: string; date: string; text: string; /** this run's chart names */ charts?: string[] }

/**
 * The suites' blocks of a latest.md: marked `<!-- suite:NAME DATE -->`, or (files written before
 * the marks) split at each `## NAME…` heading, with the run's date and its closing line about
 * other processes copied into every block.
 */
function readBlocks(md: string): Block[] {
  const marked = [...md.matchAll(/^<!-- suite:(\S+) (\S+) -->\n/gm)];
  if (marked.length) {
    return marked.map((m, i) => ({ suite: m[1], date: m[2],
      text: md.slice(m.index! + m[0].length, i + 1 < marked.length ? marked[i + 1].index : undefined).trim() }));
  }
  const date = /Measured (\d{4}-\d{2}-\d{2})/.exec(md)?.[1] ?? 'earlier';
  const blocks: Block[] = [];
  let otherLine = '';
  for (const line of md.split('\n')) {
    const name = line.startsWith('## ') ? suites.map((s) => s.name).find((n) => line.startsWith(`## ${n}:`) || line.startsWith(`## ${n} `)) : undefined;
    if (line.startsWith('Other processes used')) otherLine = line;
    else if (name && blocks.at(-1)?.suite !== name) blocks.push({ suite: name, date, text: line });
    else if (blocks.length) blocks.at(-1)!.text += '\n' + line;
  }
  for (const b of blocks) b.text = b.text.trim() + (otherLine ? `\n\n${otherLine}` : '');
  return blocks;
}

/** The results in `path` of suites not in `ran`, then `fresh`, in suite order. */
function mergeResults(path: string, fresh: Result[], ran: Set<string>): Result[] {
  let old: Result[] = [];
  try { old = JSON.parse(readFileSync(path, 'utf8')) as Result[]; } catch { /* none yet */ }
  const order = (r: Result) => { const i = suites.findIndex((s) => s.name === r.suite); return i < 0 ? suites.length : i; };
  return [...old.filter((r) => !ran.has(r.suite)), ...fresh].sort((a, b) => order(a) - order(b));
}

const basenameNoExt = (p: string) => p.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');

interface CpuTimes { busy: number; total: number; self: number }

/** Jiffies: all CPUs busy and in total (/proc/stat), this process and its waited-for children. */
function cpuTimes(): CpuTimes | undefined {
  try {
    const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = all[3] + (all[4] ?? 0);
    const total = all.slice(0, 8).reduce((a, b) => a + b, 0);
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);   // fields from 3 on
    return { busy: total - idle, total, self: f[11] + f[12] + f[13] + f[14] };   // utime stime cutime cstime
  } catch {
    return undefined;   // not Linux
  }
}

/** Share of all CPU time between two snapshots that other processes used. */
function otherLoad(a?: CpuTimes, b?: CpuTimes): number | undefined {
  if (!a || !b || b.total <= a.total) return undefined;
  return Math.max(0, (b.busy - a.busy - (b.self - a.self)) / (b.total - a.total));
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

/**
 * Every table heading (`## ` / `### ` lines) names the CPU it was measured on, and in quick mode
 * says that it is not a measurement.
 */
function labelHeadings(report: string, quick: boolean): string {
  const cpu = `${os.cpus().length} × ${cpuModel().replace(/\((R|TM)\)/gi, '').replace(/,? \d+ MHz/, '')}`;
  return report.replace(/^(#{2,3} .*)$/gm, (h) => `${h} [${cpu}]${quick ? ' — quick run, not a measurement' : ''}`);
}

/**
 * A short name for this machine kind: cores, CPU model (with family and model from /proc/cpuinfo:
 * VMs often name only "Intel(R) Xeon(R) Processor"), Node version.
 */
function machineName(): string {
  const cpu = (os.cpus()[0]?.model ?? 'cpu').toLowerCase().replace(/\(r\)|\(tm\)|cpu|@.*$/g, '').trim().replace(/[^a-z0-9]+/g, '-');
  const fm = /\(family (\d+), model (\d+)/.exec(cpuModel());
  return `${os.cpus().length}core-${cpu}${fm ? `-f${fm[1]}m${fm[2]}` : ''}-node${process.versions.node.split('.')[0]}`;
}

function machineLine(threads: number[]): string {
  const cores = os.cpus().length, max = Math.max(...threads);
  return `Measured ${new Date().toISOString().slice(0, 10)} on ${cores} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version} (${os.platform()} ${os.arch()}), V8 flags ` +
    `\`${V8_FLAGS.join(' ')}\`. Multi-threaded suites: ${threads.join(', ')} workers on ${cores} cores` +
    (max > cores ? `; above ${cores} workers the machine is oversubscribed and those figures are meaningless.`
      : ' (more workers than cores would be oversubscribed, their figures meaningless).');
}

await main();
