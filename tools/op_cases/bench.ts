/**
 * Benchmark-sized cases for `opshift bench op` (kept out of OP_CASES so the test suite stays fast; the
 * catalog's own cases tagged 'bench' are benchmarked too). Shapes follow the targets: memory-bound ops
 * on 4096×4096 float32, GEMM at 1024³ and 128×2048×2048, GEMV 1×4096×4096 with a constant weight.
 */
import { input, value, type OpCase } from './spec.js';

const big = [4096, 4096];

export const benchCases: readonly OpCase[] = [
  { name: 'Add/4096x4096', op: 'Add', fn: 'add', args: [input(big), input(big)] },
  { name: 'Mul/4096x4096', op: 'Mul', fn: 'mul', args: [input(big), input(big)] },
  { name: 'Silu/4096x4096', op: 'Silu', fn: 'silu', args: [input(big, { gen: { kind: 'rand', low: -6, high: 6 } })] },
  { name: 'Softmax/4096x4096', op: 'Softmax', fn: 'softmax', args: [input(big), value(-1)] },
  // Llama's MLP gate, fused (ops/fused.ts): two reads and one write per element
  { name: 'SiluMul/4096x4096', op: 'SiluMul', fn: 'silu_mul', args: [input(big, { gen: { kind: 'rand', low: -6, high: 6 } }), input(big)] },
  { name: 'Gelu/4096x4096', op: 'Gelu', fn: 'gelu', args: [input(big, { gen: { kind: 'rand', low: -6, high: 6 } }), value('none')] },
  { name: 'LayerNorm/4096x4096', op: 'LayerNorm', fn: 'layer_norm', args: [input(big), value([4096]), input([4096]), input([4096]), value(1e-5)] },
  { name: 'RmsNorm/4096x4096', op: 'RmsNorm', fn: 'rms_norm', args: [input(big), input([4096]), value(1e-6)] },
  { name: 'MatMul/1024x1024x1024', op: 'MatMul', fn: 'matmul', args: [input([1024, 1024]), input([1024, 1024])] },
  { name: 'Linear/128x2048x2048', op: 'Linear', fn: 'linear', args: [input([128, 2048]), input([2048, 2048], { constant: true }), value(null)] },
  { name: 'Linear/gemv_1x4096x4096', op: 'Linear', fn: 'linear', args: [input([1, 4096]), input([4096, 4096], { constant: true }), value(null)] },
  // Attention as the models call it (issue #16): causal prefill, and decode of one token over a 2048-entry cache.
  { name: 'Attention/prefill_12h_512x64', op: 'Attention', fn: 'sdpa', args: [input([1, 12, 512, 64]), input([1, 12, 512, 64]), input([1, 12, 512, 64]), value(null), value({ is_causal: true })] },
  { name: 'Attention/prefill_gqa_32q4kv_1024x64', op: 'Attention', fn: 'sdpa', args: [input([1, 32, 1024, 64]), input([1, 4, 1024, 64]), input([1, 4, 1024, 64]), value(null), value({ is_causal: true, enable_gqa: true })] },
  { name: 'Attention/prefill_32h_256x128', op: 'Attention', fn: 'sdpa', args: [input([1, 32, 256, 128]), input([1, 32, 256, 128]), input([1, 32, 256, 128]), value(null), value({ is_causal: true })] },
  { name: 'Attention/decode_12h_2048x64', op: 'Attention', fn: 'sdpa', args: [input([1, 12, 1, 64]), input([1, 12, 2048, 64]), input([1, 12, 2048, 64]), value(null), value({})] },
];
