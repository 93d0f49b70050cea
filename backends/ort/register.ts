/**
 * Registers the ORT backend, lazily: onnxruntime-node is loaded by the probe on first need, never at import.
 * The kernels are registered up front (building them loads nothing) and run only once the probe succeeded.
 */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { ortBackend } from './backend.js';
import { ortKernels } from './kernels.js';

export function registerOrt(): void {
  registerBackend(ortBackend, { lazy: true });
  for (const [op, kernel] of ortKernels()) registerKernel(op, ortBackend.name, kernel);
}
