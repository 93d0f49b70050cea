/** Elementwise cases: broadcasting, non-contiguous inputs, scalars, empty and size-1 dims, half types, ints. */
import { input, scalar, value, type OpCase } from './spec.js';

const binaryOps: [string, string, boolean][] = [
  // [OpDef, fn, exact]: +, -, ×, ÷ are single correctly rounded float32 operations, bit-exact with PyTorch.
  ['Add', 'add', true],
  ['Sub', 'sub', true],
  ['Mul', 'mul', true],
  ['Div', 'div', true],
];

const binary: OpCase[] = binaryOps.flatMap(([op, fn, exact]) => [
  { name: `${op}/same_4x5`, op, fn, exact, args: [input([4, 5]), input([4, 5])] },
  { name: `${op}/broadcast_3x1_4`, op, fn, exact, args: [input([3, 1]), input([4])] },
  { name: `${op}/transposed_5x7`, op, fn, exact, args: [input([5, 7], { layout: 'transposed' }), input([5, 7], { layout: 'strided' })] },
  { name: `${op}/scalar_right`, op, fn, exact, args: [input([2, 3]), scalar(0.75)] },
  { name: `${op}/float16`, op, fn, exact, args: [input([3, 8], { dtype: 'float16' }), input([8], { dtype: 'float16' })] },
  { name: `${op}/bfloat16`, op, fn, exact, args: [input([3, 8], { dtype: 'bfloat16' }), input([3, 1], { dtype: 'bfloat16' })] },
  { name: `${op}/empty`, op, fn, exact, args: [input([0, 3]), input([3])] },
  { name: `${op}/large_4096x64`, op, fn, exact, args: [input([4096, 64]), input([4096, 64])], tags: ['bench'] },
]);

const intCases: OpCase[] = [
  { name: 'Add/int32', op: 'Add', fn: 'add', exact: true, args: [input([4, 4], { dtype: 'int32' }), input([4], { dtype: 'int32' })] },
  { name: 'Mul/int64_scalar', op: 'Mul', fn: 'mul', exact: true, args: [input([6], { dtype: 'int64' }), scalar(-3)] },
  { name: 'Add/int8_wrap', op: 'Add', fn: 'add', exact: true, args: [input([8], { dtype: 'int8', gen: { kind: 'randint', low: 100, high: 127 } }), scalar(100)] },
  { name: 'Div/int32_true_div', op: 'Div', fn: 'div', exact: true, args: [input([5], { dtype: 'int32' }), scalar(4)] },
];

const compare: OpCase[] = (
  [
    ['Eq', 'eq'],
    ['Ne', 'ne'],
    ['Lt', 'lt'],
    ['Le', 'le'],
    ['Gt', 'gt'],
    ['Ge', 'ge'],
  ] as const
).flatMap(([op, fn]) => [
  { name: `${op}/broadcast`, op, fn, exact: true, args: [input([3, 4], { gen: { kind: 'randint', low: 0, high: 3 }, dtype: 'int32' }), input([4], { gen: { kind: 'randint', low: 0, high: 3 }, dtype: 'int32' })] },
  { name: `${op}/float_scalar`, op, fn, exact: true, args: [input([2, 5]), scalar(0.25)] },
]);

const unaryOps: [string, string, { low?: number; high?: number }, boolean][] = [
  ['Neg', 'neg', {}, true],
  ['Abs', 'abs', {}, true],
  ['Relu', 'relu', {}, true],
  ['Exp', 'exp', { low: -10, high: 10 }, false],
  ['Log', 'log', { low: 0.01, high: 100 }, false],
  ['Sqrt', 'sqrt', { low: 0, high: 100 }, false],
  ['Rsqrt', 'rsqrt', { low: 0.01, high: 100 }, false],
  ['Tanh', 'tanh', { low: -5, high: 5 }, false],
  ['Sigmoid', 'sigmoid', { low: -10, high: 10 }, false],
  ['Silu', 'silu', { low: -8, high: 8 }, false],
  ['Erf', 'erf', { low: -4, high: 4 }, false],
];

const unary: OpCase[] = unaryOps.flatMap(([op, fn, range, exact]) => [
  { name: `${op}/6x7`, op, fn, exact, args: [input([6, 7], { gen: { kind: 'rand', ...range } })] },
  { name: `${op}/transposed`, op, fn, exact, args: [input([4, 9], { gen: { kind: 'rand', ...range }, layout: 'transposed' })] },
  { name: `${op}/float16`, op, fn, exact, args: [input([16], { dtype: 'float16', gen: { kind: 'rand', ...range } })] },
  { name: `${op}/large_4096x64`, op, fn, exact, args: [input([4096, 64], { gen: { kind: 'rand', ...range } })], tags: ['bench'] },
]);

const misc: OpCase[] = [
  { name: 'Gelu/erf', op: 'Gelu', fn: 'gelu', args: [input([5, 9], { gen: { kind: 'rand', low: -6, high: 6 } }), value('none')] },
  { name: 'Gelu/tanh', op: 'Gelu', fn: 'gelu', args: [input([5, 9], { gen: { kind: 'rand', low: -6, high: 6 } }), value('tanh')] },
  { name: 'Gelu/bfloat16', op: 'Gelu', fn: 'gelu', args: [input([32], { dtype: 'bfloat16', gen: { kind: 'rand', low: -4, high: 4 } }), value('none')] },
  { name: 'Gelu/large_4096x64', op: 'Gelu', fn: 'gelu', args: [input([4096, 64], { gen: { kind: 'rand', low: -4, high: 4 } }), value('none')], tags: ['bench'] },
  { name: 'Pow/float_tensor', op: 'Pow', fn: 'pow', args: [input([3, 4], { gen: { kind: 'rand', low: 0.1, high: 3 } }), input([4], { gen: { kind: 'rand', low: -2, high: 2 } })] },
  { name: 'Pow/square', op: 'Pow', fn: 'pow', exact: true, args: [input([10]), scalar(2)] },
  { name: 'Clamp/both', op: 'Clamp', fn: 'clamp', exact: true, args: [input([4, 6]), value(-0.5), value(0.5)] },
  { name: 'Clamp/min_only_int', op: 'Clamp', fn: 'clamp', exact: true, args: [input([9], { dtype: 'int32' }), value(0), value(null)] },
  { name: 'Where/broadcast', op: 'Where', fn: 'where', exact: true, args: [input([3, 1], { dtype: 'bool' }), input([4]), input([3, 4], { layout: 'transposed' })] },
  { name: 'Where/scalar_other', op: 'Where', fn: 'where', exact: true, args: [input([2, 3], { dtype: 'bool' }), input([2, 3]), scalar(-1.5)] },
  { name: 'Cast/f32_to_f16', op: 'Cast', fn: 'to', exact: true, args: [input([64], { gen: { kind: 'rand', low: -70000, high: 70000 } }), value('float16')] },
  { name: 'Cast/f32_to_bf16', op: 'Cast', fn: 'to', exact: true, args: [input([64], { gen: { kind: 'rand', low: -1e4, high: 1e4 } }), value('bfloat16')] },
  { name: 'Cast/f32_to_int32', op: 'Cast', fn: 'to', exact: true, args: [input([32], { gen: { kind: 'rand', low: -100, high: 100 } }), value('int32')] },
  { name: 'Cast/f16_to_f32', op: 'Cast', fn: 'to', exact: true, args: [input([32], { dtype: 'float16' }), value('float32')] },
  { name: 'Cast/int64_to_bf16', op: 'Cast', fn: 'to', exact: true, args: [input([16], { dtype: 'int64', gen: { kind: 'randint', low: -100000, high: 100000 } }), value('bfloat16')] },
  { name: 'Contiguous/transposed', op: 'Contiguous', fn: 'contiguous', exact: true, args: [input([3, 5, 7], { layout: 'transposed' })] },
];

const DTYPES = ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int16', 'int32', 'int64', 'bool'] as const;

/** to(dtype) between every pair of dtypes, bit-exact: floats truncate toward zero into ints, round to nearest
 * even into float16/bfloat16; values stay inside every target's range (out-of-range float -> int is undefined
 * behaviour in C and differs across CPUs). */
const casts: OpCase[] = DTYPES.flatMap((from) =>
  DTYPES.map((to) => ({
    name: `Cast/${from}_to_${to}`,
    op: 'Cast',
    fn: 'to',
    exact: true,
    args: [
      input([4, 6], {
        dtype: from,
        gen:
          from === 'bool'
            ? { kind: 'bool' as const }
            : from.startsWith('float') || from === 'bfloat16'
              ? { kind: 'rand' as const, low: to === 'uint8' ? 0 : -120, high: 120 }
              : { kind: 'randint' as const, low: from === 'uint8' || to === 'uint8' ? 0 : -120, high: 120 },
      }),
      value(to),
    ],
  })),
);

export const elementwiseCases: readonly OpCase[] = [...binary, ...intCases, ...compare, ...unary, ...misc, ...casts];
