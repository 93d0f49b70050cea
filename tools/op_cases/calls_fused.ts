/** Catalog calls of the fused ops (PyTorch side: test/fixtures/op_cases_calls_fused.py). */
import * as o from '../../core/index.js';
import type { BuiltArg } from './spec.js';

const T = (a: BuiltArg): o.Tensor => a as o.Tensor;

export const fusedCalls = {
  silu_mul: (a: BuiltArg[]) => o.siluMul(T(a[0]!), T(a[1]!)),
};
