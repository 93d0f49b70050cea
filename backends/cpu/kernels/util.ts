/** Contiguous raw copies for kernels that want plain rows (reductions, cat, matmul packing). */
import { allocStorage, type DType, type StorageArray } from '../../../core/dtype.js';
import { encodeHalf } from '../../../core/half.js';
import { contiguousStrides, normalizeDim } from '../../../core/shape.js';
import { Storage } from '../../../core/storage.js';
import { Tensor } from '../../../core/tensor.js';
import { runLoop } from '../loops.js';
import { castInto } from './cast.js';

/** The tensor's elements in row-major order, same dtype; a zero-copy subarray when already contiguous. */
export function gather(t: Tensor): StorageArray {
  const n = t.numel();
  const data = t.storage.data;
  if (t.isContiguous()) return data.subarray(t.offset, t.offset + n) as StorageArray;
  const out = allocStorage(t.dtype, n);
  runLoop('a', out, t.shape, [{ data, offset: t.offset, strides: t.strides }]);
  return out;
}

/** The tensor's elements in row-major order converted to `dtype` (a cast, with PyTorch's rules). */
export function materialize(t: Tensor, dtype: DType): StorageArray {
  if (t.dtype === dtype) return gather(t);
  const out = new Tensor(new Storage(allocStorage(dtype, t.numel()), dtype), t.shape);
  castInto(t, out);
  return out.storage.data;
}

/** Pre/along/post sizes of a contiguous shape around one dim: element (p, k, q) is at (p·n + k)·post + q. */
export function around(shape: readonly number[], dim: number): { pre: number; n: number; post: number } {
  let pre = 1;
  let post = 1;
  for (let i = 0; i < dim; i++) pre *= shape[i]!;
  for (let i = dim + 1; i < shape.length; i++) post *= shape[i]!;
  return { pre, n: shape.length ? shape[dim]! : 1, post };
}

/** x with the reduced dims moved last, so each output element owns one contiguous row of `r` inputs. */
export function rowsView(x: Tensor, dims: readonly number[]): { view: Tensor; r: number } {
  // A 0-dim tensor reduced over "dim 0" is one row of one element (its dims list names no real dim).
  if (x.ndim === 0) return { view: x, r: 1 };
  const kept = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  let r = 1;
  for (const d of dims) r *= x.shape[d]!;
  return { view: x.permute([...kept, ...dims]), r };
}

/** Write float32 results into out, rounding to its dtype (nothing to do when they already are out's storage). */
export function writeFloat(out: Tensor, values: Float32Array): void {
  if (values === out.storage.data) return;
  if (out.dtype === 'float32') (out.storage.data as Float32Array).set(values);
  else encodeHalf(values, out.storage.data as Uint16Array, out.dtype as 'float16' | 'bfloat16');
}

/**
 * Run `row(src, base, n, res)` over every row along `dim` (softmax-like ops whose output has the input's shape):
 * the dim is moved last and gathered as float32 rows, results land straight in a float32 output when the dim is
 * already last, and are otherwise written back through the swapped strides and rounded to out's dtype.
 */
export function mapRowsAlong(
  op: string,
  x: Tensor,
  dim: number,
  out: Tensor,
  row: (src: Float32Array, base: number, n: number, res: Float32Array) => void,
): void {
  if (x.numel() === 0) return;
  const d = normalizeDim(op, dim, x.ndim, x.shape);
  const last = x.ndim === 0 ? 0 : x.ndim - 1;
  const view = x.ndim === 0 ? x : x.transpose(d, last);
  const src = materialize(view, 'float32') as Float32Array;
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  const res = d === last && out.dtype === 'float32' ? (out.storage.data as Float32Array) : new Float32Array(src.length);
  for (let base = 0; base < src.length; base += n) row(src, base, n, res);
  if (d === last) return writeFloat(out, res);
  // res is laid out as x.transpose(d, last) (contiguous); read it back through the swapped strides.
  const strides = contiguousStrides(view.shape);
  [strides[d], strides[last]] = [strides[last]!, strides[d]!];
  const tmp = new Float32Array(res.length);
  runLoop('a', tmp, x.shape, [{ data: res, offset: 0, strides }]);
  writeFloat(out, tmp);
}
