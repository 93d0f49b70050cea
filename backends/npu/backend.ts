/**
 * The `npu` backend: GEMMs through koffi into a library implementing backends/npu/native/opshift_npu.h — the
 * shipped emulation library (the NPU's arithmetic on the CPU, bit for bit) or a hardware library chosen with
 * OPSHIFT_NPU_LIB. Unavailable, with the reason, when the library is missing, does not load, or implements
 * another ABI version.
 */
import type { Backend } from '../backend.js';
import { npuConfig } from './config.js';
import { loadNpuLibrary, npuLibrarySource, NpuContext, type NpuLibrary } from './ffi.js';

export interface NpuRuntime {
  readonly lib: NpuLibrary;
  readonly ctx: NpuContext;
}

type RuntimeResult = { readonly ok: true; readonly rt: NpuRuntime } | { readonly ok: false; readonly reason: string };

let runtime: RuntimeResult | undefined;

function open(): RuntimeResult {
  const r = loadNpuLibrary();
  if (!r.ok) return r;
  const c = npuConfig();
  try {
    const ctx = new NpuContext(r.lib, { device: c.device, artifactDir: c.artifactDir, threads: c.threads });
    return { ok: true, rt: { lib: r.lib, ctx } };
  } catch (e) {
    return { ok: false, reason: `NPU library ${r.lib.path} loaded, but ${(e as Error).message}` };
  }
}

/** The library and the backend's context, opened once (the probe). */
export function npuRuntimeResult(): RuntimeResult {
  return (runtime ??= open());
}

/** The runtime; kernels only run when the probe said available. */
export function npuRuntime(): NpuRuntime {
  const r = npuRuntimeResult();
  if (!r.ok) throw new Error(`npu backend unavailable: ${r.reason}`);
  return r.rt;
}

const listeners: (() => void)[] = [];

/** Kernels register here to drop prepared weights when the context goes away. */
export function onNpuReset(fn: () => void): void {
  listeners.push(fn);
}

/**
 * Disposes the backend's context (and with it every prepared weight) and opens a new one with the current
 * configureNpu() settings. The backend's availability stays what the probe found at registration.
 */
export function resetNpuRuntime(): void {
  for (const l of listeners) l();
  if (runtime?.ok) runtime.rt.ctx.dispose();
  runtime = undefined;
}

function parseDescription(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(/\s+/)) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export const npuBackend: Backend = {
  name: 'npu',
  // Below cpu and ort: the NPU is opt-in per op, as in Ryzen AI's eager mode, where only the linears that were
  // swapped for NPU modules go there: `withBackend('npu', ...)`, `withPolicy({ Linear: ['npu', 'cpu'] })`, or
  // OPSHIFT_BACKENDS. A GEMM it refuses (shape, dtype, size) falls back with the reason as the cause.
  priority: -20,
  description: 'NPU GEMMs through koffi into a C library with the Ryzen AI numerics (emulation built in; OPSHIFT_NPU_LIB for hardware)',
  probe() {
    const r = npuRuntimeResult();
    if (!r.ok) return { available: false, reason: r.reason };
    const { lib, ctx } = r.rt;
    const d = parseDescription(ctx.description);
    return {
      available: true,
      version: `ABI ${lib.abiVersion}: ${lib.implName}`,
      details: {
        library: lib.path,
        // built: compiled on this machine (npm ci / npm run build / the package's install script); prebuilt: the
        // linux-x64 library shipped in the package, used when no C compiler was found at install.
        source: npuLibrarySource(lib.path),
        abi: String(lib.abiVersion),
        device: d.device ?? 'unknown',
        ...(d.design ? { design: d.design } : {}),
        flags: d.flags ?? '0',
        ...(d.isa ? { isa: d.isa } : {}),
        ...(d.threads ? { threads: d.threads } : {}),
        minN: String(npuConfig().minN),
      },
    };
  },
};
