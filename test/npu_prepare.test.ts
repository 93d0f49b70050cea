/**
 * Preparing weights straight from nn.Linear's [N, K] layout (npu_gemm_create_f_t / _w8_t / _w4_t, issue #17 "fast
 * preparation"): every handle must equal, bit for bit, the one the K x N entries make from a host-transposed copy.
 * The packed panels are internal, so the check is on runs: same inputs, identical output bits, for every kernel ISA
 * this CPU allows, odd shapes (K and N not multiples of the 8 x 8 transposer or the 16-column panels, K over one
 * kernel tile), threaded packing, and the host fallback a library without the entries gets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultNpuLibraryPath, loadNpuLibrary, NpuContext, NpuDType, NpuFlags, NpuVariant, type NpuLibrary } from '../backends/npu/ffi.js';
import { transpose2d } from '../core/transpose.js';
import { xorshift } from './npu_reference.js';

const loaded = loadNpuLibrary(defaultNpuLibraryPath());
const available = loaded.ok;

const floats = (n: number, seed: number) => {
  const r = xorshift(seed);
  return Float32Array.from({ length: n }, () => Math.fround(r.next() * 2 - 1));
};
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: ArrayBufferView, b: ArrayBufferView) => bytes(a).equals(bytes(b));

/** bf16 bit patterns of random floats, plus ±Inf, NaN, ±0 and a subnormal (packing must move bits unchanged). */
function bf16Bits(n: number, seed: number): Uint16Array {
  const f = floats(n, seed);
  const u = new Uint32Array(f.buffer);
  const out = Uint16Array.from(u, (x) => x >>> 16);
  const specials = [0x7f80, 0xff80, 0x7fc1, 0x0000, 0x8000, 0x0001];
  for (let i = 0; i < specials.length && i < n; i++) out[(i * 7919) % n] = specials[i]!;
  return out;
}
const widen = (b: Uint16Array) => new Float32Array(Uint32Array.from(b, (x) => (x << 16) >>> 0).buffer);

// K, N: under one 8 x 8 block, ragged in both, a full panel, over the f32 kernel tile (4096) and int8 tile (2048)
const SHAPES: [number, number][] = [
  [5, 3],
  [37, 45],
  [64, 16],
  [1031, 517],
  [4100, 24],
];
const MS = [1, 3, 33];

describe.skipIf(!available)('npu: prepare from [N, K] (bit-identical to the K x N entries)', () => {
  let lib: NpuLibrary;
  const ctxs: { name: string; ctx: NpuContext }[] = [];
  let noEntries: NpuContext;

  beforeAll(() => {
    lib = (loaded as { ok: true; lib: NpuLibrary }).lib;
    for (const [name, flags] of [
      ['default', 0],
      ['no-avx512', NpuFlags.NO_AVX512],
      ['no-vnni', NpuFlags.NO_VNNI],
      ['portable', NpuFlags.PORTABLE],
    ] as const)
      ctxs.push({ name, ctx: new NpuContext(lib, { flags, threads: 2 }) });
    // The same library seen without its optional entries: NpuContext's host-transpose fallback.
    noEntries = new NpuContext({ ...lib, optional: {} }, { threads: 2 });
  });
  afterAll(() => {
    for (const { ctx } of ctxs) ctx.dispose();
    noEntries.dispose();
  });

  it('the emulation library exports the optional entries: the three [N, K] creates and the prepared-weight files', () => {
    expect(Object.keys(lib.optional).sort()).toEqual([
      'npu_gemm_create_f_t', 'npu_gemm_create_w4_t', 'npu_gemm_create_w8_t', 'npu_gemm_export', 'npu_gemm_import',
    ]);
  });

  it('f32 weights: createFFromNK equals createF of the transposed weight, every ISA and the fallback', () => {
    for (const [K, N] of SHAPES) {
      const w = floats(N * K, K * 31 + N);
      w[0] = NaN;
      w[w.length - 1] = -Infinity;
      const wT = transpose2d(w, N, K, new Float32Array(K * N));
      for (const M of MS) {
        const x = floats(M * K, M);
        const outs: Float32Array[] = [];
        for (const { name, ctx } of [...ctxs, { name: 'fallback', ctx: noEntries }]) {
          const a = ctx.createF(NpuVariant.F32, wT, K, N);
          const b = ctx.createFFromNK(NpuVariant.F32, w, K, N);
          const ya = new Float32Array(M * N);
          const yb = new Float32Array(M * N);
          a.runF(x, NpuDType.F32, M, null, ya, NpuDType.F32);
          b.runF(x, NpuDType.F32, M, null, yb, NpuDType.F32);
          a.dispose();
          b.dispose();
          expect(same(ya, yb), `${name} K=${K} N=${N} M=${M}`).toBe(true);
          outs.push(yb);
        }
        for (const o of outs) expect(same(o, outs[0]!)).toBe(true);
      }
    }
  });

  it('bf16 weights: an f32 gemm (widened in the library) and a bf16 gemm equal the K x N entries', () => {
    for (const [K, N] of SHAPES) {
      const w = bf16Bits(N * K, K + N * 3);
      const wT = transpose2d(w, N, K, new Uint16Array(K * N));
      const M = 3;
      const x = floats(M * K, 7);
      const xb = Uint16Array.from(new Uint32Array(x.buffer), (u) => u >>> 16);
      for (const { name, ctx } of [...ctxs, { name: 'fallback', ctx: noEntries }]) {
        // f32 gemm from bf16 bits vs f32 gemm from the host-widened transpose
        const a = ctx.createF(NpuVariant.F32, widen(wT), K, N);
        const b = ctx.createFFromNK(NpuVariant.F32, w, K, N);
        const ya = new Float32Array(M * N);
        const yb = new Float32Array(M * N);
        a.runF(x, NpuDType.F32, M, null, ya, NpuDType.F32);
        b.runF(x, NpuDType.F32, M, null, yb, NpuDType.F32);
        expect(same(ya, yb), `f32<-bf16 ${name} K=${K} N=${N}`).toBe(true);
        // bf16 gemm, bf16 output
        const c = ctx.createF(NpuVariant.BF16, wT, K, N);
        const d = ctx.createFFromNK(NpuVariant.BF16, w, K, N);
        const yc = new Uint16Array(M * N);
        const yd = new Uint16Array(M * N);
        c.runF(xb, NpuDType.BF16, M, null, yc, NpuDType.BF16);
        d.runF(xb, NpuDType.BF16, M, null, yd, NpuDType.BF16);
        expect(same(yc, yd), `bf16 ${name} K=${K} N=${N}`).toBe(true);
        for (const g of [a, b, c, d]) g.dispose();
      }
    }
  });

  it('w8a8: createW8FromNK equals createW8 of the transposed weight, -128 corrections and K tiles included', () => {
    for (const [K, N] of [...SHAPES, [2085, 40] as [number, number]]) {
      const r = xorshift(K * 7 + N);
      const w = Int8Array.from({ length: N * K }, () => Math.floor(r.next() * 256) - 128);
      for (let i = 0; i < w.length; i += 13) w[i] = -128;
      const wT = transpose2d(w, N, K, new Int8Array(K * N));
      const M = 5;
      const a8 = Int8Array.from({ length: M * K }, () => Math.floor(r.next() * 256) - 128);
      for (const { name, ctx } of [...ctxs, { name: 'fallback', ctx: noEntries }]) {
        const ga = ctx.createW8(wT, K, N);
        const gb = ctx.createW8FromNK(w, K, N);
        const ca = new Int32Array(M * N);
        const cb = new Int32Array(M * N);
        ga.runW8(a8, M, ca);
        gb.runW8(a8, M, cb);
        expect(same(ca, cb), `${name} K=${K} N=${N}`).toBe(true);
        const x = floats(M * K, 3);
        const ya = new Float32Array(M * N);
        const yb = new Float32Array(M * N);
        const ws = floats(N, 5).map(Math.abs);
        ga.runW8F32(x, M, ws, null, ya);
        gb.runW8F32(x, M, ws, null, yb);
        expect(same(ya, yb), `${name} f32 entry K=${K} N=${N}`).toBe(true);
        ga.dispose();
        gb.dispose();
      }
    }
  });

  it('w4abf16 and w4a8: createW4FromNK (MatMulNBits layout) equals the K x N entries, with and without zero points', () => {
    for (const [K, N, G] of [
      [64, 16, 32],
      [96, 45, 32],
      [256, 37, 128],
      [4160, 24, 64],
    ] as [number, number, number][]) {
      const r = xorshift(K + N * 11);
      const groups = K / G;
      const qp = Uint8Array.from({ length: (N * K) / 2 }, () => Math.floor(r.next() * 256));
      const zeros = Uint8Array.from({ length: N * groups }, () => Math.floor(r.next() * 16));
      const scales = floats(N * groups, 9).map((s) => Math.fround(Math.abs(s) / 8 + 1e-3));
      const bias = floats(N, 4);
      // host reference layout: q K x N one a byte, zeros and scales (K/G) x N
      const q = new Uint8Array(K * N);
      for (let n = 0; n < N; n++)
        for (let j = 0; j < K / 2; j++) {
          q[2 * j * N + n] = qp[n * (K / 2) + j]! & 15;
          q[(2 * j + 1) * N + n] = qp[n * (K / 2) + j]! >> 4;
        }
      const zT = transpose2d(zeros, N, groups, new Uint8Array(groups * N));
      const sT = transpose2d(scales, N, groups, new Float32Array(groups * N));
      const M = 3;
      const x = floats(M * K, 21);
      for (const { name, ctx } of [...ctxs, { name: 'fallback', ctx: noEntries }])
        for (const z of [true, false]) {
          const tag = `${name} K=${K} N=${N} G=${G} zeros=${z}`;
          const a = ctx.createW4(q, z ? zT : null, sT, bias, K, N, G);
          const b = ctx.createW4FromNK(NpuVariant.W4ABF16, qp, z ? zeros : null, scales, bias, K, N, G);
          const ya = new Float32Array(M * N);
          const yb = new Float32Array(M * N);
          a.runW4(x, NpuDType.F32, M, ya, NpuDType.F32);
          b.runW4(x, NpuDType.F32, M, yb, NpuDType.F32);
          expect(same(ya, yb), `w4abf16 ${tag}`).toBe(true);
          const c = ctx.createW4A8(q, z ? zT : null, sT, bias, K, N, G);
          const d = ctx.createW4FromNK(NpuVariant.W4A8, qp, z ? zeros : null, scales, bias, K, N, G);
          c.runW4A8(x, M, ya);
          d.runW4A8(x, M, yb);
          expect(same(ya, yb), `w4a8 ${tag}`).toBe(true);
          for (const g of [a, b, c, d]) g.dispose();
        }
    }
  });

  it('3-bit w4abf16 from packed nibbles; bad inputs name the entry, the element and the rule', () => {
    const ctx = ctxs[0]!.ctx;
    const K = 64;
    const N = 16;
    const r = xorshift(5);
    const qp = Uint8Array.from({ length: (N * K) / 2 }, () => Math.floor(r.next() * 8) | (Math.floor(r.next() * 8) << 4));
    const q = new Uint8Array(K * N);
    for (let n = 0; n < N; n++)
      for (let j = 0; j < K / 2; j++) {
        q[2 * j * N + n] = qp[n * (K / 2) + j]! & 15;
        q[(2 * j + 1) * N + n] = qp[n * (K / 2) + j]! >> 4;
      }
    const scales = new Float32Array(N * 2).fill(0.25);
    const x = floats(K, 1);
    const ya = new Float32Array(N);
    const yb = new Float32Array(N);
    const a = ctx.createW4(q, null, scales, null, K, N, 32, 3); // uniform scales: [N, G] and [G, N] hold the same
    const b = ctx.createW4FromNK(NpuVariant.W4ABF16, qp, null, scales, null, K, N, 32, 3);
    a.runW4(x, NpuDType.F32, 1, ya, NpuDType.F32);
    b.runW4(x, NpuDType.F32, 1, yb, NpuDType.F32);
    expect(same(ya, yb)).toBe(true);
    a.dispose();
    b.dispose();
    const bad = qp.slice();
    bad[(2 * K) / 2 + 1] = 0x80; // row n=2, byte 1: k=3 holds 8
    expect(() => ctx.createW4FromNK(NpuVariant.W4ABF16, bad, null, scales, null, K, N, 32, 3)).toThrow(/npu_gemm_create_w4_t: q\[n=2\]\[k=3\] = 8 exceeds 7 for 3-bit/);
    expect(() => ctx.createW4FromNK(NpuVariant.W4A8, qp, null, scales, null, K, N, 32, 3)).toThrow(/npu_gemm_create_w4_t: w_bits 3 is not supported by w4a8/);
    expect(() => ctx.createW4FromNK(NpuVariant.W4ABF16, qp, null, scales, null, K, N, 48)).toThrow(/npu_gemm_create_w4_t: .*group size 48/);
    expect(() => ctx.createFFromNK(NpuVariant.BF16, floats(K * N, 1), K, N)).toThrow(/bf16 gemm takes bf16 weights/);
    const f = lib.optional.npu_gemm_create_f_t!;
    const out: [null] = [null];
    expect(f(ctx.handle('t'), NpuVariant.F32, floats(K * N, 1), NpuDType.F32, 2, K, N, out as never)).toBe(1);
    expect(lib.api.npu_last_error()).toMatch(/npu_gemm_create_f_t: transposed=2 must be 0 \(K x N\) or 1 \(N x K\)/);
  });
});
