/**
 * Ordering and indexing cases: sort/argsort, flip, roll, scatter family (out of place and in place), take_along_dim,
 * masked_select, where(cond). All exact except float scatter_add/index_add (sums). Scatter indices without
 * duplicates come from explicit values, since PyTorch leaves the winner of duplicate writes unspecified.
 */
import type { DType } from '../../core/index.js';
import { input, scalar, value, type InputSpec, type OpCase } from './spec.js';

const idx = (shape: number[], size: number, opts: Omit<InputSpec, 'shape' | 'gen'> = {}) =>
  input(shape, { dtype: 'int64', gen: { kind: 'randint', low: 0, high: size }, ...opts });
const vals = (shape: number[], values: (number | string)[], dtype: DType = 'int64') => input(shape, { dtype, gen: { kind: 'values', values } });
const ex = (op: string, fn: string, list: [string, OpCase['args']][]): OpCase[] => list.map(([name, args]) => ({ name: `${op}/${name}`, op, fn, exact: true, args }));

export const orderingCases: readonly OpCase[] = [
  ...ex('Sort', 'sort', [
    ['last_dim', [input([4, 7]), value(-1), value(false), value(false)]],
    ['dim0_descending', [input([5, 3]), value(0), value(true), value(false)]],
    ['ties_stable', [input([3, 8], { dtype: 'int32', gen: { kind: 'randint', low: 0, high: 3 } }), value(1), value(false), value(true)]],
    ['ties_stable_descending', [input([2, 9], { dtype: 'int64', gen: { kind: 'randint', low: -2, high: 2 } }), value(-1), value(true), value(true)]],
    ['nan_inf', [vals([7], [3, 'nan', -1, 'inf', 0, '-inf', 'nan'], 'float32'), value(0), value(false), value(true)]],
    ['nan_descending', [vals([6], [1, 'nan', -2, 5, 'nan', 1], 'float32'), value(0), value(true), value(true)]],
    ['transposed_float16', [input([4, 6], { dtype: 'float16', layout: 'transposed' }), value(1), value(false), value(true)]],
    ['bfloat16_3d', [input([2, 5, 3], { dtype: 'bfloat16' }), value(1), value(true), value(true)]],
    ['uint8', [input([10], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 255 } }), value(0), value(false), value(true)]],
    ['0d', [input([]), value(0), value(false), value(false)]],
    ['empty', [input([0, 3]), value(0), value(false), value(false)]],
  ]),
  ...ex('Sort', 'argsort', [['argsort_descending', [input([3, 6], { dtype: 'int32', gen: { kind: 'randint', low: 0, high: 4 } }), value(1), value(true)]]]),
  ...ex('Flip', 'flip', [
    ['one_dim', [input([3, 4]), value([0])]],
    ['two_dims_neg', [input([2, 3, 4]), value([-1, 0])]],
    ['strided_bfloat16', [input([3, 5], { dtype: 'bfloat16', layout: 'strided' }), value([1])]],
    ['int64_transposed', [input([4, 3], { dtype: 'int64', layout: 'transposed' }), value([0, 1])]],
    ['empty', [input([0, 2]), value([0])]],
  ]),
  ...ex('Roll', 'roll', [
    ['flat', [input([3, 4]), value(5), value(null)]],
    ['dim_negative_shift', [input([3, 4]), value(-1), value(1)]],
    ['two_dims', [input([2, 3, 4], { dtype: 'int32' }), value([1, -2]), value([0, 2])]],
    ['shift_beyond_size', [input([5], { layout: 'strided' }), value(12), value(0)]],
    ['empty', [input([0, 3]), value(2), value(1)]],
  ]),
  ...ex('Scatter', 'scatter', [
    ['dim0_src', [input([3, 4]), value(0), vals([2, 4], [2, 0, 1, 2, 0, 1, 2, 1]), input([2, 5])]],
    ['dim1_value', [input([3, 5]), value(1), vals([3, 2], [4, 0, 1, 3, 2, 2]), scalar(-7.5)]],
    ['transposed_src_int32', [input([4, 4], { dtype: 'int32' }), value(1), vals([2, 3], [3, 1, 0, 0, 2, 3]), input([3, 3], { dtype: 'int32', layout: 'transposed' })]],
    ['bfloat16', [input([2, 6], { dtype: 'bfloat16' }), value(-1), vals([2, 2], [5, 0, 1, 4]), input([2, 2], { dtype: 'bfloat16' })]],
    ['empty_index', [input([2, 3]), value(0), vals([0, 3], []), input([1, 3])]],
  ]),
  ...ex('Scatter', 'scatter_inplace', [['inplace', [input([3, 4]), value(1), vals([3, 1], [3, 0, 2]), scalar(9)]]]),
  { name: 'Scatter/add_float', op: 'Scatter', fn: 'scatter_add', args: [input([3, 4]), value(1), idx([3, 6], 4), input([3, 6])] },
  { name: 'Scatter/add_int64_dup', op: 'Scatter', fn: 'scatter_add', exact: true, args: [input([2, 5], { dtype: 'int64' }), value(0), idx([4, 5], 2), input([4, 5], { dtype: 'int64' })] },
  { name: 'Scatter/add_inplace_int32', op: 'Scatter', fn: 'scatter_add_inplace', exact: true, args: [input([3, 3], { dtype: 'int32' }), value(1), idx([3, 4], 3), input([3, 4], { dtype: 'int32' })] },
  { name: 'Scatter/add_float16', op: 'Scatter', fn: 'scatter_add', args: [input([4], { dtype: 'float16' }), value(0), idx([8], 4), input([8], { dtype: 'float16' })] },
  { name: 'IndexPut/add', op: 'IndexPut', fn: 'index_add', args: [input([5, 3]), value(0), idx([4], 5), input([4, 3]), value(1)] },
  { name: 'IndexPut/add_alpha_dim1', op: 'IndexPut', fn: 'index_add', args: [input([2, 4]), value(1), idx([3], 4), input([2, 3], { layout: 'strided' }), value(2.5)] },
  { name: 'IndexPut/add_int32_index_int', op: 'IndexPut', fn: 'index_add', exact: true, args: [input([4, 2], { dtype: 'int32' }), value(0), idx([5], 4, { dtype: 'int32' }), input([5, 2], { dtype: 'int32' }), value(3)] },
  { name: 'IndexPut/add_inplace', op: 'IndexPut', fn: 'index_add_inplace', args: [input([3, 3]), value(-1), idx([2], 3), input([3, 2]), value(1)] },
  ...ex('IndexPut', 'index_copy', [
    ['dim0', [input([5, 2]), value(0), vals([3], [4, 0, 2]), input([3, 2])]],
    ['dim1_bfloat16', [input([2, 4], { dtype: 'bfloat16' }), value(1), vals([2], [3, 1]), input([2, 2], { dtype: 'bfloat16', layout: 'transposed' })]],
  ]),
  ...ex('IndexPut', 'index_copy_inplace', [['inplace', [input([4]), value(0), vals([2], [1, 3]), input([2])]]]),
  ...ex('TakeAlongDim', 'take_along_dim', [
    ['dim1', [input([3, 5]), idx([3, 2], 5), value(1)]],
    ['broadcast', [input([1, 4, 3]), idx([2, 1, 3], 4), value(1)]],
    ['flat', [input([3, 4]), idx([5], 12), value(null)]],
    ['argsort_gather_transposed', [input([4, 3], { layout: 'transposed' }), idx([4, 3], 4), value(0)]],
  ]),
  ...ex('MaskedSelect', 'masked_select', [
    ['same_shape', [input([3, 4]), input([3, 4], { dtype: 'bool' })]],
    ['broadcast_mask', [input([2, 3, 4]), input([4], { dtype: 'bool' })]],
    ['mask_broadcasts_input', [input([1, 4], { dtype: 'int64' }), input([3, 1], { dtype: 'bool' })]],
    ['strided', [input([3, 5], { layout: 'strided' }), input([3, 5], { dtype: 'bool', layout: 'transposed' })]],
    ['empty', [input([0, 2]), input([2], { dtype: 'bool' })]],
  ]),
  ...ex('MaskedSelect', 'where_cond', [
    ['2d', [input([3, 4], { dtype: 'bool' })]],
    ['3d_strided', [input([2, 3, 4], { dtype: 'bool', layout: 'strided' })]],
    ['int_condition', [input([5], { dtype: 'int32', gen: { kind: 'randint', low: 0, high: 2 } })]],
  ]),
];
