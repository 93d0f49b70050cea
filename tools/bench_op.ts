/**
 * `opshift bench op`: per op case × backend, the median (and p90) time of the eager call with tinybench,
 * ops/s, GFLOP/s and GB/s from the dispatcher's own flop/byte counts, the dispatch cause (did it run where
 * asked?), the speed ratio against a baseline backend, optionally every backend's output checked against
 * the cpu reference (max abs / max rel error, NMSE: llama.cpp test-backend-ops' "test" mode in the same run),
 * and PyTorch on the same inputs measured in the same run (single thread unless --threads). Each timed call
 * disposes its outputs, as PyTorch's result is freed when its reference drops.
 *
 * Cases come from the op-case catalog, filtered by op names and a name regex, or are built from `--shapes`:
 * for MatMul and Linear a shape is M×K×N (a [M,K] @ b [K,N]; Linear: x [M,K], constant weight [N,K], no
 * bias); for every other op it is the input tensor's shape (binary ops: two inputs of that shape; softmax,
 * norms and reductions: over the last dim).
 */
import { Bench } from 'tinybench';
import { getOp, listBackends, profile, Tensor, withBackend, type DType } from '../core/index.js';
import { DTYPES } from '../core/dtype.js';
import { ArgumentError } from '../core/errors.js';
import type { Kernel, OpAttrs, OpDef, OpInputs } from '../core/op_def.js';
import { configureOrt } from '../backends/ort/config.js';
import { benchCases } from './op_cases/bench.js';
import { GEMM_TOL } from './op_cases/linalg.js';
import { buildArgs, defaultTolerance, input, OP_CASES, runCase, value, type Arg, type InputSpec, type OpCase, type Tolerance } from './op_cases.js';
import { runPythonPeer } from './peer.js';
import type { MachineProfile } from './bench_machine.js';
import { renderChart, type Point, type Series } from './chart/svg.js';
import { markerFor } from './chart/palette.js';
import { fitTable, wrapParagraph, type Column } from './table.js';
import { percentText, quantile, spreadOf, spreadWarning } from './stats.js';

export interface BenchOpOptions {
  /** Regex over case names; default: the benchmark set (tools/op_cases/bench.ts). */
  readonly cases?: string;
  /** OpDef names (`opshift ops`); only their cases run. */
  readonly ops?: readonly string[];
  /** Shapes to build cases from, e.g. "1x2048x2048,128x2048x2048" (see the file comment). */
  readonly shapes?: string;
  /** Float inputs in this dtype (catalog cases are converted; their names get `:dtype`). */
  readonly dtype?: DType;
  /** Backends to time; default every available backend with a kernel for the op. */
  readonly backends?: readonly string[];
  readonly timeMs?: number;
  readonly peer?: boolean;
  /** PyTorch peer threads and ORT intra-op threads (default 1). */
  readonly threads?: number;
  /** Backend the speed ratio is taken against (added to the run if not listed). */
  readonly baseline?: string;
  /** Compare every backend's outputs with the cpu reference. */
  readonly check?: boolean;
  readonly onProgress?: (msg: string) => void;
}

export interface CheckResult {
  /** max |out − ref| */
  readonly maxAbs: number;
  /** max |out − ref| / |ref| over elements with |ref| ≥ 1e-3·max|ref| (tiny references would only show noise) */
  readonly maxRel: number;
  /** Σ(out − ref)² / Σ ref² (ggml's NMSE); 0 for an all-zero reference that is matched */
  readonly nmse: number;
  /** Every element within atol + rtol·|ref| (PyTorch's allclose; NaN where the reference has NaN). */
  readonly ok: boolean;
  readonly tol: Tolerance;
}

export interface BenchOpRow {
  readonly case: string;
  readonly op: string;
  readonly backend: string;
  /** The backend that actually ran (differs when the asked one refused) and why. */
  readonly ranOn: string;
  readonly cause: string;
  /** Input signature, e.g. `float32[128, 2048], float32[2048, 2048]`. */
  readonly inputs: string;
  readonly dtype: string;
  readonly medianMs: number;
  /** Interquartile range of the timed samples, ms, and IQR / median: how far to trust the median. */
  readonly iqrMs: number;
  readonly relSpread: number;
  /** Timed samples behind the median. */
  readonly samples: number;
  readonly p90Ms: number;
  readonly opsPerS: number;
  readonly flops: number;
  readonly bytes: number;
  /** flops / bytes (arithmetic intensity, flop/byte) */
  readonly intensity: number;
  readonly gflops: number;
  readonly gbps: number;
  /**
   * The backend's kernel alone, run again and again into the same (warm) output buffer: what the kernel
   * computes at, without the eager call's fresh-output allocation, whose first-touch page faults dominate
   * large memory-bound ops on some machines. Undefined when the op did not run as one kernel call.
   */
  readonly kernelMs: number | undefined;
  readonly torchMs: number | undefined;
  /** baseline median / this median (> 1: faster than the baseline); undefined without a baseline row. */
  readonly speedup: number | undefined;
  readonly check: CheckResult | undefined;
}

export interface BenchOpResult {
  readonly rows: BenchOpRow[];
  readonly peer: string;
  readonly baseline: string | undefined;
  readonly threads: number;
  readonly timeMs: number;
}

export function selectBenchCases(pattern?: string): OpCase[] {
  if (!pattern) return [...benchCases];
  const re = new RegExp(pattern);
  return [...OP_CASES, ...benchCases].filter((c) => re.test(c.name));
}

/** "1x2048x2048,128x2048x2048" → [[1,2048,2048],[128,2048,2048]]; a one-line ArgumentError otherwise. */
/** Elements of the largest tensor a `--shapes` case may allocate. */
export const MAX_SHAPE_ELEMENTS = 2 ** 28;

export function parseShapes(text: string): number[][] {
  const parts = text.split(',').map((s) => s.trim());
  return parts.map((p) => {
    const dims = p.split(/[x×]/).map((d) => d.trim());
    if (!p || dims.some((d) => !/^\d+$/.test(d) || Number(d) < 1)) throw new ArgumentError(`--shapes '${text}': '${p}' is not a shape like 128x2048x2048 (positive integers joined by x)`);
    const shape = dims.map(Number);
    // Bounded before anything is allocated: every tensor a case builds (M×K, K×N, M×N for GEMMs, the shape
    // itself otherwise) has at most this many elements.
    const biggest = shape.length === 3 ? Math.max(shape[0]! * shape[1]!, shape[1]! * shape[2]!, shape[0]! * shape[2]!) : shape.reduce((a, b) => a * b, 1);
    if (biggest > MAX_SHAPE_ELEMENTS) throw new ArgumentError(`--shapes '${text}': '${p}' needs a tensor of ${biggest} elements, over the ${MAX_SHAPE_ELEMENTS} (2^28, 1 GiB of float32) a benchmark case may allocate`);
    return shape;
  });
}

const BINARY: Readonly<Record<string, string>> = { Add: 'add', Sub: 'sub', Mul: 'mul', Div: 'div' };
const UNARY: Readonly<Record<string, string>> = {
  Neg: 'neg', Abs: 'abs', Relu: 'relu', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Rsqrt: 'rsqrt', Tanh: 'tanh',
  Sigmoid: 'sigmoid', Erf: 'erf', Cos: 'cos', Sin: 'sin', Silu: 'silu', Gelu: 'gelu',
};
const POSITIVE = new Set(['Log', 'Sqrt', 'Rsqrt']);
const GEMM_OPS = new Set(['MatMul', 'Linear', 'LinearW8A8', 'LinearW4']);
/** Ops `--shapes` can build cases for. */
export const SHAPE_OPS: readonly string[] = ['MatMul', 'Linear', ...Object.keys(BINARY), ...Object.keys(UNARY), 'Softmax', 'LogSoftmax', 'LayerNorm', 'RmsNorm', 'Sum', 'Mean'];

/** A benchmark case for `op` on `shape` (M×K×N for GEMMs, the tensor shape otherwise). */
export function shapeCase(op: string, shape: readonly number[], dtype: DType = 'float32'): OpCase {
  const name = `${op}/${shape.join('x')}${dtype === 'float32' ? '' : `:${dtype}`}`;
  const inp = (s: readonly number[], o: Omit<InputSpec, 'shape'> = {}): Arg => input(s, { dtype, ...o });
  const tol = dtype === 'float32' ? undefined : defaultTolerance(dtype);
  if (op === 'MatMul' || op === 'Linear') {
    if (shape.length !== 3) throw new ArgumentError(`--shapes: ${op} takes M×K×N (e.g. 128x2048x2048), got ${shape.join('x')}`);
    const [M, K, N] = shape as [number, number, number];
    const args = op === 'MatMul' ? [inp([M, K]), inp([K, N])] : [inp([M, K]), inp([N, K], { constant: true }), value(null)];
    return { name, op, fn: op === 'MatMul' ? 'matmul' : 'linear', args, tol: tol ?? GEMM_TOL, tags: ['bench'] };
  }
  const last = shape[shape.length - 1]!;
  let fn: string;
  let args: Arg[];
  if (BINARY[op]) [fn, args] = [BINARY[op], [inp(shape), inp(shape, op === 'Div' ? { gen: { kind: 'rand', low: 0.5, high: 2 } } : {})]];
  else if (UNARY[op]) [fn, args] = [UNARY[op], [inp(shape, POSITIVE.has(op) ? { gen: { kind: 'rand', low: 0.1, high: 4 } } : op === 'Silu' || op === 'Gelu' ? { gen: { kind: 'rand', low: -6, high: 6 } } : {})]];
  else if (op === 'Softmax' || op === 'LogSoftmax') [fn, args] = [op === 'Softmax' ? 'softmax' : 'log_softmax', [inp(shape), value(-1)]];
  else if (op === 'LayerNorm') [fn, args] = ['layer_norm', [inp(shape), value([last]), inp([last]), inp([last]), value(1e-5)]];
  else if (op === 'RmsNorm') [fn, args] = ['rms_norm', [inp(shape), inp([last]), value(1e-6)]];
  else if (op === 'Sum' || op === 'Mean') [fn, args] = [op.toLowerCase(), [inp(shape), value(-1), value(false)]];
  else throw new ArgumentError(`--shapes: no shape builder for ${op} (ops with one: ${SHAPE_OPS.join(' ')}); use --cases for catalog cases`);
  return { name, op, fn, args, tol, tags: ['bench'] };
}

/** The case with its float inputs in `dtype` (name suffixed `:dtype`), or the case itself if nothing changes. */
function withDType(c: OpCase, dtype: DType): OpCase {
  let changed = false;
  const conv = (s: InputSpec): InputSpec => {
    const d = s.dtype ?? 'float32';
    if (!d.startsWith('float') && d !== 'bfloat16') return s;
    if (d === dtype) return s;
    changed = true;
    return { ...s, dtype };
  };
  const args = c.args.map((a): Arg => ('input' in a ? { input: conv(a.input) } : 'list' in a ? { list: a.list.map(conv) } : a));
  if (!changed) return c;
  const t = defaultTolerance(dtype);
  const tol = c.tol ? { rtol: Math.max(c.tol.rtol, t.rtol), atol: Math.max(c.tol.atol, t.atol) } : t;
  return { ...c, name: `${c.name}:${dtype}`, args, tol };
}

/** The cases a run covers: --shapes builds them; otherwise catalog cases by --cases regex and OP names. */
export function planCases(o: Pick<BenchOpOptions, 'cases' | 'ops' | 'shapes' | 'dtype'>): OpCase[] {
  for (const op of o.ops ?? []) if (!getOp(op)) throw new ArgumentError(`bench op: unknown op '${op}' (see opshift ops)`);
  if (o.dtype !== undefined && !DTYPES.includes(o.dtype)) throw new ArgumentError(`bench op: unknown dtype '${o.dtype}' (one of ${DTYPES.join(' ')})`);
  let re: RegExp | undefined;
  try {
    re = o.cases ? new RegExp(o.cases) : undefined;
  } catch (e) {
    throw new ArgumentError(`bench op: --cases '${o.cases}': ${(e as Error).message}`);
  }
  let cases: OpCase[];
  if (o.shapes !== undefined) {
    const shapes = parseShapes(o.shapes);
    const ops = o.ops?.length ? o.ops : ['MatMul', 'Linear'];
    cases = ops.flatMap((op) => shapes.map((s) => shapeCase(op, s, o.dtype)));
    if (re) cases = cases.filter((c) => re.test(c.name));
  } else if (o.ops?.length) {
    const pool = re ? [...OP_CASES, ...benchCases] : [...benchCases, ...OP_CASES.filter((c) => c.tags?.includes('bench'))];
    cases = pool.filter((c) => o.ops!.includes(c.op) && (!re || re.test(c.name)));
    // An op with no benchmark-sized case: its catalog cases.
    for (const op of o.ops) if (!re && !cases.some((c) => c.op === op)) cases.push(...OP_CASES.filter((c) => c.op === op));
  } else cases = re ? [...OP_CASES, ...benchCases].filter((c) => re.test(c.name)) : [...benchCases];
  if (o.dtype && o.shapes === undefined) cases = cases.map((c) => withDType(c, o.dtype!));
  const what = [o.ops?.length ? `ops ${o.ops.join(',')}` : '', o.cases ? `/${o.cases}/` : ''].filter(Boolean).join(' and ');
  if (cases.length === 0) throw new ArgumentError(`bench op: no case matches ${what || 'the selection'}`);
  return cases;
}

/** Resolve --backends and --baseline against the registry: unknown or unavailable names are errors. */
export function resolveBackends(asked: readonly string[] | undefined, baseline: string | undefined): string[] {
  const all = listBackends();
  const check = (name: string, what: string) => {
    const b = all.find((x) => x.name === name);
    if (!b) throw new ArgumentError(`bench op: unknown backend '${name}' in ${what} (known: ${all.map((x) => x.name).join(' ')})`);
    if (!b.status.available) throw new ArgumentError(`bench op: backend '${name}' is unavailable: ${b.status.reason}`);
  };
  for (const b of asked ?? []) check(b, '--backends');
  if (baseline !== undefined) check(baseline, '--baseline');
  const list = asked?.length ? [...asked] : all.filter((b) => b.status.available).map((b) => b.name);
  if (baseline !== undefined && !list.includes(baseline)) list.push(baseline);
  return list;
}

interface CapturedCall {
  readonly kernel: Kernel<OpInputs, OpAttrs>;
  readonly inputs: OpInputs;
  readonly attrs: OpAttrs;
  readonly outs: Tensor[];
}

/**
 * Runs `fn` with the op's kernel on `backend` wrapped so the first call's arguments are kept; the kernel can
 * then be timed alone on the very same inputs and output. Benchmark-only: the map entry is restored after.
 */
function captureKernelCall(op: OpDef, backend: string, fn: () => void): CapturedCall | undefined {
  const kernel = op.kernels.get(backend);
  if (!kernel) return undefined;
  let captured: CapturedCall | undefined;
  const spy: Kernel<OpInputs, OpAttrs> = {
    ...kernel,
    run(inputs, attrs, outs) {
      captured ??= { kernel, inputs, attrs, outs };
      kernel.run(inputs, attrs, outs);
    },
  };
  op.kernels.set(backend, spy);
  try {
    fn();
  } finally {
    op.kernels.set(backend, kernel);
  }
  return captured;
}

function numbers(t: Tensor): Float64Array {
  const a = t.toArray() as ArrayLike<number | bigint | boolean>;
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}

/** Error metrics of `got` against the cpu reference `ref` (all outputs of the case together). */
export function compareOutputs(got: readonly Tensor[], ref: readonly Tensor[], tol: Tolerance): CheckResult {
  let maxAbs = 0;
  let maxRel = 0;
  let se = 0;
  let sr = 0;
  let ok = got.length === ref.length;
  for (let k = 0; k < Math.min(got.length, ref.length); k++) {
    const g = got[k]!;
    const r = ref[k]!;
    if (g.shape.join(',') !== r.shape.join(',')) {
      ok = false;
      continue;
    }
    const a = numbers(g);
    const b = numbers(r);
    let refMax = 0;
    for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i]!)) refMax = Math.max(refMax, Math.abs(b[i]!));
    for (let i = 0; i < b.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (Number.isNaN(y) || !Number.isFinite(y)) {
        if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) ok = false;
        continue;
      }
      const d = Math.abs(x - y);
      if (!(d <= tol.atol + tol.rtol * Math.abs(y))) ok = false;
      if (Number.isNaN(d)) continue;
      maxAbs = Math.max(maxAbs, d);
      if (Math.abs(y) >= 1e-3 * refMax && y !== 0) maxRel = Math.max(maxRel, d / Math.abs(y));
      se += d * d;
      sr += y * y;
    }
  }
  return { maxAbs, maxRel, nmse: sr > 0 ? se / sr : se, ok, tol };
}

const fmtSig = (shapes: readonly (readonly number[])[], dtypes: readonly string[]) => shapes.map((s, i) => `${dtypes[i]}[${s.join(', ')}]`).join(', ');

export function runBenchOp(options: BenchOpOptions = {}): BenchOpResult {
  const cases = planCases(options);
  const backends = resolveBackends(options.backends, options.baseline);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new ArgumentError(`bench op: --threads ${threads} must be a positive integer`);
  if (options.threads !== undefined && listBackends().some((b) => b.name === 'ort' && b.status.available)) configureOrt({ threads });
  const rows: BenchOpRow[] = [];
  const timeMs = options.timeMs ?? 500;
  const total = cases.length;
  cases.forEach((c, ci) => {
    const op = getOp(c.op);
    const args = buildArgs(c);
    const ref = options.check ? withBackend('cpu', () => runCase(c, args)) : undefined;
    // Long dot products summed in another order differ by ~√K·ε: GEMMs without their own tolerance get the catalog's GEMM one.
    const firstDType = (c.args.find((a) => 'input' in a) as { input: InputSpec } | undefined)?.input.dtype ?? 'float32';
    const tol = c.tol ?? (GEMM_OPS.has(c.op) && firstDType === 'float32' ? GEMM_TOL : defaultTolerance(firstDType));
    const caseRows: BenchOpRow[] = [];
    for (const b of backends.filter((x) => op?.kernels.has(x))) {
      options.onProgress?.(`bench op [${ci + 1}/${total}] ${c.name} on ${b}`);
      const probe = profile(() => withBackend(b, () => runCase(c, args)));
      const rec = probe.records.find((r) => r.op === c.op && r.depth === 0) ?? probe.records.at(-1);
      const bench = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(200, timeMs), iterations: 3, retainSamples: true });
      // The eager call as a program makes it: inside one backend scope (not a scope entered per call), its
      // outputs disposed when done as PyTorch frees a result whose last reference drops, so the next call's
      // output comes from the pool (core/pool.ts) the way decode steps get theirs. An output that is an input
      // handle (ops that return their argument) is left alone.
      const inputs = new Set<Tensor>(args.flatMap((a) => (Array.isArray(a) ? a : [a])).filter((a): a is Tensor => a instanceof Tensor));
      bench.add(c.name, () => {
        const outs = runCase(c, args);
        for (let i = 0; i < outs.length; i++) if (!inputs.has(outs[i]!)) outs[i]!.dispose();
      });
      withBackend(b, () => bench.runSync());
      const r = bench.tasks[0]!.result;
      if (r.state !== 'completed') throw new Error(`bench op: ${c.name} on ${b} did not complete (${r.state})`);
      const sorted = Float64Array.from(r.latency.samples ?? []).sort();
      const spread = { ...spreadOf(sorted), p90: quantile(sorted, 0.9) };
      const median = r.latency.p50;
      let kernelMs: number | undefined;
      const call = rec?.backend === b && op ? captureKernelCall(op as unknown as OpDef, b, () => withBackend(b, () => runCase(c, args))) : undefined;
      if (call) {
        const kb = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(200, timeMs), iterations: 3 });
        kb.add('kernel', () => call.kernel.run(call.inputs, call.attrs, call.outs));
        kb.runSync();
        const kr = kb.tasks[0]!.result;
        if (kr.state === 'completed') kernelMs = kr.latency.p50;
      }
      const flops = rec?.flops ?? 0;
      const bytes = rec?.bytes ?? 0;
      caseRows.push({
        case: c.name,
        op: c.op,
        backend: b,
        ranOn: rec?.backend ?? b,
        cause: rec?.cause ?? '',
        inputs: rec ? fmtSig(rec.inputShapes, rec.inputDTypes) : '',
        dtype: rec?.inputDTypes[0] ?? '',
        medianMs: median,
        iqrMs: spread.iqr,
        relSpread: spread.relSpread,
        samples: spread.samples,
        p90Ms: spread.p90,
        opsPerS: 1000 / median,
        flops,
        bytes,
        intensity: bytes > 0 ? flops / bytes : 0,
        gflops: flops / (median * 1e6),
        gbps: bytes / (median * 1e6),
        kernelMs,
        torchMs: undefined,
        speedup: undefined,
        check: ref ? compareOutputs(probe.result, ref, c.backendTol?.[b] ?? tol) : undefined,
      });
    }
    const base = caseRows.find((x) => x.backend === options.baseline);
    rows.push(...caseRows.map((x) => (base ? { ...x, speedup: base.medianMs / x.medianMs } : x)));
  });
  let peer = 'PyTorch peer skipped: disabled (--no-peer)';
  if (options.peer !== false) {
    options.onProgress?.('PyTorch peer');
    const input = JSON.stringify({ cases, time_ms: timeMs, threads });
    const res = runPythonPeer<{ torch: string; threads: number; results: Record<string, { median_ms?: number; skipped?: string }> }>(
      'torch_bench_cases.py',
      [],
      input,
    );
    if (res.ok) {
      peer = `PyTorch ${res.value.torch}, ${res.value.threads} thread(s), same inputs, same run`;
      for (let i = 0; i < rows.length; i++) {
        const t = res.value.results[rows[i]!.case]?.median_ms;
        rows[i] = { ...rows[i]!, torchMs: t };
      }
    } else peer = `PyTorch peer skipped: ${res.reason}`;
  }
  return { rows, peer, baseline: options.baseline, threads, timeMs };
}

const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v < 1 ? v.toFixed(4) : v.toFixed(2));
const sci = (v: number) => (v === 0 ? '0' : v < 1e-3 || v >= 1e4 ? v.toExponential(2) : v.toPrecision(3));

/**
 * The table's columns, with the order they are hidden in when the terminal is narrow (`drop`, lowest first):
 * the case, backend, median, its spread, GFLOP/s, the comparisons and the check stay longest.
 */
function tableCells(r: BenchOpResult): { header: Column[]; body: string[][] } {
  const check = r.rows.some((x) => x.check);
  const torch = r.rows.some((x) => x.torchMs !== undefined);
  const base = r.baseline;
  const header: Column[] = [
    'case', 'backend', 'median ms', 'IQR %', { title: 'p90 ms', drop: 1 }, { title: 'ops/s', drop: 2 }, 'GFLOP/s', { title: 'GB/s', drop: 6 },
    { title: 'kernel ms (warm out)', drop: 4 }, { title: 'kernel GB/s', drop: 3 },
    ...(base ? [`vs ${base}`] : []),
    ...(check ? [{ title: 'max abs err', drop: 5 }, { title: 'max rel err', drop: 8 }, { title: 'NMSE', drop: 9 }, 'check'] : []),
    ...(torch ? [{ title: 'PyTorch ms', drop: 7 }, 'vs PyTorch'] : []),
    { title: 'cause', drop: 10 },
  ];
  const body = r.rows.map((x) => [
    x.case,
    x.backend === x.ranOn ? x.backend : `${x.backend} -> ${x.ranOn}`,
    ms(x.medianMs),
    percentText(x.relSpread),
    ms(x.p90Ms),
    x.opsPerS >= 100 ? x.opsPerS.toFixed(0) : x.opsPerS.toFixed(2),
    x.gflops >= 0.01 ? x.gflops.toFixed(2) : '-',
    x.gbps.toFixed(2),
    ms(x.kernelMs),
    x.kernelMs && x.gbps > 0 ? ((x.gbps * x.medianMs) / x.kernelMs).toFixed(2) : '-',
    ...(base ? [x.speedup === undefined ? '-' : `${x.speedup.toFixed(2)}x`] : []),
    ...(check ? (x.check ? [sci(x.check.maxAbs), sci(x.check.maxRel), sci(x.check.nmse), x.check.ok ? 'ok' : `FAIL (rtol ${x.check.tol.rtol}, atol ${x.check.tol.atol})`] : ['-', '-', '-', '-']) : []),
    ...(torch ? [ms(x.torchMs), x.torchMs ? `${(x.medianMs / x.torchMs).toFixed(2)}x` : '-'] : []),
    x.cause,
  ]);
  return { header, body };
}

export function formatBenchOp(r: BenchOpResult, width?: number): string {
  const { header, body } = tableCells(r);
  const notes = ['IQR %: interquartile range of the timed samples over the median', 'median ms: the eager call (dispatch, output from the pool, kernel), its outputs disposed after each call as PyTorch frees its result', 'kernel ms (warm out): the kernel alone, rerun into the same output buffer (no fresh-output allocation)'];
  if (r.baseline) notes.push(`vs ${r.baseline}: ${r.baseline} median / this median (above 1x: faster)`);
  const warn = spreadWarning(r.rows.map((x) => ({ label: `${x.case} on ${x.backend}`, relSpread: x.relSpread })), `--time ${Math.min(r.timeMs * 4, 60_000)}`);
  return [fitTable(header, body, { width }), ...[...notes, `peer: ${r.peer}`, ...(warn ? [warn] : [])].map((l) => wrapParagraph(l, width))].join('\n');
}

/** A GitHub-flavoured Markdown table (for READMEs and issues). */
export function benchOpMarkdown(r: BenchOpResult): string {
  const { header: cols, body } = tableCells(r);
  const header = cols.map((c) => (typeof c === 'string' ? c : c.title));
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((b) => `| ${b.map(esc).join(' | ')} |`)].join('\n');
}

export function benchOpCsv(r: BenchOpResult): string {
  const cols = ['case', 'op', 'backend', 'ran_on', 'dtype', 'inputs', 'median_ms', 'iqr_ms', 'rel_spread', 'samples', 'p90_ms', 'ops_per_s', 'flops', 'bytes', 'intensity', 'gflops', 'gbps', 'kernel_ms', 'speedup', 'max_abs_err', 'max_rel_err', 'nmse', 'check_ok', 'torch_ms', 'cause'];
  const q = (v: string | number | boolean | undefined) => {
    if (v === undefined) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = r.rows.map((x) =>
    [x.case, x.op, x.backend, x.ranOn, x.dtype, x.inputs, x.medianMs, x.iqrMs, x.relSpread, x.samples, x.p90Ms, x.opsPerS, x.flops, x.bytes, x.intensity, x.gflops, x.gbps, x.kernelMs, x.speedup, x.check?.maxAbs, x.check?.maxRel, x.check?.nmse, x.check?.ok, x.torchMs, x.cause].map(q).join(','),
  );
  return [cols.join(','), ...lines].join('\n');
}

/**
 * The roofline: achieved GFLOP/s against arithmetic intensity (flop/byte), one point series per backend (and
 * PyTorch when it ran), under the roof min(peak, bandwidth × intensity) of the measured machine. Cases with no
 * flops (movement ops) have no place on it and are left out.
 */
export function rooflineSvg(r: BenchOpResult, m: MachineProfile, title = 'opshift bench op: roofline'): string {
  const on = r.rows.filter((x) => x.flops > 0 && x.bytes > 0);
  const backends = [...new Set(on.map((x) => x.backend))];
  // Each case gets a number, drawn beside its highest point and explained in the legend; the marker shape
  // says the op family. Together they identify every point in a PNG, where the hover text is gone.
  const caseNames = [...new Set(on.map((x) => x.case))];
  const tagOf = (c: string) => String(caseNames.indexOf(c) + 1);
  const pointsFor = (rows: readonly BenchOpRow[], y: (x: BenchOpRow) => number, label: (x: BenchOpRow) => string): Point[] =>
    rows.map((x) => ({ x: x.intensity, y: y(x), label: label(x), marker: markerFor(x.op).marker, tag: top.get(x.case) === x ? tagOf(x.case) : undefined }));
  const torch = [...new Map(on.filter((x) => x.torchMs).map((x) => [x.case, x])).values()];
  const torchY = (x: BenchOpRow) => x.flops / (x.torchMs! * 1e6);
  const top = new Map<string, BenchOpRow>();
  for (const x of on) if (!top.has(x.case) || x.gflops > top.get(x.case)!.gflops) top.set(x.case, x);
  const series: Series[] = backends.map((b) => ({
    name: b,
    mode: 'points',
    points: pointsFor(on.filter((x) => x.backend === b), (x) => x.gflops, (x) => `${x.case} on ${x.ranOn}: ${x.gflops.toFixed(2)} GFLOP/s, ${x.medianMs.toFixed(3)} ms`),
  }));
  if (torch.length) series.push({ name: 'PyTorch', mode: 'points', points: torch.map((x) => ({ x: x.intensity, y: torchY(x), label: `${x.case} in PyTorch: ${x.torchMs!.toFixed(3)} ms`, marker: markerFor(x.op).marker })) });
  const families = [...new Map(on.map((x) => [markerFor(x.op).family, markerFor(x.op).marker])).entries()];
  const ridge = m.peakGflops / m.bandwidthGBps;
  const ai = [...on.map((x) => x.intensity), ridge];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...ai) / 2));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...ai) * 2));
  const roof = (x: number) => Math.min(m.peakGflops, m.bandwidthGBps * x);
  series.push({ name: 'roof (this machine, 1 thread)', mode: 'line', dashed: true, color: '#333', points: [lo, ridge, hi].map((x) => ({ x, y: roof(x) })) });
  const ys = [...on.map((x) => x.gflops), ...series.flatMap((s) => s.points.map((p) => p.y))].filter((y) => y > 0);
  return renderChart({
    title,
    subtitle: `${m.cpu}, Node ${m.node}; roofs ${m.bandwidthGBps.toFixed(1)} GB/s (${m.bandwidthFrom.split(' (')[0]}) and ${m.peakGflops.toFixed(1)} GFLOP/s (${m.peakFrom.split(' ')[0]} GEMM)`,
    panels: [
      {
        x: { label: 'arithmetic intensity (flop/byte)', scale: 'log', min: lo, max: hi },
        y: { label: 'achieved GFLOP/s', scale: 'log', min: 10 ** Math.floor(Math.log10(Math.min(...ys))), max: 10 ** Math.ceil(Math.log10(Math.max(...ys) * 1.5)) },
        series,
        note: `${on.length} of ${r.rows.length} rows (rows without flops are left out); median times`,
      },
    ],
    legendSections: [
      { title: 'op family', items: families.map(([family, marker]) => ({ marker, text: family })) },
      { title: 'case', items: caseNames.map((c) => ({ tag: tagOf(c), text: c })) },
    ],
    panelWidth: 760,
    panelHeight: 460,
  });
}
