/**
 * opshift as users get it: `npm pack`, install the tarball into an empty project (no .npmrc, no OPSHIFT_* or
 * npm_config_* variables from this repo), type-check every TypeScript/JavaScript block of the README strictly
 * (no skipLibCheck) against the installed package, and run each one with node. A block preceded by
 * `<!-- readme-snippet: typecheck-only (why) -->` is type-checked only (hub downloads); one preceded by
 * `<!-- readme-snippet: with-server … -->` runs while the installed package's `opshift serve -m demo:llama
 * --port 8000` is up, as its text says.
 *
 * Needs the npm registry (the scratch install fetches opshift's dependencies) and a built repo (dist/, which
 * `npm ci` makes). Takes about a minute.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };

export interface Snippet {
  readonly index: number;
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  /** Why the block is only type-checked, when it is. */
  readonly typecheckOnly?: string;
  /** The block talks to `opshift serve` on port 8000. */
  readonly withServer?: boolean;
}

/** The README's ```ts / ```js / ```typescript / ```javascript blocks, with their typecheck-only markers. */
export function readmeSnippets(readme: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const before = lines[start - 1] ?? '';
    const marker = /^<!--\s*readme-snippet:\s*typecheck-only\s*(.*?)\s*-->$/.exec(before);
    const server = /^<!--\s*readme-snippet:\s*with-server\b.*-->$/.test(before);
    out.push({
      index: out.length,
      line: start + 1,
      lang: open[1]!,
      code: body.join('\n'),
      ...(marker ? { typecheckOnly: marker[1] || 'marked' } : {}),
      ...(server ? { withServer: true } : {}),
    });
  }
  return out;
}

/** This process's environment without what the repo sets for itself: a user's shell has none of it. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NPM_|OPSHIFT_|ONNXRUNTIME_|VITEST|NODE_OPTIONS$|INIT_CWD$)/.test(k)) continue;
    env[k] = v;
  }
  return env;
}

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs: number, env = userEnv()): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

function explain(what: string, r: SpawnSyncReturns<string>): string {
  return `${what}: exit ${r.status} signal ${r.signal}${r.error ? ` (${r.error.message})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** A snippet run without blocking the event loop (the server it talks to is a child of this process too). */
function runAsync(file: string): Promise<SpawnSyncReturns<string>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: project, env: userEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid ?? 0, output: [null, stdout, stderr], stdout, stderr, status, signal });
    });
  });
}

/** Runs `fn` while the installed CLI serves demo:llama on 127.0.0.1:8000 (the port the README's client uses). */
async function withServer<T>(fn: () => Promise<T>): Promise<T> {
  const server: ChildProcess = spawn(process.execPath, [join(project, 'node_modules', 'opshift', 'dist', 'tools', 'cli.js'), 'serve', '-m', 'demo:llama', '--port', '8000'], {
    cwd: project,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await fetch('http://127.0.0.1:8000/health').then((r) => r.ok, () => false);
      if (up) break;
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`opshift serve did not come up (exit ${server.exitCode}):\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return await fn();
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once('exit', r)));
  }
}

const snippets = readmeSnippets(readFileSync(join(root, 'README.md'), 'utf8'));
let work = '';
let project = '';
let tarball = '';

describe('the packed package in a fresh project', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'opshift-pack-'));
    const prepack = run(process.execPath, [join(root, 'tools', 'prepack.mjs')], root, 60_000, process.env);
    if (prepack.status !== 0) throw new Error(explain('prepack', prepack));
    // --ignore-scripts: dist/ is already built (npm ci ran prepare); prepack above made the prebuilt library.
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root, 120_000, process.env);
    if (packed.status !== 0) throw new Error(explain('npm pack', packed));
    const info = JSON.parse(packed.stdout) as { filename: string }[];
    tarball = join(work, info[0]!.filename);

    project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'opshift-user', private: true, type: 'module' }, null, 2));
    const dev = pkg.devDependencies;
    const install = run(
      'npm',
      ['install', '--no-audit', '--no-fund', tarball, `typescript@${dev.typescript}`, `@types/node@${dev['@types/node']}`, `openai@${dev.openai}`],
      project,
      240_000,
    );
    if (install.status !== 0) throw new Error(explain('npm install <tarball>', install));
  }, 420_000);

  afterAll(() => {
    if (work && !process.env.OPSHIFT_KEEP_PACK) rmSync(work, { recursive: true, force: true });
  });

  it('ships no tests, no packer-built library in dist/, and a LICENSE', () => {
    const r = run('tar', ['tzf', tarball], work, 60_000);
    const files = r.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/backends/wasm/gemm.wasm'); // platform-independent: ships built
    expect(files.filter((f) => /(^|\/)test\//.test(f) || /\.test\.(ts|js)$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/backends/npu/') && /\.(so|dylib|dll)$/.test(f))).toEqual([]);
    if (process.platform === 'linux' && process.arch === 'x64') expect(files).toContain('prebuilds/linux-x64/libopshift_npu_emu.so');
    // the native CPU kernels likewise: built at install, a prebuilt linux-x64 copy as the fallback
    expect(files.filter((f) => f.startsWith('dist/backends/native/') && /\.(so|dylib|dll)$/.test(f))).toEqual([]);
    if (process.platform === 'linux' && process.arch === 'x64') expect(files).toContain('prebuilds/linux-x64/libopshift_native.so');
  });

  it('imports every entry point without loading native code; ort is an optional peer, npu built at install', () => {
    const script = `
      import { createRequire } from 'node:module';
      const t0 = performance.now();
      const core = await import('opshift');
      const ms = performance.now() - t0;
      for (const sub of ['nn', 'models', 'tokenizers', 'io', 'quantize', 'tools']) await import('opshift/' + sub);
      const require = createRequire(import.meta.url);
      const native = Object.keys(require.cache).filter((k) => /koffi|onnxruntime|onnx-proto|resvg/.test(k));
      const backends = Object.fromEntries(core.listBackends().map((b) => [b.name, b.status]));
      console.log(JSON.stringify({ ms, native, backends }));`;
    const r = run(process.execPath, ['--input-type=module', '-e', script], project, 60_000);
    expect(r.status, explain('import', r)).toBe(0);
    const out = JSON.parse(r.stdout) as { ms: number; native: string[]; backends: Record<string, { available: boolean; reason?: string; details?: Record<string, string> }> };
    expect(out.native).toEqual([]);
    expect(out.backends.cpu!.available).toBe(true);
    expect(out.backends.wasm!.available).toBe(true);
    expect(out.backends.ort).toEqual({ available: false, reason: expect.stringContaining('install onnxruntime-node') });
    expect(out.backends.npu!.available).toBe(true);
    expect(out.backends.npu!.details!.source).toBe('built');
    expect(out.backends.native!.available).toBe(true);
    expect(out.backends.native!.details!.source).toBe('built');
    console.log(`import 'opshift' in the scratch project: ${out.ms.toFixed(0)} ms`);
  });

  it('require() works too (Node >= 20.19 loads ES modules synchronously)', () => {
    const r = run(process.execPath, ['-e', "const o = require('opshift'); const m = require('opshift/models'); console.log(typeof o.randn, typeof m.loadModel)"], project, 60_000);
    expect(r.status, explain('require', r)).toBe(0);
    expect(r.stdout.trim()).toBe('function function');
  });

  it('falls back to the prebuilt NPU library when the install found no compiler', () => {
    const built = join(project, 'node_modules', 'opshift', 'dist', 'backends', 'npu', 'libopshift_npu_emu.so');
    if (!(process.platform === 'linux' && process.arch === 'x64')) return;
    // What an install without a C compiler leaves: no built library (the build wrote only its status).
    const rebuild = run(process.execPath, ['backends/npu/build.mjs'], join(project, 'node_modules', 'opshift'), 60_000, { ...userEnv(), OPSHIFT_CC: 'no-such-compiler' });
    expect(rebuild.status, explain('build without a compiler', rebuild)).toBe(0);
    expect(existsSync(built)).toBe(false);
    const r = run(process.execPath, ['--input-type=module', '-e', "import { backendStatus } from 'opshift'; console.log(JSON.stringify(backendStatus('npu')))"], project, 60_000);
    const status = JSON.parse(r.stdout) as { available: boolean; details?: Record<string, string> };
    expect(status.available, explain('npu status', r)).toBe(true);
    expect(status.details!.source).toBe('prebuilt');
  });

  it(`type-checks every README snippet strictly (${snippets.length} blocks) and runs the runnable ones`, async () => {
    expect(snippets.length).toBeGreaterThan(5);
    const dir = join(project, 'snippets');
    mkdirSync(dir, { recursive: true });
    for (const s of snippets) {
      const ext = s.lang.startsWith('t') ? 'ts' : 'js';
      // `export {}` makes every block a module of its own (blocks reuse names like `model`).
      writeFileSync(join(dir, `readme_${String(s.index).padStart(2, '0')}_line${s.line}.${ext}`), `${s.code}\nexport {};\n`);
    }
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, allowJs: true, checkJs: true, types: ['node'], outDir: 'out', rootDir: 'snippets' },
        include: ['snippets'],
      }),
    );
    const tsc = run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project, 180_000);
    expect(tsc.status, explain('tsc --strict on the README snippets', tsc)).toBe(0);

    const failures: string[] = [];
    for (const file of readdirSync(join(project, 'out')).sort()) {
      const s = snippets[Number(/^readme_(\d+)/.exec(file)![1])]!;
      if (s.typecheckOnly) continue;
      const r = s.withServer ? await withServer(() => runAsync(join(project, 'out', file))) : run(process.execPath, [join(project, 'out', file)], project, 180_000);
      if (r.status !== 0) failures.push(explain(`README block at line ${s.line}`, r));
    }
    expect(failures.join('\n\n')).toBe('');
  }, 900_000);
});
