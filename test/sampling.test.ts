import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { Sampler } from '../models/sampling.js';

const LLAMA = join(import.meta.dirname, 'fixtures', 'models', 'llama-mha');
const golden = JSON.parse(readFileSync(join(LLAMA, 'golden.json'), 'utf8')) as { prompts: number[][]; greedy: number[][] };

describe('Sampler', () => {
  const row = () => Float32Array.from([1, 3, 2, -1, 2.5]);

  it('greedy is argmax; top-k 1 and tiny top-p collapse sampling to argmax', () => {
    expect(new Sampler({}).next(row(), [])).toBe(1);
    for (let s = 0; s < 20; s++) {
      expect(new Sampler({ temperature: 1, topK: 1, seed: s }).next(row(), [])).toBe(1);
      expect(new Sampler({ temperature: 1, topP: 0.01, seed: s }).next(row(), [])).toBe(1);
    }
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens (HF semantics)', () => {
    // 3 / 2 = 1.5 < 2.5: token 4 wins once token 1 was seen.
    expect(new Sampler({ repetitionPenalty: 2 }).next(row(), [1, 1])).toBe(4);
    const r = row();
    new Sampler({ repetitionPenalty: 2 }).next(r, [3]);
    expect(r[3]).toBe(-2);
  });

  it('samples in proportion to softmax(logits / T), deterministically per seed', () => {
    const counts = new Array<number>(5).fill(0);
    const s = new Sampler({ temperature: 1, seed: 7 });
    const N = 20000;
    for (let i = 0; i < N; i++) counts[s.next(row(), [])]!++;
    const e = row().map(Math.exp);
    const z = e.reduce((a, b) => a + b, 0);
    counts.forEach((c, i) => expect(Math.abs(c / N - e[i]! / z)).toBeLessThan(0.015));
    const again = new Sampler({ temperature: 1, seed: 7 });
    const first = new Sampler({ temperature: 1, seed: 7 });
    expect(Array.from({ length: 50 }, () => again.next(row(), []))).toEqual(Array.from({ length: 50 }, () => first.next(row(), [])));
    // top-k 2 never leaves the two largest.
    const k2 = new Sampler({ temperature: 5, topK: 2, seed: 3 });
    for (let i = 0; i < 500; i++) expect([1, 4]).toContain(k2.next(row(), []));
  });

  it('rejects bad settings with the rule', () => {
    expect(() => new Sampler({ temperature: 0 })).toThrow('generate: temperature 0 must be > 0 (use greedy for argmax)');
    expect(() => new Sampler({ topP: 1.5 })).toThrow(/top_p 1.5 must be in \(0, 1\]/);
    expect(() => new Sampler({ topK: -1 })).toThrow(/top_k -1/);
    expect(() => new Sampler({ repetitionPenalty: 0 })).toThrow(/repetition_penalty 0/);
  });
});

describe('generate', () => {
  const model = loadModel(LLAMA);

  it('stops at the EOS ids of config + generation_config, or the ones given; ignoreEos goes on', () => {
    expect([...model.config.eosTokenIds].sort()).toEqual([2, 7]);
    const p = golden.prompts[0]!;
    const stopAt = golden.greedy[0]![3]!;
    const r = generate(model, p, { maxNewTokens: 12, eosTokenIds: [stopAt] });
    expect(r.stoppedBy).toBe('eos');
    expect(r.ids).toEqual(golden.greedy[0]!.slice(0, golden.greedy[0]!.indexOf(stopAt) + 1));
    expect(generate(model, p, { maxNewTokens: 12, eosTokenIds: [stopAt], ignoreEos: true }).ids).toEqual(golden.greedy[0]);
  });

  it('streams every id through onToken, seeded sampling is reproducible, and bad prompts are refused', () => {
    const seen: number[] = [];
    const r = generate(model, [5, 6], { maxNewTokens: 6, temperature: 0.8, topP: 0.9, seed: 11, ignoreEos: true, onToken: (id) => seen.push(id) });
    expect(seen).toEqual(r.ids);
    expect(generate(model, [5, 6], { maxNewTokens: 6, temperature: 0.8, topP: 0.9, seed: 11, ignoreEos: true }).ids).toEqual(r.ids);
    expect(r.ttftMs).toBeGreaterThan(0);
    expect(r.tokensPerS).toBeGreaterThan(0);
    expect(() => generate(model, [])).toThrow(/prompt is empty/);
    expect(() => generate(model, [1, 96])).toThrow('generate: prompt id 96 is outside the vocabulary [0, 96)');
    expect(generate(model, [1], { maxNewTokens: 0 }).ids).toEqual([]);
  });
});

describe('top-k / top-p selection', () => {
  it('topIndices gives the k largest in descending order (ties: lower id first), as a full sort does', async () => {
    const { topIndices } = await import('../models/sampling.js');
    let s = 7;
    const v = Float64Array.from({ length: 5000 }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % 1000) / 7);
    const sorted = Array.from(v.keys()).sort((a, b) => v[b]! - v[a]! || a - b);
    for (const k of [1, 5, 64, 700, 5000]) expect(Array.from(topIndices(v, k))).toEqual(sorted.slice(0, k));
  });

  it('top-p samples exactly the nucleus of a 32000-token row (widening selection beyond the first 64)', { timeout: 60_000 }, () => {
    const V = 32000;
    const row = new Float32Array(V).fill(-5);
    for (let i = 0; i < 300; i++) row[(i * 97) % V] = 2 + (i % 7) * 0.01; // 300 near-equal leaders
    const p = Array.from(row, (x) => Math.exp(x));
    const total = p.reduce((a, b) => a + b, 0);
    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
    let cum = 0;
    let n = 0;
    while (cum < 0.6 * total) cum += p[order[n++]!]!;
    const nucleus = new Set(order.slice(0, n));
    const s = new Sampler({ temperature: 1, topP: 0.6, seed: 2 });
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const id = s.next(Float32Array.from(row), []);
      expect(nucleus.has(id)).toBe(true);
      seen.add(id);
    }
    expect(n).toBeGreaterThan(64);
    expect(seen.size).toBeGreaterThan(n * 0.8);
  });
});
