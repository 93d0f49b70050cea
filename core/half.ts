/**
 * float16 / bfloat16 <-> float32 conversion, bit-exact with PyTorch (c10/util/Half.h, BFloat16.h):
 * round-to-nearest-even, subnormals, ±inf; NaN becomes 0x7E00|sign for float16 and 0x7FC0 for bfloat16.
 * Conversions work on float32 bit patterns so NaN payloads and -0 survive.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToBits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function bitsToF32(bits: number): number {
  u32[0] = bits;
  return f32[0]!;
}

/** float32 bit pattern -> float16 bit pattern, round to nearest even. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below 2^-25 everything rounds to zero; exactly 2^-25 ties to even (zero).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rem > half || (rem === half && (h & 1) !== 0)) h++; // a carry into 0x400 is the smallest normal: correct
    return sign | h;
  }
  const rem = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent may reach inf: correct
  return h;
}

/** float32 bit pattern -> bfloat16 bit pattern, round to nearest even (PyTorch's round_to_nearest_even). */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function f16BitsToF32Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Lookup tables: every 16-bit pattern decoded to float32. 256 KiB each, built once on first use. */
let f16Table: Float32Array | undefined;
let bf16Table: Float32Array | undefined;

export function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    const bits = new Uint32Array(f16Table.buffer);
    for (let h = 0; h < 65536; h++) {
      const exp = (h >>> 10) & 0x1f;
      // NaN payloads as PyTorch's half->float gives them: mantissa shifted into place, and quieted (its
      // fp16_ieee_to_fp32_value goes through a float multiply, which sets the quiet bit 0x400000).
      if (exp === 0x1f && (h & 0x3ff) !== 0) bits[h] = ((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13);
      else f16Table[h] = f16BitsToF32Value(h);
    }
  }
  return f16Table;
}

export function bf16DecodeTable(): Float32Array {
  if (!bf16Table) {
    bf16Table = new Float32Array(65536);
    const bits = new Uint32Array(bf16Table.buffer);
    for (let h = 0; h < 65536; h++) bits[h] = h << 16;
  }
  return bf16Table;
}

export function f16ToF32(h: number): number {
  return f16DecodeTable()[h & 0xffff]!;
}

export function bf16ToF32(h: number): number {
  return bitsToF32((h & 0xffff) << 16);
}

export function f32ToF16(x: number): number {
  return f32BitsToF16(f32ToBits(x));
}

export function f32ToBf16(x: number): number {
  return f32BitsToBf16(f32ToBits(x));
}

/** Encode a Float32Array into 16-bit patterns (float16 or bfloat16). */
export function encodeHalf(src: Float32Array, dst: Uint16Array, kind: 'float16' | 'bfloat16', dstOffset = 0): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  if (kind === 'bfloat16') {
    for (let i = 0; i < n; i++) {
      const x = bits[i]!;
      dst[dstOffset + i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
  } else {
    for (let i = 0; i < n; i++) dst[dstOffset + i] = f32BitsToF16(bits[i]!);
  }
}

/** Decode 16-bit patterns [start, start+n) into a Float32Array. */
export function decodeHalf(src: Uint16Array, kind: 'float16' | 'bfloat16', start = 0, n = src.length - start): Float32Array {
  const out = new Float32Array(n);
  if (kind === 'bfloat16') {
    const ob = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) ob[i] = src[start + i]! << 16;
  } else {
    const t = f16DecodeTable();
    const ob = new Uint32Array(out.buffer);
    const tb = new Uint32Array(t.buffer);
    for (let i = 0; i < n; i++) ob[i] = tb[src[start + i]!]!;
  }
  return out;
}
