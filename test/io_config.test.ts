/**
 * config.json cannot hurt opshift (issue #15 item 4): every size is bounded and every cross-field rule is
 * checked before anything is built or allocated, each failure a CheckpointError naming config.json, the field
 * and the rule; the config's parameter count is checked against the checkpoint's tensors before building.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, CheckpointError, fromTypedArray, type Tensor } from '../core/index.js';
import { parameterCount, parseConfig, PRESETS, presetConfig, type LlamaConfig, type ModelConfig } from '../models/config.js';
import { JsonConfig, saveCheckpoint } from '../models/io/checkpoint.js';
import { Llama } from '../models/llama.js';
import { buildModel, loadModel } from '../models/load.js';
import { Opt } from '../models/opt.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const llamaConfig = {
  model_type: 'llama',
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
};

/** The typed config of a raw config.json object. */
function parseRaw(raw: Record<string, unknown>): ModelConfig {
  return parseConfig(new JsonConfig('config.json', raw));
}

/** A tiny Llama folder with seeded random weights matching `llamaConfig`. */
function folder(name: string): string {
  const dir = path.join(tmp, name);
  const m = buildModel(parseRaw(llamaConfig)).initRandom(1);
  const tensors = new Map<string, Tensor>();
  for (const [n, p] of m.namedParameters()) tensors.set(n, p.value);
  saveCheckpoint(dir, tensors, llamaConfig);
  return dir;
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

const base = folder('base');

/** Loads `base`'s weights under an edited config.json; returns the error and how long it took. */
function loadWith(edit: Record<string, unknown>): { err: Error; ms: number } {
  const dir = path.join(tmp, `edit-${Object.keys(edit).join('-')}-${Math.random().toString(36).slice(2)}`);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(base, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...llamaConfig, ...edit }));
  const t0 = performance.now();
  const err = errorOf(() => loadModel(dir));
  return { err, ms: performance.now() - t0 };
}

describe('config.json rules (issue #15.4)', () => {
  it('the base folder loads (the edits below are what breaks it)', () => {
    const m = loadModel(base);
    expect(m.config.numLayers).toBe(2);
  });

  // Each case from the issue: before, these ran for a minute, allocated a GB, or failed deep in tensor code.
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ num_hidden_layers: 1e6 }, /field 'num_hidden_layers' must be an integer in 1\.\.1024, got 1000000/],
    [{ head_dim: 1e9 }, /field 'head_dim' must be an integer in 1\.\.1024, got 1000000000/],
    [{ hidden_size: 1e9 }, /field 'hidden_size' must be an integer in 1\.\.65536, got 1000000000/],
    [{ num_attention_heads: 32, hidden_size: 496 }, /field 'hidden_size' \(496\) must be divisible by num_attention_heads \(32\) when head_dim is not given/],
    [{ num_attention_heads: 4, num_key_value_heads: 3 }, /field 'num_key_value_heads' \(3\) must divide num_attention_heads \(4\)/],
    [{ head_dim: 5 }, /field 'head_dim' \(5\) must be even for rotary embeddings/],
    [{ rope_theta: 0 }, /field 'rope_theta' must be a number in \[1, 1e\+30\], got 0/],
    [{ rope_theta: -10000 }, /field 'rope_theta' must be a number in \[1, 1e\+30\], got -10000/],
    // Positive but NaN all the same: 1e-300 rounds to 0 in the float32 rotary tables.
    [{ rope_theta: 1e-300 }, /field 'rope_theta' must be a number in \[1, 1e\+30\], got 1e-300/],
    [{ rope_scaling: { rope_type: 'linear', factor: 1e-300 } }, /field 'factor' must be a number in \[0\.001, 1000000\], got 1e-300/],
    [{ rms_norm_eps: 0 }, /field 'rms_norm_eps' must be a finite number > 0, got 0/],
    [{ rope_scaling: { rope_type: 'linear', factor: 0 } }, /config\.json \(rope_scaling\): field 'factor' must be a number in \[0\.001, 1000000\], got 0/],
    [{ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 2, high_freq_factor: 2, original_max_position_embeddings: 64 } }, /field 'high_freq_factor' \(2\) must be greater than low_freq_factor \(2\)/],
    [{ rope_parameters: { rope_type: 'default', rope_theta: -1 } }, /\(rope_parameters\): field 'rope_theta' must be a number in \[1, 1e\+30\], got -1/],
    [{ vocab_size: 5e6 }, /field 'vocab_size' must be an integer in 1\.\.4194304/],
    [{ intermediate_size: 0 }, /field 'intermediate_size' must be an integer in 1\.\.1048576, got 0/],
    [{ max_position_embeddings: 2 ** 40 }, /field 'max_position_embeddings' must be an integer in 1\.\.16777216/],
    [{ num_attention_heads: 4.5 }, /field 'num_attention_heads' must be an integer, got 4\.5/],
  ];
  for (const [edit, rule] of cases)
    it(`${JSON.stringify(edit)} fails at once, naming config.json and the field`, () => {
      const { err, ms } = loadWith(edit);
      expect(err).toBeInstanceOf(CheckpointError);
      expect(err.message).toMatch(/config\.json/);
      expect(err.message).toMatch(rule);
      expect(ms).toBeLessThan(2000);
    });

  it('a config that does not describe the weights fails on the parameter count, before building', () => {
    // Valid sizes, but far more parameters than the file holds: caught before any layer is built or loaded.
    const { err, ms } = loadWith({ num_hidden_layers: 1000, vocab_size: 400000 });
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toMatch(/config\.json: describes a model of \d+ parameters \(llama, hidden_size 16, 1000 layers, vocab_size 400000\) but the checkpoint's tensors hold \d+ values: config\.json does not match the weights/);
    expect(ms).toBeLessThan(2000);
  });

  it('parameterCount(config) is exactly what the built model holds, for every preset and variant', () => {
    for (const name of Object.keys(PRESETS)) {
      const c = presetConfig(name);
      expect(parameterCount(c), name).toBe(buildModel(c).numParameters());
    }
    const variants: Record<string, unknown>[] = [
      llamaConfig,
      { ...llamaConfig, attention_bias: true, mlp_bias: true, tie_word_embeddings: true, head_dim: 8 },
      { model_type: 'opt', vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, ffn_dim: 32, max_position_embeddings: 20, word_embed_proj_dim: 8, do_layer_norm_before: false },
      { model_type: 'opt', vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, ffn_dim: 32, max_position_embeddings: 20, enable_bias: false, tie_word_embeddings: false },
    ];
    for (const v of variants) {
      const c = parseRaw(v);
      expect(parameterCount(c), JSON.stringify(v)).toBe(buildModel(c).numParameters());
    }
  });

  it('hand-built configs get the same rules from the model constructors (ArgumentError naming the field)', () => {
    const c = presetConfig('tinyllama-1.1b') as LlamaConfig;
    expect(() => new Llama({ ...c, headDim: 15 })).toThrow(ArgumentError);
    expect(errorOf(() => new Llama({ ...c, headDim: 15 })).message).toMatch(/llama: config field 'head_dim' \(15\) must be even for rotary embeddings/);
    expect(errorOf(() => new Llama({ ...c, ropeTheta: 0 })).message).toMatch(/config field 'rope_theta' must be a number in \[1, 1e\+30\], got 0/);
    expect(errorOf(() => new Llama({ ...c, rmsNormEps: 0 })).message).toMatch(/config field 'rms_norm_eps' must be a finite number > 0, got 0/);
    expect(errorOf(() => new Llama({ ...c, numLayers: 1e6 })).message).toMatch(/config field 'num_hidden_layers' must be an integer in 1\.\.1024/);
    const o = presetConfig('opt-125m');
    expect(errorOf(() => new Opt({ ...(o as Extract<ModelConfig, { modelType: 'opt' }>), numHeads: 7 })).message).toMatch(/opt: config field 'hidden_size' \(768\) must be divisible by num_attention_heads \(7\)/);
  });

  it('a valid folder still loads and runs with finite logits', () => {
    const m = loadModel(base);
    const logits = m.forward(fromTypedArray(BigInt64Array.from([1n, 2n]), [1, 2])).toTypedArray() as Float32Array;
    expect(logits.length).toBe(2 * 32);
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});
