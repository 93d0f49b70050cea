/**
 * Generation for a batch of prompts of different lengths, as Hugging Face's generate runs a padded batch: prompts
 * left-padded to the longest, an attention mask hiding the padding, positions from the mask (models compute them:
 * OPT's cumsum(mask)·mask − 1 + 2, the Llama family's cumsum(mask) − 1), one KV cache for the batch, each row
 * stopping at its own EOS or budget. Each row's ids equal that prompt generated alone (the padding is invisible
 * to it); finished rows keep being fed padding ids, their outputs unused, until every row is done.
 */
import { ArgumentError } from '../core/errors.js';
import { fromTypedArray } from '../ops/creation.js';
import type { Tensor } from '../core/tensor.js';
import type { CausalLM } from './causal_lm.js';
import { contextBudget, DEFAULT_MAX_NEW_TOKENS, type GenerateOptions } from './generate.js';
import { Sampler } from './sampling.js';

export interface BatchGenerateOptions extends Omit<GenerateOptions, 'onToken'> {
  /** Id placed in padding slots and fed to finished rows (masked out, so any id in the vocabulary; default 0). */
  readonly padTokenId?: number;
  /** Called with each row's new id as soon as it is picked. */
  readonly onToken?: (row: number, id: number, index: number) => void;
}

export interface BatchGenerateResult {
  /** Per row, the generated ids (not the prompt). */
  readonly ids: number[][];
  readonly stoppedBy: ('eos' | 'length' | 'context')[];
  /** Prefill plus the first picks, ms; then the decode time of the rest. */
  readonly ttftMs: number;
  readonly decodeMs: number;
}

/** One row's new token of a batch step. */
export interface BatchTokenStep {
  readonly row: number;
  readonly id: number;
  readonly index: number;
  readonly eos: boolean;
}

function int64(values: readonly number[], shape: number[]): Tensor {
  return fromTypedArray(BigInt64Array.from(values, (v) => BigInt(v)), shape);
}

/**
 * Batched generation one step at a time: each `next()` yields the tokens the still-running rows picked in that
 * step (prefill first). The KV cache is released when iteration ends or stops early.
 */
export function* batchTokens(model: CausalLM, prompts: readonly (readonly number[])[], options: Omit<BatchGenerateOptions, 'onToken'> = {}): Generator<BatchTokenStep[], void, void> {
  const B = prompts.length;
  if (B === 0) throw new ArgumentError('generate_batch: no prompts');
  const vocab = model.config.vocabSize;
  const pad = options.padTokenId ?? 0;
  if (!Number.isInteger(pad) || pad < 0 || pad >= vocab) throw new ArgumentError(`generate_batch: pad_token_id ${pad} is outside the vocabulary [0, ${vocab})`);
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new ArgumentError(`generate_batch: prompt ${b} is empty (give at least one token, e.g. BOS)`);
    const bad = p.find((v) => !Number.isInteger(v) || v < 0 || v >= vocab);
    if (bad !== undefined) throw new ArgumentError(`generate_batch: prompt ${b} id ${bad} is outside the vocabulary [0, ${vocab})`);
  });
  const asked = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(asked) || asked < 0) throw new ArgumentError(`generate_batch: max_new_tokens ${asked} must be a non-negative integer`);
  // Each row's budget is what it would get alone: its own positions bound it, not the padded length.
  const budgets = prompts.map((p) => contextBudget(model, p.length, asked, options.stopAtContext));
  const L = Math.max(...prompts.map((p) => p.length));
  const steps = Math.max(...budgets);
  if (steps === 0) return;
  const R = model.recomputeCacheAt;
  if (R !== undefined && prompts.some((p) => p.length !== L) && L + steps > R)
    throw new ArgumentError(
      `generate_batch: ${model.config.modelType}'s LongRoPE switches factors past ${R} positions, and Hugging Face switches a padded batch on its longest row, so shorter rows would not match their single runs; generate prompts of different lengths one by one past that length`,
    );
  const eos = new Set(options.ignoreEos ? [] : (options.eosTokenIds ?? model.config.eosTokenIds));
  const samplers = prompts.map(() => new Sampler(options));
  const seqs = prompts.map((p) => [...p]);
  const mask: number[][] = prompts.map((p) => [...Array<number>(L - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
  const padded = prompts.map((p) => [...Array<number>(L - p.length).fill(pad), ...p]);
  const done = prompts.map(() => false);
  const made = prompts.map(() => 0);
  const cache = model.newCache(B, L + steps);
  try {
    let input = int64(padded.flat(), [B, L]); // (B, L)
    for (let step = 0; step < steps && done.includes(false); step++) {
      const S = cache.length + input.shape[1]!;
      const attentionMask = int64(mask.flatMap((m) => m.slice(0, S)), [B, S]);
      const logits = model.forward(input, { cache, lastOnly: true, attentionMask }); // (B, 1, V)
      const V = logits.shape[2]!;
      const all = logits.to('float32').contiguous().toTypedArray() as Float32Array;
      const out: BatchTokenStep[] = [];
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          next.push(pad);
          continue;
        }
        const id = samplers[b]!.next(all.slice(b * V, (b + 1) * V), seqs[b]!);
        seqs[b]!.push(id);
        const isEos = eos.has(id);
        out.push({ row: b, id, index: made[b]!++, eos: isEos });
        if (isEos || made[b] === budgets[b]) done[b] = true;
        next.push(id);
      }
      for (const m of mask) m.push(1);
      yield out;
      input = int64(next, [B, 1]);
    }
  } finally {
    cache.dispose();
  }
}

export function generateBatch(model: CausalLM, prompts: readonly (readonly number[])[], options: BatchGenerateOptions = {}): BatchGenerateResult {
  const ids: number[][] = prompts.map(() => []);
  const stoppedBy: BatchGenerateResult['stoppedBy'] = prompts.map(() => 'length');
  const t0 = performance.now();
  let ttft = 0;
  let first = true;
  for (const step of batchTokens(model, prompts, options)) {
    if (first) ttft = performance.now() - t0;
    first = false;
    for (const s of step) {
      ids[s.row]!.push(s.id);
      options.onToken?.(s.row, s.id, s.index);
      if (s.eos) stoppedBy[s.row] = 'eos';
    }
  }
  const asked = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  ids.forEach((r, b) => {
    if (stoppedBy[b] === 'length' && r.length < asked) stoppedBy[b] = 'context'; // only stopAtContext ends a row early
  });
  return { ids, stoppedBy, ttftMs: ttft, decodeMs: first ? 0 : performance.now() - t0 - ttft };
}
