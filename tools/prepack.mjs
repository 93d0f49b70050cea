#!/usr/bin/env node
/**
 * Runs before `npm pack` / `npm publish` (the `prepack` script), after `prepare` built everything. The package
 * must carry what users cannot build:
 * - the wasm kernels (platform-independent, but building them needs clang's wasm32 target): required here;
 * - a prebuilt NPU emulation library for linux-x64, used where the user's install finds no C compiler (the
 *   library picks its ISA at run time and is never built with -march=native, so one build serves every x86-64;
 *   it needs glibc ≥ 2.34). Copied from this machine's build into prebuilds/linux-x64/.
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const need = (file, why) => {
  if (!existsSync(join(root, file))) {
    console.error(`opshift prepack: ${file} is missing: ${why}`);
    process.exit(1);
  }
};
need('dist/core/index.js', 'run npm run build first');
need('dist/backends/wasm/gemm.wasm', 'the wasm kernels ship built; install clang and lld (apt-get install clang lld) and run npm run build');
need('LICENSE', 'the package ships its license');

const lib = join(root, 'dist', 'backends', 'npu', 'libopshift_npu_emu.so');
if (process.platform === 'linux' && process.arch === 'x64') {
  need('dist/backends/npu/libopshift_npu_emu.so', 'the NPU emulation library ships prebuilt for linux-x64; install a C compiler and run npm run build');
  const dir = join(root, 'prebuilds', 'linux-x64');
  mkdirSync(dir, { recursive: true });
  copyFileSync(lib, join(dir, 'libopshift_npu_emu.so'));
  console.log(`opshift prepack: prebuilds/linux-x64/libopshift_npu_emu.so (${statSync(lib).size} bytes)`);
  // The native CPU kernels likewise (ISA chosen at run time, no -march=native); optional: without them the
  // TypeScript kernels run everything, so a missing library only warns.
  const nlib = join(root, 'dist', 'backends', 'native', 'libopshift_native.so');
  if (existsSync(nlib)) {
    copyFileSync(nlib, join(dir, 'libopshift_native.so'));
    console.log(`opshift prepack: prebuilds/linux-x64/libopshift_native.so (${statSync(nlib).size} bytes)`);
  } else console.warn('opshift prepack: dist/backends/native/libopshift_native.so is missing: the package ships no prebuilt native kernels');
} else {
  console.warn(`opshift prepack: not on linux-x64 (${process.platform}-${process.arch}): the package ships whatever prebuilds/ holds`);
}
