/**
 * Issue #18 part B beyond the PyTorch parity cases (test/op_cases.test.ts covers values): each bad input's
 * error names the op, the shapes/dtypes and the rule; in-place forms write into the tensor's own storage
 * (views included); the decompositions of einsum, mm, conv and Attention send their matmuls through the
 * dispatcher, so a GEMM backend chosen by policy runs them; view-only decompositions record a short cause.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  arange,
  bmm,
  conv1d,
  conv2d,
  crossEntropy,
  einsum,
  groupNorm,
  indexAdd,
  indexCopy_,
  maskedSelect,
  mm,
  mseLoss,
  pad,
  profile,
  rand,
  registerBackend,
  roll,
  registerKernel,
  scaledDotProductAttention,
  scatter,
  scatterAdd_,
  sort,
  split,
  takeAlongDim,
  tensor,
  unregisterBackend,
  where,
  withPolicy,
  zeros,
  type Kernel,
  type Tensor,
} from '../core/index.js';
import { MatMul, type MatMulInputs } from '../ops/linalg.js';

describe('clear errors', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['einsum: operand count', () => einsum('ij,jk->ik', rand([2, 3])), /einsum: 'ij,jk->ik' has 2 input subscripts but 1 operand was given \(float32\[2,3\]\)/],
    ['einsum: labels vs dims', () => einsum('ijk,jk', rand([2, 3]), rand([3, 4])), /subscript 'ijk' of operand 0 names 3 dims but operand 0 is float32\[2,3\] with 2 dims/],
    ['einsum: label sizes', () => einsum('ij,jk->ik', rand([2, 3]), rand([4, 5])), /label 'j' has size 3 at operand 0 dim 1 but size 4 at operand 1 dim 0/],
    ['einsum: bad subscript', () => einsum('i2->i', rand([2, 3])), /invalid subscript '2'/],
    ['einsum: output label', () => einsum('ij->k', rand([2, 3])), /output subscript 'k' does not appear in any input subscript/],
    ['einsum: repeated output label', () => einsum('ij->ii', rand([2, 2])), /output subscript 'i' appears more than once/],
    ['einsum: dtypes', () => einsum('i,i', rand([2]), arange(2)), /einsum: expected all operands to have the same dtype, got float32\[2\], int64\[2\]/],
    ['mm: rank', () => mm(rand([2, 3, 4]), rand([4, 2])), /mm: both arguments must be matrices \(2-D\), got float32\[2,3,4\] and float32\[4,2\]/],
    ['mm: inner dims', () => mm(rand([2, 3]), rand([4, 2])), /mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x2\)/],
    ['bmm: batch', () => bmm(rand([2, 3, 4]), rand([3, 4, 5])), /bmm: batch sizes of \[2,3,4\] and \[3,4,5\] differ \(2 and 3\); bmm does not broadcast/],
    ['pad: reflect wider than the input', () => pad(rand([2, 3]), [3, 0], 'reflect'), /pad: padding \(3, 0\) of dim 1 \(size 3\) of input float32\[2,3\]: reflect padding must be smaller than the dim's size/],
    ['pad: odd length', () => pad(rand([2, 3]), [1, 2, 3]), /pad: padding length 3 must be even/],
    ['pad: negative reflect', () => pad(rand([2, 3]), [-1, 0], 'reflect'), /negative padding is only allowed in mode 'constant'/],
    ['conv: groups do not divide channels', () => conv2d(rand([1, 4, 5, 5]), rand([6, 2, 3, 3]), undefined, { groups: 3 }), /conv2d: groups 3 must divide in_channels 4 \(input float32\[1,4,5,5\]\) and out_channels 6/],
    ['conv: weight channels', () => conv1d(rand([1, 4, 9]), rand([2, 3, 3])), /conv1d: weight float32\[2,3,3\] expects 3 input channels .* input float32\[1,4,9\] has 4/],
    ['conv: kernel larger than input', () => conv1d(rand([1, 1, 2]), rand([1, 1, 5])), /conv1d: kernel \[5\] with dilation \[1\] is larger than input float32\[1,1,2\]/],
    ['conv: same with stride', () => conv1d(rand([1, 1, 8]), rand([1, 1, 3]), undefined, { padding: 'same', stride: 2 }), /padding 'same' needs stride 1/],
    ['conv: int input', () => conv1d(arange(8).reshape([1, 1, 8]), arange(3).reshape([1, 1, 3])), /conv1d: expected a floating-point tensor, got int64\[1,1,8\]/],
    ['sort: bool', () => sort(tensor([true, false])), /sort: not supported for bool\[2\]/],
    ['scatter: int32 index', () => scatter(zeros([3]), 0, tensor([0, 1], { dtype: 'int32' }), 1), /scatter: index must be int64, got int32\[2\]/],
    ['scatter: index out of range', () => scatter(zeros([3]), 0, tensor([0, 3], { dtype: 'int64' }), 1), /scatter: index 3 is out of range \[0, 3\) for dim 0 of input float32\[3\]/],
    ['index_add: source shape', () => indexAdd(zeros([4, 3]), 0, tensor([0, 1], { dtype: 'int64' }), zeros([2, 2])), /index_add: source \[2,2\] must be \[2,3\]/],
    ['masked_select: mask dtype', () => maskedSelect(rand([3]), tensor([1, 0, 1])), /masked_select: mask must be bool, got int64\[3\]/],
    ['take_along_dim: ranks', () => takeAlongDim(rand([3, 4]), tensor([0], { dtype: 'int64' }), 1), /take_along_dim: input \[3,4\] and indices \[1\] must have the same number of dims/],
    ['group_norm: groups', () => groupNorm(rand([2, 6, 3]), 4), /group_norm: num_groups 4 must be a positive integer dividing the 6 channels/],
    ['cross_entropy: target shape', () => crossEntropy(rand([3, 5]), tensor([1, 2], { dtype: 'int64' })), /cross_entropy: class-index target int64\[2\] must have the input's shape without the class dim \[3\]/],
    ['cross_entropy: target dtype', () => crossEntropy(rand([3, 5]), tensor([true, false, true])), /cross_entropy: target must hold class indices .* got bool\[3\]/],
    ['mse_loss: reduction', () => mseLoss(rand([2]), rand([2]), { reduction: 'avg' as 'mean' }), /mse_loss: reduction 'avg' must be 'mean', 'sum' or 'none'/],
    ['where: one value', () => (where as (c: Tensor, a?: number) => unknown)(tensor([true]), 1), /where: give a condition alone, or a condition and both values/],
  ];
  for (const [name, fn, re] of cases) it(name, () => expect(fn).toThrow(re));
});

describe('in-place forms write into the tensor’s own storage', () => {
  it('scatterAdd_ and indexCopy_ on views update the base tensor and return the view', () => {
    const base = zeros([2, 4]);
    const view = base.narrow(1, 1, 2); // (2, 2), strided
    const r = scatterAdd_(view, 1, tensor([[1, 1], [0, 1]], { dtype: 'int64' }), tensor([[1, 2], [3, 4]], { dtype: 'float32' }));
    expect(r).toBe(view);
    expect(base.tolist()).toEqual([
      [0, 0, 3, 0],
      [0, 3, 4, 0],
    ]);
    const t = arange(6).reshape([2, 3]).t(); // (3, 2), transposed
    indexCopy_(t, 0, tensor([2], { dtype: 'int64' }), tensor([[-1, -2]]));
    expect(t.tolist()).toEqual([
      [0, 3],
      [1, 4],
      [-1, -2],
    ]);
  });
});

describe('decompositions dispatch their matmuls', () => {
  // A GEMM-only backend that runs the cpu MatMul kernel: results stay exact and records show who ran it.
  const gemm: Kernel<MatMulInputs, Record<string, never>> = {
    run: (inputs, attrs, outs) => MatMul.kernels.get('cpu')!.run(inputs, attrs, outs),
  };
  beforeAll(() => {
    registerBackend({ name: 'gemmtest', priority: -50, description: 'test GEMM backend', probe: () => ({ available: true }) });
    registerKernel(MatMul, 'gemmtest', gemm);
  });
  afterAll(() => unregisterBackend('gemmtest'));

  const onGemm = <T>(fn: () => T, policy: Record<string, string | string[]> = {}) =>
    profile(() => withPolicy({ MatMul: ['gemmtest', 'cpu'], ...policy }, fn));

  it("Attention: 'decompose' runs matmul -> softmax -> matmul with both matmuls on the GEMM backend", () => {
    const q = rand([2, 3, 5, 8]);
    const k = rand([2, 3, 7, 8]);
    const v = rand([2, 3, 7, 4]);
    const fused = scaledDotProductAttention(q, k, v);
    const p = onGemm(() => scaledDotProductAttention(q, k, v), { Attention: 'decompose' });
    const ops = p.records.filter((r) => ['MatMul', 'Softmax', 'Attention'].includes(r.op)).map((r) => `${r.op}@${r.backend}`);
    expect(ops).toEqual(['MatMul@gemmtest', 'Softmax@' + p.records.find((r) => r.op === 'Softmax')!.backend, 'MatMul@gemmtest', 'Attention@decompose']);
    const a = fused.toArray() as Float32Array;
    const b = p.result.toArray() as Float32Array;
    a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(1e-5));
  });

  it('einsum, mm, bmm and conv reach the GEMM backend through MatMul', () => {
    const calls: [string, () => Tensor][] = [
      ['einsum', () => einsum('bhqd,bhkd->bhqk', rand([2, 2, 3, 4]), rand([2, 2, 5, 4]))],
      ['mm', () => mm(rand([3, 4]), rand([4, 2]))],
      ['bmm', () => bmm(rand([2, 3, 4]), rand([2, 4, 2]))],
      ['conv2d', () => conv2d(rand([1, 3, 6, 6]), rand([4, 3, 3, 3]), rand([4]), { padding: 1 })],
      ['conv1d groups', () => conv1d(rand([2, 4, 9]), rand([6, 2, 3]), undefined, { groups: 2 })],
    ];
    for (const [name, fn] of calls) {
      const p = onGemm(fn);
      const mms = p.records.filter((r) => r.op === 'MatMul');
      expect(mms.length, name).toBeGreaterThan(0);
      expect(mms.every((r) => r.backend === 'gemmtest'), name).toBe(true);
    }
  });
});

describe('sort', () => {
  it('treats -0 and +0 as ties and keeps their order, both directions (PyTorch: descending indices [2, 0, 1, 3, 4, 5])', () => {
    // Not a catalog case: the catalog's JSON would turn -0 into 0 on the PyTorch side.
    const x = tensor([0, -0, 1, -0, 0, -1], { dtype: 'float32' });
    const down = sort(x, { descending: true, stable: true });
    expect(down.indices.tolist()).toEqual([2, 0, 1, 3, 4, 5]);
    expect((down.values.toArray() as Float32Array).map((v) => (Object.is(v, -0) ? 9 : v))).toEqual(Float32Array.of(1, 0, 9, 9, 0, -1));
    expect(sort(x, { stable: true }).indices.tolist()).toEqual([5, 0, 1, 3, 4, 2]);
  });

  it('int64 (comparator path) and long rows (packed path) agree with a reference stable sort', () => {
    const n = 3000;
    const v = Array.from({ length: n }, (_, i) => (i * 7919) % 23);
    const want = v.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
    for (const dtype of ['int64', 'int32', 'float32'] as const)
      expect(sort(tensor(v, { dtype }), { descending: true }).indices.tolist(), dtype).toEqual(want);
  });
});

describe('roll', () => {
  it('returns a new tensor even when the shift is a multiple of the size (no alias of the input)', () => {
    const x = arange(4);
    for (const r of [roll(x, 4), roll(x.reshape([2, 2]), [2, 0], [0, 1]), roll(x, 0)]) {
      expect(r.storage).not.toBe(x.storage);
      expect(r.reshape([-1]).tolist()).toEqual([0, 1, 2, 3]);
    }
  });
});

describe('dispatch causes', () => {
  it("a view-only decomposition (split) records 'decomposed (view)', not every backend's refusal", () => {
    const p = profile(() => split(arange(6), 2));
    expect(p.records.map((r) => [r.op, r.backend, r.cause])).toEqual([['Split', 'decompose', 'decomposed (view)']]);
  });
});
