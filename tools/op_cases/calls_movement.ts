/** CALLS entries for the indexing/movement family (tools/op_cases/indexing.ts); the PyTorch side is test/fixtures/op_cases_calls_movement.py. */
import * as o from '../../core/index.js';
import type { Tensor } from '../../core/index.js';
import type { CallResult } from './calls.js';
import type { BuiltArg } from './spec.js';

const T = (a: BuiltArg | undefined): Tensor => a as Tensor;
const N = (a: BuiltArg | undefined): number => a as number;

export const movementCalls: Readonly<Record<string, (args: BuiltArg[]) => CallResult>> = {
  split: (a) => o.split(T(a[0]), a[1] as number | readonly number[], N(a[2])),
  chunk: (a) => o.chunk(T(a[0]), N(a[1]), N(a[2])),
  repeat: (a) => o.repeat(T(a[0]), a[1] as readonly number[]),
  index_select: (a) => o.indexSelect(T(a[0]), N(a[1]), T(a[2])),
  gather: (a) => o.gather(T(a[0]), N(a[1]), T(a[2])),
  embedding: (a) => o.embedding(T(a[0]), T(a[1])),
  masked_fill: (a) => o.maskedFill(T(a[0]), T(a[1]), a[2] as number | boolean | Tensor),
  tril: (a) => o.tril(T(a[0]), N(a[1])),
  triu: (a) => o.triu(T(a[0]), N(a[1])),
};
