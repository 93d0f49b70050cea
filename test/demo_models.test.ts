/**
 * The demo models that ship in models/demo/ (trained by models/demo/train.py on the King James Bible): they
 * load, opshift reproduces the validation perplexity the trainer recorded (within 1%), and greedy generation
 * is deterministic and reads like text (no single-token loops).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { loadTokenizer } from '../models/tokenizer.js';
import { perplexity } from '../tools/eval_perplexity.js';

const DEMO = join(import.meta.dirname, '..', 'models', 'demo');

interface Metrics {
  subset_first_tokens: number;
  subset_perplexity: number;
  valid_perplexity_window: number;
  valid_perplexity_stride: number;
}

describe.each(['llama', 'opt'])('demo:%s', (name) => {
  const dir = join(DEMO, name);
  const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as Metrics;
  const model = loadModel(dir);
  const tok = loadTokenizer(dir);

  it('reproduces the recorded validation perplexity (first tokens of the held-out split) within 1%', { timeout: 120_000 }, () => {
    const ids = tok.encode(readFileSync(join(DEMO, 'kjv-valid.txt'), 'utf8')).slice(0, metrics.subset_first_tokens);
    const r = perplexity(model, ids, { window: metrics.valid_perplexity_window, stride: metrics.valid_perplexity_stride });
    expect(Math.abs(r.perplexity / metrics.subset_perplexity - 1)).toBeLessThan(0.01);
  });

  it('greedy generation is deterministic and not degenerate', { timeout: 60_000 }, () => {
    const prompt = tok.encode('And God said');
    const a = generate(model, prompt, { maxNewTokens: 40, ignoreEos: true });
    const b = generate(model, prompt, { maxNewTokens: 40, ignoreEos: true });
    expect(b.ids).toEqual(a.ids);
    expect(new Set(a.ids).size).toBeGreaterThan(10);
    // No token repeated 4 times in a row.
    expect(a.ids.some((v, i) => i >= 3 && a.ids[i - 1] === v && a.ids[i - 2] === v && a.ids[i - 3] === v)).toBe(false);
    const text = tok.decode(a.ids, { skipSpecialTokens: true });
    expect(text.split(/\s+/).filter((w) => /^[A-Za-z]+[,.;:]?$/.test(w)).length).toBeGreaterThan(10);
  });
});
