#!/usr/bin/env node
/**
 * Builds the native CPU kernel library, backends/native/native/*.c -> dist/backends/native/libopshift_native.so
 * (a build output, never committed), with the system C compiler. Run by `npm run build`, `prepare` and the
 * package's `install` script (`--if-stale`: nothing to do when the library is newer than its sources); the
 * package also ships a prebuilt linux-x64 library (prebuilds/, made by `npm pack`) that the loader falls back to.
 *
 * Never fails the install: without a C compiler (or with a compile error) it warns, writes the reason to
 * dist/backends/native/build-status.json and exits 0; the `native` backend then registers as unavailable with
 * that reason and the TypeScript kernels run everything. `--strict` (or OPSHIFT_NATIVE_STRICT=1, set in CI)
 * makes a failed build exit 1.
 *
 * No -march=native: nk_avx2.c and nk_avx512.c carry target pragmas and nk_core.c picks one at run time
 * (__builtin_cpu_supports), so one build runs on any x86-64. -ffp-contract=off keeps the exact kernels
 * (add/sub/mul/div, relu, rope) bit-exact with the TypeScript reference: no a*b+c is fused unless the source
 * asks for an FMA (the attention and norm reductions do, explicitly).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCLibrary } from '../native_build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const nativeDir = join(here, 'native');
buildCLibrary({
  root: join(here, '..', '..'),
  stem: 'opshift_native',
  dir: 'native',
  sources: ['nk_core.c', 'nk_portable.c', 'nk_avx2.c', 'nk_avx512.c'].map((f) => join(nativeDir, f)),
  inputsDir: nativeDir,
  what: 'native CPU kernel library',
  backend: 'native',
  strictEnv: 'OPSHIFT_NATIVE_STRICT',
  libEnv: 'OPSHIFT_NATIVE_LIB',
});
