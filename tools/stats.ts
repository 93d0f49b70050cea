/**
 * Benchmark statistics: the median and its spread (interquartile range) over repeated timings, and the
 * warning the benchmarks print when a median is too noisy to compare. The IQR, not the standard deviation:
 * timings have a long right tail (GC, scheduler, another process on a shared core) that a few outliers would
 * let dominate the standard deviation, while the IQR only grows when the middle half of the runs disagrees.
 */

/** Relative spread (IQR / median) above which a benchmark row is flagged as noisy. */
export const HIGH_SPREAD = 0.1;

/** The q-quantile (0..1) of ascending `sorted`, interpolated linearly between ranks (NumPy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Nearest-rank q-quantile (q in [0, 1]) of unsorted `values`, null when there are none: a value that was
 * observed (latency percentiles for serving metrics and load reports), where `quantile` interpolates.
 */
export function nearestRankQuantile(values: readonly number[], q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside [0, 1]`);
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export interface Spread {
  readonly median: number;
  /** p75 − p25 */
  readonly iqr: number;
  /** iqr / median (0 when the median is 0 or there is one sample) */
  readonly relSpread: number;
  readonly samples: number;
}

export function spreadOf(values: ArrayLike<number>): Spread {
  const s = Float64Array.from(values).sort();
  const median = quantile(s, 0.5);
  const iqr = s.length > 1 ? quantile(s, 0.75) - quantile(s, 0.25) : 0;
  return { median, iqr, relSpread: median > 0 ? iqr / median : 0, samples: s.length };
}

/** "4%" (or "-" when unknown), for the tables' spread columns. */
export function percentText(rel: number): string {
  return Number.isFinite(rel) ? `${(100 * rel).toFixed(rel < 0.1 ? 1 : 0)}%` : '-';
}

/**
 * One warning line naming the rows whose relative spread exceeds HIGH_SPREAD, with what to do about it; ''
 * when every row is steady. `how` is the option that buys more samples (e.g. "--time 2000", "-r 10").
 */
export function spreadWarning(rows: readonly { readonly label: string; readonly relSpread: number }[], how: string): string {
  const noisy = rows.filter((r) => r.relSpread > HIGH_SPREAD);
  if (noisy.length === 0) return '';
  const list = noisy.slice(0, 4).map((r) => `${r.label} (${percentText(r.relSpread)})`).join(', ');
  const more = noisy.length > 4 ? ` and ${noisy.length - 4} more` : '';
  return (
    `warning: ${noisy.length} of ${rows.length} medians have an IQR above ${100 * HIGH_SPREAD}% of the median: ${list}${more}; ` +
    `these numbers are noisy: measure longer (${how}) or on a quieter machine`
  );
}
