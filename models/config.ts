/**
 * Model configs parsed from Hugging Face `config.json`, with every field the forward needs checked (a clear
 * error names the field and the file), plus presets of the public sizes for synthetic (random-weight) models.
 */
import { ArgumentError, CheckpointError } from '../core/errors.js';
import { JsonConfig, type Json } from './io/checkpoint.js';

export interface OptConfig {
  readonly modelType: 'opt';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly ffnDim: number;
  readonly maxPositions: number;
  /** Pre-LN (every size but 350m) or post-LN. */
  readonly layerNormBefore: boolean;
  /** Embedding width; ≠ hiddenSize means project_in/project_out linears (350m). */
  readonly wordEmbedProjDim: number;
  readonly enableBias: boolean;
  readonly removeFinalLayerNorm: boolean;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: number[];
}

export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}
/** Linear (position interpolation) scaling, as Hugging Face's "linear" rope type. */
export interface LinearRopeScaling {
  readonly type: 'linear';
  readonly factor: number;
}
export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

export interface LlamaConfig {
  readonly modelType: 'llama';
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | undefined;
  readonly tieWordEmbeddings: boolean;
  readonly attentionBias: boolean;
  readonly mlpBias: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: number[];
}

export type ModelConfig = OptConfig | LlamaConfig;
type Raw = Readonly<Record<string, Json>>;

/** A positive integer field (sizes); the error names the file and field. */
function positive(f: JsonConfig, key: string, fallback?: number): number {
  const v = f.int(key, fallback);
  if (v <= 0) throw new CheckpointError(f.file, `field '${key}' must be a positive integer, got ${v}`);
  return v;
}

function fail(f: JsonConfig, key: string, rule: string): never {
  throw new CheckpointError(f.file, `field '${key}' ${rule}`);
}

function parseOpt(f: JsonConfig): OptConfig {
  const hidden = positive(f, 'hidden_size');
  const heads = positive(f, 'num_attention_heads');
  if (hidden % heads !== 0) fail(f, 'hidden_size', `(${hidden}) must be divisible by num_attention_heads (${heads})`);
  const act = f.string('activation_function', 'relu');
  if (act !== 'relu') fail(f, 'activation_function', `"${String(act)}" is not supported (OPT uses relu)`);
  if (f.raw.layer_norm_elementwise_affine === false) fail(f, 'layer_norm_elementwise_affine', 'false is not supported');
  return {
    modelType: 'opt',
    vocabSize: positive(f, 'vocab_size'),
    hiddenSize: hidden,
    numLayers: positive(f, 'num_hidden_layers'),
    numHeads: heads,
    ffnDim: positive(f, 'ffn_dim'),
    maxPositions: positive(f, 'max_position_embeddings'),
    layerNormBefore: f.bool('do_layer_norm_before', true),
    wordEmbedProjDim: positive(f, 'word_embed_proj_dim', hidden),
    enableBias: f.bool('enable_bias', true),
    removeFinalLayerNorm: f.bool('_remove_final_layer_norm', false),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: f.optionalInt('bos_token_id'),
    eosTokenIds: f.ids('eos_token_id'),
  };
}

/** rope_scaling (transformers ≤ 4.x) or rope_parameters (v5), which also carries rope_theta. */
function parseRope(f: JsonConfig): { theta: number; scaling: RopeScaling | undefined } {
  const params = f.object('rope_parameters');
  const s = params ?? f.object('rope_scaling');
  const theta = params?.has('rope_theta') ? params.number('rope_theta') : f.number('rope_theta', 10000);
  if (!s) return { theta, scaling: undefined };
  const type = s.string('rope_type', s.string('type', 'default'));
  if (type === 'default') return { theta, scaling: undefined };
  if (type === 'llama3')
    return {
      theta,
      scaling: {
        type: 'llama3',
        factor: s.number('factor'),
        lowFreqFactor: s.number('low_freq_factor'),
        highFreqFactor: s.number('high_freq_factor'),
        originalMaxPositions: positive(s, 'original_max_position_embeddings'),
      },
    };
  if (type === 'linear') return { theta, scaling: { type: 'linear', factor: s.number('factor') } };
  return fail(s, 'rope_type', `"${String(type)}" is not supported (default, linear and llama3 are)`);
}

function parseLlama(f: JsonConfig): LlamaConfig {
  const hidden = positive(f, 'hidden_size');
  const heads = positive(f, 'num_attention_heads');
  const kv = positive(f, 'num_key_value_heads', heads);
  if (heads % kv !== 0) fail(f, 'num_key_value_heads', `(${kv}) must divide num_attention_heads (${heads})`);
  const headDim = positive(f, 'head_dim', hidden / heads);
  const act = f.string('hidden_act', 'silu');
  if (act !== 'silu') fail(f, 'hidden_act', `"${String(act)}" is not supported (Llama uses silu)`);
  const rope = parseRope(f);
  return {
    modelType: 'llama',
    vocabSize: positive(f, 'vocab_size'),
    hiddenSize: hidden,
    intermediateSize: positive(f, 'intermediate_size'),
    numLayers: positive(f, 'num_hidden_layers'),
    numHeads: heads,
    numKvHeads: kv,
    headDim,
    maxPositions: positive(f, 'max_position_embeddings'),
    rmsNormEps: f.number('rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    attentionBias: f.bool('attention_bias', false),
    mlpBias: f.bool('mlp_bias', false),
    bosTokenId: f.optionalInt('bos_token_id'),
    eosTokenIds: f.ids('eos_token_id'),
  };
}

/** The typed config of a `config.json` (read by openCheckpoint, or a preset's object). */
export function parseConfig(f: JsonConfig): ModelConfig {
  const type = f.string('model_type');
  if (type === 'opt') return parseOpt(f);
  if (type === 'llama' || type === 'mistral') return parseLlama(f);
  return fail(f, 'model_type', `"${type}" is not supported (opt, llama)`);
}

// ---- presets: the public sizes, as their config.json files give them ----

const opt = (hidden: number, layers: number, heads: number, extra: Raw = {}): Raw => ({
  model_type: 'opt',
  vocab_size: 50272,
  hidden_size: hidden,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  ffn_dim: 4 * hidden,
  max_position_embeddings: 2048,
  do_layer_norm_before: true,
  word_embed_proj_dim: hidden,
  bos_token_id: 2,
  eos_token_id: 2,
  ...extra,
});

const llama = (hidden: number, inter: number, layers: number, heads: number, kv: number, extra: Raw = {}): Raw => ({
  model_type: 'llama',
  vocab_size: 32000,
  hidden_size: hidden,
  intermediate_size: inter,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  num_key_value_heads: kv,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  bos_token_id: 1,
  eos_token_id: 2,
  ...extra,
});

const llama3Scaling = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

/** Raw config.json objects for `synthetic:<name>` models (real shapes, random weights). */
export const PRESETS: Readonly<Record<string, Raw>> = {
  'opt-125m': opt(768, 12, 12),
  'opt-350m': opt(1024, 24, 16, { do_layer_norm_before: false, word_embed_proj_dim: 512 }),
  'opt-1.3b': opt(2048, 24, 32),
  'opt-2.7b': opt(2560, 32, 32),
  'opt-6.7b': opt(4096, 32, 32),
  'opt-13b': opt(5120, 40, 40),
  'opt-30b': opt(7168, 48, 56),
  'tinyllama-1.1b': llama(2048, 5632, 22, 32, 4),
  'llama-2-7b': llama(4096, 11008, 32, 32, 32, { max_position_embeddings: 4096, rms_norm_eps: 1e-5 }),
  'llama-3.2-1b': llama(2048, 8192, 16, 32, 8, {
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rope_theta: 500000,
    rope_scaling: llama3Scaling,
    tie_word_embeddings: true,
    head_dim: 64,
    bos_token_id: 128000,
    eos_token_id: [128001, 128008, 128009],
  }),
  'llama-3.1-8b': llama(4096, 14336, 32, 32, 8, {
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rope_theta: 500000,
    rope_scaling: { ...llama3Scaling, factor: 8 },
    bos_token_id: 128000,
    eos_token_id: [128001, 128008, 128009],
  }),
};

export function presetConfig(name: string): ModelConfig {
  const raw = PRESETS[name];
  if (!raw) throw new ArgumentError(`synthetic:${name}: no such preset (${Object.keys(PRESETS).join(', ')})`);
  return parseConfig(new JsonConfig(`synthetic:${name}`, raw));
}
