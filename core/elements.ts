/** Slow-path element access (printing, tolist, tests). Kernels never use this; they work on whole arrays. */
import { bf16ToF32, f16ToF32 } from './half.js';
import type { Storage } from './storage.js';

/** Calls `fn(storageIndex, logicalIndex)` for every element of a strided view, in row-major order. */
export function forEachOffset(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  fn: (storageIndex: number, logicalIndex: number) => void,
): void {
  const nd = shape.length;
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let p = offset;
  for (let i = 0; i < total; i++) {
    fn(p, i);
    for (let k = nd - 1; k >= 0; k--) {
      idx[k]!++;
      p += strides[k]!;
      if (idx[k]! < shape[k]!) break;
      p -= strides[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
}

/** One stored element as a JS number (int64 converted with Number(), half types decoded). */
export function readNumber(storage: Storage, i: number): number {
  const d = storage.data;
  switch (storage.dtype) {
    case 'float16':
      return f16ToF32(d[i] as number);
    case 'bfloat16':
      return bf16ToF32(d[i] as number);
    case 'int64':
      return Number(d[i] as bigint);
    default:
      return d[i] as number;
  }
}
