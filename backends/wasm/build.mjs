#!/usr/bin/env node
/**
 * Compiles backends/wasm/native/gemm.c to dist/backends/wasm/gemm.wasm (a build output, never committed) with
 * clang's wasm32 target and wasm-ld. Run by `npm run build` and the `prepare` script after tsc.
 *
 * Never fails the install: without a usable clang (or with a compile error) it prints a warning, writes the
 * reason to dist/backends/wasm/build-status.json and exits 0; the `wasm` backend then registers as
 * unavailable with that reason. `--strict` (or OPSHIFT_WASM_STRICT=1) makes a failed build exit 1 instead.
 *
 * Compiler: $OPSHIFT_CLANG, else clang, clang-19 … clang-14 on PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildReporter, findCompiler } from '../native_build.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const source = join(here, 'native', 'gemm.c');
const outDir = join(root, 'dist', 'backends', 'wasm');
const output = join(outDir, 'gemm.wasm');
const strict = process.argv.includes('--strict') || process.env.OPSHIFT_WASM_STRICT === '1';

const FLAGS = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-mbulk-memory',
  '-nostdlib',
  '-ffreestanding',
  '-fno-builtin-malloc',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-Wl,--no-entry',
  '-Wl,--export=__heap_base',
  '-Wl,--strip-all',
  // Room for the C stack; TypeScript manages everything above __heap_base and grows memory on demand.
  '-Wl,-z,stack-size=65536',
  '-Wl,--initial-memory=1048576',
];

const { writeStatus, fail } = buildReporter({ outDir, output, what: 'wasm kernels', backend: 'wasm', strict });

/** Usable only if it can link a wasm32 module (the target needs LLVM's WebAssembly backend and wasm-ld). */
function linksWasm32(cc) {
  const probe = spawnSync(cc, ['--target=wasm32', '-nostdlib', '-Wl,--no-entry', '-x', 'c', '-', '-o', '/dev/null'], {
    input: 'int f(void){return 0;}\n',
    encoding: 'utf8',
  });
  if (probe.status === 0) return undefined;
  return `cannot link wasm32 (${(probe.stderr || '').trim().split('\n').pop() || `exit ${probe.status}`})`;
}

const clangs = process.env.OPSHIFT_CLANG ? [process.env.OPSHIFT_CLANG] : ['clang', 'clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14'];
const found = findCompiler(clangs, linksWasm32);
if (!found.cc) fail(`clang with a wasm32 target not found (${found.tried.join('; ')}); apt-get install clang lld`);

const tmp = `${output}.tmp`;
mkdirSync(outDir, { recursive: true });
const r = spawnSync(found.cc, [...FLAGS, source, '-o', tmp], { encoding: 'utf8' });
if (r.status !== 0) fail(`${found.cc} failed on ${relative(root, source)}:\n${(r.stderr || r.error?.message || '').trim()}`);

// A module that imports anything (a libc call clang emitted) could not be instantiated: catch it here.
const bytes = readFileSync(tmp);
let imports;
try {
  imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
} catch (e) {
  fail(`the compiled module does not load in this Node (${e.message}); WebAssembly SIMD needs Node >= 16.4`);
}
if (imports.length) fail(`the compiled module imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; it must be self-contained`);
renameSync(tmp, output);
writeStatus({ ok: true, compiler: found.version, flags: FLAGS.join(' '), bytes: bytes.length, source: relative(root, source) });
if (!process.argv.includes('--quiet')) console.log(`opshift: built ${relative(root, output)} (${bytes.length} bytes, ${found.version})`);
if (!existsSync(output)) process.exit(strict ? 1 : 0);
