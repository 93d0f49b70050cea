/** Shared by the export tests: export a model, run the file on onnxruntime-node, compare with eager. */
import { expect } from 'vitest';
import { fromTypedArray } from '../core/index.js';
import type { CausalLM } from '../models/causal_lm.js';
import { generate } from '../models/generate.js';
import { exportOnnx, type ExportOnnxOptions, type ExportOnnxResult } from '../tools/export/export_onnx.js';
import { OnnxCausalLM } from '../tools/export/onnx_runner.js';
import { relErr } from './model_fixtures.js';

/**
 * Exports `model` (options as given; `quant` quantizes it in place) to `out` and checks the file on
 * onnxruntime-node against the same model run eagerly: batch-2 prefill of 7 tokens and two decode steps through
 * past/present to `tol` relative, then 8 greedy ids equal to eager generate's.
 */
export async function checkExport(model: CausalLM, out: string, options: Partial<ExportOnnxOptions> = {}, tol = 1e-4): Promise<ExportOnnxResult> {
  const r = exportOnnx(model, { out, ...options });
  expect(r.inputs.slice(0, 4)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key']);
  expect(r.outputs.slice(0, 3)).toEqual(['logits', 'present.0.key', 'present.0.value']);
  const c = model.newCache(2, 64);
  const onnx = await OnnxCausalLM.load(out, { layers: c.numLayers, kvHeads: c.kvHeads, headDim: c.headDim });
  // Prefill of two rows (batch 2, 7 tokens), then two decode steps through past/present.
  const rows = [
    [5, 17, 300, 41, 9, 77, 1000],
    [8, 2, 3000, 4, 4, 610, 12],
  ];
  const V = model.config.vocabSize;
  const batch = fromTypedArray(BigInt64Array.from(rows.flat(), (x) => BigInt(x % V)), [2, 7]);
  const e1 = model.forward(batch, { cache: c }).toTypedArray() as Float32Array;
  const o1 = await onnx.step(rows.map((r) => r.map((x) => x % V)));
  expect(o1.dims).toEqual([2, 7, model.config.vocabSize]);
  expect(relErr(o1.logits, e1)).toBeLessThan(tol);
  for (const next of [[[42 % V], [43 % V]], [[7 % V], [99 % V]]]) {
    const e = model.forward(fromTypedArray(BigInt64Array.from(next.flat(), BigInt), [2, 1]), { cache: c }).toTypedArray() as Float32Array;
    const o = await onnx.step(next);
    expect(relErr(o.logits, e)).toBeLessThan(tol);
  }
  expect(onnx.length).toBe(9);
  // Greedy ids through the graph = eager generate's.
  const prompt = rows[0]!.map((x) => x % V);
  const want = generate(model, prompt, { maxNewTokens: 8, ignoreEos: true }).ids;
  expect(await onnx.greedy(prompt, 8)).toEqual(want);
  await onnx.release();
  return r;
}
