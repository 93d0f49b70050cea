/** CALLS entries for the ops of ops/elementwise_more.ts and ops/reduce_more.ts; the PyTorch side is test/fixtures/op_cases_calls_more.py. */
import * as o from '../../core/index.js';
import type { Tensor } from '../../core/index.js';
import type { CallResult } from './calls.js';
import type { BuiltArg } from './spec.js';

type Call = (args: BuiltArg[]) => CallResult;
const T = (a: BuiltArg | undefined): Tensor => a as Tensor;
const TL = (a: BuiltArg | undefined): o.TensorLike => a as o.TensorLike;
const N = (a: BuiltArg | undefined): number => a as number;
const B = (a: BuiltArg | undefined): boolean => a === true;
const dims = (a: BuiltArg | undefined): number | readonly number[] | undefined =>
  a === null || a === undefined ? undefined : (a as number | readonly number[]);
/** 'inf' / '-inf' travel as strings in the JSON catalog. */
const ord = (a: BuiltArg | undefined): number => (a === 'inf' ? Infinity : a === '-inf' ? -Infinity : (a as number));
const binary = (f: (a: o.TensorLike, b: o.TensorLike) => Tensor): Call => (a) => f(TL(a[0]), TL(a[1]));
const unary = (f: (x: Tensor) => Tensor): Call => (a) => f(T(a[0]));
const many = (r: Tensor | Tensor[]): CallResult => r;

export const moreCalls: Readonly<Record<string, Call>> = {
  maximum: binary(o.maximum),
  minimum: binary(o.minimum),
  remainder: binary(o.remainder),
  fmod: binary(o.fmod),
  logicalAnd: binary(o.logicalAnd),
  logicalOr: binary(o.logicalOr),
  logicalXor: binary(o.logicalXor),
  bitwiseAnd: binary(o.bitwiseAnd),
  bitwiseOr: binary(o.bitwiseOr),
  bitwiseXor: binary(o.bitwiseXor),
  floor: unary(o.floor),
  ceil: unary(o.ceil),
  trunc: unary(o.trunc),
  round: (a) => o.round(T(a[0]), { decimals: a[1] === undefined ? 0 : N(a[1]) }),
  sign: unary(o.sign),
  square: unary(o.square),
  reciprocal: unary(o.reciprocal),
  log1p: unary(o.log1p),
  expm1: unary(o.expm1),
  log2: unary(o.log2),
  isnan: unary(o.isnan),
  isinf: unary(o.isinf),
  isfinite: unary(o.isfinite),
  logicalNot: unary(o.logicalNot),
  bitwiseNot: unary(o.bitwiseNot),
  clampMin: (a) => o.clampMin(T(a[0]), N(a[1])),
  clampMax: (a) => o.clampMax(T(a[0]), N(a[1])),
  lerp: (a) => o.lerp(T(a[0]), T(a[1]), TL(a[2])),
  addcmul: (a) => o.addcmul(T(a[0]), TL(a[1]), TL(a[2]), a[3] === null ? {} : { value: N(a[3]) }),
  prod: (a) => o.prod(T(a[0]), a[1] === null ? undefined : N(a[1]), B(a[2])),
  any: (a) => o.any(T(a[0]), dims(a[1]), B(a[2])),
  all: (a) => o.all(T(a[0]), dims(a[1]), { keepdim: B(a[2]) }),
  logsumexp: (a) => o.logsumexp(T(a[0]), a[1] as number | readonly number[], B(a[2])),
  // a[2]: unbiased (boolean) or a correction (number).
  std: (a) => o.std(T(a[0]), dims(a[1]), typeof a[2] === 'number' ? { correction: a[2], keepdim: B(a[3]) } : a[2] !== false, B(a[3])),
  vector_norm: (a) => o.linalgVectorNorm(T(a[0]), ord(a[1]), { dim: dims(a[2]) ?? null, keepdim: B(a[3]) }),
  norm: (a) => o.norm(T(a[0]), ord(a[1]), dims(a[2]), B(a[3])),
  count_nonzero: (a) => o.countNonzero(T(a[0]), dims(a[1])),
  nonzero: (a) => many(o.nonzero(T(a[0]))),
  unique: (a) => many(o.unique(T(a[0]), { returnInverse: B(a[1]), returnCounts: B(a[2]) })),
};
