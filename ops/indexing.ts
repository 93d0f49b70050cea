/**
 * Indexing and movement ops beyond cat/stack: split and chunk (views, as in PyTorch), repeat, index_select,
 * gather, embedding, masked_fill, tril and triu.
 *
 * Index tensors are int64, or int32 where PyTorch accepts it (index_select, embedding). meta() checks shapes
 * and dtypes; index *values* can only be checked by the kernel that reads them, which raises IndexError naming
 * the value and the valid range (PyTorch raises IndexError/RuntimeError there too; negative indices are out of
 * range for these ops, as in PyTorch).
 */
import { dispatch, dispatchAll } from '../core/dispatcher.js';
import { isFloating, type DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp, type TensorSpec } from '../core/op_def.js';
import { broadcastShapes, formatShape, normalizeDim } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import type { UnaryInputs } from './elementwise.js';
import { requireTensor, sig } from './util.js';

const withSize = (shape: readonly number[], dim: number, size: number): number[] => {
  const s = [...shape];
  s[dim] = size;
  return s;
};

// ---- split / chunk: views over the input, so they have a decomposition (narrow) and need no kernel ----

export type SplitAttrs = { readonly splitSize: number | readonly number[]; readonly dim: number };
export type ChunkAttrs = { readonly chunks: number; readonly dim: number };

function splitDim(op: string, x: Tensor, dim: number): number {
  if (x.ndim === 0) throw new ShapeError(`${op}: input ${sig(x)} is 0-dim: expects at least a 1-dimensional tensor`);
  return normalizeDim(op, dim, x.ndim, x.shape);
}

/** Pieces of size `size` along a dim of length n; the last may be smaller; a dim of size 0 gives one empty piece. */
function evenSizes(n: number, size: number): number[] {
  const count = size === 0 ? 1 : Math.max(Math.ceil(n / size), 1);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = Math.min(size, n - i * size);
  return out;
}

/** The dim and the piece sizes of torch.split(x, split_size_or_sections, dim). */
export function splitPlan(x: Tensor, splitSize: number | readonly number[], dim: number): { dim: number; sizes: number[] } {
  const d = splitDim('split', x, dim);
  const n = x.shape[d]!;
  if (typeof splitSize === 'number') {
    if (!Number.isInteger(splitSize) || splitSize < 0)
      throw new ShapeError(`split: split_size must be a non-negative integer, got ${splitSize} (input ${formatShape(x.shape)})`);
    if (splitSize === 0 && n !== 0)
      throw new ShapeError(`split: split_size 0 and input ${formatShape(x.shape)}: split_size can only be 0 if dim ${d} has size 0, but it has size ${n}`);
    return { dim: d, sizes: evenSizes(n, splitSize) };
  }
  if (!Array.isArray(splitSize)) throw new ShapeError(`split: split_size must be a number or an array of sizes, got ${typeof splitSize}`);
  const sizes = [...splitSize];
  if (sizes.some((s) => !Number.isInteger(s) || s < 0))
    throw new ShapeError(`split: split sizes ${formatShape(sizes)} and input ${formatShape(x.shape)}: sizes must be non-negative integers`);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== n)
    throw new ShapeError(
      `split: split sizes ${formatShape(sizes)} and input ${formatShape(x.shape)}: sizes sum to ${total} but dim ${d} has size ${n}; they must sum exactly to it`,
    );
  return { dim: d, sizes };
}

/** The dim and the piece sizes of torch.chunk(x, chunks, dim): ceil(n / chunks) each, so there may be fewer pieces. */
export function chunkPlan(x: Tensor, chunks: number, dim: number): { dim: number; sizes: number[] } {
  const d = splitDim('chunk', x, dim);
  if (!Number.isInteger(chunks) || chunks <= 0)
    throw new ShapeError(`chunk: chunks must be a positive integer, got ${chunks} (input ${formatShape(x.shape)})`);
  const n = x.shape[d]!;
  const size = Math.ceil(n / chunks);
  // An empty dim gives `chunks` empty pieces (PyTorch keeps the count there), otherwise split's pieces.
  return { dim: d, sizes: n === 0 ? new Array<number>(chunks).fill(0) : evenSizes(n, size) };
}

function pieceSpecs(x: Tensor, plan: { dim: number; sizes: number[] }): TensorSpec[] {
  return plan.sizes.map((s) => ({ shape: withSize(x.shape, plan.dim, s), dtype: x.dtype }));
}

function narrowPieces(x: Tensor, plan: { dim: number; sizes: number[] }): Tensor[] {
  let at = 0;
  return plan.sizes.map((s) => {
    const t = x.narrow(plan.dim, at, s);
    at += s;
    return t;
  });
}

/** torch.split: views of consecutive pieces along `dim`. */
export const Split = defineOp<UnaryInputs, SplitAttrs>({
  name: 'Split',
  view: true,
  meta: ({ x }, { splitSize, dim }) => pieceSpecs(x, splitPlan(x, splitSize, dim)),
  decompose: ({ x }, { splitSize, dim }) => narrowPieces(x, splitPlan(x, splitSize, dim)),
  flops: () => 0,
});

/** torch.chunk: `chunks` views (fewer when the dim does not divide that way) along `dim`. */
export const Chunk = defineOp<UnaryInputs, ChunkAttrs>({
  name: 'Chunk',
  view: true,
  meta: ({ x }, { chunks, dim }) => pieceSpecs(x, chunkPlan(x, chunks, dim)),
  decompose: ({ x }, { chunks, dim }) => narrowPieces(x, chunkPlan(x, chunks, dim)),
  flops: () => 0,
});

// ---- repeat ----

export type RepeatAttrs = { readonly repeats: readonly number[] };

/** torch.Tensor.repeat: tile the input; `repeats` may add leading dims. */
export const Repeat = defineOp<UnaryInputs, RepeatAttrs>({
  name: 'Repeat',
  meta({ x }, { repeats }) {
    if (repeats.length < x.ndim)
      throw new ShapeError(
        `repeat: repeats ${formatShape(repeats)} and input ${formatShape(x.shape)}: the number of repeat dims ${repeats.length} must be >= the input's rank ${x.ndim}`,
      );
    if (repeats.some((r) => !Number.isInteger(r) || r < 0))
      throw new ShapeError(`repeat: repeats ${formatShape(repeats)} and input ${formatShape(x.shape)}: repeats must be non-negative integers`);
    const lead = repeats.length - x.ndim;
    return [{ shape: repeats.map((r, i) => r * (i < lead ? 1 : x.shape[i - lead]!)), dtype: x.dtype }];
  },
  flops: () => 0,
});

// ---- index_select / gather / embedding ----

export type IndexInputs = { readonly x: Tensor; readonly index: Tensor };
export type DimAttrs = { readonly dim: number };

function requireIndexDType(op: string, what: string, t: Tensor, int32Ok: boolean): void {
  if (t.dtype === 'int64' || (int32Ok && t.dtype === 'int32')) return;
  throw new DTypeError(`${op}: ${what} must be ${int32Ok ? 'int32 or int64' : 'int64'}, got ${sig(t)}`);
}

/** torch.index_select: the slices `index` (0-d or 1-d, int32/int64) picks along `dim`. */
export const IndexSelect = defineOp<IndexInputs, DimAttrs>({
  name: 'IndexSelect',
  meta({ x, index }, { dim }) {
    requireIndexDType('index_select', 'index', index, true);
    if (index.ndim > 1)
      throw new ShapeError(`index_select: index ${formatShape(index.shape)} and input ${formatShape(x.shape)}: index must be 0-d or 1-d, got ${index.ndim}-d`);
    const d = normalizeDim('index_select', dim, x.ndim, x.shape);
    return [{ shape: x.ndim === 0 ? [] : withSize(x.shape, d, index.numel()), dtype: x.dtype }];
  },
  flops: () => 0,
});

/** torch.gather: out[i][j] = x[index[i][j]][j] (dim 0), index of the input's rank, int64. */
export const Gather = defineOp<IndexInputs, DimAttrs>({
  name: 'Gather',
  meta({ x, index }, { dim }) {
    requireIndexDType('gather', 'index', index, false);
    const d = normalizeDim('gather', dim, x.ndim, x.shape);
    // As in PyTorch, a 0-d tensor counts as rank 1 here.
    if (Math.max(index.ndim, 1) !== Math.max(x.ndim, 1))
      throw new ShapeError(`gather: index ${formatShape(index.shape)} and input ${formatShape(x.shape)}: rank ${index.ndim} differs from ${x.ndim}`);
    if (index.numel() > 0 && x.ndim > 0)
      for (let k = 0; k < x.ndim; k++)
        if (k !== d && index.shape[k]! > x.shape[k]!)
          throw new ShapeError(
            `gather: index ${formatShape(index.shape)} and input ${formatShape(x.shape)}: index size ${index.shape[k]} exceeds input size ${x.shape[k]} at dim ${k} (only dim ${d} may be larger)`,
          );
    return [{ shape: [...index.shape], dtype: x.dtype }];
  },
  flops: () => 0,
});

export type EmbeddingInputs = { readonly indices: Tensor; readonly weight: Tensor };

/** torch.nn.functional.embedding: rows of a [num_embeddings, embedding_dim] weight; output indices.shape + [dim]. */
export const Embedding = defineOp<EmbeddingInputs, Record<string, never>>({
  name: 'Embedding',
  meta({ indices, weight }) {
    requireIndexDType('embedding', 'indices', indices, true);
    if (weight.ndim !== 2)
      throw new ShapeError(`embedding: weight ${formatShape(weight.shape)} must be 2-D [num_embeddings, embedding_dim], got ${weight.ndim}-d`);
    return [{ shape: [...indices.shape, weight.shape[1]!], dtype: weight.dtype }];
  },
  flops: () => 0,
});

// ---- masked_fill ----

export type MaskedFillInputs = { readonly x: Tensor; readonly mask: Tensor };
export type MaskedFillAttrs = { readonly value: number | boolean };

const FLOAT_MAX: Record<'float32' | 'float16' | 'bfloat16', number> = {
  float32: 3.4028234663852886e38,
  float16: 65504,
  bfloat16: 3.3895313892515355e38,
};
const INT_LIMITS: Partial<Record<DType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [-(2 ** 63), 2 ** 63],
};

/**
 * PyTorch's checked Scalar conversion (c10 `overflows`): finite values beyond a float dtype's range, and NaN,
 * ±inf or values beyond an integer dtype's range, are errors; fractions truncate toward zero. Integer values
 * into uint8 may be negative down to -255 and wrap (two's complement), as in PyTorch.
 */
function checkFillValue(op: string, x: Tensor, v: number | boolean): void {
  if (typeof v !== 'number' && typeof v !== 'boolean') throw new DTypeError(`${op}: value must be a number, boolean or 0-dim tensor, got ${typeof v}`);
  const dtype = x.dtype;
  if (typeof v === 'boolean' || dtype === 'bool') return;
  const bad = () => new DTypeError(`${op}: value ${v} cannot be converted to ${dtype} without overflow (input ${sig(x)})`);
  if (isFloating(dtype)) {
    if (Number.isFinite(v) && Math.abs(v) > FLOAT_MAX[dtype]) throw bad();
    return;
  }
  const [lo, hi] = INT_LIMITS[dtype]!;
  if (!Number.isFinite(v)) throw bad();
  let ok: boolean;
  if (dtype === 'uint8' && Number.isInteger(v)) ok = v >= -255 && v <= 255;
  else if (dtype === 'int64') ok = v >= lo && v < hi; // hi is 2^63, itself out of range
  else ok = v >= lo && v <= hi;
  if (!ok) throw bad();
}

/** torch.Tensor.masked_fill: `value` where the bool mask is true; the result has the broadcast shape and x's dtype. */
export const MaskedFill = defineOp<MaskedFillInputs, MaskedFillAttrs>({
  name: 'MaskedFill',
  meta({ x, mask }, { value }) {
    if (mask.dtype !== 'bool') throw new DTypeError(`masked_fill: mask must be a bool tensor, got ${sig(mask)} (input ${sig(x)})`);
    const shape = broadcastShapes('masked_fill', x.shape, mask.shape);
    checkFillValue('masked_fill', x, value);
    return [{ shape, dtype: x.dtype }];
  },
  flops: () => 0,
});

// ---- tril / triu ----

export type TriAttrs = { readonly diagonal: number };

function triangle(name: string, fn: string) {
  return defineOp<UnaryInputs, TriAttrs>({
    name,
    meta({ x }, { diagonal }) {
      if (x.ndim < 2) throw new ShapeError(`${fn}: input ${formatShape(x.shape)} must have at least 2 dims (the last two are the matrix)`);
      if (!Number.isInteger(diagonal)) throw new ShapeError(`${fn}: diagonal must be an integer, got ${diagonal}`);
      return [{ shape: x.shape, dtype: x.dtype }];
    },
    flops: () => 0,
  });
}

/** Lower triangle of the last two dims: keeps (i, j) with j - i <= diagonal, zeros the rest. */
export const Tril = triangle('Tril', 'tril');
/** Upper triangle of the last two dims: keeps (i, j) with j - i >= diagonal, zeros the rest. */
export const Triu = triangle('Triu', 'triu');

// ---- public functions ----

/** torch.split(x, split_size_or_sections, dim): views; an int gives equal pieces (the last may be smaller). */
export function split(x: Tensor, splitSize: number | readonly number[], dim = 0): Tensor[] {
  return dispatchAll(Split, { x: requireTensor('split', 'input', x) }, { splitSize, dim });
}

/** torch.chunk(x, chunks, dim): up to `chunks` views of ceil(n / chunks) elements along `dim`. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  return dispatchAll(Chunk, { x: requireTensor('chunk', 'input', x) }, { chunks, dim });
}

/** torch.Tensor.repeat(*sizes). */
export function repeat(x: Tensor, repeats: readonly number[]): Tensor {
  if (!Array.isArray(repeats)) throw new ShapeError(`repeat: repeats must be an array of sizes, got ${typeof repeats}`);
  return dispatch(Repeat, { x: requireTensor('repeat', 'input', x) }, { repeats: [...repeats] });
}

/** torch.index_select(x, dim, index). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return dispatch(IndexSelect, { x: requireTensor('index_select', 'input', x), index: requireTensor('index_select', 'index', index) }, { dim });
}

/** torch.gather(x, dim, index). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return dispatch(Gather, { x: requireTensor('gather', 'input', x), index: requireTensor('gather', 'index', index) }, { dim });
}

/** torch.nn.functional.embedding(indices, weight): row lookup (padding_idx and max_norm only matter for training). */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  return dispatch(Embedding, { indices: requireTensor('embedding', 'indices', indices), weight: requireTensor('embedding', 'weight', weight) }, {});
}

/** torch.masked_fill(x, mask, value): value is a number, a boolean or a 0-dim tensor. */
export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean | Tensor): Tensor {
  let v = value;
  if (v instanceof Tensor) {
    if (v.ndim !== 0) throw new ShapeError(`masked_fill: a value tensor must be 0-dim, got ${sig(v)}`);
    v = v.dtype === 'bool' ? v.item() !== 0 : v.item();
  }
  return dispatch(MaskedFill, { x: requireTensor('masked_fill', 'input', x), mask: requireTensor('masked_fill', 'mask', mask) }, { value: v });
}

export function tril(x: Tensor, diagonal = 0): Tensor {
  return dispatch(Tril, { x: requireTensor('tril', 'input', x) }, { diagonal });
}

export function triu(x: Tensor, diagonal = 0): Tensor {
  return dispatch(Triu, { x: requireTensor('triu', 'input', x) }, { diagonal });
}
