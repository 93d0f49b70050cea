/**
 * `opshift bench npu --prefill`: the NPU emulation library's prefill GEMMs (M = 128 rows by default) against ONNX
 * Runtime in one process, interleaved: every round times one call of each task in turn, so a neighbour's load
 * lands on all of them alike, and each task's figure is the median over the rounds.
 *
 *   f32      npu_gemm_run_f (the f32 contract: unfused products, k-ordered sums) vs ORT MatMul with the weight as a
 *            constant K x N initializer (MLAS sgemm on prepacked B);
 *   w4abf16  npu_gemm_run_w4 (g128 with zero points, float32 activations rounded to bf16 by the library) vs the same
 *            ORT f32 MatMul and vs com.microsoft MatMulNBits at accuracy_level 0 (float math) and 4 (int8 activations).
 *
 * ORT sessions get the same intra-op thread count as the library context they are compared with.
 */
import { manualSeed, quantizeWeightUint4, randn } from '../core/index.js';
import { fitTable, wrapParagraph } from './table.js';
import { matMulNBitsGraph, w4Abi } from './bench_npu.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { NpuContext, NpuDType, NpuFlags, NpuVariant, type NpuGemm } from '../backends/npu/ffi.js';
import { loadOrt, type NativeSession, type OrtRuntime } from '../backends/ort/binding.js';
import { ortConfig, sessionOptions } from '../backends/ort/config.js';
import { buildModel, type GraphSpec } from '../backends/ort/onnx_model.js';

export interface BenchPrefillOptions {
  /** Wall time per shape and thread count, spread over the rounds. */
  readonly timeMs?: number;
  readonly threads?: readonly number[];
  readonly isa?: 'auto' | 'avx2-vnni' | 'avx2' | 'portable';
  /** [K, N] shapes (default: OPT-125m's and TinyLlama's linears). */
  readonly shapes?: readonly (readonly [number, number])[];
  readonly m?: number;
  /** 'wall' (default) or 'cpu': the process's CPU time per call, which a loaded machine's time slicing does not
   * inflate; meaningful at 1 thread only (at 2 it sums both threads). */
  readonly clock?: 'wall' | 'cpu';
}

export type PrefillTask = 'npuF32' | 'ortF32' | 'npuW4' | 'ortNBits0' | 'ortNBits4';

export interface BenchPrefillRow {
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly threads: number;
  /** task -> median ms */
  readonly ms: Readonly<Record<PrefillTask, number>>;
  readonly rounds: number;
}

export interface BenchPrefillResult {
  readonly rows: BenchPrefillRow[];
  readonly isa: string;
  readonly clock: 'wall' | 'cpu';
}

export const PREFILL_SHAPES: readonly (readonly [number, number])[] = [
  [768, 768],
  [768, 3072],
  [3072, 768],
  [2048, 2048],
  [2048, 5632],
  [5632, 2048],
];

const TASKS: readonly PrefillTask[] = ['npuF32', 'ortF32', 'npuW4', 'ortNBits0', 'ortNBits4'];

function matMulGraph(w: Float32Array, K: number, N: number): GraphSpec {
  return {
    nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', dtype: 'float32', rank: 2 }],
    initializers: [{ name: 'w', dtype: 'float32', shape: [K, N], data: w }],
    outputs: [{ name: 'y', dtype: 'float32', rank: 2 }],
  };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function ortRuntime(): OrtRuntime {
  const r = loadOrt();
  if (!r.ok) throw new Error(`bench npu --prefill: ${r.reason}`);
  return r.runtime;
}

export function runBenchNpuPrefill(options: BenchPrefillOptions = {}): BenchPrefillResult {
  const timeMs = options.timeMs ?? 2000;
  const threads = options.threads ?? [1];
  const shapes = options.shapes ?? PREFILL_SHAPES;
  const M = options.m ?? 128;
  const clock = options.clock ?? 'wall';
  const now = clock === 'cpu' ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; } : () => performance.now();
  const rt = ortRuntime();
  const { lib } = npuRuntime();
  const flags = { auto: 0, 'avx2-vnni': NpuFlags.NO_AVX512, avx2: NpuFlags.NO_VNNI, portable: NpuFlags.PORTABLE }[options.isa ?? 'auto'];
  const rows: BenchPrefillRow[] = [];
  let isa = 'unknown';
  for (const t of threads) {
    const ctx = new NpuContext(lib, { threads: t, flags });
    isa = /isa=(\S+)/.exec(ctx.description)?.[1] ?? isa;
    const opts = sessionOptions({ ...ortConfig(), threads: t });
    try {
      for (const [K, N] of shapes) {
        manualSeed(1);
        const wNK = randn([N, K]);
        const wNKs = wNK.toArray() as Float32Array;
        const wKN = new Float32Array(K * N);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wKN[k * N + n] = wNKs[n * K + k]!;
        const x = randn([M, K]).toArray() as Float32Array;
        const y = new Float32Array(M * N);
        const q4 = quantizeWeightUint4(wNK, 128);
        const abi4 = w4Abi(q4, K, N);
        const gemms: NpuGemm[] = [ctx.createF(NpuVariant.F32, wKN, K, N), ctx.createW4(abi4.q, abi4.zeros, abi4.scales, null, K, N, 128)];
        const sessions: NativeSession[] = [
          rt.createSession(buildModel(matMulGraph(wKN, K, N)), opts),
          rt.createSession(buildModel(matMulNBitsGraph(q4, K, N, 0)), { ...opts }),
          rt.createSession(buildModel(matMulNBitsGraph(q4, K, N, 4)), { ...opts }),
        ];
        const feeds = { x: new rt.Tensor('float32', x, [M, K]) };
        const fetches = { y: new rt.Tensor('float32', y, [M, N]) };
        const run: Record<PrefillTask, () => void> = {
          npuF32: () => gemms[0]!.runF(x, NpuDType.F32, M, null, y, NpuDType.F32),
          npuW4: () => gemms[1]!.runW4(x, NpuDType.F32, M, y, NpuDType.F32),
          ortF32: () => sessions[0]!.run(feeds, fetches, {}),
          ortNBits0: () => sessions[1]!.run(feeds, fetches, {}),
          ortNBits4: () => sessions[2]!.run(feeds, fetches, {}),
        };
        for (const task of TASKS) for (let i = 0; i < 2; i++) run[task](); // warm-up: first-run allocations, caches
        const samples: Record<PrefillTask, number[]> = { npuF32: [], ortF32: [], npuW4: [], ortNBits0: [], ortNBits4: [] };
        const start = performance.now();
        let rounds = 0;
        while (rounds < 5 || (performance.now() - start < timeMs && rounds < 500)) {
          for (const task of TASKS) {
            const t0 = now();
            run[task]();
            samples[task].push(now() - t0);
          }
          rounds++;
        }
        rows.push({ M, K, N, threads: t, ms: Object.fromEntries(TASKS.map((k) => [k, median(samples[k])])) as Record<PrefillTask, number>, rounds });
        for (const g of gemms) g.dispose();
        for (const s of sessions) s.dispose();
      }
    } finally {
      ctx.dispose();
    }
  }
  return { rows, isa, clock };
}

export function formatBenchNpuPrefill(r: BenchPrefillResult, width?: number): string {
  const gf = (row: BenchPrefillRow, ms: number) => ((2 * row.M * row.K * row.N) / ms / 1e6).toFixed(1);
  const head = ['M x K x N', 'threads', 'npu f32', 'ORT MatMul f32', 'npu f32 / ORT', 'npu w4abf16', 'ORT NBits lvl 0', 'ORT NBits lvl 4', 'w4 / ORT f32', 'w4 / lvl 0', 'w4 / lvl 4'];
  const rows = r.rows.map((row) => {
    const m = row.ms;
    return [
      `${row.M}x${row.K}x${row.N}`,
      String(row.threads),
      gf(row, m.npuF32),
      gf(row, m.ortF32),
      `${(m.ortF32 / m.npuF32).toFixed(2)}x`,
      gf(row, m.npuW4),
      gf(row, m.ortNBits0),
      gf(row, m.ortNBits4),
      `${(m.ortF32 / m.npuW4).toFixed(2)}x`,
      `${(m.ortNBits0 / m.npuW4).toFixed(2)}x`,
      `${(m.ortNBits4 / m.npuW4).toFixed(2)}x`,
    ];
  });
  const note =
    `GFLOP/s (2·M·K·N per call, ${r.clock === 'cpu' ? 'process CPU time' : 'wall time'}), medians of interleaved rounds (one call of each task per round). npu: the emulation library's ` +
    `${r.isa} kernels; ORT: onnxruntime-node MatMul on a constant K x N initializer and MatMulNBits (g128, zero points) at ` +
    `accuracy_level 0 and 4, with as many intra-op threads as the library. Ratios > 1: the library is faster.`;
  return `${fitTable(head, rows, { width })}\n\n${wrapParagraph(note, width)}`;
}
