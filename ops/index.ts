/** Public op functions and OpDefs. */
export * from './elementwise.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './movement.js';
export * from './nn.js';
export * from './creation.js';
