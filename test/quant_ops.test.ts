/**
 * Quantize / dequantize per tensor, per channel and per group, bit for bit against PyTorch 1.13
 * (test/fixtures/quant/make_quant.py), and the weight quantizers against quantize_dynamic / AWQ's formula.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  dequantizePerChannel,
  dequantizePerGroup,
  dequantizePerTensor,
  DTypeError,
  fromTypedArray,
  quantizePerChannel,
  quantizePerGroup,
  quantizePerTensor,
  quantizeWeightInt8,
  quantizeWeightUint4,
  ShapeError,
  tensor,
  type QuantDType,
  type Tensor,
} from '../core/index.js';

interface Case {
  name: string;
  granularity: 'tensor' | 'channel' | 'group';
  dtype: QuantDType;
  shape: number[];
  axis?: number;
  group_size?: number;
  x: number[];
  scale: number[];
  zero_point: number[];
  q: number[];
  deq: number[];
}
interface Fixture {
  cases: Case[];
  quantize_dynamic: { per_channel: boolean; shape: number[]; w: number[]; q: number[]; scale: number[] }[];
  awq_pseudo_quantize: { shape: number[]; group_size: number; w: number[]; q: number[]; scales: number[]; zeros: number[] };
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/quant/quant.json', import.meta.url), 'utf8')) as Fixture;

const f32 = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);
const floatTensor = (bits: number[], shape: number[]) => fromTypedArray(f32(bits), shape);
const ints = (t: Tensor) => Array.from(t.contiguous().toArray() as Int8Array | Uint8Array, Number);
const bitsOf = (t: Tensor) => Array.from(new Uint32Array((t.contiguous().toArray() as Float32Array).slice().buffer));
const unpack4 = (t: Tensor) => ints(t).flatMap((b) => [b & 15, b >> 4]);

describe('quantize / dequantize vs PyTorch 1.13 (bit exact)', () => {
  for (const c of fx.cases)
    it(c.name, () => {
      const x = floatTensor(c.x, c.shape);
      const scales = floatTensor(c.scale, c.granularity === 'tensor' ? [] : [c.scale.length]);
      const zps = fromTypedArray(Int32Array.from(c.zero_point), c.granularity === 'tensor' ? [] : [c.zero_point.length]);
      let q: Tensor;
      let d: Tensor;
      if (c.granularity === 'tensor') {
        q = quantizePerTensor(x, f32(c.scale)[0]!, c.zero_point[0]!, c.dtype);
        d = dequantizePerTensor(q, f32(c.scale)[0]!, c.zero_point[0]!, c.dtype);
      } else if (c.granularity === 'channel') {
        q = quantizePerChannel(x, scales, zps, c.axis!, c.dtype);
        d = dequantizePerChannel(q, scales, zps, c.axis!, c.dtype);
      } else {
        const gshape = [c.shape[0]!, c.shape[1]! / c.group_size!];
        const s = scales.reshape(gshape);
        const z = zps.reshape(gshape);
        q = quantizePerGroup(x, s, z, c.group_size!, c.dtype);
        d = dequantizePerGroup(q, s, z, c.group_size!, c.dtype);
      }
      if (c.dtype === 'uint4') {
        expect(q.dtype).toBe('uint8');
        expect(q.shape).toEqual([...c.shape.slice(0, -1), c.shape[c.shape.length - 1]! / 2]);
        // PyTorch's quint4x2 int_repr is the packed bytes (low nibble first), except per group where we made one call per group.
        if (c.granularity === 'group') expect(unpack4(q)).toEqual(c.q.flatMap((b) => [b & 15, b >> 4]));
        else expect(ints(q)).toEqual(c.q);
      } else {
        expect(q.dtype).toBe(c.dtype);
        expect(ints(q)).toEqual(c.q);
      }
      expect(bitsOf(d)).toEqual(c.deq);
    });

  it('a non-contiguous input quantizes like its contiguous copy', () => {
    const c = fx.cases.find((k) => k.name === 'per_channel_int8_axis0')!;
    const x = floatTensor(c.x, c.shape);
    const s = floatTensor(c.scale, [c.scale.length]);
    const z = fromTypedArray(Int32Array.from(c.zero_point), [c.zero_point.length]);
    const qt = quantizePerChannel(x.transpose(0, 1), s, z, 1, 'int8'); // [12, 5], channels along axis 1
    expect(ints(qt.transpose(0, 1))).toEqual(c.q);
  });
});

describe('weight quantizers vs PyTorch', () => {
  for (const w of fx.quantize_dynamic)
    it(`quantize_dynamic int8 weights, ${w.per_channel ? 'per channel' : 'per tensor'} (absmax/127.5, reciprocal, half even)`, () => {
      const { weight, scale } = quantizeWeightInt8(floatTensor(w.w, w.shape), { perChannel: w.per_channel });
      expect(ints(weight)).toEqual(w.q);
      expect(bitsOf(scale)).toEqual(w.scale);
    });

  it("AWQ's pseudo_quantize_tensor (uint4, asymmetric, g32)", () => {
    const a = fx.awq_pseudo_quantize;
    const q = quantizeWeightUint4(floatTensor(a.w, a.shape), a.group_size);
    expect(unpack4(q.qweight)).toEqual(a.q);
    expect(bitsOf(q.scales)).toEqual(a.scales);
    expect(ints(q.zeros!)).toEqual(a.zeros);
  });
});

describe('quantize / dequantize errors', () => {
  const x = tensor([[0.5, -1, 2, 3]], { dtype: 'float32' });
  it('names the op and the rule', () => {
    expect(() => quantizePerTensor(x, 0, 0, 'int8')).toThrow(ArgumentError);
    expect(() => quantizePerTensor(x, 0.1, 300, 'uint8')).toThrow(/zero point 300 must be an integer in \[0, 255\]/);
    expect(() => quantizePerTensor(x, 0.1, 0, 'int3' as QuantDType)).toThrow(DTypeError);
    expect(() => quantizePerTensor(x.to('float16'), 0.1, 0, 'int8')).toThrow(/quantize_per_tensor: input must be float32/);
    expect(() => quantizePerTensor(tensor([1, 2, 3], { dtype: 'float32' }), 0.1, 8, 'uint4')).toThrow(/must be even/);
    expect(() => quantizePerChannel(x, tensor([0.1, 0.1], { dtype: 'float32' }), tensor([0, 0], { dtype: 'int32' }), 1, 'int8')).toThrow(ShapeError);
    expect(() => quantizePerChannel(x, tensor([0.1], { dtype: 'float32' }), tensor([0], { dtype: 'int32' }), 2, 'int8')).toThrow(/axis 2 is out of range/);
    expect(() => quantizePerGroup(x, tensor([[0.1]], { dtype: 'float32' }), tensor([[0]], { dtype: 'int32' }), 3, 'int8')).toThrow(/not a multiple of the group size 3/);
    expect(() => quantizePerGroup(x, tensor([[0.1]], { dtype: 'float32' }), tensor([[0.5]], { dtype: 'float32' }), 4, 'int8')).toThrow(/zero point float32\[1,1\] must be an integer tensor/);
    expect(() => dequantizePerTensor(tensor([1, 2], { dtype: 'int8' }), 0.1, 0, 'uint8')).toThrow(/a uint8 tensor is stored as uint8, got int8/);
  });

  it('uint4 round trip through packing', () => {
    const q = quantizePerTensor(x, 0.5, 8, 'uint4');
    expect(q.shape).toEqual([1, 2]);
    expect(unpack4(q)).toEqual([9, 6, 12, 14]);
    expect(dequantizePerTensor(q, 0.5, 8, 'uint4').tolist()).toEqual([[0.5, -1, 2, 3]]);
  });
});
