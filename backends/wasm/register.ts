/** Registers the wasm backend and, when its module loaded, its kernels. */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { Linear, MatMul } from '../../ops/linalg.js';
import { wasmBackend } from './backend.js';
import { wasmLinearKernel, wasmMatmulKernel } from './kernels.js';

export function registerWasm(): void {
  const status = registerBackend(wasmBackend);
  if (!status.available) return;
  registerKernel(MatMul, wasmBackend.name, wasmMatmulKernel);
  registerKernel(Linear, wasmBackend.name, wasmLinearKernel);
}
