/**
 * The NPU library's ABI 2 entries: w4a8 (w4 weights, per-group int8 activations, integer dot products) and the
 * f32 GEMM with an unprepared right operand (npu_matmul_f32). Each is checked bit for bit against a TypeScript
 * model of the contract in backends/npu/native/opshift_npu.h, on every kernel variant this CPU can run (the
 * portable C kernels and each ISA the library picks at or below the best one); the unprepared f32 path must also
 * give exactly the bits of the prepared one (npu_gemm_run_f). Decode shapes (M = 1) and small M ≤ 8, partial
 * panels, several K tiles, groups 32/64/128, zero points and bias or not.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backendStatus, bf16ToF32, f32ToBf16, linearW4, matmul, manualSeed, NpuError, quantizeWeightUint4, randn, roundHalfEven, withBackend } from '../core/index.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { configureNpu, npuConfig } from '../backends/npu/config.js';
import { npuCacheStats } from '../backends/npu/kernels.js';
import { NpuContext, NpuDType, NpuFlags, NpuVariant, w4KNLayout } from '../backends/npu/ffi.js';
import { f32TiledRef, xorshift } from './npu_reference.js';

const available = backendStatus('npu')?.available === true;
vi.setConfig({ testTimeout: 30_000 });

const f = Math.fround;
const bf = (x: number) => bf16ToF32(f32ToBf16(x));

/** The K tile the library uses: every shape here pads K to 4096-deep tiles (npu_query reports the padded K). */
function tileK(ctx: NpuContext, variant: number, K: number, N: number, group = 0): number {
  const q = ctx.query(variant as (typeof NpuVariant)[keyof typeof NpuVariant], 1, K, N, group);
  expect(q.supported).toBe(true);
  expect(q.paddedK % 4096).toBe(0);
  return 4096;
}

/** w4a8 as the header defines it, in float32 steps. */
function w4a8Ref(x: Float32Array, M: number, K: number, N: number, q: Uint8Array, z: Uint8Array | null, s: Float32Array, bias: Float32Array | null, G: number, Kt: number) {
  const groups = K / G;
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const xs: number[] = [];
    const xq = new Int32Array(K);
    for (let g = 0; g < groups; g++) {
      let amax = 0;
      for (let k = g * G; k < (g + 1) * G; k++) amax = Math.max(amax, Math.abs(x[m * K + k]!));
      let sc = f(amax / 127);
      if (sc === 0) sc = 1;
      xs.push(sc);
      for (let k = g * G; k < (g + 1) * G; k++) xq[k] = Math.max(-127, Math.min(127, roundHalfEven(f(x[m * K + k]! / sc))));
    }
    for (let n = 0; n < N; n++) {
      let out = 0;
      for (let k0 = 0, t = 0; k0 < K; k0 += Kt, t++) {
        let acc = t === 0 && bias ? bf(bias[n]!) : 0;
        for (let g = k0 / G; g < Math.min(K, k0 + Kt) / G; g++) {
          const zp = z ? z[g * N + n]! : 8;
          let i = 0;
          for (let k = g * G; k < (g + 1) * G; k++) i += xq[k]! * (q[k * N + n]! - zp);
          const d = f(xs[g]! * bf(s[g * N + n]!));
          acc = f(acc + f(i * d));
        }
        out = t === 0 ? acc : f(out + acc);
      }
      y[m * N + n] = out;
    }
  }
  return y;
}

describe.skipIf(!available)('npu library ABI 2: w4a8 and the unprepared f32 GEMM', () => {
  const variants: { name: string; ctx: NpuContext }[] = [];
  beforeAll(() => {
    const { lib } = npuRuntime();
    const seen = new Set<string>();
    // Best ISA first, then each cap; keep one context per distinct kernel set the CPU really runs.
    for (const flags of [0, NpuFlags.NO_AVX512, NpuFlags.NO_VNNI, NpuFlags.PORTABLE]) {
      for (const threads of [1, 2]) {
        const ctx = new NpuContext(lib, { flags, threads });
        const isa = /isa=(\S+)/.exec(ctx.description)![1]!;
        if (seen.has(`${isa}/${threads}`)) ctx.dispose();
        else {
          seen.add(`${isa}/${threads}`);
          variants.push({ name: `${isa}, ${threads} thread(s)`, ctx });
        }
      }
    }
    expect(variants.some((v) => v.name.startsWith('portable'))).toBe(true);
  });
  afterAll(() => variants.forEach((v) => v.ctx.dispose()));

  const w4Cases = [
    { M: 1, K: 256, N: 40, G: 128, zeros: true, bias: false },
    { M: 1, K: 2048, N: 200, G: 128, zeros: true, bias: true },
    { M: 2, K: 256, N: 33, G: 32, zeros: false, bias: true },
    { M: 3, K: 512, N: 64, G: 64, zeros: true, bias: false },
    { M: 5, K: 4224, N: 24, G: 128, zeros: true, bias: true }, // two K tiles (4096 + 128)
    { M: 8, K: 1024, N: 17, G: 32, zeros: false, bias: false },
  ];
  for (const c of w4Cases)
    it(`w4a8 equals the contract bit for bit on every ISA: M=${c.M} K=${c.K} N=${c.N} g${c.G}${c.zeros ? ' zeros' : ''}${c.bias ? ' bias' : ''}`, () => {
      const { M, K, N, G } = c;
      const r = xorshift(K * 31 + N * 7 + M);
      const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
      const z = c.zeros ? Uint8Array.from({ length: (K / G) * N }, () => r.int(0, 16)) : null;
      const s = Float32Array.from({ length: (K / G) * N }, () => r.float(0.001, 0.05));
      const bias = c.bias ? Float32Array.from({ length: N }, () => r.float(-1, 1)) : null;
      // One group all zero (xs = 1), one with a single large outlier (most of the group rounds to 0).
      const x = Float32Array.from({ length: M * K }, () => r.float(-2, 2));
      x.fill(0, 0, G);
      if (K > G) x[G + 3] = 300;
      const want = w4a8Ref(x, M, K, N, q, z, s, bias, G, tileK(variants[0]!.ctx, NpuVariant.W4A8, K, N, G));
      for (const { name, ctx } of variants) {
        const g = ctx.createW4A8(q, z, s, bias, K, N, G);
        const y = new Float32Array(M * N).fill(NaN);
        g.runW4A8(x, M, y);
        g.dispose();
        expect(Array.from(y), name).toEqual(Array.from(want));
      }
    });

  it('w4a8 stays within the int8 rounding bound of the exact w4 product', () => {
    const [M, K, N, G] = [2, 1024, 48, 128];
    const r = xorshift(5);
    const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
    const s = Float32Array.from({ length: (K / G) * N }, () => bf(r.float(0.01, 0.02)));
    const x = Float32Array.from({ length: M * K }, () => r.float(-1, 1));
    const y = new Float32Array(M * N);
    const g = variants[0]!.ctx.createW4A8(q, null, s, null, K, N, G);
    g.runW4A8(x, M, y);
    g.dispose();
    let worst = 0;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let exact = 0;
        let bound = 0;
        for (let gi = 0; gi < K / G; gi++) {
          let amax = 0;
          for (let k = gi * G; k < (gi + 1) * G; k++) amax = Math.max(amax, Math.abs(x[m * K + k]!));
          for (let k = gi * G; k < (gi + 1) * G; k++) {
            const w = (q[k * N + n]! - 8) * s[gi * N + n]!;
            exact += x[m * K + k]! * w;
            bound += (amax / 127 / 2) * Math.abs(w); // half a quantization step per activation
          }
        }
        const err = Math.abs(y[m * N + n]! - exact);
        expect(err).toBeLessThanOrEqual(bound * 1.01 + 1e-5);
        worst = Math.max(worst, err / bound);
      }
    // the bound is not vacuous: rounding really happens
    expect(worst).toBeGreaterThan(0);
  });

  it('w4a8: a row with NaN or Inf gives NaN outputs for that row only', () => {
    const [K, N, G] = [128, 16, 32];
    const q = new Uint8Array(K * N).fill(9);
    const s = new Float32Array((K / G) * N).fill(0.5);
    const x = new Float32Array(3 * K).fill(1);
    x[5] = NaN;
    x[2 * K + 100] = Infinity;
    for (const { name, ctx } of variants) {
      const g = ctx.createW4A8(q, null, s, null, K, N, G);
      const y = new Float32Array(3 * N);
      g.runW4A8(x, 3, y);
      g.dispose();
      expect(y.slice(0, N).every(Number.isNaN), name).toBe(true);
      expect(Array.from(y.slice(N, 2 * N)), name).toEqual(new Array(N).fill(K * 0.5)); // 1 · (9 − 8) · 0.5 per k
      expect(y.slice(2 * N).every(Number.isNaN), name).toBe(true);
    }
  });

  it('w4a8 refuses bad inputs with the entry, the shape and the rule', () => {
    const ctx = variants[0]!.ctx;
    const q = new Uint8Array(96 * 16);
    const s = new Float32Array(16);
    expect(() => ctx.createW4A8(q, null, s, null, 96, 16, 48)).toThrow(/npu_gemm_create_w4a8 .*group size 48 is not one of the kernel's 32, 64, 128/);
    q[5] = 16;
    expect(() => ctx.createW4A8(q, null, new Float32Array(3 * 16), null, 96, 16, 32)).toThrow(/npu_gemm_create_w4a8 .*q\[0\]\[5\] = 16 exceeds 15/);
    const w4 = ctx.createW4(new Uint8Array(64 * 16), null, new Float32Array(2 * 16), null, 64, 16, 32);
    expect(() => w4.runW4A8(new Float32Array(64), 1, new Float32Array(16))).toThrow(NpuError);
    expect(() => w4.runW4A8(new Float32Array(64), 1, new Float32Array(16))).toThrow(/npu_gemm_run_w4a8: the handle is a w4abf16 gemm/);
    w4.dispose();
  });

  const mmCases = [
    { M: 1, K: 2048, N: 2048, bias: false },
    { M: 1, K: 4100, N: 37, bias: true }, // two K tiles, a partial column block
    { M: 3, K: 96, N: 1030, bias: true }, // more columns than one block
    { M: 9, K: 64, N: 8, bias: false }, // more rows than one row block
    { M: 2, K: 4099, N: 20, bias: true }, // K steps of 4 with a remainder of 3 in the second tile
    { M: 1, K: 7, N: 3000, bias: false },
  ];
  for (const c of mmCases)
    it(`unprepared f32 GEMM = the contract = the prepared path, bit for bit: M=${c.M} K=${c.K} N=${c.N}${c.bias ? ' bias' : ''}`, () => {
      const { M, K, N } = c;
      const r = xorshift(M + K + N);
      const a = Float32Array.from({ length: M * K }, () => r.float(-1, 1));
      const b = Float32Array.from({ length: K * N }, () => r.float(-1, 1));
      const bias = c.bias ? Float32Array.from({ length: N }, () => r.float(-1, 1)) : null;
      // The reference model costs M·K·N JS steps: check it on the smaller shapes, the prepared path on all.
      const want = M * K * N <= 2e6 ? f32TiledRef(a, b, M, K, N, bias, tileK(variants[0]!.ctx, NpuVariant.F32, K, N)) : null;
      for (const { name, ctx } of variants) {
        const y = new Float32Array(M * N).fill(NaN);
        ctx.matmulF32(a, M, K, b, N, bias, y);
        const g = ctx.createF(NpuVariant.F32, b, K, N);
        const yp = new Float32Array(M * N);
        g.runF(a, NpuDType.F32, M, bias, yp, NpuDType.F32);
        g.dispose();
        expect(Array.from(y), `${name}: vs prepared`).toEqual(Array.from(yp));
        if (want) expect(Array.from(y), `${name}: vs contract`).toEqual(Array.from(want));
      }
    });

  it('unprepared f32 GEMM refuses bad shapes and honours the failure hook', () => {
    const ctx = variants[0]!.ctx;
    expect(() => ctx.matmulF32(new Float32Array(4), 1, 0, new Float32Array(4), 4, null, new Float32Array(4))).toThrow(
      /npu_matmul_f32: f32 needs M >= 0, K >= 1, N >= 1, got M=1 K=0 N=4/,
    );
    const failing = new NpuContext(npuRuntime().lib, { flags: NpuFlags.TEST_FAIL });
    expect(() => failing.matmulF32(new Float32Array(4), 1, 4, new Float32Array(16), 4, null, new Float32Array(4))).toThrow(/NPU_E_XRT.*injected failure/);
    failing.dispose();
  });

  it('MatMul with a non-constant float32 right operand runs in place: nothing prepared, same bits as a constant one', () => {
    manualSeed(3);
    const a = randn([1, 512]);
    const b = randn([512, 300]);
    const before = npuCacheStats();
    const y = withBackend('npu', () => matmul(a, b), { fallback: false }).toArray() as Float32Array;
    const mid = npuCacheStats();
    expect(mid.temporary).toBe(before.temporary);
    expect(mid.misses).toBe(before.misses);
    const bc = b.clone().markConstant();
    const yc = withBackend('npu', () => matmul(a, bc), { fallback: false }).toArray() as Float32Array;
    expect(npuCacheStats().misses).toBe(mid.misses + 1);
    expect(Array.from(y)).toEqual(Array.from(yc));
  });

  it("LinearW4 with configureNpu({ w4Activations: 'int8' }) runs the w4a8 entry; bad settings are refused", () => {
    const prev = npuConfig().w4Activations;
    try {
      manualSeed(4);
      const [N, K, G] = [48, 256, 64];
      const q = quantizeWeightUint4(randn([N, K]), G);
      const x = randn([2, K]);
      configureNpu({ w4Activations: 'int8' });
      const y = withBackend('npu', () => linearW4(x, q), { fallback: false }).toArray() as Float32Array;
      // the same weights straight through the ABI
      const { q: qq, zeros: zT, scales: sT } = w4KNLayout(q.qweight.toTypedArray() as Uint8Array, q.zeros!.toTypedArray() as Uint8Array, q.scales.toArray() as Float32Array, K, N, G);
      const want = w4a8Ref(x.toArray() as Float32Array, 2, K, N, qq, zT, sT, null, G, 4096);
      expect(Array.from(y)).toEqual(Array.from(want));
      configureNpu({ w4Activations: 'bf16' });
      const yb = withBackend('npu', () => linearW4(x, q), { fallback: false }).toArray() as Float32Array;
      expect(Array.from(yb)).not.toEqual(Array.from(y)); // really another arithmetic
      expect(() => configureNpu({ w4Activations: 'int4' as 'int8' })).toThrow("npu: w4 activations must be 'bf16' or 'int8' (OPSHIFT_NPU_W4_ACT), got 'int4'");
    } finally {
      configureNpu({ w4Activations: prev });
    }
  });
});
