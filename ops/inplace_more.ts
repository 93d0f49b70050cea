/**
 * In-place `_` forms (`x.add_(y)`, `x.clamp_(0, 1)`, `x.fill_(0)`, …): the out-of-place op computes the result,
 * which is then written into x's own storage through copy_ (ops/inplace.ts), so every view of that storage
 * sees it and constant tensors refuse the write. PyTorch's in-place rules are checked first:
 *   - the result must have x's shape (x itself is never broadcast: `[3,1].add_([4])` is an error);
 *   - the result dtype must be castable to x's dtype under PyTorch's `can_cast` (no float into an integer
 *     tensor, no number into bool), e.g. `int32.add_(0.5)` fails as it does in PyTorch.
 * There is no autograd, so the in-place forms save memory and keep aliases in sync, nothing more.
 */
import { isFloating, isIntegral, type DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { full } from './creation.js';
import { copy_ } from './inplace.js';
import { sig } from './util.js';

/** PyTorch's can_cast: the kind may not go down (float -> int, int -> bool). */
function canCast(from: DType, to: DType): boolean {
  if (isFloating(from)) return isFloating(to);
  if (isIntegral(from)) return to !== 'bool';
  return true;
}

/** Write `result` (computed from x) into x in place, after PyTorch's in-place shape and dtype checks; returns x. */
export function writeInPlace(op: string, x: Tensor, result: Tensor): Tensor {
  if (result.shape.length !== x.shape.length || result.shape.some((n, i) => n !== x.shape[i]))
    throw new ShapeError(`${op}: output with shape ${formatShape(x.shape)} doesn't match the broadcast shape ${formatShape(result.shape)} (an in-place op cannot grow its tensor)`);
  if (!canCast(result.dtype, x.dtype))
    throw new DTypeError(`${op}: result type ${result.dtype} can't be cast to the desired output type ${x.dtype} of ${sig(x)}`);
  return copy_(x, result);
}

/** x.fill_(value): every element of the view set to value (cast to x's dtype). */
export function fill_(x: Tensor, value: number | boolean | Tensor): Tensor {
  if (typeof value !== 'object') return copy_(x, full([], value, { dtype: x.dtype }));
  if (value.ndim !== 0) throw new ShapeError(`fill_: the value must be a number or a 0-dim tensor, got shape ${formatShape(value.shape)}`);
  return copy_(x, value);
}

/** x.zero_(). */
export function zero_(x: Tensor): Tensor {
  return fill_(x, 0);
}
