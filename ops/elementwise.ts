/**
 * Elementwise ops: full broadcasting, strided inputs, PyTorch type promotion, JS numbers as wrapped scalars.
 * Shape and dtype rules live here once; backends only compute.
 */
import { dispatch } from '../core/dispatcher.js';
import { DTypeError } from '../core/errors.js';
import { isDType, isIntegral, resultType, type DType } from '../core/dtype.js';
import { defineOp, type TensorSpec } from '../core/op_def.js';
import { broadcastShapes, shapesEqual } from '../core/shape.js';
import type { Tensor, TensorLike } from '../core/tensor.js';
import { asTensor, floatOf, requireFloat, requireTensor, sig } from './util.js';
import { whereNonzero } from './ordering.js';

export type BinaryInputs = { readonly a: Tensor; readonly b: Tensor };
export type UnaryInputs = { readonly x: Tensor };
export type NoAttrs = Record<string, never>;
const NO_ATTRS: NoAttrs = {};

function binaryShape(op: string, a: Tensor, b: Tensor): number[] {
  // Equal shapes (most calls in models) need no broadcast walk: part of the fixed cost of a small eager op.
  if (shapesEqual(a.shape, b.shape)) return a.shape.slice();
  return broadcastShapes(op, a.shape, b.shape);
}

/** Arithmetic: the result type of the operands (bool stays bool for add/mul: logical or/and, as in PyTorch). */
function arithmetic(name: string, fn: string, opts: { boolOk: boolean; floatResult?: boolean }) {
  return defineOp<BinaryInputs, NoAttrs>({
    name,
    overwritesOutputs: true, // elementwise: every kernel writes each output element, so pooled outputs skip zeroing
    meta({ a, b }) {
      const dtype = resultType([a, b]);
      if (dtype === 'bool' && !opts.boolOk)
        throw new DTypeError(`${fn}: ${sig(a)} and ${sig(b)}: the operation is not supported for two bool operands`);
      return [{ shape: binaryShape(fn, a, b), dtype: opts.floatResult ? floatOf(dtype) : dtype }];
    },
  });
}

export const Add = arithmetic('Add', 'add', { boolOk: true });
export const Sub = arithmetic('Sub', 'sub', { boolOk: false });
export const Mul = arithmetic('Mul', 'mul', { boolOk: true });
/** True division: integers divide as float32, like torch.div without rounding_mode. */
export const Div = arithmetic('Div', 'div', { boolOk: true, floatResult: true });

export const Pow = defineOp<BinaryInputs, NoAttrs>({
  name: 'Pow',
  meta({ a, b }) {
    const dtype = resultType([a, b]);
    if (dtype === 'bool') throw new DTypeError(`pow: ${sig(a)} ** ${sig(b)}: not supported for bool operands`);
    if (isIntegral(dtype) && b.isWrappedNumber && (b.wrappedValue as number) < 0)
      throw new DTypeError(`pow: ${sig(a)} ** ${b.wrappedValue}: integers to negative integer powers are not allowed`);
    return [{ shape: binaryShape('pow', a, b), dtype }];
  },
});

function comparison(name: string, fn: string) {
  return defineOp<BinaryInputs, NoAttrs>({
    name,
    meta({ a, b }) {
      return [{ shape: binaryShape(fn, a, b), dtype: 'bool' }];
    },
  });
}

export const Eq = comparison('Eq', 'eq');
export const Ne = comparison('Ne', 'ne');
export const Lt = comparison('Lt', 'lt');
export const Le = comparison('Le', 'le');
export const Gt = comparison('Gt', 'gt');
export const Ge = comparison('Ge', 'ge');

type UnaryRule = 'same' | 'same-no-bool' | 'float' | 'float-only';

function unary(name: string, fn: string, rule: UnaryRule, flopsPerElement = 1) {
  return defineOp<UnaryInputs, NoAttrs>({
    name,
    overwritesOutputs: true, // elementwise: every kernel writes each output element
    meta({ x }): TensorSpec[] {
      let dtype: DType = x.dtype;
      if (rule === 'same-no-bool' && x.dtype === 'bool') throw new DTypeError(`${fn}: not supported for bool tensors (${sig(x)})`);
      if (rule === 'float') dtype = floatOf(x.dtype);
      if (rule === 'float-only') requireFloat(fn, x);
      return [{ shape: x.shape, dtype }];
    },
    flops: (_i, _a, outs) => flopsPerElement * outs[0]!.shape.reduce((p, d) => p * d, 1),
  });
}

export const Neg = unary('Neg', 'neg', 'same-no-bool');
export const Abs = unary('Abs', 'abs', 'same-no-bool');
export const Relu = unary('Relu', 'relu', 'same-no-bool');
export const Exp = unary('Exp', 'exp', 'float');
export const Log = unary('Log', 'log', 'float');
export const Sqrt = unary('Sqrt', 'sqrt', 'float');
export const Rsqrt = unary('Rsqrt', 'rsqrt', 'float', 2);
export const Tanh = unary('Tanh', 'tanh', 'float');
export const Sigmoid = unary('Sigmoid', 'sigmoid', 'float', 3);
export const Erf = unary('Erf', 'erf', 'float');
export const Cos = unary('Cos', 'cos', 'float');
export const Sin = unary('Sin', 'sin', 'float');

/** SiLU = x·sigmoid(x); composite with a fused CPU kernel. */
export const Silu = defineOp<UnaryInputs, NoAttrs>({
  name: 'Silu',
  overwritesOutputs: true,
  meta({ x }) {
    requireFloat('silu', x);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose: ({ x }) => [mul(x, sigmoid(x))],
  flops: (_i, _a, outs) => 4 * outs[0]!.shape.reduce((p, d) => p * d, 1),
});

export type GeluAttrs = { readonly approximate: 'none' | 'tanh' };

/** GELU, exact (erf) or tanh approximation; composite with a fused CPU kernel. */
export const Gelu = defineOp<UnaryInputs, GeluAttrs>({
  name: 'Gelu',
  overwritesOutputs: true,
  meta({ x }, { approximate }) {
    requireFloat('gelu', x);
    if (approximate !== 'none' && approximate !== 'tanh')
      throw new DTypeError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x }, { approximate }) {
    if (approximate === 'tanh') {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), 0.7978845608028654);
      return [mul(mul(x, 0.5), add(tanh(inner), 1))];
    }
    // 0.5·x·(1 + erf(x/√2))
    return [mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1))];
  },
  flops: (_i, _a, outs) => 8 * outs[0]!.shape.reduce((p, d) => p * d, 1),
});

const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
};

export type ClampAttrs = { readonly min: number | null; readonly max: number | null };

export const Clamp = defineOp<UnaryInputs, ClampAttrs>({
  name: 'Clamp',
  meta({ x }, { min, max }) {
    if (min === null && max === null) throw new DTypeError(`clamp: ${sig(x)}: at least one of min and max must be given`);
    if (x.dtype === 'bool') throw new DTypeError(`clamp: not supported for bool tensors (${sig(x)})`);
    const operands = [x, ...[min, max].filter((v): v is number => v !== null).map((v) => asTensor('clamp', v))];
    const dtype = resultType(operands);
    // PyTorch refuses bounds its integer result type cannot hold instead of wrapping them.
    const range = INT_RANGE[dtype];
    for (const [name, v] of [['min', min], ['max', max]] as const)
      if (range && v !== null && (v < range[0] || v > range[1]))
        throw new DTypeError(`clamp: ${name} ${v} is out of range for ${dtype} [${range[0]}, ${range[1]}] (input ${sig(x)})`);
    return [{ shape: x.shape, dtype }];
  },
});

export type WhereInputs = { readonly cond: Tensor; readonly a: Tensor; readonly b: Tensor };

export const Where = defineOp<WhereInputs, NoAttrs>({
  name: 'Where',
  meta({ cond, a, b }) {
    if (cond.dtype !== 'bool') throw new DTypeError(`where: condition must be a bool tensor, got ${sig(cond)}`);
    return [{ shape: broadcastShapes('where', cond.shape, a.shape, b.shape), dtype: resultType([a, b]) }];
  },
});

export type CastAttrs = { readonly dtype: DType };

/** dtype conversion with PyTorch's rules: floats truncate toward zero into ints, RNE into float16/bfloat16. */
export const Cast = defineOp<UnaryInputs, CastAttrs>({
  name: 'Cast',
  meta({ x }, { dtype }) {
    if (typeof dtype !== 'string' || !isDType(dtype)) throw new DTypeError(`to: unknown dtype '${String(dtype)}' (for ${sig(x)})`);
    return [{ shape: x.shape, dtype }];
  },
  flops: () => 0,
});

export type ContiguousAttrs = Record<string, never>;

/** A contiguous copy of any view (the kernel behind contiguous() and clone()). */
export const Contiguous = defineOp<UnaryInputs, ContiguousAttrs>({
  name: 'Contiguous',
  meta: ({ x }) => [{ shape: x.shape, dtype: x.dtype }],
  flops: () => 0,
});

/** A JS number as a wrapped scalar operand (for kernels that turn attributes into operands). */
export function scalarOperand(v: number | boolean): Tensor {
  return asTensor('scalar', v);
}

// ---- public functions ----

const bin = (op: typeof Add, fn: string) => (a: TensorLike, b: TensorLike) =>
  dispatch(op, { a: asTensor(fn, a), b: asTensor(fn, b) }, NO_ATTRS);
const un = (op: typeof Exp, fn: string) => (x: Tensor) => dispatch(op, { x: requireTensor(fn, 'input', x) }, NO_ATTRS);

export const add = bin(Add, 'add');
export const sub = bin(Sub, 'sub');
export const mul = bin(Mul, 'mul');
export const div = bin(Div, 'div');
export const pow = bin(Pow, 'pow');
export const eq = bin(Eq, 'eq');
export const ne = bin(Ne, 'ne');
export const lt = bin(Lt, 'lt');
export const le = bin(Le, 'le');
export const gt = bin(Gt, 'gt');
export const ge = bin(Ge, 'ge');
export const neg = un(Neg, 'neg');
export const abs = un(Abs, 'abs');
export const relu = un(Relu, 'relu');
export const exp = un(Exp, 'exp');
export const log = un(Log, 'log');
export const sqrt = un(Sqrt, 'sqrt');
export const rsqrt = un(Rsqrt, 'rsqrt');
export const tanh = un(Tanh, 'tanh');
export const sigmoid = un(Sigmoid, 'sigmoid');
export const erf = un(Erf, 'erf');
export const cos = un(Cos, 'cos');
export const sin = un(Sin, 'sin');
export const silu = un(Silu, 'silu');

/** F.gelu(x, approximate='tanh') reads as gelu(x, { approximate: 'tanh' }) or gelu(x, 'tanh'). */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' | { readonly approximate?: 'none' | 'tanh' } = 'none'): Tensor {
  const a = typeof approximate === 'object' && approximate !== null ? (approximate.approximate ?? 'none') : approximate;
  return dispatch(Gelu, { x: requireTensor('gelu', 'input', x) }, { approximate: a });
}

export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  return dispatch(Clamp, { x: requireTensor('clamp', 'input', x) }, { min: min ?? null, max: max ?? null });
}

/** torch.where(condition, input, other). */
/** torch.where(cond, a, b); torch.where(cond) alone is nonzero(cond, as_tuple=True) (see whereNonzero). */
export function where(cond: Tensor): Tensor[];
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor;
export function where(cond: Tensor, a?: TensorLike, b?: TensorLike): Tensor | Tensor[] {
  if (a === undefined && b === undefined) return whereNonzero(cond);
  if (a === undefined || b === undefined) throw new DTypeError('where: give a condition alone, or a condition and both values (input, other)');
  return dispatch(Where, { cond: requireTensor('where', 'condition', cond), a: asTensor('where', a), b: asTensor('where', b) }, NO_ATTRS);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  return dispatch(Cast, { x: requireTensor('to', 'input', x) }, { dtype });
}

/** A contiguous copy; returns `x` itself when it already is contiguous, unless `force`. */
export function contiguous(x: Tensor, force = false): Tensor {
  if (!force && x.isContiguous()) return x;
  return dispatch(Contiguous, { x: requireTensor('contiguous', 'input', x) }, NO_ATTRS);
}

