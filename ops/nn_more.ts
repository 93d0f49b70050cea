/**
 * group_norm, mse_loss and cross_entropy (forward only). All three are decompositions into primitives that
 * are checked against PyTorch; a backend may register a fused kernel for any of them.
 */
import { dispatch } from '../core/dispatcher.js';
import { isFloating, isIntegral, promoteTypes } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { broadcastShapes, formatShape, shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add, div, mul, ne, neg, rsqrt, sub, where } from './elementwise.js';
import { gather } from './indexing.js';
import { mean, sum } from './reduce.js';
import { logSoftmax } from './reduce2.js';
import { requireFloat, requireTensor, sig } from './util.js';

// ---- group_norm ----

export type GroupNormInputs = { readonly x: Tensor; readonly weight: Tensor | undefined; readonly bias: Tensor | undefined };
export type GroupNormAttrs = { readonly numGroups: number; readonly eps: number };

/**
 * torch.nn.functional.group_norm: x [N, C, *] normalized over each group of C/G channels (and all spatial
 * positions) with the biased variance, then scaled per channel. Half inputs compute in float32 and round once.
 */
export const GroupNorm = defineOp<GroupNormInputs, GroupNormAttrs>({
  name: 'GroupNorm',
  meta({ x, weight, bias }, { numGroups, eps }) {
    requireFloat('group_norm', x);
    if (x.ndim < 2) throw new ShapeError(`group_norm: input must be [N, C, *] (at least 2-D), got ${sig(x)}`);
    const C = x.shape[1]!;
    if (!Number.isInteger(numGroups) || numGroups < 1 || C % numGroups !== 0)
      throw new ShapeError(`group_norm: num_groups ${numGroups} must be a positive integer dividing the ${C} channels of input ${sig(x)}`);
    for (const [n, p] of [['weight', weight], ['bias', bias]] as const) {
      if (!p) continue;
      if (p.ndim !== 1 || p.shape[0] !== C) throw new ShapeError(`group_norm: ${n} ${sig(p)} must be [${C}] (one per channel)`);
      if (p.dtype !== x.dtype) throw new DTypeError(`group_norm: ${n} ${sig(p)} must have the input's dtype ${x.dtype}`);
    }
    if (!(eps >= 0)) throw new DTypeError(`group_norm: eps must be >= 0, got ${eps}`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x, weight, bias }, { numGroups, eps }) {
    const [N, C] = x.shape as [number, number];
    const x32 = x.to('float32');
    const g = x32.reshape([N, numGroups, -1]); // (N, G, C/G·spatial)
    const centered = sub(g, mean(g, -1, true));
    const variance = mean(mul(centered, centered), -1, true);
    let y = mul(centered, rsqrt(add(variance, eps))).reshape([...x.shape]); // (N, C, *)
    const perChannel = [C, ...x.shape.slice(2).map(() => 1)]; // broadcasts over spatial dims
    if (weight) y = mul(y, weight.to('float32').reshape(perChannel));
    if (bias) y = add(y, bias.to('float32').reshape(perChannel));
    return [y.to(x.dtype)];
  },
  flops: ({ x }) => 8 * x.numel(),
});

export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  return dispatch(
    GroupNorm,
    {
      x: requireTensor('group_norm', 'input', x),
      weight: weight === undefined ? undefined : requireTensor('group_norm', 'weight', weight),
      bias: bias === undefined ? undefined : requireTensor('group_norm', 'bias', bias),
    },
    { numGroups, eps },
  );
}

// ---- losses ----

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(op: string, r: string): void {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new DTypeError(`${op}: reduction '${r}' must be 'mean', 'sum' or 'none'`);
}

function reduce(t: Tensor, r: Reduction): Tensor {
  return r === 'none' ? t : r === 'sum' ? sum(t) : mean(t);
}

export type LossInputs = { readonly input: Tensor; readonly target: Tensor };
export type MseAttrs = { readonly reduction: Reduction };

/** torch.nn.functional.mse_loss: (input − target)², broadcast, then reduced. */
export const MseLoss = defineOp<LossInputs, MseAttrs>({
  name: 'MseLoss',
  meta({ input, target }, { reduction }) {
    requireFloat('mse_loss', input);
    requireFloat('mse_loss', target);
    checkReduction('mse_loss', reduction);
    const shape = broadcastShapes('mse_loss', input.shape, target.shape);
    return [{ shape: reduction === 'none' ? shape : [], dtype: promoteTypes(input.dtype, target.dtype) }];
  },
  decompose({ input, target }, { reduction }) {
    const d = sub(input, target);
    return [reduce(mul(d, d), reduction)];
  },
  flops: ({ input }) => 3 * input.numel(),
});

export function mseLoss(input: Tensor, target: Tensor, options: { readonly reduction?: Reduction } = {}): Tensor {
  return dispatch(
    MseLoss,
    { input: requireTensor('mse_loss', 'input', input), target: requireTensor('mse_loss', 'target', target) },
    { reduction: options.reduction ?? 'mean' },
  );
}

export type CrossEntropyAttrs = { readonly ignoreIndex: number; readonly labelSmoothing: number; readonly reduction: Reduction };

/** Class dim (1, or 0 for an unbatched [C] input) and the number of classes. */
function classes(input: Tensor): { cd: number; C: number } {
  const cd = input.ndim === 1 ? 0 : 1;
  return { cd, C: input.shape[cd]! };
}

/**
 * torch.nn.functional.cross_entropy on logits [C], [N, C] or [N, C, d1, …] with class-index targets (integer,
 * the input's shape without the class dim; `ignoreIndex` entries contribute nothing and are not counted by
 * 'mean') or class-probability targets (float, the input's shape). `labelSmoothing` ε mixes the target with
 * the uniform distribution: (1 − ε)·nll + ε·mean over classes of −log p.
 */
export const CrossEntropy = defineOp<LossInputs, CrossEntropyAttrs>({
  name: 'CrossEntropy',
  meta({ input, target }, { labelSmoothing, reduction, ignoreIndex }) {
    const op = 'cross_entropy';
    requireFloat(op, input);
    checkReduction(op, reduction);
    if (input.ndim === 0) throw new ShapeError(`${op}: input must be [C], [N, C] or [N, C, d1, …], got ${sig(input)}`);
    if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) throw new DTypeError(`${op}: label_smoothing must be in [0, 1], got ${labelSmoothing}`);
    if (!Number.isInteger(ignoreIndex)) throw new DTypeError(`${op}: ignore_index must be an integer, got ${ignoreIndex}`);
    const { cd } = classes(input);
    const noClass = input.shape.filter((_, k) => k !== cd);
    if (isIntegral(target.dtype)) {
      if (!shapesEqual(target.shape, noClass))
        throw new ShapeError(`${op}: class-index target ${sig(target)} must have the input's shape without the class dim ${formatShape(noClass)} (input ${sig(input)})`);
    } else if (isFloating(target.dtype)) {
      if (target.dtype !== input.dtype) throw new DTypeError(`${op}: probability target ${sig(target)} must have the input's dtype ${input.dtype}`);
      if (!shapesEqual(target.shape, input.shape))
        throw new ShapeError(`${op}: probability target ${sig(target)} must have the input's shape ${formatShape(input.shape)}`);
    } else throw new DTypeError(`${op}: target must hold class indices (an integer dtype) or probabilities (${input.dtype}), got ${sig(target)}`);
    return [{ shape: reduction === 'none' ? noClass : [], dtype: input.dtype }];
  },
  decompose({ input, target }, { ignoreIndex, labelSmoothing: eps, reduction }) {
    const { cd, C } = classes(input);
    const logp = logSoftmax(input, cd);
    if (isFloating(target.dtype)) {
      const t = eps > 0 ? add(mul(target, 1 - eps), eps / C) : target;
      const loss = neg(sum(mul(logp, t), cd));
      if (reduction !== 'mean') return [reduce(loss, reduction)];
      // PyTorch divides by the number of samples (every element but the class dim), not by C.
      return [div(sum(loss), input.numel() / Math.max(C, 1))];
    }
    const valid = ne(target, ignoreIndex);
    const safe = where(valid, target, 0).to('int64');
    const picked = gather(logp, cd, safe.unsqueeze(cd)).squeeze(cd);
    const nll = where(valid, neg(picked), 0);
    const count = sum(valid);
    const red = (t: Tensor) => (reduction === 'mean' ? div(sum(t), count) : reduce(t, reduction));
    const loss = red(nll);
    if (eps === 0) return [loss.to(input.dtype)];
    const smooth = where(valid, neg(sum(logp, cd)), 0);
    return [add(mul(loss, 1 - eps), mul(red(smooth), eps / C)).to(input.dtype)];
  },
  flops: ({ input }) => 6 * input.numel(),
});

export interface CrossEntropyOptions {
  /** Class index whose targets are skipped (default -100, as in PyTorch). */
  readonly ignoreIndex?: number;
  readonly labelSmoothing?: number;
  readonly reduction?: Reduction;
}

export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  return dispatch(
    CrossEntropy,
    { input: requireTensor('cross_entropy', 'input', input), target: requireTensor('cross_entropy', 'target', target) },
    { ignoreIndex: options.ignoreIndex ?? -100, labelSmoothing: options.labelSmoothing ?? 0, reduction: options.reduction ?? 'mean' },
  );
}
