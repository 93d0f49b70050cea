/**
 * Issue #21: exportOnnx for every model family opshift runs, on synthetic tiny models (random weights, the
 * fixture configs' shapes): a TinyLlama-shaped Llama (GQA), Llama 3 rope scaling, Mistral and Qwen2 without a
 * binding window, Phi-3 (fused qkv/gate_up, partial rotary), post-LN OPT with project_in/out; each file on
 * onnxruntime-node gives eager's logits (1e-4 relative) in prefill and decode and eager's greedy ids, also with
 * sliding windows shorter than the context. Models the graph cannot follow (LongRoPE) are refused with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../models/config.js';
import { JsonConfig, type Json } from '../models/io/checkpoint.js';
import { buildModel } from '../models/load.js';
import type { CausalLM } from '../models/causal_lm.js';
import { exportOnnx } from '../tools/export/export_onnx.js';
import { checkExport } from './export_helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'opshift-export-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { vocab_size: 96, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 128, rms_norm_eps: 1e-6, torch_dtype: 'float32' };
const synthetic = (raw: Record<string, Json>, seed: number): CausalLM => {
  const model = buildModel(parseConfig(new JsonConfig('config.json', raw)));
  model.initRandom(seed);
  return model;
};

const FAMILIES: { name: string; raw: Record<string, Json> }[] = [
  { name: 'tinyllama-shaped', raw: { ...base, model_type: 'llama', hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 2, intermediate_size: 176 } },
  {
    name: 'llama3-rope-scaling',
    raw: { ...base, model_type: 'llama', num_key_value_heads: 2, head_dim: 8, rope_theta: 500000, tie_word_embeddings: true, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
  },
  { name: 'mistral', raw: { ...base, model_type: 'mistral', num_key_value_heads: 2, sliding_window: null } },
  { name: 'qwen2-biases', raw: { ...base, model_type: 'qwen2', num_key_value_heads: 2, rope_theta: 1e6, tie_word_embeddings: true, use_sliding_window: false } },
  { name: 'phi3-fused-partial-rotary', raw: { ...base, model_type: 'phi3', num_key_value_heads: 4, partial_rotary_factor: 0.75, sliding_window: null, max_position_embeddings: 64 } },
  { name: 'opt-postln-proj', raw: { ...base, model_type: 'opt', ffn_dim: 64, do_layer_norm_before: false, word_embed_proj_dim: 16, enable_bias: true, max_position_embeddings: 64, tie_word_embeddings: true } },
];

describe.each(FAMILIES)('exportOnnx: synthetic $name (fp32)', ({ name, raw }) => {
  it('matches eager in prefill and decode (1e-4 relative) and in greedy ids', async () => {
    const model = synthetic(raw, 7);
    const r = await checkExport(model, join(dir, `${name}.onnx`));
    expect(r.genaiSkipped === undefined).toBe(raw.model_type !== 'opt');
  }, 60_000);
});

describe('exportOnnx: sliding windows shorter than the context', () => {
  // The graph keeps every key in present.* and masks the ones outside each layer's window; eager drops them
  // from a rolling buffer. Prefill 7, decode to 9 and 8 greedy steps (15 positions) cross the window.
  it('mistral, window 6 on every layer', async () => {
    await checkExport(synthetic({ ...base, model_type: 'mistral', num_key_value_heads: 2, sliding_window: 6 }, 3), join(dir, 'sw-mistral.onnx'));
  }, 60_000);
  it('qwen2, window 5 on layers from max_window_layers 1 (full attention below)', async () => {
    const raw = { ...base, model_type: 'qwen2', num_key_value_heads: 2, use_sliding_window: true, sliding_window: 5, max_window_layers: 1 };
    await checkExport(synthetic(raw, 4), join(dir, 'sw-qwen2.onnx'));
  }, 60_000);
});

describe('exportOnnx refuses what a graph cannot follow', () => {

  it("LongRoPE's size-dependent switch", () => {
    const raw = { ...base, model_type: 'phi3', num_key_value_heads: 4, max_position_embeddings: 64, original_max_position_embeddings: 16, sliding_window: null };
    const model = synthetic({ ...raw, rope_scaling: { type: 'su', short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2] } }, 1);
    expect(() => exportOnnx(model, { out: join(dir, 'lr.onnx') })).toThrow(/phi3 switches its rotary factors \(LongRoPE\) past 16 positions/);
  });
});
