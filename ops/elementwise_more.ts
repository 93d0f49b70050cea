/**
 * More elementwise ops with PyTorch's names and rules: maximum/minimum, rounding (floor, ceil, trunc, round with
 * half-to-even and `decimals`), sign, square, reciprocal, log1p/expm1/log2, remainder/fmod, isnan/isinf/isfinite,
 * logical and/or/xor/not, bitwise and/or/xor/not (integer and bool dtypes only), clampMin/clampMax, lerp, addcmul.
 * Broadcasting, strided inputs and type promotion work as for the basic elementwise ops (ops/elementwise.ts).
 */
import { dispatch } from '../core/dispatcher.js';
import { isFloating, isIntegral, resultType, type DType } from '../core/dtype.js';
import { ArgumentError, DTypeError } from '../core/errors.js';
import { defineOp, type TensorSpec } from '../core/op_def.js';
import { broadcastShapes } from '../core/shape.js';
import type { Tensor, TensorLike } from '../core/tensor.js';
import { clamp, type BinaryInputs, type NoAttrs, type UnaryInputs } from './elementwise.js';
import { asTensor, floatOf, requireTensor, sig } from './util.js';

const NO_ATTRS: NoAttrs = {};

type BinaryRule = 'promote' | 'promote-no-bool' | 'bool-out' | 'bitwise' | 'float';

function binaryOp(name: string, fn: string, rule: BinaryRule) {
  return defineOp<BinaryInputs, NoAttrs>({
    name,
    meta({ a, b }) {
      const shape = broadcastShapes(fn, a.shape, b.shape);
      const dtype = resultType([a, b]);
      if (rule === 'bool-out') return [{ shape, dtype: 'bool' }];
      if (rule === 'bitwise' && !(isIntegral(dtype) || dtype === 'bool'))
        throw new DTypeError(`${fn}: ${sig(a)} and ${sig(b)}: bitwise ops need integer or bool operands, got result type ${dtype}`);
      if (rule === 'promote-no-bool' && dtype === 'bool')
        throw new DTypeError(`${fn}: ${sig(a)} and ${sig(b)}: the operation is not supported for two bool operands`);
      return [{ shape, dtype: rule === 'float' ? floatOf(dtype) : dtype }];
    },
  });
}

/** Elementwise maximum / minimum; NaN propagates (unlike fmax). */
export const Maximum = binaryOp('Maximum', 'maximum', 'promote');
export const Minimum = binaryOp('Minimum', 'minimum', 'promote');
/** Python's modulo: the result has the sign of the divisor. Integer division by zero is an error. */
export const Remainder = binaryOp('Remainder', 'remainder', 'promote-no-bool');
/** C's fmod: the result has the sign of the dividend. */
export const Fmod = binaryOp('Fmod', 'fmod', 'promote-no-bool');
export const LogicalAnd = binaryOp('LogicalAnd', 'logicalAnd', 'bool-out');
export const LogicalOr = binaryOp('LogicalOr', 'logicalOr', 'bool-out');
export const LogicalXor = binaryOp('LogicalXor', 'logicalXor', 'bool-out');
export const BitwiseAnd = binaryOp('BitwiseAnd', 'bitwiseAnd', 'bitwise');
export const BitwiseOr = binaryOp('BitwiseOr', 'bitwiseOr', 'bitwise');
export const BitwiseXor = binaryOp('BitwiseXor', 'bitwiseXor', 'bitwise');

/**
 * same: keeps the dtype (ints pass through unchanged, as PyTorch's floor/ceil/trunc/round on integers);
 * same-no-bool: as same, bool refused; float: ints and bool compute in float32; bool-out: a predicate;
 * bitwise: integer or bool only; square: bool squares to int64 (PyTorch's pow(x, 2) promotion).
 */
type UnaryRule = 'same' | 'same-no-bool' | 'float' | 'bool-out' | 'bitwise' | 'square';

function unaryOp(name: string, fn: string, rule: UnaryRule) {
  return defineOp<UnaryInputs, NoAttrs>({
    name,
    meta({ x }): TensorSpec[] {
      let dtype: DType = x.dtype;
      if (rule === 'same-no-bool' && x.dtype === 'bool') throw new DTypeError(`${fn}: not supported for bool tensors (${sig(x)})`);
      if (rule === 'bitwise' && isFloating(x.dtype))
        throw new DTypeError(`${fn}: bitwise ops need an integer or bool tensor, got ${sig(x)}`);
      if (rule === 'float') dtype = floatOf(x.dtype);
      if (rule === 'bool-out') dtype = 'bool';
      if (rule === 'square' && x.dtype === 'bool') dtype = 'int64';
      return [{ shape: x.shape, dtype }];
    },
  });
}

export const Floor = unaryOp('Floor', 'floor', 'same-no-bool');
export const Ceil = unaryOp('Ceil', 'ceil', 'same-no-bool');
export const Trunc = unaryOp('Trunc', 'trunc', 'same-no-bool');
export const Sign = unaryOp('Sign', 'sign', 'same');
export const Square = unaryOp('Square', 'square', 'square');
export const Reciprocal = unaryOp('Reciprocal', 'reciprocal', 'float');
export const Log1p = unaryOp('Log1p', 'log1p', 'float');
export const Expm1 = unaryOp('Expm1', 'expm1', 'float');
export const Log2 = unaryOp('Log2', 'log2', 'float');
export const IsNan = unaryOp('IsNan', 'isnan', 'bool-out');
export const IsInf = unaryOp('IsInf', 'isinf', 'bool-out');
export const IsFinite = unaryOp('IsFinite', 'isfinite', 'bool-out');
export const LogicalNot = unaryOp('LogicalNot', 'logicalNot', 'bool-out');
export const BitwiseNot = unaryOp('BitwiseNot', 'bitwiseNot', 'bitwise');

export type RoundAttrs = { readonly decimals: number };

/** Round half to even; with `decimals`, round(x·10^d)/10^d in the input's float type, as PyTorch computes it. */
export const Round = defineOp<UnaryInputs, RoundAttrs>({
  name: 'Round',
  meta({ x }, { decimals }) {
    if (!Number.isInteger(decimals)) throw new ArgumentError(`round: decimals must be an integer, got ${decimals}`);
    if (x.dtype === 'bool') throw new DTypeError(`round: not supported for bool tensors (${sig(x)})`);
    if (decimals !== 0 && !isFloating(x.dtype))
      throw new DTypeError(`round: decimals ${decimals} needs a floating-point tensor, got ${sig(x)} (PyTorch: not implemented for integers)`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
});

export type LerpInputs = { readonly start: Tensor; readonly end: Tensor; readonly weight: Tensor };

/** start + weight·(end − start), computed from the nearer end as PyTorch does; float tensors of one dtype. */
export const Lerp = defineOp<LerpInputs, NoAttrs>({
  name: 'Lerp',
  meta({ start, end, weight }) {
    if (!isFloating(start.dtype)) throw new DTypeError(`lerp: start must be floating point, got ${sig(start)}`);
    if (end.dtype !== start.dtype) throw new DTypeError(`lerp: expected end of dtype ${start.dtype} like start, got ${sig(end)}`);
    if (!weight.isWrappedNumber && weight.dtype !== start.dtype)
      throw new DTypeError(`lerp: expected weight of dtype ${start.dtype} like start, got ${sig(weight)}`);
    return [{ shape: broadcastShapes('lerp', start.shape, end.shape, weight.shape), dtype: start.dtype }];
  },
  flops: (_i, _a, outs) => 3 * outs[0]!.shape.reduce((p, d) => p * d, 1),
});

export type AddcmulInputs = { readonly x: Tensor; readonly t1: Tensor; readonly t2: Tensor };
export type AddcmulAttrs = { readonly value: number };

/** x + value·t1·t2 in the promoted dtype of the three tensors. */
export const Addcmul = defineOp<AddcmulInputs, AddcmulAttrs>({
  name: 'Addcmul',
  meta({ x, t1, t2 }, { value }) {
    const dtype = resultType([x, t1, t2]);
    if (isIntegral(dtype) && !Number.isInteger(value))
      throw new DTypeError(`addcmul: value ${value} is not an integer but the result type is ${dtype} (${sig(x)}, ${sig(t1)}, ${sig(t2)})`);
    if (dtype === 'bool') throw new DTypeError(`addcmul: not supported for bool tensors (${sig(x)}, ${sig(t1)}, ${sig(t2)})`);
    return [{ shape: broadcastShapes('addcmul', x.shape, t1.shape, t2.shape), dtype }];
  },
  flops: (_i, _a, outs) => 3 * outs[0]!.shape.reduce((p, d) => p * d, 1),
});

// ---- public functions ----

const bin = (op: typeof Maximum, fn: string) => (a: TensorLike, b: TensorLike) =>
  dispatch(op, { a: asTensor(fn, a), b: asTensor(fn, b) }, NO_ATTRS);
const un = (op: typeof Floor, fn: string) => (x: Tensor) => dispatch(op, { x: requireTensor(fn, 'input', x) }, NO_ATTRS);

export const maximum = bin(Maximum, 'maximum');
export const minimum = bin(Minimum, 'minimum');
export const remainder = bin(Remainder, 'remainder');
export const fmod = bin(Fmod, 'fmod');
export const logicalAnd = bin(LogicalAnd, 'logicalAnd');
export const logicalOr = bin(LogicalOr, 'logicalOr');
export const logicalXor = bin(LogicalXor, 'logicalXor');
export const bitwiseAnd = bin(BitwiseAnd, 'bitwiseAnd');
export const bitwiseOr = bin(BitwiseOr, 'bitwiseOr');
export const bitwiseXor = bin(BitwiseXor, 'bitwiseXor');
export const floor = un(Floor, 'floor');
export const ceil = un(Ceil, 'ceil');
export const trunc = un(Trunc, 'trunc');
export const sign = un(Sign, 'sign');
export const square = un(Square, 'square');
export const reciprocal = un(Reciprocal, 'reciprocal');
export const log1p = un(Log1p, 'log1p');
export const expm1 = un(Expm1, 'expm1');
export const log2 = un(Log2, 'log2');
export const isnan = un(IsNan, 'isnan');
export const isinf = un(IsInf, 'isinf');
export const isfinite = un(IsFinite, 'isfinite');
export const logicalNot = un(LogicalNot, 'logicalNot');
export const bitwiseNot = un(BitwiseNot, 'bitwiseNot');

export interface RoundOptions {
  readonly decimals?: number;
}

/** torch.round(x, decimals=0): half to even. */
export function round(x: Tensor, options: RoundOptions | number = {}): Tensor {
  const decimals = typeof options === 'number' ? options : (options.decimals ?? 0);
  return dispatch(Round, { x: requireTensor('round', 'input', x) }, { decimals });
}

/** clamp(x, min=min): PyTorch's clamp_min. */
export function clampMin(x: Tensor, min: number): Tensor {
  return clamp(x, min, null);
}

/** clamp(x, max=max): PyTorch's clamp_max. */
export function clampMax(x: Tensor, max: number): Tensor {
  return clamp(x, null, max);
}

export function lerp(start: Tensor, end: Tensor, weight: TensorLike): Tensor {
  return dispatch(
    Lerp,
    { start: requireTensor('lerp', 'input', start), end: requireTensor('lerp', 'end', end), weight: asTensor('lerp', weight) },
    NO_ATTRS,
  );
}

export interface AddcmulOptions {
  readonly value?: number;
}

export function addcmul(x: Tensor, t1: TensorLike, t2: TensorLike, options: AddcmulOptions = {}): Tensor {
  return dispatch(
    Addcmul,
    { x: requireTensor('addcmul', 'input', x), t1: asTensor('addcmul', t1), t2: asTensor('addcmul', t2) },
    { value: options.value ?? 1 },
  );
}
