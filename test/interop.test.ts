import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import { DTypeError, fromNdarray, fromTypedArray, ShapeError, tensor, toNdarray } from '../core/index.js';

describe('ndarray interop is zero-copy', () => {
  it('fromNdarray shares memory, strides and offset', () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const nd = ndarray(data, [2, 3]);
    const t = fromNdarray(nd.transpose(1, 0));
    expect(t.shape).toEqual([3, 2]);
    expect(t.strides).toEqual([1, 3]);
    expect(t.tolist()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    data[4] = 40;
    expect(t.tolist()).toEqual([
      [0, 3],
      [1, 40],
      [2, 5],
    ]);
    const sliced = fromNdarray(nd.lo(1, 1));
    expect(sliced.offset).toBe(4);
    expect(sliced.tolist()).toEqual([[40, 5]]);
  });

  it('toNdarray views the same storage', () => {
    const t = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'int32' },
    );
    const nd = toNdarray(t.t());
    expect(nd.get(0, 1)).toBe(3);
    nd.set(1, 0, 99);
    expect(t.tolist()).toEqual([
      [1, 99],
      [3, 4],
    ]);
  });

  it('half types travel as bit patterns and need an explicit dtype', () => {
    const bits = new Uint16Array([0x3c00, 0xc000]); // float16 1.0, -2.0
    expect(() => fromNdarray(ndarray(bits, [2]))).toThrow(DTypeError);
    expect(fromNdarray(ndarray(bits, [2]), { dtype: 'float16' }).tolist()).toEqual([1, -2]);
    expect(toNdarray(tensor([1.5], { dtype: 'bfloat16' })).data).toEqual(new Uint16Array([0x3fc0]));
  });

  it('refuses what a Tensor cannot represent', () => {
    expect(() => fromNdarray(ndarray(new Float64Array(3), [3]))).toThrow(/Float64Array has no opshift dtype/);
    expect(() => fromNdarray(ndarray(new Float32Array(3), [3]).step(-1))).toThrow(ShapeError);
    expect(() => fromNdarray(ndarray([1, 2, 3], [3]))).toThrow(/data must be a typed array \(got a plain array\)/);
  });

  it('fromTypedArray wraps without copying', () => {
    const data = new Int8Array([1, 2, 3, 4]);
    const t = fromTypedArray(data, [2, 2]);
    data[3] = 7;
    expect(t.dtype).toBe('int8');
    expect(t.tolist()).toEqual([
      [1, 2],
      [3, 7],
    ]);
    expect(fromTypedArray(new Uint8Array([1, 0]), [2], { dtype: 'bool' }).tolist()).toEqual([true, false]);
  });
});
