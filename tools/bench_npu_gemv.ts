/**
 * `opshift bench npu --gemv`: decode-time GEMV bandwidth of the NPU emulation library. For each 1×K×N (or small
 * M) shape of TinyLlama and OPT-125m and each weight format (w4 g128, w8a8, f32) it times the prepared-weight run
 * and reports the weight bytes streamed per call divided by the time, next to `bench machine`'s single-thread
 * READ probe (`probeRead`: a native vector sum over 256 MiB, the rate a read-only kernel can reach) measured in the
 * same process before and after the runs; the lower of the two is the roof. Without the probe (a library that
 * does not export it) the roof is `bench machine`'s fresh copy/triad figure. Weights are
 * random; the arithmetic does not depend on values, only on the layout. As in a real decode step, where a layer's
 * weights were evicted by the 20+ other linears since its last use, each shape runs round-robin over enough copies
 * of its weight to exceed the last-level cache (≥ 64 MB), so every call streams its weight from memory.
 *
 * Weight bytes are what one call must read from memory: the emulation library's packed weight stream (nibbles +
 * per-group scale data for w4, see npu_emu_internal.h; int8 for w8 plus its column sums; floats for f32).
 * Activations and outputs are a few KB and are not counted.
 */
import { machineProfile, probeRead } from './bench_machine.js';
import { fitTable, wrapParagraph } from './table.js';
import { npuRuntime } from '../backends/npu/backend.js';
import { loadNpuLibrary, NpuContext, NpuDType, NpuFlags, NpuVariant, type NpuGemm, type NpuLibrary } from '../backends/npu/ffi.js';
import { loadOrt } from '../backends/ort/binding.js';
import { ortConfig, sessionOptions } from '../backends/ort/config.js';
import { buildModel, type GraphSpec } from '../backends/ort/onnx_model.js';

/** w4: w4abf16 (the NPU's bf16-activation arithmetic); w4a8: the same weights with per-group int8 activations. */
export type GemvFormat = 'w4' | 'w4a8' | 'w8a8' | 'f32';

export interface BenchGemvOptions {
  readonly timeMs?: number;
  readonly threads?: readonly number[];
  readonly isa?: 'auto' | 'avx2-vnni' | 'avx2' | 'portable';
  readonly formats?: readonly GemvFormat[];
  /** [K, N] shapes (default: TinyLlama's and OPT-125m's linears and lm_heads). */
  readonly shapes?: readonly (readonly [number, number])[];
  readonly m?: number;
  /** Path of another build of the library (e.g. the previous commit's): timed round-robin with this one, same run. */
  readonly baseline?: string;
}

export interface BenchGemvRow {
  readonly format: GemvFormat;
  readonly M: number;
  readonly K: number;
  readonly N: number;
  readonly bytes: number;
  /** threads -> median ms */
  readonly ms: Readonly<Record<number, number>>;
  /** threads -> median ms of the baseline library, when one was given (interleaved with `ms`, same copies and inputs) */
  readonly baselineMs?: Readonly<Record<number, number>>;
}

export interface BenchGemvResult {
  readonly rows: BenchGemvRow[];
  /** The single-thread read roof (GB/s), measured in this run (the lower of before/after). */
  readonly machineGBps: number;
  /** The same probe before and after the GEMV runs (a busy machine moves it). */
  readonly machineBeforeAfter: readonly [number, number];
  readonly machineFrom: string;
  readonly isa: string;
}

export const GEMV_SHAPES: readonly (readonly [number, number])[] = [
  [2048, 2048],
  [2048, 5632],
  [5632, 2048],
  [2048, 32000],
  [768, 768],
  [768, 3072],
  [3072, 768],
  [768, 50272],
];

/** Weight bytes cycled through per shape: larger than this machine's 16 MB last-level cache, 4x over. */
const ROTATE_BYTES = 64e6;

/**
 * Median ms of each of fns over about `timeMs` (at least 7 runs each), after a warm-up of two runs each. Several
 * functions run round-robin, one call each per round, so a busy machine slows them alike.
 */
function medianMs(fns: readonly (() => void)[], timeMs: number): number[] {
  for (const fn of fns) {
    fn();
    fn();
  }
  const t: number[][] = fns.map(() => []);
  const t0 = performance.now();
  while (t[0]!.length < 7 || performance.now() - t0 < timeMs) {
    fns.forEach((fn, i) => {
      const s = performance.now();
      fn();
      t[i]!.push(performance.now() - s);
    });
    if (t[0]!.length > 20000) break;
  }
  return t.map((v) => v.sort((a, b) => a - b)[v.length >> 1]!);
}

/** Deterministic pseudo-random bytes (xorshift): fast for the 100+ MB weights of the lm_head shapes. */
function fillRandom(a: Uint8Array, mask: number, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = s & mask;
  }
}

/** Bytes per (group, column) of w4 scale data in the emulation library's packed layout (npu_emu_internal.h). */
export const W4_META_BYTES = 8;
/** w4a8: a float scale and a zero-point byte per (group, column). */
export const W4A8_META_BYTES = 5;

function streamBytes(format: GemvFormat, K: number, N: number): number {
  const Np = Math.ceil(N / 16) * 16;
  if (format === 'w4') return (K * Np) / 2 + (K / 128) * Np * W4_META_BYTES;
  if (format === 'w4a8') return (K * Np) / 2 + (K / 128) * Np * W4A8_META_BYTES;
  if (format === 'w8a8') return Math.ceil(K / 4) * 4 * Np;
  return 4 * K * Np;
}

function make(ctx: NpuContext, format: GemvFormat, K: number, N: number): NpuGemm {
  if (format === 'w8a8') {
    const w = new Int8Array(K * N);
    fillRandom(new Uint8Array(w.buffer), 255, 1);
    return ctx.createW8(w, K, N);
  }
  if (format === 'w4' || format === 'w4a8') {
    const q = new Uint8Array(K * N);
    fillRandom(q, 15, 2);
    const G = K / 128;
    const z = new Uint8Array(G * N);
    fillRandom(z, 15, 3);
    const s = new Float32Array(G * N).map((_, i) => 0.01 + (i % 7) * 1e-3);
    return format === 'w4' ? ctx.createW4(q, z, s, null, K, N, 128) : ctx.createW4A8(q, z, s, null, K, N, 128);
  }
  const w = new Float32Array(K * N);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return ctx.createF(NpuVariant.F32, w, K, N);
}

export function runBenchNpuGemv(o: BenchGemvOptions = {}): BenchGemvResult {
  const timeMs = o.timeMs ?? 300;
  const threads = o.threads ?? [1, 2];
  const formats = o.formats ?? ['w4', 'w4a8', 'w8a8', 'f32'];
  const shapes = o.shapes ?? GEMV_SHAPES;
  const M = o.m ?? 1;
  const { lib } = npuRuntime();
  const flags = { auto: 0, 'avx2-vnni': NpuFlags.NO_AVX512, avx2: NpuFlags.NO_VNNI, portable: NpuFlags.PORTABLE }[o.isa ?? 'auto'];
  // The read probe is the roof; copy/triad (bench machine's other probes) only when the library lacks it.
  const roof = () => {
    const r = probeRead();
    if (typeof r !== 'string') return { gbps: r.gbps, from: `${r.kind}: ${r.how}, ${r.mib} MiB` };
    const m = machineProfile({ fresh: true });
    return { gbps: m.bandwidthGBps, from: `${m.bandwidthFrom}; no read probe: ${r}` };
  };
  const before = roof();
  let base: NpuLibrary | undefined;
  if (o.baseline !== undefined) {
    const r = loadNpuLibrary(o.baseline);
    if (!r.ok) throw new Error(`bench npu --gemv: baseline library: ${r.reason}`);
    base = r.lib;
  }
  const contexts = new Map(threads.map((t) => [t, new NpuContext(lib, { threads: t, flags })]));
  const baseContexts = new Map(base ? threads.map((t) => [t, new NpuContext(base, { threads: t, flags })]) : []);
  const rows: BenchGemvRow[] = [];
  try {
    for (const format of formats)
      for (const [K, N] of shapes) {
        const x = new Float32Array(M * K).map((_, i) => Math.sin(i));
        const y = new Float32Array(M * N);
        const wScale = Float32Array.of(0.01);
        const ms: Record<number, number> = {};
        const baselineMs: Record<number, number> = {};
        let bytes = 0;
        bytes = streamBytes(format, K, N);
        const copies = Math.min(32, Math.ceil(ROTATE_BYTES / bytes));
        for (const [t, ctx] of contexts) {
          const gs = Array.from({ length: copies }, () => make(ctx, format, K, N));
          const bctx = baseContexts.get(t);
          const bgs = bctx ? Array.from({ length: copies }, () => make(bctx, format, K, N)) : [];
          const runOne = (g: NpuGemm) =>
            format === 'w8a8'
              ? g.runW8F32(x, M, wScale, null, y)
              : format === 'w4'
                ? g.runW4(x, NpuDType.F32, M, y, NpuDType.F32)
                : format === 'w4a8'
                  ? g.runW4A8(x, M, y)
                  : g.runF(x, NpuDType.F32, M, null, y, NpuDType.F32);
          const [a, b] = medianMs(bctx ? [() => gs.forEach(runOne), () => bgs.forEach(runOne)] : [() => gs.forEach(runOne)], timeMs);
          ms[t] = a! / copies;
          if (b !== undefined) baselineMs[t] = b / copies;
          gs.forEach((g) => g.dispose());
          bgs.forEach((g) => g.dispose());
        }
        rows.push({ format, M, K, N, bytes, ms, ...(base ? { baselineMs } : {}) });
      }
    const d = /isa=(\S+)/.exec(contexts.values().next().value!.description);
    const after = roof();
    return {
      rows,
      machineGBps: Math.min(before.gbps, after.gbps),
      machineBeforeAfter: [before.gbps, after.gbps],
      machineFrom: before.from,
      isa: d?.[1] ?? 'unknown',
    };
  } finally {
    for (const ctx of contexts.values()) ctx.dispose();
    for (const ctx of baseContexts.values()) ctx.dispose();
  }
}

export function formatBenchNpuGemv(r: BenchGemvResult, width?: number): string {
  const threads = Object.keys(r.rows[0]?.ms ?? {}).map(Number);
  const hasBase = r.rows.some((row) => row.baselineMs);
  const head = ['format', 'M x K x N', 'weight MB', ...threads.flatMap((t) => [`${t}T ms`, `${t}T GB/s`, `${t}T % of roof`, ...(hasBase ? [`${t}T baseline GB/s`] : [])])];
  const rows = r.rows.map((row) => [
    row.format,
    `${row.M}x${row.K}x${row.N}`,
    (row.bytes / 1e6).toFixed(1),
    ...threads.flatMap((t) => {
      const gbps = row.bytes / (row.ms[t]! * 1e6);
      const cells = [row.ms[t]!.toFixed(3), gbps.toFixed(1), `${((100 * gbps) / r.machineGBps).toFixed(0)}%`];
      const b = row.baselineMs?.[t];
      return b === undefined ? cells : [...cells, `${(row.bytes / (b * 1e6)).toFixed(1)}`];
    }),
  ]);
  const note =
    `npu emulation library (${r.isa} kernels). GB/s = the packed weight bytes one call streams / median time. Roof: ` +
    `bench machine's single-thread read rate measured in this run, ${r.machineGBps.toFixed(1)} GB/s (${r.machineFrom}; ` +
    `${r.machineBeforeAfter.map((v) => v.toFixed(1)).join(' before, ')} after the runs, the lower is the roof). Each shape cycles ` +
    `through copies of its weight totalling ≥ 64 MB, so weights come from memory as in a decode step.` +
    (hasBase ? ' Baseline: another build of the library, timed round-robin with this one on the same copies and inputs.' : '');
  return `${fitTable(head, rows, { width })}\n\n${wrapParagraph(note, width)}`;
}

// -------------------------------------------------------------------------------------------------------------
// MatMul with a non-constant right operand (issue #17): the in-place kernel against the former per-call
// prepare + pack + free, and ORT's MatMul with both operands as graph inputs, in one run.

export interface BenchUnpreparedRow {
  readonly shape: readonly [number, number, number];
  /** npu_matmul_f32: b read in place. */
  readonly inPlaceMs: number;
  /** npu_gemm_create_f + run + destroy per call (what MatMul did before). */
  readonly preparedMs: number;
  /** ORT MatMul session, both inputs fed per run, 1 intra-op thread. */
  readonly ortMs: number;
}

export const UNPREPARED_SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 4096, 4096],
  [1, 2048, 2048],
];

export function runBenchUnprepared(timeMs = 500, shapes = UNPREPARED_SHAPES): BenchUnpreparedRow[] {
  const r = loadOrt();
  if (!r.ok) throw new Error(`bench npu: ${r.reason}`);
  const rt = r.runtime;
  const { lib } = npuRuntime();
  const ctx = new NpuContext(lib, { threads: 1 });
  const rows: BenchUnpreparedRow[] = [];
  try {
    for (const [M, K, N] of shapes) {
      const a = new Float32Array(M * K).map((_, i) => Math.sin(i));
      const b = new Float32Array(K * N).map((_, i) => Math.cos(i));
      const y = new Float32Array(M * N);
      const spec: GraphSpec = {
        nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
        inputs: [
          { name: 'a', dtype: 'float32', rank: 2 },
          { name: 'b', dtype: 'float32', rank: 2 },
        ],
        initializers: [],
        outputs: [{ name: 'y', dtype: 'float32', rank: 2 }],
      };
      const session = rt.createSession(buildModel(spec), sessionOptions({ ...ortConfig(), threads: 1 }));
      const feeds = { a: new rt.Tensor('float32', a, [M, K]), b: new rt.Tensor('float32', b, [K, N]) };
      const fetches = { y: new rt.Tensor('float32', y, [M, N]) };
      // Round-robin, several rounds: a busy machine then slows all three alike.
      const t = { inPlace: [] as number[], prepared: [] as number[], ort: [] as number[] };
      const time = (f: () => void, out: number[]) => {
        const s = performance.now();
        f();
        out.push(performance.now() - s);
      };
      const t0 = performance.now();
      while (t.ort.length < 5 || performance.now() - t0 < timeMs) {
        time(() => ctx.matmulF32(a, M, K, b, N, null, y), t.inPlace);
        time(() => {
          const g = ctx.createF(NpuVariant.F32, b, K, N);
          g.runF(a, NpuDType.F32, M, null, y, NpuDType.F32);
          g.dispose();
        }, t.prepared);
        time(() => session.run(feeds, fetches, {}), t.ort);
      }
      session.dispose();
      const med = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1]!;
      rows.push({ shape: [M, K, N], inPlaceMs: med(t.inPlace), preparedMs: med(t.prepared), ortMs: med(t.ort) });
    }
  } finally {
    ctx.dispose();
  }
  return rows;
}

export function formatBenchUnprepared(rows: readonly BenchUnpreparedRow[], width?: number): string {
  const head = ['M x K x N', 'npu in place', 'npu prepare+run+free', 'ORT MatMul', 'in place / ORT time'];
  const body = rows.map((r) => [r.shape.join('x'), `${r.inPlaceMs.toFixed(3)} ms`, `${r.preparedMs.toFixed(3)} ms`, `${r.ortMs.toFixed(3)} ms`, `${(r.inPlaceMs / r.ortMs).toFixed(2)}x`]);
  const note = 'MatMul with a non-constant float32 right operand, 1 thread each, medians of round-robin runs in one process.';
  return `${fitTable(head, body, { width })}\n\n${wrapParagraph(note, width)}`;
}
