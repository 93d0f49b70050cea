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
    const V = row.length;
    const max = row[argmax(row)]!;
    // Unnormalized probabilities exp((l − max) / T), in double.
    const p = new Float64Array(V);
    let total = 0;
    for (let i = 0; i < V; i++) total += p[i] = Math.exp((row[i]! - max) / temperature);
    if (topK <= 0 && topP >= 1) return this.#draw(p, null, V, total);
    // Candidates in descending probability: the top k, or for top-p the smallest top set holding the mass
    // (found by widening a partial selection, so the whole vocabulary is sorted only when it must be).
    let order: Int32Array;
    let keep: number;
    if (topK > 0) {
      order = topIndices(p, Math.min(topK, V));
      keep = order.length;
      total = 0;
      for (let i = 0; i < keep; i++) total += p[order[i]!]!;
    } else {
      order = new Int32Array(0);
      keep = 0;
    }
    if (topP < 1) {
      for (let m = topK > 0 ? keep : Math.min(64, V); ; m = Math.min(V, m * 4)) {
        if (topK <= 0) order = topIndices(p, m);
        let cum = 0;
        let found = -1;
        for (let i = 0; i < order.length; i++) {
          cum += p[order[i]!]!;
          if (cum >= topP * total) {
            found = i + 1;
            break;
          }
        }
        if (found > 0) {
          keep = found;
          break;
        }
        if (topK > 0 || m >= V) {
          keep = order.length; // rounding: the whole candidate set
          break;
        }
      }
      total = 0;
      for (let i = 0; i < keep; i++) total += p[order[i]!]!;
    }
    return this.#draw(p, order, keep, total);
  }

  /** Sample index i with probability p[i]/total over the first n candidates (`order`, or 0..n-1). */
  #draw(p: Float64Array, order: Int32Array | null, n: number, total: number): number {
    let u = this.#rng.uniformF64() * total;
    for (let i = 0; i < n; i++) {
      const id = order ? order[i]! : i;
      u -= p[id]!;
      if (u < 0) return id;
    }
    return order ? order[n - 1]! : n - 1; // rounding left a sliver: the last candidate
  }
}

/** Indices of the k largest values, in descending order (a size-k min-heap: O(V log k)). */
export function topIndices(v: Float64Array, k: number): Int32Array {
  const heap = new Int32Array(k);
  let size = 0;
  const less = (a: number, b: number) => v[a]! < v[b]! || (v[a] === v[b] && a > b); // ties: lower id ranks higher
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && less(heap[l]!, heap[m]!)) m = l;
      if (r < size && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = 0; i < v.length; i++) {
    if (size < k) {
      heap[size] = i;
      for (let c = size++; c > 0; ) {
        const parent = (c - 1) >> 1;
        if (!less(heap[c]!, heap[parent]!)) break;
        [heap[c], heap[parent]] = [heap[parent]!, heap[c]!];
        c = parent;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  // Pop ascending into the back: descending order.
  const out = new Int32Array(size);
  for (let j = size - 1; j >= 0; j--) {
    out[j] = heap[0]!;
    heap[0] = heap[--size]!;
    down(0);
  }
  return out;
}
