/**
 * ORT backend settings, from `configureOrt()` or the environment:
 *   OPSHIFT_ORT_THREADS     intra-op threads (default 1: eager ops are small and the caller owns parallelism)
 *   OPSHIFT_ORT_PROVIDERS   execution providers in order, e.g. `dml,cpu` or `cuda,cpu` (default `cpu`)
 *   OPSHIFT_ORT_OPT_LEVEL   graph optimization: disabled | basic | extended | all (default all)
 *   OPSHIFT_ORT_CACHE       max cached sessions (default 256); the least recently used is disposed
 *   OPSHIFT_ORT_ACCURACY    MatMulNBits accuracy_level: 0 (float32 compute, default) .. 4 (int8 activations, fastest)
 *   OPSHIFT_ORT_W8A8        w8a8 MatMulInteger path: auto (default) | u8s8 | u8u8 (see w8a8_path.ts)
 */
import { ArgumentError } from '../../core/errors.js';
import type { NativeSessionOptions } from './binding.js';
import { W8A8_SETTINGS, resolveW8A8Path, type W8A8Path, type W8A8Setting } from './w8a8_path.js';

export interface OrtConfig {
  readonly threads: number;
  readonly providers: readonly string[];
  readonly optimizationLevel: NonNullable<NativeSessionOptions['graphOptimizationLevel']>;
  readonly maxSessions: number;
  /** MatMulNBits accuracy_level (0: unset/float32, 1: fp32, 2: fp16, 3: bf16, 4: int8 activations). */
  readonly accuracyLevel: number;
  /**
   * LinearW8A8's MatMulInteger kernel: 'u8s8' (int8 weights; exact only with VNNI), 'u8u8' (weights baked as
   * uint8 w + 128; exact everywhere) or 'auto' (u8s8 where the CPU has VNNI, else u8u8).
   */
  readonly w8a8Path: W8A8Setting;
}

const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** The settings an environment asks for (OPSHIFT_ORT_*), validated. */
export function ortConfigFromEnv(env: NodeJS.ProcessEnv): OrtConfig {
  const threads = env.OPSHIFT_ORT_THREADS ? Number(env.OPSHIFT_ORT_THREADS) : 1;
  const level = (env.OPSHIFT_ORT_OPT_LEVEL ?? 'all') as OrtConfig['optimizationLevel'];
  return validate({
    threads,
    providers: (env.OPSHIFT_ORT_PROVIDERS ?? 'cpu').split(',').map((s) => s.trim()).filter(Boolean),
    optimizationLevel: level,
    maxSessions: env.OPSHIFT_ORT_CACHE ? Number(env.OPSHIFT_ORT_CACHE) : 256,
    // Measured (issue #17, README "Quantized decode"): level 4's int8 activations add ~0.65% relative error to the
    // exact w4 product while the w4 weights are ~10% from the float ones (error against the float linear 0.100 at
    // level 0, 0.100–0.102 at level 4), and decode GEMVs run 2.7–17x faster (1x2048x5632: 11.3 → 0.66 ms, one
    // loaded thread). So 4 keeps the quantization's tolerance and is the fast choice (OPSHIFT_ORT_ACCURACY=4). The
    // default stays 0 because other paths pin level 0's bits: the exported ONNX graph's MatMulNBits is checked
    // bit-exact against this backend, and LinearW4's float NaN/Inf propagation holds only at level 0.
    accuracyLevel: env.OPSHIFT_ORT_ACCURACY ? Number(env.OPSHIFT_ORT_ACCURACY) : 0,
    w8a8Path: (env.OPSHIFT_ORT_W8A8 || 'auto') as W8A8Setting,
  });
}

function validate(c: OrtConfig): OrtConfig {
  if (!Number.isInteger(c.threads) || c.threads < 0) throw new ArgumentError(`ort: threads must be a non-negative integer, got ${c.threads}`);
  if (!LEVELS.includes(c.optimizationLevel)) throw new ArgumentError(`ort: optimization level must be one of ${LEVELS.join(', ')}, got '${c.optimizationLevel}'`);
  if (!Number.isInteger(c.maxSessions) || c.maxSessions < 1) throw new ArgumentError(`ort: session cache size must be >= 1, got ${c.maxSessions}`);
  if (c.providers.length === 0) throw new ArgumentError('ort: at least one execution provider is needed');
  if (!Number.isInteger(c.accuracyLevel) || c.accuracyLevel < 0 || c.accuracyLevel > 4)
    throw new ArgumentError(`ort: accuracy level must be 0..4, got ${c.accuracyLevel}`);
  if (!W8A8_SETTINGS.includes(c.w8a8Path))
    throw new ArgumentError(`ort: w8a8 path (OPSHIFT_ORT_W8A8) must be one of ${W8A8_SETTINGS.join(', ')}, got '${String(c.w8a8Path)}'`);
  return c;
}

let current: OrtConfig | undefined;
const listeners: (() => void)[] = [];

export function ortConfig(): OrtConfig {
  current ??= ortConfigFromEnv(process.env);
  return current;
}

/** Change settings; sessions built with the old ones are disposed. */
export function configureOrt(patch: Partial<OrtConfig>): OrtConfig {
  current = validate({ ...ortConfig(), ...patch });
  for (const l of listeners) l();
  return current;
}

/** The MatMulInteger path LinearW8A8 uses under the current settings, and why. */
export function ortW8A8Path(): { path: W8A8Path; reason: string } {
  return resolveW8A8Path(ortConfig().w8a8Path);
}

export function onConfigChange(fn: () => void): void {
  listeners.push(fn);
}

export function sessionOptions(c: OrtConfig): NativeSessionOptions {
  return {
    intraOpNumThreads: c.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: c.optimizationLevel,
    executionProviders: c.providers,
    logSeverityLevel: 3,
    // Every cached single-op session owns its own intra-op pool. With spinning on (ORT's default), the idle
    // workers of ~100 sessions busy-wait after each call and starve the one that runs: OPT-125m at 2 threads
    // decoded at 0.68 tok/s against 16.1 at 1 thread. Without spinning the workers sleep between calls.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}
