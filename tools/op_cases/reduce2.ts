/**
 * Cases for min, amax/amin, argmin, var, cumsum, topk and log_softmax: any dim (negative too), several dims,
 * keepdim, non-contiguous inputs, empty and size-1 dims, NaN, half types and integers. Selections (min, amax,
 * amin, argmin, topk) and integer results are exact; float sums use the dtype's default tolerance.
 * Inputs of ops that return indices are drawn from wide ranges so that ties (whose order PyTorch leaves
 * open) do not occur.
 */
import { input, value, type Gen, type OpCase } from './spec.js';

const vals = (...values: (number | string)[]): Gen => ({ kind: 'values', values });
const wide = (low: number, high: number): Gen => ({ kind: 'randint', low, high });
const NAN_ROWS = vals(1, 'nan', 3, -2, 5, 0, 'nan', 4); // [2, 4]: a NaN in each row

const cases = (op: string, fn: string, exact: boolean, list: [string, OpCase['args'], Partial<OpCase>?][]): OpCase[] =>
  list.map(([name, args, extra]) => ({ name: `${op}/${name}`, op, fn, exact, args, ...extra }));

export const reduce2Cases: readonly OpCase[] = [
  ...cases('Min', 'min', true, [
    ['all', [input([5, 6]), value(null), value(false)]],
    ['dim1', [input([5, 6]), value(1), value(false)]],
    ['neg_dim_keepdim', [input([3, 4, 5]), value(-2), value(true)]],
    ['transposed', [input([4, 7], { layout: 'transposed' }), value(0), value(false)]],
    ['int32', [input([4, 6], { dtype: 'int32', gen: wide(-100000, 100000) }), value(1), value(false)]],
    ['int64_all', [input([7], { dtype: 'int64' }), value(null), value(false)]],
    ['float16', [input([3, 16], { dtype: 'float16' }), value(-1), value(false)]],
    ['bfloat16_all', [input([4, 8], { dtype: 'bfloat16' }), value(null), value(false)]],
    ['nan', [input([2, 4], { gen: NAN_ROWS }), value(1), value(false)]],
    ['size1_dim', [input([4, 1]), value(1), value(true)]],
    ['empty_other_dim', [input([0, 3]), value(1), value(false)]],
  ]),
  ...cases('AMax', 'amax', true, [
    ['all', [input([4, 5]), value(null), value(false)]],
    ['dims_0_2_keepdim', [input([3, 4, 5]), value([0, 2]), value(true)]],
    ['neg_dim_transposed', [input([3, 4, 5], { layout: 'transposed' }), value(-1), value(false)]],
    ['int64', [input([5, 4], { dtype: 'int64' }), value(0), value(false)]],
    ['float16', [input([4, 16], { dtype: 'float16' }), value([-1]), value(false)]],
    ['nan', [input([2, 4], { gen: NAN_ROWS }), value(1), value(false)]],
    ['bool', [input([3, 4], { dtype: 'bool' }), value(1), value(false)]],
    ['empty_other_dim', [input([0, 4]), value(1), value(true)]],
  ]),
  ...cases('AMin', 'amin', true, [
    ['all', [input([4, 5]), value(null), value(false)]],
    ['dims_1_2_strided', [input([2, 3, 4], { layout: 'strided' }), value([1, -1]), value(false)]],
    ['bfloat16', [input([3, 8], { dtype: 'bfloat16' }), value(0), value(true)]],
    ['int8', [input([6, 5], { dtype: 'int8', gen: wide(-128, 128) }), value(1), value(false)]],
    ['nan', [input([2, 4], { gen: NAN_ROWS }), value(0), value(false)]],
    ['size1_dim', [input([1, 6]), value(0), value(false)]],
  ]),
  ...cases('ArgMin', 'argmin', true, [
    ['all', [input([3, 7]), value(null), value(false)]],
    ['all_keepdim', [input([3, 7]), value(null), value(true)]],
    ['dim0_transposed', [input([6, 4], { layout: 'transposed' }), value(0), value(false)]],
    ['neg_dim_keepdim', [input([2, 3, 5]), value(-1), value(true)]],
    ['float16', [input([4, 12], { dtype: 'float16' }), value(1), value(false)]],
    ['int16', [input([5, 5], { dtype: 'int16', gen: wide(-30000, 30000) }), value(1), value(false)]],
    ['nan', [input([2, 4], { gen: NAN_ROWS }), value(1), value(false)]],
  ]),
  ...cases('Var', 'var', false, [
    ['all_unbiased', [input([4, 5]), value(null), value(true), value(false)]],
    ['dim1_biased', [input([4, 5]), value(1), value(false), value(false)]],
    ['dims_keepdim_transposed', [input([3, 4, 5], { layout: 'transposed' }), value([0, -1]), value(true), value(true)]],
    ['correction_2', [input([6, 8]), value(-1), value(2), value(false)]],
    ['correction_0_strided', [input([5, 6], { layout: 'strided' }), value(0), value(0), value(true)]],
    // Values near 1000 with spread 1: a one-pass E[x²] - E[x]² would lose most digits in float32.
    ['large_mean', [input([4, 64], { gen: { kind: 'rand', low: 1000, high: 1001 } }), value(-1), value(true), value(false)]],
    ['single_element_nan', [input([3, 1]), value(1), value(true), value(false)]],
    ['empty_dim_nan', [input([2, 0]), value(1), value(true), value(false)]],
    ['float16', [input([4, 32], { dtype: 'float16' }), value(1), value(true), value(false)]],
    ['bfloat16', [input([4, 32], { dtype: 'bfloat16' }), value(1), value(true), value(false)]],
  ]),
  ...cases('CumSum', 'cumsum', false, [
    ['dim0', [input([5, 4]), value(0)]],
    ['neg_dim_transposed', [input([4, 6], { layout: 'transposed' }), value(-1)]],
    ['3d_middle', [input([2, 5, 3]), value(1)]],
    ['int32_to_int64', [input([3, 7], { dtype: 'int32', gen: wide(-1000, 1000) }), value(1)], { exact: true }],
    ['bool_to_int64', [input([10], { dtype: 'bool' }), value(0)], { exact: true }],
    ['int64', [input([2, 9], { dtype: 'int64', gen: wide(-1000000, 1000000) }), value(-1)], { exact: true }],
    ['dtype_int8_wraps', [input([8], { dtype: 'int8', gen: wide(50, 127) }), value(0), value('int8')], { exact: true }],
    ['dtype_float32_from_int', [input([6], { dtype: 'int32' }), value(0), value('float32')]],
    ['float16', [input([4, 32], { dtype: 'float16' }), value(1)]],
    ['bfloat16', [input([3, 16], { dtype: 'bfloat16' }), value(-1)]],
    ['size1_dim', [input([1, 5]), value(0)]],
    ['0dim', [input([]), value(0)]],
    ['empty', [input([0, 3]), value(0)]],
    // A running sum over 64 elements: float32 (ORT) and double (cpu) accumulation part by ~64·ε absolute.
    ['large_4096x64', [input([4096, 64]), value(-1)], { tags: ['bench'], tol: { rtol: 1e-4, atol: 1e-5 } }],
  ]),
  ...cases('TopK', 'topk', true, [
    ['last_k3', [input([4, 10]), value(3), value(-1), value(true), value(true)]],
    ['dim0_smallest', [input([6, 4]), value(2), value(0), value(false), value(true)]],
    ['k_equals_size', [input([3, 7]), value(7), value(1), value(true), value(true)]],
    ['k0', [input([3, 5]), value(0), value(-1), value(true), value(true)]],
    ['transposed_middle_dim', [input([2, 6, 5], { layout: 'transposed' }), value(2), value(1), value(true), value(true)]],
    ['int32', [input([4, 9], { dtype: 'int32', gen: wide(-1000000, 1000000) }), value(4), value(1), value(true), value(true)]],
    ['int64_smallest', [input([12], { dtype: 'int64', gen: wide(-1000000, 1000000) }), value(5), value(0), value(false), value(true)]],
    ['float16', [input([3, 20], { dtype: 'float16', gen: { kind: 'rand', low: -100, high: 100 } }), value(5), value(-1), value(true), value(true)]],
    ['bfloat16_smallest', [input([2, 16], { dtype: 'bfloat16', gen: { kind: 'rand', low: -1000, high: 1000 } }), value(3), value(-1), value(false), value(true)]],
    ['nan_largest', [input([2, 4], { gen: NAN_ROWS }), value(3), value(-1), value(true), value(true)]],
    ['nan_smallest', [input([2, 4], { gen: NAN_ROWS }), value(4), value(1), value(false), value(true)]],
    ['size1_dim', [input([5, 1]), value(1), value(1), value(true), value(true)]],
    ['empty_rows', [input([0, 4]), value(2), value(1), value(true), value(true)]],
    ['large_64x4096_k8', [input([64, 4096]), value(8), value(-1), value(true), value(true)], { tags: ['bench'] }],
  ]),
  ...cases('LogSoftmax', 'log_softmax', false, [
    ['last', [input([4, 10]), value(-1)]],
    ['dim0', [input([5, 3, 4]), value(0)]],
    ['large_magnitude', [input([3, 16], { gen: { kind: 'rand', low: -1000, high: 1000 } }), value(1)]],
    ['transposed', [input([6, 9], { layout: 'transposed' }), value(-1)]],
    ['float16', [input([4, 32], { dtype: 'float16', gen: { kind: 'rand', low: -8, high: 8 } }), value(-1)]],
    ['bfloat16', [input([4, 32], { dtype: 'bfloat16', gen: { kind: 'rand', low: -8, high: 8 } }), value(-1)]],
    ['size1_dim', [input([4, 1]), value(1)]],
    ['empty', [input([0, 5]), value(1)]],
    ['large_4096x64', [input([4096, 64]), value(-1)], { tags: ['bench'] }],
  ]),
];
