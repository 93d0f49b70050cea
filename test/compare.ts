/** Comparing op outputs with golden data or another backend: exact (bitwise, NaN = NaN) or within tolerance. */
import type { DType, Tensor } from '../core/index.js';
import type { Tolerance } from '../tools/op_cases.js';

export interface Encoded {
  dtype: DType;
  shape: number[];
  b64: string;
}

/** Raw stored elements of a contiguous copy, as numbers (bit patterns for float16/bfloat16). */
function rawNumbers(t: Tensor): number[] {
  return Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
}

export function decode(e: Encoded): number[] {
  const buf = Buffer.from(e.b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (e.dtype) {
    case 'float32':
      return Array.from(new Float32Array(ab));
    case 'float16':
    case 'bfloat16':
      return Array.from(new Uint16Array(ab));
    case 'int8':
      return Array.from(new Int8Array(ab));
    case 'int16':
      return Array.from(new Int16Array(ab));
    case 'int32':
      return Array.from(new Int32Array(ab));
    case 'int64':
      return Array.from(new BigInt64Array(ab), Number);
    default:
      return Array.from(new Uint8Array(ab));
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function halfToNumber(bits: number, dtype: DType): number {
  if (dtype === 'bfloat16') {
    u32[0] = bits << 16;
    return f32[0]!;
  }
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function values(raw: number[], dtype: DType): number[] {
  return dtype === 'float16' || dtype === 'bfloat16' ? raw.map((b) => halfToNumber(b, dtype)) : raw;
}

/** Compare one output: exact (bitwise, NaN = NaN) or within tolerance. Returns a failure message or ''. */
export function compareOutput(got: Tensor, want: { dtype: DType; shape: readonly number[]; raw: number[] }, exact: boolean, tol: Tolerance): string {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.shape.join(',') !== want.shape.join(',')) return `shape [${got.shape}] vs [${want.shape}]`;
  const a = values(rawNumbers(got), got.dtype);
  const b = values(want.raw, want.dtype);
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (exact ? !Object.is(x, y) : !(Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y) || x === y))
      return `element ${i}: got ${x}, want ${y}${exact ? ' (exact)' : ` (rtol ${tol.rtol}, atol ${tol.atol})`}`;
  }
  return '';
}

