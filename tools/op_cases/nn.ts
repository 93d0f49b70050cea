/** Neural-network composites: softmax, layer/RMS norm, rotary embedding, attention (masks, causal, GQA). */
import { input, value, type OpCase } from './spec.js';

const softmax: OpCase[] = [
  { name: 'Softmax/last', op: 'Softmax', fn: 'softmax', args: [input([4, 10]), value(-1)] },
  { name: 'Softmax/dim0', op: 'Softmax', fn: 'softmax', args: [input([5, 3, 4]), value(0)] },
  { name: 'Softmax/large_magnitude', op: 'Softmax', fn: 'softmax', args: [input([3, 16], { gen: { kind: 'rand', low: -1000, high: 1000 } }), value(1)] },
  { name: 'Softmax/float16', op: 'Softmax', fn: 'softmax', args: [input([4, 32], { dtype: 'float16', gen: { kind: 'rand', low: -8, high: 8 } }), value(-1)] },
  { name: 'Softmax/transposed', op: 'Softmax', fn: 'softmax', args: [input([6, 9], { layout: 'transposed' }), value(-1)] },
  { name: 'Softmax/large_4096x64', op: 'Softmax', fn: 'softmax', args: [input([4096, 64]), value(-1)], tags: ['bench'] },
];

const norms: OpCase[] = [
  { name: 'LayerNorm/affine', op: 'LayerNorm', fn: 'layer_norm', args: [input([4, 16], { gen: { kind: 'rand', low: -3, high: 5 } }), value([16]), input([16]), input([16]), value(1e-5)] },
  { name: 'LayerNorm/two_dims_no_affine', op: 'LayerNorm', fn: 'layer_norm', args: [input([2, 3, 4, 5]), value([4, 5]), value(null), value(null), value(1e-5)] },
  { name: 'LayerNorm/transposed', op: 'LayerNorm', fn: 'layer_norm', args: [input([6, 8], { layout: 'transposed' }), value([8]), input([8]), value(null), value(1e-5)] },
  { name: 'LayerNorm/bfloat16', op: 'LayerNorm', fn: 'layer_norm', args: [input([3, 64], { dtype: 'bfloat16' }), value([64]), input([64], { dtype: 'bfloat16' }), input([64], { dtype: 'bfloat16' }), value(1e-5)] },
  { name: 'LayerNorm/large_4096x64', op: 'LayerNorm', fn: 'layer_norm', args: [input([4096, 64]), value([64]), input([64]), input([64]), value(1e-5)], tags: ['bench'] },
  { name: 'RmsNorm/weight', op: 'RmsNorm', fn: 'rms_norm', args: [input([5, 32], { gen: { kind: 'rand', low: -4, high: 4 } }), input([32]), value(1e-6)] },
  { name: 'RmsNorm/no_weight_3d', op: 'RmsNorm', fn: 'rms_norm', args: [input([2, 3, 16]), value(null), value(1e-5)] },
  { name: 'RmsNorm/bfloat16_f32_weight', op: 'RmsNorm', fn: 'rms_norm', args: [input([4, 64], { dtype: 'bfloat16' }), input([64]), value(1e-6)] },
  { name: 'RmsNorm/float16', op: 'RmsNorm', fn: 'rms_norm', args: [input([4, 64], { dtype: 'float16' }), input([64], { dtype: 'float16' }), value(1e-6)] },
  { name: 'RmsNorm/large_4096x64', op: 'RmsNorm', fn: 'rms_norm', args: [input([4096, 64]), input([64]), value(1e-6)], tags: ['bench'] },
];

const rope: OpCase[] = [
  { name: 'Rope/heads_broadcast', op: 'Rope', fn: 'rope', exact: true, args: [input([2, 4, 6, 8]), input([6, 8]), input([6, 8])] },
  { name: 'Rope/batched_tables', op: 'Rope', fn: 'rope', exact: true, args: [input([2, 3, 5, 16]), input([2, 1, 5, 16]), input([2, 1, 5, 16])] },
  { name: 'Rope/transposed_x', op: 'Rope', fn: 'rope', args: [input([3, 8, 4], { layout: 'transposed' }), input([8, 4]), input([8, 4])] },
  { name: 'Rope/tables_theta_10000', op: 'Cos', fn: 'rope_tables', tol: { rtol: 1e-5, atol: 2e-6 }, args: [value(17), value(64), value(10000)] },
  { name: 'Rope/tables_theta_500000', op: 'Cos', fn: 'rope_tables', tol: { rtol: 1e-5, atol: 2e-6 }, args: [value(9), value(128), value(500000)] },
];

const attention: OpCase[] = [
  { name: 'Attention/plain', op: 'Attention', fn: 'sdpa', args: [input([2, 3, 5, 8]), input([2, 3, 7, 8]), input([2, 3, 7, 6]), value(null), value({})] },
  { name: 'Attention/causal_square', op: 'Attention', fn: 'sdpa', args: [input([1, 2, 6, 8]), input([1, 2, 6, 8]), input([1, 2, 6, 8]), value(null), value({ is_causal: true })] },
  // PyTorch aligns is_causal top-left: with L < S query i sees keys 0..i only.
  { name: 'Attention/causal_top_left_L3_S7', op: 'Attention', fn: 'sdpa', args: [input([2, 3, 8]), input([2, 7, 8]), input([2, 7, 8]), value(null), value({ is_causal: true })] },
  // The KV-cache extension: bottom-right alignment, query i sees keys 0..i + S − L.
  { name: 'Attention/causal_bottom_right_L3_S7', op: 'Attention', fn: 'sdpa', args: [input([2, 3, 8]), input([2, 7, 8]), input([2, 7, 8]), value(null), value({ is_causal: true, causal_align: 'bottom-right' })] },
  { name: 'Attention/bool_mask_broadcast', op: 'Attention', fn: 'sdpa', args: [input([2, 2, 4, 8]), input([2, 2, 5, 8]), input([2, 2, 5, 8]), input([4, 5], { dtype: 'bool', gen: { kind: 'bool', p: 0.8 } }), value({})] },
  { name: 'Attention/float_mask_scale', op: 'Attention', fn: 'sdpa', args: [input([3, 4, 8]), input([3, 6, 8]), input([3, 6, 8]), input([3, 4, 6], { gen: { kind: 'rand', low: -2, high: 0 } }), value({ scale: 0.3 })] },
  { name: 'Attention/gqa_8q_2kv', op: 'Attention', fn: 'sdpa', args: [input([1, 8, 4, 16]), input([1, 2, 9, 16]), input([1, 2, 9, 16]), value(null), value({ enable_gqa: true, is_causal: true, causal_align: 'bottom-right' })] },
  { name: 'Attention/decode_transposed_kv', op: 'Attention', fn: 'sdpa', args: [input([2, 1, 16]), input([2, 10, 16], { layout: 'transposed' }), input([2, 10, 16]), value(null), value({})] },
  { name: 'Attention/bfloat16', op: 'Attention', fn: 'sdpa', args: [input([2, 4, 16], { dtype: 'bfloat16' }), input([2, 6, 16], { dtype: 'bfloat16' }), input([2, 6, 16], { dtype: 'bfloat16' }), value(null), value({ is_causal: true })] },
  { name: 'Attention/prefill_8h_128x64', op: 'Attention', fn: 'sdpa', args: [input([8, 128, 64]), input([8, 128, 64]), input([8, 128, 64]), value(null), value({ is_causal: true })], tags: ['bench'] },
];

export const nnCases: readonly OpCase[] = [...softmax, ...norms, ...rope, ...attention];
