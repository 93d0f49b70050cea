/** Reductions over any set of dims, with keepdim: sum, mean, max (values and indices), argmax. */
import { dispatch, dispatchAll } from '../core/dispatcher.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { isFloating, type DType } from '../core/dtype.js';
import { defineOp } from '../core/op_def.js';
import { formatShape, normalizeDim, normalizeDims } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { UnaryInputs } from './elementwise.js';
import { keepOf, type KeepDim } from './keepdim.js';
import { requireTensor, sig } from './util.js';

export type ReduceAttrs = { readonly dims: readonly number[] | null; readonly keepdim: boolean };
export type ReduceDimAttrs = { readonly dim: number | null; readonly keepdim: boolean };

export function reducedShape(shape: readonly number[], dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (dims.includes(i)) {
      if (keepdim) out.push(1);
    } else out.push(shape[i]!);
  }
  return out;
}

function dimsOf(op: string, x: Tensor, dims: readonly number[] | null): number[] {
  return normalizeDims(op, dims ?? undefined, x.shape);
}

/** sum: integers and bools accumulate to int64, floats keep their dtype (accumulated in higher precision). */
export const Sum = defineOp<UnaryInputs, ReduceAttrs>({
  name: 'Sum',
  meta({ x }, { dims, keepdim }) {
    const d = dimsOf('sum', x, dims);
    const dtype: DType = isFloating(x.dtype) ? x.dtype : 'int64';
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype }];
  },
  flops: ({ x }) => x.numel(),
});

export const Mean = defineOp<UnaryInputs, ReduceAttrs>({
  name: 'Mean',
  meta({ x }, { dims, keepdim }) {
    if (!isFloating(x.dtype))
      throw new DTypeError(`mean: could not infer output dtype: input must be floating point, got ${sig(x)} (cast with .to('float32'))`);
    const d = dimsOf('mean', x, dims);
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype: x.dtype }];
  },
  flops: ({ x }) => x.numel(),
});

function checkNonEmpty(op: string, x: Tensor, dim: number | null): void {
  if (dim === null) {
    if (x.numel() === 0) throw new ShapeError(`${op}: ${sig(x)} is empty: specify a dim to reduce an empty tensor`);
  } else if (x.ndim > 0 && x.shape[dim] === 0) {
    throw new ShapeError(`${op}: cannot reduce over dim ${dim} of size 0 (shape ${formatShape(x.shape)})`);
  }
}

/** max over all elements (one output) or along one dim (values and int64 indices); NaN propagates. */
export const Max = defineOp<UnaryInputs, ReduceDimAttrs>({
  name: 'Max',
  meta({ x }, { dim, keepdim }) {
    if (dim === null) {
      checkNonEmpty('max', x, null);
      return [{ shape: [], dtype: x.dtype }];
    }
    const d = normalizeDim('max', dim, x.ndim, x.shape);
    checkNonEmpty('max', x, d);
    const shape = x.ndim === 0 ? [] : reducedShape(x.shape, [d], keepdim);
    return [
      { shape, dtype: x.dtype },
      { shape, dtype: 'int64' },
    ];
  },
  flops: ({ x }) => x.numel(),
});

/** Index of the first maximum (NaN counts as the maximum), over all elements (flattened) or one dim. */
export const ArgMax = defineOp<UnaryInputs, ReduceDimAttrs>({
  name: 'ArgMax',
  meta({ x }, { dim, keepdim }) {
    if (dim === null) {
      checkNonEmpty('argmax', x, null);
      return [{ shape: keepdim ? x.shape.map(() => 1) : [], dtype: 'int64' }];
    }
    const d = normalizeDim('argmax', dim, x.ndim, x.shape);
    checkNonEmpty('argmax', x, d);
    return [{ shape: x.ndim === 0 ? [] : reducedShape(x.shape, [d], keepdim), dtype: 'int64' }];
  },
  flops: ({ x }) => x.numel(),
});

const dimList = (dim: number | readonly number[] | undefined): readonly number[] | null =>
  dim === undefined ? null : typeof dim === 'number' ? [dim] : dim;

export function sum(x: Tensor, dim?: number | readonly number[], keepdim: KeepDim = false): Tensor {
  return dispatch(Sum, { x: requireTensor('sum', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

export function mean(x: Tensor, dim?: number | readonly number[], keepdim: KeepDim = false): Tensor {
  return dispatch(Mean, { x: requireTensor('mean', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: KeepDim): { values: Tensor; indices: Tensor };
export function max(x: Tensor, dim?: number, keepdim: KeepDim = false): Tensor | { values: Tensor; indices: Tensor } {
  requireTensor('max', 'input', x);
  if (dim === undefined) return dispatch(Max, { x }, { dim: null, keepdim: false });
  const [values, indices] = dispatchAll(Max, { x }, { dim, keepdim: keepOf(keepdim) }) as [Tensor, Tensor];
  return { values, indices };
}

// amax (its own op: one or several dims, NaN propagates) lives in reduce2.ts with min, amin, var, cumsum, topk.
export { amax } from './reduce2.js';

export function argmax(x: Tensor, dim?: number, keepdim: KeepDim = false): Tensor {
  return dispatch(ArgMax, { x: requireTensor('argmax', 'input', x) }, { dim: dim ?? null, keepdim: keepOf(keepdim) });
}

