/**
 * Fused ops (ops/fused.ts): SiluMul = silu(a)·b, Llama's MLP gate. Same shapes as the model (gate and up of one
 * token and of a prompt), broadcasting and strided operands (the cpu kernel and the decomposition take any
 * layout), half dtypes (the decomposition), and special values where silu's exp overflows or is NaN.
 */
import type { OpCase } from './spec.js';
import { input } from './spec.js';

const GATE = { kind: 'rand', low: -8, high: 8 } as const;
const SPECIAL = { kind: 'values', values: ['nan', 'inf', '-inf', -100, 100, -88.5, 88.5, -20, 20, 0, -0.5, 3] } as const;

export const fusedCases: readonly OpCase[] = [
  { name: 'SiluMul/6x7', op: 'SiluMul', fn: 'silu_mul', args: [input([6, 7], { gen: GATE }), input([6, 7])] },
  { name: 'SiluMul/decode_1x1x173', op: 'SiluMul', fn: 'silu_mul', args: [input([1, 1, 173], { gen: GATE }), input([1, 1, 173], { gen: GATE })] },
  { name: 'SiluMul/row_broadcast', op: 'SiluMul', fn: 'silu_mul', args: [input([5, 24], { gen: GATE }), input([24])] },
  { name: 'SiluMul/broadcast_a', op: 'SiluMul', fn: 'silu_mul', args: [input([24], { gen: GATE }), input([3, 24])] },
  { name: 'SiluMul/transposed', op: 'SiluMul', fn: 'silu_mul', args: [input([4, 9], { gen: GATE, layout: 'transposed' }), input([4, 9], { layout: 'strided' })] },
  { name: 'SiluMul/special', op: 'SiluMul', fn: 'silu_mul', args: [input([12], { gen: SPECIAL }), input([12], { gen: { kind: 'values', values: [1, 2, 1, -1, 0.5, 2, 1, 1, -3, 1, 4, 'inf'] } })] },
  { name: 'SiluMul/float16', op: 'SiluMul', fn: 'silu_mul', args: [input([16], { dtype: 'float16', gen: GATE }), input([16], { dtype: 'float16' })] },
  // silu rounds to bfloat16 before the float32 product: one bfloat16 rounding step apart where silu lands near a tie
  { name: 'SiluMul/bf16_f32', op: 'SiluMul', fn: 'silu_mul', args: [input([16], { dtype: 'bfloat16', gen: GATE }), input([16])], tol: { rtol: 1.6e-2, atol: 1e-2 } },
  { name: 'SiluMul/large_4096x64', op: 'SiluMul', fn: 'silu_mul', args: [input([4096, 64], { gen: GATE }), input([4096, 64])], tags: ['bench'] },
];
