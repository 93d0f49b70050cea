/** MatMul and Linear cases: every PyTorch matmul form, odd sizes, transposed operands, half types. */
import { input, value, type OpCase } from './spec.js';

/**
 * Long dot products (K in the hundreds or thousands) summed in a different order — float32 blocked sums in
 * MLAS or WASM SIMD, double in the cpu backend — differ by about √K·ε relative to Σ|a·b|, so results that
 * cancel to small values need an absolute bound.
 */
export const GEMM_TOL = { rtol: 1e-4, atol: 1e-4 };

const mm = (name: string, a: Parameters<typeof input>, b: Parameters<typeof input>, tags?: string[]): OpCase => ({
  name: `MatMul/${name}`,
  op: 'MatMul',
  fn: 'matmul',
  args: [input(...a), input(...b)],
  tags,
  ...(tags?.includes('bench') ? { tol: GEMM_TOL } : {}),
});

export const linalgCases: readonly OpCase[] = [
  mm('dot_1d', [[17]], [[17]]),
  mm('vec_mat', [[9]], [[9, 5]]),
  mm('mat_vec', [[6, 9]], [[9]]),
  mm('2d_odd', [[7, 13]], [[13, 11]]),
  mm('2d_transposed_b', [[5, 16]], [[16, 12], { layout: 'transposed' }]),
  mm('2d_transposed_a', [[5, 16], { layout: 'transposed' }], [[16, 12]]),
  mm('batched_broadcast', [[2, 1, 4, 6]], [[3, 6, 5]]),
  mm('batched_vec', [[3, 4, 6]], [[6]]),
  mm('float16', [[4, 32], { dtype: 'float16' }], [[32, 8], { dtype: 'float16' }]),
  mm('bfloat16', [[4, 32], { dtype: 'bfloat16' }], [[32, 8], { dtype: 'bfloat16' }]),
  mm('empty_k', [[3, 0]], [[0, 4]]),
  { ...mm('int32', [[3, 5], { dtype: 'int32' }], [[5, 4], { dtype: 'int32' }]), exact: true },
  mm('gemm_128x256x256', [[128, 256]], [[256, 256]], ['bench']),
  mm('gemv_1x1024x1024', [[1, 1024]], [[1024, 1024]], ['bench']),
  { name: 'Linear/bias', op: 'Linear', fn: 'linear', args: [input([4, 10]), input([6, 10], { constant: true }), input([6], { constant: true })] },
  { name: 'Linear/no_bias_3d', op: 'Linear', fn: 'linear', args: [input([2, 3, 10]), input([7, 10], { constant: true }), value(null)] },
  { name: 'Linear/decode_m1', op: 'Linear', fn: 'linear', args: [input([1, 64]), input([96, 64], { constant: true }), input([96])] },
  { name: 'Linear/transposed_weight', op: 'Linear', fn: 'linear', args: [input([5, 12]), input([8, 12], { layout: 'transposed' }), value(null)] },
  { name: 'Linear/bfloat16', op: 'Linear', fn: 'linear', args: [input([3, 32], { dtype: 'bfloat16' }), input([16, 32], { dtype: 'bfloat16' }), input([16], { dtype: 'bfloat16' })] },
  { name: 'Linear/prefill_128x512x512', op: 'Linear', fn: 'linear', tol: GEMM_TOL, args: [input([128, 512]), input([512, 512], { constant: true }), input([512])], tags: ['bench'] },
  { name: 'Linear/decode_1x2048x2048', op: 'Linear', fn: 'linear', tol: GEMM_TOL, args: [input([1, 2048]), input([2048, 2048], { constant: true }), value(null)], tags: ['bench'] },
];
