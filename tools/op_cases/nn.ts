/** Neural-network composites: softmax (any dim, large magnitudes), … */
import { input, value, type OpCase } from './spec.js';

export const nnCases: readonly OpCase[] = [
  { name: 'Softmax/last', op: 'Softmax', fn: 'softmax', args: [input([4, 10]), value(-1)] },
  { name: 'Softmax/dim0', op: 'Softmax', fn: 'softmax', args: [input([5, 3, 4]), value(0)] },
  { name: 'Softmax/large_magnitude', op: 'Softmax', fn: 'softmax', args: [input([3, 16], { gen: { kind: 'rand', low: -1000, high: 1000 } }), value(1)] },
  { name: 'Softmax/float16', op: 'Softmax', fn: 'softmax', args: [input([4, 32], { dtype: 'float16', gen: { kind: 'rand', low: -8, high: 8 } }), value(-1)] },
  { name: 'Softmax/transposed', op: 'Softmax', fn: 'softmax', args: [input([6, 9], { layout: 'transposed' }), value(-1)] },
  { name: 'Softmax/large_4096x64', op: 'Softmax', fn: 'softmax', args: [input([4096, 64]), value(-1)], tags: ['bench'] },
];
