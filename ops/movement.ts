/**
 * Ops that move data: cat and stack. (Views — reshape, permute, narrow, slice, expand — are Tensor methods
 * that only change metadata and never reach the dispatcher; contiguous() copies via the Contiguous op.)
 */
import { dispatch } from '../core/dispatcher.js';
import { ShapeError } from '../core/errors.js';
import { resultType } from '../core/dtype.js';
import { defineOp } from '../core/op_def.js';
import { formatShape, normalizeDim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { requireTensor } from './util.js';

export type CatInputs = { readonly tensors: readonly Tensor[] };
export type CatAttrs = { readonly dim: number };

/** PyTorch still skips legacy empty 1-d tensors of shape [0] in cat, whatever the other shapes. */
function isLegacyEmpty(t: Tensor): boolean {
  return t.ndim === 1 && t.shape[0] === 0;
}

export const Cat = defineOp<CatInputs, CatAttrs>({
  name: 'Cat',
  meta({ tensors }, { dim }) {
    if (tensors.length === 0) throw new ShapeError('cat: expected a non-empty list of tensors');
    const dtype = resultType(tensors.map((t) => ({ dtype: t.dtype, ndim: Math.max(t.ndim, 1), isWrappedNumber: false })));
    const shaped = tensors.filter((t) => !isLegacyEmpty(t));
    if (shaped.length === 0) return [{ shape: [0], dtype }];
    const ref = shaped[0]!;
    if (ref.ndim === 0) throw new ShapeError('cat: zero-dimensional tensors cannot be concatenated; use stack');
    const d = normalizeDim('cat', dim, ref.ndim, ref.shape);
    const shape = [...ref.shape];
    shape[d] = 0;
    tensors.forEach((t, i) => {
      if (isLegacyEmpty(t)) return;
      if (t.ndim !== ref.ndim)
        throw new ShapeError(`cat: tensors must have the same number of dims: tensor 0 has ${formatShape(ref.shape)}, tensor ${i} has ${formatShape(t.shape)}`);
      for (let k = 0; k < t.ndim; k++) {
        if (k !== d && t.shape[k] !== ref.shape[k])
          throw new ShapeError(
            `cat: sizes must match except in dim ${d}: tensor 0 has ${formatShape(ref.shape)} but tensor ${i} has ${formatShape(t.shape)} (dim ${k})`,
          );
      }
      shape[d]! += t.shape[d]!;
    });
    return [{ shape, dtype }];
  },
  flops: () => 0,
});

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors)) throw new ShapeError('cat: expected an array of tensors');
  tensors.forEach((t, i) => requireTensor('cat', `tensors[${i}]`, t));
  return dispatch(Cat, { tensors }, { dim });
}

/** Join tensors of equal shape along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ShapeError('stack: expected a non-empty list of tensors');
  tensors.forEach((t, i) => requireTensor('stack', `tensors[${i}]`, t));
  const ref = tensors[0]!;
  tensors.forEach((t, i) => {
    if (t.shape.length !== ref.shape.length || t.shape.some((s: number, k: number) => s !== ref.shape[k]))
      throw new ShapeError(`stack: all tensors must have the same shape: tensor 0 has ${formatShape(ref.shape)}, tensor ${i} has ${formatShape(t.shape)}`);
  });
  const n = ref.ndim + 1;
  if (!Number.isInteger(dim) || dim < -n || dim >= n) throw new ShapeError(`stack: dim ${dim} is out of range [${-n}, ${n - 1}]`);
  return cat(
    tensors.map((t) => t.unsqueeze(dim)),
    dim,
  );
}
