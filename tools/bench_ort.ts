/**
 * `opshift bench ort`: what going through opshift costs on top of ONNX Runtime. The same single-node models
 * (MatMul with a constant weight; a 1-element Add) run (a) as opshift ops on the ort backend and (b) through
 * onnxruntime-node's public async `session.run()` directly, in the same process and run.
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { backendStatus, ones, rand, withBackend, type Tensor } from '../core/index.js';
import { fitTable, wrapParagraph } from './table.js';
import { ortConfig, sessionOptions } from '../backends/ort/config.js';
import { buildModel } from '../backends/ort/onnx_model.js';

const require = createRequire(import.meta.url);

interface PublicSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}
interface PublicOrt {
  InferenceSession: { create(model: Uint8Array, options: object): Promise<PublicSession> };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => unknown;
}

export interface OrtBenchRow {
  readonly name: string;
  readonly opshiftMs: number;
  readonly directMs: number;
  readonly gflops: number | undefined;
}

const SHAPES: [number, number, number][] = [
  [1, 2048, 2048],
  [1, 2048, 8192],
  [128, 2048, 2048],
  [1024, 1024, 1024],
];

function median(b: Bench, name: string): number {
  const r = b.getTask(name)?.result;
  if (!r || r.state !== 'completed') throw new Error(`bench ort: ${name} did not complete`);
  return r.latency.p50;
}

export async function runOrtBench(options: { timeMs?: number } = {}): Promise<OrtBenchRow[]> {
  const status = backendStatus('ort');
  if (!status?.available) throw new Error(`bench ort: the ort backend is unavailable (${status && !status.available ? status.reason : 'not registered'})`);
  const ort = require('onnxruntime-node') as PublicOrt;
  const time = options.timeMs ?? 1000;
  const opts = sessionOptions(ortConfig());
  const rows: OrtBenchRow[] = [];
  const cases: { name: string; flops?: number; viaOpshift: () => Tensor; model: Uint8Array; feeds: Record<string, unknown> }[] = [];
  for (const [m, k, n] of SHAPES) {
    const x = rand([m, k]);
    const w = rand([k, n]).markConstant();
    const model = buildModel({
      nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float32', rank: 2 }],
      initializers: [{ name: 'w', dtype: 'float32', shape: [k, n], data: w.storage.data }],
      outputs: [{ name: 'y', dtype: 'float32', rank: 2 }],
    });
    cases.push({
      name: `MatMul ${m}x${k}x${n} (constant weight)`,
      flops: 2 * m * k * n,
      viaOpshift: () => withBackend('ort', () => x.matmul(w), { fallback: false }),
      model,
      feeds: { x: new ort.Tensor('float32', x.storage.data, [m, k]) },
    });
  }
  const a = ones([1]);
  const b = ones([1]);
  cases.push({
    name: 'Add 1 element (per-call overhead)',
    viaOpshift: () => withBackend('ort', () => a.add(b), { fallback: false }),
    model: buildModel({
      nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['y'] }],
      inputs: [
        { name: 'a', dtype: 'float32', rank: 1 },
        { name: 'b', dtype: 'float32', rank: 1 },
      ],
      initializers: [],
      outputs: [{ name: 'y', dtype: 'float32', rank: 1 }],
    }),
    feeds: { a: new ort.Tensor('float32', new Float32Array([1]), [1]), b: new ort.Tensor('float32', new Float32Array([1]), [1]) },
  });
  for (const c of cases) {
    const session = await ort.InferenceSession.create(c.model, opts);
    const bench = new Bench({ time, warmup: true, warmupTime: Math.min(300, time), iterations: 5 });
    bench.add('opshift', () => {
      c.viaOpshift();
    });
    bench.add('direct', async () => {
      await session.run(c.feeds);
    });
    await bench.run();
    const opshiftMs = median(bench, 'opshift');
    rows.push({ name: c.name, opshiftMs, directMs: median(bench, 'direct'), gflops: c.flops ? c.flops / (opshiftMs * 1e6) : undefined });
    await session.release();
  }
  return rows;
}

export function formatOrtBench(rows: readonly OrtBenchRow[], width?: number): string {
  const t = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  return (
    fitTable(
      ['case', 'opshift (ort backend)', 'onnxruntime-node session.run()', 'opshift / direct', 'GFLOP/s (opshift)'],
      rows.map((r) => [r.name, t(r.opshiftMs), t(r.directMs), `${(r.opshiftMs / r.directMs).toFixed(3)}x`, r.gflops ? r.gflops.toFixed(1) : '-']),
      { width },
    ) + `\n${wrapParagraph(`medians (tinybench); ORT intra-op threads: ${ortConfig().threads}`, width)}`
  );
}
