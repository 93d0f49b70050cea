/** MatMul and fused Linear on the CPU: float32 GEMM (gemm.ts) for float dtypes, exact loops for integers. */
import { isFloating, type StorageArray } from '../../../core/dtype.js';
import { encodeHalf } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import { broadcastStrides, forEachBatch } from '../../../core/shape.js';
import type { Tensor } from '../../../core/tensor.js';
import { matmulDims, type LinearInputs, type MatMulInputs } from '../../../ops/linalg.js';
import { contiguousFloat, floatSpan } from '../access.js';
import { gemm } from '../gemm.js';
import { materialize } from './util.js';

/** Float results land in a Float32Array: out's own storage, or a scratch array encoded to float16/bfloat16 after. */
function floatTarget(out: Tensor): { C: Float32Array; finish: () => void } {
  if (out.dtype === 'float32') return { C: out.storage.data as Float32Array, finish: () => {} };
  const C = new Float32Array(out.numel());
  return { C, finish: () => encodeHalf(C, out.storage.data as Uint16Array, out.dtype as 'float16' | 'bfloat16') };
}

function floatMatmul(A: Tensor, B: Tensor, out: Tensor, batch: number[], m: number, k: number, n: number): void {
  const sa = broadcastStrides(A.shape.slice(0, -2), A.strides.slice(0, -2), batch);
  const sb = broadcastStrides(B.shape.slice(0, -2), B.strides.slice(0, -2), batch);
  const fa = floatSpan(A);
  const fb = floatSpan(B);
  const [aRow, aCol] = A.strides.slice(-2) as [number, number];
  const [bRow, bCol] = B.strides.slice(-2) as [number, number];
  const { C, finish } = floatTarget(out);
  forEachBatch(batch, sa, sb, (i, oa, ob) => {
    const offA = A.offset - fa.shift + oa;
    const offB = B.offset - fb.shift + ob;
    // gemm takes any strides (it packs or reads in place as the layout requires).
    gemm(m, n, k, fa.data, offA, aRow, aCol, fb.data, offB, bRow, bCol, C, i * m * n, n);
  });
  finish();
}

/** Integer matmul: exact accumulation (BigInt for int64), wrapping on store like PyTorch's integer kernels. */
function intMatmul(A: Tensor, B: Tensor, out: Tensor, batch: number[], m: number, k: number, n: number): void {
  const big = out.dtype === 'int64';
  const sa = broadcastStrides(A.shape.slice(0, -2), A.strides.slice(0, -2), batch);
  const sb = broadcastStrides(B.shape.slice(0, -2), B.strides.slice(0, -2), batch);
  const [aRow, aCol] = A.strides.slice(-2) as [number, number];
  const [bRow, bCol] = B.strides.slice(-2) as [number, number];
  const da = A.storage.data;
  const db = B.storage.data;
  const dst = out.storage.data as { [i: number]: number | bigint };
  forEachBatch(batch, sa, sb, (bi, oa, ob) => {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let acc: number | bigint = big ? 0n : 0;
        for (let p = 0; p < k; p++) {
          const x = da[A.offset + oa + i * aRow + p * aCol]!;
          const y = db[B.offset + ob + p * bRow + j * bCol]!;
          if (big) acc = (acc as bigint) + (x as bigint) * (y as bigint);
          else acc = (acc as number) + (x as number) * (y as number);
        }
        dst[bi * m * n + i * n + j] = big ? BigInt.asIntN(64, acc as bigint) : acc;
      }
  });
}

export const matmulKernel: Kernel<MatMulInputs, Record<string, never>> = {
  run({ a, b }, _attrs, [out]) {
    const { batch, m, k, n } = matmulDims(a, b);
    if (out!.numel() === 0) return;
    const A = a.ndim === 1 ? a.unsqueeze(0) : a; // [..., M, K]
    const B = b.ndim === 1 ? b.unsqueeze(1) : b; // [..., K, N]
    if (isFloating(out!.dtype)) floatMatmul(A, B, out!, batch, m, k, n);
    else intMatmul(A, B, out!, batch, m, k, n);
  },
};

/** y = x·Wᵀ + b in one pass: W's rows are already contiguous along K, the ideal dot-product layout. */
export const linearKernel: Kernel<LinearInputs, Record<string, never>> = {
  run({ x, weight, bias }, _attrs, [out]) {
    const K = x.shape[x.ndim - 1]!;
    const N = weight.shape[0]!;
    const M = K === 0 ? out!.numel() / Math.max(N, 1) : x.numel() / K;
    if (out!.numel() === 0) return;
    if (!isFloating(out!.dtype)) {
      const x2 = x.reshape([M, K]);
      intMatmul(x2, weight.t(), out!, [], M, K, N);
      if (bias) {
        const bv = materialize(bias, out!.dtype) as StorageArray;
        const dst = out!.storage.data as { [i: number]: number | bigint };
        for (let i = 0; i < M * N; i++) dst[i] = (dst[i] as number) + (bv[i % N] as number);
      }
      return;
    }
    const X = contiguousFloat(x);
    const { C, finish } = floatTarget(out!);
    const w = floatSpan(weight);
    // B = Wᵀ: B(p, j) = W[j, p], read in place whatever W's strides.
    gemm(M, N, K, X, 0, K, 1, w.data, weight.offset - w.shift, weight.strides[1]!, weight.strides[0]!, C, 0, N);
    if (bias) {
      const bv = contiguousFloat(bias);
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) C[i * N + j]! += bv[j]!;
    }
    finish();
  },
};
