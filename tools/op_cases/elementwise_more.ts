/**
 * Cases for ops/elementwise_more.ts: broadcasting, non-contiguous and empty inputs, half types, integer and
 * bool dtypes, special values (NaN, ±inf, ±0, rounding ties).
 */
import { input, scalar, value, type InputSpec, type OpCase } from './spec.js';

const SPECIAL = { kind: 'values', values: ['nan', 'inf', '-inf', 0, -1e-30, 1.5, -2.5, 3, 1e-30, -7, 0.5, 'nan'] } as const;
const TIES = { kind: 'values', values: [-3.5, -2.5, -1.5, -0.5, -0.49999997, 0.5, 1.5, 2.5, 3.5, 4.5, 1e7 + 0.5, -1e7 - 0.5] } as const;
const wide = (o: Omit<InputSpec, 'shape'> = {}) => ({ gen: { kind: 'rand', low: -6, high: 6 } as const, ...o });

/** [op, fn, exact for float32, int cases allowed] */
const binaryOps: [string, string, boolean][] = [
  ['Maximum', 'maximum', true],
  ['Minimum', 'minimum', true],
  ['Remainder', 'remainder', true],
  ['Fmod', 'fmod', true],
];

const binary: OpCase[] = binaryOps.flatMap(([op, fn, exact]) => [
  { name: `${op}/same_4x5`, op, fn, exact, args: [input([4, 5], wide()), input([4, 5], wide())] },
  { name: `${op}/broadcast_3x1_4`, op, fn, exact, args: [input([3, 1], wide()), input([4], wide())] },
  { name: `${op}/transposed_strided`, op, fn, exact, args: [input([5, 7], wide({ layout: 'transposed' })), input([5, 7], wide({ layout: 'strided' }))] },
  { name: `${op}/scalar_negative`, op, fn, exact, args: [input([2, 6], wide()), scalar(-1.75)] },
  { name: `${op}/float16`, op, fn, args: [input([3, 8], wide({ dtype: 'float16' })), input([8], wide({ dtype: 'float16' }))] },
  { name: `${op}/int32_int64_promote`, op, fn, exact: true, args: [input([3, 4], { dtype: 'int32', gen: { kind: 'randint', low: -20, high: 20 } }), input([4], { dtype: 'int64', gen: { kind: 'randint', low: 1, high: 7 } })] },
  { name: `${op}/int8_negative_scalar`, op, fn, exact: true, args: [input([9], { dtype: 'int8', gen: { kind: 'randint', low: -100, high: 100 } }), scalar(-3)] },
  { name: `${op}/empty`, op, fn, exact: true, args: [input([0, 3]), input([3])] },
]);

const minmaxSpecial: OpCase[] = ['Maximum', 'Minimum'].map((op) => ({
  name: `${op}/nan_inf`,
  op,
  fn: op.toLowerCase(),
  exact: true,
  args: [input([12], { gen: SPECIAL }), input([12], { gen: { kind: 'rand', low: -2, high: 2 } })],
}));

const logicalOps = [
  ['LogicalAnd', 'logicalAnd'],
  ['LogicalOr', 'logicalOr'],
  ['LogicalXor', 'logicalXor'],
] as const;

const logical: OpCase[] = logicalOps.flatMap(([op, fn]) => [
  { name: `${op}/float_nan_int`, op, fn, exact: true, args: [input([12], { gen: SPECIAL }), input([3, 1], { dtype: 'int32', gen: { kind: 'randint', low: 0, high: 2 } })] },
  { name: `${op}/bool_transposed`, op, fn, exact: true, args: [input([4, 5], { dtype: 'bool', layout: 'transposed' }), input([5], { dtype: 'bool' })] },
  { name: `${op}/int64_scalar`, op, fn, exact: true, args: [input([6], { dtype: 'int64', gen: { kind: 'randint', low: -1, high: 2 } }), scalar(0)] },
]);

const bitwiseOps = [
  ['BitwiseAnd', 'bitwiseAnd'],
  ['BitwiseOr', 'bitwiseOr'],
  ['BitwiseXor', 'bitwiseXor'],
] as const;

const bitwise: OpCase[] = bitwiseOps.flatMap(([op, fn]) => [
  { name: `${op}/int32_broadcast`, op, fn, exact: true, args: [input([3, 4], { dtype: 'int32', gen: { kind: 'randint', low: -1000, high: 1000 } }), input([4], { dtype: 'int32', gen: { kind: 'randint', low: -1000, high: 1000 } })] },
  { name: `${op}/int64_scalar`, op, fn, exact: true, args: [input([7], { dtype: 'int64', gen: { kind: 'randint', low: -100000, high: 100000 } }), scalar(0x5a5a)] },
  { name: `${op}/uint8_int8_promote`, op, fn, exact: true, args: [input([8], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 255 } }), input([8], { dtype: 'int8', gen: { kind: 'randint', low: -128, high: 127 } })] },
  { name: `${op}/bool`, op, fn, exact: true, args: [input([2, 5], { dtype: 'bool' }), input([2, 5], { dtype: 'bool', layout: 'transposed' })] },
]);

/** [op, fn, float range, exact, integer input allowed (and returned unchanged or computed exactly)] */
const unaryOps: [string, string, { low: number; high: number }, boolean, boolean][] = [
  ['Floor', 'floor', { low: -6, high: 6 }, true, true],
  ['Ceil', 'ceil', { low: -6, high: 6 }, true, true],
  ['Trunc', 'trunc', { low: -6, high: 6 }, true, true],
  ['Round', 'round', { low: -6, high: 6 }, true, true],
  ['Sign', 'sign', { low: -2, high: 2 }, true, true],
  ['Square', 'square', { low: -30, high: 30 }, true, true],
  ['Reciprocal', 'reciprocal', { low: -4, high: 4 }, true, true],
  ['Log1p', 'log1p', { low: -0.99, high: 20 }, false, false],
  ['Expm1', 'expm1', { low: -10, high: 10 }, false, false],
  ['Log2', 'log2', { low: 0.001, high: 1000 }, false, true],
  ['IsNan', 'isnan', { low: -1, high: 1 }, true, true],
  ['IsInf', 'isinf', { low: -1, high: 1 }, true, true],
  ['IsFinite', 'isfinite', { low: -1, high: 1 }, true, true],
  ['LogicalNot', 'logicalNot', { low: -1, high: 1 }, true, true],
];

const unary: OpCase[] = unaryOps.flatMap(([op, fn, range, exact, ints]) => [
  { name: `${op}/6x7`, op, fn, exact, args: [input([6, 7], { gen: { kind: 'rand', ...range } })] },
  { name: `${op}/transposed`, op, fn, exact, args: [input([4, 9], { gen: { kind: 'rand', ...range }, layout: 'transposed' })] },
  { name: `${op}/float16`, op, fn, exact, args: [input([16], { dtype: 'float16', gen: { kind: 'rand', ...range } })] },
  { name: `${op}/bfloat16_strided`, op, fn, exact, args: [input([2, 8], { dtype: 'bfloat16', layout: 'strided', gen: { kind: 'rand', ...range } })] },
  { name: `${op}/special`, op, fn, exact, args: [input([12], { gen: SPECIAL })] },
  { name: `${op}/empty`, op, fn, exact: true, args: [input([2, 0])] },
  ...(ints ? [{ name: `${op}/int32`, op, fn, exact: true, args: [input([10], { dtype: 'int32', gen: { kind: 'randint' as const, low: -50, high: 50 } })] }] : []),
]);

const misc: OpCase[] = [
  { name: 'Round/ties_to_even', op: 'Round', fn: 'round', exact: true, args: [input([12], { gen: TIES })] },
  { name: 'Round/decimals_2', op: 'Round', fn: 'round', exact: true, args: [input([5, 6], { gen: { kind: 'rand', low: -100, high: 100 } }), value(2)] },
  { name: 'Round/decimals_neg1_transposed', op: 'Round', fn: 'round', exact: true, args: [input([4, 6], { layout: 'transposed', gen: { kind: 'rand', low: -1000, high: 1000 } }), value(-1)] },
  { name: 'Square/bool_to_int64', op: 'Square', fn: 'square', exact: true, args: [input([6], { dtype: 'bool' })] },
  { name: 'Square/int64', op: 'Square', fn: 'square', exact: true, args: [input([6], { dtype: 'int64', gen: { kind: 'randint', low: -3000000, high: 3000000 } })] },
  { name: 'Sign/bool', op: 'Sign', fn: 'sign', exact: true, args: [input([5], { dtype: 'bool' })] },
  { name: 'IsNan/bool', op: 'IsNan', fn: 'isnan', exact: true, args: [input([5], { dtype: 'bool' })] },
  { name: 'BitwiseNot/int32', op: 'BitwiseNot', fn: 'bitwiseNot', exact: true, args: [input([3, 4], { dtype: 'int32', gen: { kind: 'randint', low: -1000, high: 1000 }, layout: 'transposed' })] },
  { name: 'BitwiseNot/int64', op: 'BitwiseNot', fn: 'bitwiseNot', exact: true, args: [input([5], { dtype: 'int64', gen: { kind: 'randint', low: -100000, high: 100000 } })] },
  { name: 'BitwiseNot/uint8', op: 'BitwiseNot', fn: 'bitwiseNot', exact: true, args: [input([6], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 255 } })] },
  { name: 'BitwiseNot/bool', op: 'BitwiseNot', fn: 'bitwiseNot', exact: true, args: [input([6], { dtype: 'bool' })] },
  { name: 'Clamp/clamp_min', op: 'Clamp', fn: 'clampMin', exact: true, args: [input([3, 5], { layout: 'transposed' }), value(0.25)] },
  { name: 'Clamp/clamp_max_int', op: 'Clamp', fn: 'clampMax', exact: true, args: [input([8], { dtype: 'int16' }), value(2)] },
  { name: 'Lerp/scalar_weight', op: 'Lerp', fn: 'lerp', args: [input([4, 5]), input([4, 5], { layout: 'transposed' }), scalar(0.3)] },
  { name: 'Lerp/tensor_weight_broadcast', op: 'Lerp', fn: 'lerp', args: [input([3, 1]), input([4]), input([3, 4], { gen: { kind: 'rand', low: -0.5, high: 1.5 } })] },
  { name: 'Lerp/float16', op: 'Lerp', fn: 'lerp', args: [input([8], { dtype: 'float16' }), input([8], { dtype: 'float16' }), scalar(0.75)] },
  { name: 'Lerp/empty', op: 'Lerp', fn: 'lerp', args: [input([0, 2]), input([2]), scalar(0.5)] },
  { name: 'Addcmul/value_half_broadcast', op: 'Addcmul', fn: 'addcmul', args: [input([3, 4]), input([3, 1]), input([4], { layout: 'strided' }), value(0.5)] },
  { name: 'Addcmul/default_value', op: 'Addcmul', fn: 'addcmul', args: [input([5]), input([5]), input([5]), value(null)] },
  { name: 'Addcmul/int32', op: 'Addcmul', fn: 'addcmul', exact: true, args: [input([6], { dtype: 'int32' }), input([6], { dtype: 'int32' }), input([6], { dtype: 'int32' }), value(3)] },
  // float32 -> bfloat16 of NaN: PyTorch's vectorized kernel (contiguous innermost dim) writes 0xFFFF, its scalar one 0x7FC0.
  { name: 'Cast/f32_nan_to_bf16_contiguous', op: 'Cast', fn: 'to', exact: true, args: [input([3, 4], { gen: SPECIAL }), value('bfloat16')] },
  { name: 'Cast/f32_nan_to_bf16_transposed', op: 'Cast', fn: 'to', exact: true, args: [input([4, 3], { gen: SPECIAL, layout: 'transposed' }), value('bfloat16')] },
  { name: 'Cast/f32_nan_to_bf16_strided', op: 'Cast', fn: 'to', exact: true, args: [input([2, 3], { gen: SPECIAL, layout: 'strided' }), value('bfloat16')] },
  { name: 'Cast/f32_nan_to_bf16_0d', op: 'Cast', fn: 'to', exact: true, args: [input([], { gen: { kind: 'values', values: ['nan'] } }), value('bfloat16')] },
  { name: 'Addcmul/bfloat16', op: 'Addcmul', fn: 'addcmul', args: [input([8], { dtype: 'bfloat16' }), input([8], { dtype: 'bfloat16' }), input([8], { dtype: 'bfloat16' }), value(-2)] },
];

/** Benchmark-sized cases (checked across backends and timed by `opshift bench op`, not stored as fixtures). */
const bench: OpCase[] = [
  { name: 'Maximum/large_4096x64', op: 'Maximum', fn: 'maximum', exact: true, args: [input([4096, 64], wide()), input([4096, 64], wide())], tags: ['bench'] },
  { name: 'Remainder/large_4096x64', op: 'Remainder', fn: 'remainder', exact: true, args: [input([4096, 64], wide()), scalar(1.5)], tags: ['bench'] },
  { name: 'Round/large_4096x64', op: 'Round', fn: 'round', exact: true, args: [input([4096, 64], wide())], tags: ['bench'] },
  { name: 'Log1p/large_4096x64', op: 'Log1p', fn: 'log1p', args: [input([4096, 64], { gen: { kind: 'rand', low: 0, high: 10 } })], tags: ['bench'] },
  { name: 'Addcmul/large_4096x64', op: 'Addcmul', fn: 'addcmul', args: [input([4096, 64]), input([4096, 64]), input([4096, 64]), value(0.5)], tags: ['bench'] },
];

export const elementwiseMoreCases: readonly OpCase[] = [...binary, ...minmaxSpecial, ...logical, ...bitwise, ...unary, ...misc, ...bench];
