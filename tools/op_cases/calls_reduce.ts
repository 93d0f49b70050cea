/** CALLS entries for min/amax/amin/argmin/var/cumsum/topk/log_softmax; the PyTorch side is test/fixtures/op_cases_calls_reduce.py. */
import * as o from '../../core/index.js';
import type { DType, Tensor } from '../../core/index.js';
import type { CallResult } from './calls.js';
import type { BuiltArg } from './spec.js';

const T = (a: BuiltArg | undefined): Tensor => a as Tensor;
const N = (a: BuiltArg | undefined): number => a as number;
const B = (a: BuiltArg | undefined): boolean => a === true;
const dims = (a: BuiltArg | undefined): number | readonly number[] | undefined =>
  a === null || a === undefined ? undefined : (a as number | readonly number[]);

export const reduceCalls: Readonly<Record<string, (args: BuiltArg[]) => CallResult>> = {
  min: (a) => (a[1] === null || a[1] === undefined ? o.min(T(a[0])) : o.min(T(a[0]), N(a[1]), B(a[2]))),
  amax: (a) => o.amax(T(a[0]), dims(a[1]), B(a[2])),
  amin: (a) => o.amin(T(a[0]), dims(a[1]), B(a[2])),
  argmin: (a) => o.argmin(T(a[0]), a[1] === null ? undefined : N(a[1]), B(a[2])),
  // a[2]: unbiased (boolean) or a correction (number).
  var: (a) => o.variance(T(a[0]), dims(a[1]), typeof a[2] === 'number' ? { correction: a[2], keepdim: B(a[3]) } : a[2] !== false, B(a[3])),
  cumsum: (a) => o.cumsum(T(a[0]), N(a[1]), a[2] ? { dtype: a[2] as DType } : {}),
  topk: (a) => o.topk(T(a[0]), N(a[1]), N(a[2]), a[3] !== false, a[4] !== false),
  log_softmax: (a) => o.logSoftmax(T(a[0]), N(a[1])),
};
