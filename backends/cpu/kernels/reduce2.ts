/**
 * Kernels for min/amax/amin/argmin, var, cumsum, topk and log_softmax. As in reduce.ts, the input is gathered
 * so that each output owns a contiguous row (zero-copy when the reduced dims are already last and contiguous).
 * Comparisons read float16/bfloat16 as float32 values, but selected values are copied as stored bits, so
 * min/max/topk values are exact; sums and variances accumulate in double and round once.
 */
import { allocStorage, type DType, type StorageArray } from '../../../core/dtype.js';
import { decodeHalf, encodeHalf } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import { contiguousStrides, normalizeDim } from '../../../core/shape.js';
import type { Tensor } from '../../../core/tensor.js';
import type { UnaryInputs } from '../../../ops/elementwise.js';
import type { ReduceAttrs, ReduceDimAttrs } from '../../../ops/reduce.js';
import { reduceDimsOf, type CumSumAttrs, type LogSoftmaxAttrs, type TopKAttrs, type VarAttrs } from '../../../ops/reduce2.js';
import { runLoop } from '../loops.js';
import { fastExp } from '../math.js';
import { around, gather, mapRowsAlong, materialize, rowsView, writeFloat } from './util.js';

/** Values compared by min/max/topk: numbers, or BigInts for int64 (compared exactly). */
type Keys = ArrayLike<number | bigint>;
/** Storage arrays seen as one type for raw element moves (values never interpreted; see indexing.ts). */
type Raw = Float64Array;
const raw = (a: StorageArray): Raw => a as unknown as Raw;

const isHalf = (d: DType): d is 'float16' | 'bfloat16' => d === 'float16' || d === 'bfloat16';

/** The rows as stored (for copying values) and as comparable keys (half types decoded to float32). */
function rowsOf(view: Tensor): { stored: StorageArray; keys: Keys } {
  const stored = gather(view);
  return { stored, keys: isHalf(view.dtype) ? decodeHalf(stored as Uint16Array, view.dtype) : stored };
}

/** Per row of `r` keys, the index of the first maximum (or minimum); a NaN wins at once, as in PyTorch. */
function bestPerRow(keys: Keys, rows: number, r: number, largest: boolean): Int32Array {
  const at = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const base = i * r;
    let best = keys[base]!;
    let bi = 0;
    // NaN !== NaN: a NaN first element is the answer; bigint keys are never NaN.
    if (best === best) {
      if (largest) {
        for (let k = 1; k < r; k++) {
          const v = keys[base + k]!;
          if (v > best) {
            best = v;
            bi = k;
          } else if (v !== v) {
            bi = k;
            break;
          }
        }
      } else {
        for (let k = 1; k < r; k++) {
          const v = keys[base + k]!;
          if (v < best) {
            best = v;
            bi = k;
          } else if (v !== v) {
            bi = k;
            break;
          }
        }
      }
    }
    at[i] = bi;
  }
  return at;
}

/** Reduce rows to their extreme: values (copied as stored) and/or int64 indices within the row. */
function extremeRows(x: Tensor, dims: readonly number[], largest: boolean, values: Tensor | undefined, indices: Tensor | undefined): void {
  const rows = (values ?? indices)!.numel();
  if (rows === 0) return;
  const { view, r } = rowsView(x, dims);
  const { stored, keys } = rowsOf(view);
  const at = bestPerRow(keys, rows, r, largest);
  if (values) {
    const src = raw(stored);
    const dst = raw(values.storage.data);
    for (let i = 0; i < rows; i++) dst[i] = src[i * r + at[i]!]!;
  }
  if (indices) {
    const dst = indices.storage.data as BigInt64Array;
    for (let i = 0; i < rows; i++) dst[i] = BigInt(at[i]!);
  }
}

const allDims = (x: Tensor) => x.shape.map((_, i) => i);
const oneDim = (op: string, x: Tensor, dim: number | null) =>
  dim === null ? allDims(x) : x.ndim === 0 ? [] : [normalizeDim(op, dim, x.ndim, x.shape)];

export const minKernel: Kernel<UnaryInputs, ReduceDimAttrs> = {
  run({ x }, { dim }, outs) {
    extremeRows(x, oneDim('min', x, dim), false, outs[0], outs[1]);
  },
};

export const argminKernel: Kernel<UnaryInputs, ReduceDimAttrs> = {
  run({ x }, { dim }, [out]) {
    extremeRows(x, oneDim('argmin', x, dim), false, undefined, out);
  },
};

export const amaxKernel: Kernel<UnaryInputs, ReduceAttrs> = {
  run({ x }, { dims }, [out]) {
    extremeRows(x, reduceDimsOf('amax', x, dims), true, out, undefined);
  },
};

export const aminKernel: Kernel<UnaryInputs, ReduceAttrs> = {
  run({ x }, { dims }, [out]) {
    extremeRows(x, reduceDimsOf('amin', x, dims), false, out, undefined);
  },
};

/** Two passes in double per row: the mean, then the sum of squared deviations. */
export const varKernel: Kernel<UnaryInputs, VarAttrs> = {
  run({ x }, { dims, correction }, [out]) {
    const o = out!;
    const rows = o.numel();
    if (rows === 0) return;
    const { view, r } = rowsView(x, reduceDimsOf('var', x, dims));
    const src = materialize(view, 'float32') as Float32Array;
    const res = new Float32Array(rows);
    const divisor = Math.max(0, r - correction);
    for (let i = 0; i < rows; i++) {
      const base = i * r;
      let s = 0;
      for (let k = 0; k < r; k++) s += src[base + k]!;
      const mean = s / r;
      let m2 = 0;
      for (let k = 0; k < r; k++) {
        const dv = src[base + k]! - mean;
        m2 += dv * dv;
      }
      res[i] = m2 / divisor;
    }
    writeFloat(o, res);
  },
};

/**
 * The input's values converted to `dtype` (as x.to(dtype) would), for accumulation: float types as float32
 * values, integers in their own arrays.
 */
function valuesAs(x: Tensor, dtype: DType): StorageArray {
  if (!isHalf(dtype)) return materialize(x, dtype);
  if (x.dtype === dtype) return materialize(x, 'float32');
  return decodeHalf(materialize(x, dtype) as Uint16Array, dtype);
}

/**
 * Integer prefix sums along the middle dim of a contiguous [pre, n, post] block: `acc` holds one running sum
 * per post position, and its array type is the accumulator (BigInt64Array: int64, wrapping; Float64Array:
 * exact below 2^53, wrapped by the store into a narrower integer `dst`).
 */
function prefixSums(src: Raw, dst: Raw, acc: Raw, pre: number, n: number, post: number): void {
  const zero = (acc as unknown) instanceof BigInt64Array ? (0n as unknown as number) : 0;
  for (let p = 0; p < pre; p++) {
    acc.fill(zero);
    for (let k = 0; k < n; k++) {
      const base = (p * n + k) * post;
      for (let q = 0; q < post; q++) {
        acc[q] += src[base + q]!;
        dst[base + q] = acc[q]!;
      }
    }
  }
}

/**
 * Float prefix sums over the same [pre, n, post] layout with a double accumulator, or with `single` a float32
 * one rounded every step (PyTorch's accumulator for float16/bfloat16). The running sum along the dim is
 * the inner loop when post is 1.
 */
function floatPrefixSums(src: Float32Array, dst: Float32Array, pre: number, n: number, post: number, single: boolean): void {
  if (post === 1) {
    for (let p = 0; p < pre; p++) {
      let acc = 0;
      const base = p * n;
      if (single) for (let k = 0; k < n; k++) dst[base + k] = acc = Math.fround(acc + src[base + k]!);
      else for (let k = 0; k < n; k++) dst[base + k] = acc += src[base + k]!;
    }
    return;
  }
  const acc = single ? new Float32Array(post) : new Float64Array(post);
  for (let p = 0; p < pre; p++) {
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const base = (p * n + k) * post;
      for (let q = 0; q < post; q++) dst[base + q] = acc[q] += src[base + q]!;
    }
  }
}

/**
 * cumsum with PyTorch CPU's accumulator types: double for float32, float32 for float16/bfloat16, int64 for
 * int64, and (for integer `dtype=` results) exact double sums stored with wraparound.
 */
export const cumsumKernel: Kernel<UnaryInputs, CumSumAttrs> = {
  run({ x }, { dim }, [out]) {
    const o = out!;
    if (o.numel() === 0) return;
    const d = x.ndim === 0 ? 0 : normalizeDim('cumsum', dim, x.ndim, x.shape);
    const { pre, n, post } = around(x.shape, d);
    const dtype = o.dtype;
    const src = raw(valuesAs(x, dtype));
    if (isHalf(dtype)) {
      const tmp = new Float32Array(o.numel());
      floatPrefixSums(src as unknown as Float32Array, tmp, pre, n, post, true);
      encodeHalf(tmp, o.storage.data as Uint16Array, dtype);
      return;
    }
    if (dtype === 'float32') {
      floatPrefixSums(src as unknown as Float32Array, o.storage.data as Float32Array, pre, n, post, false);
      return;
    }
    const acc = dtype === 'int64' ? raw(new BigInt64Array(post)) : new Float64Array(post);
    prefixSums(src, raw(o.storage.data), acc, pre, n, post);
  },
};

/** True when (a, ia) ranks before (b, ib): larger (or smaller) first, NaN above every number, ties by index. */
function before(a: number | bigint, ia: number, b: number | bigint, ib: number, largest: boolean): boolean {
  if (a !== a) return b !== b ? ia < ib : largest;
  if (b !== b) return !largest;
  if (a === b) return ia < ib;
  return largest ? a > b : a < b;
}

/** Put `item` at the root of the heap (worst element on top) and move it down to its place. */
function siftDown(keys: Keys, base: number, heap: Int32Array, size: number, item: number, largest: boolean): void {
  const kv = keys[base + item]!;
  let c = 0;
  for (;;) {
    let ch = 2 * c + 1;
    if (ch >= size) break;
    const r = ch + 1;
    // Follow the worse child; stop once the item is no better than it.
    if (r < size && before(keys[base + heap[ch]!]!, heap[ch]!, keys[base + heap[r]!]!, heap[r]!, largest)) ch = r;
    const hc = heap[ch]!;
    if (!before(kv, item, keys[base + hc]!, hc, largest)) break;
    heap[c] = hc;
    c = ch;
  }
  heap[c] = item;
}

/**
 * The k best of keys[base .. base + n) into heap[0 .. k), best first: a bounded heap with the worst of the
 * current k on top (O(n log k)), then sorted in place by popping the worst to the end.
 */
function selectTopK(keys: Keys, base: number, n: number, k: number, largest: boolean, heap: Int32Array): void {
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (size < k) {
      let c = size++;
      const kv = keys[base + i]!;
      while (c > 0) {
        const p = (c - 1) >> 1;
        const hp = heap[p]!;
        if (!before(keys[base + hp]!, hp, kv, i, largest)) break;
        heap[c] = hp;
        c = p;
      }
      heap[c] = i;
    } else if (before(keys[base + i]!, i, keys[base + heap[0]!]!, heap[0]!, largest)) {
      siftDown(keys, base, heap, size, i, largest);
    }
  }
  for (let end = size - 1; end > 0; end--) {
    const last = heap[end]!;
    heap[end] = heap[0]!;
    siftDown(keys, base, heap, end, last, largest);
  }
}

/** Strides that read a contiguous buffer laid out with dim `d` moved last back in the original dim order. */
function movedLastStrides(shape: readonly number[], d: number): number[] {
  const moved = [...shape.slice(0, d), ...shape.slice(d + 1), shape[d]!];
  const ms = contiguousStrides(moved);
  return shape.map((_, i) => (i < d ? ms[i]! : i === d ? ms[moved.length - 1]! : ms[i - 1]!));
}

export const topkKernel: Kernel<UnaryInputs, TopKAttrs> = {
  run({ x }, { k, dim, largest }, outs) {
    const values = outs[0]!;
    const indices = outs[1]!;
    if (x.ndim === 0) {
      // PyTorch returns the element itself for k 0 or 1.
      raw(values.storage.data)[0] = raw(x.storage.data)[x.offset]!;
      return;
    }
    if (values.numel() === 0) return;
    const d = normalizeDim('topk', dim, x.ndim, x.shape);
    const { view, r: n } = rowsView(x, [d]);
    const { stored, keys } = rowsOf(view);
    const rows = values.numel() / k;
    const last = d === x.ndim - 1;
    // Results in the row layout (dim d last); written straight into the outputs when d already is last.
    const vals = raw(last ? values.storage.data : allocStorage(values.dtype, values.numel()));
    const idx = last ? (indices.storage.data as BigInt64Array) : new BigInt64Array(values.numel());
    const src = raw(stored);
    const heap = new Int32Array(k);
    for (let i = 0; i < rows; i++) {
      const base = i * n;
      selectTopK(keys, base, n, k, largest, heap);
      for (let j = 0; j < k; j++) {
        const h = heap[j]!;
        vals[i * k + j] = src[base + h]!;
        idx[i * k + j] = BigInt(h);
      }
    }
    if (last) return;
    const strides = movedLastStrides(values.shape, d);
    runLoop('a', values.storage.data, values.shape, [{ data: vals, offset: 0, strides }]);
    runLoop('a', indices.storage.data, indices.shape, [{ data: idx, offset: 0, strides }]);
  },
};

/** Stable log_softmax per row in double: (x - max) - log(sum(exp(x - max))), rounded once to the output dtype. */
export const logSoftmaxKernel: Kernel<UnaryInputs, LogSoftmaxAttrs> = {
  run({ x }, { dim }, [out]) {
    mapRowsAlong('log_softmax', x, dim, out!, (src, base, n, res) => {
      let m = -Infinity;
      for (let k = 0; k < n; k++) {
        const v = src[base + k]!;
        if (v > m || v !== v) m = v;
      }
      let s = 0;
      for (let k = 0; k < n; k++) s += fastExp(src[base + k]! - m);
      const ls = Math.log(s);
      for (let k = 0; k < n; k++) res[base + k] = src[base + k]! - m - ls;
    });
  },
};
