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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildReporter, findCompiler } from '../native_build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const nativeDir = join(here, 'native');
const SOURCES = ['opshift_npu_emu.c', 'npu_kern_portable.c', 'npu_kern_avx2.c', 'npu_kern_avx512.c'].map((f) => join(nativeDir, f));
const outDir = join(root, 'dist', 'backends', 'npu');
const libName = process.platform === 'darwin' ? 'libopshift_npu_emu.dylib' : 'libopshift_npu_emu.so';
const output = join(outDir, libName);
const strict = process.argv.includes('--strict') || process.env.OPSHIFT_NPU_STRICT === '1';

export const FLAGS = ['-O3', '-fPIC', '-shared', '-std=gnu11', '-ffp-contract=off', '-fno-fast-math', '-fvisibility=hidden', '-Wall', '-Wextra', '-pthread'];

const newest = (files) => Math.max(...files.map((f) => statSync(f).mtimeMs));
if (process.argv.includes('--if-stale') && existsSync(output)) {
  const inputs = [...SOURCES, join(nativeDir, 'opshift_npu.h'), join(nativeDir, 'npu_emu_internal.h')].filter((f) => existsSync(f));
  if (statSync(output).mtimeMs >= newest(inputs)) process.exit(0);
}

const { writeStatus, fail } = buildReporter({ outDir, output, what: 'NPU emulation library', backend: 'npu', strict });

if (process.platform === 'win32') fail('building the emulation library on Windows is not scripted; build it with your C compiler and set OPSHIFT_NPU_LIB');
const found = findCompiler(process.env.OPSHIFT_CC ? [process.env.OPSHIFT_CC] : ['cc', 'gcc', 'clang']);
if (!found.cc) fail(`no C compiler found (${found.tried.join('; ')}); apt-get install gcc, or set OPSHIFT_CC`);

mkdirSync(outDir, { recursive: true });
const tmp = `${output}.tmp`;
const r = spawnSync(found.cc, [...FLAGS, ...SOURCES, '-o', tmp, '-lm'], { encoding: 'utf8' });
if (r.status !== 0) fail(`${found.cc} failed on ${SOURCES.map((s) => relative(root, s)).join(' ')}:\n${(r.stderr || r.error?.message || '').trim()}`);
renameSync(tmp, output);
writeStatus({ ok: true, compiler: found.version, flags: FLAGS.join(' '), sources: SOURCES.map((s) => relative(root, s)), library: relative(root, output) });
if (!process.argv.includes('--quiet')) console.log(`opshift: built ${relative(root, output)} (${found.version})`);
if (!existsSync(output)) process.exit(strict ? 1 : 0);
