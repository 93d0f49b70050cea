/**
 * Registers the NPU backend, lazily: koffi and the library are loaded by the probe on first need, never at
 * import. The kernels are registered up front and run only once the probe succeeded.
 */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { Linear, MatMul } from '../../ops/linalg.js';
import { LinearW4, LinearW8A8 } from '../../ops/quant.js';
import { npuBackend } from './backend.js';
import { npuLinearKernel, npuLinearW4Kernel, npuLinearW8A8Kernel, npuMatmulKernel } from './kernels.js';

export function registerNpu(): void {
  registerBackend(npuBackend, { lazy: true });
  registerKernel(MatMul, npuBackend.name, npuMatmulKernel);
  registerKernel(Linear, npuBackend.name, npuLinearKernel);
  registerKernel(LinearW8A8, npuBackend.name, npuLinearW8A8Kernel);
  registerKernel(LinearW4, npuBackend.name, npuLinearW4Kernel);
}
