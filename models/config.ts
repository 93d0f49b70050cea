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
/**
 * Phi-3's LongRoPE (`longrope`, formerly `su`): per-frequency divisors, `shortFactor` while the sequence is at most
 * `originalMaxPositions` long and `longFactor` beyond, and cos/sin multiplied by `attentionFactor`.
 */
export interface LongRopeScaling {
  readonly type: 'longrope';
  readonly shortFactor: readonly number[];
  readonly longFactor: readonly number[];
  readonly originalMaxPositions: number;
  /** Given, or sqrt(1 + ln(factor) / ln(originalMaxPositions)) (1 when factor ≤ 1), as rope_utils computes it. */
  readonly attentionFactor: number;
}
export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | LongRopeScaling;

/** The Llama-shaped families: one forward (models/llama.ts) with the differences below as config fields. */
export type LlamaFamily = 'llama' | 'mistral' | 'qwen2' | 'phi3';

export interface LlamaConfig {
  readonly modelType: LlamaFamily;
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
  /** Biases on q/k/v (Llama's attention_bias: on o_proj too unless outputBias says otherwise; Qwen2: q/k/v only). */
  readonly attentionBias: boolean;
  /** Bias on o_proj; default attentionBias. */
  readonly outputBias?: boolean;
  readonly mlpBias: boolean;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: number[];
  /**
   * Sliding-window attention: a query at position p sees keys p - slidingWindow + 1 .. p (Hugging Face's
   * sliding_window_overlay, `kv_idx > q_idx - sliding_window`), on the layers `slidingLayers` marks (all when absent).
   */
  readonly slidingWindow?: number;
  readonly slidingLayers?: readonly boolean[];
  /** Phi-3: q/k/v in one `qkv_proj` and gate/up in one `gate_up_proj` (one GEMM each). */
  readonly fusedProjections?: boolean;
  /** Rotary dims = int(headDim * factor) (the first ones of each head); the rest pass through. Default 1. */
  readonly partialRotaryFactor?: number;
}

export type ModelConfig = OptConfig | LlamaConfig;
type Raw = Readonly<Record<string, Json>>;

/**
 * Upper bounds on the sizes config.json may declare, checked before anything is built or allocated (a
 * `num_hidden_layers: 1e6` would otherwise build a million layers, a `head_dim: 1e9` allocate gigabytes of
 * rotary tables). Each is well above the largest public OPT/Llama (Llama 3.1 405B: hidden 16384, 126 layers,
 * 128 heads, intermediate 53248, vocab 128256; context windows up to 10M positions).
 */
export const CONFIG_LIMITS: Readonly<Record<string, number>> = {
  hidden_size: 65_536,
  word_embed_proj_dim: 65_536,
  num_hidden_layers: 1024,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  vocab_size: 4_194_304,
  intermediate_size: 1_048_576,
  ffn_dim: 1_048_576,
  max_position_embeddings: 16_777_216,
  original_max_position_embeddings: 16_777_216,
  sliding_window: 16_777_216,
  max_window_layers: 1024,
};

/** A size field: an integer in 1..CONFIG_LIMITS[key]; the error names the file, the field and the bound. */
function size(f: JsonConfig, key: string, fallback?: number): number {
  const v = f.int(key, fallback);
  const max = CONFIG_LIMITS[key] ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(v) || v < 1 || v > max) fail(f, key, `must be an integer in 1..${max}, got ${v}`);
  return v;
}

/**
 * Ranges of the real-valued fields. rms_norm_eps only has to be > 0. The rotary tables are computed in
 * float32, so rope_theta below 1 (1e-300 rounds to 0, and 1/0^x is Inf) and rope factors near 0 (inv_freq /
 * 1e-300 is Inf) turn the forward into NaN; real models use theta 1e4 to 1e8 and factors 1 to 64.
 */
const REAL_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  rope_theta: [1, 1e30],
  factor: [1e-3, 1e6],
  low_freq_factor: [1e-3, 1e6],
  high_freq_factor: [1e-3, 1e6],
};

/** What a real-valued field breaks (rms_norm_eps, rope_theta, rope factors), or undefined. */
function realProblem(key: string, v: number): string | undefined {
  const range = REAL_RANGES[key];
  if (range) return v >= range[0] && v <= range[1] ? undefined : `must be a number in [${range[0]}, ${range[1]}], got ${v}`;
  return v > 0 && Number.isFinite(v) ? undefined : `must be a finite number > 0, got ${v}`;
}

function positiveReal(f: JsonConfig, key: string, fallback?: number): number {
  const v = f.number(key, fallback);
  const p = realProblem(key, v);
  if (p) fail(f, key, p);
  return v;
}

function fail(f: JsonConfig, key: string, rule: string): never {
  throw new CheckpointError(f.file, `field '${key}' ${rule}`);
}

/** What a typed config breaks, as (config.json field, rule), or undefined; shared by parseConfig and the model constructors. */
export function configProblem(c: ModelConfig): { field: string; rule: string } | undefined {
  const sizes: [string, number][] =
    c.modelType === 'opt'
      ? [['vocab_size', c.vocabSize], ['hidden_size', c.hiddenSize], ['num_hidden_layers', c.numLayers], ['num_attention_heads', c.numHeads], ['ffn_dim', c.ffnDim], ['max_position_embeddings', c.maxPositions], ['word_embed_proj_dim', c.wordEmbedProjDim]]
      : [['vocab_size', c.vocabSize], ['hidden_size', c.hiddenSize], ['num_hidden_layers', c.numLayers], ['num_attention_heads', c.numHeads], ['num_key_value_heads', c.numKvHeads], ['head_dim', c.headDim], ['intermediate_size', c.intermediateSize], ['max_position_embeddings', c.maxPositions]]; // prettier-ignore
  for (const [field, v] of sizes) {
    const max = CONFIG_LIMITS[field]!;
    if (!Number.isSafeInteger(v) || v < 1 || v > max) return { field, rule: `must be an integer in 1..${max}, got ${v}` };
  }
  if (c.modelType === 'opt') {
    if (c.hiddenSize % c.numHeads !== 0) return { field: 'hidden_size', rule: `(${c.hiddenSize}) must be divisible by num_attention_heads (${c.numHeads})` };
    return undefined;
  }
  if (c.numHeads % c.numKvHeads !== 0) return { field: 'num_key_value_heads', rule: `(${c.numKvHeads}) must divide num_attention_heads (${c.numHeads})` };
  // Rotary embeddings rotate pairs of channels: an odd head_dim has no pairing.
  if (c.headDim % 2 !== 0) return { field: 'head_dim', rule: `(${c.headDim}) must be even for rotary embeddings` };
  const reals: [string, string, number][] = [['rms_norm_eps', 'rms_norm_eps', c.rmsNormEps], ['rope_theta', 'rope_theta', c.ropeTheta]];
  const s = c.ropeScaling;
  if (s && s.type !== 'longrope') reals.push(['rope_scaling.factor', 'factor', s.factor]);
  if (s?.type === 'llama3') reals.push(['rope_scaling.low_freq_factor', 'low_freq_factor', s.lowFreqFactor], ['rope_scaling.high_freq_factor', 'high_freq_factor', s.highFreqFactor]);
  for (const [field, key, v] of reals) {
    const rule = realProblem(key, v);
    if (rule) return { field, rule };
  }
  if (s) {
    if (s.type === 'llama3') {
      // The smoothing divides by high - low: equal factors give 0/0.
      if (!(s.highFreqFactor > s.lowFreqFactor))
        return { field: 'rope_scaling.high_freq_factor', rule: `(${s.highFreqFactor}) must be greater than low_freq_factor (${s.lowFreqFactor})` };
      const max = CONFIG_LIMITS.original_max_position_embeddings!;
      if (!Number.isSafeInteger(s.originalMaxPositions) || s.originalMaxPositions < 1 || s.originalMaxPositions > max)
        return { field: 'rope_scaling.original_max_position_embeddings', rule: `must be an integer in 1..${max}, got ${s.originalMaxPositions}` };
    }
  }
  return familyProblem(c);
}

/** The rules of the fields only some Llama-shaped families have (sliding window, partial rotary, LongRoPE). */
function familyProblem(c: LlamaConfig): { field: string; rule: string } | undefined {
  const w = c.slidingWindow;
  const maxW = CONFIG_LIMITS.sliding_window!;
  if (w !== undefined && (!Number.isSafeInteger(w) || w < 1 || w > maxW)) return { field: 'sliding_window', rule: `must be an integer in 1..${maxW} or null, got ${w}` };
  if (c.slidingLayers !== undefined && c.slidingLayers.length !== c.numLayers)
    return { field: 'layer_types', rule: `must list one type per layer (${c.numLayers}), got ${c.slidingLayers.length}` };
  const prf = c.partialRotaryFactor ?? 1;
  if (!(prf > 0 && prf <= 1)) return { field: 'partial_rotary_factor', rule: `must be a number in (0, 1], got ${prf}` };
  const rot = rotaryDim(c);
  // rotate_half pairs channel i with i + dim/2: the rotated part must be even and non-empty.
  if (rot < 2 || rot % 2 !== 0) return { field: 'partial_rotary_factor', rule: `(${prf}) gives ${rot} rotary dims of head_dim ${c.headDim}; they must be even and at least 2` };
  const s = c.ropeScaling;
  if (s?.type === 'longrope') {
    for (const [field, f] of [['rope_scaling.short_factor', s.shortFactor], ['rope_scaling.long_factor', s.longFactor]] as const) {
      if (f.length !== rot / 2) return { field, rule: `must have ${rot / 2} entries (rotary dims / 2), got ${f.length}` };
      const bad = f.find((v) => realProblem('factor', v) !== undefined);
      if (bad !== undefined) return { field, rule: `entries ${realProblem('factor', bad)!}` };
    }
    const max = CONFIG_LIMITS.original_max_position_embeddings!;
    if (!Number.isSafeInteger(s.originalMaxPositions) || s.originalMaxPositions < 1 || s.originalMaxPositions > max)
      return { field: 'original_max_position_embeddings', rule: `must be an integer in 1..${max}, got ${s.originalMaxPositions}` };
    const ap = realProblem('attention_factor', s.attentionFactor);
    if (ap) return { field: 'rope_scaling.attention_factor', rule: ap };
  }
  return undefined;
}

/** Channels of each head that rotary embeddings rotate: int(head_dim * partial_rotary_factor), as Hugging Face. */
export function rotaryDim(c: LlamaConfig): number {
  return Math.floor(c.headDim * (c.partialRotaryFactor ?? 1));
}

/** Throws an ArgumentError naming the field when a typed config (a preset, a hand-built one) breaks a rule. */
export function checkConfig(c: ModelConfig, where: string): void {
  const p = configProblem(c);
  if (p) throw new ArgumentError(`${where}: config field '${p.field}' ${p.rule}`);
}

/**
 * The number of parameters a config describes, from the config alone (no module is built): checked against
 * the values the checkpoint declares before anything is allocated. Equal to buildModel(c).numParameters().
 */
export function parameterCount(c: ModelConfig): number {
  if (c.modelType === 'opt') {
    const { vocabSize: V, hiddenSize: C, ffnDim: F, wordEmbedProjDim: E } = c;
    const b = c.enableBias ? 1 : 0;
    const layer = 4 * (C * C + b * C) + 2 * 2 * C + (C * F + b * F) + (F * C + b * C);
    let n = V * E + (c.maxPositions + 2) * C + c.numLayers * layer;
    if (E !== C) n += 2 * C * E;
    if (c.layerNormBefore && !c.removeFinalLayerNorm) n += 2 * C;
    if (!c.tieWordEmbeddings) n += E * V;
    return n;
  }
  const { vocabSize: V, hiddenSize: C, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = c;
  const ab = c.attentionBias ? 1 : 0;
  const mb = c.mlpBias ? 1 : 0;
  const ob = (c.outputBias ?? c.attentionBias) ? 1 : 0;
  const attn = C * H * D + ab * H * D + 2 * (C * KV * D + ab * KV * D) + H * D * C + ob * C;
  const mlp = 2 * (C * I + mb * I) + I * C + mb * C;
  return V * C + c.numLayers * (attn + mlp + 2 * C) + C + (c.tieWordEmbeddings ? 0 : C * V);
}

function parseOpt(f: JsonConfig): OptConfig {
  const hidden = size(f, 'hidden_size');
  const heads = size(f, 'num_attention_heads');
  if (hidden % heads !== 0) fail(f, 'hidden_size', `(${hidden}) must be divisible by num_attention_heads (${heads})`);
  const act = f.string('activation_function', 'relu');
  if (act !== 'relu') fail(f, 'activation_function', `"${String(act)}" is not supported (OPT uses relu)`);
  if (f.raw.layer_norm_elementwise_affine === false) fail(f, 'layer_norm_elementwise_affine', 'false is not supported');
  return {
    modelType: 'opt',
    vocabSize: size(f, 'vocab_size'),
    hiddenSize: hidden,
    numLayers: size(f, 'num_hidden_layers'),
    numHeads: heads,
    ffnDim: size(f, 'ffn_dim'),
    maxPositions: size(f, 'max_position_embeddings'),
    layerNormBefore: f.bool('do_layer_norm_before', true),
    wordEmbedProjDim: size(f, 'word_embed_proj_dim', hidden),
    enableBias: f.bool('enable_bias', true),
    removeFinalLayerNorm: f.bool('_remove_final_layer_norm', false),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    bosTokenId: f.optionalInt('bos_token_id'),
    eosTokenIds: f.ids('eos_token_id'),
  };
}

/** A list of rope factors (LongRoPE's short_factor/long_factor), each in the rope factor range. */
function factorList(f: JsonConfig, key: string): number[] {
  const v = f.raw[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) fail(f, key, `must be a list of numbers, got ${JSON.stringify(v)?.slice(0, 60)}`);
  const xs = v as number[];
  for (const x of xs) {
    const p = realProblem('factor', x);
    if (p) fail(f, key, `entries ${p}`);
  }
  return xs;
}

/**
 * Phi-3's LongRoPE parameters as rope_utils' `_compute_longrope_parameters` reads them: the top-level
 * original_max_position_embeddings wins over the rope dict's (standardize_rope_params), factor defaults to
 * max_position_embeddings / original, attention_factor to sqrt(1 + ln(factor) / ln(original)).
 */
function parseLongRope(f: JsonConfig, s: JsonConfig): LongRopeScaling {
  const maxPos = size(f, 'max_position_embeddings');
  const original = f.has('original_max_position_embeddings')
    ? size(f, 'original_max_position_embeddings')
    : size(s, 'original_max_position_embeddings', maxPos);
  const factor = s.has('factor') ? positiveReal(s, 'factor') : maxPos / original;
  const attentionFactor = s.has('attention_factor')
    ? positiveReal(s, 'attention_factor')
    : factor <= 1
      ? 1
      : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { type: 'longrope', shortFactor: factorList(s, 'short_factor'), longFactor: factorList(s, 'long_factor'), originalMaxPositions: original, attentionFactor };
}

/** rope_scaling (transformers ≤ 4.x) or rope_parameters (v5), which also carries rope_theta. */
function parseRope(f: JsonConfig, family: LlamaFamily): { theta: number; scaling: RopeScaling | undefined } {
  const params = f.object('rope_parameters');
  const s = params ?? f.object('rope_scaling');
  const theta = params?.has('rope_theta') ? positiveReal(params, 'rope_theta') : positiveReal(f, 'rope_theta', 10000);
  if (!s) return { theta, scaling: undefined };
  let type = s.string('rope_type', s.string('type', 'default'));
  // Phi3Config renames the older names to longrope (configuration_phi3.py, convert_rope_params_to_dict).
  if (family === 'phi3' && (type === 'su' || type === 'yarn')) type = 'longrope';
  if (type === 'default') return { theta, scaling: undefined };
  // Only Phi-3's generation drops the cache when the factors switch; elsewhere cached keys would keep stale ones.
  if (type === 'longrope') {
    if (family !== 'phi3') return fail(s, 'rope_type', `"longrope" is supported for phi3 only (model_type ${family})`);
    return { theta, scaling: parseLongRope(f, s) };
  }
  if (type === 'llama3') {
    const lowFreqFactor = positiveReal(s, 'low_freq_factor');
    const highFreqFactor = positiveReal(s, 'high_freq_factor');
    if (!(highFreqFactor > lowFreqFactor)) fail(s, 'high_freq_factor', `(${highFreqFactor}) must be greater than low_freq_factor (${lowFreqFactor})`);
    return {
      theta,
      scaling: { type: 'llama3', factor: positiveReal(s, 'factor'), lowFreqFactor, highFreqFactor, originalMaxPositions: size(s, 'original_max_position_embeddings') },
    };
  }
  if (type === 'linear') return { theta, scaling: { type: 'linear', factor: positiveReal(s, 'factor') } };
  if (family === 'phi3') return fail(s, 'rope_type', `"${String(type)}" is not supported for phi3 (default, longrope and its older names su and yarn are)`);
  return fail(s, 'rope_type', `"${String(type)}" is not supported (default, linear and llama3 are)`);
}

/**
 * Which layers slide, as Hugging Face's configs decide: Mistral and Phi-3 every layer when sliding_window is set;
 * Qwen2 only with use_sliding_window, then layer_types if given, else the layers from max_window_layers on.
 */
function parseSliding(f: JsonConfig, family: LlamaFamily, numLayers: number): { slidingWindow?: number; slidingLayers?: boolean[] } {
  if (family === 'llama') return {};
  if (family === 'qwen2' && !f.bool('use_sliding_window', false)) return {};
  if (!f.has('sliding_window')) return {};
  const slidingWindow = size(f, 'sliding_window');
  if (family !== 'qwen2') return { slidingWindow };
  if (f.has('layer_types')) {
    const t = f.raw.layer_types;
    if (!Array.isArray(t) || !t.every((x) => x === 'sliding_attention' || x === 'full_attention'))
      fail(f, 'layer_types', `must be a list of "sliding_attention" / "full_attention", got ${JSON.stringify(t)?.slice(0, 60)}`);
    if (t.length !== numLayers) fail(f, 'layer_types', `must list one type per layer (${numLayers}), got ${t.length}`);
    return { slidingWindow, slidingLayers: t.map((x) => x === 'sliding_attention') };
  }
  const first = f.has('max_window_layers') ? f.int('max_window_layers') : 28;
  if (!Number.isSafeInteger(first) || first < 0) fail(f, 'max_window_layers', `must be an integer >= 0, got ${first}`);
  return { slidingWindow, slidingLayers: Array.from({ length: numLayers }, (_, i) => i >= first) };
}

function parseLlama(f: JsonConfig, family: LlamaFamily): LlamaConfig {
  const hidden = size(f, 'hidden_size');
  const heads = size(f, 'num_attention_heads');
  const kv = size(f, 'num_key_value_heads', heads);
  if (heads % kv !== 0) fail(f, 'num_key_value_heads', `(${kv}) must divide num_attention_heads (${heads})`);
  // Without head_dim, heads split hidden_size evenly (a fractional head_dim would reach the tensor code as a size).
  if (!f.has('head_dim') && hidden % heads !== 0)
    fail(f, 'hidden_size', `(${hidden}) must be divisible by num_attention_heads (${heads}) when head_dim is not given`);
  const headDim = size(f, 'head_dim', hidden / heads);
  if (headDim % 2 !== 0) fail(f, 'head_dim', `(${headDim}) must be even for rotary embeddings`);
  const act = f.string('hidden_act', 'silu');
  if (act !== 'silu') fail(f, 'hidden_act', `"${String(act)}" is not supported (Llama uses silu)`);
  const rope = parseRope(f, family);
  const numLayers = size(f, 'num_hidden_layers');
  const params = f.object('rope_parameters');
  const prfSource = params?.has('partial_rotary_factor') ? params : f;
  const partialRotaryFactor = prfSource.has('partial_rotary_factor') ? prfSource.number('partial_rotary_factor') : 1;
  if (!(partialRotaryFactor > 0 && partialRotaryFactor <= 1)) fail(prfSource, 'partial_rotary_factor', `must be a number in (0, 1], got ${partialRotaryFactor}`);
  // Qwen2: q/k/v always carry a bias, o_proj never (modeling_qwen2.py); Phi-3: no biases at all.
  const attentionBias = family === 'qwen2' ? true : family === 'phi3' ? false : f.bool('attention_bias', false);
  const outputBias = family === 'qwen2' || family === 'phi3' ? false : attentionBias;
  return {
    modelType: family,
    vocabSize: size(f, 'vocab_size'),
    hiddenSize: hidden,
    intermediateSize: size(f, 'intermediate_size'),
    numLayers,
    numHeads: heads,
    numKvHeads: kv,
    headDim,
    maxPositions: size(f, 'max_position_embeddings'),
    rmsNormEps: positiveReal(f, 'rms_norm_eps', 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    attentionBias,
    outputBias,
    mlpBias: family === 'llama' ? f.bool('mlp_bias', false) : false,
    bosTokenId: f.optionalInt('bos_token_id'),
    eosTokenIds: f.ids('eos_token_id'),
    ...parseSliding(f, family, numLayers),
    fusedProjections: family === 'phi3',
    partialRotaryFactor,
  };
}

/** model_type values loadModel builds; anything else is refused by name. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = ['opt', 'llama', 'mistral', 'qwen2', 'phi3'];

/** The typed config of a `config.json` (read by openCheckpoint, or a preset's object). */
export function parseConfig(f: JsonConfig): ModelConfig {
  const type = f.string('model_type');
  let c: ModelConfig;
  if (type === 'opt') c = parseOpt(f);
  else if (type === 'llama' || type === 'mistral' || type === 'qwen2' || type === 'phi3') c = parseLlama(f, type);
  else return fail(f, 'model_type', `"${type}" is not supported (${SUPPORTED_MODEL_TYPES.join(', ')})`);
  // The parsers check each field as they read it; this repeats the cross-field rules on the typed result.
  const p = configProblem(c);
  if (p) fail(f, p.field, p.rule);
  return c;
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
  // Qwen2-1.5B / DeepSeek-R1-Distill-Qwen-1.5B and Qwen2-7B shapes (sliding window off, as their configs ship).
  'qwen2-1.5b': llama(1536, 8960, 28, 12, 2, {
    model_type: 'qwen2',
    vocab_size: 151936,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    use_sliding_window: false,
    sliding_window: 131072,
    max_window_layers: 28,
    bos_token_id: 151643,
    eos_token_id: 151643,
  }),
  'qwen2-7b': llama(3584, 18944, 28, 28, 4, {
    model_type: 'qwen2',
    vocab_size: 152064,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    use_sliding_window: false,
    sliding_window: 131072,
    max_window_layers: 28,
    bos_token_id: 151643,
    eos_token_id: 151643,
  }),
  // Mistral-7B v0.3 (no sliding window) and v0.1 (a 4096-position window).
  'mistral-7b': llama(4096, 14336, 32, 32, 8, { model_type: 'mistral', vocab_size: 32768, max_position_embeddings: 32768, rope_theta: 1000000, sliding_window: null }),
  'mistral-7b-v0.1': llama(4096, 14336, 32, 32, 8, { model_type: 'mistral', max_position_embeddings: 32768, sliding_window: 4096 }),
  // Phi-3-mini-4k-instruct: fused qkv/gate_up, a 2047-position window, no rope scaling.
  'phi3-mini': llama(3072, 8192, 32, 32, 32, {
    model_type: 'phi3',
    vocab_size: 32064,
    max_position_embeddings: 4096,
    original_max_position_embeddings: 4096,
    sliding_window: 2047,
    eos_token_id: 32000,
  }),
};

export function presetConfig(name: string): ModelConfig {
  const raw = PRESETS[name];
  if (!raw) throw new ArgumentError(`synthetic:${name}: no such preset (${Object.keys(PRESETS).join(', ')})`);
  return parseConfig(new JsonConfig(`synthetic:${name}`, raw));
}
