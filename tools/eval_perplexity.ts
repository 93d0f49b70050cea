/**
 * `opshift eval perplexity`: sliding-window perplexity as Hugging Face's perplexity guide computes it —
 * windows of `window` tokens every `stride` tokens; each window scores only the tokens no earlier window
 * scored (the first scores all but its first token); perplexity = exp(total NLL / tokens scored). The NLL of a
 * token is −log softmax(logits)[target] over the full vocabulary, accumulated in double.
 */
import { ArgumentError } from '../core/errors.js';
import type { CausalLM } from '../models/causal_lm.js';
import { idsTensor } from '../models/generate.js';

export interface PerplexityOptions {
  readonly window?: number;
  readonly stride?: number;
  /** Called after each window with (tokens scored so far, total to score). */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  readonly perplexity: number;
  readonly meanNll: number;
  readonly tokensScored: number;
  readonly windows: number;
  readonly ms: number;
}

/** −log softmax(row)[target], stably, in double. */
function nll(logits: Float32Array, offset: number, V: number, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[offset + i]! > max) max = logits[offset + i]!;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[offset + i]! - max);
  return Math.log(sum) + max - logits[offset + target]!;
}

export function perplexity(model: CausalLM, ids: readonly number[], options: PerplexityOptions = {}): PerplexityResult {
  // The default fits the model; a window longer than its positions is refused, as generate refuses a
  // sequence longer than them (models/generate.ts): Llama's rope would score positions it was never trained on.
  const window = options.window ?? Math.min(256, model.config.maxPositions);
  if (Number.isInteger(window) && window > model.config.maxPositions)
    throw new ArgumentError(`perplexity: window ${window} exceeds the model's ${model.config.maxPositions} positions (max_position_embeddings); use a window of at most ${model.config.maxPositions}`);
  const stride = options.stride ?? window / 2;
  if (!Number.isInteger(window) || window < 2) throw new ArgumentError(`perplexity: window ${window} must be an integer ≥ 2`);
  if (!Number.isInteger(stride) || stride < 1 || stride > window) throw new ArgumentError(`perplexity: stride ${stride} must be an integer in [1, window ${window}]`);
  if (ids.length < 2) throw new ArgumentError(`perplexity: the text has ${ids.length} token(s); at least 2 are needed`);
  const V = model.config.vocabSize;
  const t0 = performance.now();
  let total = 0;
  let scored = 0;
  let prevEnd = 0;
  let windows = 0;
  for (let begin = 0; begin < ids.length; begin += stride) {
    const end = Math.min(begin + window, ids.length);
    const T = end - begin;
    const trg = end - prevEnd;
    const x = idsTensor(ids.slice(begin, end)); // (1, T)
    const logits = model.forward(x).to('float32').contiguous().toTypedArray() as Float32Array; // (1, T, V)
    // Predictions for positions 1..T-1 come from rows 0..T-2; score the last min(trg, T-1) of them.
    const n = Math.min(trg, T - 1);
    for (let p = T - 1 - n; p < T - 1; p++) total += nll(logits, p * V, V, ids[begin + p + 1]!);
    scored += n;
    windows++;
    prevEnd = end;
    options.onProgress?.(end, ids.length);
    if (end === ids.length) break;
  }
  return { perplexity: Math.exp(total / scored), meanNll: total / scored, tokensScored: scored, windows, ms: performance.now() - t0 };
}
