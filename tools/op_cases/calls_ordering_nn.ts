/**
 * CALLS entries for mm/bmm/einsum, the ordering family and the conv/norm/loss ops (tools/op_cases/linalg_more.ts,
 * ordering.ts, nn_more.ts); the PyTorch side is test/fixtures/op_cases_calls_ordering_nn.py.
 */
import * as o from '../../core/index.js';
import type { Tensor } from '../../core/index.js';
import type { CallResult } from './calls.js';
import type { BuiltArg } from './spec.js';

const T = (a: BuiltArg | undefined): Tensor => a as Tensor;
const N = (a: BuiltArg | undefined): number => a as number;
const optT = (a: BuiltArg | undefined): Tensor | undefined => (a === null || a === undefined ? undefined : (a as Tensor));
const rec = (a: BuiltArg | undefined): Readonly<Record<string, unknown>> => (a ?? {}) as Readonly<Record<string, unknown>>;
const numOrList = (v: unknown): number | readonly number[] | undefined => (v === undefined ? undefined : (v as number | readonly number[]));
/** A scatter source: a tensor, or a plain number (the value form). */
const src = (a: BuiltArg | undefined): Tensor | number => (typeof a === 'number' ? a : T(a));

const convOpts = (a: BuiltArg | undefined): o.ConvOptions => {
  const r = rec(a);
  return {
    stride: numOrList(r.stride),
    padding: typeof r.padding === 'string' ? (r.padding as 'same' | 'valid') : numOrList(r.padding),
    dilation: numOrList(r.dilation),
    groups: r.groups as number | undefined,
  };
};

export const orderingNnCalls: Readonly<Record<string, (args: BuiltArg[]) => CallResult>> = {
  mm: (a) => o.mm(T(a[0]), T(a[1])),
  bmm: (a) => o.bmm(T(a[0]), T(a[1])),
  einsum: (a) => o.einsum(a[0] as string, a[1] as Tensor[]),
  sort: (a) => o.sort(T(a[0]), { dim: N(a[1]), descending: a[2] === true, stable: a[3] === true }),
  argsort: (a) => o.argsort(T(a[0]), { dim: N(a[1]), descending: a[2] === true }),
  flip: (a) => o.flip(T(a[0]), a[1] as readonly number[]),
  roll: (a) => o.roll(T(a[0]), a[1] as number | readonly number[], a[2] === null ? undefined : (a[2] as number | readonly number[])),
  scatter: (a) => o.scatter(T(a[0]), N(a[1]), T(a[2]), src(a[3])),
  scatter_add: (a) => o.scatterAdd(T(a[0]), N(a[1]), T(a[2]), T(a[3])),
  // In-place forms write into a copy, so the case's input stays as drawn.
  scatter_inplace: (a) => o.scatter_(T(a[0]).clone(), N(a[1]), T(a[2]), src(a[3])),
  index_add: (a) => o.indexAdd(T(a[0]), N(a[1]), T(a[2]), T(a[3]), { alpha: N(a[4] ?? 1) }),
  index_add_inplace: (a) => o.indexAdd_(T(a[0]).clone(), N(a[1]), T(a[2]), T(a[3]), { alpha: N(a[4] ?? 1) }),
  index_copy: (a) => o.indexCopy(T(a[0]), N(a[1]), T(a[2]), T(a[3])),
  index_copy_inplace: (a) => o.indexCopy_(T(a[0]).clone(), N(a[1]), T(a[2]), T(a[3])),
  take_along_dim: (a) => o.takeAlongDim(T(a[0]), T(a[1]), a[2] === null ? undefined : N(a[2])),
  masked_select: (a) => o.maskedSelect(T(a[0]), T(a[1])),
  where_cond: (a) => o.where(T(a[0])),
  scatter_add_inplace: (a) => o.scatterAdd_(T(a[0]).clone(), N(a[1]), T(a[2]), T(a[3])),
  gelu_options: (a) => o.gelu(T(a[0]), { approximate: a[1] as 'none' | 'tanh' }),
  pad: (a) => o.pad(T(a[0]), a[1] as readonly number[], { mode: a[2] as o.PadMode, value: N(a[3] ?? 0) }),
  unfold: (a) => {
    const r = rec(a[2]);
    return o.unfold(T(a[0]), a[1] as number | readonly number[], { dilation: numOrList(r.dilation), padding: numOrList(r.padding), stride: numOrList(r.stride) });
  },
  conv1d: (a) => o.conv1d(T(a[0]), T(a[1]), optT(a[2]), convOpts(a[3])),
  conv2d: (a) => o.conv2d(T(a[0]), T(a[1]), optT(a[2]), convOpts(a[3])),
  group_norm: (a) => o.groupNorm(T(a[0]), N(a[1]), optT(a[2]), optT(a[3]), N(a[4] ?? 1e-5)),
  mse_loss: (a) => o.mseLoss(T(a[0]), T(a[1]), { reduction: a[2] as o.Reduction }),
  cross_entropy: (a) => {
    const r = rec(a[2]);
    return o.crossEntropy(T(a[0]), T(a[1]), {
      ignoreIndex: r.ignore_index as number | undefined,
      labelSmoothing: r.label_smoothing as number | undefined,
      reduction: r.reduction as o.Reduction | undefined,
    });
  },
};
