/**
 * `-t/--threads N`: one thread count for every backend that has one, set through the backends' config modules
 * so no native library is loaded just to set it. The cpu and wasm kernels are single-threaded; ORT gets N
 * intra-op threads (configureOrt, which also drops sessions built with the old count); the NPU library gets N
 * host threads, at most its limit of 16 (configureNpu, then resetNpuRuntime so a context that was already open
 * is reopened with the new count on next use — a no-op when it was not). The PyTorch peer's thread count is the
 * caller's to pass on (bench model, bench op).
 */
import { configureOrt } from '../backends/ort/config.js';
import { configureNpu } from '../backends/npu/config.js';
import { resetNpuRuntime } from '../backends/npu/backend.js';
import { configureNative, NATIVE_MAX_THREADS } from '../backends/native/config.js';

/** The most threads -t accepts. */
export const MAX_THREADS = 256;
/** The NPU library's own limit on host threads (backends/npu/config.ts). */
export const NPU_MAX_THREADS = 16;

export interface ThreadSettings {
  readonly ort: number;
  readonly npu: number;
  readonly native: number;
}

export function setThreads(n: number): ThreadSettings {
  configureOrt({ threads: n });
  const npu = Math.min(n, NPU_MAX_THREADS);
  configureNpu({ threads: npu });
  resetNpuRuntime();
  // The native kernels (attention, norms, elementwise) split one call across threads; their calls alternate
  // with the GEMM backends' synchronous calls, so N here never runs beside N GEMM threads.
  const native = Math.min(n, NATIVE_MAX_THREADS);
  configureNative({ threads: native });
  return { ort: n, npu, native };
}
