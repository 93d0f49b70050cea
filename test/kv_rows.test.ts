/**
 * Per-row caches (ForwardOptions.caches, the server's continuous batching): rows of different lengths decode in
 * one forward and each row's logits equal that sequence run alone on the demo Llama and OPT — bit for bit on the
 * cpu backend (every op is row-independent), within 1e-4 with greedy ids identical under the default dispatch
 * (the wasm GEMM runs M = 1 as a GEMV and M ≥ 2 as a packed GEMM, which sum in different orders); a cache's
 * prefix copied into another continues exactly as the original; misuse is refused naming the rule.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idsTensor } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { fromTypedArray } from '../ops/creation.js';
import { argmax } from '../models/sampling.js';
import type { CausalLM } from '../models/causal_lm.js';
import { withPolicy } from '../core/policy.js';
import { parsePolicy } from '../core/policy_spec.js';

const demo = (name: string) => join(import.meta.dirname, '..', 'models', 'demo', name);
const row = (t: { contiguous(): { toTypedArray(): unknown } }) => t.contiguous().toTypedArray() as Float32Array;

/** Greedy logits of `steps` decode steps of one prompt alone (prefill, then one token per forward). */
function alone(m: CausalLM, prompt: number[], steps: number): Float32Array[] {
  const cache = m.newCache(1, prompt.length + steps + 1);
  let l = row(m.forward(idsTensor(prompt), { cache, lastOnly: true }));
  const out = [l];
  for (let s = 0; s < steps; s++) out.push((l = row(m.forward(idsTensor([argmax(l)]), { cache, lastOnly: true }))));
  return out;
}

describe('per-row caches', () => {
  for (const [name, policy] of [['llama', undefined], ['opt', undefined], ['llama', '*=cpu'], ['opt', '*=cpu']] as const) {
    it(`${name}${policy ? ` (${policy})` : ''}: rows at different lengths decode in one forward, each row's logits ${policy ? 'identical to' : 'within 1e-4 of'} running alone, greedy ids equal`, { timeout: 60_000 }, () => {
      const m = loadModel(demo(name));
      if (policy) withPolicy(parsePolicy(policy), () => check(m, true));
      else check(m, false);
    });
  }

  function check(m: CausalLM, exact: boolean): void {
    {
      const prompts = [[5, 6, 7], Array.from({ length: 37 }, (_, i) => 100 + i), [20]];
      const steps = 6;
      const ref = prompts.map((p) => alone(m, p, steps));
      const caches = prompts.map((p) => m.newCache(1, p.length + steps + 1));
      let rows = prompts.map((p, b) => row(m.forward(idsTensor(p), { cache: caches[b]!, lastOnly: true })));
      for (let s = 0; s <= steps; s++) {
        rows.forEach((r, b) => {
          const want = ref[b]![s]!;
          expect(argmax(r), `row ${b} step ${s}`).toBe(argmax(want));
          if (exact) expect(Array.from(r), `row ${b} step ${s}`).toEqual(Array.from(want));
          else for (let i = 0; i < r.length; i++) if (Math.abs(r[i]! - want[i]!) > 1e-4) expect.fail(`row ${b} step ${s} logit ${i}: ${r[i]} vs ${want[i]} alone`);
        });
        if (s === steps) break;
        const ids = rows.map((r) => argmax(r));
        const all = row(m.forward(fromTypedArray(BigInt64Array.from(ids, BigInt), [ids.length, 1]), { caches, lastOnly: true })); // (B, 1, V)
        const V = m.config.vocabSize;
        rows = ids.map((_, b) => all.slice(b * V, (b + 1) * V));
      }
      expect(caches.map((c) => c.length)).toEqual(prompts.map((p) => p.length + steps));
    }
  }

  for (const name of ['llama', 'opt']) {

    it(`${name}: a copied prefix continues as the original cache does`, { timeout: 60_000 }, () => {
      const m = loadModel(demo(name));
      const prompt = Array.from({ length: 30 }, (_, i) => 200 + 3 * i);
      const src = m.newCache(1, 40);
      m.forward(idsTensor(prompt), { cache: src, lastOnly: true });
      const ref = row(m.forward(idsTensor(prompt.slice(20)), { cache: (() => { const c = m.newCache(1, 40); m.forward(idsTensor(prompt.slice(0, 20)), { cache: c }); return c; })(), lastOnly: true })); // prettier-ignore
      const copy = m.newCache(1, 40);
      copy.copyPrefixFrom(src, 20);
      expect(copy.length).toBe(20);
      expect(Array.from(row(m.forward(idsTensor(prompt.slice(20)), { cache: copy, lastOnly: true })))).toEqual(Array.from(ref));
    });
  }

  it('refuses a wrong number of caches, shared caches, batched caches and mixing with cache/attention_mask', { timeout: 60_000 }, () => {
    const m = loadModel(demo('llama'));
    const ids = idsTensor([1, 2]).reshape([2, 1]);
    const a = m.newCache(1, 8);
    expect(() => m.forward(ids, { caches: [a] })).toThrow(/1 per-row caches for ids \[2, 1\]; give one cache per row/);
    expect(() => m.forward(ids, { caches: [a, a] })).toThrow(/must be distinct/);
    expect(() => m.forward(ids, { caches: [a, m.newCache(2, 8)] })).toThrow(/batch 1\), got batch 2/);
    expect(() => m.forward(ids, { caches: [a, m.newCache(1, 8)], cache: m.newCache(2, 8) })).toThrow(/not both/);
    const full = m.newCache(1, 4);
    m.forward(idsTensor([1, 2, 3]), { cache: full });
    expect(() => m.newCache(1, 8).copyPrefixFrom(full, 4)).toThrow(/cannot copy 4 positions \(the source holds 3 reusable/);
    const opt = loadModel(demo('opt'));
    expect(() => opt.newCache(1, 8).copyPrefixFrom(full, 2)).toThrow(/different layouts/);
  });
});
