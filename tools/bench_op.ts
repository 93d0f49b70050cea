/**
 * `opshift bench op`: per op case × backend, the median (and p90) time of the eager call with tinybench,
 * GFLOP/s and GB/s from the dispatcher's own flop/byte counts, the dispatch cause (did it run where asked?),
 * and PyTorch on the same inputs measured in the same run (single thread unless --threads).
 */
import { Bench } from 'tinybench';
import { getOp, listBackends, profile, withBackend, type Tensor } from '../core/index.js';
import type { Kernel, OpAttrs, OpDef, OpInputs } from '../core/op_def.js';
import { renderTable } from '../core/profiler.js';
import { benchCases } from './op_cases/bench.js';
import { buildArgs, OP_CASES, runCase, type OpCase } from './op_cases.js';
import { runPythonPeer } from './peer.js';

export interface BenchOpOptions {
  /** Regex over case names; default: the benchmark set (tools/op_cases/bench.ts). */
  readonly cases?: string;
  /** Backends to time; default every available backend with a kernel for the op. */
  readonly backends?: readonly string[];
  readonly timeMs?: number;
  readonly peer?: boolean;
  readonly threads?: number;
}

export interface BenchOpRow {
  readonly case: string;
  readonly backend: string;
  /** The backend that actually ran (differs when the asked one refused) and why. */
  readonly ranOn: string;
  readonly cause: string;
  readonly medianMs: number;
  readonly p90Ms: number;
  readonly gflops: number;
  readonly gbps: number;
  /**
   * The backend's kernel alone, run again and again into the same (warm) output buffer: what the kernel
   * computes at, without the eager call's fresh-output allocation, whose first-touch page faults dominate
   * large memory-bound ops on some machines. Undefined when the op did not run as one kernel call.
   */
  readonly kernelMs: number | undefined;
  readonly torchMs: number | undefined;
}

export interface BenchOpResult {
  readonly rows: BenchOpRow[];
  readonly peer: string;
}

export function selectBenchCases(pattern?: string): OpCase[] {
  if (!pattern) return [...benchCases];
  const re = new RegExp(pattern);
  return [...OP_CASES, ...benchCases].filter((c) => re.test(c.name));
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

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export function runBenchOp(options: BenchOpOptions = {}): BenchOpResult {
  const cases = selectBenchCases(options.cases);
  if (cases.length === 0) throw new Error(`bench op: no case matches /${options.cases}/`);
  const available = listBackends().filter((b) => b.status.available).map((b) => b.name);
  const rows: BenchOpRow[] = [];
  const timeMs = options.timeMs ?? 500;
  for (const c of cases) {
    const op = getOp(c.op);
    const backends = (options.backends ?? available).filter((b) => available.includes(b) && op?.kernels.has(b));
    const args = buildArgs(c);
    for (const b of backends) {
      const probe = profile(() => withBackend(b, () => runCase(c, args)));
      const rec = probe.records.find((r) => r.op === c.op && r.depth === 0) ?? probe.records.at(-1);
      const bench = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(200, timeMs), iterations: 3, retainSamples: true });
      bench.add(c.name, () => {
        withBackend(b, () => runCase(c, args));
      });
      bench.runSync();
      const r = bench.tasks[0]!.result;
      if (r.state !== 'completed') throw new Error(`bench op: ${c.name} on ${b} did not complete (${r.state})`);
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
      rows.push({
        case: c.name,
        backend: b,
        ranOn: rec?.backend ?? b,
        cause: rec?.cause ?? '',
        medianMs: median,
        p90Ms: percentile(r.latency.samples ?? [], 0.9),
        gflops: rec ? rec.flops / (median * 1e6) : 0,
        gbps: rec ? rec.bytes / (median * 1e6) : 0,
        kernelMs,
        torchMs: undefined,
      });
    }
  }
  let peer = 'PyTorch peer skipped: disabled (--no-peer)';
  if (options.peer !== false) {
    const input = JSON.stringify({ cases, time_ms: timeMs, threads: options.threads ?? 1 });
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
  return { rows, peer };
}

export function formatBenchOp(r: BenchOpResult): string {
  const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : v < 1 ? v.toFixed(4) : v.toFixed(2));
  const body = r.rows.map((x) => [
    x.case,
    x.backend === x.ranOn ? x.backend : `${x.backend} -> ${x.ranOn}`,
    ms(x.medianMs),
    ms(x.p90Ms),
    x.gflops >= 0.01 ? x.gflops.toFixed(2) : '-',
    x.gbps.toFixed(2),
    ms(x.kernelMs),
    x.kernelMs && x.gbps > 0 ? ((x.gbps * x.medianMs) / x.kernelMs).toFixed(2) : '-',
    ms(x.torchMs),
    x.torchMs ? `${(x.medianMs / x.torchMs).toFixed(2)}x` : '-',
    x.cause,
  ]);
  const note = 'kernel ms (warm out): the kernel alone, rerun into the same output buffer (no fresh-output allocation)';
  return `${renderTable(['case', 'backend', 'median ms', 'p90 ms', 'GFLOP/s', 'GB/s', 'kernel ms (warm out)', 'kernel GB/s', 'PyTorch ms', 'vs PyTorch', 'cause'], body)}\n${note}\npeer: ${r.peer}`;
}
