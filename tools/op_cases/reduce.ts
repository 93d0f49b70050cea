/** Reduction cases: any dim, several dims, keepdim, non-contiguous inputs, ints, half types, stability. */
import { input, value, type OpCase } from './spec.js';
import { reduce2Cases } from './reduce2.js';

export const reduceCases: readonly OpCase[] = [
  { name: 'Sum/all', op: 'Sum', fn: 'sum', args: [input([4, 5, 6]), value(null), value(false)] },
  { name: 'Sum/dim1_keepdim', op: 'Sum', fn: 'sum', args: [input([4, 5, 6]), value(1), value(true)] },
  { name: 'Sum/dims_0_2', op: 'Sum', fn: 'sum', args: [input([4, 5, 6], { layout: 'transposed' }), value([0, 2]), value(false)] },
  { name: 'Sum/int32_to_int64', op: 'Sum', fn: 'sum', exact: true, args: [input([3, 7], { dtype: 'int32' }), value(-1), value(false)] },
  { name: 'Sum/float16', op: 'Sum', fn: 'sum', args: [input([8, 16], { dtype: 'float16' }), value(1), value(false)] },
  { name: 'Sum/large_4096x64', op: 'Sum', fn: 'sum', args: [input([4096, 64]), value(-1), value(false)], tags: ['bench'] },
  { name: 'Mean/dim0', op: 'Mean', fn: 'mean', args: [input([6, 5]), value(0), value(false)] },
  { name: 'Mean/last_keepdim_strided', op: 'Mean', fn: 'mean', args: [input([3, 8], { layout: 'strided' }), value(-1), value(true)] },
  { name: 'Max/all', op: 'Max', fn: 'max', exact: true, args: [input([5, 6]), value(null), value(false)] },
  { name: 'Max/dim1', op: 'Max', fn: 'max', exact: true, args: [input([5, 6]), value(1), value(false)] },
  { name: 'Max/dim0_keepdim_int', op: 'Max', fn: 'max', exact: true, args: [input([4, 3], { dtype: 'int32', gen: { kind: 'randint', low: -50, high: 50 } }), value(0), value(true)] },
  { name: 'ArgMax/all', op: 'ArgMax', fn: 'argmax', exact: true, args: [input([3, 7]), value(null), value(false)] },
  { name: 'ArgMax/dim0', op: 'ArgMax', fn: 'argmax', exact: true, args: [input([6, 4], { layout: 'transposed' }), value(0), value(false)] },
  ...reduce2Cases,
];
