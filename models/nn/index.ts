/** `opshift/nn`: modules with parameters (Module, Linear, Embedding, LayerNorm, RMSNorm) and the quantized linears. */
export * from './module.js';
export * from './layers.js';
export * from './qlinear.js';
