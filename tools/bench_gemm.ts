/**
 * `opshift bench gemm`: float32 GEMM throughput of the cpu (TypeScript) and wasm (WebAssembly SIMD) backends
 * on the shapes the GEMM work targets, with PyTorch (single thread) on the same shapes in the same run.
 *
 *   matmul 1024×1024×1024      a [M,K] @ b [K,N], both plain tensors (copy and packing included)
 *   matmul 128×2048×2048       a prefill-sized GEMM, same
 *   linear 128×2048×2048       x @ Wᵀ with W [N,K] a constant weight (packed once, cached by wasm)
 *   linear 1×4096×4096         decode GEMV, W [N,K] constant
 *
 * Medians with tinybench over `--time` ms per case and backend (at least 3 runs after a warm-up).
 */
import { Bench } from 'tinybench';
import { linear, listBackends, manualSeed, matmul, profile, randn, withBackend, type Tensor } from '../core/index.js';
import { fitTable, wrapParagraph } from './table.js';
import { peerBlas, runPythonPeer } from './peer.js';

export interface GemmCase {
  readonly name: string;
  readonly op: 'matmul' | 'linear';
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** The weight (b or W) is marked constant, so backends may cache its packed form. */
  readonly constant: boolean;
}

export const GEMM_CASES: readonly GemmCase[] = [
  { name: 'matmul 1024x1024x1024', op: 'matmul', m: 1024, n: 1024, k: 1024, constant: false },
  { name: 'matmul 128x2048x2048', op: 'matmul', m: 128, n: 2048, k: 2048, constant: false },
  { name: 'linear 128x2048x2048 (W const)', op: 'linear', m: 128, n: 2048, k: 2048, constant: true },
  { name: 'linear 1x4096x4096 (W const)', op: 'linear', m: 1, n: 4096, k: 4096, constant: true },
];

export interface BenchGemmOptions {
  /** Regex over case names (default: all). */
  readonly cases?: string;
  /** Default: cpu and wasm, those available. */
  readonly backends?: readonly string[];
  readonly timeMs?: number;
  readonly peer?: boolean;
  readonly threads?: number;
}

export interface GemmTiming {
  readonly backend: string;
  /** Where the op actually ran and why (a refusing backend falls back). */
  readonly ranOn: string;
  readonly cause: string;
  readonly medianMs: number;
  readonly gflops: number;
}

export interface BenchGemmRow {
  readonly case: GemmCase;
  readonly timings: GemmTiming[];
  readonly torchMs: number | undefined;
}

export interface BenchGemmResult {
  readonly rows: BenchGemmRow[];
  readonly backends: readonly string[];
  readonly peer: string;
}

const flopsOf = (c: GemmCase) => 2 * c.m * c.n * c.k;

function inputs(c: GemmCase): { run: () => Tensor } {
  manualSeed(0);
  const a = randn([c.m, c.k]);
  if (c.op === 'linear') {
    const w = randn([c.n, c.k]);
    if (c.constant) w.markConstant();
    return { run: () => linear(a, w) };
  }
  const b = randn([c.k, c.n]);
  if (c.constant) b.markConstant();
  return { run: () => matmul(a, b) };
}

export function runBenchGemm(options: BenchGemmOptions = {}): BenchGemmResult {
  const re = options.cases ? new RegExp(options.cases) : undefined;
  const cases = GEMM_CASES.filter((c) => !re || re.test(c.name));
  if (cases.length === 0) throw new Error(`bench gemm: no case matches /${options.cases}/`);
  const available = listBackends().filter((b) => b.status.available).map((b) => b.name);
  const wanted = options.backends ?? ['cpu', 'wasm'];
  const unknown = wanted.filter((b) => !listBackends().some((x) => x.name === b));
  if (unknown.length) throw new Error(`bench gemm: unknown backend(s) ${unknown.join(', ')}`);
  const backends = wanted.filter((b) => available.includes(b));
  const timeMs = options.timeMs ?? 2000;
  const rows: BenchGemmRow[] = [];
  for (const c of cases) {
    const { run } = inputs(c);
    const timings: GemmTiming[] = [];
    for (const b of backends) {
      // One profiled call: where it ran and why (also the warm-up of caches, e.g. packed constant weights).
      const probe = profile(() => withBackend(b, run));
      const rec = probe.records.find((r) => r.depth === 0);
      const bench = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(500, timeMs), warmupIterations: 1, iterations: 3 });
      bench.add(c.name, () => {
        withBackend(b, run);
      });
      bench.runSync();
      const r = bench.tasks[0]!.result;
      if (r.state !== 'completed') throw new Error(`bench gemm: ${c.name} on ${b} did not complete (${r.state})`);
      const medianMs = r.latency.p50;
      timings.push({ backend: b, ranOn: rec?.backend ?? b, cause: rec?.cause ?? '', medianMs, gflops: flopsOf(c) / (medianMs * 1e6) });
    }
    rows.push({ case: c, timings, torchMs: undefined });
  }
  const threads = options.threads ?? 1;
  let peer = 'PyTorch peer skipped: disabled (--no-peer)';
  if (options.peer !== false) {
    const input = JSON.stringify({ cases: cases.map(({ name, op, m, n, k }) => ({ name, op, m, n, k })), time_ms: timeMs, threads });
    const res = runPythonPeer<{ torch: string; threads: number; results: Record<string, { median_ms?: number }> }>('torch_gemm.py', [], input);
    if (res.ok) {
      peer =
        `PyTorch ${res.value.torch} with ${peerBlas()} (torch.matmul / F.linear), ${res.value.threads} thread(s): ` +
        `${res.value.threads === 1 ? 'single thread, like opshift' : `${res.value.threads} threads`}; measured in this run`;
      for (let i = 0; i < rows.length; i++) rows[i] = { ...rows[i]!, torchMs: res.value.results[rows[i]!.case.name]?.median_ms };
    } else peer = `PyTorch peer skipped: ${res.reason}`;
  }
  return { rows, backends, peer };
}

export function formatBenchGemm(r: BenchGemmResult, width?: number): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : v < 10 ? v.toFixed(3) : v.toFixed(1));
  const gf = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));
  const headers = ['case (M x N x K)'];
  for (const b of r.backends) headers.push(`${b} ms`, `${b} GFLOP/s`);
  const ratio = r.backends.includes('cpu') && r.backends.includes('wasm');
  if (ratio) headers.push('wasm/cpu');
  headers.push('PyTorch ms', 'PyTorch GFLOP/s');
  const notes: string[] = [];
  const body = r.rows.map((row) => {
    const cells = [row.case.name];
    for (const t of row.timings) {
      cells.push(ms(t.medianMs), gf(t.gflops));
      if (t.ranOn !== t.backend) notes.push(`${row.case.name}: asked ${t.backend}, ran on ${t.ranOn} (${t.cause})`);
    }
    if (ratio) {
      const c = row.timings.find((t) => t.backend === 'cpu');
      const w = row.timings.find((t) => t.backend === 'wasm');
      cells.push(c && w ? `${(c.medianMs / w.medianMs).toFixed(1)}x` : '-');
    }
    const tg = row.torchMs === undefined ? undefined : flopsOf(row.case) / (row.torchMs * 1e6);
    cells.push(ms(row.torchMs), gf(tg));
    return cells;
  });
  const lines = [fitTable(headers, body, { width }), '', 'float32, single thread; median time per call through the eager API (dispatch, copies and packing included).'];
  if (ratio) lines.push('wasm/cpu: speed of the wasm backend relative to cpu (cpu ms / wasm ms).');
  lines.push(`peer: ${r.peer}`);
  for (const n of notes) lines.push(`note: ${n}`);
  const missing = ['cpu', 'wasm'].filter((b) => !r.backends.includes(b));
  for (const b of missing) {
    const s = listBackends().find((x) => x.name === b)?.status;
    if (s && !s.available) lines.push(`note: ${b} unavailable: ${s.reason}`);
  }
  return [lines[0], ...lines.slice(1).map((l) => wrapParagraph(l, width))].join('\n');
}
