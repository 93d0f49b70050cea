/**
 * More reductions and scans, with PyTorch's names and conventions (negative dims, keepdim): min (all elements,
 * or values and indices along a dim), amax/amin (one or several dims), argmin, var, cumsum, topk, and
 * log_softmax (a composite with a fused CPU kernel).
 */
import { dispatch, dispatchAll } from '../core/dispatcher.js';
import { isDType, isFloating, type DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape, normalizeDim, normalizeDims } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { exp, log, sub, type UnaryInputs } from './elementwise.js';
import { implicitSoftmaxDim } from './softmax_dim.js';
import { reducedShape, sum, type ReduceAttrs, type ReduceDimAttrs } from './reduce.js';
import { keepOf, type KeepDim } from './keepdim.js';
import { requireFloat, requireTensor, sig } from './util.js';

function checkNonEmptyAll(op: string, x: Tensor): void {
  if (x.numel() === 0) throw new ShapeError(`${op}: ${sig(x)} is empty: specify a dim to reduce an empty tensor`);
}

function checkNonEmptyDims(op: string, x: Tensor, dims: readonly number[]): void {
  for (const d of dims)
    if (x.ndim > 0 && x.shape[d] === 0) throw new ShapeError(`${op}: cannot reduce over dim ${d} of size 0 (shape ${formatShape(x.shape)})`);
}

/** Dims of amax/amin/var: null or [] mean every dim, as in PyTorch. */
export function reduceDimsOf(op: string, x: Tensor, dims: readonly number[] | null): number[] {
  return normalizeDims(op, dims === null || dims.length === 0 ? undefined : dims, x.shape);
}

/** min over all elements (one output) or along one dim (values and int64 indices of the first minimum); NaN propagates. */
export const Min = defineOp<UnaryInputs, ReduceDimAttrs>({
  name: 'Min',
  meta({ x }, { dim, keepdim }) {
    if (dim === null) {
      checkNonEmptyAll('min', x);
      return [{ shape: [], dtype: x.dtype }];
    }
    const d = normalizeDim('min', dim, x.ndim, x.shape);
    checkNonEmptyDims('min', x, [d]);
    const shape = x.ndim === 0 ? [] : reducedShape(x.shape, [d], keepdim);
    return [
      { shape, dtype: x.dtype },
      { shape, dtype: 'int64' },
    ];
  },
  flops: ({ x }) => x.numel(),
});

function extremeOp(name: string, fn: string) {
  return defineOp<UnaryInputs, ReduceAttrs>({
    name,
    meta({ x }, { dims, keepdim }) {
      const d = reduceDimsOf(fn, x, dims);
      if (dims === null || dims.length === 0) checkNonEmptyAll(fn, x);
      else checkNonEmptyDims(fn, x, d);
      return [{ shape: reducedShape(x.shape, d, keepdim), dtype: x.dtype }];
    },
    flops: ({ x }) => x.numel(),
  });
}

/** Maximum over one or several dims (all by default); NaN propagates. */
export const AMax = extremeOp('AMax', 'amax');
/** Minimum over one or several dims (all by default); NaN propagates. */
export const AMin = extremeOp('AMin', 'amin');

/** Index of the first minimum (NaN counts as the minimum), over all elements (flattened) or one dim. */
export const ArgMin = defineOp<UnaryInputs, ReduceDimAttrs>({
  name: 'ArgMin',
  meta({ x }, { dim, keepdim }) {
    if (dim === null) {
      checkNonEmptyAll('argmin', x);
      return [{ shape: keepdim ? x.shape.map(() => 1) : [], dtype: 'int64' }];
    }
    const d = normalizeDim('argmin', dim, x.ndim, x.shape);
    checkNonEmptyDims('argmin', x, [d]);
    return [{ shape: x.ndim === 0 ? [] : reducedShape(x.shape, [d], keepdim), dtype: 'int64' }];
  },
  flops: ({ x }) => x.numel(),
});

export type VarAttrs = { readonly dims: readonly number[] | null; readonly correction: number; readonly keepdim: boolean };

/**
 * Variance sum((x - mean)²) / max(0, N - correction) over dims (all by default): correction 1 is the unbiased
 * estimate, 0 the population variance. N - correction <= 0 gives inf (or NaN for 0/0), as in PyTorch.
 */
export const Var = defineOp<UnaryInputs, VarAttrs>({
  name: 'Var',
  meta({ x }, { dims, correction, keepdim }) {
    if (!isFloating(x.dtype)) throw new DTypeError(`var: only floating-point inputs are supported, got ${sig(x)} (cast with .to('float32'))`);
    if (typeof correction !== 'number' || !Number.isFinite(correction)) throw new DTypeError(`var: correction must be a finite number, got ${correction}`);
    const d = reduceDimsOf('var', x, dims);
    return [{ shape: reducedShape(x.shape, d, keepdim), dtype: x.dtype }];
  },
  flops: ({ x }) => 3 * x.numel(),
});

export type CumSumAttrs = { readonly dim: number; readonly dtype: DType | null };

/** Inclusive prefix sums along a dim. Integers and bools accumulate to int64 unless a dtype is given. */
export const CumSum = defineOp<UnaryInputs, CumSumAttrs>({
  name: 'CumSum',
  meta({ x }, { dim, dtype }) {
    normalizeDim('cumsum', dim, x.ndim, x.shape);
    if (dtype !== null && (typeof dtype !== 'string' || !isDType(dtype))) throw new DTypeError(`cumsum: unknown dtype '${String(dtype)}' (input ${sig(x)})`);
    if (dtype === 'bool') throw new DTypeError(`cumsum: dtype bool is not supported (input ${sig(x)}); accumulate in an integer dtype`);
    const out: DType = dtype ?? (isFloating(x.dtype) ? x.dtype : 'int64');
    return [{ shape: x.shape, dtype: out }];
  },
  flops: ({ x }) => x.numel(),
});

export type TopKAttrs = { readonly k: number; readonly dim: number; readonly largest: boolean; readonly sorted: boolean };

/**
 * The k largest (or smallest) elements along a dim with their int64 indices. NaN is larger than every number
 * (first with largest, last with smallest), as in PyTorch. Results are always sorted, which `sorted: false`
 * allows too.
 */
export const TopK = defineOp<UnaryInputs, TopKAttrs>({
  name: 'TopK',
  meta({ x }, { k, dim }) {
    if (x.dtype === 'bool') throw new DTypeError(`topk: bool inputs are not supported, got ${sig(x)}`);
    const d = normalizeDim('topk', dim, x.ndim, x.shape);
    const n = x.ndim === 0 ? 1 : x.shape[d]!;
    if (!Number.isInteger(k) || k < 0 || k > n)
      throw new ShapeError(
        `topk: k ${k} and input ${formatShape(x.shape)}: k must be in [0, ${n}], ${x.ndim === 0 ? 'as the input is 0-dim' : `the size of dim ${d}`}`,
      );
    const shape = x.ndim === 0 ? [] : x.shape.map((s, i) => (i === d ? k : s));
    return [
      { shape, dtype: x.dtype },
      { shape, dtype: 'int64' },
    ];
  },
  flops: ({ x }) => x.numel(),
});

export type LogSoftmaxAttrs = { readonly dim: number };

/** float16/bfloat16 compute in float32 and round once, as PyTorch's CPU kernels accumulate in float. */
function upcastHalf(x: Tensor, fn: (x32: Tensor) => Tensor): Tensor {
  return x.dtype === 'float16' || x.dtype === 'bfloat16' ? fn(x.to('float32')).to(x.dtype) : fn(x);
}

/** Numerically stable log_softmax along a dim: x - max - log(sum(exp(x - max))). */
export const LogSoftmax = defineOp<UnaryInputs, LogSoftmaxAttrs>({
  name: 'LogSoftmax',
  overwritesOutputs: true, // every kernel writes each row in full
  meta({ x }, { dim }) {
    requireFloat('log_softmax', x);
    normalizeDim('log_softmax', dim, x.ndim, x.shape);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x }, { dim }) {
    if (x.numel() === 0) return [x.clone()];
    // A 0-dim input is one row of one element.
    const flat = x.ndim === 0 ? x.reshape([1]) : x;
    const out = upcastHalf(flat, (x32) => {
      const shifted = sub(x32, amax(x32, dim, true));
      return sub(shifted, log(sum(exp(shifted), dim, true)));
    });
    return [x.ndim === 0 ? out.reshape([]) : out];
  },
  flops: ({ x }) => 5 * x.numel(),
});

// ---- public functions ----

const dimList = (dim: number | readonly number[] | undefined | null): readonly number[] | null =>
  dim === undefined || dim === null ? null : typeof dim === 'number' ? [dim] : [...dim];

/** torch.min(x) (one value) or torch.min(x, dim, keepdim) (values and indices). */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: KeepDim): { values: Tensor; indices: Tensor };
export function min(x: Tensor, dim?: number, keepdim: KeepDim = false): Tensor | { values: Tensor; indices: Tensor } {
  requireTensor('min', 'input', x);
  if (dim === undefined) return dispatch(Min, { x }, { dim: null, keepdim: false });
  const [values, indices] = dispatchAll(Min, { x }, { dim, keepdim: keepOf(keepdim) }) as [Tensor, Tensor];
  return { values, indices };
}

/** torch.amax(x, dim=(), keepdim=False): no dims (or []) reduces every dim. */
export function amax(x: Tensor, dim?: number | readonly number[], keepdim: KeepDim = false): Tensor {
  return dispatch(AMax, { x: requireTensor('amax', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

/** torch.amin(x, dim=(), keepdim=False). */
export function amin(x: Tensor, dim?: number | readonly number[], keepdim: KeepDim = false): Tensor {
  return dispatch(AMin, { x: requireTensor('amin', 'input', x) }, { dims: dimList(dim), keepdim: keepOf(keepdim) });
}

/** torch.argmin(x, dim=None, keepdim=False). */
export function argmin(x: Tensor, dim?: number, keepdim: KeepDim = false): Tensor {
  return dispatch(ArgMin, { x: requireTensor('argmin', 'input', x) }, { dim: dim ?? null, keepdim: keepOf(keepdim) });
}

export interface VarOptions {
  /** Subtracted from N in the divisor: 1 (default) is Bessel's correction, 0 the population variance. */
  readonly correction?: number;
  readonly keepdim?: boolean;
}

/**
 * torch.var(x, dim=None, unbiased=True, keepdim=False), or with options, torch.var(x, dim, correction=c,
 * keepdim=k). Exported as `var` too (a reserved word in JS, so only usable as `ops.var` or a method).
 */
export function variance(x: Tensor, dim?: number | readonly number[] | null, unbiased?: boolean | VarOptions, keepdim = false): Tensor {
  requireTensor('var', 'input', x);
  let correction = 1;
  let keep = keepdim;
  if (typeof unbiased === 'boolean') correction = unbiased ? 1 : 0;
  else if (unbiased !== undefined) {
    correction = unbiased.correction ?? 1;
    keep = unbiased.keepdim ?? keepdim;
  }
  return dispatch(Var, { x }, { dims: dimList(dim), correction, keepdim: keep });
}
export { variance as var };

export interface CumSumOptions {
  /** Cast the input to this dtype first and accumulate in it (PyTorch's `dtype=`). */
  readonly dtype?: DType;
}

/** torch.cumsum(x, dim, dtype=None). */
export function cumsum(x: Tensor, dim: number, options: CumSumOptions = {}): Tensor {
  return dispatch(CumSum, { x: requireTensor('cumsum', 'input', x) }, { dim, dtype: options.dtype ?? null });
}

/** torch.topk(x, k, dim=-1, largest=True, sorted=True) -> {values, indices}. */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
  const [values, indices] = dispatchAll(TopK, { x: requireTensor('topk', 'input', x) }, { k, dim, largest, sorted }) as [Tensor, Tensor];
  return { values, indices };
}

/** torch.log_softmax(x, dim); without dim, PyTorch's implicit dim (0 for 0-, 1- and 3-d inputs, else 1) with a one-time warning. */
export function logSoftmax(x: Tensor, dim?: number): Tensor {
  requireTensor('log_softmax', 'input', x);
  return dispatch(LogSoftmax, { x }, { dim: dim ?? implicitSoftmaxDim('logSoftmax', x) });
}
