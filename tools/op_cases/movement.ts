/** Movement cases: cat and stack (views are Tensor methods, tested in views tests). */
import { list, value, type OpCase } from './spec.js';
import { indexingCases } from './indexing.js';

export const movementCases: readonly OpCase[] = [
  { name: 'Cat/dim1_mixed_layouts', op: 'Cat', fn: 'cat', exact: true, args: [list({ shape: [3, 2] }, { shape: [3, 4], layout: 'transposed' }, { shape: [3, 1] }), value(1)] },
  { name: 'Cat/promote_int_float', op: 'Cat', fn: 'cat', exact: true, args: [list({ shape: [2, 3], dtype: 'int32' }, { shape: [1, 3] }), value(0)] },
  { name: 'Cat/with_empty', op: 'Cat', fn: 'cat', exact: true, args: [list({ shape: [2, 3] }, { shape: [0, 3] }), value(0)] },
  { name: 'Stack/dim_last', op: 'Cat', fn: 'stack', exact: true, args: [list({ shape: [2, 3] }, { shape: [2, 3], layout: 'strided' }), value(-1)] },
  ...indexingCases,
];
