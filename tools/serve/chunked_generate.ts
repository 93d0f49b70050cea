/**
 * Generation with a chunked prefill, for the server's model worker. models/generate.ts `tokens()` prefills the
 * whole prompt in one forward, so a cancel (client gone) cannot reach it until the prompt is done; here the
 * prompt goes through the KV cache `chunk` tokens per forward and the generator yields after each chunk, so the
 * caller can stop between chunks. The logits equal an unchunked prefill's (the attention is causal over the
 * whole cache, test/serve_worker.test.ts checks it for Llama and OPT).
 */
import { ArgumentError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { idsTensor } from '../../models/generate.js';
import { Sampler, type SamplingOptions } from '../../models/sampling.js';

export type GenerationStep =
  /** `done` of `total` prompt positions are in the cache. */
  | { readonly kind: 'prefill'; readonly done: number; readonly total: number }
  /** A generated token; `eos`: the sequence ends with it. */
  | { readonly kind: 'token'; readonly id: number; readonly index: number; readonly eos: boolean };

export interface ChunkedOptions {
  readonly maxNewTokens: number;
  /** Prompt tokens per prefill forward (≥ 1). */
  readonly chunk: number;
  readonly sampling: SamplingOptions;
  /** Stop ids (default: the model config's eos ids). */
  readonly eosTokenIds?: readonly number[];
}

let live = 0;

/** KV caches of chunked generations still running in this thread (the server's leak check). */
export function liveChunkedCaches(): number {
  return live;
}

/** The last position's logits of [1, T', V] as a fresh Float32Array (the sampler modifies it). */
function lastRow(logits: Tensor): Float32Array {
  const V = logits.shape[2]!;
  return logits.narrow(1, logits.shape[1]! - 1, 1).reshape([V]).to('float32').contiguous().toTypedArray().slice() as Float32Array;
}

/**
 * Prefill in chunks, then decode one token per step. Stop early with `return()` (or by not iterating): the
 * KV cache is released either way.
 */
export function* chunkedTokens(model: CausalLM, prompt: readonly number[], o: ChunkedOptions): Generator<GenerationStep, void, void> {
  if (prompt.length === 0) throw new ArgumentError('generate: the prompt is empty (give at least one token, e.g. BOS)');
  const vocab = model.config.vocabSize;
  const badId = prompt.find((v) => !Number.isInteger(v) || v < 0 || v >= vocab);
  if (badId !== undefined) throw new ArgumentError(`generate: prompt id ${badId} is outside the vocabulary [0, ${vocab})`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new ArgumentError(`generate: max_new_tokens ${o.maxNewTokens} must be a positive integer`);
  if (!Number.isInteger(o.chunk) || o.chunk < 1) throw new ArgumentError(`generate: prefill chunk ${o.chunk} must be a positive integer`);
  const sampler = new Sampler(o.sampling);
  const eos = new Set(o.eosTokenIds ?? model.config.eosTokenIds);
  const cache = model.newCache(1, prompt.length + o.maxNewTokens);
  live++;
  try {
    let logits: Tensor | undefined;
    for (let start = 0; start < prompt.length; start += o.chunk) {
      const part = prompt.slice(start, start + o.chunk);
      logits = model.forward(idsTensor(part), { cache, lastOnly: true }); // (1, 1, V)
      yield { kind: 'prefill', done: start + part.length, total: prompt.length };
    }
    const seq = [...prompt];
    for (let i = 0; i < o.maxNewTokens; i++) {
      if (i > 0) logits = model.forward(idsTensor([seq.at(-1)!]), { cache, lastOnly: true });
      const id = sampler.next(lastRow(logits!), seq);
      seq.push(id);
      const isEos = eos.has(id);
      yield { kind: 'token', id, index: i, eos: isEos };
      if (isEos) return;
    }
  } finally {
    cache.dispose();
    live--;
  }
}
