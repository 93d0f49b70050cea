/** cat: each input (cast to the result dtype) is copied as [pre, size, post] blocks into the output. */
import type { Kernel } from '../../../core/op_def.js';
import { normalizeDim } from '../../../core/shape.js';
import type { CatAttrs, CatInputs } from '../../../ops/movement.js';
import { around, materialize } from './util.js';

export const catKernel: Kernel<CatInputs, CatAttrs> = {
  run({ tensors }, { dim }, [out]) {
    const o = out!;
    if (o.numel() === 0) return;
    const d = normalizeDim('cat', dim, o.ndim, o.shape);
    const { pre, n: total, post } = around(o.shape, d);
    const dst = o.storage.data as { set(src: ArrayLike<number | bigint>, offset: number): void };
    let at = 0;
    for (const t of tensors) {
      if (t.ndim === 1 && t.shape[0] === 0) continue; // legacy empty tensors are skipped
      const size = t.shape[d]!;
      const src = materialize(t, o.dtype) as ArrayLike<number | bigint> & { subarray(a: number, b: number): ArrayLike<number | bigint> };
      const block = size * post;
      for (let p = 0; p < pre; p++) dst.set(src.subarray(p * block, (p + 1) * block), (p * total + at) * post);
      at += size;
    }
  },
};
