/** Contiguous raw copies for kernels that want plain rows (reductions, cat, matmul packing). */
import { allocStorage, type DType, type StorageArray } from '../../../core/dtype.js';
import { Storage } from '../../../core/storage.js';
import { Tensor } from '../../../core/tensor.js';
import { runLoop } from '../loops.js';
import { castInto } from './cast.js';

/** The tensor's elements in row-major order, same dtype; a zero-copy subarray when already contiguous. */
export function gather(t: Tensor): StorageArray {
  const n = t.numel;
  const data = t.storage.data;
  if (t.isContiguous()) return data.subarray(t.offset, t.offset + n) as StorageArray;
  const out = allocStorage(t.dtype, n);
  runLoop('a', out, t.shape, [{ data, offset: t.offset, strides: t.strides }]);
  return out;
}

/** The tensor's elements in row-major order converted to `dtype` (a cast, with PyTorch's rules). */
export function materialize(t: Tensor, dtype: DType): StorageArray {
  if (t.dtype === dtype) return gather(t);
  const out = new Tensor(new Storage(allocStorage(dtype, t.numel), dtype), t.shape);
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
