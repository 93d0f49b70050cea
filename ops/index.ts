/** Public op functions and OpDefs. */
export * from './elementwise.js';
export * from './elementwise_more.js';
export * from './reduce.js';
export * from './reduce2.js';
export * from './reduce_more.js';
export * from './linalg.js';
export * from './movement.js';
export * from './indexing.js';
export * from './nn.js';
export * from './creation.js';
export * from './creation_more.js';
export * from './shape_args.js';
export * from './quant.js';
export * from './inplace.js';
