/**
 * Indexing ops (split, chunk, repeat, index_select, gather, embedding, masked_fill, tril/triu) and the reductions
 * min/amax/amin/argmin/var/cumsum/topk/log_softmax: bad inputs fail with the right error class and a message
 * naming the op, the shapes or dtypes and the rule; plus behaviour the PyTorch catalog (op_cases.test.ts)
 * cannot express: views, -inf/NaN fill values, int64 beyond 2^53, unsorted topk, Tensor method sugar.
 */
import { describe, expect, it } from 'vitest';
import {
  amax,
  amin,
  arange,
  chunk,
  cumsum,
  DTypeError,
  embedding,
  fromTypedArray,
  gather,
  IndexError,
  indexSelect,
  logSoftmax,
  maskedFill,
  min,
  ones,
  profile,
  randn,
  repeat,
  ShapeError,
  split,
  tensor,
  topk,
  tril,
  triu,
  variance,
  withPolicy,
  zeros,
  type DType,
} from '../core/index.js';
import * as ops from '../core/index.js';

/** Asserts the error class and the full message, so messages stay specific. */
function expectError(fn: () => unknown, cls: new (...args: never[]) => Error, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(cls);
  expect((caught as Error).message).toBe(message);
}

const f = (shape: number[], dtype: DType = 'float32') => zeros(shape, { dtype });
const i64 = (v: number[] | number[][]) => tensor(v, { dtype: 'int64' });
const bools = (shape: number[]) => ones(shape, { dtype: 'bool' });

describe('index errors: wrong ranks, shapes and dtypes', () => {
  it('gather', () => {
    expectError(() => gather(f([4]), 0, f([2, 3], 'int64')), ShapeError, 'gather: index [2,3] and input [4]: rank 2 differs from 1');
    expectError(
      () => gather(f([2, 3]), 1, f([3, 1], 'int64')),
      ShapeError,
      'gather: index [3,1] and input [2,3]: index size 3 exceeds input size 2 at dim 0 (only dim 1 may be larger)',
    );
    expectError(() => gather(f([2, 3]), 1, f([2, 3], 'int32')), DTypeError, 'gather: index must be int64, got int32[2,3]');
    expectError(() => gather(f([2, 3]), 1, f([2, 3])), DTypeError, 'gather: index must be int64, got float32[2,3]');
    expectError(() => gather(f([2, 3]), 2, f([2, 3], 'int64')), ShapeError, 'gather: dim 2 is out of range [-2, 1] for shape [2,3]');
  });

  it('index_select', () => {
    expectError(() => indexSelect(f([2, 3]), 0, i64([[0]])), ShapeError, 'index_select: index [1,1] and input [2,3]: index must be 0-d or 1-d, got 2-d');
    expectError(() => indexSelect(f([2, 3]), 0, tensor([0], { dtype: 'float32' })), DTypeError, 'index_select: index must be int32 or int64, got float32[1]');
    expectError(() => indexSelect(f([2, 3]), 0, tensor([0], { dtype: 'int16' })), DTypeError, 'index_select: index must be int32 or int64, got int16[1]');
    expectError(() => indexSelect(f([2, 3]), -3, i64([0])), ShapeError, 'index_select: dim -3 is out of range [-2, 1] for shape [2,3]');
  });

  it('embedding', () => {
    expectError(() => embedding(i64([1]), f([10])), ShapeError, 'embedding: weight [10] must be 2-D [num_embeddings, embedding_dim], got 1-d');
    expectError(() => embedding(tensor([1.5], { dtype: 'float32' }), f([10, 4])), DTypeError, 'embedding: indices must be int32 or int64, got float32[1]');
    expectError(() => embedding(tensor([1], { dtype: 'uint8' }), f([10, 4])), DTypeError, 'embedding: indices must be int32 or int64, got uint8[1]');
  });
});

describe('out-of-range index values name the value and the range', () => {
  it('gather', () => {
    expectError(() => gather(f([2, 3]), 1, i64([[0], [3]])), IndexError, 'gather: index 3 is out of range [0, 3) for dim 1 of input float32[2,3]');
    expectError(() => gather(f([2, 3]), -1, i64([[-1], [0]])), IndexError, 'gather: index -1 is out of range [0, 3) for dim 1 of input float32[2,3]');
  });

  it('index_select', () => {
    expectError(() => indexSelect(f([2, 3]), 0, i64([0, 2])), IndexError, 'index_select: index 2 is out of range [0, 2) for dim 0 of input float32[2,3]');
    expectError(
      () => indexSelect(f([2, 3], 'int32'), 1, tensor([-1], { dtype: 'int32' })),
      IndexError,
      'index_select: index -1 is out of range [0, 3) for dim 1 of input int32[2,3]',
    );
    expectError(() => indexSelect(f([0, 3]), 0, i64([0])), IndexError, 'index_select: index 0 is out of range [0, 0) for dim 0 of input float32[0,3]');
  });

  it('embedding, with int64 values printed exactly', () => {
    expectError(() => embedding(i64([1, 10]), f([10, 4])), IndexError, 'embedding: index 10 is out of range [0, 10) for weight float32[10,4] (num_embeddings 10)');
    expectError(() => embedding(tensor([-1], { dtype: 'int32' }), f([10, 4])), IndexError, 'embedding: index -1 is out of range [0, 10) for weight float32[10,4] (num_embeddings 10)');
    expectError(
      () => embedding(fromTypedArray(BigInt64Array.of(2n ** 62n + 1n)), f([10, 4], 'bfloat16')),
      IndexError,
      'embedding: index 4611686018427387905 is out of range [0, 10) for weight bfloat16[10,4] (num_embeddings 10)',
    );
  });
});

describe('masked_fill errors', () => {
  it('needs a bool mask that broadcasts', () => {
    expectError(() => maskedFill(f([3]), ones([3]), 1), DTypeError, 'masked_fill: mask must be a bool tensor, got float32[3] (input float32[3])');
    expectError(() => maskedFill(f([3]), ones([3], { dtype: 'uint8' }), 1), DTypeError, 'masked_fill: mask must be a bool tensor, got uint8[3] (input float32[3])');
    expectError(() => maskedFill(f([3]), bools([4]), 1), ShapeError, 'masked_fill: shapes [3] and [4] cannot be broadcast: dim -1 is 3 vs 4');
  });

  it('refuses values the dtype cannot hold (PyTorch checks for overflow), and value tensors that are not 0-dim', () => {
    expectError(() => maskedFill(f([3], 'int8'), bools([3]), 1000), DTypeError, 'masked_fill: value 1000 cannot be converted to int8 without overflow (input int8[3])');
    expectError(() => maskedFill(f([3], 'int8'), bools([3]), 127.5), DTypeError, 'masked_fill: value 127.5 cannot be converted to int8 without overflow (input int8[3])');
    expectError(() => maskedFill(f([3], 'uint8'), bools([3]), -256), DTypeError, 'masked_fill: value -256 cannot be converted to uint8 without overflow (input uint8[3])');
    expectError(() => maskedFill(f([3], 'float16'), bools([3]), 1e5), DTypeError, 'masked_fill: value 100000 cannot be converted to float16 without overflow (input float16[3])');
    expectError(() => maskedFill(f([3], 'int32'), bools([3]), NaN), DTypeError, 'masked_fill: value NaN cannot be converted to int32 without overflow (input int32[3])');
    expectError(() => maskedFill(f([3]), bools([3]), f([1])), ShapeError, 'masked_fill: a value tensor must be 0-dim, got float32[1]');
  });
});

describe('split, chunk, repeat, tril/triu errors', () => {
  it('split sizes', () => {
    expectError(
      () => split(f([4, 2]), [1, 2]),
      ShapeError,
      'split: split sizes [1,2] and input [4,2]: sizes sum to 3 but dim 0 has size 4; they must sum exactly to it',
    );
    expectError(() => split(f([4, 2]), [5, -1]), ShapeError, 'split: split sizes [5,-1] and input [4,2]: sizes must be non-negative integers');
    expectError(() => split(f([4, 2]), -1), ShapeError, 'split: split_size must be a non-negative integer, got -1 (input [4,2])');
    expectError(() => split(f([4, 2]), 1.5), ShapeError, 'split: split_size must be a non-negative integer, got 1.5 (input [4,2])');
    expectError(
      () => split(f([4, 2]), 0),
      ShapeError,
      'split: split_size 0 and input [4,2]: split_size can only be 0 if dim 0 has size 0, but it has size 4',
    );
    expectError(() => split(f([]), 1), ShapeError, 'split: input float32[] is 0-dim: expects at least a 1-dimensional tensor');
    expectError(() => split(f([4, 2]), 1, 2), ShapeError, 'split: dim 2 is out of range [-2, 1] for shape [4,2]');
  });

  it('chunk counts', () => {
    expectError(() => chunk(f([4]), 0), ShapeError, 'chunk: chunks must be a positive integer, got 0 (input [4])');
    expectError(() => chunk(f([]), 2), ShapeError, 'chunk: input float32[] is 0-dim: expects at least a 1-dimensional tensor');
  });

  it('repeat sizes', () => {
    expectError(
      () => f([2, 3]).repeat(2),
      ShapeError,
      "repeat: repeats [2] and input [2,3]: the number of repeat dims 1 must be >= the input's rank 2",
    );
    expectError(() => repeat(f([2, 3]), [2, -1]), ShapeError, 'repeat: repeats [2,-1] and input [2,3]: repeats must be non-negative integers');
  });

  it('tril/triu need a matrix and an integer diagonal', () => {
    expectError(() => tril(f([3])), ShapeError, 'tril: input [3] must have at least 2 dims (the last two are the matrix)');
    expectError(() => triu(f([3, 3]), 0.5), ShapeError, 'triu: diagonal must be an integer, got 0.5');
  });
});

describe('reduction errors', () => {
  it('topk k out of range, bool input', () => {
    expectError(() => topk(f([3, 4]), 5), ShapeError, 'topk: k 5 and input [3,4]: k must be in [0, 4], the size of dim 1');
    expectError(() => topk(f([3, 4]), -1, 0), ShapeError, 'topk: k -1 and input [3,4]: k must be in [0, 3], the size of dim 0');
    expectError(() => topk(f([]), 2), ShapeError, 'topk: k 2 and input []: k must be in [0, 1], as the input is 0-dim');
    expectError(() => topk(f([3, 4], 'bool'), 1), DTypeError, 'topk: bool inputs are not supported, got bool[3,4]');
  });

  it('empty reductions and bad dims', () => {
    expectError(() => min(f([0, 3])), ShapeError, 'min: float32[0,3] is empty: specify a dim to reduce an empty tensor');
    expectError(() => min(f([0, 3]), 0), ShapeError, 'min: cannot reduce over dim 0 of size 0 (shape [0,3])');
    expectError(() => amax(f([0, 3])), ShapeError, 'amax: float32[0,3] is empty: specify a dim to reduce an empty tensor');
    expectError(() => amin(f([0, 3]), [1, 0]), ShapeError, 'amin: cannot reduce over dim 0 of size 0 (shape [0,3])');
    expectError(() => amax(f([2, 3]), [0, -2]), ShapeError, 'amax: dim -2 appears more than once in [0,-2]');
    expectError(() => ops.argmin(f([0])), ShapeError, 'argmin: float32[0] is empty: specify a dim to reduce an empty tensor');
    expectError(() => cumsum(f([3]), 1), ShapeError, 'cumsum: dim 1 is out of range [-1, 0] for shape [3]');
  });

  it('dtype rules', () => {
    expectError(() => variance(f([3], 'int32')), DTypeError, "var: only floating-point inputs are supported, got int32[3] (cast with .to('float32'))");
    expectError(() => cumsum(f([3]), 0, { dtype: 'bool' }), DTypeError, 'cumsum: dtype bool is not supported (input float32[3]); accumulate in an integer dtype');
    expectError(() => logSoftmax(f([3], 'int64'), 0), DTypeError, "log_softmax: expected a floating-point tensor, got int64[3] (cast with .to('float32'))");
  });
});

describe('behaviour beyond the PyTorch catalog', () => {
  it('split and chunk are views of the input, run as a decomposition', () => {
    const x = arange(12).reshape([3, 4]);
    const p = profile(() => x.split([1, 3], 1));
    const [a, b] = p.result;
    expect(a!.storage).toBe(x.storage);
    expect(b!.storage).toBe(x.storage);
    expect(b!.tolist()).toEqual([[1, 2, 3], [5, 6, 7], [9, 10, 11]]);
    expect(p.records.map((r) => [r.op, r.backend])).toEqual([['Split', 'decompose']]);
    expect(chunk(x, 2, -1).map((t) => t.shape)).toEqual([[3, 2], [3, 2]]);
  });

  it('masked_fill takes -inf, NaN and 0-dim tensor values', () => {
    const x = zeros([2, 2], { dtype: 'float16' });
    const m = tensor([[true, false], [false, true]]);
    expect(maskedFill(x, m, -Infinity).tolist()).toEqual([[-Infinity, 0], [0, -Infinity]]);
    expect(Number.isNaN((maskedFill(zeros([1]), tensor([true]), NaN).tolist() as number[])[0])).toBe(true);
    expect(x.maskedFill(m, tensor(7)).tolist()).toEqual([[7, 0], [0, 7]]);
    expect(maskedFill(zeros([2], { dtype: 'uint8' }), tensor([true, false]), -1).tolist()).toEqual([255, 0]);
  });

  it('int64 values beyond 2^53 stay exact through gather, index_select, min, topk and cumsum', () => {
    const big = 2n ** 60n;
    const x = fromTypedArray(BigInt64Array.of(big + 1n, big + 3n, big + 2n));
    expect(Array.from(x.gather(0, i64([2, 0])).toArray() as BigInt64Array)).toEqual([big + 2n, big + 1n]);
    expect(Array.from(x.indexSelect(0, i64([1])).toArray() as BigInt64Array)).toEqual([big + 3n]);
    expect(x.min().toArray()[0]).toBe(big + 1n);
    const t = x.topk(2);
    expect(Array.from(t.values.toArray() as BigInt64Array)).toEqual([big + 3n, big + 2n]);
    expect(t.indices.tolist()).toEqual([1, 2]);
    expect(Array.from(cumsum(fromTypedArray(BigInt64Array.of(big, 5n)), 0).toArray() as BigInt64Array)).toEqual([big, big + 5n]);
  });

  it('topk with sorted=false returns the same elements (opshift always sorts)', () => {
    const x = randn([5, 30]);
    const s = topk(x, 6, -1, true, true);
    const u = topk(x, 6, -1, true, false);
    expect(u.values.tolist()).toEqual(s.values.tolist());
    expect(u.indices.tolist()).toEqual(s.indices.tolist());
  });

  it('amax over several dims equals nested maxima; amin = -amax(-x)', () => {
    const x = randn([3, 4, 5]);
    expect(amax(x, [0, 2]).tolist()).toEqual(x.max(2).values.max(0).values.tolist());
    expect(x.amin([1, -1], true).tolist()).toEqual(x.neg().amax([1, 2], true).neg().tolist());
  });

  it('var: unbiased flag and correction options agree', () => {
    const x = randn([4, 6]);
    expect(x.var(1, false).tolist()).toEqual(variance(x, 1, { correction: 0 }).tolist());
    expect(x.var(1).tolist()).toEqual(variance(x, [1], { correction: 1 }).tolist());
    expect(x.var([0, 1], true, true).shape).toEqual([1, 1]);
    expect(ops.var(x).shape).toEqual([]);
  });

  it('log_softmax: fused and decomposed agree on masked rows (-inf logits)', () => {
    const x = randn([3, 5]).maskedFill(tensor([false, true, false, false, true]), -Infinity);
    const fused = logSoftmax(x, -1);
    const decomposed = withPolicy({ LogSoftmax: 'decompose' }, () => logSoftmax(x, -1));
    const a = fused.tolist() as number[][];
    const b = decomposed.tolist() as number[][];
    for (let i = 0; i < 3; i++) {
      expect(a[i]![1]).toBe(-Infinity);
      for (let j = 0; j < 5; j++) expect(a[i]![j]).toBeCloseTo(b[i]![j]!, 5);
    }
    for (const s of fused.exp().sum(-1).tolist() as number[]) expect(s).toBeCloseTo(1, 6);
  });

  it('Tensor methods delegate to the ops', () => {
    const x = arange(6).reshape([2, 3]).to('float32');
    expect(x.tril().tolist()).toEqual([[0, 0, 0], [3, 4, 0]]);
    expect(x.triu(1).tolist()).toEqual([[0, 1, 2], [0, 0, 5]]);
    expect(x.repeat([1, 2]).shape).toEqual([2, 6]);
    expect(x.chunk(3, 1).length).toBe(3);
    expect(x.min(1).indices.tolist()).toEqual([0, 0]);
    expect(x.argmin().item()).toBe(0);
    expect(x.cumsum(1).tolist()).toEqual([[0, 1, 3], [3, 7, 12]]);
    expect(x.logSoftmax(0).shape).toEqual([2, 3]);
  });
});
