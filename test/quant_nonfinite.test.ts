/**
 * Non-finite activations in the quantized linears (issue #15 item 9), on every backend that has the op:
 *   LinearW8A8: any NaN or ±Inf in x makes the whole output NaN (the per-tensor scale max|x|/128 is undefined);
 *   LinearW4:   float activations, so IEEE propagation element by element: the backends agree with the cpu
 *               reference on which outputs are NaN, +Inf and −Inf. Except ORT at accuracy_level 4, which
 *               quantizes activations to int8 per block: there a row with a NaN/±Inf gives a NaN output row.
 */
import { describe, expect, it } from 'vitest';
import { configureOrt, ortConfig } from '../backends/ort/config.js';
import { backendStatus, linearW4, linearW8A8, manualSeed, quantizeWeightInt8, quantizeWeightUint4, randn, tensor, withBackend, type Tensor } from '../core/index.js';

const backends = ['cpu', 'ort', 'npu'].filter((b) => backendStatus(b)?.available === true);
const values = (t: Tensor) => Array.from(t.toArray() as Float32Array);

/** x [rows, k] with `v` written at flat position `at` (every other value finite). */
function withValue(rows: number, k: number, at: number, v: number): Tensor {
  const d = randn([rows, k]).toArray() as Float32Array;
  d[at] = v;
  return tensor(Array.from(d), { dtype: 'float32' }).reshape([rows, k]);
}

/** 'nan' | '+inf' | '-inf' | 'finite' per element: what the backends must agree on for LinearW4. */
const kinds = (t: Tensor) => values(t).map((v) => (Number.isNaN(v) ? 'nan' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : 'finite'));

describe(`w8a8 with NaN/Inf activations: the whole output is NaN (${backends.join(', ')})`, () => {
  manualSeed(9);
  const { weight, scale } = quantizeWeightInt8(randn([24, 64]));
  const { weight: wc, scale: sc } = quantizeWeightInt8(randn([24, 64]), { perChannel: true });
  const bias = randn([24]);

  for (const [name, v] of [
    ['NaN', NaN],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
  ] as const)
    for (const b of backends)
      it(`${name} in one row -> every row NaN, bias or not, per tensor or per channel, on ${b}`, () => {
        for (const [rows, at] of [
          [1, 5],
          [4, 3 * 64 + 63],
          [9, 0],
        ] as const) {
          const x = withValue(rows, 64, at, v);
          for (const [w, s, bb] of [
            [weight, scale, undefined],
            [weight, scale, bias],
            [wc, sc, bias],
          ] as const) {
            const y = withBackend(b, () => linearW8A8(x, w, s, bb), { fallback: false });
            expect(y.shape).toEqual([rows, 24]);
            expect(values(y).filter((e) => !Number.isNaN(e)), `${rows} rows, non-finite at ${at}`).toEqual([]);
          }
        }
      });

  it('3-d input with a NaN deep inside: every output NaN on every backend', () => {
    const x = withValue(6, 64, 5 * 64 + 10, NaN).reshape([2, 3, 64]);
    for (const b of backends) expect(values(withBackend(b, () => linearW8A8(x, weight, scale, bias), { fallback: false })).every(Number.isNaN), b).toBe(true);
  });

  it('huge finite inputs stay finite and bit-equal across backends (only NaN/Inf trigger the rule)', () => {
    const x = withValue(3, 64, 7, 1e30);
    const cpu = values(withBackend('cpu', () => linearW8A8(x, weight, scale, bias)));
    expect(cpu.every(Number.isFinite)).toBe(true);
    for (const b of backends) expect(values(withBackend(b, () => linearW8A8(x, weight, scale, bias), { fallback: false })), b).toEqual(cpu);
  });
});

describe(`w4 with NaN/Inf activations: IEEE propagation, the same on ${backends.join(', ')}`, () => {
  manualSeed(10);
  // Weights quantized from a matrix with exact zeros in column 0 so that Inf · 0 = NaN shows up too.
  const wd = randn([16, 128]).toArray() as Float32Array;
  for (let n = 0; n < 16; n += 3) wd.fill(0, n * 128, n * 128 + 64);
  const q = quantizeWeightUint4(tensor(Array.from(wd), { dtype: 'float32' }).reshape([16, 128]), 64);
  const bias = randn([16]);

  for (const [name, v] of [
    ['NaN', NaN],
    ['+Inf', Infinity],
    ['-Inf', -Infinity],
  ] as const)
    it(`${name} in row 1 of 3: that row non-finite as the cpu reference says, the other rows finite`, () => {
      const x = withValue(3, 128, 128 + 2, v);
      const cpu = withBackend('cpu', () => linearW4(x, q, bias));
      const want = kinds(cpu);
      expect(want.slice(0, 16).every((k) => k === 'finite') && want.slice(32).every((k) => k === 'finite')).toBe(true);
      expect(want.slice(16, 32).every((k) => k !== 'finite')).toBe(true);
      if (Number.isNaN(v)) expect(want.slice(16, 32).every((k) => k === 'nan')).toBe(true);
      for (const b of backends) expect(kinds(withBackend(b, () => linearW4(x, q, bias), { fallback: false })), b).toEqual(want);
    });

  it.runIf(backends.includes('ort'))('ort at accuracy_level 4 (int8 activations): a non-finite row gives a NaN row, never a finite one', () => {
    const before = ortConfig();
    try {
      configureOrt({ accuracyLevel: 4 });
      for (const v of [NaN, Infinity, -Infinity]) {
        const x = withValue(3, 128, 128 + 100, v);
        const k = kinds(withBackend('ort', () => linearW4(x, q, bias), { fallback: false }));
        expect(k.slice(16, 32), String(v)).toEqual(Array(16).fill('nan'));
        expect([...k.slice(0, 16), ...k.slice(32)].every((e) => e === 'finite'), String(v)).toBe(true);
      }
    } finally {
      configureOrt(before);
    }
  });
});
