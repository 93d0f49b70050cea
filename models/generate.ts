/**
 * Generation: one prefill forward over the prompt, then one decode forward per token, both through the KV
 * cache; stops at EOS (unless ignoreEos) or after maxNewTokens. Reports time to first token and decode speed.
 *
 * Context length: the whole sequence, prompt + max_new_tokens, must fit in the model's positions
 * (config max_position_embeddings, `maxPositions`), as Hugging Face's max_length counts it. A request that does
 * not fit throws ContextLengthError before any forward runs, for every model type (Llama's rope would silently
 * extrapolate past its training context; OPT has no learned position there). With `stopAtContext` generation
 * instead stops exactly at the limit (stoppedBy 'context'); a prompt that fills the context still throws.
 */
import { ArgumentError } from '../core/errors.js';
import { tidy } from '../core/scope.js';
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
  /**
   * When prompt + maxNewTokens exceeds the model's positions: stop at the limit (true) instead of throwing
   * ContextLengthError (default false: a silently shorter answer is easy to miss).
   */
  readonly stopAtContext?: boolean;
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
  /** 'context': stopAtContext cut generation at the model's last position before maxNewTokens. */
  readonly stoppedBy: 'eos' | 'length' | 'context';
}

/** The sequence a generation asks for (prompt + max_new_tokens) is longer than the model's context. */
export class ContextLengthError extends ArgumentError {
  constructor(
    readonly promptTokens: number,
    readonly maxNewTokens: number,
    readonly maxPositions: number,
  ) {
    super(
      promptTokens >= maxPositions && maxNewTokens > 0
        ? `generate: the prompt's ${promptTokens} tokens leave no room for max_new_tokens ${maxNewTokens} in the model's ${maxPositions} positions (max_position_embeddings); shorten the prompt`
        : `generate: ${promptTokens} prompt tokens + max_new_tokens ${maxNewTokens} = ${promptTokens + maxNewTokens} positions exceed the model's ${maxPositions} (max_position_embeddings); shorten the prompt or lower max_new_tokens`,
    );
  }
}

/** What the context check needs of a model: its config's max_position_embeddings. */
export interface HasContext {
  readonly config: { readonly maxPositions: number };
}

/**
 * Throws ContextLengthError unless prompt + max_new_tokens fits in the model's positions. The one check used by
 * generate / tokens, the CLI (through them) and the server.
 */
export function checkContextLength(model: HasContext, promptTokens: number, maxNewTokens: number): void {
  const max = model.config.maxPositions;
  if (promptTokens > max || promptTokens + maxNewTokens > max) throw new ContextLengthError(promptTokens, maxNewTokens, max);
}

/**
 * The number of tokens a generation may produce: maxNewTokens, checked against the context; with stopAtContext
 * cut to the positions left after the prompt (a prompt that leaves none still throws, unless nothing is asked).
 */
export function contextBudget(model: HasContext, promptTokens: number, maxNewTokens: number, stopAtContext = false): number {
  const room = model.config.maxPositions - promptTokens;
  if (!stopAtContext || maxNewTokens <= room) {
    checkContextLength(model, promptTokens, maxNewTokens);
    return maxNewTokens;
  }
  if (room <= 0) throw new ContextLengthError(promptTokens, maxNewTokens, model.config.maxPositions);
  return room;
}

/** max_new_tokens when the caller gives none. */
export const DEFAULT_MAX_NEW_TOKENS = 32;

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
  const asked = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(asked) || asked < 0) throw new ArgumentError(`generate: max_new_tokens ${asked} must be a non-negative integer`);
  const maxNew = contextBudget(model, prompt.length, asked, options.stopAtContext);
  const sampler = new Sampler(options);
  const eos = new Set(options.ignoreEos ? [] : (options.eosTokenIds ?? model.config.eosTokenIds));
  if (maxNew === 0) return;
  const cache = model.newCache(1, prompt.length + maxNew);
  liveCaches++;
  const seq = [...prompt];
  try {
    for (let i = 0; i < maxNew; i++) {
      // Each step in a tidy scope: every activation of the forward is released when the id is picked, so the
      // next step's outputs reuse their arrays from the pool (core/pool.ts) instead of allocating afresh.
      const id = tidy(() => {
        const input = i === 0 ? idsTensor(prompt) : idsTensor([seq[seq.length - 1]!]);
        const logits = model.forward(input, { cache, lastOnly: true }); // (1, 1, V)
        return sampler.next(lastRow(logits), seq);
      });
      seq.push(id);
      const isEos = eos.has(id);
      yield { id, index: i, eos: isEos };
      if (isEos) return;
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
  const asked = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (stoppedBy === 'length' && out.length < asked) stoppedBy = 'context'; // only stopAtContext ends it early
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
