/**
 * Quantized linear ops, with the arithmetic of AMD's Ryzen AI eager flow (../shared/RYZENAI_NOTES.md §2):
 *
 * - `linearW8A8`: activations quantized per call, per tensor, symmetric: x_scale = max|x|/128,
 *   xq = clamp(round_half_even(x / x_scale), −128, 127); int8 weights (per tensor, AMD's choice, or per output
 *   channel); y = int32_acc · (x_scale · w_scale) + bias. No zero points.
 * - `linearW4`: float activations × uint4 weights quantized per group of `blockSize` along K (asymmetric,
 *   zero points 0..15, default 8), dequantized as (q − zero)·scale — the layout of ONNX Runtime's MatMulNBits:
 *   qweight [N, K/2] uint8 (element k in the low nibble when k is even), scales and zeros [N, K/blockSize].
 *
 * The weight quantizers that make those tensors follow the same notes (PyTorch's quantize_dynamic for int8,
 * AWQ's pseudo_quantize_tensor for uint4).
 */
import { dispatch } from '../core/dispatcher.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape } from '../core/shape.js';
import { Storage } from '../core/storage.js';
import { Tensor } from '../core/tensor.js';
import { requireTensor, sig } from './util.js';

export type LinearW8A8Inputs = { readonly x: Tensor; readonly weight: Tensor; readonly wScale: Tensor; readonly bias: Tensor | undefined };

function checkBias(op: string, bias: Tensor | undefined, n: number): void {
  if (!bias) return;
  if (bias.dtype !== 'float32' || bias.ndim !== 1 || bias.shape[0] !== n) throw new ShapeError(`${op}: bias ${sig(bias)} must be float32[${n}]`);
}

export const LinearW8A8 = defineOp<LinearW8A8Inputs, Record<string, never>>({
  name: 'LinearW8A8',
  meta({ x, weight, wScale, bias }) {
    const op = 'linear_w8a8';
    if (x.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32, got ${sig(x)}`);
    if (weight.dtype !== 'int8' || weight.ndim !== 2) throw new DTypeError(`${op}: weight must be int8 [out_features, in_features], got ${sig(weight)}`);
    const [n, k] = weight.shape as [number, number];
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== k)
      throw new ShapeError(`${op}: input ${formatShape(x.shape)} and weight ${formatShape(weight.shape)}: in_features ${x.shape[x.ndim - 1]} and ${k} differ`);
    if (wScale.dtype !== 'float32' || !(wScale.ndim === 0 || (wScale.ndim === 1 && (wScale.shape[0] === n || wScale.shape[0] === 1))))
      throw new ShapeError(`${op}: weight scale ${sig(wScale)} must be float32 [] (per tensor) or [${n}] (per output channel)`);
    checkBias(op, bias, n);
    return [{ shape: [...x.shape.slice(0, -1), n], dtype: 'float32' }];
  },
  flops: ({ x, weight }) => 2 * (x.numel / weight.shape[1]!) * weight.shape[0]! * weight.shape[1]!,
});

export type LinearW4Inputs = {
  readonly x: Tensor;
  readonly qweight: Tensor;
  readonly scales: Tensor;
  readonly zeros: Tensor | undefined;
  readonly bias: Tensor | undefined;
};
export type LinearW4Attrs = { readonly blockSize: number };

export const LinearW4 = defineOp<LinearW4Inputs, LinearW4Attrs>({
  name: 'LinearW4',
  meta({ x, qweight, scales, zeros, bias }, { blockSize }) {
    const op = 'linear_w4';
    if (x.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32, got ${sig(x)}`);
    if (![16, 32, 64, 128, 256].includes(blockSize)) throw new ShapeError(`${op}: block size must be 16, 32, 64, 128 or 256, got ${blockSize}`);
    if (qweight.dtype !== 'uint8' || qweight.ndim !== 2) throw new DTypeError(`${op}: qweight must be uint8 [N, K/2] (two 4-bit values a byte), got ${sig(qweight)}`);
    const [n, half] = qweight.shape as [number, number];
    const k = x.shape[x.ndim - 1]!;
    if (x.ndim === 0 || k !== 2 * half) throw new ShapeError(`${op}: input ${formatShape(x.shape)} needs in_features ${2 * half} for qweight ${formatShape(qweight.shape)}`);
    if (k % blockSize !== 0) throw new ShapeError(`${op}: in_features ${k} is not a multiple of the block size ${blockSize}`);
    const groups = k / blockSize;
    if (scales.dtype !== 'float32' || scales.ndim !== 2 || scales.shape[0] !== n || scales.shape[1] !== groups)
      throw new ShapeError(`${op}: scales ${sig(scales)} must be float32[${n},${groups}]`);
    if (zeros && (zeros.dtype !== 'uint8' || zeros.ndim !== 2 || zeros.shape[0] !== n || zeros.shape[1] !== groups))
      throw new ShapeError(`${op}: zeros ${sig(zeros)} must be uint8[${n},${groups}] (values 0..15)`);
    checkBias(op, bias, n);
    return [{ shape: [...x.shape.slice(0, -1), n], dtype: 'float32' }];
  },
  flops: ({ x, qweight }) => 2 * (x.numel / (2 * qweight.shape[1]!)) * qweight.shape[0]! * 2 * qweight.shape[1]!,
});

/** w8a8 linear: int8 weights [N, K] with a per-tensor ([]) or per-channel ([N]) float32 scale. */
export function linearW8A8(x: Tensor, weight: Tensor, wScale: Tensor, bias?: Tensor): Tensor {
  const op = 'linear_w8a8';
  return dispatch(
    LinearW8A8,
    {
      x: requireTensor(op, 'input', x),
      weight: requireTensor(op, 'weight', weight),
      wScale: requireTensor(op, 'w_scale', wScale),
      bias: bias === undefined ? undefined : requireTensor(op, 'bias', bias),
    },
    {},
  );
}

/** w4 linear: packed uint4 weights with per-group scales (and zero points; 8 when omitted). */
export function linearW4(x: Tensor, q: QuantizedW4, bias?: Tensor): Tensor {
  const op = 'linear_w4';
  return dispatch(
    LinearW4,
    {
      x: requireTensor(op, 'input', x),
      qweight: requireTensor(op, 'qweight', q.qweight),
      scales: requireTensor(op, 'scales', q.scales),
      zeros: q.zeros === undefined ? undefined : requireTensor(op, 'zeros', q.zeros),
      bias: bias === undefined ? undefined : requireTensor(op, 'bias', bias),
    },
    { blockSize: q.blockSize },
  );
}

// ---- weight quantizers ----

const make = (data: Float32Array | Int8Array | Uint8Array, dtype: 'float32' | 'int8' | 'uint8', shape: number[]) =>
  new Tensor(new Storage(data, dtype), shape).markConstant();

/** Round half to even (numpy's round, which AMD's quantizers use). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function weightRows(w: Tensor, op: string): { data: Float32Array; n: number; k: number } {
  if (w.dtype !== 'float32' || w.ndim !== 2) throw new DTypeError(`${op}: weight must be float32 [out_features, in_features], got ${sig(w)}`);
  const [n, k] = w.shape as [number, number];
  return { data: w.contiguous().toArray() as Float32Array, n, k };
}

/**
 * int8 weights like torch.ao.quantization.quantize_dynamic (per tensor, symmetric: scale = absmax/127.5,
 * round half even, clamp to [−128, 127]); `perChannel` gives one scale per output row instead.
 */
export function quantizeWeightInt8(w: Tensor, options: { perChannel?: boolean } = {}): { weight: Tensor; scale: Tensor } {
  const { data, n, k } = weightRows(w, 'quantize_weight_int8');
  const scales = new Float32Array(options.perChannel ? n : 1);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < k; c++) {
      const s = options.perChannel ? r : 0;
      scales[s] = Math.max(scales[s]!, Math.abs(data[r * k + c]!));
    }
  for (let i = 0; i < scales.length; i++) scales[i] = scales[i]! / 127.5 || 1;
  const q = new Int8Array(n * k);
  for (let r = 0; r < n; r++) {
    const s = scales[options.perChannel ? r : 0]!;
    for (let c = 0; c < k; c++) q[r * k + c] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(data[r * k + c]! / s))));
  }
  return { weight: make(q, 'int8', [n, k]), scale: make(scales, 'float32', options.perChannel ? [n] : []) };
}

export interface QuantizedW4 {
  readonly qweight: Tensor;
  readonly scales: Tensor;
  readonly zeros: Tensor | undefined;
  readonly blockSize: number;
}

/**
 * uint4 per-group weights as AWQ's pseudo_quantize_tensor does (asymmetric): per group of `blockSize` along K,
 * scale = max(max − min, 1e−5)/15, zero = clamp(−round(min/scale), 0, 15), q = clamp(round(w/scale) + zero, 0, 15).
 */
export function quantizeWeightUint4(w: Tensor, blockSize = 128): QuantizedW4 {
  const { data, n, k } = weightRows(w, 'quantize_weight_uint4');
  if (k % blockSize !== 0 || k % 2 !== 0) throw new ShapeError(`quantize_weight_uint4: in_features ${k} is not a multiple of the block size ${blockSize}`);
  const groups = k / blockSize;
  const q = new Uint8Array((n * k) / 2);
  const scales = new Float32Array(n * groups);
  const zeros = new Uint8Array(n * groups);
  for (let r = 0; r < n; r++)
    for (let g = 0; g < groups; g++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let c = g * blockSize; c < (g + 1) * blockSize; c++) {
        lo = Math.min(lo, data[r * k + c]!);
        hi = Math.max(hi, data[r * k + c]!);
      }
      const s = Math.fround(Math.max(hi - lo, 1e-5) / 15);
      const z = Math.max(0, Math.min(15, -roundHalfEven(lo / s)));
      scales[r * groups + g] = s;
      zeros[r * groups + g] = z;
      for (let c = g * blockSize; c < (g + 1) * blockSize; c++) {
        const v = Math.max(0, Math.min(15, roundHalfEven(data[r * k + c]! / s) + z));
        const byte = (r * k + c) >> 1;
        q[byte] = c % 2 === 0 ? (q[byte]! & 0xf0) | v : (q[byte]! & 0x0f) | (v << 4);
      }
    }
  return { qweight: make(q, 'uint8', [n, k / 2]), scales: make(scales, 'float32', [n, groups]), zeros: make(zeros, 'uint8', [n, groups]), blockSize };
}
