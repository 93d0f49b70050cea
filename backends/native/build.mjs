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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildReporter, findCompiler } from '../native_build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const nativeDir = join(here, 'native');
const SOURCES = ['nk_core.c', 'nk_portable.c', 'nk_avx2.c', 'nk_avx512.c'].map((f) => join(nativeDir, f));
const outDir = join(root, 'dist', 'backends', 'native');
const libName = process.platform === 'darwin' ? 'libopshift_native.dylib' : 'libopshift_native.so';
const output = join(outDir, libName);
const strict = process.argv.includes('--strict') || process.env.OPSHIFT_NATIVE_STRICT === '1';

export const FLAGS = ['-O3', '-fPIC', '-shared', '-std=gnu11', '-ffp-contract=off', '-fno-fast-math', '-fvisibility=hidden', '-Wall', '-Wextra', '-pthread'];

const newest = (files) => Math.max(...files.map((f) => statSync(f).mtimeMs));
if (process.argv.includes('--if-stale') && existsSync(output)) {
  const inputs = readdirSync(nativeDir).map((f) => join(nativeDir, f));
  if (statSync(output).mtimeMs >= newest(inputs)) process.exit(0);
}

const { writeStatus, fail } = buildReporter({ outDir, output, what: 'native CPU kernel library', backend: 'native', strict });

if (process.platform === 'win32') fail('building the native kernels on Windows is not scripted; build them with your C compiler and set OPSHIFT_NATIVE_LIB');
const found = findCompiler(process.env.OPSHIFT_CC ? [process.env.OPSHIFT_CC] : ['cc', 'gcc', 'clang']);
if (!found.cc) fail(`no C compiler found (${found.tried.join('; ')}); apt-get install gcc, or set OPSHIFT_CC`);

mkdirSync(outDir, { recursive: true });
const tmp = `${output}.tmp`;
const r = spawnSync(found.cc, [...FLAGS, ...SOURCES, '-o', tmp, '-lm'], { encoding: 'utf8' });
if (r.status !== 0) fail(`${found.cc} failed on ${SOURCES.map((s) => relative(root, s)).join(' ')}:\n${(r.stderr || r.error?.message || '').trim()}`);
renameSync(tmp, output);
writeStatus({ ok: true, compiler: found.version, flags: FLAGS.join(' '), sources: SOURCES.map((s) => relative(root, s)), library: relative(root, output) });
if (!process.argv.includes('--quiet')) console.log(`opshift: built ${relative(root, output)} (${found.version})`);
