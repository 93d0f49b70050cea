/**
 * Quantized linears (ops/quant.ts): the cpu reference against plain float math, and the ORT kernels
 * (MatMulInteger, MatMulNBits) against the cpu reference.
 */
import { describe, expect, it } from 'vitest';
import {
  backendStatus,
  DTypeError,
  linear,
  linearW4,
  linearW8A8,
  manualSeed,
  profile,
  quantizeWeightInt8,
  quantizeWeightUint4,
  rand,
  ShapeError,
  tensor,
  withBackend,
  zeros,
  type Tensor,
} from '../core/index.js';
import { configureOrt, ortConfig } from '../backends/ort/config.js';
import { relL2 } from './model_fixtures.js';

const ortAvailable = backendStatus('ort')?.available === true;

/** ‖a − b‖ / ‖b‖ over two tensors. */
const relErr = (a: Tensor, b: Tensor): number => relL2(a.toArray() as Float32Array, b.toArray() as Float32Array);

describe('weight quantizers (AMD / PyTorch formulas)', () => {
  it('int8 per tensor: scale = absmax/127.5, round half to even, clamp', () => {
    const w = tensor([[1.275, -2.55], [0.5, 0.0]], { dtype: 'float32' });
    const { weight, scale } = quantizeWeightInt8(w);
    expect(scale.shape).toEqual([]);
    expect(scale.item()).toBeCloseTo(2.55 / 127.5, 7);
    expect(weight.tolist()).toEqual([
      [64, -128],
      [25, 0],
    ]);
    expect(weight.isConstant).toBe(true);
    const pc = quantizeWeightInt8(w, { perChannel: true });
    expect(pc.scale.shape).toEqual([2]);
    expect(pc.weight.tolist()).toEqual([
      [64, -128],
      [128 > 127 ? 127 : 128, 0],
    ]);
  });

  it('uint4 per group: asymmetric scales and zero points, packed two per byte (low nibble first)', () => {
    const w = tensor([Array.from({ length: 32 }, (_, i) => i - 8)], { dtype: 'float32' }); // min -8, max 23
    const q = quantizeWeightUint4(w, 32);
    expect(q.qweight.shape).toEqual([1, 16]);
    const s = q.scales.item();
    expect(s).toBeCloseTo(31 / 15, 5);
    expect(q.zeros!.item()).toBe(4); // -round(-8 / 2.0667) = 4
    const bytes = q.qweight.tolist() as number[][];
    expect(bytes[0]![0]! & 0x0f).toBe(0); // round(-8/s) + 4 = 0
    expect(bytes[0]![15]! >> 4).toBe(15); // the last element is the max
  });
});

describe('linear_w8a8 (cpu reference)', () => {
  it('is close to the float linear and exactly zero for zero input', () => {
    manualSeed(3);
    const x = rand([4, 64]).sub(0.5);
    const w = rand([32, 64]).sub(0.5);
    const { weight, scale } = quantizeWeightInt8(w);
    const y = withBackend('cpu', () => linearW8A8(x, weight, scale));
    expect(relErr(y, linear(x, w))).toBeLessThan(0.02);
    expect((withBackend('cpu', () => linearW8A8(zeros([2, 64]), weight, scale)).toArray() as Float32Array).every((v) => v === 0)).toBe(true);
  });

  it('checks shapes and dtypes', () => {
    const { weight, scale } = quantizeWeightInt8(rand([8, 16]));
    expect(() => linearW8A8(rand([2, 15]), weight, scale)).toThrow(new ShapeError('linear_w8a8: input [2,15] and weight [8,16]: in_features 15 and 16 differ'));
    expect(() => linearW8A8(rand([2, 16]), weight.to('int32'), scale)).toThrow(DTypeError);
    expect(() => linearW8A8(rand([2, 16]), weight, rand([3]))).toThrow(/weight scale float32\[3\] must be float32 \[\] \(per tensor\) or \[8\]/);
  });
});

describe('linear_w4 (cpu reference)', () => {
  it('equals the float linear with dequantized weights, and approximates the original', () => {
    manualSeed(4);
    const x = rand([3, 256]).sub(0.5);
    const w = rand([16, 256]).sub(0.5);
    const q = quantizeWeightUint4(w, 128);
    // Dequantize by hand: (q - zero) * scale.
    const bytes = q.qweight.toArray() as Uint8Array;
    const sc = q.scales.toArray() as Float32Array;
    const zp = q.zeros!.toArray() as Uint8Array;
    const deq = new Float32Array(16 * 256);
    for (let i = 0; i < deq.length; i++) {
      const v = i % 2 === 0 ? bytes[i >> 1]! & 15 : bytes[i >> 1]! >> 4;
      const g = Math.floor(i / 256) * 2 + Math.floor((i % 256) / 128);
      deq[i] = (v - zp[g]!) * sc[g]!;
    }
    const y = withBackend('cpu', () => linearW4(x, q));
    expect(relErr(y, linear(x, tensor(deq).reshape([16, 256])))).toBeLessThan(1e-6);
    // 4-bit steps of range/15 on uniform weights: noise ≈ (1/15)/√12 against a weight std of 1/√12, i.e. ~7%.
    expect(relErr(y, linear(x, w))).toBeLessThan(0.1);
    expect(() => linearW4(rand([3, 256]), { ...q, blockSize: 100 })).toThrow('linear_w4: block size must be 16, 32, 64, 128 or 256, got 100');
  });
});

describe.runIf(ortAvailable)('quantized linears on ORT', () => {
  it('MatMulInteger path matches the cpu reference exactly (same integer accumulators, same float steps)', () => {
    manualSeed(5);
    for (const [shape, perChannel, withBias] of [
      [[1, 128], false, false],
      [[7, 96], true, true],
      [[2, 3, 64], false, true],
    ] as const) {
      const k = shape[shape.length - 1]!;
      const x = rand([...shape]).mul(4).sub(2);
      const { weight, scale } = quantizeWeightInt8(rand([40, k]).sub(0.5), { perChannel });
      const bias = withBias ? rand([40]) : undefined;
      const cpu = withBackend('cpu', () => linearW8A8(x, weight, scale, bias));
      const p = profile(() => withBackend('ort', () => linearW8A8(x, weight, scale, bias), { fallback: false }));
      expect(p.records[0]!.backend).toBe('ort');
      expect(Array.from(p.result.toArray() as Float32Array)).toEqual(Array.from(cpu.toArray() as Float32Array));
    }
  });

  it('MatMulNBits path (accuracy_level 0) matches the cpu reference within 1e-5; level 4 (int8 activations) within 1e-2', () => {
    manualSeed(6);
    const x = rand([5, 256]).sub(0.5);
    const q = quantizeWeightUint4(rand([24, 256]).sub(0.5), 64);
    const bias = rand([24]);
    const cpu = withBackend('cpu', () => linearW4(x, q, bias));
    const ort0 = withBackend('ort', () => linearW4(x, q, bias), { fallback: false });
    expect(relErr(ort0, cpu)).toBeLessThan(1e-5);
    const before = ortConfig();
    try {
      configureOrt({ accuracyLevel: 4 });
      const ort4 = withBackend('ort', () => linearW4(x, q, bias), { fallback: false });
      expect(relErr(ort4, cpu)).toBeLessThan(1e-2);
    } finally {
      configureOrt(before);
    }
    // Without zero points MatMulNBits and the reference both use 8.
    const sym = { ...q, zeros: undefined };
    expect(relErr(withBackend('ort', () => linearW4(x, sym), { fallback: false }), withBackend('cpu', () => linearW4(x, sym)))).toBeLessThan(1e-5);
  });
});
