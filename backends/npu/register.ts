/** Registers the NPU backend and, when its library loaded, its kernels. */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { Linear, MatMul } from '../../ops/linalg.js';
import { LinearW4, LinearW8A8 } from '../../ops/quant.js';
import { npuBackend } from './backend.js';
import { npuLinearKernel, npuLinearW4Kernel, npuLinearW8A8Kernel, npuMatmulKernel } from './kernels.js';

export function registerNpu(): void {
  const status = registerBackend(npuBackend);
  if (!status.available) return;
  registerKernel(MatMul, npuBackend.name, npuMatmulKernel);
  registerKernel(Linear, npuBackend.name, npuLinearKernel);
  registerKernel(LinearW8A8, npuBackend.name, npuLinearW8A8Kernel);
  registerKernel(LinearW4, npuBackend.name, npuLinearW4Kernel);
}
