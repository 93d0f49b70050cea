import { describe, expect, it } from 'vitest';
import { arange, ArgumentError, backendStatus, profile, ShapeError, tensor, zeros } from '../core/index.js';

describe('copy_', () => {
  it('writes into a narrow of a preallocated cache, leaving the rest untouched (KV-cache append)', () => {
    const cache = zeros([2, 3, 5, 2]); // (B, H, maxLen, D)
    const k = arange(2 * 3 * 2 * 2).reshape([2, 3, 2, 2]).to('float32');
    const p = profile(() => cache.narrow(2, 1, 2).copy_(k));
    // the native kernel library takes float32 copies where it is built (one strided copy, no staging); else cpu
    expect(p.records.map((r) => [r.op, r.backend])).toEqual([['CopyInto', backendStatus('native')?.available ? 'native' : 'cpu']]);
    expect(cache.narrow(2, 1, 2).tolist()).toEqual(k.tolist());
    expect(cache.narrow(2, 0, 1).sum().item()).toBe(0);
    expect(cache.narrow(2, 3, 2).sum().item()).toBe(0);
  });

  it('broadcasts and casts like torch copy_ (float -> int truncates, into a transposed view)', () => {
    const dst = zeros([3, 2], { dtype: 'int32' });
    dst.t().copy_(tensor([1.9, -2.7, 3.2]).unsqueeze(0).expand([2, 3]));
    expect(dst.tolist()).toEqual([
      [1, 1],
      [-2, -2],
      [3, 3],
    ]);
    const h = zeros([2, 2], { dtype: 'bfloat16' });
    h.copy_(tensor([[1.00390625, 3], [0.1, -5]]));
    expect(h.to('float32').tolist()).toEqual([
      [1, 3],
      [0.10009765625, -5],
    ]);
    const big = zeros([2], { dtype: 'int64' });
    big.copy_(tensor([7, 9], { dtype: 'int32' }));
    expect(big.tolist()).toEqual([7, 9]);
  });

  it('handles a source that aliases the destination', () => {
    const x = arange(6).to('float32');
    x.narrow(0, 1, 5).copy_(x.narrow(0, 0, 5));
    expect(x.tolist()).toEqual([0, 0, 1, 2, 3, 4]);
  });

  it('refuses bad shapes, overlapping destinations and constant tensors with clear errors', () => {
    expect(() => zeros([2, 3]).copy_(zeros([3, 2]))).toThrow(new ShapeError('copy_: source [3,2] does not broadcast to destination [2,3]'));
    expect(() => zeros([1, 3]).expand([2, 3]).copy_(zeros([2, 3]))).toThrow(ShapeError);
    expect(() => zeros([2]).markConstant().copy_(zeros([2]))).toThrow(ArgumentError);
    expect(() => zeros([2]).markConstant().copy_(zeros([2]))).toThrow(/constant tensor/);
  });
});
