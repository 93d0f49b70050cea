/**
 * The NPU emulation library's register-blocked prefill GEMMs (backends/npu/native/npu_gemm_*.c, used for M >= 4
 * f32/bf16 rows and M >= 8 w4abf16 rows): every ISA context this CPU allows, at 1 and 2 threads, gives the bits of
 * the portable kernels (the contract's definition) and, for f32, of the TypeScript model f32TiledRef, on shapes that
 * exercise the blocking's edges: M not a multiple of the 3-row micro-kernel or of an M block, K and N not multiples
 * of 16 or of the 128-k L1 slice, an odd number of panels, K crossing a contract K tile, bias or none, bf16 output.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backendStatus, bf16ToF32, f32ToBf16 } from '../core/index.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { NpuContext, NpuDType, NpuFlags, NpuVariant } from '../backends/npu/ffi.js';
import { f32TiledRef, xorshift } from './npu_reference.js';

const status = backendStatus('npu');
const available = status?.available === true;
if (!available && process.env.OPSHIFT_NPU_STRICT === '1')
  throw new Error(`OPSHIFT_NPU_STRICT=1 but the npu backend is unavailable: ${status && !status.available ? status.reason : 'not registered'}`);

vi.setConfig({ testTimeout: 60_000 });

const floats = (n: number, seed: number, lo = -1, hi = 1) => {
  const r = xorshift(seed);
  return Float32Array.from({ length: n }, () => r.float(lo, hi));
};
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return '';
}
/** The contract's K tile for f32/bf16/w4 (AMD's bf16 tiles: least padded work, then fewer launches). */
function tileK(K: number, N: number): number {
  const tiles: readonly (readonly [number, number])[] = [
    [4096, 4096],
    [11264, 4096],
    [4096, 12288],
    [4096, 32768],
  ];
  const up = (v: number, m: number) => Math.ceil(v / m) * m;
  let best = tiles[0]!;
  for (const t of tiles) {
    const work = up(K, t[0]) * up(N, t[1]);
    const bestWork = up(K, best[0]) * up(N, best[1]);
    const runs = (up(K, t[0]) / t[0]) * (up(N, t[1]) / t[1]);
    const bestRuns = (up(K, best[0]) / best[0]) * (up(N, best[1]) / best[1]);
    if (work < bestWork || (work === bestWork && runs < bestRuns)) best = t;
  }
  return best[0];
}

describe.skipIf(!available)('npu prefill GEMMs: every ISA = portable = the contract', () => {
  let portable: NpuContext;
  let others: NpuContext[];
  beforeAll(() => {
    const lib = npuRuntime().lib;
    portable = new NpuContext(lib, { flags: NpuFlags.PORTABLE, threads: 1 });
    others = [
      new NpuContext(lib, { threads: 1 }), // the best ISA the CPU has
      new NpuContext(lib, { threads: 2 }), // panels split across threads
      new NpuContext(lib, { flags: NpuFlags.NO_AVX512, threads: 1 }),
      new NpuContext(lib, { flags: NpuFlags.NO_VNNI, threads: 2 }),
    ];
  });
  afterAll(() => {
    for (const c of [portable, ...others]) c.dispose();
  });

  it('the contexts cover the ISAs and the portable one is portable', () => {
    expect(portable.description).toMatch(/isa=portable /);
    expect(others[3]!.description).toMatch(/isa=(avx2|portable) /);
    expect(others[1]!.description).toMatch(/threads=2 /);
  });

  // [M, K, N]: M around the 3-row micro-kernel and the 144-row M block; K past the 128-k slice and past one
  // 4096 tile; N with ragged and odd panel counts.
  const fShapes: [number, number, number][] = [
    [1, 40, 17],
    [2, 130, 33],
    [3, 129, 48],
    [4, 257, 31],
    [5, 77, 16],
    [8, 300, 50],
    [13, 131, 95],
    [31, 64, 129],
    [64, 200, 40],
    [127, 96, 47],
    [128, 136, 64],
    [130, 45, 35],
    [145, 33, 21], // two M blocks (73 + 72 rows)
    [9, 4100, 20], // two K tiles: 4096 + 4
    [6, 11300, 33], // three K tiles of 4096
    [5, 8200, 18], // one 11264-deep tile
    [40, 260, 600], // 38 panels: several 8-pair groups, an odd one at the end; >= 2^21 MACs, so 2 threads split it
  ];

  it('f32: bias or none, f32 or bf16 output', () => {
    for (const [M, K, N] of fShapes) {
      const w = floats(K * N, K + 7 * N, -1, 1);
      const x = floats(M * K, M + 3 * K, -1, 1);
      const bias = floats(N, N);
      for (const b of [bias, null]) {
        const want = f32TiledRef(x, w, M, K, N, b, tileK(K, N));
        const gp = portable.createF(NpuVariant.F32, w, K, N);
        const ref = new Float32Array(M * N);
        gp.runF(x, NpuDType.F32, M, b, ref, NpuDType.F32);
        gp.dispose();
        expect(firstDiff(ref, want), `portable f32 ${M}x${K}x${N} bias=${!!b}`).toBe('');
        for (const ctx of others) {
          const g = ctx.createF(NpuVariant.F32, w, K, N);
          const y = new Float32Array(M * N);
          g.runF(x, NpuDType.F32, M, b, y, NpuDType.F32);
          expect(firstDiff(y, want), `f32 ${M}x${K}x${N} bias=${!!b} ${ctx.description}`).toBe('');
          const yb = new Uint16Array(M * N);
          g.runF(x, NpuDType.F32, M, b, yb, NpuDType.BF16);
          expect(firstDiff(yb, Uint16Array.from(want, f32ToBf16)), `f32->bf16 ${M}x${K}x${N} ${ctx.description}`).toBe('');
          g.dispose();
        }
      }
    }
  });

  it('f32: non-finite activations propagate as in the portable kernel', () => {
    const [M, K, N] = [12, 70, 40];
    const w = floats(K * N, 5);
    const x = floats(M * K, 6);
    x[3 * K + 10] = Infinity;
    x[7 * K + 69] = NaN;
    const gp = portable.createF(NpuVariant.F32, w, K, N);
    const ref = new Float32Array(M * N);
    gp.runF(x, NpuDType.F32, M, null, ref, NpuDType.F32);
    gp.dispose();
    expect(ref.some(Number.isNaN)).toBe(true);
    for (const ctx of others) {
      const g = ctx.createF(NpuVariant.F32, w, K, N);
      const y = new Float32Array(M * N);
      g.runF(x, NpuDType.F32, M, null, y, NpuDType.F32);
      expect(firstDiff(y, ref), ctx.description).toBe('');
      g.dispose();
    }
  });

  it('bf16 GEMM (fused products, exact): bf16 in, f32 and bf16 out', () => {
    for (const [M, K, N] of fShapes) {
      const wb = Uint16Array.from(floats(K * N, K + N, -1, 1), f32ToBf16);
      const xb = Uint16Array.from(floats(M * K, M + K, -1, 1), f32ToBf16);
      const want = f32TiledRef(Float32Array.from(xb, bf16ToF32), Float32Array.from(wb, bf16ToF32), M, K, N, null, tileK(K, N));
      for (const ctx of [portable, ...others]) {
        const g = ctx.createF(NpuVariant.BF16, wb, K, N);
        const y = new Float32Array(M * N);
        g.runF(xb, NpuDType.BF16, M, null, y, NpuDType.F32);
        expect(firstDiff(y, want), `bf16 ${M}x${K}x${N} ${ctx.description}`).toBe('');
        const yb = new Uint16Array(M * N);
        g.runF(xb, NpuDType.BF16, M, null, yb, NpuDType.BF16);
        expect(firstDiff(yb, Uint16Array.from(want, f32ToBf16)), `bf16->bf16 ${M}x${K}x${N} ${ctx.description}`).toBe('');
        g.dispose();
      }
    }
  });

  it('w4abf16: groups 32/64/128, zero points or none, bias or none, K tiles, f32 and bf16 output', () => {
    // [M, K, N, G, zeros, bias]
    const cases: [number, number, number, number, boolean, boolean][] = [
      [8, 64, 17, 32, true, true],
      [9, 192, 33, 64, true, false],
      [10, 256, 48, 128, false, true],
      [16, 96, 40, 32, false, false],
      [31, 384, 95, 128, true, true],
      [64, 128, 31, 64, true, true],
      [128, 256, 70, 32, true, true],
      [130, 128, 16, 128, false, true],
      [150, 64, 24, 32, true, false], // two M blocks
      [12, 4224, 20, 128, true, true], // two K tiles: 4096 + 128
      [11, 4160, 18, 64, false, true], // two K tiles: 4096 + 64
      [24, 512, 600, 128, true, true], // 38 panels in groups; split across 2 threads
    ];
    for (const [M, K, N, G, withZeros, withBias] of cases) {
      const r = xorshift(M * 31 + K + N + G);
      const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
      const z = withZeros ? Uint8Array.from({ length: (K / G) * N }, () => r.int(0, 16)) : null;
      const s = floats((K / G) * N, K + G, 0.001, 0.05);
      const bias = withBias ? floats(N, N + 1) : null;
      const x = floats(M * K, M + K, -2, 2);
      const gp = portable.createW4(q, z, s, bias, K, N, G);
      const ref = new Float32Array(M * N);
      gp.runW4(x, NpuDType.F32, M, ref, NpuDType.F32);
      gp.dispose();
      expect(ref.every(Number.isFinite)).toBe(true);
      for (const ctx of others) {
        const g = ctx.createW4(q, z, s, bias, K, N, G);
        const y = new Float32Array(M * N);
        g.runW4(x, NpuDType.F32, M, y, NpuDType.F32);
        expect(firstDiff(y, ref), `w4 ${M}x${K}x${N} g${G} z=${withZeros} b=${withBias} ${ctx.description}`).toBe('');
        const yb = new Uint16Array(M * N);
        g.runW4(Uint16Array.from(x, f32ToBf16), NpuDType.BF16, M, yb, NpuDType.BF16);
        expect(firstDiff(yb, Uint16Array.from(ref, f32ToBf16)), `w4 bf16 ${M}x${K}x${N} g${G} ${ctx.description}`).toBe('');
        g.dispose();
      }
    }
  });
});
