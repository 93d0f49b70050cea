/** mm, bmm and einsum cases: einsum's forms (explicit/implicit output, '...', diagonals, sums, broadcasting, several operands). */
import { input, list, value, type InputSpec, type OpCase } from './spec.js';

const t = (shape: number[], opts: Omit<InputSpec, 'shape'> = {}): InputSpec => ({ shape, ...opts });
const ein = (name: string, eq: string, ...ops: InputSpec[]): OpCase => ({ name: `Einsum/${name}`, op: 'Einsum', fn: 'einsum', args: [value(eq), list(...ops)] });

export const linalgMoreCases: readonly OpCase[] = [
  { name: 'Mm/odd', op: 'Mm', fn: 'mm', args: [input([5, 7]), input([7, 3])] },
  { name: 'Mm/transposed_b', op: 'Mm', fn: 'mm', args: [input([4, 6]), input([6, 5], { layout: 'transposed' })] },
  { name: 'Mm/int64', op: 'Mm', fn: 'mm', exact: true, args: [input([3, 4], { dtype: 'int64' }), input([4, 2], { dtype: 'int64' })] },
  { name: 'Mm/empty', op: 'Mm', fn: 'mm', args: [input([0, 3]), input([3, 4])] },
  { name: 'Bmm/plain', op: 'Bmm', fn: 'bmm', args: [input([3, 4, 5]), input([3, 5, 2])] },
  { name: 'Bmm/strided_bfloat16', op: 'Bmm', fn: 'bmm', args: [input([2, 3, 8], { dtype: 'bfloat16', layout: 'strided' }), input([2, 8, 4], { dtype: 'bfloat16' })] },
  ein('matmul', 'ij,jk->ik', t([4, 6]), t([6, 3])),
  ein('implicit_output', 'ij,jk', t([3, 5]), t([5, 2])),
  ein('implicit_alphabetical', 'ba', t([3, 4])),
  ein('batched_attention', 'bhqd,bhkd->bhqk', t([2, 3, 4, 8]), t([2, 3, 5, 8])),
  ein('ellipsis_broadcast', '...ij,...jk->...ik', t([2, 1, 3, 4]), t([5, 4, 2])),
  ein('ellipsis_implicit', '...ij', t([2, 3, 4])),
  ein('trace', 'ii', t([4, 4])),
  ein('diagonal', 'ii->i', t([5, 5], { layout: 'transposed' })),
  ein('sum_unused', 'ijk->j', t([3, 4, 2])),
  ein('outer', 'i,j->ij', t([4]), t([3])),
  ein('dot', 'i,i->', t([7]), t([7])),
  ein('three_operands', 'ij,jk,kl->il', t([3, 4]), t([4, 5]), t([5, 2])),
  ein('bilinear', 'bn,anm,bm->ba', t([2, 3]), t([4, 3, 5]), t([2, 5])),
  ein('size1_broadcast', 'ij,ij->ij', t([3, 1]), t([3, 4])),
  ein('permute_only', 'ijk->kij', t([2, 3, 4], { layout: 'strided' })),
  ein('spaces_uppercase', 'Ab , bC -> AC', t([2, 3]), t([3, 4])),
  ein('int32', 'ij,jk->ik', t([3, 4], { dtype: 'int32' }), t([4, 2], { dtype: 'int32' })),
  ein('empty_contraction', 'ij,jk->ik', t([3, 0]), t([0, 2])),
];
