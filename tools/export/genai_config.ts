/**
 * genai_config.json for ONNX Runtime GenAI (onnxruntime-genai's config.h fields): the decoder's file, its
 * input/output names (Optimum's), head geometry and search defaults. GenAI runs decoder-only models of the
 * types it knows with a KV cache; for anything else the reason is returned instead.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CausalLM } from '../../models/causal_lm.js';

/** Model types ONNX Runtime GenAI has a decoder for, among those opshift loads. */
const GENAI_TYPES = new Set(['llama', 'mistral', 'qwen2', 'phi3']);

export type GenaiConfig = Readonly<Record<string, unknown>>;

/** The config, or why none can be written. */
export function genaiConfig(model: CausalLM, filename: string, kvCache: boolean): GenaiConfig | string {
  const c = model.config;
  if (!kvCache) return 'ONNX Runtime GenAI needs a graph with past_key_values inputs (exported without --no-kv-cache)';
  if (!GENAI_TYPES.has(c.modelType)) return `ONNX Runtime GenAI has no decoder for model type '${c.modelType}'`;
  if (c.modelType === 'opt') return `ONNX Runtime GenAI has no decoder for model type 'opt'`;
  const eos = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
  return {
    model: {
      bos_token_id: c.bosTokenId ?? 0,
      context_length: c.maxPositions,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
        filename,
        head_size: c.headDim,
        hidden_size: c.hiddenSize,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          position_ids: 'position_ids',
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: { logits: 'logits', present_key_names: 'present.%d.key', present_value_names: 'present.%d.value' },
        num_attention_heads: c.numHeads,
        num_hidden_layers: c.numLayers,
        num_key_value_heads: c.numKvHeads,
      },
      eos_token_id: eos,
      pad_token_id: c.eosTokenIds[0] ?? 0,
      type: c.modelType,
      vocab_size: c.vocabSize,
    },
    search: { do_sample: false, max_length: c.maxPositions, num_beams: 1, num_return_sequences: 1, past_present_share_buffer: false, temperature: 1, top_k: 1, top_p: 1 },
  };
}

/** Tokenizer files ONNX Runtime GenAI reads from the model folder (og.Tokenizer), as Hugging Face names them. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

/** Copies the model folder's tokenizer files beside the exported graph; returns those copied. */
export function copyTokenizerFiles(fromDir: string, toDir: string): string[] {
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = join(fromDir, f);
    if (!existsSync(src) || resolve(src) === resolve(join(toDir, f))) continue;
    copyFileSync(src, join(toDir, f));
    copied.push(f);
  }
  return copied;
}
