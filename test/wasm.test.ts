/**
 * The `wasm` backend (WebAssembly SIMD GEMM compiled from backends/wasm/native/gemm.c) against the cpu
 * reference: MatMul and Linear over GEMV shapes in both weight layouts, odd sizes around the 4×8 tile, K = 1,
 * transposed / sliced / gathered operands, broadcast batches, 1-D operands, empty dims, bias, the cache of
 * packed constant weights, dtype fallback, the allocator, and the unavailable path.
 *
 * Without a built .wasm (no clang on this machine) the comparisons are skipped; CI sets OPSHIFT_REQUIRE_WASM=1
 * so a broken build fails there instead of skipping.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  linear,
  listBackends,
  manualSeed,
  matmul,
  NoKernelError,
  profile,
  randn,
  registerBackend,
  unregisterBackend,
  withBackend,
  type Tensor,
} from '../core/index.js';
import { wasmBackend, wasmLoadResult } from '../backends/wasm/backend.js';
import { WasmHeap } from '../backends/wasm/heap.js';
import { loadWasmGemm } from '../backends/wasm/loader.js';
import { evictWasmCache, wasmCacheStats } from '../backends/wasm/matmul.js';
import type { WasmMemory } from '../backends/wasm/wasm_api.js';

const status = listBackends().find((b) => b.name === 'wasm')?.status;
const available = status?.available === true;
if (!available && process.env.OPSHIFT_REQUIRE_WASM === '1')
  throw new Error(`OPSHIFT_REQUIRE_WASM=1 but the wasm backend is unavailable: ${status && !status.available ? status.reason : 'not registered'}`);
const describeWasm = available ? describe : describe.skip;

/**
 * Runs `op` on wasm (no fallback: it must really run there) and on cpu, and compares element by element.
 *
 * Tolerance: cpu accumulates in double (its result is the float32 rounding of the exact sum); wasm
 * accumulates in float32, in K blocks of 256. Rounding errors of a float32 sum of K products grow like
 * u·√K·Σ|a·b| (u = 2^-24 ≈ 6e-8) for independent roundings, so the bound is 2e-7·√K·Σ|a·b| (≈ 3.4u·√K of the
 * magnitude, with margin; at K = 4096 that is 1.3e-5 of Σ|a·b|), plus 1e-6 relative to the result. Σ|a·b| is
 * computed on cpu as the same op on |a|, |b|; measuring error against it rather than |result| keeps the test
 * meaningful where the products cancel.
 */
function expectLikeCpu(op: string, run: (...t: Tensor[]) => Tensor, inputs: (Tensor | undefined)[], k: number): Tensor {
  const args = inputs as Tensor[];
  const p = profile(() => withBackend('wasm', () => run(...args), { fallback: false }));
  const rec = p.records.find((r) => r.depth === 0 && r.op === op);
  expect(rec?.backend, `${op} ran on`).toBe('wasm');
  const got = p.result;
  const ref = withBackend('cpu', () => run(...args));
  expect(got.shape).toEqual(ref.shape);
  expect(got.dtype).toBe('float32');
  const abs = inputs.map((t) => (t === undefined ? undefined : withBackend('cpu', () => t.abs())));
  const mag = withBackend('cpu', () => run(...(abs as Tensor[]))).toArray() as Float32Array;
  const g = got.toArray() as Float32Array;
  const r = ref.toArray() as Float32Array;
  const tol = 2e-7 * Math.sqrt(Math.max(1, k));
  const bad: string[] = [];
  for (let i = 0; i < r.length; i++) {
    if (!(Math.abs(g[i]! - r[i]!) <= tol * mag[i]! + 1e-6 * Math.abs(r[i]!))) bad.push(`[${i}] wasm ${g[i]} cpu ${r[i]} (Σ|ab| ${mag[i]})`);
  }
  expect(bad.slice(0, 5), `${op} ${inputs.map((t) => (t ? JSON.stringify(t.shape) : '-')).join(' ')}: ${bad.length} of ${r.length} differ`).toEqual([]);
  return got;
}

const mm = (a: Tensor, b: Tensor) => expectLikeCpu('MatMul', matmul, [a, b], a.shape[a.ndim - 1]!);
const lin = (x: Tensor, w: Tensor, b?: Tensor) =>
  expectLikeCpu('Linear', (xx, ww, bb) => linear(xx!, ww!, bb), [x, w, b], x.shape[x.ndim - 1]!);

describeWasm('wasm backend: MatMul against cpu', () => {
  it('is registered above cpu with a version and details', () => {
    const b = listBackends().find((x) => x.name === 'wasm')!;
    expect(b.priority).toBeGreaterThan(listBackends().find((x) => x.name === 'cpu')!.priority);
    expect(b.status.available && b.status.version).toMatch(/^simd128/);
    expect(b.status.available && b.status.details?.wasm).toMatch(/gemm\.wasm$/);
    expect(b.kernels).toBe(2);
    // float32 GEMMs default to it
    manualSeed(1);
    const p = profile(() => matmul(randn([4, 8]), randn([8, 4])));
    expect(p.records[0]).toMatchObject({ op: 'MatMul', backend: 'wasm', cause: 'priority' });
  });

  it('GEMV (M = 1) with B as [K, N] and as Wᵀ of [N, K], many K and N', () => {
    manualSeed(2);
    for (const k of [1, 2, 7, 64, 300, 1031])
      for (const n of [1, 2, 5, 8, 33, 257]) {
        const x = randn([1, k]);
        mm(x, randn([k, n]));
        mm(x, randn([n, k]).t());
      }
  });

  it('odd sizes around the 4×8 tile', () => {
    manualSeed(3);
    const dims = [1, 2, 3, 5, 7, 9, 17, 33];
    for (const m of dims) for (const n of dims) for (const k of [1, 3, 8, 17, 33, 257]) mm(randn([m, k]), randn([k, n]));
  });

  it('larger shapes: several K blocks and row blocks, both B layouts', () => {
    manualSeed(4);
    mm(randn([65, 600]), randn([600, 130]));
    mm(randn([130, 513]), randn([77, 513]).t());
    mm(randn([2, 1000]), randn([1000, 300]));
    mm(randn([3, 1000]), randn([300, 1000]).t());
  });

  it('transposed, sliced and strided operands', () => {
    manualSeed(5);
    const a = randn([9, 13]);
    const b = randn([11, 9]);
    mm(a.t(), b.t()); // [13,9] @ [9,11]
    mm(randn([13, 9]), b.t());
    mm(randn([20, 26]).slice(1, 0, 26, 2).narrow(0, 3, 9), randn([13, 7])); // column stride 2
    mm(randn([9, 13]), randn([13, 30]).slice(1, 1, 30, 3)); // B columns strided by 3
    // A column slice of a wide matrix: a sparse view that is gathered rather than copied span and all
    const wide = randn([8, 4000]);
    mm(wide.narrow(1, 100, 5), randn([5, 6]));
    mm(randn([3, 8]), wide.narrow(1, 7, 40));
    mm(randn([1, 8]), wide.narrow(1, 7, 40)); // GEMV on a sparse view
    // broadcast rows (stride 0) on either side
    mm(randn([1, 6]).expand([5, 6]), randn([6, 4]));
    mm(randn([5, 6]), randn([6, 1]).expand([6, 9]));
    // both operands transposed views of the same storage
    const s = randn([12, 12]);
    mm(s.narrow(0, 0, 5), s.t().narrow(1, 2, 7));
  });

  it('batched, with broadcast batch dims', () => {
    manualSeed(6);
    mm(randn([2, 3, 5, 7]), randn([7, 4]));
    mm(randn([5, 7]), randn([2, 3, 7, 4]));
    mm(randn([2, 1, 5, 7]), randn([1, 3, 7, 4]));
    mm(randn([4, 1, 9]), randn([4, 9, 6])); // batched GEMV
    mm(randn([3, 6, 7]), randn([3, 9, 7]).transpose(1, 2));
    mm(randn([3, 7, 6]).transpose(1, 2), randn([7, 4]).expand([3, 7, 4]));
  });

  it('1-D operands', () => {
    manualSeed(7);
    mm(randn([7]), randn([7, 4]));
    mm(randn([5, 7]), randn([7]));
    mm(randn([7]), randn([7]));
    mm(randn([2, 3, 5, 7]), randn([7]));
    mm(randn([7]), randn([2, 7, 4]));
    mm(randn([300]), randn([300]));
  });

  it('empty dims and K = 0', () => {
    manualSeed(8);
    expect(mm(randn([0, 5]), randn([5, 3])).shape).toEqual([0, 3]);
    expect(mm(randn([3, 5]), randn([5, 0])).shape).toEqual([3, 0]);
    expect(mm(randn([0, 3, 4]), randn([4, 2])).shape).toEqual([0, 3, 2]);
    const z = mm(randn([3, 0]), randn([0, 4]));
    expect(Array.from(z.toArray() as Float32Array)).toEqual(new Array(12).fill(0));
    expect(mm(randn([0]), randn([0])).item()).toBe(0);
  });

  it('constant B: repeated calls hit the packed cache and give the same result', () => {
    manualSeed(9);
    const b = randn([40, 24]).markConstant();
    const x = randn([6, 40]);
    const before = wasmCacheStats();
    const first = mm(x, b).toArray() as Float32Array;
    const afterFirst = wasmCacheStats();
    expect(afterFirst.misses).toBe(before.misses + 1);
    for (let i = 0; i < 3; i++) expect(Array.from(mm(x, b).toArray() as Float32Array)).toEqual(Array.from(first));
    const after = wasmCacheStats();
    expect(after.hits).toBe(afterFirst.hits + 3);
    expect(after.entries).toBe(afterFirst.entries);
    // M = 1 uses the same packed weight (GEMV over the panels).
    mm(x.narrow(0, 0, 1), b);
    expect(wasmCacheStats().hits).toBe(after.hits + 1);
    // Other views of the same storage are other matrices: other cache entries, each correct.
    mm(x, b.narrow(1, 1, 23)); // offset 1
    mm(x, b.narrow(1, 0, 23)); // offset 0 again, other N
    mm(x.narrow(1, 0, 20), b.narrow(0, 0, 20)); // offset 0, other K
    mm(x.narrow(1, 0, 20), b.slice(0, 0, 40, 2)); // offset 0, row stride 48
    mm(randn([6, 24]), b.t()); // the transpose
    expect(wasmCacheStats().entries).toBe(after.entries + 5);
    evictWasmCache(b.storage);
    expect(wasmCacheStats().entries).toBe(after.entries - 1);
  });

  it('batched constant B with broadcast batch dims', () => {
    manualSeed(10);
    const b = randn([3, 9, 5]).markConstant();
    mm(randn([2, 3, 4, 9]), b);
    mm(randn([2, 3, 4, 9]), b);
    mm(randn([3, 1, 9]), b);
    evictWasmCache(b.storage);
  });
});

describeWasm('wasm backend: Linear against cpu', () => {
  it('M = 1 and small M, with and without bias', () => {
    manualSeed(11);
    for (const k of [1, 3, 16, 65, 300])
      for (const n of [1, 3, 8, 17, 100])
        for (const m of [1, 2, 3, 5, 8, 33]) {
          const x = randn([m, k]);
          const w = randn([n, k]);
          lin(x, w);
          lin(x, w, randn([n]));
        }
  });

  it('N-d and 1-D input, transposed weight, non-contiguous input and bias', () => {
    manualSeed(12);
    lin(randn([2, 3, 24]), randn([10, 24]), randn([10]));
    lin(randn([24]), randn([10, 24]), randn([10]));
    lin(randn([5, 24]), randn([24, 10]).t(), randn([10]));
    lin(randn([24, 5]).t(), randn([10, 24]));
    lin(randn([4, 6, 24]).transpose(0, 1), randn([10, 24]), randn([20]).slice(0, 0, 20, 2));
    lin(randn([1, 24]), randn([48, 24]).slice(0, 0, 48, 2));
  });

  it('empty batch, K = 0 (bias only)', () => {
    manualSeed(13);
    expect(lin(randn([0, 8]), randn([4, 8]), randn([4])).shape).toEqual([0, 4]);
    const bias = randn([4]);
    const y = lin(randn([3, 0]), randn([4, 0]), bias);
    expect(Array.from(y.toArray() as Float32Array)).toEqual([...Array.from(bias.toArray() as Float32Array), ...Array.from(bias.toArray() as Float32Array), ...Array.from(bias.toArray() as Float32Array)]);
  });

  it('constant weights: decode (M = 1) and prefill reuse one packed copy; other views miss', () => {
    manualSeed(14);
    const w = randn([64, 48]).markConstant();
    const bias = randn([32]);
    const x1 = randn([1, 48]);
    const s0 = wasmCacheStats();
    const top = w.narrow(0, 0, 32);
    const bottom = w.narrow(0, 32, 32);
    const y1 = lin(x1, top, bias).toArray() as Float32Array;
    for (let i = 0; i < 4; i++) expect(Array.from(lin(x1, top, bias).toArray() as Float32Array)).toEqual(Array.from(y1));
    lin(randn([7, 48]), top, bias); // prefill: same packed weight
    const s1 = wasmCacheStats();
    expect(s1.misses).toBe(s0.misses + 1);
    expect(s1.hits).toBe(s0.hits + 5);
    // The other half of the same storage must not reuse the first half's packing.
    const y2 = lin(x1, bottom, bias).toArray() as Float32Array;
    expect(Array.from(y2)).not.toEqual(Array.from(y1));
    lin(x1, w.slice(0, 0, 64, 2), bias); // offset 0 like `top`, other strides
    expect(wasmCacheStats().misses).toBe(s1.misses + 2);
    evictWasmCache(w.storage);
    expect(wasmCacheStats().entries).toBe(s0.entries);
  });

  it('float16 falls back to cpu with the cause recorded; no fallback means NoKernelError', () => {
    manualSeed(15);
    const x = randn([3, 8]).to('float16');
    const w = randn([4, 8]).to('float16');
    const p = profile(() => linear(x, w));
    expect(p.records[0]).toMatchObject({ op: 'Linear', backend: 'cpu', cause: 'fallback: wasm rejects float16 (float32 only) -> cpu' });
    const q = profile(() => matmul(x, w.t()));
    expect(q.records[0]!.cause).toBe('fallback: wasm rejects float16 (float32 only) -> cpu');
    expect(() => withBackend('wasm', () => matmul(x, w.t()), { fallback: false })).toThrow(NoKernelError);
    expect(() => withBackend('wasm', () => matmul(x, w.t()), { fallback: false })).toThrow(/wasm: rejects float16 \(float32 only\)/);
    // int32 too (PyTorch semantics are kept by the cpu kernel)
    const ia = randn([2, 2]).to('int32');
    const i = profile(() => matmul(ia, ia));
    expect(i.records[0]).toMatchObject({ op: 'MatMul', backend: 'cpu', cause: 'fallback: wasm rejects int32 (float32 only) -> cpu' });
  });

  it('returns every wasm block after calls (no leak in the per-call scratch)', () => {
    const rt = wasmLoadResult();
    if (!rt.ok) throw new Error(rt.reason);
    manualSeed(16);
    const a = randn([33, 70]);
    const b = randn([70, 45]);
    withBackend('wasm', () => matmul(a, b));
    const live = rt.gemm.heap.stats().live;
    for (let i = 0; i < 5; i++) withBackend('wasm', () => linear(a, b.t(), randn([45])));
    expect(rt.gemm.heap.stats().live).toBe(live);
  });
});

describe('wasm backend: loading and memory', () => {
  it('reports unavailable with a reason when the .wasm file is missing or invalid', () => {
    const missing = loadWasmGemm('/nonexistent/dir/gemm.wasm');
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.reason).toMatch(/^wasm kernels not built: \/nonexistent\/dir\/gemm\.wasm not found .*apt-get install clang lld/);
    const dir = mkdtempSync(join(tmpdir(), 'opshift-wasm-'));
    const junk = join(dir, 'gemm.wasm');
    writeFileSync(junk, 'not wasm');
    const bad = loadWasmGemm(junk);
    expect(!bad.ok && bad.reason).toMatch(/^wasm kernels failed to load from .*gemm\.wasm: /);
    // The reason the build recorded wins (e.g. no clang on this machine).
    const dir2 = mkdtempSync(join(tmpdir(), 'opshift-wasm-'));
    writeFileSync(join(dir2, 'build-status.json'), JSON.stringify({ ok: false, reason: 'clang with a wasm32 target not found; apt-get install clang lld' }));
    const noClang = loadWasmGemm(join(dir2, 'gemm.wasm'));
    expect(!noClang.ok && noClang.reason).toBe('wasm kernels not built: clang with a wasm32 target not found; apt-get install clang lld');
    // Registered from such a path, the backend is listed unavailable and never breaks dispatch.
    registerBackend({
      ...wasmBackend,
      name: 'wasm_missing',
      probe: () => {
        const r = loadWasmGemm('/nonexistent/dir/gemm.wasm');
        return r.ok ? { available: true } : { available: false, reason: r.reason };
      },
    });
    try {
      const s = listBackends().find((b) => b.name === 'wasm_missing')!.status;
      expect(s.available).toBe(false);
      expect(!s.available && s.reason).toMatch(/wasm kernels not built/);
      manualSeed(17);
      const p = profile(() => withBackend('wasm_missing', () => matmul(randn([2, 3]), randn([3, 2]))));
      expect(p.records[0]!.cause).toMatch(/^fallback: wasm_missing is unavailable \(wasm kernels not built: .*\) -> /);
    } finally {
      unregisterBackend('wasm_missing');
    }
  });

  it('the allocator coalesces freed neighbours and grows memory on demand', () => {
    const WA = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => WasmMemory } }).WebAssembly;
    const mem = new WA.Memory({ initial: 1 });
    const heap = new WasmHeap(mem, 1000);
    expect(heap.freeList()).toEqual([{ ptr: 1024, size: 65536 - 1024 }]);
    const a = heap.alloc(100);
    const b = heap.alloc(64);
    const c = heap.alloc(1);
    expect([a, b, c]).toEqual([1024, 1152, 1216]);
    expect(a % 64 + b % 64 + c % 64).toBe(0);
    heap.release(b);
    expect(heap.freeList()).toEqual([
      { ptr: 1152, size: 64 },
      { ptr: 1280, size: 65536 - 1280 },
    ]);
    heap.release(a); // merges with b's block
    expect(heap.freeList()[0]).toEqual({ ptr: 1024, size: 192 });
    heap.release(c); // merges both sides: one block again
    expect(heap.freeList()).toEqual([{ ptr: 1024, size: 65536 - 1024 }]);
    // Bigger than the memory: grows it, and the view must be re-created (old ArrayBuffers detach).
    const old = mem.buffer;
    const big = heap.alloc(200_000);
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(big + 200_000);
    expect(old.byteLength).toBe(0);
    new Float32Array(mem.buffer, big, 50_000).fill(1);
    heap.release(big);
    expect(heap.freeList()).toEqual([{ ptr: 1024, size: mem.buffer.byteLength - 1024 }]);
    expect(heap.stats().live).toBe(0);
    expect(() => heap.release(1024)).toThrow(/not an allocated block/);
  });
});

describe('wasm backend: packed-weight cache budget', () => {
  it('refuses constant weights beyond OPSHIFT_WASM_CACHE_MB, so dispatch falls back with the reason', async () => {
    const { profile, randn, linear } = await import('../core/index.js');
    const before = process.env.OPSHIFT_WASM_CACHE_MB;
    process.env.OPSHIFT_WASM_CACHE_MB = '1';
    try {
      const w = randn([1024, 512]).markConstant(); // 2 MiB packed: over a 1 MiB budget
      const x = randn([4, 512]);
      const p = profile(() => linear(x, w));
      const rec = p.records.find((r) => r.op === 'Linear')!;
      if (listBackends().find((b) => b.name === 'wasm')?.status.available) {
        expect(rec.backend).toBe('cpu');
        expect(rec.cause).toMatch(/wasm rejects a 512x1024 constant weight: its packed-weight cache is full/);
      }
    } finally {
      if (before === undefined) delete process.env.OPSHIFT_WASM_CACHE_MB;
      else process.env.OPSHIFT_WASM_CACHE_MB = before;
    }
  });
});
