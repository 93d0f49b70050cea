/** MatMul and Linear kernels of the `wasm` backend: float32 only; everything else falls back with a reason. */
import type { Kernel } from '../../core/op_def.js';
import type { Tensor } from '../../core/tensor.js';
import { matmulDims, type LinearInputs, type MatMulInputs } from '../../ops/linalg.js';
import { wasmRuntime } from './backend.js';
import { cacheRefusal, wasmLinear, wasmMatmul } from './matmul.js';

/** wasm32 memory is 4 GiB; leave room for the packed copy, scratch and cached weights. */
const MAX_CALL_BYTES = 2 ** 31;

function dtypeRefusal(ts: readonly (Tensor | undefined)[]): string | undefined {
  const bad = ts.find((t) => t !== undefined && t.dtype !== 'float32');
  return bad ? `rejects ${bad.dtype} (float32 only)` : undefined;
}

/** Bytes a call stages in wasm memory: the operands (twice for B: copy and packed) and the output. */
function sizeRefusal(bytes: number): string | undefined {
  return bytes > MAX_CALL_BYTES ? `rejects a call needing ${(bytes / 2 ** 30).toFixed(1)} GiB (wasm32 memory)` : undefined;
}

export const wasmMatmulKernel: Kernel<MatMulInputs, Record<string, never>> = {
  supports({ a, b }, _attrs, outs) {
    const why = dtypeRefusal([a, b]);
    if (why) return why;
    if (b.isConstant && b.ndim >= 2 && b.shape[b.ndim - 1]! > 1) {
      const full = cacheRefusal(b.storage, b.numel() / b.shape[b.ndim - 1]!, b.shape[b.ndim - 1]!);
      if (full) return full;
    }
    return sizeRefusal(4 * (a.numel() + 2 * b.numel() + (outs[0] ? outs[0].shape.reduce((x, y) => x * y, 1) : 0))) ?? true;
  },
  run({ a, b }, _attrs, [out]) {
    const { batch, m, k, n } = matmulDims(a, b);
    const A = a.ndim === 1 ? a.unsqueeze(0) : a; // [..., M, K]
    const B = b.ndim === 1 ? b.unsqueeze(1) : b; // [..., K, N]
    wasmMatmul(wasmRuntime(), A, B, out!, batch, m, k, n);
  },
};

export const wasmLinearKernel: Kernel<LinearInputs, Record<string, never>> = {
  supports({ x, weight, bias }) {
    const why = dtypeRefusal([x, weight, bias]);
    if (why) return why;
    if (weight.isConstant && weight.shape[0]! > 1) {
      const full = cacheRefusal(weight.storage, weight.shape[1]!, weight.shape[0]!);
      if (full) return full;
    }
    const m = x.numel() / Math.max(1, x.shape[x.ndim - 1]!);
    return sizeRefusal(4 * (x.numel() + 2 * weight.numel() + m * weight.shape[0]!)) ?? true;
  },
  run({ x, weight, bias }, _attrs, [out]) {
    wasmLinear(wasmRuntime(), x, weight, bias, out!);
  },
};
