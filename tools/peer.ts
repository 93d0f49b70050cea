/** Running peers (PyTorch) measured in the same benchmark run, failing soft with the reason when absent. */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's python3-torch installs for /usr/bin/python3; a pyenv or venv python on PATH usually lacks torch. */
export function pythonWithTorch(): string | undefined {
  const candidates = [process.env.OPSHIFT_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  for (const py of candidates) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return undefined;
}

/** Where the peer scripts live, from both the TypeScript sources and the compiled dist/ tree. */
export function peerScript(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, 'peers'), join(here, '..', '..', 'tools', 'peers')]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`peer script ${name} not found next to ${here}`);
}

export type PeerResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * The BLAS behind Debian's PyTorch: its libblas.so.3 is whatever the alternatives system points at (the
 * reference BLAS, or OpenBLAS once libopenblas0 is installed: a 15x difference in GEMM speed), so benchmark
 * tables name it.
 */
export function peerBlas(): string {
  try {
    const target = realpathSync('/usr/lib/x86_64-linux-gnu/libblas.so.3');
    return target.includes('openblas') ? 'OpenBLAS' : target.includes('blis') ? 'BLIS' : target.includes('mkl') ? 'MKL' : 'reference BLAS';
  } catch {
    return 'unknown BLAS';
  }
}

/**
 * Run a Python peer script that prints one JSON object. A `threads` field in the JSON request also sizes the
 * BLAS thread pools (OpenBLAS ignores torch.set_num_threads), unless the caller's environment sets them.
 */
export function runPythonPeer<T>(script: string, args: string[] = [], stdin?: string): PeerResult<T> {
  const py = pythonWithTorch();
  if (!py) return { ok: false, reason: 'PyTorch not found (apt-get install python3-torch, or set OPSHIFT_PYTHON)' };
  let threads = '1';
  try {
    const t = stdin ? (JSON.parse(stdin) as { threads?: unknown }).threads : undefined;
    if (typeof t === 'number') threads = String(t);
  } catch {
    // not JSON: keep one thread
  }
  const env = { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? threads, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? threads };
  const r = spawnSync(py, [peerScript(script), ...args], { encoding: 'utf8', timeout: 600_000, input: stdin, maxBuffer: 64 << 20, env });
  if (r.status !== 0) return { ok: false, reason: `${script} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  try {
    return { ok: true, value: JSON.parse(r.stdout) as T };
  } catch {
    return { ok: false, reason: `${script} printed no JSON` };
  }
}
