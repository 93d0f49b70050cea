/**
 * The `native` backend: the non-GEMM ops (attention, softmax, norms, rope, activations, elementwise) as C
 * kernels with run-time ISA selection (AVX-512, AVX2+FMA, portable), called through koffi. Priority 5: above
 * cpu, so it is the default for every op it has a kernel for and whose call it supports (float32, the layouts
 * models produce); below wasm (10), whose GEMMs it does not implement. Everything it refuses falls back to the
 * TypeScript kernels, which stay the reference. Unavailable, with the reason, when the library is missing.
 */
import { ArgumentError } from '../../core/errors.js';
import type { Backend } from '../backend.js';
import { nativeConfig, onNativeConfig, type NativeConfig } from './config.js';
import { loadNativeLibrary, nativeLibrarySource, NkIsa, type NativeLibrary } from './ffi.js';

type RuntimeResult = { readonly ok: true; readonly lib: NativeLibrary } | { readonly ok: false; readonly reason: string };

let runtime: RuntimeResult | undefined;

function apply(lib: NativeLibrary, c: NativeConfig): void {
  if (!lib.api.nk_isa_supported(NkIsa[c.isa]) && c.isa !== 'best')
    throw new ArgumentError(`native: isa '${c.isa}' is not available on this CPU (${supportedIsas(lib).join(', ')} are)`);
  lib.call('nk_set_isa', NkIsa[c.isa]);
  lib.call('nk_set_threads', c.threads);
}

function open(): RuntimeResult {
  const r = loadNativeLibrary();
  if (!r.ok) return r;
  try {
    apply(r.lib, nativeConfig());
  } catch (e) {
    return { ok: false, reason: `native kernel library ${r.lib.path} loaded, but ${(e as Error).message}` };
  }
  onNativeConfig((c) => apply(r.lib, c));
  return { ok: true, lib: r.lib };
}

/** The library with the current settings applied, opened once (the probe). */
export function nativeRuntimeResult(): RuntimeResult {
  return (runtime ??= open());
}

/** The library; kernels only run once the probe said available. */
export function nativeLib(): NativeLibrary {
  const r = nativeRuntimeResult();
  if (!r.ok) throw new Error(`native backend unavailable: ${r.reason}`);
  return r.lib;
}

/** The ISA variants this CPU (and this build) can run, best last. */
export function supportedIsas(lib: NativeLibrary): ('portable' | 'avx2' | 'avx512')[] {
  return (['portable', 'avx2', 'avx512'] as const).filter((i) => lib.api.nk_isa_supported(NkIsa[i]) === 1);
}

export const nativeBackend: Backend = {
  name: 'native',
  priority: 5,
  description: 'native C kernels for attention, softmax, norms, rope, activations and elementwise ops (AVX-512 / AVX2 / portable, chosen at run time)',
  probe() {
    const r = nativeRuntimeResult();
    if (!r.ok) return { available: false, reason: r.reason };
    return {
      available: true,
      version: `ABI ${r.lib.abiVersion}`,
      details: {
        library: r.lib.path,
        source: nativeLibrarySource(r.lib.path),
        isa: r.lib.api.nk_isa_name(),
        isas: supportedIsas(r.lib).join(','),
        threads: String(r.lib.api.nk_threads()),
      },
    };
  },
};
