// Small hand-made SVG charts for the bench reports (no dependency): a grid of line charts
// (y against workers, one line per series) and grouped horizontal bars on a log scale.

export interface Series {
  label: string;
  color: string;
  /** [x, y] points; a single point is drawn as a marker */
  points: [number, number][];
}

export interface Panel {
  title: string;
  series: Series[];
}

/** A colour per allocator, stable across charts. */
export const COLORS: Record<string, string> = {
  'ftheap-wasm': '#d62728', 'ftheap-calls-wasm': '#ff9896', 'as-tlsf-wasm': '#1f77b4', 'thing-wasm': '#9467bd', 'thing-js': '#9467bd',
  'em-dlmalloc': '#2ca02c', 'em-emmalloc': '#ff7f0e', 'ftheap-raw-js': '#e377c2', 'ftheap-facade-js': '#8c564b',
};
export const colorOf = (id: string, i: number): string =>
  COLORS[id] ?? ['#17becf', '#bcbd22', '#7f7f7f', '#393b79'][i % 4];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));

/** A "nice" upper bound and tick step for 0..max. */
function niceScale(max: number, ticks = 4): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(max / step) * step, step };
}

function legend(series: { label: string; color: string }[], x: number, y: number, width: number): { svg: string; height: number } {
  const parts: string[] = [];
  let cx = x, cy = y;
  for (const s of series) {
    const w = 26 + s.label.length * 6.6;
    if (cx + w > x + width) { cx = x; cy += 18; }
    parts.push(`<rect x="${cx}" y="${cy - 9}" width="14" height="4" fill="${s.color}"/>`,
      `<text x="${cx + 18}" y="${cy - 4}" font-size="11">${esc(s.label)}</text>`);
    cx += w;
  }
  return { svg: parts.join(''), height: cy - y + 18 };
}

/**
 * Line charts in a grid: x = workers (integers), y from 0. `yLabel` under the title.
 */
export function lineGrid(title: string, subtitle: string, yLabel: string, panels: Panel[], cols = 3): string {
  const pw = 260, ph = 170, padL = 46, padR = 12, padT = 26, padB = 30, gap = 14;
  const rows = Math.ceil(panels.length / cols);
  const allSeries = new Map<string, string>();
  for (const p of panels) for (const s of p.series) allSeries.set(s.label, s.color);
  const width = cols * (pw + gap) + gap;
  const lg = legend([...allSeries].map(([label, color]) => ({ label, color })), gap, 62, width - 2 * gap);
  const top = 56 + lg.height;
  const height = top + rows * (ph + gap) + 8;
  const out = svgHead(width, height, gap, title, subtitle, lg.svg);
  panels.forEach((p, i) => {
    const ox = gap + (i % cols) * (pw + gap), oy = top + Math.floor(i / cols) * (ph + gap);
    const xs = p.series.flatMap((s) => s.points.map(([x]) => x));
    const xMax = Math.max(2, ...xs), xMin = 1;
    const { top: yTop, step } = niceScale(Math.max(0, ...p.series.flatMap((s) => s.points.map(([, y]) => y))));
    const px = (x: number) => ox + padL + ((x - xMin) / (xMax - xMin)) * (pw - padL - padR);
    const py = (y: number) => oy + ph - padB - (y / yTop) * (ph - padT - padB);
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#ddd"/>`,
      `<text x="${ox + pw / 2}" y="${oy + 16}" font-size="12" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    for (let v = 0; v <= yTop + step / 2; v += step) {
      out.push(`<line x1="${ox + padL}" x2="${ox + pw - padR}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
        `<text x="${ox + padL - 4}" y="${py(v) + 4}" font-size="10" text-anchor="end" fill="#555">${fmt(v)}</text>`);
    }
    for (let x = xMin; x <= xMax; x++) {
      out.push(`<text x="${px(x)}" y="${oy + ph - padB + 14}" font-size="10" text-anchor="middle" fill="#555">${x}</text>`);
    }
    out.push(`<text x="${ox + pw / 2 + padL / 2}" y="${oy + ph - 4}" font-size="10" text-anchor="middle" fill="#555">workers</text>`,
      `<text x="${ox + 10}" y="${oy + (ph - padB + padT) / 2}" font-size="10" fill="#555" text-anchor="middle" transform="rotate(-90 ${ox + 10} ${oy + (ph - padB + padT) / 2})">${esc(yLabel)}</text>`);
    for (const s of p.series) {
      const pts = [...s.points].sort((a, b) => a[0] - b[0]);
      if (pts.length > 1) {
        out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
      }
      for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.label}: ${fmt(y)} at ${x}`)}</title></circle>`);
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface BarGroup {
  label: string;
  bars: { label: string; color: string; value: number }[];
}

/** Grouped horizontal bars, log-scale x (values spanning decades, e.g. ns per op). */
export function logBars(title: string, subtitle: string, unit: string, groups: BarGroup[]): string {
  const width = 760, padL = 110, padR = 70, barH = 13, groupGap = 12;
  const series = new Map<string, string>();
  for (const g of groups) for (const b of g.bars) series.set(b.label, b.color);
  const lg = legend([...series].map(([label, color]) => ({ label, color })), 14, 62, width - 28);
  const top = 56 + lg.height;
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values))), hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const px = (v: number) => padL + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (width - padL - padR);
  const height = top + groups.reduce((h, g) => h + g.bars.length * barH + groupGap, 0) + 30;
  const out = svgHead(width, height, 14, title, subtitle, lg.svg);
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    out.push(`<line x1="${px(d)}" x2="${px(d)}" y1="${top - 4}" y2="${height - 26}" stroke="#eee"/>`,
      `<text x="${px(d)}" y="${height - 12}" font-size="10" text-anchor="middle" fill="#555">${fmt(d)} ${esc(unit)}</text>`);
  }
  let y = top;
  for (const g of groups) {
    out.push(`<text x="${padL - 6}" y="${y + (g.bars.length * barH) / 2 + 4}" font-size="11" text-anchor="end">${esc(g.label)}</text>`);
    for (const b of g.bars) {
      if (b.value > 0) {
        out.push(`<rect x="${padL}" y="${y}" width="${Math.max(1, px(b.value) - padL).toFixed(1)}" height="${barH - 2}" fill="${b.color}"><title>${esc(`${b.label}: ${fmt(b.value)} ${unit}`)}</title></rect>`,
          `<text x="${(px(b.value) + 3).toFixed(1)}" y="${y + barH - 4}" font-size="9" fill="#333">${fmt(b.value)}</text>`);
      }
      y += barH;
    }
    y += groupGap;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The opening of a chart: the svg element, a white background, title, subtitle (at x) and legend. */
function svgHead(width: number, height: number, x: number, title: string, subtitle: string, legendSvg: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${x}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${x}" y="40" font-size="11" fill="#555">${esc(subtitle)}</text>`,
    legendSvg,
  ];
}
