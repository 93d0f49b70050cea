/**
 * More factories with PyTorch's names: eye, emptyLike/randLike/randnLike/randintLike (zerosLike, onesLike and
 * fullLike live in creation.ts), trilIndices/triuIndices, oneHot and multinomial.
 */
import { isFloating, type DType } from '../core/dtype.js';
import { ArgumentError, DTypeError, IndexError, ShapeError } from '../core/errors.js';
import { defaultGenerator, type Generator } from '../core/random.js';
import { formatShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { empty, fromTypedArray, rand, randint, randn, zeros, type DTypeOption, type RandomOptions } from './creation.js';
import { requireTensor, sig } from './util.js';

/** torch.eye(n, m=n): ones on the main diagonal. */
export function eye(n: number, m: number | DTypeOption = n, options: DTypeOption = {}): Tensor {
  const cols = typeof m === 'number' ? m : n;
  const opts = typeof m === 'number' ? options : m;
  for (const [name, v] of [['n', n], ['m', cols]] as const)
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`eye: ${name} must be a non-negative integer, got ${v}`);
  const out = zeros([n, cols], { dtype: opts.dtype ?? 'float32' });
  const one = Tensor.fromScalar(1);
  for (let i = 0; i < Math.min(n, cols); i++) out.narrow(0, i, 1).narrow(1, i, 1).copy_(one);
  return out;
}

export function emptyLike(t: Tensor, options: DTypeOption = {}): Tensor {
  return empty(requireTensor('emptyLike', 'input', t).shape, { dtype: options.dtype ?? t.dtype });
}

function likeFloat(op: string, t: Tensor, dtype: DType | undefined): DType {
  const d = dtype ?? t.dtype;
  if (!isFloating(d)) throw new DTypeError(`${op}: needs a floating-point dtype, got ${sig(t)} (pass { dtype: 'float32' })`);
  return d;
}

export function randLike(t: Tensor, options: RandomOptions = {}): Tensor {
  return rand(requireTensor('randLike', 'input', t).shape, { ...options, dtype: likeFloat('randLike', t, options.dtype) });
}

export function randnLike(t: Tensor, options: RandomOptions = {}): Tensor {
  return randn(requireTensor('randnLike', 'input', t).shape, { ...options, dtype: likeFloat('randnLike', t, options.dtype) });
}

/** torch.randint_like(t, low, high): integers in [low, high) with t's shape and dtype. */
export function randintLike(t: Tensor, low: number, high: number, options: RandomOptions = {}): Tensor {
  return randint(low, high, requireTensor('randintLike', 'input', t).shape, { ...options, dtype: options.dtype ?? t.dtype });
}

/** [2, N] int64 coordinates of the lower (or upper) triangle of a row × col matrix, row-major. */
function triangleIndices(op: string, row: number, col: number, offset: number, lower: boolean): Tensor {
  for (const [name, v] of [['row', row], ['col', col]] as const)
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`${op}: ${name} must be a non-negative integer, got ${v}`);
  if (!Number.isInteger(offset)) throw new ArgumentError(`${op}: offset must be an integer, got ${offset}`);
  const rs: number[] = [];
  const cs: number[] = [];
  for (let i = 0; i < row; i++)
    for (let j = 0; j < col; j++)
      if (lower ? j - i <= offset : j - i >= offset) {
        rs.push(i);
        cs.push(j);
      }
  const data = new BigInt64Array(2 * rs.length);
  rs.forEach((v, k) => (data[k] = BigInt(v)));
  cs.forEach((v, k) => (data[rs.length + k] = BigInt(v)));
  return fromTypedArray(data, [2, rs.length]);
}

/** torch.tril_indices(row, col, offset=0). */
export function trilIndices(row: number, col: number, offset = 0): Tensor {
  return triangleIndices('trilIndices', row, col, offset, true);
}

/** torch.triu_indices(row, col, offset=0). */
export function triuIndices(row: number, col: number, offset = 0): Tensor {
  return triangleIndices('triuIndices', row, col, offset, false);
}

/** F.one_hot(x, num_classes=-1): int64 x → int64 [..., numClasses]; -1 infers max(x) + 1. */
export function oneHot(x: Tensor, numClasses = -1): Tensor {
  requireTensor('oneHot', 'input', x);
  if (x.dtype !== 'int64') throw new DTypeError(`oneHot: class values must be an int64 tensor, got ${sig(x)}`);
  const vals = x.toArray() as BigInt64Array;
  let n = numClasses;
  if (n === -1) {
    if (vals.length === 0) throw new ShapeError(`oneHot: cannot infer the number of classes of an empty tensor ${formatShape(x.shape)}: pass numClasses`);
    n = Number(vals.reduce((m, v) => (v > m ? v : m), vals[0]!)) + 1;
  }
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`oneHot: numClasses must be -1 or a non-negative integer, got ${numClasses}`);
  const out = new BigInt64Array(vals.length * n);
  vals.forEach((v, i) => {
    if (v < 0n || v >= BigInt(n)) throw new IndexError(`oneHot: class value ${v} at flat index ${i} is outside [0, ${n}) (numClasses ${numClasses})`);
    out[i * n + Number(v)] = 1n;
  });
  return fromTypedArray(out, [...x.shape, n]);
}

export interface MultinomialOptions {
  readonly replacement?: boolean;
  readonly generator?: Generator;
}

/**
 * torch.multinomial(probs, numSamples, replacement=False): int64 category indices per row of a 1-D or 2-D
 * tensor of non-negative weights. Draws reproduce PyTorch 1.13's CPU algorithm from the same seed (checked
 * against its draws in test/ops_more.test.ts): without replacement the exponential trick topk(p / q),
 * q ~ Exp(1) drawn for every weight; with replacement (even for one sample) a binary search of one uniform
 * double per sample in the float32 cumulative distribution.
 */
export function multinomial(probs: Tensor, numSamples: number, options: MultinomialOptions | boolean = {}): Tensor {
  const opts = typeof options === 'boolean' ? { replacement: options } : options;
  const replacement = opts.replacement === true;
  const g = opts.generator ?? defaultGenerator;
  requireTensor('multinomial', 'input', probs);
  if (!isFloating(probs.dtype)) throw new DTypeError(`multinomial: probabilities must be a floating-point tensor, got ${sig(probs)}`);
  if (probs.ndim !== 1 && probs.ndim !== 2) throw new ShapeError(`multinomial: probabilities must be 1-D or 2-D, got shape ${formatShape(probs.shape)}`);
  if (!Number.isInteger(numSamples) || numSamples <= 0) throw new ArgumentError(`multinomial: numSamples must be a positive integer, got ${numSamples}`);
  const cats = probs.shape[probs.ndim - 1]!;
  const rows = probs.ndim === 2 ? probs.shape[0]! : 1;
  if (cats === 0) throw new ShapeError(`multinomial: the number of categories cannot be 0 (shape ${formatShape(probs.shape)})`);
  if (!replacement && numSamples > cats)
    throw new ArgumentError(`multinomial: cannot draw ${numSamples} samples from ${cats} categories without replacement`);
  const p = probs.to('float32').toArray() as Float32Array;
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cats; j++) {
      const v = p[r * cats + j]!;
      if (!(v >= 0) || v === Infinity) throw new ArgumentError(`multinomial: probability ${v} at row ${r}, category ${j} must be finite and non-negative`);
      s += v;
    }
    if (s === 0) throw new ArgumentError(`multinomial: row ${r} of ${sig(probs)} sums to zero`);
  }
  const out = new BigInt64Array(rows * numSamples);
  if (!replacement) {
    // q = p / Exp(1) in float32; the exponentials are drawn for all weights first, row-major, as exponential_ fills.
    const q = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) q[i] = Math.fround(-Math.log1p(-g.uniformF64()));
    for (let i = 0; i < p.length; i++) q[i] = p[i]! / q[i]!;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(q.subarray(r * cats, (r + 1) * cats), (v, j) => [v, j] as const);
      // Largest first; topk keeps the lower index first among equal keys.
      row.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      for (let k = 0; k < numSamples; k++) out[r * numSamples + k] = BigInt(row[k]![1]);
    }
  } else {
    const cum = new Float32Array(cats);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cats; j++) cum[j] = s = Math.fround(s + p[r * cats + j]!);
      for (let j = 0; j < cats; j++) cum[j] = cum[j]! / s;
      cum[cats - 1] = 1;
      for (let k = 0; k < numSamples; k++) {
        const u = g.uniformF64();
        let lo = 0;
        let hi = cats;
        while (hi > lo) {
          const mid = lo + ((hi - lo) >> 1);
          if (cum[mid]! < u) lo = mid + 1;
          else hi = mid;
        }
        out[r * numSamples + k] = BigInt(lo);
      }
    }
  }
  return fromTypedArray(out, probs.ndim === 2 ? [rows, numSamples] : [numSamples]);
}
