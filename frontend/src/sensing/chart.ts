// A small line chart drawn by hand in SVG (no chart library): the mean of each step as a line, the min–max
// band behind it, threshold lines across, the time axis in hours. `chartGeometry` is pure (unit-tested);
// `renderChart` turns it into SVG elements (attributes only: nothing the CSP refuses).
import { formatNumber, type Lang } from '../i18n';
import type { SeriesPoint } from './model';

export interface ChartSize {
  width: number;
  height: number;
  /** Room left for the value labels and below for the time labels. */
  left: number;
  bottom: number;
  top: number;
  right: number;
}

export const CHART_SIZE: ChartSize = { width: 300, height: 150, left: 40, bottom: 18, top: 8, right: 6 };

export interface ChartGeometry {
  /** Path of the means (breaks where a step has no data: more than 2 steps between points). */
  line: string;
  /** Closed path of the min–max band. */
  band: string;
  thresholds: { y: number; value: number; severity: string; label: string }[];
  yTicks: { y: number; value: number }[];
  xTicks: { x: number; epochMs: number }[];
  /** The last point, for its dot. */
  last: { x: number; y: number } | null;
  range: { min: number; max: number; fromMs: number; toMs: number };
}

/** Round tick spacing (1, 2 or 5 × 10^n) giving about `count` ticks over `span`. */
export function niceStep(span: number, count = 4): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

/**
 * Coordinates of everything the chart draws, for `points` over [fromMs, toMs].
 *
 * The value range covers the data and the thresholds near it (within one data span), padded by 5 %.
 * The line breaks where data is missing: a silence longer than 2.5 × the largest of the step, the median
 * spacing of the points and the kind's expected interval.
 */
export function chartGeometry(
  points: readonly SeriesPoint[],
  thresholds: readonly { value: number; severity: string; label?: string }[],
  fromMs: number,
  toMs: number,
  stepS: number,
  size: ChartSize = CHART_SIZE,
  expectedIntervalS = 0,
): ChartGeometry {
  // Raw readings ([epoch_ms, value]) are drawn as buckets of one.
  points = points.map((p) => [p[0], p[1], p[2] ?? p[1], p[3] ?? p[1], p[4] ?? 1] as SeriesPoint);
  const values = points.flatMap((p) => [p[2], p[3], p[1]]).filter(Number.isFinite);
  // A threshold far from the data (an alert at 400 µg/m³ over readings around 25) would squash the line
  // flat: only thresholds within one data span of the data are drawn (the panel lists them all).
  const lo = values.length ? Math.min(...values) : -Infinity;
  const hi = values.length ? Math.max(...values) : Infinity;
  const reach = Math.max(hi - lo, Math.abs(hi) * 0.1, 1e-9);
  const near = values.length ? thresholds.filter((t) => t.value >= lo - reach && t.value <= hi + reach) : thresholds;
  const all = [...values, ...near.map((t) => t.value)];
  let min = all.length ? Math.min(...all) : 0;
  let max = all.length ? Math.max(...all) : 1;
  if (max - min < 1e-9) {
    min -= 1;
    max += 1;
  }
  const pad = (max - min) * 0.05;
  min -= pad;
  max += pad;
  const plotW = size.width - size.left - size.right;
  const plotH = size.height - size.top - size.bottom;
  const spanMs = Math.max(1, toMs - fromMs);
  const x = (ms: number) => round(size.left + ((ms - fromMs) / spanMs) * plotW);
  const y = (v: number) => round(size.top + (1 - (v - min) / (max - min)) * plotH);
  const sorted = [...points].filter((p) => Number.isFinite(p[1])).sort((a, b) => a[0] - b[0]);
  // A gap is a silence well beyond both the step and the sensor's usual spacing (readings every 5 min in
  // 1-min buckets are a line, not dots).
  const spacings = sorted.slice(1).map((p, i) => p[0] - sorted[i][0]).sort((a, b) => a - b);
  const usualMs = spacings.length ? spacings[Math.floor(spacings.length / 2)] : 0;
  const gapMs = Math.max(Math.max(1, stepS) * 1000, usualMs, expectedIntervalS * 1000) * 2.5;
  let line = '';
  let previous: number | null = null;
  for (const [ms, mean] of sorted) {
    line += `${previous === null || ms - previous > gapMs ? 'M' : 'L'}${x(ms)},${y(mean)}`;
    previous = ms;
  }
  const band = sorted.length
    ? `M${sorted.map((p) => `${x(p[0])},${y(p[3])}`).join('L')}L${[...sorted]
        .reverse()
        .map((p) => `${x(p[0])},${y(p[2])}`)
        .join('L')}Z`
    : '';
  const step = niceStep(max - min);
  const yTicks: { y: number; value: number }[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max; v += step) yTicks.push({ y: y(v), value: round(v) });
  const hourMs = 3600_000;
  const everyH = niceHours(spanMs / hourMs);
  const xTicks: { x: number; epochMs: number }[] = [];
  for (let ms = Math.ceil(fromMs / (everyH * hourMs)) * everyH * hourMs; ms <= toMs; ms += everyH * hourMs) xTicks.push({ x: x(ms), epochMs: ms });
  const lastPoint = sorted[sorted.length - 1];
  return {
    line,
    band,
    thresholds: near.map((t) => ({ y: y(t.value), value: t.value, severity: t.severity, label: t.label ?? '' })),
    yTicks,
    xTicks,
    last: lastPoint ? { x: x(lastPoint[0]), y: y(lastPoint[1]) } : null,
    range: { min, max, fromMs, toMs },
  };
}

function niceHours(spanH: number): number {
  for (const h of [1, 2, 3, 6, 12, 24]) if (spanH / h <= 6) return h;
  return 24;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

const THRESHOLD_STROKE: Record<string, string> = { info: '#0a58a8', warning: '#d08a00', alert: '#c2410c', critical: '#8b0000' };

/** The chart as an SVG element (scales with its container; the viewBox is `size`). */
export function renderChart(geometry: ChartGeometry, lang: Lang, label: string, size: ChartSize = CHART_SIZE): SVGSVGElement {
  const root = svg('svg', { viewBox: `0 0 ${size.width} ${size.height}`, role: 'img', 'aria-label': label, class: 'chart' });
  root.appendChild(svg('title', {}, label));
  const right = size.width - size.right;
  const bottom = size.height - size.bottom;
  for (const tick of geometry.yTicks) {
    root.appendChild(svg('line', { x1: size.left, x2: right, y1: tick.y, y2: tick.y, class: 'chart-grid' }));
    root.appendChild(svg('text', { x: size.left - 3, y: tick.y + 3, 'text-anchor': 'end', class: 'chart-label' }, formatNumber(tick.value, Number.isInteger(tick.value) ? 0 : 1, lang)));
  }
  for (const tick of geometry.xTicks) {
    const hour = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { hour: '2-digit', minute: '2-digit' }).format(tick.epochMs);
    root.appendChild(svg('text', { x: tick.x, y: size.height - 4, 'text-anchor': 'middle', class: 'chart-label' }, hour));
  }
  if (geometry.band) root.appendChild(svg('path', { d: geometry.band, class: 'chart-band' }));
  for (const threshold of geometry.thresholds) {
    const line = svg('line', { x1: size.left, x2: right, y1: threshold.y, y2: threshold.y, class: 'chart-threshold', stroke: THRESHOLD_STROKE[threshold.severity] ?? '#8b0000', 'data-severity': threshold.severity });
    line.appendChild(svg('title', {}, threshold.label));
    root.appendChild(line);
  }
  if (geometry.line) root.appendChild(svg('path', { d: geometry.line, class: 'chart-line' }));
  if (geometry.last) root.appendChild(svg('circle', { cx: geometry.last.x, cy: geometry.last.y, r: 3, class: 'chart-last' }));
  root.appendChild(svg('line', { x1: size.left, x2: right, y1: bottom, y2: bottom, class: 'chart-axis' }));
  return root;
}
