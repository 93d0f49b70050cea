/** Small helpers shared by op definitions. */
import { DTypeError } from '../core/errors.js';
import { isFloating, type DType } from '../core/dtype.js';
import { formatShape } from '../core/shape.js';
import { Tensor, type TensorLike } from '../core/tensor.js';

/** A JS number or boolean becomes a wrapped scalar tensor (PyTorch's wrapped number). */
export function asTensor(op: string, v: TensorLike): Tensor {
  if (v instanceof Tensor) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return Tensor.fromScalar(v);
  throw new DTypeError(`${op}: expected a Tensor, number or boolean, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array (wrap it with tensor())';
  return typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
}

export function requireTensor(op: string, name: string, v: unknown): Tensor {
  if (v instanceof Tensor) return v;
  throw new DTypeError(`${op}: argument '${name}' must be a Tensor, got ${describe(v)}`);
}

/** `float32[2,3]`, for messages. */
export function sig(t: Tensor): string {
  return t.isWrappedNumber ? `scalar ${String(t.wrappedValue)}` : `${t.dtype}${formatShape(t.shape)}`;
}

export function requireFloat(op: string, t: Tensor): void {
  if (!isFloating(t.dtype)) throw new DTypeError(`${op}: expected a floating-point tensor, got ${sig(t)} (cast with .to('float32'))`);
}

/** Ints and bools compute in float32 for ops like exp/log/sqrt (PyTorch's "int to float" promotion). */
export function floatOf(d: DType): DType {
  return isFloating(d) ? d : 'float32';
}
