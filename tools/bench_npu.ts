/**
 * `opshift bench npu`: the NPU emulation library against ONNX Runtime on the quantized linears, in one run:
 *   w8a8    emulation (npu_gemm_run_w8_f32: dynamic quantization + int8 GEMM + dequantization) vs ORT's
 *           DynamicQuantize/MatMulInteger graph (the ort backend's LinearW8A8 kernel);
 *   w4abf16 emulation (npu_gemm_run_w4 with float32 activations rounded to bf16) vs ORT's MatMulNBits (the ort
 *           backend's LinearW4 kernel, accuracy_level 4 unless --accuracy says otherwise);
 * at 1x2048x2048, 1x2048x8192 and 128x2048x2048, with 1 and 2 library threads (ORT single-threaded), and the
 * FFI overhead of one trivial call (npu_abi_version) through koffi.
 *
 * The library is timed through its koffi bindings with the prepared weight cached (its own context per thread
 * count). ORT is timed on a session of ORT's own dynamic-quantization graph (DynamicQuantizeLinear + MatMulInteger)
 * or MatMulNBits with the weights as initializers (prepacked by MLAS), through the same synchronous native run the
 * ort backend uses; the ort backend's own LinearW8A8/LinearW4 graphs are timed too. Medians with tinybench over
 * `--time` ms per task, after a warm-up.
 */
import { Bench } from 'tinybench';
import { backendStatus, linearW4, linearW8A8, manualSeed, quantizeWeightInt8, quantizeWeightUint4, randn, withBackend, type Tensor } from '../core/index.js';
import { fitTable, wrapParagraph } from './table.js';
import { loadOrt, type NativeSession, type OrtRuntime } from '../backends/ort/binding.js';
import { configureOrt, ortConfig, sessionOptions } from '../backends/ort/config.js';
import { buildModel, type GraphSpec } from '../backends/ort/onnx_model.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { NpuContext, NpuDType, NpuFlags, w4KNLayout, type NpuGemm } from '../backends/npu/ffi.js';
import { transpose2d } from '../core/transpose.js';

export interface BenchNpuOptions {
  readonly timeMs?: number;
  /** Library thread counts to run (default 1 and 2). */
  readonly threads?: readonly number[];
  /** ORT MatMulNBits accuracy_level (default 4: int8 activations, ORT's fastest). */
  readonly accuracy?: number;
  /** Emulation kernels: the best this CPU has (default), or capped at AVX2 + AVX-VNNI, plain AVX2, portable C. */
  readonly isa?: 'auto' | 'avx2-vnni' | 'avx2' | 'portable';
  /** Shapes as [M, K, N] (default the three of the issue). */
  readonly shapes?: readonly (readonly [number, number, number])[];
}

export interface BenchNpuRow {
  readonly variant: 'w8a8' | 'w4abf16';
  readonly shape: readonly [number, number, number];
  /** ORT session.run (sync binding) on a graph with the weight as a prepacked initializer: the reference. */
  readonly ortMs: number;
  /** The same op through opshift's ort backend (its LinearW8A8 / LinearW4 kernel graphs). */
  readonly ortBackendMs: number;
  /** threads -> median ms */
  readonly npuMs: Readonly<Record<number, number>>;
}

export interface BenchNpuResult {
  readonly rows: BenchNpuRow[];
  readonly ffiNs: number;
  readonly isa: string;
  readonly library: string;
  readonly ortAccuracy: number;
}

export const NPU_BENCH_SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 2048, 2048],
  [1, 2048, 8192],
  [128, 2048, 2048],
];

function median(b: Bench, name: string): number {
  const r = b.getTask(name)?.result;
  if (!r || r.state !== 'completed') throw new Error(`bench npu: ${name} did not complete`);
  return r.latency.p50;
}

/** The ABI's w4 inputs (q K x N one a byte, zeros and scales (K/G) x N) from ops/quant.ts' MatMulNBits layout. */
export function w4Abi(q: ReturnType<typeof quantizeWeightUint4>, K: number, N: number): ReturnType<typeof w4KNLayout> {
  const zeros = q.zeros ? (q.zeros.toTypedArray() as Uint8Array) : null;
  return w4KNLayout(q.qweight.toTypedArray() as Uint8Array, zeros, q.scales.toArray() as Float32Array, K, N, q.blockSize);
}

/** A compiled single-purpose ORT session fed and fetched like the ort backend does it (sync native run). */
function directSession(rt: OrtRuntime, spec: GraphSpec, accuracy: number): NativeSession {
  return rt.createSession(buildModel(spec), sessionOptions({ ...ortConfig(), threads: 1, accuracyLevel: accuracy }));
}

/** ORT's dynamic quantization graph (what onnxruntime.quantization.quantize_dynamic emits for a MatMul). */
function matMulIntegerGraph(w8T: Int8Array, wScale: number, K: number, N: number): GraphSpec {
  return {
    nodes: [
      { op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
      { op: 'MatMulInteger', inputs: ['xq', 'w', 'xz'], outputs: ['acc'] },
      { op: 'Cast', inputs: ['acc'], outputs: ['accf'], attrs: { to: { i: 1 } } },
      { op: 'Mul', inputs: ['xs', 'ws'], outputs: ['s'] },
      { op: 'Mul', inputs: ['accf', 's'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', rank: 2 }],
    initializers: [
      { name: 'w', dtype: 'int8', shape: [K, N], data: w8T },
      { name: 'ws', dtype: 'float32', shape: [], data: Float32Array.of(wScale) },
    ],
    outputs: [{ name: 'y', dtype: 'float32', rank: 2 }],
  };
}

/** com.microsoft MatMulNBits with B, scales and packed uint8 zero points as initializers. */
export function matMulNBitsGraph(q: ReturnType<typeof quantizeWeightUint4>, K: number, N: number, accuracy: number): GraphSpec {
  const G = q.blockSize;
  const blocks = K / G;
  const zs = q.zeros!.toTypedArray() as Uint8Array;
  const zBytes = Math.ceil(blocks / 2);
  const zp = new Uint8Array(N * zBytes);
  for (let n = 0; n < N; n++) for (let b = 0; b < blocks; b++) zp[n * zBytes + (b >> 1)]! |= zs[n * blocks + b]! << ((b & 1) * 4);
  return {
    nodes: [
      {
        op: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs: ['x', 'b', 's', 'z'],
        outputs: ['y'],
        attrs: { K: { i: K }, N: { i: N }, bits: { i: 4 }, block_size: { i: G }, accuracy_level: { i: accuracy } },
      },
    ],
    inputs: [{ name: 'x', dtype: 'float32', rank: 2 }],
    initializers: [
      { name: 'b', dtype: 'uint8', shape: [N, blocks, G / 2], data: q.qweight.toTypedArray() as Uint8Array },
      { name: 's', dtype: 'float32', shape: [N * blocks], data: q.scales.toArray() as Float32Array },
      { name: 'z', dtype: 'uint8', shape: [N * zBytes], data: zp },
    ],
    outputs: [{ name: 'y', dtype: 'float32', rank: 2 }],
  };
}

/** ns per call of a trivial ABI function through koffi. */
function ffiOverheadNs(): number {
  const f = npuRuntime().lib.api.npu_abi_version;
  for (let i = 0; i < 100_000; i++) f();
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const n = 1_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}

function ortRuntime(): OrtRuntime {
  const r = loadOrt();
  if (!r.ok) throw new Error(`bench npu: ${r.reason}`);
  return r.runtime;
}

export function runBenchNpu(options: BenchNpuOptions = {}): BenchNpuResult {
  for (const b of ['npu', 'ort']) {
    const s = backendStatus(b);
    if (!s?.available) throw new Error(`bench npu: the ${b} backend is unavailable (${s && !s.available ? s.reason : 'not registered'})`);
  }
  const timeMs = options.timeMs ?? 1000;
  const threads = options.threads ?? [1, 2];
  const shapes = options.shapes ?? NPU_BENCH_SHAPES;
  const accuracy = options.accuracy ?? 4;
  const { lib } = npuRuntime();
  const prevOrt = ortConfig();
  configureOrt({ threads: 1, accuracyLevel: accuracy });
  const isaFlags = { auto: 0, 'avx2-vnni': NpuFlags.NO_AVX512, avx2: NpuFlags.NO_VNNI, portable: NpuFlags.PORTABLE }[options.isa ?? 'auto'];
  const contexts = new Map(threads.map((t) => [t, new NpuContext(lib, { threads: t, flags: isaFlags })]));
  const rows: BenchNpuRow[] = [];
  try {
    for (const [M, K, N] of shapes) {
      manualSeed(0);
      const w = randn([N, K]);
      const x = randn([M, K]);
      const xs = x.toArray() as Float32Array;
      const y = new Float32Array(M * N);
      const q8 = quantizeWeightInt8(w);
      const q4 = quantizeWeightUint4(w, 128);
      const w8T = transpose2d(q8.weight.toTypedArray() as Int8Array, N, K, new Int8Array(K * N));
      const wScale = q8.scale.toArray() as Float32Array;
      const abi4 = w4Abi(q4, K, N);
      const rt = ortRuntime();
      const cases: { variant: 'w8a8' | 'w4abf16'; ort: () => Tensor; graph: GraphSpec; make: (ctx: NpuContext) => NpuGemm; run: (g: NpuGemm) => void }[] = [
        {
          variant: 'w8a8',
          ort: () => linearW8A8(x, q8.weight, q8.scale),
          graph: matMulIntegerGraph(w8T, wScale[0]!, K, N),
          make: (ctx) => ctx.createW8(w8T, K, N),
          run: (g) => g.runW8F32(xs, M, wScale, null, y),
        },
        {
          variant: 'w4abf16',
          ort: () => linearW4(x, q4),
          graph: matMulNBitsGraph(q4, K, N, accuracy),
          make: (ctx) => ctx.createW4(abi4.q, abi4.zeros, abi4.scales, null, K, N, 128),
          run: (g) => g.runW4(xs, NpuDType.F32, M, y, NpuDType.F32),
        },
      ];
      for (const c of cases) {
        const bench = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(300, timeMs), warmupIterations: 2, iterations: 5 });
        const session = directSession(rt, c.graph, accuracy);
        const feeds = { x: new rt.Tensor('float32', xs, [M, K]) };
        const fetches = { y: new rt.Tensor('float32', y, [M, N]) };
        bench.add('ort', () => {
          session.run(feeds, fetches, {});
        });
        bench.add('ortBackend', () => {
          withBackend('ort', c.ort, { fallback: false });
        });
        const gemms: NpuGemm[] = [];
        for (const [t, ctx] of contexts) {
          const g = c.make(ctx);
          gemms.push(g);
          bench.add(`npu${t}`, () => c.run(g));
        }
        bench.runSync();
        rows.push({
          variant: c.variant,
          shape: [M, K, N],
          ortMs: median(bench, 'ort'),
          ortBackendMs: median(bench, 'ortBackend'),
          npuMs: Object.fromEntries(threads.map((t) => [t, median(bench, `npu${t}`)])),
        });
        for (const g of gemms) g.dispose();
        session.dispose();
      }
    }
    const d = /isa=(\S+)/.exec(contexts.values().next().value!.description);
    return { rows, ffiNs: ffiOverheadNs(), isa: d?.[1] ?? 'unknown', library: lib.path, ortAccuracy: accuracy };
  } finally {
    for (const ctx of contexts.values()) ctx.dispose();
    configureOrt({ threads: prevOrt.threads, accuracyLevel: prevOrt.accuracyLevel });
  }
}

const fmtMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

export function formatBenchNpu(r: BenchNpuResult, width?: number): string {
  const threads = Object.keys(r.rows[0]?.npuMs ?? {}).map(Number);
  const head = ['variant', 'M x K x N', 'ORT (1 thread)', ...threads.flatMap((t) => [`npu ${t}T`, `npu ${t}T / ORT speed`]), 'npu GOP/s (best)', 'ORT via opshift ort backend'];
  const rows = r.rows.map((row) => {
    const [M, K, N] = row.shape;
    const ops = 2 * M * K * N;
    const best = Math.min(...threads.map((t) => row.npuMs[t]!));
    return [
      row.variant,
      `${M}x${K}x${N}`,
      `${fmtMs(row.ortMs)} (${(ops / row.ortMs / 1e6).toFixed(0)} GOP/s)`,
      ...threads.flatMap((t) => [fmtMs(row.npuMs[t]!), `${(row.ortMs / row.npuMs[t]!).toFixed(2)}x`]),
      (ops / best / 1e6).toFixed(0),
      fmtMs(row.ortBackendMs),
    ];
  });
  const notes = [
    `npu: the emulation library (${r.isa} kernels) through koffi, ${r.library}. ORT: onnxruntime-node's synchronous run on ` +
      `DynamicQuantizeLinear + MatMulInteger (int8 weight initializer) and com.microsoft MatMulNBits (accuracy_level ${r.ortAccuracy}), ` +
      `1 intra-op thread; last column: the same op through opshift's ort backend kernels.`,
    `'npu / ORT speed' > 1 means the library is faster. FFI overhead of a trivial call (npu_abi_version) through koffi: ${r.ffiNs.toFixed(0)} ns.`,
  ];
  return `${fitTable(head, rows, { width })}\n\n${notes.map((n) => wrapParagraph(n, width)).join('\n')}`;
}
