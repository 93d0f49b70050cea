/**
 * View ops against PyTorch (test/fixtures/views.json): each case applies a sequence of view ops to
 * arange(24) and checks shape, strides, storage offset, contiguity, storage sharing and values exactly;
 * the cases where torch's view() refuses the layout must throw here too.
 */
import { describe, expect, it } from 'vitest';
import { arange, ShapeError, type NestedList } from '../core/index.js';
import { applyViews, loadFixture, type ViewOp } from './helpers.js';

interface ViewCase {
  ops: ViewOp[];
  error?: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  is_contiguous: boolean;
  shares_storage: boolean;
  values: NestedList;
}

const fx = loadFixture<{ cases: ViewCase[] }>('views.json');
const label = (ops: ViewOp[]) => ops.map(([n, ...a]) => `${n}(${a.map((x) => JSON.stringify(x)).join(', ')})`).join('.');

describe('views match PyTorch', () => {
  it('fixture has view and failure cases', () => {
    expect(fx.cases.length).toBeGreaterThan(60);
    expect(fx.cases.filter((c) => c.error).length).toBeGreaterThanOrEqual(4);
  });

  for (const c of fx.cases.filter((c) => !c.error)) {
    it(label(c.ops), () => {
      const base = arange(24);
      const y = applyViews(base, c.ops);
      expect({
        shape: [...y.shape],
        stride: [...y.strides],
        storage_offset: y.offset,
        is_contiguous: y.isContiguous(),
        shares_storage: y.storage === base.storage,
      }).toEqual({
        shape: c.shape,
        stride: c.stride,
        storage_offset: c.storage_offset,
        is_contiguous: c.is_contiguous,
        shares_storage: c.shares_storage,
      });
      expect(y.tolist()).toEqual(c.values);
      expect(y.dtype).toBe('int64');
    });
  }

  for (const c of fx.cases.filter((c) => c.error)) {
    it(`${label(c.ops)} throws like torch (${c.error!.slice(0, 40)}...)`, () => {
      const base = arange(24);
      // Everything up to the failing view works; the last op must raise a ShapeError.
      const before = applyViews(base, c.ops.slice(0, -1));
      expect(() => applyViews(before, c.ops.slice(-1))).toThrow(ShapeError);
      // reshape() with the same target copies instead.
      const last = c.ops[c.ops.length - 1]!;
      expect(last[0]).toBe('view');
      const r = before.reshape(last[1] as number[]);
      expect(r.storage).not.toBe(base.storage);
      expect(r.isContiguous()).toBe(true);
      expect(r.tolist()).toEqual(before.contiguous().view(last[1] as number[]).tolist());
    });
  }
});
