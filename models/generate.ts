/**
 * Generation: one prefill forward over the prompt, then one decode forward per token, both through the KV
 * cache; stops at EOS (unless ignoreEos) or after maxNewTokens. Reports time to first token and decode speed.
 */
import { ArgumentError } from '../core/errors.js';
import { fromTypedArray } from '../ops/creation.js';
import type { Tensor } from '../core/tensor.js';
import type { CausalLM } from './causal_lm.js';
import { Sampler, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens?: number;
  /** Stop ids (default: the config's eos_token_id(s)). */
  readonly eosTokenIds?: readonly number[];
  readonly ignoreEos?: boolean;
  /** Called with each new id as soon as it is picked (streaming). */
  readonly onToken?: (id: number, index: number) => void;
}

export interface GenerateResult {
  /** The generated ids only (not the prompt). */
  readonly ids: number[];
  readonly promptTokens: number;
  /** Prefill plus the first pick, ms. */
  readonly ttftMs: number;
  /** Decode time after the first token, ms. */
  readonly decodeMs: number;
  /** Tokens after the first one per second of decode (NaN for fewer than 2 tokens). */
  readonly tokensPerS: number;
  readonly stoppedBy: 'eos' | 'length';
}

/** Token ids as the [1, T] int64 batch every forward takes. */
export function idsTensor(ids: readonly number[]): Tensor {
  return fromTypedArray(BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]); // (1, T)
}

/** The last position's logits of [1, T', V] as a fresh Float32Array. */
function lastRow(logits: Tensor): Float32Array {
  const V = logits.shape[2]!;
  return logits.narrow(1, logits.shape[1]! - 1, 1).reshape([V]).to('float32').contiguous().toTypedArray().slice() as Float32Array;
}

/** One generated token, as `tokens()` yields them. */
export interface TokenStep {
  readonly id: number;
  readonly index: number;
  /** The id is an EOS id (and ignoreEos is off): the sequence ends with it. */
  readonly eos: boolean;
}

/**
 * Generation one token at a time: the first `next()` runs the prefill, each later one a decode step. Stop
 * early by not iterating further (or `return()`): the KV cache is released either way. Callers that must stay
 * responsive between tokens (a server) interleave their own work between steps.
 */
export function* tokens(model: CausalLM, prompt: readonly number[], options: Omit<GenerateOptions, 'onToken'> = {}): Generator<TokenStep, void, void> {
  if (prompt.length === 0) throw new ArgumentError('generate: the prompt is empty (give at least one token, e.g. BOS)');
  const vocab = model.config.vocabSize;
  const badId = prompt.find((v) => !Number.isInteger(v) || v < 0 || v >= vocab);
  if (badId !== undefined) throw new ArgumentError(`generate: prompt id ${badId} is outside the vocabulary [0, ${vocab})`);
  const maxNew = options.maxNewTokens ?? 32;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new ArgumentError(`generate: max_new_tokens ${maxNew} must be a non-negative integer`);
  const sampler = new Sampler(options);
  const eos = new Set(options.ignoreEos ? [] : (options.eosTokenIds ?? model.config.eosTokenIds));
  if (maxNew === 0) return;
  const cache = model.newCache(1, prompt.length + maxNew);
  liveCaches++;
  const seq = [...prompt];
  try {
    let input = idsTensor(prompt);
    for (let i = 0; i < maxNew; i++) {
      const logits = model.forward(input, { cache, lastOnly: true }); // (1, 1, V)
      const id = sampler.next(lastRow(logits), seq);
      seq.push(id);
      const isEos = eos.has(id);
      yield { id, index: i, eos: isEos };
      if (isEos) return;
      input = idsTensor([id]);
    }
  } finally {
    cache.dispose();
    liveCaches--;
  }
}

let liveCaches = 0;

/** KV caches of generations still running (a server's leak check). */
export function liveKvCaches(): number {
  return liveCaches;
}

export function generate(model: CausalLM, prompt: readonly number[], options: GenerateOptions = {}): GenerateResult {
  const out: number[] = [];
  const t0 = performance.now();
  let ttft = 0;
  let stoppedBy: GenerateResult['stoppedBy'] = 'length';
  for (const step of tokens(model, prompt, options)) {
    if (step.index === 0) ttft = performance.now() - t0;
    out.push(step.id);
    options.onToken?.(step.id, step.index);
    if (step.eos) stoppedBy = 'eos';
  }
  const decodeMs = out.length > 0 ? performance.now() - t0 - ttft : 0;
  return {
    ids: out,
    promptTokens: prompt.length,
    ttftMs: ttft,
    decodeMs,
    tokensPerS: out.length > 1 ? ((out.length - 1) * 1000) / decodeMs : NaN,
    stoppedBy,
  };
}
