/** Filling storage from JS numbers with PyTorch's conversion rules (used by tensor() and creation ops). */
import { allocStorage, type DType, type StorageArray } from './dtype.js';
import { encodeHalf } from './half.js';

const INT64_MIN = -(2n ** 63n);

/** float -> int64 as x86 PyTorch does: truncate; NaN and out-of-range give INT64_MIN. */
export function toInt64(v: number): bigint {
  if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 63) return INT64_MIN;
  return BigInt(Math.trunc(v));
}

/**
 * float -> int32 as x86 PyTorch does (cvttss2si): truncate; NaN and out-of-range give INT32_MIN. Casts to
 * int8/uint8/int16 go through this too and then wrap (3e9 -> int16 is 0, not 3e9 mod 2^16).
 */
export function toInt32(v: number): number {
  return v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
}

/** Storage of `dtype` holding `values` (floats round to nearest even, ints truncate toward zero, bool is x != 0). */
export function storageFromNumbers(values: ArrayLike<number>, dtype: DType): StorageArray {
  const n = values.length;
  const out = allocStorage(dtype, n);
  switch (dtype) {
    case 'float32':
      (out as Float32Array).set(values);
      break;
    case 'float16':
    case 'bfloat16':
      encodeHalf(Float32Array.from(values), out as Uint16Array, dtype);
      break;
    case 'int64': {
      const o = out as BigInt64Array;
      for (let i = 0; i < n; i++) o[i] = toInt64(values[i]!);
      break;
    }
    case 'bool': {
      const o = out as Uint8Array;
      for (let i = 0; i < n; i++) o[i] = values[i] !== 0 ? 1 : 0;
      break;
    }
    default: {
      const o = out as Int32Array;
      for (let i = 0; i < n; i++) o[i] = Math.trunc(values[i]!);
    }
  }
  return out;
}
