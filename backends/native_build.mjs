/**
 * What the native build scripts (backends/wasm/build.mjs, backends/npu/build.mjs) share: finding a compiler,
 * and reporting the outcome without ever failing an install. A build writes `build-status.json` next to its
 * output (`{ok: true, …}` or `{ok: false, reason}`), which the backend's loader turns into "unavailable: …";
 * a failed build warns and exits 0, unless `strict` (CI), when it exits 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * The first of `names` that runs `--version` and that `accept(cc, version)` accepts (it returns undefined, or
 * why the compiler cannot be used). Returns `{cc, version}`, or `{tried}`: one line per name and why not.
 */
export function findCompiler(names, accept = () => undefined) {
  const tried = [];
  for (const cc of names) {
    const v = spawnSync(cc, ['--version'], { encoding: 'utf8' });
    if (v.error || v.status !== 0) {
      tried.push(`${cc}: not found`);
      continue;
    }
    const version = v.stdout.split('\n')[0].trim();
    const why = accept(cc, version);
    if (why === undefined) return { cc, version };
    tried.push(`${cc} (${version}): ${why}`);
  }
  return { tried };
}

/**
 * Status reporting for one build output. `what` names it in messages ("wasm kernels"), `backend` is the
 * backend that goes unavailable when it is missing.
 */
export function buildReporter({ outDir, output, what, backend, strict }) {
  const statusFile = join(outDir, 'build-status.json');
  const writeStatus = (status) => {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(statusFile, JSON.stringify(status, null, 2) + '\n');
  };
  const fail = (reason) => {
    rmSync(output, { force: true });
    writeStatus({ ok: false, reason });
    const msg = `opshift: ${what} not built: ${reason}`;
    if (strict) {
      console.error(msg);
      process.exit(1);
    }
    console.warn(`${msg}\nopshift: the '${backend}' backend will be unavailable; everything else works.`);
    process.exit(0);
  };
  return { writeStatus, fail };
}

/**
 * Flags of the koffi-bound C libraries (NPU emulation, native kernels): no -march=native (per-ISA files carry
 * target pragmas and the library picks one at run time, so one build runs on any x86-64), and
 * -ffp-contract=off so no a*b+c is fused into an FMA the source did not ask for (the exactness contracts).
 */
export const C_LIBRARY_FLAGS = ['-O3', '-fPIC', '-shared', '-std=gnu11', '-ffp-contract=off', '-fno-fast-math', '-fvisibility=hidden', '-Wall', '-Wextra', '-pthread'];

/**
 * Builds `sources` (paths under `root`) into dist/backends/<dir>/lib<stem>.so with the system C compiler
 * ($OPSHIFT_CC, else cc, gcc, clang). `--if-stale` in argv: nothing to do when the library is newer than every
 * file in `inputsDir`; `--strict` or `strictEnv=1`: a failed build exits 1 (CI), otherwise it warns, records the
 * reason for the loader and exits 0 (an install never fails); `--quiet`: no success line.
 */
export function buildCLibrary({ root, stem, dir, sources, inputsDir, what, backend, strictEnv, libEnv }) {
  const outDir = join(root, 'dist', 'backends', dir);
  const output = join(outDir, process.platform === 'darwin' ? `lib${stem}.dylib` : `lib${stem}.so`);
  const strict = process.argv.includes('--strict') || process.env[strictEnv] === '1';
  if (process.argv.includes('--if-stale') && existsSync(output)) {
    const newest = Math.max(...readdirSync(inputsDir).map((f) => statSync(join(inputsDir, f)).mtimeMs));
    if (statSync(output).mtimeMs >= newest) return;
  }
  const { writeStatus, fail } = buildReporter({ outDir, output, what, backend, strict });
  if (process.platform === 'win32') fail(`building the ${what} on Windows is not scripted; build it with your C compiler and set ${libEnv}`);
  const found = findCompiler(process.env.OPSHIFT_CC ? [process.env.OPSHIFT_CC] : ['cc', 'gcc', 'clang']);
  if (!found.cc) fail(`no C compiler found (${found.tried.join('; ')}); apt-get install gcc, or set OPSHIFT_CC`);
  mkdirSync(outDir, { recursive: true });
  const tmp = `${output}.tmp`;
  const r = spawnSync(found.cc, [...C_LIBRARY_FLAGS, ...sources, '-o', tmp, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${found.cc} failed on ${sources.map((s) => relative(root, s)).join(' ')}:\n${(r.stderr || r.error?.message || '').trim()}`);
  renameSync(tmp, output);
  writeStatus({ ok: true, compiler: found.version, flags: C_LIBRARY_FLAGS.join(' '), sources: sources.map((s) => relative(root, s)), library: relative(root, output) });
  if (!process.argv.includes('--quiet')) console.log(`opshift: built ${relative(root, output)} (${found.version})`);
}
