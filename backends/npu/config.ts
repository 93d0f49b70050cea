/**
 * NPU backend settings, from `configureNpu()` or the environment:
 *   OPSHIFT_NPU_LIB        the library implementing backends/npu/native/opshift_npu.h (default: the emulation
 *                          library the build wrote to dist/backends/npu/); read once, when the backend registers
 *   OPSHIFT_NPU_DEVICE     device name passed to npu_ctx_create: auto | phx | stx | emu (default auto)
 *   OPSHIFT_NPU_ARTIFACTS  artifact directory (xclbins, instruction streams) for hardware libraries
 *   OPSHIFT_NPU_THREADS    host threads of the emulation library (default: the library's, 2 where 2 cores exist)
 *   OPSHIFT_NPU_MIN_N      GEMMs with fewer output columns stay on other backends (default 8)
 *   OPSHIFT_NPU_W4_ACT     LinearW4 activations: bf16 (default: the NPU's w4abf16 arithmetic) or int8 (the library's
 *                          w4a8 entry: per-group int8 activations and integer dot products, ~3x the decode GEMV
 *                          throughput; a row with NaN/Inf gives NaN outputs instead of float propagation)
 *   OPSHIFT_CACHE          directory of prepared weights (prepared_cache.ts): a weight with a checkpoint or seeded
 *                          source is mapped from there instead of being restored and packed; unset = no cache
 *                          (bounds: OPSHIFT_CACHE_MAX_MB, default 16384; OPSHIFT_CACHE_MIN_FREE_MB, default 2048)
 *
 * OPSHIFT_NPU_MIN_N: a launch on real NPU hardware costs tens of microseconds (instruction stream, buffer syncs),
 * so small GEMMs lose there; llama.cpp's Ryzen AI backend only offloads N >= 4096. The default (8) is low so that
 * the emulation, which has no launch cost, takes every GEMM the tests throw at it; set 4096 for hardware.
 */
import { ArgumentError } from '../../core/errors.js';

export interface NpuConfig {
  readonly device: string;
  readonly artifactDir: string | undefined;
  /** 0: the library's default. */
  readonly threads: number;
  readonly minN: number;
  /** LinearW4 activations: 'bf16' (w4abf16) or 'int8' (w4a8). */
  readonly w4Activations: 'bf16' | 'int8';
  /** Prepared-weight cache directory (OPSHIFT_CACHE; undefined = none). */
  readonly cacheDir: string | undefined;
}

function fromEnv(env: NodeJS.ProcessEnv): NpuConfig {
  return validate({
    device: env.OPSHIFT_NPU_DEVICE ?? 'auto',
    artifactDir: env.OPSHIFT_NPU_ARTIFACTS || undefined,
    threads: env.OPSHIFT_NPU_THREADS ? Number(env.OPSHIFT_NPU_THREADS) : 0,
    minN: env.OPSHIFT_NPU_MIN_N ? Number(env.OPSHIFT_NPU_MIN_N) : 8,
    w4Activations: (env.OPSHIFT_NPU_W4_ACT || 'bf16') as NpuConfig['w4Activations'],
    cacheDir: env.OPSHIFT_CACHE || undefined,
  });
}

function validate(c: NpuConfig): NpuConfig {
  if (!Number.isInteger(c.threads) || c.threads < 0 || c.threads > 16) throw new ArgumentError(`npu: threads must be an integer in 0..16, got ${c.threads}`);
  if (!Number.isInteger(c.minN) || c.minN < 1) throw new ArgumentError(`npu: minimum N must be a positive integer, got ${c.minN}`);
  if (c.w4Activations !== 'bf16' && c.w4Activations !== 'int8')
    throw new ArgumentError(`npu: w4 activations must be 'bf16' or 'int8' (OPSHIFT_NPU_W4_ACT), got '${String(c.w4Activations)}'`);
  if (c.cacheDir !== undefined && typeof c.cacheDir !== 'string') throw new ArgumentError(`npu: cacheDir must be a directory path or undefined, got ${typeof c.cacheDir}`);
  return c;
}

let current: NpuConfig | undefined;

export function npuConfig(): NpuConfig {
  current ??= fromEnv(process.env);
  return current;
}

/**
 * Change settings. `minN` applies to the next dispatch; `device`, `artifactDir` and `threads` apply when the
 * backend's context is next created (`resetNpuRuntime()` in backend.ts), which also drops prepared weights.
 */
export function configureNpu(patch: Partial<NpuConfig>): NpuConfig {
  current = validate({ ...npuConfig(), ...patch });
  return current;
}
