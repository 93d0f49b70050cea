/**
 * Mistral (sliding window), Qwen2 (q/k/v biases, per-layer window) and Phi-3 (fused qkv/gate_up, partial rotary,
 * LongRoPE under its older name "su") against the plain-PyTorch reference of test/fixtures/make_models.py
 * (tools/peers/hf_reference.py's family_forward, which follows the Hugging Face modeling files): last-position
 * logits to 1e-4 relative, 12-token greedy continuations exactly, cached = uncached across the window's edge and
 * the LongRoPE switch, in prefill, in chunks and in decode; config rules for the new fields.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromTypedArray, type Tensor } from '../core/index.js';
import { generate, idsTensor as ids } from '../models/generate.js';
import { buildModel, loadModel } from '../models/load.js';
import { parseConfig, parameterCount, presetConfig, type LlamaConfig } from '../models/config.js';
import { JsonConfig, type Json } from '../models/io/checkpoint.js';
import { KVCache } from '../models/kv_cache.js';
import { Llama } from '../models/llama.js';
import { mapSource } from '../models/nn/module.js';
import { MODEL_FIXTURES as FIXTURES, readGolden, relErr } from './model_fixtures.js';

const rowAt = (logits: Tensor, t: number): Float32Array => logits.narrow(1, t, 1).contiguous().toTypedArray() as Float32Array;

const FAMILIES = [
  { name: 'mistral-sw8', type: 'mistral' },
  { name: 'qwen2-sw6', type: 'qwen2' },
  { name: 'phi3-su-partial', type: 'phi3' },
];

describe.each(FAMILIES)('$name', ({ name, type }) => {
  const dir = join(FIXTURES, name);
  const golden = readGolden(dir);
  const model = loadModel(dir);

  it(`loads as ${type}`, () => {
    expect(model.config.modelType).toBe(type);
  });

  it('last-position logits match the PyTorch reference to 1e-4 relative', () => {
    golden.prompts.forEach((p, i) => {
      const logits = model.forward(ids(p)); // (1, T, V)
      expect(relErr(rowAt(logits, p.length - 1), golden.last_logits[i]!)).toBeLessThan(1e-4);
    });
  });

  it('greedy continuations (12 tokens, through the KV cache) match exactly', () => {
    golden.prompts.forEach((p, i) => {
      const r = generate(model, p, { maxNewTokens: 12, ignoreEos: true });
      expect(r.ids).toEqual(golden.greedy[i]);
    });
  });

  it('cached = uncached at every position: prefill 3, a chunk of 9, then one token at a time', () => {
    // 33 tokens: past the windows (6, 8, 10) and Phi-3's original_max_position_embeddings (16) several times over.
    const p = golden.prompts[3]!;
    const long = model.config.modelType === 'phi3' && p.length > 16;
    const full = model.forward(ids(p)); // (1, 33, V)
    if (long) {
      // LongRoPE picks its factors from the longest position of the call, as HF: keys cached while the sequence
      // was short are stale past the switch, so the forward that crosses it re-runs everything (a prefill chunk
      // here, a decode step in generate) and its logits are the uncached ones.
      const cache = model.newCache(1, p.length);
      model.forward(ids(p.slice(0, 12)), { cache });
      const crossing = model.forward(ids(p.slice(12, 20)), { cache }); // positions 12..19 of 20
      const ref = model.forward(ids(p.slice(0, 20)));
      for (let t = 12; t < 20; t++) expect(relErr(rowAt(crossing, t - 12), rowAt(ref, t))).toBeLessThan(1e-5);
      expect(cache.length).toBe(20);
      for (let t = 20; t < p.length; t++) {
        const step = model.forward(ids([p[t]!]), { cache, lastOnly: true });
        expect(relErr(rowAt(step, 0), rowAt(full, t))).toBeLessThan(1e-5);
      }
      const foreign = model.newCache(1, 8);
      loadModel(dir).forward(ids([1, 2]), { cache: foreign });
      expect(() => model.forward(ids([3]), { cache: foreign })).toThrow(/this cache holds 2 positions this model did not write/);
      // From a prefill past the switch on, the cache holds long-factor keys and decode continues from it.
      const c2 = model.newCache(1, p.length);
      const pre = model.forward(ids(p.slice(0, 20)), { cache: c2 });
      const ref20 = model.forward(ids(p.slice(0, 20)));
      expect(relErr(rowAt(pre, 19), rowAt(ref20, 19))).toBeLessThan(1e-5);
      for (let t = 20; t < p.length; t++) {
        const step = model.forward(ids([p[t]!]), { cache: c2, lastOnly: true });
        expect(relErr(rowAt(step, 0), rowAt(full, t))).toBeLessThan(1e-5);
      }
      return;
    }
    const cache = model.newCache(1, p.length);
    const pre = model.forward(ids(p.slice(0, 3)), { cache });
    for (let t = 0; t < 3; t++) expect(relErr(rowAt(pre, t), rowAt(full, t))).toBeLessThan(1e-5);
    const chunk = model.forward(ids(p.slice(3, 12)), { cache }); // T > 1 with a past: the window mask path
    for (let t = 3; t < 12; t++) expect(relErr(rowAt(chunk, t - 3), rowAt(full, t))).toBeLessThan(1e-5);
    for (let t = 12; t < p.length; t++) {
      const step = model.forward(ids([p[t]!]), { cache, lastOnly: true });
      expect(relErr(rowAt(step, 0), rowAt(full, t))).toBeLessThan(1e-5);
    }
  });
});

describe('the sliding window is exact at its edge', () => {
  const model = loadModel(join(FIXTURES, 'mistral-sw8')) as Llama;
  const p = Array.from({ length: 12 }, (_, i) => 4 + i);

  it('windowed layers keep rolling buffers of the window: memory bounded by it, not by the sequence', () => {
    const { numLayers: L, numKvHeads: KV, headDim: D } = model.config;
    const cache = model.newCache(1, 1000);
    expect(cache.bytes).toBe(L * 2 * KV * 8 * D * 4); // 8 positions per layer, keys and values, float32
    // Qwen2's fixture: layer 0 full (capacity), layer 1 windowed (6).
    const qwen = loadModel(join(FIXTURES, 'qwen2-sw6'));
    const c = qwen.config as LlamaConfig;
    expect(qwen.newCache(1, 100).bytes).toBe(2 * c.numKvHeads * (100 + 6) * c.headDim * 4);
    // 40 decode steps through an 8-slot buffer give the uncached logits.
    const seq = Array.from({ length: 40 }, (_, i) => (i * 11) % 90 + 3);
    const full = model.forward(ids(seq));
    const small = model.newCache(1, 40);
    for (let t = 0; t < seq.length; t++) {
      const step = model.forward(ids([seq[t]!]), { cache: small, lastOnly: true });
      expect(relErr(rowAt(step, 0), rowAt(full, t))).toBeLessThan(1e-5);
    }
    // Asking a rolling buffer for positions it no longer holds is an error, not stale data.
    const ring = new KVCache(1, 1, 1, 20, 2, 'float32', [4]);
    const kv = (T: number) => fromTypedArray(new Float32Array(2 * T).fill(1), [1, 1, T, 2]);
    for (let t = 0; t < 10; t++) {
      ring.update(0, kv(1), kv(1), Math.max(0, t - 3), false);
      ring.commit(1);
    }
    expect(() => ring.update(0, kv(2), kv(2), 5)).toThrow(/keeps the last 4 positions; position 5 is gone/);
    expect(ring.update(0, kv(2), kv(2), 6).k.shape).toEqual([1, 1, 6, 2]); // 6..9 from the ring + 2 new
  });

  it('positions up to the window equal a window-free model; the first past it differs (a key dropped)', () => {
    const free = new Llama({ ...model.config, slidingWindow: undefined });
    free.loadStateDict(mapSource(new Map([...model.namedParameters()].map(([n, w]) => [n, w.value]))));
    const a = model.forward(ids(p));
    const b = free.forward(ids(p));
    // Query 7 (the 8th) sees keys 0..7: all of them; query 8 sees 1..8, no longer key 0.
    for (let t = 0; t < 8; t++) expect(relErr(rowAt(a, t), rowAt(b, t))).toBeLessThan(1e-6);
    for (let t = 8; t < 12; t++) expect(relErr(rowAt(a, t), rowAt(b, t))).toBeGreaterThan(1e-3);
  });
});

const raw = (extra: Record<string, Json>): JsonConfig =>
  new JsonConfig('config.json', {
    model_type: 'qwen2', vocab_size: 96, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 4,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 128, rms_norm_eps: 1e-6, ...extra,
  }); // prettier-ignore

describe('config rules of the new model types', () => {
  it('qwen2 slides only with use_sliding_window, on the layers from max_window_layers (or layer_types)', () => {
    const off = parseConfig(raw({ sliding_window: 6, max_window_layers: 2 })) as LlamaConfig;
    expect(off.slidingWindow).toBeUndefined();
    const on = parseConfig(raw({ use_sliding_window: true, sliding_window: 6, max_window_layers: 2 })) as LlamaConfig;
    expect(on.slidingWindow).toBe(6);
    expect(on.slidingLayers).toEqual([false, false, true, true]);
    const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
    const listed = parseConfig(raw({ use_sliding_window: true, sliding_window: 6, layer_types: types })) as LlamaConfig;
    expect(listed.slidingLayers).toEqual([true, false, true, false]);
    expect(() => parseConfig(raw({ use_sliding_window: true, sliding_window: 6, layer_types: ['full_attention'] }))).toThrow(/layer_types.*one type per layer \(4\)/);
    expect(on.attentionBias).toBe(true);
    expect(on.outputBias).toBe(false);
  });

  it('refuses unknown model types by name, longrope outside phi3, and factor lists of the wrong length', () => {
    expect(() => parseConfig(raw({ model_type: 'gemma' }))).toThrow(/"gemma" is not supported \(opt, llama, mistral, qwen2, phi3\)/);
    const su = { type: 'su', short_factor: [1, 1, 1, 1], long_factor: [1, 1, 1, 1] };
    expect(() => parseConfig(raw({ model_type: 'llama', rope_scaling: { ...su, type: 'longrope' } }))).toThrow(/"longrope" is supported for phi3 only/);
    expect(() => parseConfig(raw({ model_type: 'llama', rope_scaling: su }))).toThrow(/"su" is not supported/);
    expect(() => parseConfig(raw({ model_type: 'phi3', rope_scaling: { ...su, long_factor: [1, 2] } }))).toThrow(/long_factor.*must have 4 entries/);
    expect(() => parseConfig(raw({ model_type: 'phi3', rope_scaling: { ...su, short_factor: [1, 1, 1, 0] } }))).toThrow(/short_factor.*entries must be a number/);
    expect(() => parseConfig(raw({ model_type: 'mistral', sliding_window: 0 }))).toThrow(/sliding_window.*must be an integer/);
    expect(() => parseConfig(raw({ model_type: 'phi3', partial_rotary_factor: 0.1 }))).toThrow(/partial_rotary_factor.*rotary dims/);
  });

  it('phi3 LongRoPE: attention factor from max/original positions when not given', () => {
    const c = parseConfig(
      raw({ model_type: 'phi3', max_position_embeddings: 128, original_max_position_embeddings: 16, rope_scaling: { type: 'longrope', short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2] } }),
    ) as LlamaConfig;
    expect(c.ropeScaling).toMatchObject({ type: 'longrope', originalMaxPositions: 16 });
    if (c.ropeScaling?.type === 'longrope') expect(c.ropeScaling.attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(8) / Math.log(16)), 12);
  });

  it('presets of the public sizes have exactly the public checkpoints\' parameter counts, config and modules alike', () => {
    // Safetensors totals of Qwen2-1.5B, Qwen2-7B, Mistral-7B-v0.3 / v0.1 and Phi-3-mini-4k-instruct.
    const counts: Record<string, number> = {
      'qwen2-1.5b': 1_543_714_304,
      'qwen2-7b': 7_615_616_512,
      'mistral-7b': 7_248_023_552,
      'mistral-7b-v0.1': 7_241_732_096,
      'phi3-mini': 3_821_079_552,
    };
    for (const [name, n] of Object.entries(counts)) {
      const c = presetConfig(name);
      expect(parameterCount(c), name).toBe(n);
      expect(buildModel(c).numParameters(), name).toBe(n); // no weights allocated: shapes only
    }
  });
});
