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

function sci(v: number): string {
  const [m, e] = v.toExponential(PRECISION).split('e') as [string, string];
  const sign = e.startsWith('-') ? '-' : '+';
  const digits = e.replace(/^[+-]/, '').padStart(2, '0');
  return `${m}e${sign}${digits}`;
}

function nonFinite(v: number): string | undefined {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return undefined;
}

/** Picks the number format from the values shown, as torch's _Formatter does. */
function makeFormatter(values: number[], dtype: DType): (v: number) => string {
  if (dtype === 'bool') return (v) => (v ? 'True' : 'False');
  if (!isFloating(dtype)) return (v) => String(v);
  const finite = values.filter((v) => Number.isFinite(v));
  const nonzero = finite.filter((v) => v !== 0).map(Math.abs);
  const intMode = finite.every((v) => Math.ceil(v) === v);
  const max = nonzero.length ? Math.max(...nonzero) : 0;
  const min = nonzero.length ? Math.min(...nonzero) : 0;
  let fmt: (v: number) => string;
  if (intMode) {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8) ? sci : (v) => `${v.toFixed(0)}.`;
  } else {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8 || min < 1e-4) ? sci : (v) => v.toFixed(PRECISION);
  }
  return (v) => nonFinite(v) ?? (Object.is(v, -0) ? '-' + fmt(0) : fmt(v));
}

export function formatTensor(t: Viewish): string {
  const total = t.shape.reduce((a, b) => a * b, 1);
  const defaultDType = t.dtype === 'float32' || t.dtype === 'int64' || t.dtype === 'bool';
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
  const fmt = makeFormatter(shown, t.dtype);
  const width = Math.max(...shown.map((v) => fmt(v).length));
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
