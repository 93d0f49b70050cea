/**
 * Quantized linear ops, with the arithmetic of AMD's Ryzen AI eager flow (../shared/RYZENAI_NOTES.md §2):
 *
 * - `linearW8A8`: activations quantized per call, per tensor, symmetric: x_scale = max|x|/128,
 *   xq = clamp(round_half_even(x / x_scale), −128, 127); int8 weights (per tensor, AMD's choice, or per output
 *   channel); y = int32_acc · (x_scale · w_scale) + bias. No zero points.
 *   Non-finite activations: if any element of x is NaN or ±Inf, every output element is NaN (bias or not).
 *   The scale is per tensor, so one such value leaves it undefined for every row; a float linear would give
 *   NaN/Inf too, and a finite answer would hide the fault. cpu, ort and npu all follow this rule.
 * - `linearW4`: float activations × uint4 weights quantized per group of `blockSize` along K (asymmetric,
 *   zero points 0..15, default 8), dequantized as (q − zero)·scale — the layout of ONNX Runtime's MatMulNBits:
 *   qweight [N, K/2] uint8 (element k in the low nibble when k is even), scales and zeros [N, K/blockSize].
 *   Activations stay float, so NaN/Inf propagate as in a float GEMM, element by element (Inf · 0 = NaN).
 *
 * The weight quantizers that make those tensors follow the same notes (PyTorch's quantize_dynamic for int8,
 * AWQ's pseudo_quantize_tensor for uint4).
 */
import { dispatch } from '../core/dispatcher.js';
import { ArgumentError, DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape, shapesEqual } from '../core/shape.js';
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
  flops: ({ x, weight }) => 2 * (x.numel() / weight.shape[1]!) * weight.shape[0]! * weight.shape[1]!,
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
  flops: ({ x, qweight }) => 2 * (x.numel() / (2 * qweight.shape[1]!)) * qweight.shape[0]! * 2 * qweight.shape[1]!,
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

/** float32 machine epsilon: the smallest scale PyTorch's observers produce. */
export const FLOAT32_EPS = 2 ** -23;

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
  // MinMaxObserver (per_tensor_symmetric / per_channel_symmetric, qint8): float32 absmax/127.5, at least float32 eps.
  for (let i = 0; i < scales.length; i++) scales[i] = Math.max(Math.fround(scales[i]! / 127.5), FLOAT32_EPS);
  const q = new Int8Array(n * k);
  for (let r = 0; r < n; r++) {
    // quantize_per_tensor's arithmetic: x times the float32 reciprocal of the scale, rounded half to even.
    const inv = Math.fround(1 / scales[options.perChannel ? r : 0]!);
    for (let c = 0; c < k; c++) q[r * k + c] = Math.max(-128, Math.min(127, roundHalfEven(Math.fround(data[r * k + c]! * inv))));
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
      // float32 tensor arithmetic as in pseudo_quantize_tensor: (max − min).clamp(1e-5) / 15, −round(min / scale).
      const s = Math.fround(Math.max(Math.fround(hi - lo), Math.fround(1e-5)) / 15);
      const z = Math.max(0, Math.min(15, -roundHalfEven(Math.fround(lo / s))));
      scales[r * groups + g] = s;
      zeros[r * groups + g] = z;
      for (let c = g * blockSize; c < (g + 1) * blockSize; c++) {
        const v = Math.max(0, Math.min(15, roundHalfEven(Math.fround(data[r * k + c]! / s)) + z));
        const byte = (r * k + c) >> 1;
        q[byte] = c % 2 === 0 ? (q[byte]! & 0xf0) | v : (q[byte]! & 0x0f) | (v << 4);
      }
    }
  return { qweight: make(q, 'uint8', [n, k / 2]), scales: make(scales, 'float32', [n, groups]), zeros: make(zeros, 'uint8', [n, groups]), blockSize };
}

// ---- quantize / dequantize (PyTorch's affine quantization) ----

/**
 * Quantized element types: int8 [−128, 127], uint8 [0, 255], uint4 [0, 15] packed two per byte along the last
 * axis, element 2i in the low nibble of byte i (PyTorch's quint4x2 and ONNX's order).
 */
export type QuantDType = 'int8' | 'uint8' | 'uint4';
/** Per tensor (one scale), per channel (one scale along `axis`) or per group (one per `groupSize` elements of the last axis). */
export type QuantGranularity = 'tensor' | 'channel' | 'group';

export type QuantizeInputs = { readonly x: Tensor; readonly scale: Tensor; readonly zeroPoint: Tensor };
export type DequantizeInputs = { readonly q: Tensor; readonly scale: Tensor; readonly zeroPoint: Tensor };
export type QuantAttrs = {
  readonly granularity: QuantGranularity;
  readonly dtype: QuantDType;
  /** The channel axis (per channel; normalized, ≥ 0), else −1. */
  readonly axis: number;
  /** Elements per group along the last axis (per group), else 0. */
  readonly groupSize: number;
};

export const QUANT_RANGE: Readonly<Record<QuantDType, readonly [number, number]>> = { int8: [-128, 127], uint8: [0, 255], uint4: [0, 15] };
const ZP_DTYPES = ['int8', 'uint8', 'int16', 'int32', 'int64'];

/** The shape the scale / zero-point tensors must have for an unpacked (float) shape. */
function paramShape(op: string, shape: readonly number[], a: QuantAttrs): number[] {
  if (a.granularity === 'tensor') return [];
  if (a.granularity === 'channel') {
    if (a.axis < 0 || a.axis >= shape.length) throw new ShapeError(`${op}: axis ${a.axis} is out of range for shape ${formatShape(shape)}`);
    return [shape[a.axis]!];
  }
  const k = shape[shape.length - 1];
  if (k === undefined) throw new ShapeError(`${op}: per-group quantization needs at least one dimension, got a scalar`);
  if (!Number.isInteger(a.groupSize) || a.groupSize < 1 || k % a.groupSize !== 0)
    throw new ShapeError(`${op}: the last dimension ${k} of ${formatShape(shape)} is not a multiple of the group size ${a.groupSize}`);
  if (a.dtype === 'uint4' && a.groupSize % 2 !== 0) throw new ShapeError(`${op}: uint4 groups must hold an even number of elements, got ${a.groupSize}`);
  return [...shape.slice(0, -1), k / a.groupSize];
}

function checkQParams(op: string, shape: readonly number[], scale: Tensor, zeroPoint: Tensor, a: QuantAttrs): void {
  const want = paramShape(op, shape, a);
  if (scale.dtype !== 'float32' || !shapesEqual(scale.shape, want))
    throw new ShapeError(`${op}: scale ${sig(scale)} must be float32${formatShape(want)} (${a.granularity === 'tensor' ? 'per tensor' : a.granularity === 'channel' ? `per channel along axis ${a.axis}` : `per group of ${a.groupSize}`})`);
  if (!ZP_DTYPES.includes(zeroPoint.dtype) || !shapesEqual(zeroPoint.shape, want))
    throw new ShapeError(`${op}: zero point ${sig(zeroPoint)} must be an integer tensor of shape ${formatShape(want)}`);
}

export const Quantize = defineOp<QuantizeInputs, QuantAttrs>({
  name: 'Quantize',
  doc: "PyTorch's quantize_per_tensor / quantize_per_channel (and per group): q = clamp(round_half_even(x · float32(1/scale)) + zero_point)",
  meta({ x, scale, zeroPoint }, a) {
    const op = `quantize_per_${a.granularity}`;
    if (x.dtype !== 'float32') throw new DTypeError(`${op}: input must be float32, got ${sig(x)}`);
    if (!(a.dtype in QUANT_RANGE)) throw new DTypeError(`${op}: dtype must be int8, uint8 or uint4, got ${String(a.dtype)}`);
    checkQParams(op, x.shape, scale, zeroPoint, a);
    if (a.dtype !== 'uint4') return [{ shape: [...x.shape], dtype: a.dtype }];
    const k = x.shape[x.ndim - 1];
    if (k === undefined || k % 2 !== 0) throw new ShapeError(`${op}: uint4 packs two values a byte along the last dimension, which must be even; got ${formatShape(x.shape)}`);
    return [{ shape: [...x.shape.slice(0, -1), k / 2], dtype: 'uint8' }];
  },
});

export const Dequantize = defineOp<DequantizeInputs, QuantAttrs>({
  name: 'Dequantize',
  doc: "PyTorch's dequantize: float32((q − zero_point) · scale)",
  meta({ q, scale, zeroPoint }, a) {
    const op = `dequantize_per_${a.granularity}`;
    const storage = a.dtype === 'uint4' ? 'uint8' : a.dtype;
    if (q.dtype !== storage) throw new DTypeError(`${op}: a ${a.dtype} tensor is stored as ${storage}, got ${sig(q)}`);
    if (a.dtype === 'uint4' && q.ndim === 0) throw new ShapeError(`${op}: packed uint4 needs at least one dimension`);
    const shape = a.dtype === 'uint4' ? [...q.shape.slice(0, -1), 2 * q.shape[q.ndim - 1]!] : [...q.shape];
    checkQParams(op, shape, scale, zeroPoint, a);
    return [{ shape, dtype: 'float32' }];
  },
});

const scalarParams = (scale: number, zeroPoint: number, op: string, dtype: QuantDType): { s: Tensor; z: Tensor } => {
  if (!(Number.isFinite(scale) && scale > 0)) throw new ArgumentError(`${op}: scale must be a positive finite number, got ${scale}`);
  const [lo, hi] = QUANT_RANGE[dtype] ?? [0, -1];
  if (!Number.isInteger(zeroPoint) || zeroPoint < lo || zeroPoint > hi) throw new ArgumentError(`${op}: zero point ${zeroPoint} must be an integer in [${lo}, ${hi}] for ${dtype}`);
  return { s: make(Float32Array.of(scale), 'float32', []), z: new Tensor(new Storage(Int32Array.of(zeroPoint), 'int32'), []) };
};

function checkDType(op: string, dtype: unknown): asserts dtype is QuantDType {
  if (typeof dtype !== 'string' || !(dtype in QUANT_RANGE)) throw new DTypeError(`${op}: dtype must be 'int8', 'uint8' or 'uint4', got ${String(dtype)}`);
}

const normAxis = (op: string, axis: number, ndim: number): number => {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) throw new ShapeError(`${op}: axis ${axis} is out of range for ${ndim} dimensions`);
  return axis < 0 ? axis + ndim : axis;
};

/** torch.quantize_per_tensor(x, scale, zero_point, dtype) → the integer representation (uint4: packed uint8). */
export function quantizePerTensor(x: Tensor, scale: number, zeroPoint: number, dtype: QuantDType): Tensor {
  const op = 'quantize_per_tensor';
  checkDType(op, dtype);
  const { s, z } = scalarParams(scale, zeroPoint, op, dtype);
  return dispatch(Quantize, { x: requireTensor(op, 'input', x), scale: s, zeroPoint: z }, { granularity: 'tensor', dtype, axis: -1, groupSize: 0 });
}

/** torch.quantize_per_channel(x, scales, zero_points, axis, dtype) → the integer representation. */
export function quantizePerChannel(x: Tensor, scales: Tensor, zeroPoints: Tensor, axis: number, dtype: QuantDType): Tensor {
  const op = 'quantize_per_channel';
  checkDType(op, dtype);
  const t = requireTensor(op, 'input', x);
  return dispatch(Quantize, { x: t, scale: requireTensor(op, 'scales', scales), zeroPoint: requireTensor(op, 'zero_points', zeroPoints) }, { granularity: 'channel', dtype, axis: normAxis(op, axis, t.ndim), groupSize: 0 });
}

/** Per group of `groupSize` along the last axis (scales/zero points [..., K/groupSize]): per channel on the grouped rows. */
export function quantizePerGroup(x: Tensor, scales: Tensor, zeroPoints: Tensor, groupSize: number, dtype: QuantDType): Tensor {
  const op = 'quantize_per_group';
  checkDType(op, dtype);
  return dispatch(Quantize, { x: requireTensor(op, 'input', x), scale: requireTensor(op, 'scales', scales), zeroPoint: requireTensor(op, 'zero_points', zeroPoints) }, { granularity: 'group', dtype, axis: -1, groupSize });
}

/** Tensor.dequantize() of a per-tensor quantized tensor; `dtype` says how to read `q` (default: its own dtype). */
export function dequantizePerTensor(q: Tensor, scale: number, zeroPoint: number, dtype?: QuantDType): Tensor {
  const op = 'dequantize_per_tensor';
  const t = requireTensor(op, 'input', q);
  const d = dtype ?? (t.dtype as QuantDType);
  checkDType(op, d);
  const { s, z } = scalarParams(scale, zeroPoint, op, d);
  return dispatch(Dequantize, { q: t, scale: s, zeroPoint: z }, { granularity: 'tensor', dtype: d, axis: -1, groupSize: 0 });
}

export function dequantizePerChannel(q: Tensor, scales: Tensor, zeroPoints: Tensor, axis: number, dtype?: QuantDType): Tensor {
  const op = 'dequantize_per_channel';
  const t = requireTensor(op, 'input', q);
  const d = dtype ?? (t.dtype as QuantDType);
  checkDType(op, d);
  return dispatch(Dequantize, { q: t, scale: requireTensor(op, 'scales', scales), zeroPoint: requireTensor(op, 'zero_points', zeroPoints) }, { granularity: 'channel', dtype: d, axis: normAxis(op, axis, t.ndim), groupSize: 0 });
}

export function dequantizePerGroup(q: Tensor, scales: Tensor, zeroPoints: Tensor, groupSize: number, dtype?: QuantDType): Tensor {
  const op = 'dequantize_per_group';
  const t = requireTensor(op, 'input', q);
  const d = dtype ?? (t.dtype as QuantDType);
  checkDType(op, d);
  return dispatch(Dequantize, { q: t, scale: requireTensor(op, 'scales', scales), zeroPoint: requireTensor(op, 'zero_points', zeroPoints) }, { granularity: 'group', dtype: d, axis: -1, groupSize });
}
