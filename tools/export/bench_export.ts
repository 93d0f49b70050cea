/**
 * `opshift bench export`: the same model, prompt and greedy decode run eagerly by opshift (op by op through the
 * dispatcher, under the CLI's default policy) and as the exported graph in one onnxruntime-node session, in one
 * process: time to first token (prefill of the prompt) and decode tokens/s, medians over the repetitions, plus
 * whether both produced the same ids. What eager costs (per-op dispatch, no graph fusion) and what it buys.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withPolicy } from '../../core/policy.js';
import { fromTypedArray } from '../../ops/creation.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { defaultPolicy } from '../default_policy.js';
import { syntheticPromptIds } from '../bench_model.js';
import { openModel } from '../generate.js';
import { fitTable } from '../table.js';
import { exportOnnx, type ExportQuant } from './export_onnx.js';
import { OnnxCausalLM } from './onnx_runner.js';

export interface BenchExportOptions {
  readonly model: string;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly reps: number;
  /** Threads for both runs (opshift's setting is the caller's; ORT's intra-op pool gets this many). */
  readonly threads: number;
  readonly quant?: ExportQuant;
}

export interface BenchExportRow {
  readonly runtime: 'opshift eager' | 'onnxruntime graph';
  readonly ttftMs: number;
  readonly decodeTokPerS: number;
  readonly ids: readonly number[];
}

export interface BenchExportResult {
  readonly model: string;
  readonly quant: string;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly threads: number;
  readonly exportMs: number;
  readonly fileMB: number;
  readonly rows: readonly BenchExportRow[];
  readonly sameIds: boolean;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function argmaxLast(logits: Float32Array, V: number): number {
  const off = logits.length - V;
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[off + v]! > logits[off + best]!) best = v;
  return best;
}

interface Run {
  ttft: number;
  decode: number;
  ids: number[];
}

function eagerRun(model: CausalLM, prompt: readonly number[], gen: number): Run {
  const V = model.config.vocabSize;
  const cache = model.newCache(1, prompt.length + gen + 1);
  const ids: number[] = [];
  const t0 = performance.now();
  let logits = model.forward(fromTypedArray(BigInt64Array.from(prompt, BigInt), [1, prompt.length]), { cache, lastOnly: true }).toTypedArray() as Float32Array;
  ids.push(argmaxLast(logits, V));
  const t1 = performance.now();
  for (let s = 1; s < gen; s++) {
    logits = model.forward(fromTypedArray(BigInt64Array.of(BigInt(ids[ids.length - 1]!)), [1, 1]), { cache, lastOnly: true }).toTypedArray() as Float32Array;
    ids.push(argmaxLast(logits, V));
  }
  const t2 = performance.now();
  cache.dispose();
  return { ttft: t1 - t0, decode: ((gen - 1) * 1000) / (t2 - t1), ids };
}

async function graphRun(lm: OnnxCausalLM, V: number, prompt: readonly number[], gen: number): Promise<Run> {
  lm.reset();
  const ids: number[] = [];
  const t0 = performance.now();
  let r = await lm.step([prompt]);
  ids.push(argmaxLast(r.logits, V));
  const t1 = performance.now();
  for (let s = 1; s < gen; s++) {
    r = await lm.step([[ids[ids.length - 1]!]]);
    ids.push(argmaxLast(r.logits, V));
  }
  const t2 = performance.now();
  return { ttft: t1 - t0, decode: ((gen - 1) * 1000) / (t2 - t1), ids };
}

export async function runBenchExport(o: BenchExportOptions, progress?: (line: string) => void): Promise<BenchExportResult> {
  const { model } = await openModel(o.model);
  const V = model.config.vocabSize;
  const prompt = syntheticPromptIds(V, o.promptTokens);
  const dir = mkdtempSync(join(tmpdir(), 'opshift-bench-export-'));
  try {
    progress?.('exporting');
    const t0 = performance.now();
    const out = join(dir, 'model.onnx');
    // Last-position logits in both runs: generation reads no others, and eager computes no others (lastOnly).
    const exported = exportOnnx(model, { out, quant: o.quant, genaiConfig: false, logits: 'last' });
    const exportMs = performance.now() - t0;
    const c = model.newCache(1, 1);
    const lm = await OnnxCausalLM.load(out, { layers: c.numLayers, kvHeads: c.kvHeads, headDim: c.headDim }, o.threads);
    const eager: Run[] = [];
    const graph: Run[] = [];
    // Warm-up of each (ORT's first run plans memory; opshift's first forward prepares weights), then alternate.
    withPolicy(defaultPolicy(), () => eagerRun(model, prompt, 2));
    await graphRun(lm, V, prompt, 2);
    for (let r = 0; r < o.reps; r++) {
      progress?.(`rep ${r + 1}/${o.reps}`);
      eager.push(withPolicy(defaultPolicy(), () => eagerRun(model, prompt, o.genTokens)));
      graph.push(await graphRun(lm, V, prompt, o.genTokens));
    }
    await lm.release();
    const row = (runtime: BenchExportRow['runtime'], runs: Run[]): BenchExportRow => ({
      runtime,
      ttftMs: median(runs.map((x) => x.ttft)),
      decodeTokPerS: median(runs.map((x) => x.decode)),
      ids: runs[0]!.ids,
    });
    const rows = [row('opshift eager', eager), row('onnxruntime graph', graph)];
    return {
      model: o.model,
      quant: o.quant ?? 'fp32',
      promptTokens: o.promptTokens,
      genTokens: o.genTokens,
      threads: o.threads,
      exportMs,
      fileMB: exported.bytes / 2 ** 20,
      rows,
      sameIds: JSON.stringify(rows[0]!.ids) === JSON.stringify(rows[1]!.ids),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatBenchExport(r: BenchExportResult, width?: number): string {
  const head = `${r.model} ${r.quant}, prompt ${r.promptTokens} tokens, ${r.genTokens} generated, ${r.threads} thread(s); export ${(r.exportMs / 1000).toFixed(1)} s, ${r.fileMB.toFixed(1)} MB`;
  const table = fitTable(
    ['runtime', 'TTFT ms', 'decode tok/s'],
    r.rows.map((x) => [x.runtime, x.ttftMs.toFixed(1), x.decodeTokPerS.toFixed(1)]),
    { width },
  );
  return `${head}\n${table}\ngreedy ids ${r.sameIds ? 'equal' : 'DIFFER'} (eager vs graph)`;
}
