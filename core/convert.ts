/** Filling storage from JS numbers with PyTorch's conversion rules (used by tensor() and creation ops). */
import { allocStorage, type DType, type StorageArray } from './dtype.js';
import { encodeHalf } from './half.js';

const INT64_MIN = -(2n ** 63n);

/** float -> int64 as x86 PyTorch does: truncate; NaN and out-of-range give INT64_MIN. */
export function toInt64(v: number): bigint {
  if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 63) return INT64_MIN;
  return BigInt(Math.trunc(v));
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
