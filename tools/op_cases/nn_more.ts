/** pad, unfold, conv1d/conv2d, group_norm, mse_loss and cross_entropy cases. */
import { input, value, type OpCase } from './spec.js';

const CONV_TOL = { rtol: 1e-4, atol: 1e-5 };
const conv = (name: string, fn: 'conv1d' | 'conv2d', args: OpCase['args'], extra: Partial<OpCase> = {}): OpCase => ({
  name: `Conv/${name}`,
  op: 'Conv',
  fn,
  tol: CONV_TOL,
  args,
  ...extra,
});

export const nnMoreCases: readonly OpCase[] = [
  ...(
    [
      ['constant_last', [input([2, 3]), value([1, 2]), value('constant'), value(0)]],
      ['constant_value_3dims', [input([2, 3, 4]), value([1, 0, 0, 2, 1, 1]), value('constant'), value(-2.5)]],
      ['constant_negative_crop', [input([3, 5]), value([-1, 2, 0, -1]), value('constant'), value(0)]],
      ['reflect_1d', [input([2, 3, 5]), value([2, 4]), value('reflect')]],
      ['reflect_2d_transposed', [input([1, 2, 4, 3], { layout: 'transposed' }), value([1, 2, 3, 0]), value('reflect')]],
      ['replicate_2d', [input([1, 2, 3, 4]), value([2, 1, 0, 3]), value('replicate')]],
      ['replicate_3d_bfloat16', [input([1, 1, 2, 3, 2], { dtype: 'bfloat16' }), value([1, 1, 1, 0, 0, 2]), value('replicate')]],
      ['circular_2d', [input([1, 1, 3, 4]), value([2, 1, 1, 3]), value('circular')]],
      ['int64_constant', [input([2, 2], { dtype: 'int64' }), value([1, 1, 1, 1]), value('constant'), value(7)]],
      ['empty_dim', [input([0, 3]), value([1, 1]), value('constant'), value(0)]],
    ] as [string, OpCase['args']][]
  ).map(([name, args]): OpCase => ({ name: `Pad/${name}`, op: 'Pad', fn: 'pad', exact: true, args })),
  { name: 'Im2Col/unfold_pad_stride_dilation', op: 'Im2Col', fn: 'unfold', exact: true, args: [input([2, 3, 6, 5]), value([2, 3]), value({ padding: 1, stride: 2, dilation: [2, 1] })] },
  conv('1d_plain', 'conv1d', [input([2, 3, 10]), input([4, 3, 3]), input([4]), value({})]),
  conv('1d_stride_pad_dilation', 'conv1d', [input([1, 4, 11]), input([6, 4, 3]), value(null), value({ stride: 2, padding: 2, dilation: 2 })]),
  conv('1d_same_even_kernel', 'conv1d', [input([2, 2, 7]), input([3, 2, 4]), input([3]), value({ padding: 'same' })]),
  conv('1d_groups_unbatched', 'conv1d', [input([4, 9]), input([6, 2, 3]), input([6]), value({ groups: 2 })]),
  conv('2d_plain', 'conv2d', [input([2, 3, 6, 7]), input([5, 3, 3, 3]), input([5]), value({})]),
  conv('2d_stride_padding', 'conv2d', [input([1, 2, 7, 6]), input([4, 2, 3, 2]), value(null), value({ stride: [2, 1], padding: [1, 2] })]),
  conv('2d_same_dilation', 'conv2d', [input([1, 3, 6, 6]), input([2, 3, 3, 3]), input([2]), value({ padding: 'same', dilation: 2 })]),
  conv('2d_depthwise', 'conv2d', [input([2, 4, 5, 5]), input([4, 1, 3, 3]), input([4]), value({ groups: 4, padding: 1 })]),
  conv('2d_transposed_input', 'conv2d', [input([1, 2, 5, 6], { layout: 'transposed' }), input([3, 2, 2, 2]), value(null), value({ padding: 'valid' })]),
  conv('2d_bfloat16', 'conv2d', [input([1, 2, 5, 5], { dtype: 'bfloat16' }), input([3, 2, 3, 3], { dtype: 'bfloat16' }), input([3], { dtype: 'bfloat16' }), value({})], {
    tol: { rtol: 3e-2, atol: 3e-2 },
  }),
  conv('2d_empty_batch', 'conv2d', [input([0, 2, 4, 4]), input([3, 2, 3, 3]), input([3]), value({ padding: 1 })]),
  { name: 'Gelu/options_tanh', op: 'Gelu', fn: 'gelu_options', args: [input([4, 6], { gen: { kind: 'rand', low: -4, high: 4 } }), value('tanh')] },
  { name: 'GroupNorm/affine', op: 'GroupNorm', fn: 'group_norm', args: [input([2, 6, 5], { gen: { kind: 'rand', low: -2, high: 3 } }), value(3), input([6]), input([6]), value(1e-5)] },
  { name: 'GroupNorm/no_affine_4d', op: 'GroupNorm', fn: 'group_norm', args: [input([2, 4, 3, 3]), value(2), value(null), value(null), value(1e-5)] },
  { name: 'GroupNorm/one_group_2d', op: 'GroupNorm', fn: 'group_norm', args: [input([3, 8], { layout: 'transposed' }), value(1), input([8]), value(null), value(1e-3)] },
  { name: 'MseLoss/mean', op: 'MseLoss', fn: 'mse_loss', args: [input([4, 5]), input([4, 5]), value('mean')] },
  { name: 'MseLoss/sum_broadcast', op: 'MseLoss', fn: 'mse_loss', args: [input([3, 4]), input([4], { layout: 'strided' }), value('sum')] },
  { name: 'MseLoss/none', op: 'MseLoss', fn: 'mse_loss', args: [input([2, 3]), input([2, 3], { layout: 'transposed' }), value('none')] },
  ...(
    [
      ['mean', [input([4, 5]), input([4], { dtype: 'int64', gen: { kind: 'randint', low: 0, high: 5 } }), value({})]],
      ['ignore_index', [input([6, 3]), input([6], { dtype: 'int64', gen: { kind: 'values', values: [0, -100, 2, 1, -100, 2] } }), value({})]],
      ['label_smoothing_ignore', [input([5, 4]), input([5], { dtype: 'int64', gen: { kind: 'values', values: [3, 1, 7, 0, 7] } }), value({ ignore_index: 7, label_smoothing: 0.2 })]],
      ['spatial_sum', [input([2, 3, 4]), input([2, 4], { dtype: 'int64', gen: { kind: 'randint', low: 0, high: 3 } }), value({ reduction: 'sum', label_smoothing: 0.1 })]],
      ['none_unbatched', [input([6]), input([], { dtype: 'int64', gen: { kind: 'randint', low: 0, high: 6 } }), value({ reduction: 'none' })]],
      ['probabilities', [input([3, 4]), input([3, 4], { gen: { kind: 'rand', low: 0, high: 1 } }), value({ label_smoothing: 0.3 })]],
      ['probabilities_none_transposed', [input([4, 3], { layout: 'transposed' }), input([4, 3], { gen: { kind: 'rand', low: 0, high: 1 } }), value({ reduction: 'none' })]],
      ['all_ignored', [input([2, 3]), input([2], { dtype: 'int64', gen: { kind: 'values', values: [-100, -100] } }), value({})]],
    ] as [string, OpCase['args']][]
  ).map(([name, args]): OpCase => ({ name: `CrossEntropy/${name}`, op: 'CrossEntropy', fn: 'cross_entropy', args })),
];
