/**
 * Public functions the op-case catalog can call, by name. The PyTorch fixture script has the same table
 * (test/fixtures/make_op_cases.py, TORCH_CALLS), so a case means the same call on both sides.
 */
import * as o from '../../core/index.js';
import type { DType, Tensor } from '../../core/index.js';
import type { BuiltArg } from './spec.js';
import { movementCalls } from './calls_movement.js';
import { reduceCalls } from './calls_reduce.js';
import { moreCalls } from './calls_more.js';
import { orderingNnCalls } from './calls_ordering_nn.js';
import { fusedCalls } from './calls_fused.js';

export type CallResult = Tensor | Tensor[] | { values: Tensor; indices: Tensor };
type Call = (args: BuiltArg[]) => CallResult;

const T = (a: BuiltArg): Tensor => a as Tensor;
const TL = (a: BuiltArg): o.TensorLike => a as o.TensorLike;
const N = (a: BuiltArg): number => a as number;
const optN = (a: BuiltArg | undefined): number | undefined => (a === null || a === undefined ? undefined : (a as number));
const dims = (a: BuiltArg | undefined): number | readonly number[] | undefined =>
  a === null || a === undefined ? undefined : (a as number | readonly number[]);
const B = (a: BuiltArg | undefined): boolean => a === true;
const optT = (a: BuiltArg | undefined): Tensor | undefined => (a === null || a === undefined ? undefined : (a as Tensor));

const binary = (f: (a: o.TensorLike, b: o.TensorLike) => Tensor): Call => (a) => f(TL(a[0]!), TL(a[1]!));
const unary = (f: (x: Tensor) => Tensor): Call => (a) => f(T(a[0]!));

export const CALLS: Readonly<Record<string, Call>> = {
  add: binary(o.add),
  sub: binary(o.sub),
  mul: binary(o.mul),
  div: binary(o.div),
  pow: binary(o.pow),
  eq: binary(o.eq),
  ne: binary(o.ne),
  lt: binary(o.lt),
  le: binary(o.le),
  gt: binary(o.gt),
  ge: binary(o.ge),
  neg: unary(o.neg),
  abs: unary(o.abs),
  exp: unary(o.exp),
  log: unary(o.log),
  sqrt: unary(o.sqrt),
  rsqrt: unary(o.rsqrt),
  tanh: unary(o.tanh),
  sigmoid: unary(o.sigmoid),
  relu: unary(o.relu),
  silu: unary(o.silu),
  erf: unary(o.erf),
  gelu: (a) => o.gelu(T(a[0]!), (a[1] as 'none' | 'tanh' | undefined) ?? 'none'),
  clamp: (a) => o.clamp(T(a[0]!), optN(a[1]), optN(a[2])),
  where: (a) => o.where(T(a[0]!), TL(a[1]!), TL(a[2]!)),
  to: (a) => o.cast(T(a[0]!), a[1] as DType), // always dispatches (x.to(sameDtype) returns x itself)
  contiguous: (a) => o.contiguous(T(a[0]!), true),
  matmul: (a) => o.matmul(T(a[0]!), T(a[1]!)),
  linear: (a) => o.linear(T(a[0]!), T(a[1]!), a[2] === null || a[2] === undefined ? undefined : T(a[2])),
  linear_w8a8: (a) => o.linearW8A8(T(a[0]!), T(a[1]!), T(a[2]!), optT(a[3])),
  linear_w4: (a) => o.linearW4(T(a[0]!), { qweight: T(a[1]!), scales: T(a[2]!), zeros: optT(a[3]), blockSize: N(a[4]!) }, optT(a[5])),
  sum: (a) => o.sum(T(a[0]!), dims(a[1]), B(a[2])),
  mean: (a) => o.mean(T(a[0]!), dims(a[1]), B(a[2])),
  max: (a) => (a[1] === null || a[1] === undefined ? o.max(T(a[0]!)) : o.max(T(a[0]!), N(a[1]), B(a[2]))),
  argmax: (a) => o.argmax(T(a[0]!), optN(a[1]), B(a[2])),
  softmax: (a) => o.softmax(T(a[0]!), N(a[1])),
  layer_norm: (a) => o.layerNorm(T(a[0]!), a[1] as readonly number[], optT(a[2]), optT(a[3]), optN(a[4])),
  rms_norm: (a) => o.rmsNorm(T(a[0]!), optT(a[1]), optN(a[2])),
  rope: (a) => o.rope(T(a[0]!), T(a[1]!), T(a[2]!)),
  rope_tables: (a) => {
    const { cos, sin } = o.ropeTables(N(a[0]!), N(a[1]!), { theta: N(a[2]!) });
    return [cos, sin];
  },
  sdpa: (a) => {
    const opts = (a[4] ?? {}) as unknown as Record<string, unknown>;
    return o.scaledDotProductAttention(T(a[0]!), T(a[1]!), T(a[2]!), {
      attnMask: optT(a[3]),
      isCausal: opts.is_causal === true,
      scale: typeof opts.scale === 'number' ? opts.scale : undefined,
      causalAlign: opts.causal_align === 'bottom-right' ? 'bottom-right' : 'top-left',
      enableGqa: opts.enable_gqa === true,
    });
  },
  cat: (a) => o.cat(a[0] as Tensor[], N(a[1])),
  stack: (a) => o.stack(a[0] as Tensor[], N(a[1])),
  ...movementCalls,
  ...reduceCalls,
  ...moreCalls,
  ...orderingNnCalls,
  ...fusedCalls,
};
