import { describe, expect, it } from 'vitest';
import {
  DTypeError,
  dropout,
  layerNorm,
  manualSeed,
  ones,
  rand,
  randn,
  rmsNorm,
  rope,
  ropeTables,
  scaledDotProductAttention,
  ShapeError,
  tensor,
  zeros,
} from '../core/index.js';

describe('scaled_dot_product_attention causal alignment', () => {
  const q = randn([1, 1, 4]);
  const k = randn([1, 3, 4]);
  const v = tensor([[[1, 0], [0, 1], [5, 5]]], { dtype: 'float32' });
  it('isCausal is PyTorch’s top-left alignment: with L=1, S=3 the query sees only key 0', () => {
    expect(scaledDotProductAttention(q, k, v, { isCausal: true }).tolist()).toEqual([[[1, 0]]]);
  });
  it("causalAlign: 'bottom-right' (KV-cache decoding) lets the last query see every key", () => {
    const all = scaledDotProductAttention(q, k, v);
    const br = scaledDotProductAttention(q, k, v, { isCausal: true, causalAlign: 'bottom-right' });
    expect(br.tolist()).toEqual(all.tolist());
  });
  it('a fully masked row is NaN, as in PyTorch', () => {
    const out = scaledDotProductAttention(q, k, v, { attnMask: tensor([[false, false, false]]) });
    expect(Number.isNaN(out.toArray()[0] as number)).toBe(true);
  });
});

describe('nn bad input', () => {
  it('layer_norm', () => {
    expect(() => layerNorm(zeros([2, 3]), [4])).toThrow(new ShapeError('layer_norm: normalized_shape [4] must match the last 1 dims of input [2,3]'));
    expect(() => layerNorm(zeros([2, 3]), [3], ones([4]))).toThrow(new ShapeError('layer_norm: weight [4] must have normalized_shape [3]'));
    expect(() => layerNorm(zeros([2, 3]), [3], ones([3], { dtype: 'float16' }))).toThrow(DTypeError);
    expect(() => layerNorm(tensor([1, 2]), [2])).toThrow(/layer_norm: expected a floating-point tensor, got int64\[2\]/);
  });
  it('rms_norm', () => {
    expect(() => rmsNorm(zeros([2, 3]), ones([4]))).toThrow(new ShapeError('rms_norm: weight [4] must be [3] for input [2,3]'));
    expect(() => rmsNorm(zeros([2, 3]), undefined, -1)).toThrow('rms_norm: eps must be >= 0, got -1');
  });
  it('rope', () => {
    expect(() => rope(zeros([2, 3]), zeros([2, 3]), zeros([2, 3]))).toThrow(new ShapeError('rope: the last dim of input [2,3] must be even'));
    expect(() => rope(zeros([2, 4]), zeros([3, 4]), zeros([3, 4]))).toThrow(/^rope: shapes \[2,4\] and \[3,4\] and \[3,4\] cannot be broadcast/);
    expect(() => rope(zeros([4]), zeros([2, 4]), zeros([2, 4]))).toThrow('rope: cos [2,4] and sin [2,4] must broadcast to input [4]');
    expect(() => ropeTables(4, 7)).toThrow('rope_tables: head dim must be a positive even integer, got 7');
  });
  it('attention', () => {
    const q = zeros([2, 4, 8]);
    expect(() => scaledDotProductAttention(q, zeros([2, 5, 6]), zeros([2, 5, 8]))).toThrow(
      new ShapeError('scaled_dot_product_attention: query [2,4,8] and key [2,5,6]: embedding dims 8 and 6 differ'),
    );
    expect(() => scaledDotProductAttention(q, zeros([2, 5, 8]), zeros([2, 6, 8]))).toThrow(/sequence lengths 5 and 6 differ/);
    expect(() => scaledDotProductAttention(zeros([1, 6, 4, 8]), zeros([1, 4, 5, 8]), zeros([1, 4, 5, 8]), { enableGqa: true })).toThrow(
      'scaled_dot_product_attention: with enableGqa, query heads 6 must be a multiple of key heads 4 (value heads 4)',
    );
    expect(() => scaledDotProductAttention(q, q, q, { isCausal: true, attnMask: ones([4, 4], { dtype: 'bool' }) })).toThrow(
      'scaled_dot_product_attention: attn_mask and is_causal cannot both be set',
    );
    expect(() => scaledDotProductAttention(q, q, q, { attnMask: ones([3, 4], { dtype: 'bool' }) })).toThrow(ShapeError);
    expect(() => scaledDotProductAttention(q, q, q, { attnMask: ones([4, 4], { dtype: 'int32' }) })).toThrow(/attn_mask must be bool or the query's dtype float32/);
    expect(() => scaledDotProductAttention(q, q.to('float16'), q)).toThrow(DTypeError);
    expect(() => scaledDotProductAttention(q, q, q, { dropoutP: 0.1 })).toThrow(/dropout_p 0.1 is not supported/);
  });
});

describe('dropout', () => {
  it('is the identity in inference and returns the input itself', () => {
    const x = rand([3, 4]);
    expect(dropout(x, 0.3)).toBe(x);
  });
  it('in training zeroes about p of the elements and scales the rest by 1/(1-p)', () => {
    manualSeed(1);
    const x = ones([100, 100]);
    const y = dropout(x, 0.25, true).toArray() as Float32Array;
    const zeros = y.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(2200);
    expect(zeros).toBeLessThan(2800);
    expect(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
  });
  it('checks p', () => {
    expect(() => dropout(ones([2]), 1.5)).toThrow('dropout: probability has to be between 0 and 1, but got 1.5');
  });
});
