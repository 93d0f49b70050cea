/**
 * Padded batches: prompts of different lengths, left-padded with an attention mask, give each row exactly what
 * the prompt gives alone (greedy ids identical, last logits within 1e-4 relative), for OPT (learned positions
 * from the mask) and the Llama families (rotary positions from the mask, sliding windows); per-row EOS; the
 * padding ids themselves never matter; bad masks are refused with the rule.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromTypedArray, type Tensor } from '../core/index.js';
import { generate } from '../models/generate.js';
import { generateBatch } from '../models/generate_batch.js';
import { loadModel } from '../models/load.js';
import { MODEL_FIXTURES as FIXTURES, readGolden, relErr } from './model_fixtures.js';

const int64 = (xs: readonly number[], shape: number[]): Tensor => fromTypedArray(BigInt64Array.from(xs, BigInt), shape);

describe.each(['opt-preln', 'llama-gqa-llama3-bf16', 'mistral-sw8', 'qwen2-sw6'])('%s: a padded batch equals its rows alone', (name) => {
  const dir = join(FIXTURES, name);
  const golden = readGolden(dir);
  const model = loadModel(dir);
  const prompts = golden.prompts.slice(0, 3); // lengths 7, 1, 17

  it('greedy ids of every row equal the reference continuation of its prompt', () => {
    const r = generateBatch(model, prompts, { maxNewTokens: 12, ignoreEos: true, padTokenId: 1 });
    expect(r.ids).toEqual(golden.greedy.slice(0, 3));
    expect(r.stoppedBy).toEqual(['length', 'length', 'length']);
  });

  it('the padded forward gives each row its single-prompt logits, whatever the padding ids are', () => {
    const L = 17;
    const V = model.config.vocabSize;
    for (const padId of [0, 5]) {
      const ids = prompts.flatMap((p) => [...Array<number>(L - p.length).fill(padId), ...p]);
      const mask = prompts.flatMap((p) => [...Array<number>(L - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
      const logits = model.forward(int64(ids, [3, L]), { attentionMask: int64(mask, [3, L]), lastOnly: true }); // (3, 1, V)
      const all = logits.contiguous().toTypedArray() as Float32Array;
      prompts.forEach((p, b) => {
        const alone = model.forward(int64(p, [1, p.length]), { lastOnly: true }).contiguous().toTypedArray() as Float32Array;
        expect(relErr(all.subarray(b * V, (b + 1) * V), alone)).toBeLessThan(1e-4);
      });
    }
  });

  it('each row stops at its own EOS; the others run on unchanged', () => {
    const stop = golden.greedy[0]![2]!; // row 0's third token
    const eosTokenIds = [stop];
    const r = generateBatch(model, prompts, { maxNewTokens: 12, eosTokenIds });
    prompts.forEach((p, b) => {
      const alone = generate(model, p, { maxNewTokens: 12, eosTokenIds });
      expect(r.ids[b]).toEqual(alone.ids);
      expect(r.stoppedBy[b]).toBe(alone.stoppedBy);
    });
    expect(r.ids[0]).toEqual(golden.greedy[0]!.slice(0, golden.greedy[0]!.indexOf(stop) + 1));
    expect(r.stoppedBy[0]).toBe('eos');
  });
});

describe('padded batch rules', () => {
  const model = loadModel(join(FIXTURES, 'llama-mha'));

  it('refuses masks of the wrong shape, entries other than 0/1, and all-padding rows', () => {
    const ids = int64([1, 2, 3, 4], [2, 2]);
    expect(() => model.forward(ids, { attentionMask: int64([1, 1, 1], [1, 3]) })).toThrow(/attention_mask \[1, 3\] must be \[batch, past \+ new\] = \[2, 2\]/);
    expect(() => model.forward(ids, { attentionMask: int64([1, 2, 1, 1], [2, 2]) })).toThrow(/attention_mask\[0, 1\] is 2/);
    expect(() => model.forward(ids, { attentionMask: int64([0, 0, 1, 1], [2, 2]) })).toThrow(/row 0 is all padding/);
    // A bool mask means the same as a 0/1 integer one.
    const asInt = model.forward(ids, { attentionMask: int64([0, 1, 1, 1], [2, 2]) }).toArray();
    const asBool = model.forward(ids, { attentionMask: fromTypedArray(Uint8Array.of(0, 1, 1, 1), [2, 2], { dtype: 'bool' }) }).toArray();
    expect(asBool).toEqual(asInt);
    expect(() => generateBatch(model, [[1, 2], []])).toThrow(/prompt 1 is empty/);
    expect(() => generateBatch(model, [[1, 2]], { padTokenId: 1000 })).toThrow(/pad_token_id 1000 is outside the vocabulary/);
  });

  it('phi3 LongRoPE: rows of different lengths past original_max_position_embeddings are refused; equal lengths match', () => {
    const phi = loadModel(join(FIXTURES, 'phi3-su-partial'));
    const golden = readGolden(join(FIXTURES, 'phi3-su-partial'));
    expect(() => generateBatch(phi, [golden.prompts[0]!, golden.prompts[1]!], { maxNewTokens: 12 })).toThrow(/LongRoPE switches factors past 16/);
    // Two 7-token rows cross 16 while decoding: the batch re-runs once with the long factors, as each single does.
    const p = golden.prompts[0]!;
    const r = generateBatch(phi, [p, p], { maxNewTokens: 12, ignoreEos: true });
    expect(r.ids).toEqual([golden.greedy[0], golden.greedy[0]]);
    // Short rows that stay within the original positions may differ in length.
    const short = generateBatch(phi, [[3], [4, 5, 6]], { maxNewTokens: 4, ignoreEos: true });
    expect(short.ids[0]).toEqual(golden.greedy[1]!.slice(0, 4));
    expect(short.ids[1]).toEqual(generate(phi, [4, 5, 6], { maxNewTokens: 4, ignoreEos: true }).ids);
  });
});
