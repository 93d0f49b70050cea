/**
 * The output pool and explicit release (issue #16): a disposed output's array is reused by the next output of
 * that size; never while a view of it lives; double dispose is harmless; tidy() keeps what it returns (also
 * inside arrays and objects, and across nesting) and disposes the rest; use after dispose names the op; the
 * byte cap holds; reused arrays are zeroed unless the op overwrites its outputs; tensors kernels create for
 * themselves are not the caller's.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  clearPool,
  defineOp,
  dispatch,
  DisposedError,
  dispose,
  keep,
  poolStats,
  registerKernel,
  setPoolLimit,
  tensor,
  tidy,
  Tensor,
  unregisterBackend,
  type Kernel,
} from '../core/index.js';
import type { UnaryInputs } from '../ops/elementwise.js';

// cpu only: the pool and scopes live in the dispatcher, the same for every backend.
unregisterBackend('native');

afterEach(() => {
  setPoolLimit(256);
  clearPool();
});

const x = () => tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' });

describe('pool reuse', () => {
  it('a disposed output array is reused by the next output of that dtype and size, with the right values', () => {
    const a = x();
    const b = a.add(a);
    const arr = b.storage.data;
    b.dispose();
    expect(poolStats().arrays).toBe(1);
    const c = a.mul(10);
    expect(c.storage.data).toBe(arr);
    expect(c.tolist()).toEqual([[10, 20, 30], [40, 50, 60]]);
    expect(poolStats().arrays).toBe(0);
    // Another size or dtype does not take it.
    c.dispose();
    expect(a.sum(1).storage.data).not.toBe(arr);
    expect(a.to('int32').add(1).storage.data).not.toBe(arr);
    expect(poolStats().arrays).toBe(1);
  });

  it('no reuse while a view lives; the last view releases the storage', () => {
    const a = x();
    const b = a.add(1);
    const v = b.t(); // a view: shares b's storage
    const arr = b.storage.data;
    b.dispose();
    expect(poolStats().arrays).toBe(0);
    const c = a.add(2);
    expect(c.storage.data).not.toBe(arr);
    expect(v.tolist()).toEqual([[2, 5], [3, 6], [4, 7]]);
    v.dispose();
    expect(poolStats().arrays).toBe(1);
    expect(a.add(3).storage.data).toBe(arr);
  });

  it('double dispose is harmless: the array is pooled once and a sibling view stays valid', () => {
    const a = x();
    const b = a.add(1);
    const v = b.reshape([6]);
    b.dispose();
    b.dispose();
    b[Symbol.dispose]();
    expect(b.isDisposed).toBe(true);
    expect(poolStats().arrays).toBe(0); // v still holds the storage
    expect(v.tolist()).toEqual([2, 3, 4, 5, 6, 7]);
    v.dispose();
    v.dispose();
    expect(poolStats().arrays).toBe(1);
  });

  it('user arrays and constants are never pooled', () => {
    const mine = new Float32Array([1, 2, 3]);
    const t = tensor(mine);
    t.dispose();
    const w = x().add(0).markConstant();
    w.dispose();
    expect(poolStats().arrays).toBe(0);
  });

  it('the byte cap holds: arrays past it go to the garbage collector, oldest buckets first', () => {
    setPoolLimit(1 / 1024); // 1 KiB
    const big = tensor(new Float32Array(512)).add(1); // 2 KiB: over the cap on its own
    big.dispose();
    expect(poolStats().arrays).toBe(0);
    const small = Array.from({ length: 4 }, (_, i) => tensor(new Float32Array(64 + i)).add(1)); // 256+ bytes each
    for (const s of small) s.dispose();
    const st = poolStats();
    expect(st.bytes).toBeLessThanOrEqual(1024);
    expect(st.arrays).toBe(3); // the oldest (64 elements) was evicted for the 4th
    expect(st.dropped).toBeGreaterThanOrEqual(2);
    setPoolLimit(0);
    expect(poolStats().bytes).toBe(0);
  });
});

// An op whose kernel writes only element 0 (as kernels that accumulate or fill a part rely on zeroed outputs).
const FirstOnly = defineOp<UnaryInputs, Record<string, never>>({ name: 'TestPoolFirstOnly', meta: ({ x }) => [{ shape: x.shape, dtype: x.dtype }] });
const firstOnly: Kernel<UnaryInputs, Record<string, never>> = {
  run({ x }, _a, [out]) {
    (out!.storage.data as Float32Array)[0] = (x.storage.data as Float32Array)[x.offset]!;
  },
};
// A kernel that keeps a tensor it made for itself across calls (as backends cache prepared weights).
let kernelCache: Tensor | undefined;
const Cached = defineOp<UnaryInputs, Record<string, never>>({ name: 'TestPoolCached', meta: ({ x }) => [{ shape: x.shape, dtype: x.dtype }], overwritesOutputs: true });
const cachedKernel: Kernel<UnaryInputs, Record<string, never>> = {
  run({ x }, _a, [out]) {
    kernelCache ??= Tensor.empty(x.shape, 'float32').fill_(100);
    const o = out!.storage.data as Float32Array;
    const c = kernelCache.storage.data as Float32Array;
    const xs = x.contiguous().storage.data as Float32Array;
    for (let i = 0; i < o.length; i++) o[i] = xs[i]! + c[i]!;
  },
};

beforeAll(() => {
  registerKernel(FirstOnly, 'cpu', firstOnly);
  registerKernel(Cached, 'cpu', cachedKernel);
});

describe('zeroing', () => {
  it('an op that does not declare overwritesOutputs gets a reused array zero-filled', () => {
    const a = x();
    const junk = a.add(7); // 8..13 in a float32[2, 3] array
    const arr = junk.storage.data;
    junk.dispose();
    const t = dispatch(FirstOnly, { x: a }, {});
    expect(t.storage.data).toBe(arr);
    expect(t.tolist()).toEqual([[1, 0, 0], [0, 0, 0]]);
  });

  it('an op that overwrites its outputs gets the reused array as it is, and writes every element', () => {
    const a = x();
    const junk = a.add(7);
    const arr = junk.storage.data;
    junk.dispose();
    const r = a.neg();
    expect(r.storage.data).toBe(arr);
    expect(r.tolist()).toEqual([[-1, -2, -3], [-4, -5, -6]]);
  });
});

describe('tidy', () => {
  it('disposes what the scope made and keeps what it returns: a tensor, or tensors inside arrays, objects and Maps', () => {
    const a = x();
    let tmp: Tensor | undefined;
    const r = tidy(() => {
      tmp = a.add(1);
      return tmp.mul(2);
    });
    expect(tmp!.isDisposed).toBe(true);
    expect(r.isDisposed).toBe(false);
    expect(a.isDisposed).toBe(false); // made outside the scope
    expect(r.tolist()).toEqual([[4, 6, 8], [10, 12, 14]]);

    const temps: Tensor[] = [];
    const o = tidy(() => {
      const t = a.add(1);
      temps.push(t, t.mul(3));
      return { list: [t.sub(1)], nested: { s: t.sum() }, map: new Map([['m', t.neg()]]), n: 5 };
    });
    expect(temps.every((t) => t.isDisposed)).toBe(true);
    expect(o.list[0]!.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(o.nested.s.item()).toBe(27);
    expect(o.map.get('m')!.tolist()).toEqual([[-2, -3, -4], [-5, -6, -7]]);
  });

  it('nests: what an inner scope returns belongs to the outer one', () => {
    const a = x();
    let inner: Tensor | undefined;
    let innerTmp: Tensor | undefined;
    const out = tidy(() => {
      inner = tidy(() => {
        innerTmp = a.add(1);
        return innerTmp.mul(2);
      });
      expect(innerTmp!.isDisposed).toBe(true);
      expect(inner.isDisposed).toBe(false);
      return inner.sum();
    });
    expect(inner!.isDisposed).toBe(true); // the outer scope did not return it
    expect(out.item()).toBe(54);
  });

  it('a returned view keeps its base storage alive though the base handle is disposed; keep() exempts a tensor', () => {
    const a = x();
    let base: Tensor | undefined;
    let kept: Tensor | undefined;
    const v = tidy(() => {
      base = a.add(1);
      kept = keep(a.mul(5));
      return base.narrow(1, 1, 2);
    });
    expect(base!.isDisposed).toBe(true);
    expect(poolStats().arrays).toBe(0);
    expect(v.tolist()).toEqual([[3, 4], [6, 7]]);
    expect(a.add(0).storage.data).not.toBe(v.storage.data);
    expect(kept!.isDisposed).toBe(false);
    expect(kept!.tolist()).toEqual([[5, 10, 15], [20, 25, 30]]);
  });

  it('a throwing scope disposes its tensors and rethrows; an async fn is refused', () => {
    const a = x();
    let t: Tensor | undefined;
    expect(() =>
      tidy(() => {
        t = a.add(1);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(t!.isDisposed).toBe(true);
    expect(() => tidy(async () => a.add(1))).toThrow(/tidy: fn returned a Promise/);
  });

  it('tensors a kernel makes for itself are not disposed by the caller’s scope', () => {
    const a = x();
    const r = tidy(() => dispatch(Cached, { x: a }, {}).sum());
    expect(r.item()).toBe(621);
    expect(kernelCache!.isDisposed).toBe(false);
    expect(tidy(() => dispatch(Cached, { x: a }, {}).sum()).item()).toBe(621);
  });

  it('dispose() releases every tensor of a structure', () => {
    const a = x();
    const parts = { p: [a.add(1), a.add(2)], q: a.add(3) };
    dispose(parts);
    expect([...parts.p, parts.q].every((t) => t.isDisposed)).toBe(true);
    expect(poolStats().arrays).toBe(3);
  });
});

describe('use after dispose', () => {
  it('ops, views and reads fail with DisposedError naming the op and the tensor', () => {
    const a = x();
    const b = a.add(1);
    b.dispose();
    expect(() => b.add(1)).toThrow(DisposedError);
    expect(() => b.add(1)).toThrow(/^Add: input 'a' float32\[2, 3\] was used after dispose\(\)/);
    expect(() => a.mul(b)).toThrow(/^Mul: input 'b' float32\[2, 3\] was used after dispose\(\)/);
    expect(() => b.view(6)).toThrow(/^view: tensor float32\[2, 3\] was used after dispose/);
    expect(() => b.sum().item()).toThrow(/^Sum: input 'x'/);
    expect(() => b.tolist()).toThrow(/^tolist: /);
    expect(() => b.storage.data).toThrow(/^storage: a float32 storage that was released/);
  });

  it('a view made before dispose stays usable; `using` disposes at the end of the block', () => {
    const a = x();
    let escaped: Tensor | undefined;
    {
      using t = a.add(1);
      escaped = t;
      expect(t.tolist()).toEqual([[2, 3, 4], [5, 6, 7]]);
    }
    expect(escaped.isDisposed).toBe(true);
    expect(() => escaped!.neg()).toThrow(/^Neg: input 'x'/);
  });
});
