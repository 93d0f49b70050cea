/**
 * `opshift/models`: the causal LMs (OPT and the Llama family: Llama, Mistral, Qwen2, Phi-3), loading them from Hugging Face folders, the demo models or
 * synthetic presets, their configs, the KV cache, generation and sampling.
 */
export * from './causal_lm.js';
export * from './config.js';
export * from './demo_models.js';
export * from './generate.js';
export * from './generate_batch.js';
export * from './kv_cache.js';
export * from './llama.js';
export * from './load.js';
export * from './opt.js';
export * from './rope.js';
export * from './sampling.js';
