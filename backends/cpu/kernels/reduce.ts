/**
 * Reductions and softmax. The input is gathered so that reduced elements form contiguous rows (a zero-copy
 * view in the common last-dim case); floats accumulate in double, integers sum exactly into int64.
 */
import { isFloating } from '../../../core/dtype.js';
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import type { UnaryInputs } from '../../../ops/elementwise.js';
import type { SoftmaxAttrs } from '../../../ops/nn.js';
import type { ReduceAttrs, ReduceDimAttrs } from '../../../ops/reduce.js';
import { normalizeDim, normalizeDims } from '../../../core/shape.js';
import { fastExp } from '../math.js';
import { gather, mapRowsAlong, materialize, rowsView, writeFloat } from './util.js';

function sumRows(x: Tensor, dims: readonly number[], out: Tensor, divide: boolean): void {
  const { view, r } = rowsView(x, dims);
  const rows = out.numel();
  if (isFloating(x.dtype)) {
    const src = materialize(view, 'float32') as Float32Array;
    const res = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      let acc = 0;
      const base = i * r;
      for (let k = 0; k < r; k++) acc += src[base + k]!;
      res[i] = divide ? acc / r : acc;
    }
    writeFloat(out, res);
    return;
  }
  const dst = out.storage.data as BigInt64Array;
  if (x.dtype === 'int64') {
    const src = gather(view) as BigInt64Array;
    for (let i = 0; i < rows; i++) {
      let acc = 0n;
      for (let k = 0; k < r; k++) acc += src[i * r + k]!;
      dst[i] = BigInt.asIntN(64, acc);
    }
    return;
  }
  // int8..int32 and bool: double sums are exact below 2^53.
  const src = gather(view) as Int32Array;
  for (let i = 0; i < rows; i++) {
    let acc = 0;
    for (let k = 0; k < r; k++) acc += src[i * r + k]!;
    dst[i] = BigInt(acc);
  }
}

export const sumKernel: Kernel<UnaryInputs, ReduceAttrs> = {
  run({ x }, { dims }, [out]) {
    sumRows(x, normalizeDims('sum', dims ?? undefined, x.shape), out!, false);
  },
};

export const meanKernel: Kernel<UnaryInputs, ReduceAttrs> = {
  run({ x }, { dims }, [out]) {
    sumRows(x, normalizeDims('mean', dims ?? undefined, x.shape), out!, true);
  },
};

/** Row-wise max and first index of it; NaN is the maximum (the first NaN wins), as in PyTorch. */
function maxRows(x: Tensor, dim: number | null, values: Tensor | undefined, indices: Tensor | undefined): void {
  const dims = dim === null ? x.shape.map((_, i) => i) : x.ndim === 0 ? [] : [normalizeDim('max', dim, x.ndim, x.shape)];
  const { view, r } = rowsView(x, dims);
  const rows = Math.max(values?.numel() ?? 0, indices?.numel() ?? 0);
  const float = isFloating(x.dtype);
  const src = float ? (materialize(view, 'float32') as Float32Array) : gather(view);
  const idx = indices ? (indices.storage.data as BigInt64Array) : undefined;
  const fvals = float && values ? new Float32Array(rows) : undefined;
  const raw = !float && values ? (values.storage.data as { [i: number]: number | bigint }) : undefined;
  for (let i = 0; i < rows; i++) {
    const base = i * r;
    let best = src[base]!;
    let at = 0;
    if (!(float && best !== best)) {
      for (let k = 1; k < r; k++) {
        const v = src[base + k]!;
        if (v > best || (float && v !== v)) {
          best = v;
          at = k;
          if (float && v !== v) break;
        }
      }
    }
    if (fvals) fvals[i] = best as number;
    if (raw) raw[i] = best;
    if (idx) idx[i] = BigInt(at);
  }
  if (fvals && values) writeFloat(values, fvals);
}

export const maxKernel: Kernel<UnaryInputs, ReduceDimAttrs> = {
  run({ x }, { dim }, outs) {
    maxRows(x, dim, outs[0], outs[1]);
  },
};

export const argmaxKernel: Kernel<UnaryInputs, ReduceDimAttrs> = {
  run({ x }, { dim }, [out]) {
    maxRows(x, dim, undefined, out);
  },
};

/** Stable softmax per row along `dim`, in double, rounded once to the output dtype. */
export const softmaxKernel: Kernel<UnaryInputs, SoftmaxAttrs> = {
  run({ x }, { dim }, [out]) {
    let e = new Float64Array(0);
    mapRowsAlong('softmax', x, dim, out!, (src, base, n, res) => {
      if (e.length < n) e = new Float64Array(n);
      let m = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = src[base + k]!;
        if (v > m || v !== v) m = v;
      }
      let s = 0;
      for (let k = 0; k < n; k++) {
        const v = fastExp(src[base + k]! - m);
        e[k] = v;
        s += v;
      }
      const inv = 1 / s;
      for (let k = 0; k < n; k++) res[base + k] = e[k]! * inv;
    });
  },
};
