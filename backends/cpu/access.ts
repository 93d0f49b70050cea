/**
 * Turning tensors into loop operands in a compute domain, as PyTorch's TensorIterator casts inputs to the
 * common dtype before computing:
 *   float  : doubles holding float32 values. float32 storage is used as is; other dtypes are converted
 *            (rounded to float32, like a cast, and then to float16/bfloat16 when that is the compute type)
 *            over just the span of storage the view touches.
 *   int    : the raw int8/uint8/int16/int32/bool arrays; a wider 0-dim operand (int64 beside int32) is cast.
 *   bigint : int64 compute in BigInt64Array.
 * A wrapped JS number is cast to the compute dtype first (fround or half rounding, or stored into the int
 * array type), so `int8 + 1000` wraps exactly as in PyTorch.
 */
import { allocStorage, isFloating, promoteTypes, type DType } from '../../core/dtype.js';
import { bf16ToF32, decodeHalf, encodeHalf, f16ToF32, f32ToBf16, f32ToF16 } from '../../core/half.js';
import { broadcastStrides, spanOf } from '../../core/shape.js';

export { spanOf };
import type { Tensor } from '../../core/tensor.js';
import { runLoop, type LoopOperand } from './loops.js';

export type Domain = 'float' | 'int' | 'bigint';

export function domainOf(compute: DType): Domain {
  if (isFloating(compute)) return 'float';
  return compute === 'int64' ? 'bigint' : 'int';
}

/** The view's storage span converted to float32 values; returns the array and the index shift. */
export function floatSpan(t: Tensor): { data: Float32Array; shift: number } {
  const d = t.storage.data;
  if (t.dtype === 'float32') return { data: d as Float32Array, shift: 0 };
  const [lo, hi] = spanOf(t);
  const n = t.numel() === 0 ? 0 : hi - lo + 1;
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return { data: decodeHalf(d as Uint16Array, t.dtype, lo, n), shift: lo };
  const out = new Float32Array(n);
  if (t.dtype === 'int64') {
    const src = d as BigInt64Array;
    for (let i = 0; i < n; i++) out[i] = int64ForF32(src[lo + i]!);
  } else {
    const src = d as Exclude<typeof d, BigInt64Array>;
    for (let i = 0; i < n; i++) out[i] = src[lo + i]!;
  }
  return { data: out, shift: lo };
}

/**
 * An int64 as a double that rounds to the same float32 as a direct int64 -> float conversion. Number() alone
 * rounds twice above 2^53 (2^60 + 2^36 + 1 would tie and land on 2^60); rounding to odd in the first step
 * keeps the lost bits as a sticky bit.
 */
function int64ForF32(v: bigint): number {
  const n = Number(v);
  if (Math.abs(n) < 2 ** 53) return n;
  const neg = v < 0n;
  const m = neg ? -v : v;
  const shift = m.toString(2).length - 53;
  let q = m >> BigInt(shift);
  if (q << BigInt(shift) !== m) q |= 1n;
  const r = Number(q) * 2 ** shift;
  return neg ? -r : r;
}

function bigintSpan(t: Tensor): { data: BigInt64Array; shift: number } {
  const d = t.storage.data;
  if (t.dtype === 'int64') return { data: d as BigInt64Array, shift: 0 };
  const [lo, hi] = spanOf(t);
  const n = t.numel() === 0 ? 0 : hi - lo + 1;
  const out = new BigInt64Array(n);
  const src = d as Exclude<typeof d, BigInt64Array>;
  for (let i = 0; i < n; i++) out[i] = BigInt(src[lo + i]!);
  return { data: out, shift: lo };
}

/** A loop operand for `t` in `domain`, broadcast to `shape`. `compute` is the dtype scalars are cast to. */
export function operand(t: Tensor, shape: readonly number[], domain: Domain, compute: DType): LoopOperand {
  // With a float16/bfloat16 compute type, every operand of another dtype is first rounded to it: PyTorch casts
  // inputs (scalars and 0-dim tensors included) to the common dtype, so int32 2049 + float16 1 is 2048.
  const half = (compute === 'float16' || compute === 'bfloat16') && t.dtype !== compute ? compute : undefined;
  if (t.wrappedValue !== undefined) {
    const v = t.wrappedValue;
    const num = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    let data: LoopOperand['data'];
    if (domain === 'float') data = Float32Array.of(half === 'float16' ? f16ToF32(f32ToF16(num)) : half ? bf16ToF32(f32ToBf16(num)) : num);
    else if (domain === 'bigint') data = BigInt64Array.of(BigInt(Math.trunc(num)));
    else {
      const arr = allocStorage(compute, 1) as Exclude<ReturnType<typeof allocStorage>, BigInt64Array | Uint16Array>;
      arr[0] = compute === 'bool' ? (num !== 0 ? 1 : 0) : Math.trunc(num);
      data = arr;
    }
    return { data, offset: 0, strides: new Array<number>(shape.length).fill(0) };
  }
  const strides = broadcastStrides(t.shape, t.strides, shape);
  if (domain === 'float') {
    const { data, shift } = floatSpan(t);
    if (!half) return { data, offset: t.offset - shift, strides };
    const bits = new Uint16Array(data.length);
    encodeHalf(data, bits, half);
    return { data: decodeHalf(bits, half), offset: t.offset - shift, strides };
  }
  if (domain === 'bigint') {
    const { data, shift } = bigintSpan(t);
    return { data, offset: t.offset - shift, strides };
  }
  if (t.dtype !== compute && promoteTypes(t.dtype, compute) !== compute) {
    // A 0-dim tensor may be wider than the compute type (int64 beside an int32 tensor, int8 beside uint8):
    // PyTorch casts it to the compute type first, wrapping, so comparisons see the wrapped value too.
    const { data, shift } = intSpan(t, compute);
    return { data, offset: t.offset - shift, strides };
  }
  return { data: t.storage.data as LoopOperand['data'], offset: t.offset, strides };
}

/** The view's storage span cast (wrapping) into the int array type of `compute`. */
function intSpan(t: Tensor, compute: DType): { data: LoopOperand['data']; shift: number } {
  const [lo, hi] = spanOf(t);
  const n = t.numel() === 0 ? 0 : hi - lo + 1;
  const out = allocStorage(compute, n) as Exclude<ReturnType<typeof allocStorage>, BigInt64Array | Uint16Array>;
  const d = t.storage.data;
  if (d instanceof BigInt64Array) for (let i = 0; i < n; i++) out[i] = Number(BigInt.asIntN(32, d[lo + i]!));
  else for (let i = 0; i < n; i++) out[i] = (d as Exclude<typeof d, BigInt64Array>)[lo + i]!;
  return { data: out, shift: lo };
}

/** A contiguous float copy (Float32Array) of the tensor's logical elements. Zero-copy when already so. */
export function contiguousFloat(t: Tensor): Float32Array {
  if (t.dtype === 'float32' && t.isContiguous()) {
    const d = t.storage.data as Float32Array;
    return t.offset === 0 && d.length === t.numel() ? d : d.subarray(t.offset, t.offset + t.numel());
  }
  const out = new Float32Array(t.numel());
  const { data, shift } = floatSpan(t);
  runLoop('a', out, t.shape, [{ data, offset: t.offset - shift, strides: t.strides }]);
  return out;
}
