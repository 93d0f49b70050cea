/**
 * What the native build scripts (backends/wasm/build.mjs, backends/npu/build.mjs) share: finding a compiler,
 * and reporting the outcome without ever failing an install. A build writes `build-status.json` next to its
 * output (`{ok: true, …}` or `{ok: false, reason}`), which the backend's loader turns into "unavailable: …";
 * a failed build warns and exits 0, unless `strict` (CI), when it exits 1.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
