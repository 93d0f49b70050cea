/**
 * Fused ops: one pass over memory for a pattern the models run in every layer. Each is defined as exactly the
 * composition it replaces (the decomposition below), so a backend without a kernel still runs it, and every
 * kernel is tested against that composition's rounding.
 */
import { dispatch } from '../core/dispatcher.js';
import { resultType } from '../core/dtype.js';
import { defineOp } from '../core/op_def.js';
import { broadcastShapes } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { mul, silu, type BinaryInputs, type NoAttrs } from './elementwise.js';
import { requireFloat, requireTensor } from './util.js';

/**
 * silu(a)·b, Llama's MLP gate (`down(silu(gate(x)) * up(x))`): silu rounds to a's dtype, then the product
 * follows mul's broadcasting and type promotion, as the two ops do.
 */
export const SiluMul = defineOp<BinaryInputs, NoAttrs>({
  name: 'SiluMul',
  meta({ a, b }) {
    requireFloat('silu_mul', a);
    return [{ shape: broadcastShapes('silu_mul', a.shape, b.shape), dtype: resultType([a, b]) }];
  },
  decompose: ({ a, b }) => [mul(silu(a), b)],
  // silu's 4 per element, and the product
  flops: (_i, _a, outs) => 5 * outs[0]!.shape.reduce((p, d) => p * d, 1),
});

/** silu(a) * b in one op (a must be floating point; b broadcasts against it as in mul). */
export function siluMul(a: Tensor, b: Tensor): Tensor {
  return dispatch(SiluMul, { a: requireTensor('silu_mul', 'a', a), b: requireTensor('silu_mul', 'b', b) }, {});
}
