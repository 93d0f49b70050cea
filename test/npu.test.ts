/**
 * The NPU backend: the emulation library's numerics against TypeScript models of the contract in
 * backends/npu/native/opshift_npu.h (bit for bit), tiling/padding/host accumulation, the kernels through the
 * dispatcher, and the failure paths (missing library, wrong ABI, status errors, refusals, use after dispose).
 *
 * CI sets OPSHIFT_NPU_STRICT=1: a missing emulation library then fails this file instead of skipping it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  backendStatus,
  bf16ToF32,
  f32ToBf16,
  linear,
  linearW4,
  linearW8A8,
  matmul,
  NpuError,
  profile,
  quantizeWeightInt8,
  quantizeWeightUint4,
  rand,
  randn,
  roundHalfEven,
  tensor,
  withBackend,
} from '../core/index.js';
import { clearNpuCache, npuCacheStats } from '../backends/npu/kernels.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { configureNpu, npuConfig } from '../backends/npu/config.js';
import { defaultNpuLibraryPath, loadNpuLibrary, NpuContext, NpuDType, NpuFlags, NpuVariant, w4KNLayout, type NpuLibrary } from '../backends/npu/ffi.js';
import { f32TiledRef, xorshift } from './npu_reference.js';

const status = backendStatus('npu');
const available = status?.available === true;
if (!available && process.env.OPSHIFT_NPU_STRICT === '1')
  throw new Error(`OPSHIFT_NPU_STRICT=1 but the npu backend is unavailable: ${status && !status.available ? status.reason : 'not registered'}`);

// The TypeScript reference models loop over millions of products: allow for a busy 2-core machine.
vi.setConfig({ testTimeout: 30_000 });

const f = Math.fround;
const bf = (x: number) => bf16ToF32(f32ToBf16(x));

const int8s = (n: number, seed: number) => {
  const r = xorshift(seed);
  return Int8Array.from({ length: n }, () => r.int(-128, 128));
};
const floats = (n: number, seed: number, lo = -1, hi = 1) => {
  const r = xorshift(seed);
  return Float32Array.from({ length: n }, () => r.float(lo, hi));
};
const bitsEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return '';
}

// ---- TypeScript models of the numerics contract ----

/** The kernel tile (K x N) the contract picks: least padded work, then fewer launches. */
function pickTile(variant: number, K: number, N: number): [number, number] {
  const tiles =
    variant === NpuVariant.W8A8
      ? [
          [2048, 2048],
          [2048, 8192],
          [8192, 2048],
        ]
      : [
          [4096, 4096],
          [11264, 4096],
          [4096, 12288],
          [4096, 32768],
        ];
  let best: [number, number] = [0, 0];
  let bestWork = Infinity;
  let bestRuns = Infinity;
  for (const [kt, nt] of tiles) {
    const kp = Math.ceil(K / kt!) * kt!;
    const np = Math.ceil(N / nt!) * nt!;
    const runs = (kp / kt!) * (np / nt!);
    if (kp * np < bestWork || (kp * np === bestWork && runs < bestRuns)) [best, bestWork, bestRuns] = [[kt!, nt!], kp * np, runs];
  }
  return best;
}

/** Exact int32 accumulators (products and sums below 2^53 are exact in doubles). */
function w8Ref(a: Int8Array, w: Int8Array, M: number, K: number, N: number): Int32Array {
  const c = new Int32Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k]! * w[k * N + n]!;
      c[m * N + n] = s;
    }
  return c;
}

/** The float entry's arithmetic: dynamic per-tensor quantization, int32 GEMM, float32 dequantization steps. */
function w8F32Ref(x: Float32Array, w: Int8Array, M: number, K: number, N: number, ws: Float32Array, bias: Float32Array | null) {
  let mx = 0;
  for (const v of x) mx = Math.max(mx, Math.abs(v));
  const xs = f(mx / 128) || 1;
  const xq = Int8Array.from(x, (v) => Math.max(-128, Math.min(127, roundHalfEven(f(v / xs)))));
  const acc = w8Ref(xq, w, M, K, N);
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const v = f(f(acc[m * N + n]!) * f(xs * ws[ws.length === 1 ? 0 : n]!));
      y[m * N + n] = bias ? f(v + bias[n]!) : v;
    }
  return { y, xs };
}

/**
 * w4abf16 loop nest: per K tile, acc = bf16(bias) (tile 0) or 0; per group p = Σ bf16(x)·((q − z)·bf16(s)) in
 * k order; acc += p; the host sums the tiles in order. `tileK = Infinity` gives the untiled computation.
 */
function w4Ref(x: Float32Array, M: number, K: number, N: number, q: Uint8Array, z: Uint8Array | null, s: Float32Array, bias: Float32Array | null, G: number, tileK: number) {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let out = 0;
      for (let k0 = 0, t = 0; k0 < K; k0 += tileK, t++) {
        let acc = t === 0 && bias ? bf(bias[n]!) : 0;
        for (let gs = k0; gs < Math.min(K, k0 + tileK); gs += G) {
          const g = gs / G;
          const sc = bf(s[g * N + n]!);
          const zz = z ? z[g * N + n]! : 8;
          let p = 0;
          for (let k = gs; k < gs + G; k++) p = f(p + f(bf(x[m * K + k]!) * f((q[k * N + n]! - zz) * sc)));
          acc = f(acc + p);
        }
        out = t === 0 ? acc : f(out + acc);
      }
      y[m * N + n] = out;
    }
  return y;
}

describe.skipIf(!available)('npu: library, ABI and contexts', () => {
  it('loads the library with the expected ABI and reports it in the probe', () => {
    const { lib, ctx } = npuRuntime();
    expect(lib.abiVersion).toBe(2);
    expect(lib.api.npu_abi_version()).toBe(2);
    expect(lib.implName).toMatch(/opshift-npu-emu/);
    expect(lib.path).toBe(defaultNpuLibraryPath());
    expect(ctx.description).toMatch(/device=auto .*isa=(avx512|avx2\+avxvnni|avx2|portable) threads=\d+ flags=0x1/);
    const s = backendStatus('npu');
    expect(s?.available).toBe(true);
    if (s?.available) {
      expect(s.version).toMatch(/^ABI 2: opshift-npu-emu/);
      expect(s.details).toMatchObject({ library: lib.path, abi: '2', device: 'auto', flags: '0x1' });
    }
  });

  it('npu_query reports the kernel tile grid (padded K, N) and refuses with the reason', () => {
    const { ctx } = npuRuntime();
    const shapes: [number, number, number][] = [
      [NpuVariant.W8A8, 2048, 2048],
      [NpuVariant.W8A8, 2048, 8192],
      [NpuVariant.W8A8, 8192, 2048],
      [NpuVariant.W8A8, 4100, 16],
      [NpuVariant.W4ABF16, 11008, 4096],
      [NpuVariant.W4ABF16, 4096, 11008],
      [NpuVariant.W4ABF16, 12288, 16],
      [NpuVariant.F32, 64, 24],
    ];
    for (const [v, K, N] of shapes) {
      const [kt, nt] = pickTile(v, K, N);
      expect(ctx.query(v as NpuVariant, 1, K, N, 128), `${v} ${K}x${N}`).toEqual({
        supported: true,
        paddedK: Math.ceil(K / kt) * kt,
        paddedN: Math.ceil(N / nt) * nt,
        reason: '',
      });
    }
    expect(pickTile(NpuVariant.W4ABF16, 11008, 4096)).toEqual([11264, 4096]);
    expect(ctx.query(NpuVariant.W4ABF16, 1, 256, 64, 48)).toMatchObject({ supported: false, reason: "npu_query: w4abf16 group size 48 is not one of the kernel's 32, 64, 128" });
    expect(ctx.query(NpuVariant.W8A16, 1, 256, 64).reason).toMatch(/w8a16 .* STX-only/);
    expect(ctx.query(NpuVariant.W8A8, 1, 200000, 64).reason).toMatch(/K=200000 exceeds 131071/);
  });
});

describe.skipIf(!available)('npu: numerics (bit for bit against the contract)', () => {
  let lib: NpuLibrary;
  let portable: NpuContext;
  let noVnni: NpuContext;
  let noAvx512: NpuContext;
  let oneThread: NpuContext;
  beforeAll(() => {
    lib = npuRuntime().lib;
    portable = new NpuContext(lib, { flags: NpuFlags.PORTABLE });
    noVnni = new NpuContext(lib, { flags: NpuFlags.NO_VNNI });
    noAvx512 = new NpuContext(lib, { flags: NpuFlags.NO_AVX512 });
    oneThread = new NpuContext(lib, { threads: 1 });
  });
  afterAll(() => {
    for (const c of [portable, noVnni, noAvx512, oneThread]) c.dispose();
  });
  // Every kernel variant this machine has (portable C, AVX2, AVX2 + AVX-VNNI, AVX-512) and both thread counts
  // agree bit for bit.
  const contexts = () => [npuRuntime().ctx, portable, noVnni, noAvx512, oneThread];

  it('w8a8 int32 accumulators equal exact integer sums (K tiles, -128, odd K/N, M chunks)', () => {
    expect(portable.description).toMatch(/isa=portable/);
    expect(noVnni.description).toMatch(/isa=(avx2|portable) /);
    expect(noAvx512.description).toMatch(/isa=(avx2\+avxvnni|avx2|portable) /);
    for (const [M, K, N] of [
      [1, 37, 9],
      [5, 64, 33],
      [9, 130, 47],
      [70, 4100, 20],
      [3, 2048, 2051],
    ] as const) {
      const w = int8s(K * N, K + N);
      w[0] = -128;
      const a = int8s(M * K, M * 7 + K);
      a[0] = -128;
      const want = w8Ref(a, w, M, K, N);
      for (const ctx of contexts()) {
        const g = ctx.createW8(w, K, N);
        const c = new Int32Array(M * N);
        g.runW8(a, M, c);
        expect(firstDiff(c, want), `${M}x${K}x${N} ${ctx.description}`).toBe('');
        g.dispose();
      }
    }
  });

  it('w8a8 tiles: K=4100 runs 3 K tiles of 2048 and M=70 two chunks of 64, and still equals the untiled sum', () => {
    const g = npuRuntime().ctx.createW8(int8s(4100 * 20, 1), 4100, 20);
    g.runW8(int8s(70 * 4100, 2), 70, new Int32Array(70 * 20));
    expect(g.stats()).toMatchObject({ runs: 2 * 1 * 3, calls: 1 });
    g.dispose();
  });

  it('the float w8a8 entry equals the TypeScript model (per tensor and per channel, bias, x_scale)', () => {
    for (const [M, K, N, perChannel] of [
      [1, 256, 96, false],
      [7, 300, 17, true],
      [33, 2100, 40, false],
    ] as const) {
      const w = int8s(K * N, 3 * K);
      const x = floats(M * K, M + K, -3, 3);
      const ws = perChannel ? floats(N, 5, 0.001, 0.01) : Float32Array.of(0.0042);
      const bias = floats(N, 6);
      const want = w8F32Ref(x, w, M, K, N, ws, bias);
      for (const ctx of contexts()) {
        const g = ctx.createW8(w, K, N);
        const y = new Float32Array(M * N);
        const xs = g.runW8F32(x, M, ws, bias, y);
        expect(xs).toBe(want.xs);
        expect(firstDiff(y, want.y), `${M}x${K}x${N}`).toBe('');
        g.dispose();
      }
    }
    // All-zero input: x_scale 1, output = bias
    const g = npuRuntime().ctx.createW8(int8s(64 * 8, 9), 64, 8);
    const y = new Float32Array(8);
    expect(g.runW8F32(new Float32Array(64), 1, Float32Array.of(0.5), Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), y)).toBe(1);
    expect(Array.from(y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    g.dispose();
  });

  it('the float w8a8 entry: a NaN or ±Inf anywhere (SIMD body or tail) makes x_scale and every output NaN, on every ISA', () => {
    const [M, K, N] = [3, 45, 20]; // M·K = 135: 16 vectors of 8 and a tail of 7
    const w = int8s(K * N, 17);
    const bias = floats(N, 18);
    for (const at of [0, 9, 127, 128, 134])
      for (const v of [NaN, Infinity, -Infinity]) {
        const x = floats(M * K, 19, -3, 3);
        x[at] = v;
        for (const ctx of contexts()) {
          const g = ctx.createW8(w, K, N);
          const y = new Float32Array(M * N);
          for (const b of [bias, null]) {
            y.fill(7);
            expect(g.runW8F32(x, M, Float32Array.of(0.01), b, y), `${v} at ${at} ${ctx.description}`).toBeNaN();
            expect(Array.from(y).filter((e) => !Number.isNaN(e)), `${v} at ${at} ${ctx.description}`).toEqual([]);
          }
          g.dispose();
        }
      }
  });

  it('w4abf16 equals the loop-nest model (groups 32/64/128, K tiles, zeros/bias or not, f32 and bf16 in and out)', () => {
    for (const [M, K, N, G, zeros, withBias] of [
      [1, 256, 40, 128, true, true],
      [1, 4096, 100, 128, true, true], // 7 panels: the 4-panel GEMV kernel and its tail
      [3, 192, 50, 64, false, true],
      [4, 64, 24, 32, false, false],
      [9, 192, 33, 64, true, true],
      [2, 12288, 20, 128, true, true], // 3 K tiles of 4096
      [35, 128, 17, 32, true, false], // 2 M chunks of 32
    ] as const) {
      const r = xorshift(K + N + G);
      const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
      const z = zeros ? Uint8Array.from({ length: (K / G) * N }, () => r.int(0, 16)) : null;
      const s = floats((K / G) * N, 11, 0.001, 0.02);
      const bias = withBias ? floats(N, 12) : null;
      const x = floats(M * K, 13, -2, 2);
      const [kt] = pickTile(NpuVariant.W4ABF16, K, N);
      const want = w4Ref(x, M, K, N, q, z, s, bias, G, kt);
      const xb = Uint16Array.from(x, f32ToBf16);
      for (const ctx of contexts()) {
        const g = ctx.createW4(q, z, s, bias, K, N, G);
        const y = new Float32Array(M * N);
        g.runW4(x, NpuDType.F32, M, y, NpuDType.F32);
        expect(firstDiff(y, want), `${M}x${K}x${N} g${G} ${ctx.description}`).toBe('');
        const y2 = new Float32Array(M * N);
        g.runW4(xb, NpuDType.BF16, M, y2, NpuDType.F32); // bf16 activations given as bits: same result
        expect(bitsEqual(y2, y)).toBe(true);
        const yb = new Uint16Array(M * N);
        g.runW4(x, NpuDType.F32, M, yb, NpuDType.BF16); // bf16 output: RNE of the float32 result
        expect(firstDiff(yb, Uint16Array.from(want, f32ToBf16))).toBe('');
        g.dispose();
      }
    }
  });

  it('f32 and bf16 GEMMs equal their models (unfused f32 products, K tiles, bias after the tiles)', () => {
    for (const [M, K, N] of [
      [1, 64, 24],
      [6, 9000, 19], // 3 K tiles of 4096
      [40, 33, 50],
    ] as const) {
      const [kt] = pickTile(NpuVariant.F32, K, N);
      const w = floats(K * N, K, -1, 1);
      const x = floats(M * K, M, -1, 1);
      const bias = floats(N, 3);
      const want = f32TiledRef(x, w, M, K, N, bias, kt);
      const wb = Uint16Array.from(w, f32ToBf16);
      const xb = Uint16Array.from(x, f32ToBf16);
      const wantB = f32TiledRef(Float32Array.from(xb, bf16ToF32), Float32Array.from(wb, bf16ToF32), M, K, N, null, kt);
      for (const ctx of contexts()) {
        const g = ctx.createF(NpuVariant.F32, w, K, N);
        const y = new Float32Array(M * N);
        g.runF(x, NpuDType.F32, M, bias, y, NpuDType.F32);
        expect(firstDiff(y, want), `f32 ${M}x${K}x${N} ${ctx.description}`).toBe('');
        g.dispose();
        const gb = ctx.createF(NpuVariant.BF16, wb, K, N);
        const yb = new Uint16Array(M * N);
        gb.runF(xb, NpuDType.BF16, M, null, yb, NpuDType.BF16);
        expect(firstDiff(yb, Uint16Array.from(wantB, f32ToBf16)), `bf16 ${M}x${K}x${N}`).toBe('');
        gb.dispose();
      }
    }
  });

  it('tiled vs untiled float math: the NPU result is the tiled sum; it differs from the untiled sum within the bound', () => {
    // K = 12288: three 4096 tiles summed on the host, vs one sequential accumulator over all of K.
    const [M, K, N, G] = [4, 12288, 32, 128];
    const r = xorshift(77);
    const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
    const s = floats((K / G) * N, 78, 0.001, 0.02);
    const x = floats(M * K, 79, -2, 2);
    const tiled = w4Ref(x, M, K, N, q, null, s, null, G, 4096);
    const untiled = w4Ref(x, M, K, N, q, null, s, null, G, Infinity);
    const g = npuRuntime().ctx.createW4(q, null, s, null, K, N, G);
    const y = new Float32Array(M * N);
    g.runW4(x, NpuDType.F32, M, y, NpuDType.F32);
    g.dispose();
    expect(firstDiff(y, tiled)).toBe('');
    // Two orders of the same K exactly-representable products each err by at most (K/G + G + tiles)·u·Σ|x·w|
    // (sequential sums within a group, then over groups, then over tiles); their difference by twice that.
    const u = 2 ** -24;
    let differing = 0;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let sumAbs = 0;
        for (let k = 0; k < K; k++) sumAbs += Math.abs(bf(x[m * K + k]!) * (q[k * N + n]! - 8) * bf(s[Math.floor(k / G) * N + n]!));
        const bound = 2 * (K / G + G + 3) * u * sumAbs;
        const d = Math.abs(tiled[m * N + n]! - untiled[m * N + n]!);
        expect(d).toBeLessThanOrEqual(bound);
        if (d > 0) differing++;
      }
    expect(differing).toBeGreaterThan(0); // the difference is real, not an artefact of a lucky input
    // Integer math: tiling changes nothing (the w8 test above compares tiled NPU results with untiled sums).
  });
});

describe.skipIf(!available)('npu: kernels through the dispatcher', () => {
  it('LinearW8A8 on npu is bit-exact with the cpu reference (PyTorch-style quantized weights)', () => {
    const w = randn([48, 96]);
    const x = randn([5, 96]);
    const bias = randn([48]);
    for (const perChannel of [false, true]) {
      const { weight, scale } = quantizeWeightInt8(w, { perChannel });
      const cpu = withBackend('cpu', () => linearW8A8(x, weight, scale, bias));
      const p = profile(() => withBackend('npu', () => linearW8A8(x, weight, scale, bias), { fallback: false }));
      expect(p.records[0]!.backend).toBe('npu');
      expect(bitsEqual(p.result.toArray() as Float32Array, cpu.toArray() as Float32Array)).toBe(true);
    }
  });

  it('LinearW4 on npu equals the loop-nest model and stays within the bf16 tolerance of the cpu reference', () => {
    const w = randn([40, 256]);
    const x = randn([3, 256]);
    const bias = randn([40]);
    const q = quantizeWeightUint4(w, 64);
    const npu = withBackend('npu', () => linearW4(x, q, bias), { fallback: false }).toArray() as Float32Array;
    const cpu = withBackend('cpu', () => linearW4(x, q, bias)).toArray() as Float32Array;
    // Model inputs in the ABI layout
    const [N, K, G] = [40, 256, 64];
    const { q: qq, zeros: zT, scales: sT } = w4KNLayout(q.qweight.toTypedArray() as Uint8Array, q.zeros!.toTypedArray() as Uint8Array, q.scales.toArray() as Float32Array, K, N, G);
    const want = w4Ref(x.toArray() as Float32Array, 3, K, N, qq, zT, sT, bias.toArray() as Float32Array, G, 4096);
    expect(firstDiff(npu, want)).toBe('');
    // Error relative to the output's scale: bf16 activations and scales (2^-9 relative each) do change the
    // result, by about what that rounding allows over K = 256 terms.
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < cpu.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(npu[i]! - cpu[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(cpu[i]!));
    }
    expect(maxErr).toBeGreaterThan(0);
    expect(maxErr / maxAbs).toBeLessThan(1e-2);
  });

  it('float MatMul/Linear go to the f32 or bf16 GEMM, never quantized', () => {
    const a = rand([6, 40]);
    const b = rand([40, 24]);
    const want = f32TiledRef(a.toArray() as Float32Array, b.toArray() as Float32Array, 6, 40, 24, null, 4096);
    const p = profile(() => withBackend('npu', () => matmul(a, b), { fallback: false }));
    expect(p.records[0]!.backend).toBe('npu');
    expect(firstDiff(p.result.toArray() as Float32Array, want)).toBe('');
    const ab = a.to('bfloat16');
    const bb = b.to('bfloat16');
    const yb = withBackend('npu', () => matmul(ab, bb), { fallback: false });
    expect(yb.dtype).toBe('bfloat16');
    const wantB = f32TiledRef(ab.toArray() as Float32Array, bb.toArray() as Float32Array, 6, 40, 24, null, 4096);
    expect(firstDiff(yb.toTypedArray() as Uint16Array, Uint16Array.from(wantB, f32ToBf16))).toBe('');
  });

  it('constant weights are prepared once and cached; other weights are prepared per call and released', () => {
    clearNpuCache();
    const w = rand([32, 64]).markConstant();
    const x = rand([2, 64]);
    const before = npuCacheStats();
    const y1 = withBackend('npu', () => linear(x, w), { fallback: false });
    const y2 = withBackend('npu', () => linear(x, w), { fallback: false });
    const mid = npuCacheStats();
    expect(mid.misses - before.misses).toBe(1);
    expect(mid.hits - before.hits).toBe(1);
    expect(mid.live).toBe(1);
    expect(bitsEqual(y1.toArray() as Float32Array, y2.toArray() as Float32Array)).toBe(true);
    withBackend('npu', () => linear(x, rand([32, 64])), { fallback: false });
    const after = npuCacheStats();
    expect(after.temporary - mid.temporary).toBe(1);
    expect(after.live).toBe(1);
    clearNpuCache();
    expect(npuCacheStats().live).toBe(0);
    // still works after the cache was dropped (prepared again)
    expect(bitsEqual(withBackend('npu', () => linear(x, w)).toArray() as Float32Array, y1.toArray() as Float32Array)).toBe(true);
  });

  it('refused calls fall back to cpu with the cause recorded in the profile', () => {
    const small = profile(() => withBackend('npu', () => linear(rand([2, 16]), rand([4, 16]))));
    expect(small.records[0]!.backend).not.toBe('npu');
    expect(small.records[0]!.cause).toMatch(/^fallback: npu rejects N=4 < 8 \(small GEMMs stay off the NPU; .*\) -> (cpu|wasm)$/);
    const q = quantizeWeightUint4(randn([16, 64]), 16);
    const g16 = profile(() => withBackend('npu', () => linearW4(rand([1, 64]), q)));
    expect(g16.records[0]!.backend).toBe('cpu'); // only cpu (and ort, below it) have LinearW4
    expect(g16.records[0]!.cause).toContain("npu rejects M=1 K=64 N=16: npu_query: w4abf16 group size 16 is not one of the kernel's 32, 64, 128");
    const [h1, h2] = [rand([2, 8]).to('float16'), rand([8, 16]).to('float16')];
    const f16 = profile(() => withBackend('npu', () => matmul(h1, h2)));
    expect(f16.records[0]!.cause).toMatch(/^fallback: npu rejects float16 \(float32 and bfloat16 only; float GEMMs are never quantized\)/);
    const prev = npuConfig().minN;
    try {
      configureNpu({ minN: 4096 }); // llama.cpp's rule
      const p = profile(() => withBackend('npu', () => linear(rand([1, 64]), rand([2048, 64]))));
      expect(p.records[0]!.cause).toMatch(/npu rejects N=2048 < 4096/);
    } finally {
      configureNpu({ minN: prev });
    }
  });

  it('edge shapes: no rows, strided activations, 3-d inputs', () => {
    const w = rand([32, 64]).markConstant();
    const empty = withBackend('npu', () => linear(rand([0, 64]), w), { fallback: false });
    expect(empty.shape).toEqual([0, 32]);
    const xs = rand([64, 6]).t(); // [6, 64], not contiguous
    const xc = xs.contiguous();
    const want = withBackend('npu', () => linear(xc, w), { fallback: false }).toArray() as Float32Array;
    expect(bitsEqual(withBackend('npu', () => linear(xs, w), { fallback: false }).toArray() as Float32Array, want)).toBe(true);
    // A contiguous view at an offset reaches C as a subarray: koffi must pass its byteOffset
    const big = rand([8, 64]);
    const rows = big.narrow(0, 2, 3);
    const rowsCopy = rows.contiguous().clone();
    const viaView = withBackend('npu', () => linear(rows, w), { fallback: false }).toArray() as Float32Array;
    expect(bitsEqual(viaView, withBackend('npu', () => linear(rowsCopy, w)).toArray() as Float32Array)).toBe(true);
    const x3 = rand([2, 3, 64]);
    const y3 = withBackend('npu', () => linear(x3, w), { fallback: false });
    expect(y3.shape).toEqual([2, 3, 32]);
    const x2 = x3.reshape([6, 64]);
    expect(bitsEqual(y3.toArray() as Float32Array, withBackend('npu', () => linear(x2, w)).toArray() as Float32Array)).toBe(true);
  });

  it('the npu is opt-in: below cpu in the default order', () => {
    const p = profile(() => linear(rand([2, 64]), rand([32, 64])));
    expect(p.records[0]!.backend).not.toBe('npu');
    expect(tensor([1]).dtype).toBe('int64');
  });
});

describe.skipIf(!available)('npu: failure paths', () => {
  it('a missing library makes the backend unavailable with the reason (OPSHIFT_NPU_LIB or an explicit path)', () => {
    const r = loadNpuLibrary('/nonexistent/libopshift_npu.so');
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/^NPU library \/nonexistent\/libopshift_npu\.so not found/) as unknown as string });
    const prev = process.env.OPSHIFT_NPU_LIB;
    process.env.OPSHIFT_NPU_LIB = '/nonexistent/hw/libryzenai_npu.so';
    try {
      expect(defaultNpuLibraryPath()).toBe('/nonexistent/hw/libryzenai_npu.so');
      const r2 = loadNpuLibrary();
      expect(r2.ok).toBe(false);
      if (!r2.ok) expect(r2.reason).toContain('/nonexistent/hw/libryzenai_npu.so not found');
    } finally {
      if (prev === undefined) delete process.env.OPSHIFT_NPU_LIB;
      else process.env.OPSHIFT_NPU_LIB = prev;
    }
    expect(loadNpuLibrary(join(tmpdir(), 'not-a-library.txt')).ok).toBe(false);
  });

  const cli = join(process.cwd(), 'dist', 'tools', 'cli.js');
  it.skipIf(!existsSync(cli))('end to end: OPSHIFT_NPU_LIB naming a missing file lists npu as unavailable, and nothing crashes', () => {
    const r = spawnSync(process.execPath, [cli, 'backends', '--json'], { encoding: 'utf8', env: { ...process.env, OPSHIFT_NPU_LIB: '/nonexistent/libnpu.so' } });
    expect(r.status, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; status: { available: boolean; reason?: string } }[];
    const npu = list.find((b) => b.name === 'npu');
    expect(npu?.status).toEqual({ available: false, reason: expect.stringContaining('NPU library /nonexistent/libnpu.so not found') as unknown as string });
    expect(list.find((b) => b.name === 'cpu')?.status.available).toBe(true);
  });

  const cc = spawnSync('cc', ['--version']).status === 0;
  it.skipIf(!cc)('a library with another ABI version is refused with both versions in the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'opshift-npu-abi-'));
    try {
      const src = join(process.cwd(), 'backends', 'npu', 'native');
      const out = join(dir, 'libwrong_abi.so');
      const r = spawnSync(
        'cc',
        ['-O0', '-fPIC', '-shared', '-pthread', '-DOPSHIFT_NPU_ABI_OVERRIDE=999', ...readdirSync(src).filter((f) => f.endsWith('.c')).map((s) => join(src, s)), '-o', out, '-lm'],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const loaded = loadNpuLibrary(out);
      expect(loaded.ok).toBe(false);
      if (!loaded.ok) expect(loaded.reason).toBe(`NPU library ${out} implements ABI version 999, opshift needs 2 (rebuild it, or point OPSHIFT_NPU_LIB at a matching library)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('a failing library call surfaces as NpuError with the call, the status and the library message', () => {
    const lib = npuRuntime().lib;
    const ctx = new NpuContext(lib, { flags: NpuFlags.TEST_FAIL });
    try {
      const g = ctx.createW8(int8s(64 * 16, 1), 64, 16);
      let err: unknown;
      try {
        g.runW8(int8s(64, 2), 1, new Int32Array(16));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NpuError);
      const e = err as NpuError;
      expect(e.call).toBe('npu_gemm_run_w8');
      expect(e.status).toBe(5);
      expect(e.message).toBe(
        "npu_gemm_run_w8 failed with NPU_E_XRT (5): npu_gemm_run_w8: injected failure (NPU_F_TEST_FAIL): launch of a8w8acc32_1_2048_2048 on device 'auto' did not complete",
      );
    } finally {
      ctx.dispose();
    }
    expect(() => new NpuContext(lib, { device: 'tpu' })).toThrow(
      new NpuError('npu_ctx_create', 3, "npu_ctx_create: unknown device 'tpu' (the emulation accepts auto, emu, phx, stx)"),
    );
    expect(() => new NpuContext(lib, { artifactDir: '/nonexistent/xclbin' })).toThrow(/NPU_E_NOFILE \(4\): npu_ctx_create: artifact directory '\/nonexistent\/xclbin' does not exist/);
    expect(() => npuRuntime().ctx.createW4(new Uint8Array(64 * 8), null, new Float32Array(8), null, 64, 8, 48)).toThrow(
      /npu_gemm_create_w4 failed with NPU_E_UNSUPPORTED \(2\): .*group size 48/,
    );
    expect(() => npuRuntime().ctx.createW4(new Uint8Array(64 * 8).fill(16), null, new Float32Array(16), null, 64, 8, 32)).toThrow(/q\[0\]\[0\] = 16 exceeds 15/);
  });

  it('use after dispose is a clear error; disposing a context invalidates its gemms', () => {
    const lib = npuRuntime().lib;
    const ctx = new NpuContext(lib);
    const g = ctx.createF(NpuVariant.F32, floats(32 * 16, 1), 32, 16);
    const y = new Float32Array(16);
    g.runF(floats(32, 2), NpuDType.F32, 1, null, y, NpuDType.F32);
    g.dispose();
    g.dispose(); // idempotent
    expect(() => g.runF(floats(32, 2), NpuDType.F32, 1, null, y, NpuDType.F32)).toThrow(
      new NpuError('npu_gemm_run_f', -1, 'an NPU gemm handle (variant 4, K=32, N=16) was used after dispose()'),
    );
    const g2 = ctx.createW8(int8s(32 * 16, 3), 32, 16);
    ctx.dispose();
    expect(g2.disposed).toBe(true);
    expect(() => g2.stats()).toThrow(/NPU_E_DISPOSED \(-1\): an NPU gemm handle .* was used after dispose\(\)/);
    expect(() => ctx.query(NpuVariant.W8A8, 1, 32, 16)).toThrow(/npu_query failed with NPU_E_DISPOSED .* an NPU context was used after dispose\(\)/);
    g2.dispose(); // no double free after the context destroyed it
  });
});
