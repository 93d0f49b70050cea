/**
 * float32 <-> float16 / bfloat16 conversions, bit-exact against PyTorch (test/fixtures/half.json): the scalar
 * helpers (core/half.ts) and the tensor paths (to(), tensor() with a half dtype).
 */
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32BitsToBf16, f32BitsToF16, fromTypedArray, tensor } from '../core/index.js';
import { loadFixture } from './helpers.js';

interface HalfFixture {
  to_half: {
    f32: number[];
    float16: number[];
    bfloat16: number[];
    float16_scalar_diff: [number, number][];
    bfloat16_scalar_diff: [number, number][];
  };
  from_half: Record<'float16' | 'bfloat16', { bits: number[]; f32: number[] }>;
  hashes: Record<string, number>;
}

const fx = loadFixture<HalfFixture>('half.json');
const { f32: inputs } = fx.to_half;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number) => {
  f32[0] = x;
  return u32[0]!;
};
const hex = (v: number) => '0x' + v.toString(16).padStart(4, '0');
const isF32NaN = (b: number) => (b & 0x7fffffff) > 0x7f800000;

function fnv(words: Iterable<number>): number {
  let h = 0x811c9dc5;
  for (const w of words) h = Math.imul(h ^ w, 16777619) >>> 0;
  return h;
}

/** PyTorch's result from its non-vectorized kernels (c10 scalar conversion), where it differs from .to() here. */
function scalarReference(kind: 'float16' | 'bfloat16'): number[] {
  const out = [...fx.to_half[kind]];
  for (const [i, v] of fx.to_half[`${kind}_scalar_diff`]) out[i] = v;
  return out;
}

const sweep = Array.from({ length: 65536 }, (_, i) => (i * 65537 + 0x1234) % 2 ** 32);

describe('float32 -> float16 (bit-exact)', () => {
  it('fixture covers the specials, ties and random patterns', () => {
    expect(inputs.length).toBeGreaterThan(3000);
    expect(fx.to_half.float16.length).toBe(inputs.length);
  });

  it('f32BitsToF16 matches torch .to(float16) for every pattern', () => {
    const bad: string[] = [];
    inputs.forEach((b, i) => {
      const got = f32BitsToF16(b);
      if (got !== fx.to_half.float16[i]) bad.push(`0x${b.toString(16)} -> ${hex(got)}, torch ${hex(fx.to_half.float16[i]!)}`);
    });
    expect(bad).toEqual([]);
  });

  it('the vectorized and scalar PyTorch kernels agree for float16', () => {
    expect(fx.to_half.float16_scalar_diff).toEqual([]);
    expect(fx.hashes.sweep_to_float16).toBe(fx.hashes.sweep_to_float16_scalar);
  });

  it('tensor .to("float16") gives the same bits', () => {
    const src = fromTypedArray(new Float32Array(new Uint32Array(inputs).buffer));
    expect(Array.from(src.to('float16').toTypedArray() as Uint16Array)).toEqual(fx.to_half.float16);
  });

  it('tensor(values, { dtype: "float16" }) rounds the same way (non-NaN values)', () => {
    const vals = Array.from(new Float32Array(new Uint32Array(inputs).buffer));
    const keep = vals.map((_, i) => i).filter((i) => !isF32NaN(inputs[i]!));
    const t = tensor(keep.map((i) => vals[i]!), { dtype: 'float16' });
    expect(Array.from(t.toTypedArray() as Uint16Array)).toEqual(keep.map((i) => fx.to_half.float16[i]!));
  });

  it('hash over a 65536-pattern sweep of float32 space matches torch', () => {
    expect(fnv(sweep.map((b) => f32BitsToF16(b)))).toBe(fx.hashes.sweep_to_float16);
  });

  it('spot checks: overflow, ties to even, subnormal edges', () => {
    expect(f32BitsToF16(bitsOf(65504))).toBe(0x7bff);
    expect(f32BitsToF16(bitsOf(65520))).toBe(0x7c00); // tie with an odd mantissa -> inf
    expect(f32BitsToF16(bitsOf(2 ** -24))).toBe(0x0001);
    expect(f32BitsToF16(bitsOf(2 ** -25))).toBe(0x0000); // tie -> even zero
    expect(f32BitsToF16(bitsOf(2 ** -25) + 1)).toBe(0x0001);
    expect(f32BitsToF16(bitsOf(1 + 2 ** -11))).toBe(0x3c00);
    expect(f32BitsToF16(bitsOf(1 + 3 * 2 ** -11))).toBe(0x3c02);
  });
});

describe('float32 -> bfloat16 (bit-exact)', () => {
  const vec = fx.to_half.bfloat16;
  const scalar = scalarReference('bfloat16');

  it('f32BitsToBf16 matches torch for every non-NaN pattern', () => {
    const bad: string[] = [];
    inputs.forEach((b, i) => {
      if (isF32NaN(b)) return;
      const got = f32BitsToBf16(b);
      if (got !== vec[i]) bad.push(`0x${b.toString(16)} -> ${hex(got)}, torch ${hex(vec[i]!)}`);
    });
    expect(bad).toEqual([]);
  });

  it('NaN: opshift follows c10::BFloat16 (0x7fc0), PyTorch\'s scalar kernel; torch\'s AVX2 .to() may give another NaN', () => {
    const nanIdx = inputs.map((b, i) => (isF32NaN(b) ? i : -1)).filter((i) => i >= 0);
    expect(nanIdx.length).toBeGreaterThan(5);
    for (const i of nanIdx) {
      const got = f32BitsToBf16(inputs[i]!);
      expect(got, `0x${inputs[i]!.toString(16)}`).toBe(scalar[i]);
      // Whatever the vectorized path produced is still a bfloat16 NaN.
      expect((vec[i]! & 0x7f80) === 0x7f80 && (vec[i]! & 0x7f) !== 0).toBe(true);
    }
  });

  it('PyTorch\'s scalar kernel differs from its vectorized one only on NaN', () => {
    for (const [i] of fx.to_half.bfloat16_scalar_diff) expect(isF32NaN(inputs[i]!)).toBe(true);
  });

  it('matches the scalar-kernel reference on every pattern, and its sweep hash', () => {
    expect(inputs.map((b) => f32BitsToBf16(b))).toEqual(scalar);
    expect(fnv(sweep.map((b) => f32BitsToBf16(b)))).toBe(fx.hashes.sweep_to_bfloat16_scalar);
  });

  it('tensor .to("bfloat16") of a contiguous tensor gives PyTorch\'s bits, NaNs included (its vectorized kernel: 0xffff)', () => {
    const src = fromTypedArray(new Float32Array(new Uint32Array(inputs).buffer));
    expect(Array.from(src.to('bfloat16').toTypedArray() as Uint16Array)).toEqual(vec);
    // A strided view goes through PyTorch's scalar kernel (0x7fc0 for NaN); layouts: test/ops_more.test.ts.
    const strided = fromTypedArray(new Float32Array(new Uint32Array(inputs.flatMap((b) => [b, 0])).buffer)).slice(0, 0, undefined, 2);
    expect(Array.from(strided.to('bfloat16').toTypedArray() as Uint16Array)).toEqual(scalar);
  });

  it('spot checks: ties to even', () => {
    expect(f32BitsToBf16(0x3f808000)).toBe(0x3f80); // even upper half stays
    expect(f32BitsToBf16(0x3f818000)).toBe(0x3f82); // odd rounds up
    expect(f32BitsToBf16(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16(0x7f7fffff)).toBe(0x7f80); // float32 max -> inf
  });
});

describe('float16 / bfloat16 -> float32 (bit-exact)', () => {
  for (const kind of ['float16', 'bfloat16'] as const) {
    const { bits, f32: want } = fx.from_half[kind];
    const decode = kind === 'float16' ? f16ToF32 : bf16ToF32;

    it(`${kind}ToF32 matches torch .float() incl. subnormals, infinities and NaN payloads`, () => {
      expect(bits.length).toBeGreaterThan(900);
      const bad: string[] = [];
      bits.forEach((h, i) => {
        const got = bitsOf(decode(h));
        // A JS number cannot carry a signalling NaN (float32 -> double quiets it): the scalar helpers can only
        // promise NaN there; the tensor path below is checked bit for bit.
        const signalling = isF32NaN(want[i]!) && (want[i]! & 0x400000) === 0;
        const ok = signalling ? isF32NaN(got) : got === want[i];
        if (!ok) bad.push(`${hex(h)} -> 0x${got.toString(16)}, torch 0x${want[i]!.toString(16)}`);
      });
      expect(bad).toEqual([]);
    });

    it(`${kind} tensor .to("float32") gives the same bits`, () => {
      const t = fromTypedArray(Uint16Array.from(bits), [bits.length], { dtype: kind });
      const out = t.to('float32').toTypedArray() as Float32Array;
      expect(Array.from(new Uint32Array(out.buffer, out.byteOffset, out.length))).toEqual(want);
    });

    it(`${kind}: all 65536 patterns hash like torch`, () => {
      const all = fromTypedArray(Uint16Array.from({ length: 65536 }, (_, i) => i), [65536], { dtype: kind });
      const out = all.to('float32').toTypedArray() as Float32Array;
      expect(fnv(new Uint32Array(out.buffer, out.byteOffset, out.length))).toBe(fx.hashes[`${kind}_to_f32`]);
    });
  }
});
