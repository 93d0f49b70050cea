/** Neural-network composites. Each has a decomposition into primitives; backends may register fused kernels. */
import { dispatch } from '../core/dispatcher.js';
import { defineOp } from '../core/op_def.js';
import { normalizeDim } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { div, exp, sub, type UnaryInputs } from './elementwise.js';
import { amax, sum } from './reduce.js';
import { requireFloat, requireTensor } from './util.js';

export type SoftmaxAttrs = { readonly dim: number };

/** Numerically stable softmax along any dim: exp(x - max) / sum(exp(x - max)). */
export const Softmax = defineOp<UnaryInputs, SoftmaxAttrs>({
  name: 'Softmax',
  meta({ x }, { dim }) {
    requireFloat('softmax', x);
    normalizeDim('softmax', dim, x.ndim, x.shape);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x }, { dim }) {
    if (x.numel === 0) return [x.clone()];
    const e = exp(sub(x, amax(x, dim, true)));
    return [div(e, sum(e, dim, true))];
  },
  flops: ({ x }) => 5 * x.numel,
});

export function softmax(x: Tensor, dim: number): Tensor {
  return dispatch(Softmax, { x: requireTensor('softmax', 'input', x) }, { dim });
}
