import { describe, expect, it } from 'vitest';
import {
  arange,
  cat,
  DTypeError,
  linear,
  ones,
  ShapeError,
  stack,
  tensor,
  where,
  zeros,
  fromTypedArray,
  randint,
  type DType,
} from '../core/index.js';

/** Asserts the error class and the full message, so messages stay specific. */
function expectError(fn: () => unknown, cls: new (...args: never[]) => Error, message: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(cls);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else expect((caught as Error).message).toMatch(message);
}

const f = (shape: number[]) => zeros(shape);

describe('shape errors name the op, the shapes and the rule', () => {
  it('matmul inner dims', () => {
    expectError(() => f([2, 3]).matmul(f([4, 5])), ShapeError, 'matmul: [2,3] @ [4,5]: inner dims 3 and 4 differ');
    expectError(() => f([]).matmul(f([3])), ShapeError, 'matmul: [] @ [3]: both arguments need at least 1 dim');
    expectError(
      () => f([2, 2, 3]).matmul(f([3, 3, 4])),
      ShapeError,
      'matmul (batch dims): shapes [2] and [3] cannot be broadcast: dim -1 is 2 vs 3',
    );
  });

  it('broadcasting that cannot work', () => {
    expectError(() => f([2, 3]).add(f([4])), ShapeError, 'add: shapes [2,3] and [4] cannot be broadcast: dim -1 is 3 vs 4');
    expectError(() => where(f([2]).gt(0), f([3]), 0), ShapeError, /^where: shapes \[2\] and \[3\] and \[\] cannot be broadcast/);
  });

  it('out-of-range dims', () => {
    expectError(() => f([2, 3]).sum(2), ShapeError, 'sum: dim 2 is out of range [-2, 1] for shape [2,3]');
    expectError(() => f([2, 3]).softmax(-3), ShapeError, 'softmax: dim -3 is out of range [-2, 1] for shape [2,3]');
    expectError(() => f([2, 3]).transpose(0, 5), ShapeError, 'transpose: dim 5 is out of range [-2, 1] for shape [2,3]');
    expectError(() => f([2, 3]).unsqueeze(4), ShapeError, 'unsqueeze: dim 4 is out of range [-3, 2] for shape [2,3]');
    expectError(() => f([2, 3]).max(3), ShapeError, 'max: dim 3 is out of range [-2, 1] for shape [2,3]');
    expectError(() => f([2, 3]).sum([0, 0]), ShapeError, 'sum: dim 0 appears more than once in [0,0]');
  });

  it('views', () => {
    expectError(
      () => f([2, 3]).t().view(6),
      ShapeError,
      'view: shape [3,2] with strides [1,3] cannot be viewed as [6] without a copy: size is not compatible with the input\'s size and stride; use reshape()',
    );
    expectError(() => f([2, 3]).view(4, -1), ShapeError, 'view: shape [4,-1] is invalid for input of size 6 (shape [2,3])');
    expectError(() => f([2, 3]).reshape(-1, -1), ShapeError, 'reshape: only one dimension can be inferred in [-1,-1]');
    expectError(() => f([2, 3]).expand(2, 4), ShapeError, 'expand: shape [2,3] cannot expand to [2,4]: dim 1 has size 3, which is not 1');
    expectError(() => f([2, 3]).narrow(1, 2, 2), ShapeError, 'narrow: start 2 + length 2 exceeds dim 1 of size 3 (shape [2,3])');
    expectError(() => f([2, 3]).slice(0, 0, 2, 0), ShapeError, 'slice: step must be a positive integer, got 0');
    expectError(() => f([2, 3]).permute(0, 0), ShapeError, 'permute: dim 0 repeats in [0,0]');
    expectError(() => f([2, 3, 4]).t(), ShapeError, /^t: expects a tensor with <= 2 dims, but shape \[2,3,4\] is 3-d/);
    expectError(() => f([2, 3]).item(), ShapeError, 'item: a tensor with 6 elements (shape [2,3]) cannot be converted to a number');
  });

  it('cat, stack and linear', () => {
    expectError(() => cat([f([2, 3]), f([2, 4])], 0), ShapeError, 'cat: sizes must match except in dim 0: tensor 0 has [2,3] but tensor 1 has [2,4] (dim 1)');
    expectError(() => cat([], 0), ShapeError, 'cat: expected a non-empty list of tensors');
    expectError(() => stack([f([2]), f([3])]), ShapeError, 'stack: all tensors must have the same shape: tensor 0 has [2], tensor 1 has [3]');
    expectError(() => linear(f([4, 3]), f([5, 2])), ShapeError, 'linear: input [4,3] and weight [5,2]: in_features 3 and 2 differ');
    expectError(() => linear(f([4, 3]), f([5, 3]), f([4])), ShapeError, 'linear: bias [4] must be [5] for weight [5,3]');
  });

  it('creation', () => {
    expectError(() => tensor([[1, 2], [3]]), ShapeError, 'tensor: ragged nested array: data[1] has length 1, expected length 2 (shape [2,2])');
    expectError(() => zeros([2, -1]), ShapeError, 'empty: invalid size -1 in shape [2,-1]');
    expectError(() => fromTypedArray(new Float32Array(5), [2, 3]), ShapeError, 'fromTypedArray: shape [2,3] has 6 elements but the array has 5');
    expect(() => arange(0, 5, 0)).toThrow('arange: step must be nonzero');
    expect(() => randint(5, 5, [2])).toThrow('randint: expected integers low < high, got low=5, high=5');
  });
});

describe('dtype errors', () => {
  it('ops that need floats say so', () => {
    const i = tensor([1, 2, 3]);
    expectError(() => i.mean(), DTypeError, "mean: could not infer output dtype: input must be floating point, got int64[3] (cast with .to('float32'))");
    expectError(() => i.silu(), DTypeError, "silu: expected a floating-point tensor, got int64[3] (cast with .to('float32'))");
    expectError(() => i.softmax(0), DTypeError, "softmax: expected a floating-point tensor, got int64[3] (cast with .to('float32'))");
  });

  it('mismatched and unsupported dtypes', () => {
    expectError(
      () => ones([2, 2]).matmul(ones([2, 2], { dtype: 'float16' })),
      DTypeError,
      'matmul: expected all operands to have the same dtype, got float32[2,2], float16[2,2]',
    );
    const bools = tensor([true, false]);
    expectError(() => bools.sub(bools), DTypeError, 'sub: bool[2] and bool[2]: the operation is not supported for two bool operands');
    expectError(() => bools.neg(), DTypeError, 'neg: not supported for bool tensors (bool[2])');
    expectError(() => where(tensor([1, 0]), 1, 2), DTypeError, 'where: condition must be a bool tensor, got int64[2]');
    expectError(() => tensor([1, 2]).pow(-1), DTypeError, 'pow: int64[2] ** -1: integers to negative integer powers are not allowed');
    expectError(() => tensor([2]).pow(tensor([-1])), DTypeError, /^pow: int64 \*\* int64: Integers to negative integer powers are not allowed/);
    expectError(() => ones([2]).to('float64' as DType), DTypeError, "to: unknown dtype 'float64' (for float32[2])");
    expectError(() => tensor([1], { dtype: 'complex64' as DType }), DTypeError, "tensor: unknown dtype 'complex64'");
    expectError(() => fromTypedArray(new Uint16Array(2)), DTypeError, /a Uint16Array is ambiguous/);
    expectError(() => ones([2]).add([1, 2] as never), DTypeError, 'add: expected a Tensor, number or boolean, got an array (wrap it with tensor())');
    expectError(() => ones([2]).matmul(undefined as never), DTypeError, "matmul: argument 'other' must be a Tensor, got undefined");
  });

  it('clamp bounds the integer result type cannot hold', () => {
    expectError(() => tensor([1, 2], { dtype: 'int8' }).clamp(-1000, 3), DTypeError, 'clamp: min -1000 is out of range for int8 [-128, 127] (input int8[2])');
    expect(tensor([1, 200], { dtype: 'uint8' }).clamp(0, 100).tolist()).toEqual([1, 100]);
  });

  it('reductions of empty tensors', () => {
    expectError(() => zeros([0]).max(), ShapeError, 'max: float32[0] is empty: specify a dim to reduce an empty tensor');
    expectError(() => zeros([2, 0]).argmax(1), ShapeError, 'argmax: cannot reduce over dim 1 of size 0 (shape [2,0])');
    expect(zeros([2, 0]).sum(1).tolist()).toEqual([0, 0]);
  });
});

describe('0-dim reductions', () => {
  it('reduce a 0-dim tensor over dim 0 / -1 like PyTorch', () => {
    const s = tensor(3.5, { dtype: 'float32' });
    expect(s.sum(0).item()).toBe(3.5);
    expect(s.mean(-1).item()).toBe(3.5);
    expect(s.softmax(0).item()).toBe(1);
    expect(s.max(0).values.item()).toBe(3.5);
  });
});
