/**
 * OPT and Llama against golden outputs of a plain-PyTorch reference forward (test/fixtures/make_models.py,
 * which follows Hugging Face's modeling code): last-position logits to 1e-4 relative, 12-token greedy
 * continuations exactly, cached = uncached; fp16/bf16 and sharded checkpoints; load errors.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profile, type Tensor } from '../core/index.js';
import { generate, idsTensor as ids } from '../models/generate.js';
import { buildModel, loadModel } from '../models/load.js';
import { presetConfig } from '../models/config.js';
import { mapSource } from '../models/nn/module.js';
import { MODEL_FIXTURES as FIXTURES, readGolden, relErr } from './model_fixtures.js';

const MODELS = ['opt-preln', 'opt-postln-proj-fp16', 'llama-mha', 'llama-gqa-llama3-bf16', 'llama-sharded'];

function rowAt(logits: Tensor, t: number): Float32Array {
  return logits.narrow(1, t, 1).contiguous().toTypedArray() as Float32Array;
}

describe.each(MODELS)('%s', (name) => {
  const dir = join(FIXTURES, name);
  const golden = readGolden(dir);
  const model = loadModel(dir);

  it('last-position logits match the PyTorch reference to 1e-4 relative', () => {
    golden.prompts.forEach((p, i) => {
      const logits = model.forward(ids(p)); // (1, T, V)
      expect(logits.shape).toEqual([1, p.length, model.config.vocabSize]);
      expect(relErr(rowAt(logits, p.length - 1), golden.last_logits[i]!)).toBeLessThan(1e-4);
    });
  });

  it('greedy continuations (12 tokens, through the KV cache) match exactly', () => {
    golden.prompts.forEach((p, i) => {
      const r = generate(model, p, { maxNewTokens: 12, ignoreEos: true });
      expect(r.ids).toEqual(golden.greedy[i]);
      expect(r.stoppedBy).toBe('length');
    });
  });

  it('cached decode gives the same logits as the uncached forward', () => {
    const p = golden.prompts[0]!;
    const full = model.forward(ids(p)); // (1, T, V)
    const cache = model.newCache(1, p.length);
    const pre = model.forward(ids(p.slice(0, 3)), { cache }); // prefill 3
    expect(relErr(rowAt(pre, 2), rowAt(full, 2))).toBeLessThan(1e-5);
    for (let t = 3; t < p.length; t++) {
      const step = model.forward(ids([p[t]!]), { cache, lastOnly: true }); // (1, 1, V)
      expect(relErr(rowAt(step, 0), rowAt(full, t))).toBeLessThan(1e-5);
    }
    expect(cache.length).toBe(p.length);
    expect(() => model.forward(ids([1]), { cache })).toThrow(/exceed the capacity/);
  });
});

describe('model loading', () => {
  it('keeps weights in the dtype asked for (bfloat16 halves memory) and still matches', () => {
    const dir = join(FIXTURES, 'llama-gqa-llama3-bf16');
    const golden = readGolden(dir);
    const m = loadModel(dir, { dtype: 'bfloat16' });
    const [, w] = [...m.namedParameters()][0]!;
    expect(w.value.dtype).toBe('bfloat16');
    const logits = m.forward(ids(golden.prompts[0]!)).to('float32');
    // bf16 activations between ops: a few bf16 ulps off the float32 reference.
    expect(relErr(rowAt(logits, golden.prompts[0]!.length - 1), golden.last_logits[0]!)).toBeLessThan(0.05);
  });

  it('names every missing, unexpected and mismatched parameter with both shapes', () => {
    const m = loadModel(join(FIXTURES, 'llama-mha'));
    const params = new Map<string, Tensor>();
    for (const [n, p] of m.namedParameters()) params.set(n, p.value);
    params.delete('model.norm.weight');
    params.set('model.extra.weight', params.get('lm_head.weight')!);
    params.set('model.layers.0.mlp.up_proj.weight', params.get('model.layers.0.mlp.down_proj.weight')!);
    expect(() => m.loadStateDict(mapSource(params))).toThrow(
      'load_state_dict: missing 1: model.norm.weight; unexpected 1: model.extra.weight; shape mismatch 1: model.layers.0.mlp.up_proj.weight expected [64,32] got [32,64]',
    );
  });

  it('synthetic presets build real shapes with seeded random weights', { timeout: 60_000 }, () => {
    expect(buildModel(presetConfig('tinyllama-1.1b')).numParameters()).toBe(1_100_048_384);
    expect(buildModel(presetConfig('opt-350m')).numParameters()).toBe(331_196_416);
    const m = loadModel('synthetic:opt-125m', { seed: 1 });
    expect(m.numParameters()).toBe(125_239_296);
    const a = m.forward(ids([2, 100, 200])).contiguous().toTypedArray() as Float32Array;
    const again = loadModel('synthetic:opt-125m', { seed: 1 }).forward(ids([2, 100, 200])).contiguous().toTypedArray() as Float32Array;
    expect(Array.from(again.subarray(0, 50))).toEqual(Array.from(a.subarray(0, 50)));
    expect(a.every(Number.isFinite)).toBe(true);
    expect(() => loadModel('synthetic:gpt-9')).toThrow(/no such preset/);
    m.dispose();
    expect(() => m.forward(ids([1]))).toThrow(/is not loaded/);
  });

  it('routes every Linear through the dispatcher (MatMul policy applies to model code)', () => {
    const m = loadModel(join(FIXTURES, 'opt-preln'));
    const p = profile(() => m.forward(ids([5, 6, 7])));
    const ops = new Set(p.records.map((r) => r.op));
    for (const op of ['Embedding', 'Linear', 'LayerNorm', 'Attention', 'Relu', 'Add']) expect(ops).toContain(op);
  });
});
