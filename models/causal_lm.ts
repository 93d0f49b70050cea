/** What every causal LM offers generation, benchmarks and the CLI. */
import type { Tensor } from '../core/tensor.js';
import type { ModelConfig } from './config.js';
import type { KVCache } from './kv_cache.js';
import type { Module } from './nn/module.js';

export interface ForwardOptions {
  /** Cache to read the past from and append this call's positions to (prefill and decode alike). */
  readonly cache?: KVCache;
  /** Only the last position's logits ([B, 1, V]): what generation needs, and it skips most of lm_head. */
  readonly lastOnly?: boolean;
  /**
   * [B, past + T] (1 = token, 0 = padding), as Hugging Face's attention_mask: padded keys are hidden and
   * positions come from the mask (left padding). Omitted = no padding.
   */
  readonly attentionMask?: Tensor;
  /**
   * One single-sequence cache per row instead of `cache` (the server's continuous batching): row b of ids
   * continues caches[b] at its own length, so rows of different lengths share every Linear (M = B) while each
   * attends only over its own keys, exactly as it would alone. Not combinable with `cache` or `attentionMask`.
   */
  readonly caches?: readonly KVCache[];
}

export interface CausalLM extends Module {
  readonly config: ModelConfig;
  /** ids [B, T] (int64 or int32) -> logits [B, T, vocab] float32 (or [B, 1, vocab] with lastOnly). */
  forward(ids: Tensor, options?: ForwardOptions): Tensor;
  /** A cache sized for this model, `capacity` positions long. */
  newCache(batch: number, capacity: number): KVCache;
  /**
   * Set when keys cached while the sequence was at most this long go stale once it grows longer (Phi-3's
   * LongRoPE switches to its long factors): the model's forward then re-runs the whole sequence from an empty
   * cache once, as Hugging Face's Phi3ForCausalLM.prepare_inputs_for_generation does. Callers need do nothing;
   * batches of rows that cross it at different steps cannot equal their single runs.
   */
  readonly recomputeCacheAt?: number;
}
