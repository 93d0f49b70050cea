/**
 * Native float casts (float32 ↔ float16 ↔ bfloat16) against the TypeScript kernel, bit for bit, on every ISA
 * variant this CPU allows: every 16-bit pattern, float32 patterns around every rounding boundary (ties, the
 * float16 subnormal range and its edges, overflow to inf) and random patterns, NaNs with signs and payloads,
 * and the bfloat16 NaN layout rule (0xffff for a contiguous float32 source, 0x7fc0 for a 0-d one).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { backendStatus, fromTypedArray, profile, withBackend, type DType, type Tensor } from '../core/index.js';
import { nativeLib, supportedIsas } from '../backends/native/backend.js';
import { configureNative, nativeConfig } from '../backends/native/config.js';
import { NativeError } from '../backends/native/ffi.js';

const available = backendStatus('native')?.available === true;
const initial = nativeConfig();
afterAll(() => {
  if (available) configureNative(initial);
});

/** The output's raw bit patterns. */
const bits = (t: Tensor): number[] => {
  const d = t.contiguous().storage.data as Float32Array | Uint16Array;
  return Array.from(d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d);
};

function all16(): Uint16Array {
  const a = new Uint16Array(65536);
  for (let i = 0; i < a.length; i++) a[i] = i;
  return a;
}

/** float32 patterns: each float16/bfloat16 rounding boundary ±1 ulp (ties included), subnormal edges, random words. */
function f32Patterns(): Float32Array {
  const u: number[] = [];
  for (let h = 0; h < 0x8000; h += 1) {
    // h's float16 value as float32, and the float32 patterns half a float16 ulp above it (the tie) ± 1
    const e = (h >> 10) & 0x1f;
    if (e === 0x1f) continue;
    const base = e === 0 ? 0 : ((e + 112) << 23) | ((h & 0x3ff) << 13);
    const tie = base + 0x1000;
    if (h % 7 === 0 || e === 0 || e >= 0x1e) for (const d of [-1, 0, 1]) u.push(base + d, tie + d);
  }
  for (let b = 0; b < 0x7f80; b += 3) for (const d of [0x7fff, 0x8000, 0x8001]) u.push(((b << 16) + d) >>> 0); // bfloat16 ties
  // float16 subnormals come from |x| < 2^-14 (exponent 113): everything around 2^-25 .. 2^-14 densely
  for (let x = 101 << 23; x < 114 << 23; x += 0x1357) u.push(x);
  u.push(0, 0x7f800000, 0x7f7fffff, 0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x33000000, 0x33000001, 0x32ffffff, 0x387fc000, 0x387fe000);
  u.push(0x7fc00000, 0x7f800001, 0x7fa12345, 0x7fffffff, 0x7fc0ffff); // NaNs: quiet, signalling, payloads
  let s = 12345;
  for (let i = 0; i < 50000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    u.push(s);
  }
  const pos = Uint32Array.from(u);
  const out = new Uint32Array(2 * pos.length);
  out.set(pos);
  for (let i = 0; i < pos.length; i++) out[pos.length + i] = (pos[i]! | 0x80000000) >>> 0; // and every one negated
  return new Float32Array(out.buffer);
}

describe.skipIf(!available)('native casts', () => {
  const isas = available ? supportedIsas(nativeLib()) : [];
  const sources: [DType, () => Tensor][] = [
    ['float16', () => fromTypedArray(all16(), [65536], { dtype: 'float16' })],
    ['bfloat16', () => fromTypedArray(all16(), [65536], { dtype: 'bfloat16' })],
    ['float32', () => fromTypedArray(f32Patterns())],
  ];
  for (const isa of isas)
    it(`${isa}: every float format pair matches the cpu kernel bit for bit`, () => {
      configureNative({ isa });
      for (const [from, make] of sources) {
        const x = make();
        for (const to of ['float32', 'float16', 'bfloat16'] as const) {
          if (to === from) continue;
          const p = profile(() => withBackend('native', () => x.to(to)));
          expect(p.records.find((r) => r.op === 'Cast')?.backend, `${from} -> ${to} ran on native`).toBe('native');
          const ref = withBackend('cpu', () => x.to(to));
          const a = bits(p.result);
          const b = bits(ref);
          const bad = a.findIndex((v, i) => v !== b[i]);
          expect(bad, `${from} -> ${to}: first mismatch at ${bad}: in 0x${bits(x)[bad]?.toString(16)}, native 0x${a[bad]?.toString(16)}, cpu 0x${b[bad]?.toString(16)}`).toBe(-1);
        }
      }
    }, 60_000);

  it('bfloat16 NaN follows the layout rule: 0xffff from a contiguous float32 source, 0x7fc0 from a 0-d one', () => {
    configureNative({ isa: 'best' });
    const nan = new Float32Array([NaN, -NaN, 1]);
    const v = withBackend('native', () => fromTypedArray(nan).to('bfloat16'));
    expect(bits(v)).toEqual([0xffff, 0xffff, 0x3f80]);
    const s = profile(() => withBackend('native', () => fromTypedArray(new Float32Array([NaN]), []).to('bfloat16')));
    expect(s.records[0]!.backend).toBe('native');
    expect(bits(s.result)).toEqual([0x7fc0]);
  });

  it('non-contiguous inputs and other dtypes stay on cpu with the reason; bad formats are NativeErrors', () => {
    const t = fromTypedArray(new Float32Array(12), [3, 4]).transpose(0, 1);
    expect(profile(() => t.to('float16')).records[0]!.cause).toContain('cast needs contiguous operands');
    expect(profile(() => t.contiguous().to('int32')).records.find((r) => r.op === 'Cast')!.cause).toContain('casts only between float32, float16 and bfloat16 (got float32 -> int32)');
    const lib = nativeLib();
    const x = new Float32Array(4);
    expect(() => lib.call('nk_cast', x, 0, x, 0, 4, 0x7fc0)).toThrow(NativeError);
    expect(() => lib.call('nk_cast', x, 0, x, 0, 4, 0x7fc0)).toThrow(/formats must be two different ones of 0 float32, 1 float16, 2 bfloat16, got 0 -> 0/);
    expect(() => lib.call('nk_cast', x, 0, new Uint16Array(4), 1, 4, 0x1234)).toThrow(/bf16_nan 0x1234 is not a bfloat16 NaN pattern/);
  });
});
