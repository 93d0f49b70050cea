/**
 * Building a model from a Hugging Face folder (or a hub id, or `synthetic:<preset>`): parse config.json, build
 * the module tree, then fill it from the checkpoint, checking every name and shape. Accepts the name forms
 * found on the hub: with or without the `model.` prefix (OPT's original checkpoints use `decoder.…`), and an
 * `lm_head.weight` that a tied model does not need.
 */
import { demoModelDir } from './demo_models.js';
import type { DType } from '../core/dtype.js';
import { ArgumentError, CheckpointError } from '../core/errors.js';
import type { CausalLM } from './causal_lm.js';
import { parameterCount, parseConfig, presetConfig, type ModelConfig } from './config.js';
import { openCheckpoint, type Checkpoint } from './io/checkpoint.js';
import { Llama } from './llama.js';
import type { TensorSource } from './nn/module.js';
import { Opt } from './opt.js';
import { nameResolver, prepareQuantized, quantizedSource, quantMethod } from './quantize/checkpoint.js';

export interface LoadModelOptions {
  /** dtype the weights are kept in (default float32). */
  readonly dtype?: DType;
  /** Seed of the random weights of `synthetic:` models. */
  readonly seed?: number;
}

export function buildModel(config: ModelConfig): CausalLM {
  return config.modelType === 'opt' ? new Opt(config) : new Llama(config);
}

function checkpointSource(ck: Checkpoint): TensorSource {
  return {
    names: () => ck.names(),
    shape: (n) => ck.info(n).shape,
    load: (n, dtype) => ck.load(n, { dtype }),
    hostSource: (n, dtype) => ck.hostSource(n, dtype),
  };
}

/** The checkpoint's name for a module path: tries the path, then it without `model.`, then with it. */
function renamer(ck: Checkpoint): (path: string) => string | undefined {
  return (path) => {
    if (ck.has(path)) return path;
    const bare = path.startsWith('model.') ? path.slice('model.'.length) : undefined;
    if (bare !== undefined && ck.has(bare)) return bare;
    if (ck.has(`model.${path}`)) return `model.${path}`;
    return path;
  };
}

/**
 * The config's parameter count against what the checkpoint's headers declare, before any module is built or
 * byte allocated: a config.json that does not describe these weights fails here, naming both counts. A float
 * checkpoint must declare at least as many values as the model has parameters; a quantized one packs at most
 * two (int4) per byte, so its data bytes bound the count.
 */
export function checkParameterCount(ck: Checkpoint, config: ModelConfig, quantized: boolean): void {
  const expected = parameterCount(config);
  let values = 0;
  let bytes = 0;
  for (const n of ck.names()) {
    const t = ck.info(n);
    values += t.shape.reduce((a, b) => a * b, 1);
    bytes += t.byteLength;
  }
  const sizes = `${config.modelType}, hidden_size ${config.hiddenSize}, ${config.numLayers} layers, vocab_size ${config.vocabSize}`;
  if (!quantized && expected > values)
    throw new CheckpointError(ck.config.file, `describes a model of ${expected} parameters (${sizes}) but the checkpoint's tensors hold ${values} values: config.json does not match the weights`);
  if (quantized && expected > 2 * bytes)
    throw new CheckpointError(ck.config.file, `describes a model of ${expected} parameters (${sizes}) but the quantized checkpoint holds ${bytes} bytes (at most ${2 * bytes} int4 values): config.json does not match the weights`);
}

/** Load a model from an open checkpoint. */
export function loadFromCheckpoint(ck: Checkpoint, options: LoadModelOptions = {}): CausalLM {
  // Stop ids: generation_config.json's and config.json's together (HF generate reads the former).
  const config = { ...parseConfig(ck.config), eosTokenIds: [...ck.eosTokenIds] };
  // Quantized folders (opshift's or AutoAWQ's quantization_config): quantized linears become QLinears first.
  const method = quantMethod(ck.config.raw, ck.config.file);
  checkParameterCount(ck, config, method !== undefined);
  const model = buildModel(config);
  const tied = config.tieWordEmbeddings;
  const source = method ? quantizedSource(ck, method) : checkpointSource(ck);
  if (method) prepareQuantized(model, source, tied);
  const names = method ? new Set(source.names()) : undefined;
  model.loadStateDict(source, {
    dtype: options.dtype ?? 'float32',
    rename: names ? nameResolver((n) => names.has(n)) : renamer(ck),
    // Buffers HF saves but recomputes (rotary inv_freq), and a redundant lm_head in tied checkpoints.
    ignoreUnexpected: (n) => n.endsWith('.rotary_emb.inv_freq') || (tied && n === 'lm_head.weight'),
  });
  return model;
}

/**
 * `dir` (a Hugging Face model folder), `demo:<name>` (a demo model shipped with the package) or
 * `synthetic:<preset>` (real shapes, seeded random weights).
 * Hub ids are resolved to folders by models/io/hub.ts first (see resolveModelDir).
 */
export function loadModel(source: string, options: LoadModelOptions = {}): CausalLM {
  if (source.startsWith('demo:')) source = demoModelDir(source);
  if (source.startsWith('synthetic:')) {
    const model = buildModel(presetConfig(source.slice('synthetic:'.length)));
    return model.initRandom(options.seed ?? 0, options.dtype ?? 'float32');
  }
  if (source.length === 0) throw new ArgumentError('load_model: empty model path');
  const ck = openCheckpoint(source);
  try {
    return loadFromCheckpoint(ck, options);
  } finally {
    ck.close();
  }
}
