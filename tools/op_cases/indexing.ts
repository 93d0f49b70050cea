/**
 * Indexing and movement cases: split/chunk (views), repeat, index_select, gather, embedding, masked_fill,
 * tril/triu. Every case is exact: these ops only move (or fill) stored elements. Index inputs are drawn with
 * randint inside the indexed dim's range.
 */
import type { DType } from '../../core/index.js';
import { input, scalar, value, type InputSpec, type OpCase } from './spec.js';

/** An index tensor of `shape` with values in [0, size). */
const idx = (shape: number[], size: number, dtype: DType = 'int64', opts: Omit<InputSpec, 'shape' | 'dtype' | 'gen'> = {}) =>
  input(shape, { dtype, gen: { kind: 'randint', low: 0, high: size }, ...opts });
const mask = (shape: number[], opts: Omit<InputSpec, 'shape' | 'dtype'> = {}) => input(shape, { dtype: 'bool', ...opts });

const cases = (op: string, fn: string, list: [string, OpCase['args']][]): OpCase[] =>
  list.map(([name, args]) => ({ name: `${op}/${name}`, op, fn, exact: true, args }));

export const indexingCases: readonly OpCase[] = [
  ...cases('Split', 'split', [
    ['int_dim0', [input([5, 3]), value(2), value(0)]],
    ['sizes_neg_dim', [input([4, 6]), value([1, 3, 2]), value(-1)]],
    ['transposed', [input([4, 6], { layout: 'transposed' }), value(4), value(1)]],
    ['size_beyond_dim', [input([2, 5], { dtype: 'bfloat16' }), value(8), value(1)]],
    ['int64_with_empty_piece', [input([3, 2], { dtype: 'int64' }), value([2, 0, 1]), value(0)]],
    ['empty_dim', [input([0, 3]), value(2), value(0)]],
  ]),
  ...cases('Chunk', 'chunk', [
    ['even', [input([6, 4]), value(3), value(0)]],
    ['uneven_neg_dim', [input([3, 5]), value(3), value(-1)]],
    ['fewer_pieces', [input([6]), value(5), value(0)]],
    ['strided_float16', [input([4, 6], { dtype: 'float16', layout: 'strided' }), value(2), value(1)]],
    ['empty_dim', [input([0, 2]), value(3), value(0)]],
  ]),
  ...cases('Repeat', 'repeat', [
    ['2d', [input([2, 3]), value([2, 3])]],
    ['new_leading_dims', [input([3]), value([2, 1, 2])]],
    ['transposed', [input([3, 4], { layout: 'transposed' }), value([1, 2])]],
    ['zero', [input([2, 3]), value([0, 2])]],
    ['0dim_int64', [input([], { dtype: 'int64' }), value([3])]],
    ['bfloat16', [input([2, 2], { dtype: 'bfloat16' }), value([2, 1, 1])]],
    ['bool', [input([2, 3], { dtype: 'bool' }), value([1, 2])]],
  ]),
  ...cases('IndexSelect', 'index_select', [
    ['dim0', [input([5, 3]), value(0), idx([4], 5)]],
    ['neg_dim_int32_index', [input([3, 6]), value(-1), idx([7], 6, 'int32')]],
    ['transposed_3d', [input([2, 4, 3], { layout: 'transposed' }), value(1), idx([2], 4)]],
    ['strided_index', [input([6, 2]), value(0), idx([3], 6, 'int64', { layout: 'strided' })]],
    ['0d_index', [input([3, 4]), value(0), idx([], 3)]],
    ['empty_index', [input([3, 4]), value(1), idx([0], 4)]],
    ['float16', [input([4, 5], { dtype: 'float16' }), value(0), idx([6], 4)]],
    ['int32_values', [input([5, 2], { dtype: 'int32' }), value(0), idx([3], 5)]],
  ]),
  ...cases('Gather', 'gather', [
    ['dim0', [input([4, 3]), value(0), idx([2, 3], 4)]],
    ['neg_dim_wider_index', [input([3, 4]), value(-1), idx([3, 6], 4)]],
    ['smaller_index_3d', [input([3, 4, 5]), value(1), idx([2, 3, 4], 4)]],
    ['noncontiguous', [input([4, 5], { layout: 'transposed' }), value(1), idx([4, 2], 5, 'int64', { layout: 'strided' })]],
    ['bfloat16', [input([3, 8], { dtype: 'bfloat16' }), value(1), idx([3, 4], 8)]],
    ['int64_values', [input([4, 4], { dtype: 'int64', gen: { kind: 'randint', low: -1000, high: 1000 } }), value(0), idx([4, 4], 4)]],
    ['size1_dims', [input([1, 5]), value(1), idx([1, 3], 5)]],
    ['empty_index', [input([3, 4]), value(1), idx([3, 0], 4)]],
  ]),
  ...cases('Embedding', 'embedding', [
    ['1d', [idx([5], 10), input([10, 4], { constant: true })]],
    ['2d_int32', [idx([2, 3], 7, 'int32'), input([7, 6])]],
    ['0d_index', [idx([], 3), input([3, 2])]],
    ['transposed_weight', [idx([6], 4), input([4, 5], { layout: 'transposed' })]],
    ['bfloat16', [idx([4], 16), input([16, 8], { dtype: 'bfloat16' })]],
    ['float16', [idx([3, 2], 5), input([5, 3], { dtype: 'float16' })]],
    ['empty_indices', [idx([0], 3), input([3, 2])]],
  ]),
  ...cases('MaskedFill', 'masked_fill', [
    ['same_shape', [input([4, 5]), mask([4, 5]), scalar(-1.5)]],
    ['broadcast_mask', [input([3, 4]), mask([4]), scalar(0)]],
    ['mask_broadcasts_input', [input([1, 4]), mask([3, 1]), scalar(2.5)]],
    ['noncontiguous', [input([3, 5], { layout: 'transposed' }), mask([3, 5], { layout: 'strided' }), scalar(9)]],
    ['0dim_value_tensor', [input([2, 3]), mask([2, 3]), input([])]],
    ['float16_max', [input([2, 8], { dtype: 'float16' }), mask([2, 8]), scalar(-65504)]],
    ['bfloat16_rounds', [input([4, 4], { dtype: 'bfloat16' }), mask([4, 4]), scalar(0.1)]],
    ['int32_truncates', [input([6], { dtype: 'int32' }), mask([6]), scalar(2.7)]],
    ['uint8_wraps', [input([4], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 10 } }), mask([4]), scalar(-1)]],
    ['bool', [input([5], { dtype: 'bool' }), mask([5]), scalar(true)]],
    ['empty', [input([0, 3]), mask([3]), scalar(1)]],
  ]),
  ...cases('Tril', 'tril', [
    ['square', [input([5, 5]), value(0)]],
    ['batched_neg_diag', [input([2, 3, 4, 5]), value(-1)]],
    ['wide_pos_diag', [input([3, 6]), value(2)]],
    ['transposed_int64', [input([4, 4], { dtype: 'int64', layout: 'transposed' }), value(0)]],
    ['bool', [input([3, 3], { dtype: 'bool' }), value(0)]],
    ['empty', [input([0, 3]), value(0)]],
  ]),
  ...cases('Triu', 'triu', [
    ['square', [input([5, 5]), value(0)]],
    ['batched_pos_diag', [input([2, 4, 3]), value(1)]],
    ['tall_neg_diag_float16', [input([6, 3], { dtype: 'float16' }), value(-2)]],
    ['strided', [input([4, 4], { layout: 'strided' }), value(0)]],
    ['diag_past_end', [input([3, 3]), value(5)]],
    ['bfloat16_keeps_all', [input([3, 4], { dtype: 'bfloat16' }), value(-10)]],
  ]),
];
