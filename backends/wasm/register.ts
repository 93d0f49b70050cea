/**
 * Registers the wasm backend, lazily: the module is compiled by the probe on the first GEMM that reaches it,
 * never at import. The kernels are registered up front and run only once the probe succeeded.
 */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { Linear, MatMul } from '../../ops/linalg.js';
import { wasmBackend } from './backend.js';
import { wasmLinearKernel, wasmMatmulKernel } from './kernels.js';

export function registerWasm(): void {
  registerBackend(wasmBackend, { lazy: true });
  registerKernel(MatMul, wasmBackend.name, wasmMatmulKernel);
  registerKernel(Linear, wasmBackend.name, wasmLinearKernel);
}
