/** Reference kernels for the quantized linears (ops/quant.ts): exact integer accumulation, AMD's rounding. */
import type { Kernel } from '../../../core/op_def.js';
import type { LinearW4Attrs, LinearW4Inputs, LinearW8A8Inputs } from '../../../ops/quant.js';
import { roundHalfEven } from '../../../ops/quant.js';
import { contiguousFloat } from '../access.js';
import { gemmDot } from '../gemm.js';
import { gather } from './util.js';

/** The per-call activation scale: max|x| / 128 in float32 (1 for an all-zero input, which then stays zero). */
export function activationScale(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > m) m = a;
  }
  return Math.fround(m / 128) || 1;
}

export const linearW8A8Kernel: Kernel<LinearW8A8Inputs, Record<string, never>> = {
  run({ x, weight, wScale, bias }, _attrs, [out]) {
    const [N, K] = weight.shape as [number, number];
    const xs = contiguousFloat(x);
    const M = xs.length / K;
    const sx = activationScale(xs);
    const xq = new Int8Array(xs.length);
    for (let i = 0; i < xs.length; i++) xq[i] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(xs[i]! / sx))));
    const w = gather(weight) as Int8Array;
    const ws = contiguousFloat(wScale);
    const b = bias ? contiguousFloat(bias) : undefined;
    const y = out!.storage.data as Float32Array;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0; // |acc| < 128·128·K: exact in a double, as in int32
        const xo = m * K;
        const wo = n * K;
        for (let k = 0; k < K; k++) acc += xq[xo + k]! * w[wo + k]!;
        // The same float32 steps as the ORT graph: float(acc) · float32(x_scale · w_scale) (+ bias).
        const scale = Math.fround(sx * ws[ws.length === 1 ? 0 : n]!);
        const v = Math.fround(Math.fround(acc) * scale);
        y[m * N + n] = b ? v + b[n]! : v;
      }
  },
};

export const linearW4Kernel: Kernel<LinearW4Inputs, LinearW4Attrs> = {
  run({ x, qweight, scales, zeros, bias }, { blockSize }, [out]) {
    const N = qweight.shape[0]!;
    const K = qweight.shape[1]! * 2;
    const groups = K / blockSize;
    const q = gather(qweight) as Uint8Array;
    const s = contiguousFloat(scales);
    const z = zeros ? (gather(zeros) as Uint8Array) : undefined;
    // Dequantize once to float32 rows [N, K], then a float32 GEMM (x · Wᵀ).
    const w = new Float32Array(N * K);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        const byte = q[(n * K + k) >> 1]!;
        const v = k % 2 === 0 ? byte & 0x0f : byte >> 4;
        const g = n * groups + Math.floor(k / blockSize);
        w[n * K + k] = (v - (z ? z[g]! : 8)) * s[g]!;
      }
    const xs = contiguousFloat(x);
    const M = xs.length / K;
    const y = out!.storage.data as Float32Array;
    gemmDot(M, N, K, xs, 0, K, w, 0, K, y, 0, N);
    if (bias) {
      const b = contiguousFloat(bias);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) y[m * N + n]! += b[n]!;
    }
  },
};
