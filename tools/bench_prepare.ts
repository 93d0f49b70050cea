/**
 * How fast a weight becomes "prepared", step by step, in MB of float32 weight per second (issue #17, "fast
 * preparation"): reading it back from a checkpoint by offset (the restore path), transposing [N, K] → [K, N]
 * (what the NPU library takes), the NPU library's own packing (npu_gemm_create_f), and the first Linear call on
 * npu and on ort (everything: read, transpose/pack or session build with MLAS prepacking). One weight of
 * TinyLlama's MLP shape by default.
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
import { NpuVariant } from '../backends/npu/ffi.js';
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
    rows.push(row('transpose [N,K] -> [K,N] (core/transpose.ts)', best(reps, () => void transpose2d(data, N, K, out))));
    const ctx = npuRuntime().ctx;
    rows.push(row('npu_gemm_create_f (library packing)', best(reps, () => ctx.createF(NpuVariant.F32, out, K, N).dispose())));
    const x = rand([1, K]);
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
      rows.push(row(`first Linear call on ${backend} (read + prepare + 1 row)`, ms));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [N, K, reps] = process.argv.slice(2).map(Number);
  for (const r of benchPrepare(N || undefined, K || undefined, reps || undefined))
    process.stdout.write(`${r.step.padEnd(56)} ${r.ms.toFixed(1).padStart(8)} ms ${(r.mbPerS / 1000).toFixed(2).padStart(6)} GB/s\n`);
}
