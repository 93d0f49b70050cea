/**
 * How fast a weight becomes "prepared", step by step, in MB of float32 weight per second (issue #17, "fast
 * preparation"), old path and new path in the same run: reading it back from a checkpoint by offset (the restore
 * path); the old NPU path (JS transpose [N, K] → [K, N], then npu_gemm_create_f packs K x N); the new one
 * (npu_gemm_create_f_t packs [N, K] straight into panels, on the context's threads and on one; from bf16 bits too,
 * still counted in float32-weight bytes); and the first Linear call (read + prepare + 1 row) on npu with the old
 * and the new prepare, and on ort. One weight of TinyLlama's MLP shape by default.
 *
 *   node dist/tools/bench_prepare.js [N] [K] [reps]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromTypedArray, linear, rand, withBackend } from '../core/index.js';
import { transpose2d } from '../core/transpose.js';
import { attachHostSource } from '../core/weight.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { NpuContext, NpuDType, NpuVariant } from '../backends/npu/ffi.js';
import { openSafetensors, writeSafetensors } from '../models/io/safetensors.js';

export interface PrepareRow {
  readonly step: string;
  readonly ms: number;
  readonly mbPerS: number;
}

function best(reps: number, fn: () => void): number {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

export function benchPrepare(N = 5632, K = 2048, reps = 3): PrepareRow[] {
  const bytes = N * K * 4;
  const row = (step: string, ms: number): PrepareRow => ({ step, ms, mbPerS: bytes / 1e6 / (ms / 1e3) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-bench-prepare-'));
  const rows: PrepareRow[] = [];
  try {
    const w = rand([N, K]);
    const file = path.join(dir, 'w.safetensors');
    writeSafetensors(file, { w });
    const st = openSafetensors(file);
    const source = st.hostSource('w', 'float32');
    st.close();
    source.load(); // page cache warm, as after a first load
    rows.push(row('read from checkpoint (page cache warm)', best(reps, () => void source.load())));
    const data = w.storage.data as Float32Array;
    const out = new Float32Array(N * K);
    rows.push(row('old: transpose [N,K] -> [K,N] (core/transpose.ts)', best(reps, () => void transpose2d(data, N, K, out))));
    const ctx = npuRuntime().ctx;
    const threads = /threads=(\d+)/.exec(ctx.description)?.[1] ?? '?';
    rows.push(row(`old: npu_gemm_create_f (K x N packing, ${threads} threads)`, best(reps, () => ctx.createF(NpuVariant.F32, out, K, N).dispose())));
    rows.push(
      row('old: transpose + npu_gemm_create_f', best(reps, () => ctx.createF(NpuVariant.F32, transpose2d(data, N, K, new Float32Array(N * K)), K, N).dispose())),
    );
    rows.push(row(`new: npu_gemm_create_f_t from [N,K] (${threads} threads)`, best(reps, () => ctx.createFFromNK(NpuVariant.F32, data, K, N).dispose())));
    const one = new NpuContext(ctx.lib, { threads: 1 });
    try {
      rows.push(row('new: npu_gemm_create_f_t from [N,K] (1 thread)', best(reps, () => one.createFFromNK(NpuVariant.F32, data, K, N).dispose())));
      const bits = new Uint16Array(data.buffer, data.byteOffset, N * K * 2).filter((_, i) => i % 2 === 1); // high halves (little-endian): bf16 truncation
      rows.push(row('new: f32 gemm from bf16 [N,K] bits (1 thread)', best(reps, () => one.createFFromNK(NpuVariant.F32, bits, K, N).dispose())));
      rows.push(row('new: bf16 gemm from bf16 [N,K] bits (1 thread)', best(reps, () => one.createFFromNK(NpuVariant.BF16, bits, K, N).dispose())));
    } finally {
      one.dispose();
    }
    const x = rand([1, K]);
    {
      // The old first npu call, by hand: restore from the checkpoint, JS transpose, K x N packing, one row.
      let ms = Infinity;
      const y = new Float32Array(N);
      for (let i = 0; i < reps; i++) {
        const start = performance.now();
        const g = ctx.createF(NpuVariant.F32, transpose2d(source.load() as Float32Array, N, K, new Float32Array(N * K)), K, N);
        g.runF(x.storage.data as Float32Array, NpuDType.F32, 1, null, y, NpuDType.F32);
        ms = Math.min(ms, performance.now() - start);
        g.dispose();
      }
      rows.push(row('old: first Linear call on npu (read + transpose + pack + 1 row)', ms));
    }
    for (const backend of ['npu', 'ort'] as const) {
      let ms = Infinity;
      for (let i = 0; i < reps; i++) {
        // A fresh constant weight each time (a cache miss), released and restored from the checkpoint like a
        // loaded model's.
        const t = fromTypedArray(Float32Array.from(data), [N, K]).markConstant();
        attachHostSource(t.storage, source);
        t.storage.releaseData();
        const start = performance.now();
        withBackend(backend, () => linear(x, t));
        ms = Math.min(ms, performance.now() - start);
      }
      rows.push(row(`${backend === 'npu' ? 'new' : 'peer'}: first Linear call on ${backend} (read + prepare + 1 row)`, ms));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [N, K, reps] = process.argv.slice(2).map(Number);
  for (const r of benchPrepare(N || undefined, K || undefined, reps || undefined))
    process.stdout.write(`${r.step.padEnd(66)} ${r.ms.toFixed(1).padStart(8)} ms ${(r.mbPerS / 1000).toFixed(2).padStart(6)} GB/s\n`);
}
