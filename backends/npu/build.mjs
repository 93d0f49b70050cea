#!/usr/bin/env node
/**
 * Builds the NPU emulation library, backends/npu/native/*.c -> dist/backends/npu/libopshift_npu_emu.so (a build
 * output, never committed), with the system C compiler. Run by `npm run build` and the `prepare` script.
 *
 * Also the package's `install` script (`--if-stale`: nothing to do when the library is newer than its sources),
 * so users who install opshift from npm get a library built for their machine when they have a C compiler; the
 * package also ships a prebuilt linux-x64 library (prebuilds/, made by `npm pack`) that the loader falls back to.
 *
 * Never fails the install: without a C compiler (or with a compile error) it prints a warning, writes the reason
 * to dist/backends/npu/build-status.json and exits 0; the `npu` backend then registers as unavailable with that
 * reason. `--strict` (or OPSHIFT_NPU_STRICT=1) makes a failed build exit 1 instead.
 *
 * Compiler: $OPSHIFT_CC, else cc, gcc, clang on PATH. Flags: -O3 -fPIC -shared, -ffp-contract=off (the numerics
 * contract forbids contracting a*b+c into an FMA the source did not ask for), no -march=native: the AVX2 kernels
 * are compiled with a target pragma and chosen at run time, so the library runs on any x86-64 (and builds on
 * other architectures with the portable kernels only).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCLibrary } from '../native_build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const nativeDir = join(here, 'native');
buildCLibrary({
  root: join(here, '..', '..'),
  stem: 'opshift_npu_emu',
  dir: 'npu',
  sources: ['opshift_npu_emu.c', 'npu_kern_portable.c', 'npu_kern_avx2.c', 'npu_kern_avx512.c', 'npu_gemm_avx2.c', 'npu_gemm_avx512.c', 'npu_cache.c'].map((f) => join(nativeDir, f)),
  inputsDir: nativeDir,
  what: 'NPU emulation library',
  backend: 'npu',
  strictEnv: 'OPSHIFT_NPU_STRICT',
  libEnv: 'OPSHIFT_NPU_LIB',
});
