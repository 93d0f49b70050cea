/**
 * Printing against PyTorch (test/fixtures/format.json): String(t) must equal str(t) from torch exactly —
 * int mode, fixed 4 decimals, scientific mode, dtype suffixes, 0-dim, empty tensors, line wrapping and
 * summarisation of tensors above 1000 elements.
 */
import { describe, expect, it } from 'vitest';
import { arange, Tensor, type DType } from '../core/index.js';
import { fixtureTensor, loadFixture, type FixtureValue } from './helpers.js';

type FormatCase = { name: string; dtype: DType; shape: number[]; str: string } & (
  | { values: FixtureValue[] }
  | { arange: number; scale: number }
);

const fx = loadFixture<{ cases: FormatCase[] }>('format.json');

function build(c: FormatCase): Tensor {
  if ('values' in c) return fixtureTensor(c.values, c.dtype, c.shape);
  // arange(n) * scale, computed in double and rounded once to the dtype, as the generator does.
  const base = arange(c.arange, undefined, 1, { dtype: 'float32' });
  const values = Array.from(base.toArray() as Float32Array, (v) => v * c.scale);
  return fixtureTensor(values, c.dtype, c.shape);
}

describe('String(tensor) matches torch str()', () => {
  it('fixture covers int, float, sci, half, 0-dim, empty and summarised tensors', () => {
    expect(fx.cases.length).toBeGreaterThan(30);
    expect(fx.cases.some((c) => c.str.includes('...'))).toBe(true);
    expect(fx.cases.some((c) => c.str.includes('e+'))).toBe(true);
  });

  for (const c of fx.cases) {
    it(`${c.name}: ${c.str.split('\n')[0]!.slice(0, 50)}`, () => {
      const t = build(c);
      expect([...t.shape]).toEqual(c.shape);
      expect(t.dtype).toBe(c.dtype);
      expect(String(t)).toBe(c.str);
    });
  }
});
