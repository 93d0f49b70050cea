/** Registers the ORT backend and, when it is available, its kernels. */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { ortBackend } from './backend.js';
import { ortKernels } from './kernels.js';

export function registerOrt(): void {
  const status = registerBackend(ortBackend);
  if (!status.available) return;
  for (const [op, kernel] of ortKernels()) registerKernel(op, ortBackend.name, kernel);
}
