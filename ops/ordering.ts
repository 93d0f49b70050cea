/**
 * Ordering and indexing: sort/argsort, flip, roll, scatter/scatterAdd/indexAdd/indexCopy (out of place and
 * in place `_`), takeAlongDim, maskedSelect and where(cond) (nonzero as a tuple). PyTorch semantics; kernels in
 * backends/cpu/kernels/ordering.ts; roll, takeAlongDim and whereNonzero are decompositions.
 */
import { dispatch, dispatchAll } from '../core/dispatcher.js';
import { isFloating } from '../core/dtype.js';
import { forEachOffset } from '../core/elements.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { broadcastShapes, broadcastStrides, formatShape, normalizeDim, normalizeDims } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { arange } from './creation.js';
import { copy_ } from './inplace.js';
import { gather } from './indexing.js';
import { cat } from './movement.js';
import { requireTensor, sig } from './util.js';

type X = { readonly x: Tensor };

function requireIndex(op: string, what: string, t: Tensor, int32Ok: boolean): void {
  if (t.dtype === 'int64' || (int32Ok && t.dtype === 'int32')) return;
  throw new DTypeError(`${op}: ${what} must be ${int32Ok ? 'int32 or int64' : 'int64'}, got ${sig(t)}`);
}

// ---- sort ----

export type SortAttrs = { readonly dim: number; readonly descending: boolean; readonly stable: boolean };

/**
 * torch.sort: values and int64 indices along `dim`. NaN sorts above +inf (last ascending, first descending).
 * The cpu kernel always sorts stably (as PyTorch's cpu kernel does), so `stable` only documents intent.
 */
export const Sort = defineOp<X, SortAttrs>({
  name: 'Sort',
  meta({ x }, { dim }) {
    normalizeDim('sort', dim, x.ndim, x.shape);
    if (x.dtype === 'bool') throw new DTypeError(`sort: not supported for ${sig(x)} (cast to uint8 first)`);
    return [
      { shape: x.shape, dtype: x.dtype },
      { shape: x.shape, dtype: 'int64' },
    ];
  },
  flops: ({ x }) => x.numel() * Math.max(1, Math.log2(Math.max(2, x.numel()))),
});

export interface SortOptions {
  readonly dim?: number;
  readonly descending?: boolean;
  readonly stable?: boolean;
}

/** torch.sort(x, dim=-1, descending=False, stable=False) -> { values, indices }. */
export function sort(x: Tensor, dimOrOptions: number | SortOptions = {}, descending = false): { values: Tensor; indices: Tensor } {
  const o: SortOptions = typeof dimOrOptions === 'number' ? { dim: dimOrOptions, descending } : dimOrOptions;
  const [values, indices] = dispatchAll(Sort, { x: requireTensor('sort', 'input', x) }, { dim: o.dim ?? -1, descending: o.descending ?? false, stable: o.stable ?? false });
  return { values: values!, indices: indices! };
}

/** torch.argsort: the indices of sort. */
export function argsort(x: Tensor, dimOrOptions: number | SortOptions = {}, descending = false): Tensor {
  return sort(x, dimOrOptions, descending).indices;
}

// ---- flip / roll ----

export type FlipAttrs = { readonly dims: readonly number[] };

/** torch.flip: reverse the order along each of `dims` (a copy, as in PyTorch). */
export const Flip = defineOp<X, FlipAttrs>({
  name: 'Flip',
  meta({ x }, { dims }) {
    normalizeDims('flip', dims, x.shape);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  flops: () => 0,
});

export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  return dispatch(Flip, { x: requireTensor('flip', 'input', x) }, { dims: typeof dims === 'number' ? [dims] : [...dims] });
}

export type RollAttrs = { readonly shifts: readonly number[]; readonly dims: readonly number[] | null };

/** torch.roll: elements shifted (wrapping around) along dims; with no dims, over the flattened tensor. */
export const Roll = defineOp<X, RollAttrs>({
  name: 'Roll',
  meta({ x }, { shifts, dims }) {
    if (shifts.some((s) => !Number.isInteger(s))) throw new ShapeError(`roll: shifts [${shifts.join(', ')}] must be integers`);
    if (dims === null) {
      if (shifts.length !== 1) throw new ShapeError(`roll: without dims, shifts must be one number, got [${shifts.join(', ')}]`);
    } else {
      if (shifts.length !== dims.length)
        throw new ShapeError(`roll: shifts [${shifts.join(', ')}] and dims [${dims.join(', ')}] must have the same length`);
      normalizeDims('roll', dims, x.shape);
    }
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x }, { shifts, dims }) {
    let t: Tensor;
    if (dims === null) t = rollDim(x.flatten(), shifts[0]!, 0).reshape([...x.shape]);
    else {
      t = x;
      dims.forEach((d, i) => (t = rollDim(t, shifts[i]!, normalizeDim('roll', d, x.ndim, x.shape))));
    }
    // A shift that is a multiple of the size leaves a view of x: roll returns a new tensor, as in PyTorch.
    return [t.storage === x.storage ? t.clone() : t];
  },
  flops: () => 0,
});

/** out[i] = x[(i - shift) mod n] along d: the last `shift` elements move to the front. */
function rollDim(x: Tensor, shift: number, d: number): Tensor {
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  const s = n === 0 ? 0 : ((shift % n) + n) % n;
  if (s === 0 || x.ndim === 0) return x;
  return cat([x.narrow(d, n - s, s), x.narrow(d, 0, n - s)], d);
}

export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const sh = typeof shifts === 'number' ? [shifts] : [...shifts];
  const ds = dims === undefined ? null : typeof dims === 'number' ? [dims] : [...dims];
  return dispatch(Roll, { x: requireTensor('roll', 'input', x) }, { shifts: sh, dims: ds });
}

// ---- scatter family ----

export type ScatterInputs = { readonly x: Tensor; readonly index: Tensor; readonly src: Tensor | undefined };
export type ScatterAttrs = { readonly dim: number; readonly reduce: 'none' | 'add'; readonly value: number | boolean | null };

/**
 * torch.scatter / scatter_add: out = x, then out[... index[i][j] ...] = src[i][j] (or += for 'add') along dim.
 * index has x's rank, is no larger than src anywhere and no larger than x off `dim`. Duplicate indices with
 * reduce 'none' keep the last write (PyTorch leaves them unspecified).
 */
export const Scatter = defineOp<ScatterInputs, ScatterAttrs>({
  name: 'Scatter',
  meta({ x, index, src }, { dim, reduce, value }) {
    const op = reduce === 'add' ? 'scatter_add' : 'scatter';
    requireIndex(op, 'index', index, false);
    const d = normalizeDim(op, dim, x.ndim, x.shape);
    const rank = (t: Tensor) => Math.max(t.ndim, 1);
    if (rank(index) !== rank(x))
      throw new ShapeError(`${op}: index ${formatShape(index.shape)} must have the input's rank, input ${formatShape(x.shape)}`);
    if (src) {
      if (src.dtype !== x.dtype) throw new DTypeError(`${op}: src ${sig(src)} must have the input's dtype ${x.dtype}`);
      if (rank(src) !== rank(x)) throw new ShapeError(`${op}: src ${formatShape(src.shape)} must have the input's rank, input ${formatShape(x.shape)}`);
    } else if (value === null) throw new DTypeError(`${op}: give src (a tensor) or a value`);
    if (reduce === 'add' && x.dtype === 'bool') throw new DTypeError(`scatter_add: not supported for ${sig(x)}`);
    if (index.numel() > 0)
      for (let k = 0; k < index.ndim; k++) {
        if (src && index.shape[k]! > src.shape[k]!)
          throw new ShapeError(`${op}: index ${formatShape(index.shape)} is larger than src ${formatShape(src.shape)} at dim ${k}`);
        if (k !== d && index.shape[k]! > x.shape[k]!)
          throw new ShapeError(`${op}: index ${formatShape(index.shape)} is larger than input ${formatShape(x.shape)} at dim ${k} (only dim ${d} may be)`);
      }
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  flops: ({ index }) => index.numel(),
});

function scatterCall(op: string, x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean, reduce: 'none' | 'add'): Tensor {
  const isT = typeof src !== 'number' && typeof src !== 'boolean';
  return dispatch(
    Scatter,
    { x: requireTensor(op, 'input', x), index: requireTensor(op, 'index', index), src: isT ? requireTensor(op, 'src', src) : undefined },
    { dim, reduce, value: isT ? null : src },
  );
}

/** torch.scatter(x, dim, index, src | value). */
export function scatter(x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): Tensor {
  return scatterCall('scatter', x, dim, index, src, 'none');
}
/** torch.scatter_add(x, dim, index, src). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return scatterCall('scatter_add', x, dim, index, src, 'add');
}
/** Tensor.scatter_: writes into x's own storage and returns x. */
export function scatter_(x: Tensor, dim: number, index: Tensor, src: Tensor | number | boolean): Tensor {
  return copy_(x, scatter(x, dim, index, src));
}
export function scatterAdd_(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return copy_(x, scatterAdd(x, dim, index, src));
}

export type IndexPutInputs = { readonly x: Tensor; readonly index: Tensor; readonly source: Tensor };
export type IndexPutAttrs = { readonly dim: number; readonly mode: 'copy' | 'add'; readonly alpha: number };

/**
 * torch.index_add / index_copy: slice `index[i]` of x along dim gets (+= alpha ·, or =) slice i of source.
 * index is 0-d or 1-d; source is x's shape with dim sized index.numel().
 */
export const IndexPut = defineOp<IndexPutInputs, IndexPutAttrs>({
  name: 'IndexPut',
  meta({ x, index, source }, { dim, mode, alpha }) {
    const op = mode === 'add' ? 'index_add' : 'index_copy';
    requireIndex(op, 'index', index, mode === 'add');
    if (index.ndim > 1) throw new ShapeError(`${op}: index ${formatShape(index.shape)} must be 0-d or 1-d`);
    if (source.dtype !== x.dtype) throw new DTypeError(`${op}: source ${sig(source)} must have the input's dtype ${x.dtype}`);
    const d = normalizeDim(op, dim, x.ndim, x.shape);
    const want = x.ndim === 0 ? [] : x.shape.map((n, k) => (k === d ? index.numel() : n));
    const srcShape = source.ndim === 0 && want.length === 1 && want[0] === 1 ? [1] : source.shape;
    if (srcShape.length !== want.length || srcShape.some((n, k) => n !== want[k]))
      throw new ShapeError(`${op}: source ${formatShape(source.shape)} must be ${formatShape(want)} (the input ${formatShape(x.shape)} with dim ${d} sized index.numel() ${index.numel()})`);
    if (mode === 'add' && x.dtype === 'bool') throw new DTypeError(`index_add: not supported for ${sig(x)}`);
    if (!Number.isFinite(alpha) || (!isFloating(x.dtype) && !Number.isInteger(alpha)))
      throw new DTypeError(`${op}: alpha ${alpha} must be finite (and an integer for ${x.dtype})`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  flops: ({ source }) => source.numel(),
});

function indexPut(op: string, x: Tensor, dim: number, index: Tensor, source: Tensor, mode: 'copy' | 'add', alpha: number): Tensor {
  return dispatch(
    IndexPut,
    { x: requireTensor(op, 'input', x), index: requireTensor(op, 'index', index), source: requireTensor(op, 'source', source) },
    { dim, mode, alpha },
  );
}

export function indexAdd(x: Tensor, dim: number, index: Tensor, source: Tensor, options: { readonly alpha?: number } = {}): Tensor {
  return indexPut('index_add', x, dim, index, source, 'add', options.alpha ?? 1);
}
export function indexCopy(x: Tensor, dim: number, index: Tensor, source: Tensor): Tensor {
  return indexPut('index_copy', x, dim, index, source, 'copy', 1);
}
export function indexAdd_(x: Tensor, dim: number, index: Tensor, source: Tensor, options: { readonly alpha?: number } = {}): Tensor {
  return copy_(x, indexAdd(x, dim, index, source, options));
}
export function indexCopy_(x: Tensor, dim: number, index: Tensor, source: Tensor): Tensor {
  return copy_(x, indexCopy(x, dim, index, source));
}

// ---- take_along_dim ----

export type TakeAlongDimInputs = { readonly x: Tensor; readonly indices: Tensor };
export type TakeAlongDimAttrs = { readonly dim: number | null };

/** torch.take_along_dim: gather after broadcasting input and indices on every dim but `dim` (or over the flattened input). */
export const TakeAlongDim = defineOp<TakeAlongDimInputs, TakeAlongDimAttrs>({
  name: 'TakeAlongDim',
  meta({ x, indices }, { dim }) {
    requireIndex('take_along_dim', 'indices', indices, false);
    if (dim === null) return [{ shape: [indices.numel()], dtype: x.dtype }];
    return [{ shape: takeShapes(x, indices, dim).out, dtype: x.dtype }];
  },
  decompose({ x, indices }, { dim }) {
    if (dim === null) return [gather(x.reshape([-1]), 0, indices.reshape([-1]))];
    const { xs, is, d } = takeShapes(x, indices, dim);
    return [gather(x.expand(xs), d, indices.expand(is))];
  },
  flops: () => 0,
});

function takeShapes(x: Tensor, indices: Tensor, dim: number): { xs: number[]; is: number[]; out: number[]; d: number } {
  if (x.ndim !== indices.ndim)
    throw new ShapeError(`take_along_dim: input ${formatShape(x.shape)} and indices ${formatShape(indices.shape)} must have the same number of dims`);
  const d = normalizeDim('take_along_dim', dim, x.ndim, x.shape);
  const drop = (s: readonly number[]) => s.filter((_, k) => k !== d);
  const b = broadcastShapes('take_along_dim (dims other than dim)', drop(x.shape), drop(indices.shape));
  const put = (n: number) => [...b.slice(0, d), n, ...b.slice(d)];
  return { xs: put(x.shape[d]!), is: put(indices.shape[d]!), out: put(indices.shape[d]!), d };
}

export function takeAlongDim(x: Tensor, indices: Tensor, dim?: number): Tensor {
  return dispatch(
    TakeAlongDim,
    { x: requireTensor('take_along_dim', 'input', x), indices: requireTensor('take_along_dim', 'indices', indices) },
    { dim: dim ?? null },
  );
}

// ---- masked_select / where(cond) ----

export type MaskedSelectInputs = { readonly x: Tensor; readonly mask: Tensor };

/** How many elements of `mask` broadcast to `shape` are true (a data-dependent output size, read in meta). */
export function countTrue(mask: Tensor, shape: readonly number[]): number {
  const data = mask.storage.data as Uint8Array;
  let n = 0;
  forEachOffset(shape, broadcastStrides(mask.shape, mask.strides, shape), mask.offset, (i) => {
    if (data[i] !== 0) n++;
  });
  return n;
}

/**
 * torch.masked_select: the elements of x (broadcast with the bool mask) where mask is true, as a 1-d tensor.
 * Its size depends on the mask's values, so meta reads the mask (as PyTorch synchronises for it).
 */
export const MaskedSelect = defineOp<MaskedSelectInputs, Record<string, never>>({
  name: 'MaskedSelect',
  meta({ x, mask }) {
    if (mask.dtype !== 'bool') throw new DTypeError(`masked_select: mask must be bool, got ${sig(mask)}`);
    const shape = broadcastShapes('masked_select', x.shape, mask.shape);
    return [{ shape: [countTrue(mask, shape)], dtype: x.dtype }];
  },
  flops: () => 0,
});

export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  return dispatch(MaskedSelect, { x: requireTensor('masked_select', 'input', x), mask: requireTensor('masked_select', 'mask', mask) }, {});
}

/**
 * torch.where(cond) (= nonzero(cond, as_tuple=True)): one int64 tensor of coordinates per dim of cond, in
 * row-major order of the true elements. Each is masked_select of that dim's arange broadcast over cond.
 */
export function whereNonzero(cond: Tensor): Tensor[] {
  requireTensor('where', 'condition', cond);
  const c = cond.dtype === 'bool' ? cond : cond.ne(0);
  if (c.ndim === 0) return [maskedSelect(arange(1), c.reshape([1]))];
  return c.shape.map((n, d) => {
    const coord = arange(n).reshape(c.shape.map((_, k) => (k === d ? n : 1))); // [1, .., n, .., 1]
    return maskedSelect(coord, c);
  });
}
