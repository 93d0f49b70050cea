/**
 * PyTorch-style printing (torch/_tensor_str.py): `tensor([[1., 2.], [3., 4.]])`, 4 decimals or scientific
 * notation when the range calls for it, summarised with `...` above 1000 elements, and `dtype=` for
 * non-default dtypes.
 */
import { isFloating, torchName, type DType } from './dtype.js';
import { readNumber } from './elements.js';
import type { Storage } from './storage.js';

const THRESHOLD = 1000;
const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;
const PRECISION = 4;

interface Viewish {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly storage: Storage;
  readonly dtype: DType;
}

/** Nested indices to show along one dim (all, or the first and last EDGE_ITEMS when summarising). */
function shownIndices(size: number, summarize: boolean): (number | null)[] {
  if (!summarize || size <= 2 * EDGE_ITEMS) return Array.from({ length: size }, (_, i) => i);
  const head = Array.from({ length: EDGE_ITEMS }, (_, i) => i);
  const tail = Array.from({ length: EDGE_ITEMS }, (_, i) => size - EDGE_ITEMS + i);
  return [...head, null, ...tail];
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** |v| exactly as digits · 10^-scale (every finite double has a finite decimal expansion). */
function exactDecimal(v: number): { digits: bigint; scale: number } {
  f64[0] = Math.abs(v);
  const bits = u64[0]!;
  const exp = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = exp === 0 ? frac : frac | (1n << 52n);
  const q = exp === 0 ? -1074 : exp - 1075; // |v| = mant · 2^q
  return q >= 0 ? { digits: mant << BigInt(q), scale: 0 } : { digits: mant * 5n ** BigInt(-q), scale: -q };
}

/** round(|v| · 10^f), ties to even: Python's format rounds the exact binary value half-to-even, while JS's
 * toFixed/toExponential round ties away from zero (0.03125 prints 0.0312 in PyTorch, 0.0313 with toFixed). */
function scaledRound(v: number, f: number): bigint {
  const { digits, scale } = exactDecimal(v);
  if (scale <= f) return digits * 10n ** BigInt(f - scale);
  const div = 10n ** BigInt(scale - f);
  let q = digits / div;
  const twice = 2n * (digits % div);
  if (twice > div || (twice === div && (q & 1n) === 1n)) q++;
  return q;
}

/** Python's '{:.4f}'. */
function fixed(v: number): string {
  const s = scaledRound(v, PRECISION).toString().padStart(PRECISION + 1, '0');
  return `${v < 0 ? '-' : ''}${s.slice(0, -PRECISION)}.${s.slice(-PRECISION)}`;
}

/** Python's '{:.4e}'. */
function sci(v: number): string {
  let e = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(v)));
  let s = scaledRound(v, PRECISION - e).toString();
  // log10 may be one off near powers of ten, and rounding may carry into a new digit (9.99995 -> 1.0000e+01).
  if (s.length < PRECISION + 1 && v !== 0) s = scaledRound(v, PRECISION - --e).toString();
  if (s.length > PRECISION + 1) s = scaledRound(v, PRECISION - ++e).toString();
  if (s.length > PRECISION + 1) s = s.slice(0, PRECISION + 1); // carried again: 10000 -> exactly 1.0000
  s = s.padEnd(PRECISION + 1, '0');
  const exp = `${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return `${v < 0 ? '-' : ''}${s[0]}.${s.slice(1)}e${exp}`;
}

function nonFinite(v: number): string | undefined {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return undefined;
}

/**
 * Picks the number format from the values shown, as torch's _Formatter does; `width` is the column width:
 * for floats only nonzero finite values count (torch prints `tensor([nan, 0.])`, not `[nan,  0.]`).
 */
function makeFormatter(values: number[], dtype: DType): { fmt: (v: number) => string; width: number } {
  if (!isFloating(dtype)) {
    const fmt = dtype === 'bool' ? (v: number) => (v ? 'True' : 'False') : (v: number) => String(v);
    return { fmt, width: Math.max(1, ...values.map((v) => fmt(v).length)) };
  }
  const finite = values.filter((v) => Number.isFinite(v));
  const nonzero = finite.filter((v) => v !== 0).map(Math.abs);
  const intMode = finite.every((v) => Math.ceil(v) === v);
  const max = nonzero.length ? Math.max(...nonzero) : 0;
  const min = nonzero.length ? Math.min(...nonzero) : 0;
  let fmt: (v: number) => string;
  if (intMode) {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8) ? sci : (v) => `${v.toFixed(0)}.`;
  } else {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8 || min < 1e-4) ? sci : fixed;
  }
  const width = Math.max(1, ...finite.filter((v) => v !== 0).map((v) => fmt(v).length));
  return { fmt: (v) => nonFinite(v) ?? (Object.is(v, -0) ? '-' + fmt(0) : fmt(v)), width };
}

export function formatTensor(t: Viewish): string {
  const total = t.shape.reduce((a, b) => a * b, 1);
  // An empty tensor has no elements to show it is int64 or bool: torch names every dtype but float32 then.
  const defaultDType = t.dtype === 'float32' || (total > 0 && (t.dtype === 'int64' || t.dtype === 'bool'));
  const suffix: string[] = [];
  if (total === 0 && !(t.shape.length === 1 && t.shape[0] === 0)) suffix.push(`size=(${t.shape.join(', ')})`);
  if (!defaultDType) suffix.push(`dtype=${torchName(t.dtype)}`);
  const tail = suffix.length ? `, ${suffix.join(', ')}` : '';
  if (total === 0) return `tensor([]${tail})`;

  const summarize = total > THRESHOLD;
  const shown: number[] = [];
  const collect = (dim: number, off: number) => {
    if (dim === t.shape.length) {
      shown.push(readNumber(t.storage, off));
      return;
    }
    for (const i of shownIndices(t.shape[dim]!, summarize)) if (i !== null) collect(dim + 1, off + i * t.strides[dim]!);
  };
  collect(0, t.offset);
  const { fmt, width } = makeFormatter(shown, t.dtype);
  const cell = (v: number) => fmt(v).padStart(width);

  const indent0 = 'tensor('.length;
  const render = (dim: number, off: number, indent: number): string => {
    if (dim === t.shape.length) return cell(readNumber(t.storage, off));
    const idx = shownIndices(t.shape[dim]!, summarize);
    if (dim === t.shape.length - 1) {
      const items = idx.map((i) => (i === null ? ' ...' : cell(readNumber(t.storage, off + i * t.strides[dim]!))));
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return '[' + lines.join(',\n' + ' '.repeat(indent + 1)) + ']';
    }
    const sep = ',\n' + '\n'.repeat(t.shape.length - dim - 2) + ' '.repeat(indent + 1);
    const parts = idx.map((i) => (i === null ? '...' : render(dim + 1, off + i * t.strides[dim]!, indent + 1)));
    return '[' + parts.join(sep) + ']';
  };
  return `tensor(${render(0, t.offset, indent0)}${tail})`;
}
