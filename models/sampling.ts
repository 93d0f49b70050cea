/**
 * Picking the next token from a logits row, as Hugging Face's logits processors do, in this order:
 * repetition penalty, temperature, top-k, top-p, then sample (or argmax when greedy). Plain JS over one
 * Float32Array of vocab size: cheap next to the forward, and exact.
 */
import { ArgumentError } from '../core/errors.js';
import { Generator as Rng } from '../core/random.js';

export interface SamplingOptions {
  /** Argmax (the default when no temperature is given). */
  readonly greedy?: boolean;
  /** > 0; 1 leaves the distribution as is. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0: off). */
  readonly topK?: number;
  /** Keep the smallest set whose probability reaches p (1: off). */
  readonly topP?: number;
  /** > 0; HF's CTRL-style penalty on tokens already in the sequence (1: off). */
  readonly repetitionPenalty?: number;
  readonly seed?: number;
}

export function validateSampling(o: SamplingOptions): void {
  const bad = (name: string, v: number, rule: string) => {
    throw new ArgumentError(`generate: ${name} ${v} ${rule}`);
  };
  if (o.temperature !== undefined && !(o.temperature > 0)) bad('temperature', o.temperature, 'must be > 0 (use greedy for argmax)');
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) bad('top_k', o.topK, 'must be a non-negative integer');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('top_p', o.topP, 'must be in (0, 1]');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) bad('repetition_penalty', o.repetitionPenalty, 'must be > 0');
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export class Sampler {
  readonly #rng: Rng;
  constructor(readonly options: SamplingOptions) {
    validateSampling(options);
    this.#rng = new Rng(options.seed ?? 0);
  }

  get greedy(): boolean {
    return this.options.greedy ?? this.options.temperature === undefined;
  }

  /** The next token id; `row` (a copy of the logits) is modified. `seen` are the ids so far. */
  next(row: Float32Array, seen: readonly number[]): number {
    const { repetitionPenalty: rp = 1, temperature = 1, topK = 0, topP = 1 } = this.options;
    if (rp !== 1)
      for (const id of new Set(seen)) {
        const v = row[id]!;
        row[id] = v < 0 ? v * rp : v / rp;
      }
    if (this.greedy) return argmax(row);
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!);
    let keep = topK > 0 ? Math.min(topK, order.length) : order.length;
    const max = row[order[0]!]!;
    const probs = new Float64Array(keep);
    let total = 0;
    for (let i = 0; i < keep; i++) total += probs[i] = Math.exp((row[order[i]!]! - max) / temperature);
    if (topP < 1) {
      // Smallest prefix (by descending probability) whose mass reaches topP; always at least one token.
      let cum = 0;
      for (let i = 0; i < keep; i++) {
        cum += probs[i]! / total;
        if (cum >= topP) {
          keep = i + 1;
          break;
        }
      }
      total = 0;
      for (let i = 0; i < keep; i++) total += probs[i]!;
    }
    let u = this.#rng.uniformF64() * total;
    for (let i = 0; i < keep; i++) {
      u -= probs[i]!;
      if (u < 0) return order[i]!;
    }
    return order[keep - 1]!;
  }
}
