/**
 * Reductions and softmax. The input is gathered so that reduced elements form contiguous rows (a zero-copy
 * view in the common last-dim case); floats accumulate in double, integers sum exactly into int64.
 */
import { isFloating } from '../../../core/dtype.js';
import { encodeHalf } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import type { UnaryInputs } from '../../../ops/elementwise.js';
import type { SoftmaxAttrs } from '../../../ops/nn.js';
import type { ReduceAttrs, ReduceDimAttrs } from '../../../ops/reduce.js';
import { contiguousStrides, normalizeDim, normalizeDims } from '../../../core/shape.js';
import { runLoop } from '../loops.js';
import { fastExp } from '../math.js';
import { gather, materialize } from './util.js';

/** x with the reduced dims moved last, so each output element owns one contiguous row of `r` inputs. */
function rowsView(x: Tensor, dims: readonly number[]): { view: Tensor; r: number } {
  // A 0-dim tensor reduced over "dim 0" is one row of one element (its dims list names no real dim).
  if (x.ndim === 0) return { view: x, r: 1 };
  const kept = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
  let r = 1;
  for (const d of dims) r *= x.shape[d]!;
  return { view: x.ndim === 0 ? x : x.permute([...kept, ...dims]), r };
}

/** Write float results (double accumulators) into out, rounding to its dtype. */
function writeFloat(out: Tensor, values: Float32Array): void {
  if (out.dtype === 'float32') (out.storage.data as Float32Array).set(values);
  else encodeHalf(values, out.storage.data as Uint16Array, out.dtype as 'float16' | 'bfloat16');
}

function sumRows(x: Tensor, dims: readonly number[], out: Tensor, divide: boolean): void {
  const { view, r } = rowsView(x, dims);
  const rows = out.numel;
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
  const rows = Math.max(values?.numel ?? 0, indices?.numel ?? 0);
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
    if (x.numel === 0) return;
    const d = normalizeDim('softmax', dim, x.ndim, x.shape);
    const last = x.ndim === 0 ? 0 : x.ndim - 1;
    // Move the softmax dim last, compute contiguous rows, then write back in the original layout.
    const view = x.ndim === 0 ? x : x.transpose(d, last);
    const src = materialize(view, 'float32') as Float32Array;
    const n = x.ndim === 0 ? 1 : x.shape[d]!;
    const rows = src.length / n;
    // The common case (last dim, float32 out) writes straight into the output.
    const res = d === last && out!.dtype === 'float32' ? (out!.storage.data as Float32Array) : new Float32Array(src.length);
    const e = new Float64Array(n);
    for (let i = 0; i < rows; i++) {
      const base = i * n;
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
    }
    if (res === out!.storage.data) return;
    if (d === last) writeFloat(out!, res);
    else {
      // res is laid out as x.transpose(d, last) (contiguous); read it back through the swapped strides.
      const strides = contiguousStrides(view.shape);
      [strides[d], strides[last]] = [strides[last]!, strides[d]!];
      const tmp = new Float32Array(res.length);
      runLoop('a', tmp, x.shape, [{ data: res, offset: 0, strides }]);
      writeFloat(out!, tmp);
    }
  },
};
