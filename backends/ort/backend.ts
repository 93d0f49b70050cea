/** The ORT backend: onnxruntime-node single-op sessions (MLAS GEMMs on CPU; DirectML or CUDA where present). */
import type { Backend } from '../backend.js';
import { loadOrt } from './binding.js';
import { ortConfig, ortW8A8Path } from './config.js';

export const ortBackend: Backend = {
  name: 'ort',
  // Below cpu by default: small eager ops pay ORT's ~25 µs per call; route ops to it with a policy
  // (e.g. GEMMs: `setPolicy({ Linear: ['ort', 'cpu'] })`) or OPSHIFT_BACKENDS.
  priority: -10,
  description: 'onnxruntime-node single-op sessions (MLAS kernels; providers from OPSHIFT_ORT_PROVIDERS)',
  probe() {
    const r = loadOrt();
    if (!r.ok) return { available: false, reason: r.reason };
    const c = ortConfig();
    return {
      available: true,
      version: `onnxruntime-node ${r.runtime.version}`,
      details: {
        providers: c.providers.join(','),
        bundled: r.runtime.providers.filter((p) => p.bundled).map((p) => p.name).join(','),
        threads: String(c.threads),
        opt: c.optimizationLevel,
        cache: String(c.maxSessions),
        w8a8: `${ortW8A8Path().path} (${ortW8A8Path().reason})`,
      },
    };
  },
};
