/**
 * The NPU library's streamed decode GEMVs (issue #17): with one or two activation rows the f32/bf16 and w8a8 runs
 * walk up to four weight panels at once (npu_emu_internal.h, f_gemv / w8_gemv). Every column's arithmetic must
 * stay the contract's, so each case is checked bit for bit against the TypeScript model on every kernel variant
 * this CPU runs (portable C = the one-panel reference path, AVX2, ...) at 1 and 2 threads. The shapes make the
 * panel groups ragged (N not a multiple of 4 panels, a partial last panel), cross a K tile (f32 tiles are 4096
 * deep, int8 tiles 2048) and, for w8a8, hold -128 weights (the AVX2 kernels' exact correction list).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backendStatus } from '../core/index.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { NpuContext, NpuDType, NpuFlags, NpuVariant } from '../backends/npu/ffi.js';
import { f32TiledRef, xorshift } from './npu_reference.js';

const available = backendStatus('npu')?.available === true;
vi.setConfig({ testTimeout: 30_000 });

describe.skipIf(!available)('npu library: streamed decode GEMVs equal the contract on every ISA', () => {
  const variants: { name: string; ctx: NpuContext }[] = [];
  beforeAll(() => {
    const { lib } = npuRuntime();
    const seen = new Set<string>();
    for (const flags of [0, NpuFlags.NO_AVX512, NpuFlags.NO_VNNI, NpuFlags.PORTABLE])
      for (const threads of [1, 2]) {
        const ctx = new NpuContext(lib, { flags, threads });
        const key = `${/isa=(\S+)/.exec(ctx.description)![1]!}/${threads}`;
        if (seen.has(key)) ctx.dispose();
        else {
          seen.add(key);
          variants.push({ name: key, ctx });
        }
      }
    expect(variants.some((v) => v.name.startsWith('portable'))).toBe(true);
  });
  afterAll(() => variants.forEach((v) => v.ctx.dispose()));

  // N = 16 * panels - cut: 7 panels (a group of 4 then 3), 9 panels with a partial last one, 2 panels
  const fCases = [
    { M: 1, K: 300, N: 109, bias: true },
    { M: 1, K: 4100, N: 139, bias: false }, // two K tiles
    { M: 2, K: 520, N: 139, bias: true },
    { M: 2, K: 4100, N: 32, bias: false },
    { M: 1, K: 4100, N: 523, bias: true }, // >= 2^21 multiply-adds: split across the 2-thread contexts' pool
  ];
  for (const c of fCases)
    it(`f32 M=${c.M} K=${c.K} N=${c.N}${c.bias ? ' bias' : ''}: the tiled contract, bit for bit`, () => {
      const { M, K, N } = c;
      const r = xorshift(K * 13 + N + M);
      const w = Float32Array.from({ length: K * N }, () => r.float(-1, 1));
      const x = Float32Array.from({ length: M * K }, () => r.float(-2, 2));
      const bias = c.bias ? Float32Array.from({ length: N }, () => r.float(-1, 1)) : null;
      const q = variants[0]!.ctx.query(NpuVariant.F32, M, K, N);
      expect(q.supported).toBe(true);
      const tileK = K > 4096 ? 4096 : q.paddedK; // one tile when K fits, else 4096-deep tiles
      const want = f32TiledRef(x, w, M, K, N, bias, tileK);
      for (const { name, ctx } of variants) {
        const g = ctx.createF(NpuVariant.F32, w, K, N);
        const y = new Float32Array(M * N).fill(NaN);
        g.runF(x, NpuDType.F32, M, bias, y, NpuDType.F32);
        g.dispose();
        expect(Array.from(y), name).toEqual(Array.from(want));
      }
    });

  const w8Cases = [
    { M: 1, K: 256, N: 109 },
    { M: 1, K: 2100, N: 139 }, // two int8 K tiles (2048 + 52)
    { M: 2, K: 516, N: 139 },
    { M: 2, K: 2100, N: 48 },
    { M: 1, K: 2100, N: 1013 }, // >= 2^21 multiply-adds: split across the 2-thread contexts' pool
  ];
  for (const c of w8Cases)
    it(`w8a8 M=${c.M} K=${c.K} N=${c.N}: exact int32 sums with -128 weights and activations`, () => {
      const { M, K, N } = c;
      const r = xorshift(K * 7 + N * 3 + M);
      const w = Int8Array.from({ length: K * N }, () => (r.next() < 0.05 ? -128 : r.int(-128, 128)));
      const a = Int8Array.from({ length: M * K }, () => (r.next() < 0.05 ? -128 : r.int(-128, 128)));
      const want = new Int32Array(M * N);
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[m * K + k]! * w[k * N + n]!;
          want[m * N + n] = s;
        }
      for (const { name, ctx } of variants) {
        const g = ctx.createW8(w, K, N);
        const y = new Int32Array(M * N).fill(-1);
        g.runW8(a, M, y);
        g.dispose();
        expect(Array.from(y), name).toEqual(Array.from(want));
      }
    });

  // w4a8 (every M goes through w4a8_gemv on AVX2): each context against the portable 1-thread one, whose bits
  // test/npu_gemv.test.ts checks against the contract; shapes large enough for the 2-thread pool to split them.
  for (const c of [
    { M: 1, K: 2048, N: 1040, G: 128 },
    { M: 2, K: 4224, N: 520, G: 32 }, // two w4 K tiles (4096 + 128)
    { M: 5, K: 1024, N: 420, G: 64 },
  ])
    it(`w4a8 M=${c.M} K=${c.K} N=${c.N} g${c.G}: every ISA and thread count gives the portable path's bits`, () => {
      const { M, K, N, G } = c;
      const r = xorshift(K + N * 5 + M);
      const q = Uint8Array.from({ length: K * N }, () => r.int(0, 16));
      const z = Uint8Array.from({ length: (K / G) * N }, () => r.int(0, 16));
      const s = Float32Array.from({ length: (K / G) * N }, () => r.float(0.001, 0.05));
      const bias = Float32Array.from({ length: N }, () => r.float(-1, 1));
      const x = Float32Array.from({ length: M * K }, () => r.float(-2, 2));
      const run = (ctx: NpuContext) => {
        const g = ctx.createW4A8(q, z, s, bias, K, N, G);
        const y = new Float32Array(M * N).fill(NaN);
        g.runW4A8(x, M, y);
        g.dispose();
        return y;
      };
      const ref = variants.find((v) => v.name === 'portable/1');
      expect(ref).toBeDefined();
      const want = run(ref!.ctx);
      expect(want.every(Number.isFinite)).toBe(true);
      for (const { name, ctx } of variants) expect(Array.from(run(ctx)), name).toEqual(Array.from(want));
    });
});
