/**
 * Issue #18 part A beyond the op-case catalog: creation ops against PyTorch (test/fixtures/ops_more.json from
 * make_ops_more.py: multinomial draws, eye, tril/triu indices, one_hot), float32 -> bfloat16 NaN patterns per
 * layout, variadic factory shapes, softmax's implicit dim, keepdim options, the Tensor members and in-place
 * forms, and the errors of bad calls.
 */
import { describe, expect, it, vi } from 'vitest';
import * as o from '../core/index.js';
import { fromTypedArray, manualSeed, tensor, type Tensor } from '../core/index.js';
import { loadFixture } from './helpers.js';

interface Fixture {
  bf16_nan: Record<string, number[]>;
  multinomial: { seed: number; probs: number[] | number[][]; n: number; replacement: boolean; out: number[] | number[][] }[];
  eye: { n: number; m: number | null; out: number[][] }[];
  tril_indices: { args: [number, number, number]; out: number[][] }[];
  triu_indices: { args: [number, number, number]; out: number[][] }[];
  one_hot: { x: number[] | number[][]; k: number; out: unknown[] }[];
}
const fx = loadFixture<Fixture>('ops_more.json');

const NANS = [0x7fc00000, 0xffc00000, 0x7f800001, 0xffc00001];
const ONE = 0x3f800000;
const f32 = (bits: number[], shape: number[]): Tensor => fromTypedArray(new Float32Array(new Uint32Array(bits).buffer), shape);
const bf16Bits = (t: Tensor): number[] => Array.from(t.to('bfloat16').contiguous().toTypedArray() as Uint16Array);

describe('float32 -> bfloat16 NaN patterns match PyTorch per layout', () => {
  const views: Record<string, () => Tensor> = {
    '0d': () => f32([NANS[1]!], []),
    '1d': () => f32(NANS, [4]),
    '1d_single': () => f32([NANS[3]!], [1]),
    strided: () => f32(NANS.flatMap((n) => [n, ONE]), [8]).slice(0, 0, undefined, 2),
    transposed: () => f32([NANS[0]!, ONE, NANS[2]!, ONE, NANS[3]!, NANS[1]!], [2, 3]).t(),
    column: () => f32([NANS[0]!, ONE, NANS[1]!, ONE, NANS[2]!, ONE], [3, 2]).narrow(1, 0, 1).squeeze(1),
    row_slice: () => f32([NANS[0]!, ONE, NANS[1]!, NANS[2]!, ONE, NANS[3]!], [2, 3]).narrow(1, 0, 2),
    expand_1d: () => f32([NANS[2]!], [1]).expand(5),
    expand_2d: () => f32([NANS[0]!, ONE, NANS[1]!, ONE], [1, 4]).expand(3, 4),
  };
  it('covers every fixture case', () => expect(Object.keys(views).sort()).toEqual(Object.keys(fx.bf16_nan).sort()));
  for (const [name, build] of Object.entries(views)) it(name, () => expect(bf16Bits(build())).toEqual(fx.bf16_nan[name]));
});

describe('creation ops match PyTorch', () => {
  it('multinomial draws the same samples from the same seed', () => {
    for (const c of fx.multinomial) {
      manualSeed(c.seed);
      const r = o.multinomial(tensor(c.probs, { dtype: 'float32' }), c.n, { replacement: c.replacement });
      expect(r.dtype).toBe('int64');
      expect(r.tolist(), JSON.stringify(c)).toEqual(c.out);
    }
  });
  it('multinomial without replacement never repeats a category and skips zero weights while others remain', () => {
    manualSeed(7);
    const r = o.multinomial(tensor([[0, 1, 2, 3, 0, 5]], { dtype: 'float32' }), 4) ;
    const row = (r.tolist() as number[][])[0]!;
    expect(new Set(row).size).toBe(4);
    expect(row.every((i) => i !== 0 && i !== 4)).toBe(true);
  });
  it('eye', () => {
    for (const c of fx.eye) expect((c.m === null ? o.eye(c.n) : o.eye(c.n, c.m)).tolist()).toEqual(c.out);
    expect(o.eye(2, { dtype: 'int32' }).dtype).toBe('int32');
  });
  it('trilIndices / triuIndices', () => {
    for (const c of fx.tril_indices) expect(o.trilIndices(...c.args).tolist(), JSON.stringify(c.args)).toEqual(c.out);
    for (const c of fx.triu_indices) expect(o.triuIndices(...c.args).tolist(), JSON.stringify(c.args)).toEqual(c.out);
  });
  it('oneHot', () => {
    for (const c of fx.one_hot) expect(o.oneHot(tensor(c.x, { dtype: 'int64' }), c.k).tolist()).toEqual(c.out);
    expect(o.oneHot(tensor([], { dtype: 'int64' }), 3).shape).toEqual([0, 3]);
  });
  it('*Like factories keep shape and dtype', () => {
    const x = o.zeros(2, 3, { dtype: 'float16' });
    for (const t of [o.emptyLike(x), o.randLike(x), o.randnLike(x), o.zerosLike(x), o.onesLike(x), o.fullLike(x, 2)]) {
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe('float16');
    }
    const i = o.randintLike(o.zeros(4, { dtype: 'int32' }), 0, 3);
    expect(i.dtype).toBe('int32');
    expect(numbers(i).every((v) => v >= 0 && v < 3)).toBe(true);
    expect(() => o.randLike(o.zeros(2, { dtype: 'int64' }))).toThrow(/randLike: needs a floating-point dtype, got int64\[2\]/);
  });
});

const numbers = (t: Tensor): number[] => Array.from(t.toArray() as ArrayLike<number | bigint>, Number);

describe('argument forms', () => {
  it('factories take variadic sizes, an array, and options last', () => {
    expect(o.zeros(2, 3).shape).toEqual([2, 3]);
    expect(o.ones(2, 3, { dtype: 'int32' }).dtype).toBe('int32');
    expect(o.empty([4], { dtype: 'bool' }).shape).toEqual([4]);
    expect(o.zeros().shape).toEqual([]);
    manualSeed(3);
    const a = o.randn(2, 3);
    manualSeed(3);
    expect(numbers(o.randn([2, 3]))).toEqual(numbers(a));
    manualSeed(3);
    expect(numbers(o.rand(5, { dtype: 'float32' }))).toEqual((() => (manualSeed(3), numbers(o.rand([5]))))());
    expect(() => o.zeros(2, [3] as unknown as number)).toThrow(/zeros: expected sizes as numbers or one array/);
  });

  it('softmax without dim uses PyTorch\'s implicit dim and warns once', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      for (const shape of [[5], [3, 4], [2, 3, 4], [2, 3, 4, 2]]) {
        manualSeed(1);
        const x = o.randn(shape);
        const dim = shape.length === 1 || shape.length === 3 ? 0 : 1;
        expect(numbers(o.softmax(x)), `shape ${shape}`).toEqual(numbers(o.softmax(x, dim)));
        expect(numbers(x.logSoftmax()), `shape ${shape}`).toEqual(numbers(o.logSoftmax(x, dim)));
      }
      const calls = warn.mock.calls.map((c) => String(c[0]));
      expect(calls.filter((m) => m.startsWith('softmax:')).length).toBeLessThanOrEqual(1);
      expect(calls.filter((m) => m.startsWith('logSoftmax:')).length).toBeLessThanOrEqual(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('keepdim positionally or as an option, negative dims', () => {
    const x = o.rand(2, 3, 4);
    for (const r of [o.sum(x, -1, { keepdim: true }), o.mean(x, -1, true), o.amax(x, [-1], { keepdim: true }), o.argmax(x, -1, { keepdim: true })])
      expect(r.shape).toEqual([2, 3, 1]);
    expect(o.max(x, -2, { keepdim: true }).values.shape).toEqual([2, 1, 4]);
    expect(o.any(x.gt(0.5), -1, { keepdim: true }).shape).toEqual([2, 3, 1]);
    expect(o.logsumexp(x, [0, -1], { keepdim: true }).shape).toEqual([1, 3, 1]);
  });
});

describe('negative dims', () => {
  it('every dim argument accepts a negative index', () => {
    const x = o.arange(24).reshape(2, 3, 4).to('float32');
    const pairs: [Tensor, Tensor][] = [
      [o.cumsum(x, -1), o.cumsum(x, 2)],
      [o.topk(x, 2, -1).values, o.topk(x, 2, 2).values],
      [o.indexSelect(x, -1, tensor([0, 2])), o.indexSelect(x, 2, tensor([0, 2]))],
      [o.cat([x, x], -1), o.cat([x, x], 2)],
      [o.stack([x, x], -1), o.stack([x, x], 3)],
      [x.transpose(-1, -3), x.transpose(2, 0)],
      [x.flatten(-2), x.flatten(1)],
      [o.logSoftmax(x, -2), o.logSoftmax(x, 1)],
      [o.prod(x, -1), o.prod(x, 2)],
      [o.std(x, -1), o.std(x, 2)],
      [o.logsumexp(x, -3), o.logsumexp(x, 0)],
      [o.countNonzero(x, -1), o.countNonzero(x, 2)],
      [x.permute(-1, 0, 1), x.permute(2, 0, 1)],
      [x.min(-1).indices, x.min(2).indices],
    ];
    for (const [a, b] of pairs) {
      expect(a.shape).toEqual(b.shape);
      expect(numbers(a)).toEqual(numbers(b));
    }
  });
  it('nonzero as a tuple of index tensors', () => {
    const idx = o.nonzero(tensor([[0, 1], [1, 1]]), { asTuple: true }) as Tensor[];
    expect(idx.map((t) => t.tolist())).toEqual([[0, 1, 1], [1, 0, 1]]);
  });
});

describe('Tensor members', () => {
  it('T, mT, stride, size, dim, isContiguous, detach', () => {
    const x = o.arange(24).reshape(2, 3, 4);
    expect(x.T.shape).toEqual([4, 3, 2]);
    expect(x.mT.shape).toEqual([2, 4, 3]);
    expect(x.stride()).toEqual([12, 4, 1]);
    expect(x.stride(-1)).toBe(1);
    expect(x.mT.isContiguous()).toBe(false);
    expect(x.size(-2)).toBe(3);
    expect(x.dim()).toBe(3);
    expect(x.numel()).toBe(24);
    const d = x.detach();
    expect(d.storage).toBe(x.storage);
    expect(() => o.arange(3).mT).toThrow(/transpose/);
  });
  it('dtype shorthands', () => {
    const x = tensor([1.5, -2.5]);
    expect([x.half(), x.float(), x.bfloat16(), x.long(), x.int(), x.short(), x.char(), x.byte(), x.bool()].map((t) => t.dtype)).toEqual([
      'float16', 'float32', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool',
    ]);
    expect(x.long().tolist()).toEqual([1, -2]);
  });
});

describe('in-place forms write into the tensor\'s own storage', () => {
  it('a view\'s in-place op is seen by its base', () => {
    const base = o.zeros(3, 4);
    const row = base.narrow(0, 1, 1);
    expect(row.add_(2).mul_(tensor([1, 2, 3, 4], { dtype: 'float32' }))).toBe(row);
    expect(base.tolist()).toEqual([[0, 0, 0, 0], [2, 4, 6, 8], [0, 0, 0, 0]]);
    base.mT.narrow(0, 0, 1).fill_(-1); // column 0, through a transposed view
    expect(numbers(base.narrow(1, 0, 1))).toEqual([-1, -1, -1]);
    base.clamp_(0, 5).sub_(1).div_(2);
    expect(base.tolist()).toEqual([[-0.5, -0.5, -0.5, -0.5], [-0.5, 1.5, 2, 2], [-0.5, -0.5, -0.5, -0.5]]);
    base.maskedFill_(base.lt(0), 9).zero_();
    expect(numbers(base).every((v) => v === 0)).toBe(true);
  });
  it('integer, rounding, bitwise and triangle forms', () => {
    const i = tensor([5, -7, 12], { dtype: 'int32' });
    i.remainder_(4).bitwiseXor_(1);
    expect(i.tolist()).toEqual([0, 0, 1]);
    const f = tensor([[1.25, -2.5], [3.5, 4.75]], { dtype: 'float32' });
    f.round_().tril_();
    expect(f.tolist()).toEqual([[1, 0], [4, 5]]);
    const b = tensor([true, false]);
    b.logicalNot_();
    expect(b.tolist()).toEqual([false, true]);
  });
  it('refuses what PyTorch refuses', () => {
    expect(() => tensor([1, 2], { dtype: 'int32' }).add_(0.5)).toThrow(/add_: result type float32 can't be cast to the desired output type int32/);
    expect(() => o.zeros(3, 1).add_(o.zeros(4))).toThrow(/add_: output with shape \[3,1\] doesn't match the broadcast shape \[3,4\]/);
    expect(() => o.zeros(2).markConstant().mul_(2)).toThrow(/copy_: destination float32\[2\] is a constant tensor/);
    expect(() => o.zeros(2).fill_(o.zeros(2))).toThrow(/fill_: the value must be a number or a 0-dim tensor/);
  });
});

describe('bad calls fail with the op, the operands and the rule', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['bitwise on floats', () => o.bitwiseAnd(o.zeros(2), 1), /bitwiseAnd: float32\[2\] and scalar 1: bitwise ops need integer or bool operands/],
    ['bitwiseNot on floats', () => o.bitwiseNot(o.zeros(2, { dtype: 'float16' })), /bitwiseNot: bitwise ops need an integer or bool tensor, got float16\[2\]/],
    ['integer remainder by zero', () => o.remainder(tensor([3, 4]), tensor([1, 0])), /remainder: int64\[2\] and int64\[2\]: integer division by zero/],
    ['integer fmod by zero', () => o.fmod(tensor([3], { dtype: 'int32' }), 0), /fmod: .*integer division by zero/],
    ['round decimals on ints', () => o.round(tensor([1, 2]), { decimals: 1 }), /round: decimals 1 needs a floating-point tensor, got int64\[2\]/],
    ['floor of bool', () => o.floor(tensor([true])), /floor: not supported for bool tensors/],
    ['remainder of bools', () => o.remainder(tensor([true]), true), /remainder: bool\[1\] and scalar true: the operation is not supported for two bool operands/],
    ['lerp dtype mismatch', () => o.lerp(o.zeros(2), o.zeros(2, { dtype: 'float16' }), 0.5), /lerp: expected end of dtype float32 like start, got float16\[2\]/],
    ['lerp integer start', () => o.lerp(tensor([1]), tensor([2]), 0.5), /lerp: start must be floating point, got int64\[1\]/],
    ['lerp broadcast', () => o.lerp(o.zeros(2), o.zeros(3), 0.5), /lerp/],
    ['addcmul float value, int tensors', () => o.addcmul(tensor([1]), tensor([1]), tensor([1]), { value: 0.5 }), /addcmul: value 0.5 is not an integer but the result type is int64/],
    ['prod over two dims', () => o.prod(o.zeros(2, 2), [0, 1] as unknown as number), /prod: reduces one dim or all of them/],
    ['prod dim out of range', () => o.prod(o.zeros(2, 2), 2), /prod/],
    ['std of ints', () => o.std(tensor([1, 2])), /std: input must be floating point, got int64\[2\]/],
    ['norm of ints', () => o.norm(tensor([1, 2])), /linalgVectorNorm: expected a floating-point input, got int64\[2\]/],
    ['unique unsorted', () => o.unique(tensor([1]), { sorted: false }), /unique: only sorted=true is supported/],
    ['oneHot out of range', () => o.oneHot(tensor([0, 3]), 3), /oneHot: class value 3 at flat index 1 is outside \[0, 3\)/],
    ['oneHot float input', () => o.oneHot(o.zeros(2)), /oneHot: class values must be an int64 tensor, got float32\[2\]/],
    ['multinomial negative weight', () => o.multinomial(tensor([0.5, -1]), 1), /multinomial: probability -1 at row 0, category 1 must be finite and non-negative/],
    ['multinomial too many samples', () => o.multinomial(tensor([0.5, 0.5]), 3), /multinomial: cannot draw 3 samples from 2 categories without replacement/],
    ['multinomial zero row', () => o.multinomial(o.zeros(2, 3), 1), /multinomial: row 0 of float32\[2,3\] sums to zero/],
    ['multinomial 3-d', () => o.multinomial(o.ones(2, 2, 2), 1), /multinomial: probabilities must be 1-D or 2-D, got shape \[2,2,2\]/],
    ['eye negative', () => o.eye(-1), /eye: n must be a non-negative integer, got -1/],
    ['trilIndices fractional offset', () => o.trilIndices(2, 2, 0.5), /trilIndices: offset must be an integer, got 0.5/],
  ];
  for (const [name, f, re] of cases) it(name, () => expect(f).toThrow(re));
});
