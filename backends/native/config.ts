/**
 * Native kernel backend settings, from `configureNative()` or the environment:
 *   OPSHIFT_NATIVE_LIB      the library (default: the one the build wrote to dist/backends/native/, else the
 *                           prebuilt linux-x64 one the package ships); read once, when the backend is probed
 *   OPSHIFT_NATIVE_THREADS  threads per call (default 1: eager ops are small, and the -t/--threads setting of the
 *                           CLI sets this together with the ORT and NPU threads)
 *   OPSHIFT_NATIVE_ISA      best | portable | avx2 | avx512 (default best): force a kernel variant, for tests and
 *                           for measuring one against another
 * Settings apply at once when the library is loaded, else when it is.
 */
import { ArgumentError } from '../../core/errors.js';

export const NATIVE_ISAS = ['best', 'portable', 'avx2', 'avx512'] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];
/** The library's own limit on threads (nk_core.c NK_MAX_THREADS). */
export const NATIVE_MAX_THREADS = 16;

export interface NativeConfig {
  readonly threads: number;
  readonly isa: NativeIsa;
}

function validate(c: NativeConfig): NativeConfig {
  if (!Number.isInteger(c.threads) || c.threads < 1 || c.threads > NATIVE_MAX_THREADS)
    throw new ArgumentError(`native: threads must be an integer in 1..${NATIVE_MAX_THREADS}, got ${c.threads}`);
  if (!(NATIVE_ISAS as readonly string[]).includes(c.isa)) throw new ArgumentError(`native: isa must be one of ${NATIVE_ISAS.join(', ')}, got '${String(c.isa)}'`);
  return c;
}

function fromEnv(env: NodeJS.ProcessEnv): NativeConfig {
  return validate({
    threads: env.OPSHIFT_NATIVE_THREADS ? Number(env.OPSHIFT_NATIVE_THREADS) : 1,
    isa: (env.OPSHIFT_NATIVE_ISA || 'best') as NativeIsa,
  });
}

let current: NativeConfig | undefined;
const listeners: ((c: NativeConfig) => void)[] = [];

export function nativeConfig(): NativeConfig {
  current ??= fromEnv(process.env);
  return current;
}

/** Change settings; the loaded library (if any) is told at once. Throws ArgumentError for values out of range. */
export function configureNative(patch: Partial<NativeConfig>): NativeConfig {
  const next = validate({ ...nativeConfig(), ...patch });
  for (const l of listeners) l(next); // may throw (an ISA this CPU lacks): then nothing changes
  current = next;
  return current;
}

/** The backend applies settings to its library through this (registered only once the library is open). */
export function onNativeConfig(fn: (c: NativeConfig) => void): void {
  listeners.push(fn);
}
