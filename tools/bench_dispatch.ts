/**
 * `opshift bench dispatch`: what the dispatcher itself costs per op. For a 1-element and a 4096-element add it
 * times (tinybench, batches of calls) the full eager path `a.add(b)` and the bare CPU kernel on preallocated
 * output, and reports their difference, next to PyTorch's eager torch.add measured in the same run.
 */
import { Bench } from 'tinybench';
import { Add, ones, Tensor, type Kernel } from '../core/index.js';
import type { BinaryInputs, NoAttrs } from '../ops/elementwise.js';
import { fitTable, wrapParagraph } from './table.js';
import { runPythonPeer } from './peer.js';

const BATCH = 1000;

export interface DispatchBenchRow {
  readonly elements: number;
  readonly eagerNs: number;
  readonly kernelNs: number;
  readonly overheadNs: number;
  /** Allocating the output tensor, part of the overhead (PyTorch's eager add allocates too). */
  readonly allocNs: number;
  readonly torchNs: number | undefined;
}

export interface DispatchBenchResult {
  readonly rows: DispatchBenchRow[];
  readonly peer: string;
}

function medianPerCallNs(bench: Bench, name: string): number {
  const task = bench.getTask(name);
  const r = task?.result;
  if (!r || r.state !== 'completed') throw new Error(`bench task ${name} did not complete`);
  return (r.latency.p50 * 1e6) / BATCH;
}

export function runDispatchBench(options: { timeMs?: number; peer?: boolean } = {}): DispatchBenchResult {
  const time = options.timeMs ?? 1000;
  const kernel = Add.kernels.get('cpu') as Kernel<BinaryInputs, NoAttrs>;
  const bench = new Bench({ time, warmup: true, warmupTime: Math.min(250, time), iterations: 20 });
  for (const n of [1, 4096]) {
    const a = ones([n]);
    const b = ones([n]);
    const out = Tensor.empty([n], 'float32');
    const inputs = { a, b };
    bench.add(`eager add n=${n}`, () => {
      for (let i = 0; i < BATCH; i++) a.add(b);
    });
    bench.add(`kernel add n=${n}`, () => {
      for (let i = 0; i < BATCH; i++) kernel.run(inputs, {}, [out]);
    });
    bench.add(`alloc n=${n}`, () => {
      for (let i = 0; i < BATCH; i++) Tensor.empty([n], 'float32');
    });
  }
  bench.runSync();
  const peer = options.peer === false ? { ok: false as const, reason: 'disabled (--no-peer)' } : runPythonPeer<{ torch: string; threads: number; results: Record<string, number> }>('torch_add.py');
  const rows = [1, 4096].map((n) => {
    const eagerNs = medianPerCallNs(bench, `eager add n=${n}`);
    const kernelNs = medianPerCallNs(bench, `kernel add n=${n}`);
    const allocNs = medianPerCallNs(bench, `alloc n=${n}`);
    return { elements: n, eagerNs, kernelNs, overheadNs: eagerNs - kernelNs, allocNs, torchNs: peer.ok ? peer.value.results[String(n)] : undefined };
  });
  return { rows, peer: peer.ok ? `PyTorch ${peer.value.torch} (${peer.value.threads} threads), same run` : `PyTorch peer skipped: ${peer.reason}` };
}

export function formatDispatchBench(r: DispatchBenchResult, width?: number): string {
  const f = (ns: number | undefined) => (ns === undefined ? '-' : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
  const table = fitTable(
    ['add, float32', 'eager a.add(b)', 'bare cpu kernel', 'overhead', 'of it: output alloc', 'PyTorch eager', 'opshift / PyTorch'],
    r.rows.map((x) => [
      `${x.elements} element${x.elements > 1 ? 's' : ''}`,
      f(x.eagerNs),
      f(x.kernelNs),
      f(x.overheadNs),
      f(x.allocNs),
      f(x.torchNs),
      x.torchNs ? `${(x.eagerNs / x.torchNs).toFixed(2)}x` : '-',
    ]),
    { width },
  );
  return `${table}\n${wrapParagraph(`medians of batches of ${BATCH} calls (tinybench); peer: ${r.peer}`, width)}`;
}
