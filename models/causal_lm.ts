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
}

export interface CausalLM extends Module {
  readonly config: ModelConfig;
  /** ids [B, T] (int64 or int32) -> logits [B, T, vocab] float32 (or [B, 1, vocab] with lastOnly). */
  forward(ids: Tensor, options?: ForwardOptions): Tensor;
  /** A cache sized for this model, `capacity` positions long. */
  newCache(batch: number, capacity: number): KVCache;
}
