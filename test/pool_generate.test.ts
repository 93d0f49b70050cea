/**
 * generate() runs each step in a tidy() scope so decode reuses released activations from the pool: the greedy
 * ids must be the reference continuation and identical with the pool off (cap 0: every output allocated
 * fresh), for OPT, Llama with GQA (memoised rope tables kept across steps) and a GPTQ-quantized Llama; the
 * pooled run must actually reuse arrays, and the pool's content stays under its cap.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clearPool, poolStats, resetPoolStats, setPoolLimit } from '../core/index.js';
import { generate } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { MODEL_FIXTURES as FIXTURES, readGolden } from './model_fixtures.js';

afterEach(() => {
  setPoolLimit(256);
  clearPool();
});

describe.each(['opt-preln', 'llama-gqa-llama3-bf16', 'llama-gptq-sym'])('%s: generation with the output pool', (name) => {
  const dir = join(FIXTURES, name);
  const golden = readGolden(dir);
  const model = loadModel(dir);
  const prompt = golden.prompts[0]!;
  const n = golden.greedy[0]!.length;

  it('greedy ids equal the reference and the run without the pool; the pooled run reuses arrays', () => {
    setPoolLimit(0);
    resetPoolStats();
    const fresh = generate(model, prompt, { maxNewTokens: n, ignoreEos: true }).ids;
    expect(poolStats().hits).toBe(0);

    setPoolLimit(256);
    resetPoolStats();
    const pooled = generate(model, prompt, { maxNewTokens: n, ignoreEos: true }).ids;
    const st = poolStats();
    expect(pooled).toEqual(fresh);
    expect(pooled).toEqual(golden.greedy[0]);
    // Every decode step after the first finds the previous step's arrays: most outputs are reused.
    expect(st.hits).toBeGreaterThan(st.misses);
    expect(st.bytes).toBeLessThanOrEqual(st.limitBytes);
  });
});
