/** The CPU backend: TypeScript kernels over typed arrays; always available; the reference for every other backend. */
import type { Backend } from '../backend.js';

export const cpuBackend: Backend = {
  name: 'cpu',
  priority: 0,
  description: 'TypeScript kernels over typed arrays (reference implementation)',
  probe: () => ({
    available: true,
    version: `node ${process.version}`,
    details: { threads: '1 (main thread)', arch: `${process.arch}` },
  }),
};
