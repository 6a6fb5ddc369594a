// demo/format.ts — how the demo prints numbers and tables, and how a phase gives up (both phases).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function fmtBytes(n: number): string {
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) { n /= 1024; u++; }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${UNITS[u]}`;
}

export function fmtCount(n: number): string {
  if (n < 1e4) return String(Math.round(n));
  return n < 1e6 ? `${(n / 1e3).toFixed(1)}k` : `${(n / 1e6).toFixed(2)}M`;
}

/** An aligned text table: first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/**
 * A phase failed: stop its progress display, report, terminate its workers and
 * exit 1 (the demo's exit code for any failure).
 */
export async function abortDemo(e: unknown, stopDisplay: () => void, pool: { terminate(): Promise<number> }[]): Promise<never> {
  stopDisplay();
  console.error('demo failed:', e);
  await Promise.all(pool.map((w) => w.terminate()));
  process.exit(1);
}
