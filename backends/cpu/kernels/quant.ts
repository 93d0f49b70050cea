/** Reference kernels for the quantized linears (ops/quant.ts): exact integer accumulation, AMD's rounding. */
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import type { DequantizeInputs, LinearW4Attrs, LinearW4Inputs, LinearW8A8Inputs, QuantAttrs, QuantizeInputs } from '../../../ops/quant.js';
import { QUANT_RANGE, roundHalfEven } from '../../../ops/quant.js';
import { contiguousFloat } from '../access.js';
import { gemmDot } from '../gemm.js';
import { gather } from './util.js';

/**
 * The per-call activation scale: max|x| / 128 in float32 (1 for an all-zero input, which then stays zero); NaN
 * when any element is NaN or ±Inf: the scale is then undefined, and the op's output is NaN (ops/quant.ts).
 */
export function activationScale(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > m) m = a;
    else if (a !== a) return NaN; // NaN fails `a > m`: checked apart, at no cost on the common path
  }
  if (m === Infinity) return NaN;
  return Math.fround(m / 128) || 1;
}

export const linearW8A8Kernel: Kernel<LinearW8A8Inputs, Record<string, never>> = {
  run({ x, weight, wScale, bias }, _attrs, [out]) {
    const [N, K] = weight.shape as [number, number];
    const xs = contiguousFloat(x);
    const M = xs.length / K;
    const sx = activationScale(xs);
    const y = out!.storage.data as Float32Array;
    if (Number.isNaN(sx)) {
      y.fill(NaN); // a non-finite activation: every output is NaN, bias or not (ops/quant.ts)
      return;
    }
    const xq = new Int8Array(xs.length);
    for (let i = 0; i < xs.length; i++) xq[i] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(xs[i]! / sx))));
    const w = gather(weight) as Int8Array;
    const ws = contiguousFloat(wScale);
    const b = bias ? contiguousFloat(bias) : undefined;
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

// ---- Quantize / Dequantize ----

/** Which scale/zero point element i of a contiguous [..shape] tensor uses. */
function paramIndexer(shape: readonly number[], a: QuantAttrs): (i: number) => number {
  if (a.granularity === 'tensor') return () => 0;
  if (a.granularity === 'group') {
    const g = a.groupSize;
    return (i) => Math.floor(i / g); // rows of K = groups·G are consecutive, so groups are too
  }
  let inner = 1;
  for (let d = a.axis + 1; d < shape.length; d++) inner *= shape[d]!;
  const c = shape[a.axis]!;
  return (i) => Math.floor(i / inner) % c;
}

function zeroPoints(t: Tensor): Float64Array {
  const src = gather(t);
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
  return out;
}

/**
 * PyTorch 1.13's quantize_val (checked bit for bit against it, test/fixtures/quant): the float32 product
 * x · float32(1/scale), rounded half to even (nearbyint), then + zero_point, clamped to the dtype's range.
 */
export function quantizeImpl(x: Float32Array, scale: Float32Array, zp: Float64Array, index: (i: number) => number, lo: number, hi: number, out: Int8Array | Uint8Array | Float64Array): void {
  const inv = new Float32Array(scale.length);
  for (let j = 0; j < scale.length; j++) inv[j] = 1 / scale[j]!;
  for (let i = 0; i < x.length; i++) {
    const j = index(i);
    const v = roundHalfEven(Math.fround(x[i]! * inv[j]!)) + zp[j]!;
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

export const quantizeKernel: Kernel<QuantizeInputs, QuantAttrs> = {
  run({ x, scale, zeroPoint }, a, [out]) {
    const xs = contiguousFloat(x);
    const [lo, hi] = QUANT_RANGE[a.dtype];
    const index = paramIndexer(x.shape, a);
    const s = contiguousFloat(scale);
    const z = zeroPoints(zeroPoint);
    if (a.dtype !== 'uint4') {
      quantizeImpl(xs, s, z, index, lo, hi, out!.storage.data as Int8Array | Uint8Array);
      return;
    }
    const v = new Uint8Array(xs.length);
    quantizeImpl(xs, s, z, index, lo, hi, v);
    const packed = out!.storage.data as Uint8Array;
    for (let i = 0; i < packed.length; i++) packed[i] = v[2 * i]! | (v[2 * i + 1]! << 4);
  },
};

export const dequantizeKernel: Kernel<DequantizeInputs, QuantAttrs> = {
  run({ scale, zeroPoint, q }, a, [out]) {
    const y = out!.storage.data as Float32Array;
    const raw = gather(q);
    const index = paramIndexer(out!.shape, a);
    const s = contiguousFloat(scale);
    const z = zeroPoints(zeroPoint);
    // (q − zp) is a small exact integer; one product rounded to float32, as PyTorch's dequantize_val.
    if (a.dtype === 'uint4')
      for (let i = 0; i < y.length; i++) {
        const byte = raw[i >> 1] as number;
        const j = index(i);
        y[i] = ((i & 1 ? byte >> 4 : byte & 0x0f) - z[j]!) * s[j]!;
      }
    else
      for (let i = 0; i < y.length; i++) {
        const j = index(i);
        y[i] = ((raw[i] as number) - z[j]!) * s[j]!;
      }
  },
};
