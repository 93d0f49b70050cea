/**
 * A small SVG chart writer: panels with linear or log axes, ticks, labels, series drawn as lines and/or
 * points, a title, and one legend to the right of the panels (never over the data). Series colours come from
 * the shared palette (tools/chart/palette.ts: a backend has the same colour in every chart); points can carry a
 * marker shape (per op family) and a small visible tag, so they stay distinguishable in a PNG, where hover text
 * is lost; the legend can explain both in extra sections. No browser, no DOM, plain strings. Text is
 * XML-escaped, so case names and policies with `<`, `&` or quotes stay well-formed. Charts are deterministic
 * (same input, same bytes) so a committed chart diffs cleanly.
 */
import { colorMap, type Marker } from './palette.js';

export type { Marker } from './palette.js';

export type Scale = 'linear' | 'log';

export interface Axis {
  readonly label: string;
  readonly scale?: Scale;
  /** Data range override; default: the data's extent (padded; log axes snap to decades). */
  readonly min?: number;
  readonly max?: number;
  /** Explicit tick values (e.g. the prompt lengths); default: decades (log) or 1-2-5 steps (linear). */
  readonly ticks?: readonly number[];
}

export interface Point {
  readonly x: number;
  readonly y: number;
  /** Hover text (an SVG <title>): e.g. the case name. */
  readonly label?: string;
  /** Marker shape of this point (default: the series'). */
  readonly marker?: Marker;
  /** A short text drawn beside the point (visible in PNGs too), e.g. a case number the legend explains. */
  readonly tag?: string;
}

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
  /** `line`: polyline only; `points`: markers only; `both` (default). */
  readonly mode?: 'line' | 'points' | 'both';
  readonly dashed?: boolean;
  /** CSS colour; default: the backend's fixed colour (palette.ts), else the next free one. */
  readonly color?: string;
  /** Marker shape of its points (default circle). */
  readonly marker?: Marker;
}

export interface Panel {
  readonly title?: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  /** Free text drawn under the plot area's top-left corner (e.g. the roofs' values). */
  readonly note?: string;
}

/** An extra legend section under the series: e.g. which marker is which op family, which tag which case. */
export interface LegendSection {
  readonly title: string;
  readonly items: readonly { readonly text: string; readonly marker?: Marker; readonly tag?: string }[];
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle?: string;
  readonly panels: readonly Panel[];
  /** Panels side by side (default) or stacked. */
  readonly layout?: 'row' | 'column';
  readonly panelWidth?: number;
  readonly panelHeight?: number;
  readonly legendSections?: readonly LegendSection[];
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Compact number text for tick labels: 0.5, 12, 1.5k, 2M, 1e-3. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 && a < 1e9) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4 && a < 1e6) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 1e-2 && a < 1e4) return String(+v.toPrecision(3));
  return v.toExponential(0).replace('e+', 'e');
}

const r2 = (v: number): string => String(Math.round(v * 100) / 100);

interface Mapper {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: number[];
  map(v: number, from: number, to: number): number;
}

function niceStep(span: number, target: number): number {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** Range and ticks for one axis over the given data values. */
export function axisMapper(axis: Axis, values: readonly number[]): Mapper {
  const log = axis.scale === 'log';
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = axis.min ?? (finite.length ? Math.min(...finite) : log ? 1 : 0);
  let hi = axis.max ?? (finite.length ? Math.max(...finite) : log ? 10 : 1);
  if (log) {
    if (axis.min === undefined) lo = 10 ** Math.floor(Math.log10(lo) + 1e-9);
    if (axis.max === undefined) hi = 10 ** Math.ceil(Math.log10(hi) - 1e-9);
    if (hi <= lo) hi = lo * 10;
    const ticks = axis.ticks ? [...axis.ticks] : [];
    if (!axis.ticks) for (let e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) ticks.push(10 ** e);
    const a = Math.log10(lo);
    const b = Math.log10(hi);
    return { lo, hi, ticks, map: (v, from, to) => from + ((Math.log10(v) - a) / (b - a)) * (to - from) };
  }
  if (axis.min === undefined && lo > 0 && lo < hi * 0.5) lo = 0; // start bars of positive data at zero
  if (hi <= lo) hi = lo + 1;
  const step = niceStep(hi - lo, 5);
  if (axis.min === undefined) lo = Math.floor(lo / step) * step;
  if (axis.max === undefined) hi = Math.ceil(hi / step) * step;
  const ticks = axis.ticks ? [...axis.ticks] : [];
  if (!axis.ticks) for (let t = lo; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { lo, hi, ticks, map: (v, from, to) => from + ((v - lo) / (hi - lo)) * (to - from) };
}

function el(name: string, attrs: Record<string, string | number | undefined>, body?: string): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === 'number' ? r2(v) : v!)}"`)
    .join('');
  return body === undefined ? `<${name}${a}/>` : `<${name}${a}>${body}</${name}>`;
}

const text = (x: number, y: number, s: string, attrs: Record<string, string | number | undefined> = {}): string => el('text', { x, y, ...attrs }, escapeXml(s));

/** A marker of radius ~r centred on (x, y); `body` (e.g. a <title>) goes inside the element. */
export function markerSvg(shape: Marker, x: number, y: number, r: number, color: string, body = ''): string {
  const poly = (pts: [number, number][]) => el('polygon', { points: pts.map(([a, b]) => `${r2(x + a)},${r2(y + b)}`).join(' '), fill: color, 'fill-opacity': 0.85 }, body);
  const k = r * 1.15;
  switch (shape) {
    case 'square':
      return el('rect', { x: x - r * 0.9, y: y - r * 0.9, width: r * 1.8, height: r * 1.8, fill: color, 'fill-opacity': 0.85 }, body);
    case 'triangle':
      return poly([[0, -k], [k, k * 0.8], [-k, k * 0.8]]);
    case 'triangle-down':
      return poly([[0, k], [k, -k * 0.8], [-k, -k * 0.8]]);
    case 'diamond':
      return poly([[0, -k], [k, 0], [0, k], [-k, 0]]);
    case 'cross':
    case 'plus': {
      const d = shape === 'cross' ? `M${r2(x - r)},${r2(y - r)}L${r2(x + r)},${r2(y + r)}M${r2(x - r)},${r2(y + r)}L${r2(x + r)},${r2(y - r)}` : `M${r2(x - k)},${r2(y)}L${r2(x + k)},${r2(y)}M${r2(x)},${r2(y - k)}L${r2(x)},${r2(y + k)}`;
      return el('path', { d, stroke: color, 'stroke-width': 2, fill: 'none' }, body);
    }
    default:
      return el('circle', { cx: x, cy: y, r, fill: color, 'fill-opacity': 0.85 }, body);
  }
}

/** Approximate width of `s` in the chart's 11 px sans-serif (no font metrics without a browser). */
const textWidth = (s: string, px = 11): number => s.length * px * 0.58;

/** One panel inside the box (x0, y0, w, h), legend included. */
function renderPanel(p: Panel, x0: number, y0: number, w: number, h: number, colorOf: (s: Series) => string): string {
  const m = { left: 62, right: 16, top: p.title ? 28 : 12, bottom: 44 };
  const L = x0 + m.left;
  const R = x0 + w - m.right;
  const T = y0 + m.top;
  const B = y0 + h - m.bottom;
  const inRange = (a: Axis, v: number) => Number.isFinite(v) && (a.scale !== 'log' || v > 0);
  const pts = p.series.flatMap((s) => s.points.filter((q) => inRange(p.x, q.x) && inRange(p.y, q.y)));
  const xm = axisMapper(p.x, pts.map((q) => q.x));
  const ym = axisMapper(p.y, pts.map((q) => q.y));
  const X = (v: number) => xm.map(v, L, R);
  const Y = (v: number) => ym.map(v, B, T);
  const out: string[] = [];
  if (p.title) out.push(text(L, y0 + 18, p.title, { 'font-weight': 'bold', 'font-size': 13 }));
  out.push(el('rect', { class: 'plot', x: L, y: T, width: R - L, height: B - T, fill: '#fff', stroke: '#888' }));
  const minor = (m: Mapper, log: boolean) => (log ? m.ticks.flatMap((t) => [2, 3, 5].map((k) => t * k)).filter((v) => v > m.lo && v < m.hi) : []);
  for (const t of minor(xm, p.x.scale === 'log' && !p.x.ticks)) out.push(el('line', { x1: X(t), y1: T, x2: X(t), y2: B, stroke: '#f2f2f2' }));
  for (const t of minor(ym, p.y.scale === 'log' && !p.y.ticks)) out.push(el('line', { x1: L, y1: Y(t), x2: R, y2: Y(t), stroke: '#f2f2f2' }));
  for (const t of xm.ticks) {
    if (t < xm.lo * (1 - 1e-9) || t > xm.hi * (1 + 1e-9)) continue;
    const x = X(t);
    out.push(el('line', { x1: x, y1: T, x2: x, y2: B, stroke: '#e4e4e4' }));
    out.push(text(x, B + 15, formatTick(t), { 'text-anchor': 'middle' }));
  }
  for (const t of ym.ticks) {
    if (t < ym.lo * (1 - 1e-9) || t > ym.hi * (1 + 1e-9)) continue;
    const y = Y(t);
    out.push(el('line', { x1: L, y1: y, x2: R, y2: y, stroke: '#e4e4e4' }));
    out.push(text(L - 6, y + 4, formatTick(t), { 'text-anchor': 'end' }));
  }
  out.push(text((L + R) / 2, B + 34, p.x.label, { 'text-anchor': 'middle' }));
  out.push(text(x0 + 14, (T + B) / 2, p.y.label, { 'text-anchor': 'middle', transform: `rotate(-90 ${r2(x0 + 14)} ${r2((T + B) / 2)})` }));
  if (p.note) out.push(text(L + 6, T + 14, p.note, { fill: '#555', 'font-size': 10 }));
  const clip = `clip${Math.round(x0)}_${Math.round(y0)}`;
  out.push(el('clipPath', { id: clip }, el('rect', { x: L, y: T, width: R - L, height: B - T })));
  p.series.forEach((s) => {
    const c = colorOf(s);
    const ok = s.points.filter((q) => inRange(p.x, q.x) && inRange(p.y, q.y));
    const parts: string[] = [];
    const mode = s.mode ?? 'both';
    if (mode !== 'points' && ok.length > 1)
      parts.push(el('polyline', { points: ok.map((q) => `${r2(X(q.x))},${r2(Y(q.y))}`).join(' '), fill: 'none', stroke: c, 'stroke-width': 2, 'stroke-dasharray': s.dashed ? '6 4' : undefined }));
    if (mode !== 'line')
      for (const q of ok) parts.push(markerSvg(q.marker ?? s.marker ?? 'circle', X(q.x), Y(q.y), 3.5, c, q.label ? el('title', {}, escapeXml(q.label)) : ''));
    out.push(el('g', { class: 'series', 'data-series': s.name, 'clip-path': `url(#${clip})` }, parts.join('')));
    // Tags are drawn outside the clip so a tag next to a point at the edge stays readable.
    const tags = mode === 'line' ? [] : ok.filter((q) => q.tag);
    if (tags.length) out.push(el('g', { class: 'tags' }, tags.map((q) => text(X(q.x) + 5, Y(q.y) - 5, q.tag!, { 'font-size': 9, fill: '#333' })).join('')));
  });
  return out.join('\n');
}

/** Series as the legend lists them: once per name (panels share series), in order of first appearance. */
function legendSeries(spec: ChartSpec): Series[] {
  const seen = new Map<string, Series>();
  for (const p of spec.panels) for (const s of p.series) if (!seen.has(s.name)) seen.set(s.name, s);
  return [...seen.values()];
}

/** The legend, a column to the right of the panels: series (colour, line, marker), then the extra sections. */
function renderLegend(series: readonly Series[], sections: readonly LegendSection[], x: number, y: number, colorOf: (s: Series) => string): { svg: string; width: number; height: number } {
  const rows: string[] = [];
  let yy = y + 14;
  const widths: number[] = [];
  for (const s of series) {
    const c = colorOf(s);
    const mode = s.mode ?? 'both';
    if (mode !== 'points') rows.push(el('line', { x1: x + 8, y1: yy - 4, x2: x + 28, y2: yy - 4, stroke: c, 'stroke-width': 2, 'stroke-dasharray': s.dashed ? '4 3' : undefined }));
    if (mode !== 'line') rows.push(markerSvg(s.marker ?? 'circle', x + 18, yy - 4, 3.5, c));
    rows.push(text(x + 34, yy, s.name));
    widths.push(34 + textWidth(s.name));
    yy += 16;
  }
  for (const sec of sections) {
    yy += 6;
    rows.push(text(x + 8, yy, sec.title, { 'font-weight': 'bold', fill: '#333' }));
    widths.push(8 + textWidth(sec.title) * 1.08);
    yy += 15;
    for (const it of sec.items) {
      if (it.marker) rows.push(markerSvg(it.marker, x + 18, yy - 4, 3.5, '#555'));
      if (it.tag) rows.push(text(x + 10, yy, it.tag, { 'font-size': 9, fill: '#333' }));
      rows.push(text(x + 34, yy, it.text, { 'font-size': 10 }));
      widths.push(34 + textWidth(it.text, 10));
      yy += 14;
    }
  }
  const width = Math.ceil(Math.max(80, ...widths) + 10);
  const height = yy - y;
  const box = el('rect', { x, y, width, height, fill: '#fff', stroke: '#ccc' });
  return { svg: el('g', { class: 'legend' }, [box, ...rows].join('')), width, height };
}

/** The chart as a standalone SVG document. */
export function renderChart(spec: ChartSpec): string {
  const pw = spec.panelWidth ?? 560;
  const ph = spec.panelHeight ?? 380;
  const n = spec.panels.length;
  const row = (spec.layout ?? 'row') === 'row';
  const head = spec.subtitle ? 48 : 32;
  const PW = row ? pw * n : pw;
  const colors = colorMap(spec.panels.flatMap((p) => p.series.filter((s) => !s.color).map((s) => s.name)));
  const colorOf = (s: Series) => s.color ?? colors.get(s.name)!;
  const legend = renderLegend(legendSeries(spec), spec.legendSections ?? [], PW + 4, head + 12, colorOf);
  const W = PW + legend.width + 16;
  const H = Math.max(head + (row ? ph : ph * n), head + 12 + legend.height + 12);
  const body: string[] = [
    el('rect', { width: W, height: H, fill: '#fff' }),
    text(12, 20, spec.title, { 'font-size': 15, 'font-weight': 'bold' }),
  ];
  if (spec.subtitle) body.push(text(12, 38, spec.subtitle, { fill: '#555' }));
  spec.panels.forEach((p, i) => body.push(el('g', { class: 'panel' }, renderPanel(p, row ? i * pw : 0, head + (row ? 0 : i * ph), pw, ph, colorOf))));
  body.push(legend.svg);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">\n` +
    `${body.join('\n')}\n</svg>\n`
  );
}

/**
 * Rasterise an SVG to PNG with @resvg/resvg-js (Rust resvg, prebuilt binaries on npm; no browser). Loaded on
 * demand so everything else works without it; throws a one-line reason when it is missing.
 */
export async function svgToPng(svg: string, width?: number): Promise<Uint8Array> {
  let mod: { Resvg: new (svg: string, opts: object) => { render(): { asPng(): Uint8Array } } };
  try {
    mod = (await import('@resvg/resvg-js')) as unknown as typeof mod;
  } catch (e) {
    throw new Error(`--png needs @resvg/resvg-js (npm install @resvg/resvg-js): ${(e as Error).message.split('\n')[0]}`);
  }
  const opts = { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: width ? { mode: 'width', value: width } : { mode: 'original' }, background: '#ffffff' };
  return new mod.Resvg(svg, opts).render().asPng();
}
