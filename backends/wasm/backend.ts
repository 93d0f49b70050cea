/**
 * The `wasm` backend: float32 MatMul and Linear on WebAssembly SIMD kernels (f32x4) compiled from
 * backends/wasm/native/gemm.c by the build. Above cpu in priority, so GEMMs default to it; unavailable (with
 * the reason) when the module was not built, e.g. on a machine without clang.
 */
import type { Backend } from '../backend.js';
import { loadWasmGemm, type WasmGemm, type WasmLoadResult } from './loader.js';

let loaded: WasmLoadResult | undefined;

/** The module, loaded once on first use (the probe). */
export function wasmLoadResult(): WasmLoadResult {
  return (loaded ??= loadWasmGemm());
}

/** The loaded runtime; kernels only run when the probe said available, so this does not fail in practice. */
export function wasmRuntime(): WasmGemm {
  const r = wasmLoadResult();
  if (!r.ok) throw new Error(`wasm backend unavailable: ${r.reason}`);
  return r.gemm;
}

export const wasmBackend: Backend = {
  name: 'wasm',
  priority: 10,
  description: 'WebAssembly SIMD (f32x4) GEMM/GEMV kernels compiled from C; float32 MatMul and Linear',
  probe() {
    const r = wasmLoadResult();
    if (!r.ok) return { available: false, reason: r.reason };
    const compiler = typeof r.gemm.build.compiler === 'string' ? r.gemm.build.compiler : 'unknown compiler';
    return {
      available: true,
      version: `simd128 (${compiler})`,
      details: {
        wasm: r.gemm.path,
        bytes: String(r.gemm.bytes),
        kernels: 'gemm 4x8 packed-B, gemv rows/cols/packed',
        threads: '1 (main thread)',
      },
    };
  },
};
