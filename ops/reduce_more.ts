/**
 * More reductions with PyTorch's names and conventions (negative dims, keepdim positional or in options):
 * prod, any, all (cpu kernels), logsumexp, std, norm / linalgVectorNorm, countNonzero (decompositions into
 * existing ops), and the data-dependent nonzero and unique, whose output shapes depend on the values: their
 * meta reads the input, as PyTorch's nonzero synchronises with the device (all storage here is host memory).
 */
import { dispatch, dispatchAll } from '../core/dispatcher.js';
import { isFloating, type DType } from '../core/dtype.js';
import { ArgumentError, DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { abs, add, exp, log, mul, ne, pow, sqrt, sub, where, type UnaryInputs } from './elementwise.js';
import { isinf } from './elementwise_more.js';
import { reducedShape, sum, type ReduceAttrs } from './reduce.js';
import { amax, amin, reduceDimsOf, variance } from './reduce2.js';
import { keepOf, type KeepDim } from './keepdim.js';
import { requireTensor, sig } from './util.js';


type Dims = number | readonly number[] | null | undefined;
const dimList = (dim: Dims): readonly number[] | null => (dim === undefined || dim === null ? null : typeof dim === 'number' ? [dim] : dim);

export type ProdAttrs = ReduceAttrs & { readonly dtype: DType | null };

/** Product: integers and bool accumulate to int64 (wrapping), floats keep their dtype unless `dtype` is given. */
export const Prod = defineOp<UnaryInputs, ProdAttrs>({
  name: 'Prod',
  meta({ x }, { dims, keepdim, dtype }) {
    if (dims !== null && dims.length > 1) throw new ArgumentError(`prod: reduces one dim or all of them, got dims [${dims.join(', ')}] (PyTorch's prod takes a single int dim)`);
    const d = reduceDimsOf('prod', x, dims);
    const out: DType = dtype ?? (isFloating(x.dtype) ? x.dtype : 'int64');
    if (out === 'bool') throw new DTypeError(`prod: dtype bool is not supported (input ${sig(x)})`);
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype: out }];
  },
  flops: ({ x }) => x.numel(),
});

function logicalReduce(name: string, fn: string) {
  return defineOp<UnaryInputs, ReduceAttrs>({
    name,
    meta({ x }, { dims, keepdim }) {
      const d = reduceDimsOf(fn, x, dims);
      // PyTorch 1.x keeps uint8 for uint8 inputs (a legacy of byte masks); every other dtype gives bool.
      return [{ shape: reducedShape(x.shape, d, keepdim), dtype: x.dtype === 'uint8' ? 'uint8' : 'bool' }];
    },
    flops: ({ x }) => x.numel(),
  });
}

/** True where any element along the dims is nonzero (NaN counts as nonzero). */
export const Any = logicalReduce('Any', 'any');
/** True where every element along the dims is nonzero. */
export const All = logicalReduce('All', 'all');

/** log(sum(exp(x))) computed as max + log(sum(exp(x − max))) so large inputs do not overflow. */
export const LogSumExp = defineOp<UnaryInputs, ReduceAttrs>({
  name: 'LogSumExp',
  meta({ x }, { dims, keepdim }) {
    const d = reduceDimsOf('logsumexp', x, dims);
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype: isFloating(x.dtype) ? x.dtype : 'float32' }];
  },
  decompose({ x }, { dims, keepdim }) {
    const xf = isFloating(x.dtype) ? x : x.to('float32');
    const d = reduceDimsOf('logsumexp', x, dims);
    if (xf.numel() === 0) return [log(sum(exp(xf), d, keepdim))];
    const m = amax(xf, d, true);
    // An infinite max would give inf − inf = NaN: shift by 0 there instead (PyTorch does the same).
    const shift = where(isinf(m), 0, m);
    const s = log(sum(exp(sub(xf, shift)), d, true));
    const r = add(s, shift);
    return [keepdim ? r : r.reshape(reducedShape(x.shape, d, false))];
  },
  flops: ({ x }) => 4 * x.numel(),
});

export type StdAttrs = { readonly dims: readonly number[] | null; readonly correction: number; readonly keepdim: boolean };

/** Standard deviation: sqrt of var with the same correction (Bessel's by default). */
export const Std = defineOp<UnaryInputs, StdAttrs>({
  name: 'Std',
  meta({ x }, { dims, keepdim }) {
    if (!isFloating(x.dtype)) throw new DTypeError(`std: input must be floating point, got ${sig(x)}`);
    return [{ shape: reducedShape(x.shape, reduceDimsOf('std', x, dims), keepdim), dtype: x.dtype }];
  },
  decompose: ({ x }, { dims, correction, keepdim }) => [sqrt(variance(x, dims, { correction, keepdim }))],
  flops: ({ x }) => 3 * x.numel(),
});

export type VectorNormAttrs = ReduceAttrs & { readonly ord: number };

/** The vector p-norm over dims (all by default): ord 2, 1, ±inf, 0 (count of nonzeros) or any other p. */
export const VectorNorm = defineOp<UnaryInputs, VectorNormAttrs>({
  name: 'VectorNorm',
  meta({ x }, { dims, keepdim, ord }) {
    if (!isFloating(x.dtype)) throw new DTypeError(`linalgVectorNorm: expected a floating-point input, got ${sig(x)}`);
    if (typeof ord !== 'number' || Number.isNaN(ord)) throw new ArgumentError(`linalgVectorNorm: ord must be a number, got ${String(ord)}`);
    const d = reduceDimsOf('linalgVectorNorm', x, dims);
    if (ord < 0 && x.numel() === 0) throw new ShapeError(`linalgVectorNorm: ord ${ord} of the empty tensor ${formatShape(x.shape)} is undefined`);
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype: x.dtype }];
  },
  decompose({ x }, { dims, keepdim, ord }) {
    const d = reduceDimsOf('linalgVectorNorm', x, dims);
    if (ord === Infinity) return [amax(abs(x), d, keepdim)];
    if (ord === -Infinity) return [amin(abs(x), d, keepdim)];
    if (ord === 0) return [sum(ne(x, 0), d, keepdim).to(x.dtype)];
    if (ord === 1) return [sum(abs(x), d, keepdim)];
    if (ord === 2) return [sqrt(sum(mul(x, x), d, keepdim))];
    return [pow(sum(pow(abs(x), ord), d, keepdim), 1 / ord)];
  },
  flops: ({ x }) => 2 * x.numel(),
});

/** Number of nonzero elements over dims (int64), a sum of `x != 0`. */
export const CountNonzero = defineOp<UnaryInputs, ReduceAttrs>({
  name: 'CountNonzero',
  meta({ x }, { dims }) {
    return [{ shape: reducedShape(x.shape, reduceDimsOf('countNonzero', x, dims), false), dtype: 'int64' }];
  },
  decompose: ({ x }, { dims }) => [sum(ne(x, 0), reduceDimsOf('countNonzero', x, dims), false)],
  flops: ({ x }) => x.numel(),
});

/** Flags of the elements that are nonzero, in row-major order (0/1 per element). */
export function nonzeroFlags(x: Tensor): Uint8Array {
  const flags = ne(x, 0).toArray() as Uint8Array;
  return flags;
}

/** Indices of the nonzero elements: int64 [count, ndim], row-major order. */
export const NonZero = defineOp<UnaryInputs, Record<string, never>>({
  name: 'NonZero',
  meta({ x }) {
    let count = 0;
    for (const f of nonzeroFlags(x)) count += f;
    return [{ shape: [count, x.ndim], dtype: 'int64' }];
  },
  flops: ({ x }) => x.numel(),
});

export type UniqueAttrs = { readonly sorted: boolean; readonly returnInverse: boolean; readonly returnCounts: boolean };

/** The distinct values of x, sorted ascending (NaNs compare equal to each other here and sort last). */
export function distinctSorted(x: Tensor): number[] | bigint[] {
  const vals = x.toArray();
  if (vals instanceof BigInt64Array) return [...new Set(vals)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const set = [...new Set(Array.from(vals))];
  return set.sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b));
}

/** torch.unique: sorted distinct values (1-D), and optionally the inverse indices (x's shape) and counts. */
export const Unique = defineOp<UnaryInputs, UniqueAttrs>({
  name: 'Unique',
  meta({ x }, { sorted, returnInverse, returnCounts }) {
    if (sorted !== true) throw new ArgumentError('unique: only sorted=true is supported (PyTorch sorts on CPU either way)');
    const n = distinctSorted(x).length;
    const outs = [{ shape: [n], dtype: x.dtype }];
    if (returnInverse) outs.push({ shape: [...x.shape], dtype: 'int64' });
    if (returnCounts) outs.push({ shape: [n], dtype: 'int64' });
    return outs;
  },
  flops: ({ x }) => x.numel(),
});

// ---- public functions ----

export interface ProdOptions {
  readonly keepdim?: boolean;
  readonly dtype?: DType;
}

/** torch.prod(x) or torch.prod(x, dim, keepdim=False, dtype=None). */
export function prod(x: Tensor, dim?: number | null, keepdim: boolean | ProdOptions = false): Tensor {
  const opts = typeof keepdim === 'object' ? keepdim : { keepdim };
  return dispatch(Prod, { x: requireTensor('prod', 'input', x) }, { dims: dimList(dim), keepdim: opts.keepdim === true, dtype: opts.dtype ?? null });
}

export function any(x: Tensor, dim?: Dims, keepdim?: KeepDim): Tensor {
  return dispatch(Any, { x: requireTensor('any', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

export function all(x: Tensor, dim?: Dims, keepdim?: KeepDim): Tensor {
  return dispatch(All, { x: requireTensor('all', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

/** torch.logsumexp(x, dim, keepdim=False); dim may be a list. */
export function logsumexp(x: Tensor, dim: number | readonly number[], keepdim?: KeepDim): Tensor {
  return dispatch(LogSumExp, { x: requireTensor('logsumexp', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

export interface StdOptions {
  /** Divide by N − correction (1: Bessel's correction, PyTorch's default; 0: population). */
  readonly correction?: number;
  readonly keepdim?: boolean;
}

/** torch.std(x, dim=None, unbiased=True | {correction}, keepdim=False). */
export function std(x: Tensor, dim?: Dims, unbiased?: boolean | StdOptions, keepdim = false): Tensor {
  requireTensor('std', 'input', x);
  let correction = 1;
  let keep = keepdim;
  if (typeof unbiased === 'boolean') correction = unbiased ? 1 : 0;
  else if (unbiased !== undefined) {
    correction = unbiased.correction ?? 1;
    keep = unbiased.keepdim ?? keepdim;
  }
  return dispatch(Std, { x }, { dims: dimList(dim), correction, keepdim: keep });
}

export interface NormOptions {
  readonly dim?: number | readonly number[] | null;
  readonly keepdim?: boolean;
}

/** torch.linalg.vector_norm(x, ord=2, dim=None, keepdim=False). */
export function linalgVectorNorm(x: Tensor, ord = 2, options: NormOptions = {}): Tensor {
  return dispatch(VectorNorm, { x: requireTensor('linalgVectorNorm', 'input', x) }, { ord, dims: dimList(options.dim), keepdim: options.keepdim === true });
}

/** torch.norm(x, p=2, dim=None, keepdim=False) for vector norms ('fro' is the 2-norm over the given dims). */
export function norm(x: Tensor, p: number | 'fro' = 2, dim?: Dims, keepdim?: KeepDim): Tensor {
  return linalgVectorNorm(x, p === 'fro' ? 2 : p, { dim: dimList(dim), keepdim: keepOf(keepdim) });
}

export function countNonzero(x: Tensor, dim?: Dims): Tensor {
  return dispatch(CountNonzero, { x: requireTensor('countNonzero', 'input', x) }, { dims: dimList(dim), keepdim: false });
}

/** torch.nonzero(x): int64 [count, ndim]; with asTuple, one 1-D index tensor per dim. */
export function nonzero(x: Tensor, options: { readonly asTuple?: boolean } = {}): Tensor | Tensor[] {
  const idx = dispatch(NonZero, { x: requireTensor('nonzero', 'input', x) }, {});
  if (!options.asTuple) return idx;
  if (x.ndim === 0) return [idx.reshape([idx.shape[0]!])];
  return Array.from({ length: x.ndim }, (_, d) => idx.narrow(1, d, 1).squeeze(1));
}

export interface UniqueOptions {
  readonly sorted?: boolean;
  readonly returnInverse?: boolean;
  readonly returnCounts?: boolean;
}

/** torch.unique(x, sorted=True, return_inverse, return_counts): the values, then inverse and counts if asked. */
export function unique(x: Tensor, options: UniqueOptions = {}): Tensor | Tensor[] {
  const attrs = { sorted: options.sorted ?? true, returnInverse: options.returnInverse === true, returnCounts: options.returnCounts === true };
  const outs = dispatchAll(Unique, { x: requireTensor('unique', 'input', x) }, attrs);
  return outs.length === 1 ? outs[0]! : outs;
}
