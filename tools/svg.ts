/**
 * A small SVG line chart (no dependencies), for throughput over time:
 * bench/sched and the demo write their plots with it.
 */

export interface Series {
  label: string;
  /** [x, y] points, x ascending. */
  points: Array<[number, number]>;
}

export interface ChartOptions {
  title: string;
  /** A second, smaller line under the title. */
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Vertical markers: [x, label]. */
  markers?: Array<[number, string]>;
  yMax?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 900;
  const H = o.height ?? 420;
  const L = 70;
  const R = 170;
  const T = o.subtitle ? 54 : 40;
  const B = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, 1);
  const yMax = o.yMax ?? Math.max(...ys, 1) * 1.1;
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin || 1)) * (W - L - R);
  const py = (y: number) => H - B - (y / yMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  if (o.subtitle)
    parts.push(`<text x="${W / 2}" y="40" text-anchor="middle" font-size="11" fill="#444">${esc(o.subtitle)}</text>`);
  const ys0 = niceStep(yMax, 6);
  for (let y = 0; y <= yMax + 1e-9; y += ys0) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toFixed(2)}</text>`);
  }
  const xs0 = niceStep(xMax - xMin, 8);
  for (let x = Math.ceil(xMin / xs0) * xs0; x <= xMax + 1e-9; x += xs0) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#f3f3f3"/>`);
    parts.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${+x.toFixed(2)}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const [x, label] of o.markers ?? []) {
    parts.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${H - B}" stroke="#999" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${px(x) + 3}" y="${T + 12}" fill="#555">${esc(label)}</text>`);
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length] as string;
    const d = s.points
      .map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(Math.min(p[1], yMax)).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    parts.push(`<rect x="${W - R + 14}" y="${T + 8 + i * 20}" width="14" height="4" fill="${c}"/>`);
    parts.push(`<text x="${W - R + 34}" y="${T + 14 + i * 20}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** CSV of series sampled on the same x grid: x,label1,label2,… */
export function seriesCsv(series: Series[], xHeader: string): string {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const maps = series.map((s) => new Map(s.points));
  const rows = [[xHeader, ...series.map((s) => s.label)].join(',')];
  for (const x of xs) rows.push([x, ...maps.map((m) => m.get(x) ?? '')].join(','));
  return `${rows.join('\n')}\n`;
}
