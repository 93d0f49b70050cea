/**
 * What a backend is: a named kernel provider with an availability probe and a priority. Backends hold no
 * tensor storage (all data is host memory); they register kernels per op with `registerKernel`.
 */
export type { Backend, BackendStatus, BackendInfo } from '../core/registry.js';
