/**
 * What the koffi-bound C libraries (backends/npu: the NPU emulation library; backends/native: the non-GEMM CPU
 * kernels) share: where the library is (an env override, else the one built on this machine, else the
 * prebuilt one the package ships), why it is missing, loading koffi on first use (never at import), and
 * binding a declared C surface. Each library keeps its own surface, status codes and error class.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Koffi from 'koffi';

export interface LibrarySpec {
  /** File stem: `opshift_npu_emu` → libopshift_npu_emu.so / .dylib / opshift_npu_emu.dll. */
  readonly stem: string;
  /** Its folder under dist/backends/ (where its build script writes it). */
  readonly dir: string;
  /** The environment variable that points at another library with the same ABI. */
  readonly envVar: string;
  /** How messages name it ("NPU emulation library"). */
  readonly what: string;
}

/** Where a library came from, for `opshift backends`: the env variable's name, `built`, `prebuilt` or `path`. */
export type LibrarySource = string;

function fileName(spec: LibrarySpec): string {
  return process.platform === 'darwin' ? `lib${spec.stem}.dylib` : process.platform === 'win32' ? `${spec.stem}.dll` : `lib${spec.stem}.so`;
}

/** The library this installation built (npm ci / npm run build in the repo, the package's install script for users). */
function builtPath(spec: LibrarySpec): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Compiled: this module is dist/backends/native_library.js; from the sources (tests): backends/, next to dist/.
  const inDist = basename(resolve(here, '..')) === 'dist';
  return inDist ? join(here, spec.dir, fileName(spec)) : join(here, '..', 'dist', 'backends', spec.dir, fileName(spec));
}

/** The prebuilt library the package ships for this platform (prebuilds/<platform>-<arch>/, made by npm pack). */
function prebuiltPath(spec: LibrarySpec): string {
  return join(dirname(builtPath(spec)), '..', '..', '..', 'prebuilds', `${process.platform}-${process.arch}`, fileName(spec));
}

/** $envVar; else the library built on this machine; else the prebuilt one shipped for this platform, if any. */
export function defaultLibraryPath(spec: LibrarySpec): string {
  const override = process.env[spec.envVar];
  if (override) return resolve(override);
  const built = builtPath(spec);
  if (existsSync(built)) return built;
  const prebuilt = prebuiltPath(spec);
  return existsSync(prebuilt) ? prebuilt : built;
}

/** How `path` was chosen. */
export function librarySource(spec: LibrarySpec, path: string): LibrarySource {
  const override = process.env[spec.envVar];
  if (override && resolve(override) === resolve(path)) return spec.envVar;
  if (resolve(path) === resolve(builtPath(spec))) return 'built';
  if (resolve(path) === resolve(prebuiltPath(spec))) return 'prebuilt';
  return 'path';
}

/** The reason a build script recorded next to the library when it could not build it. */
function buildFailure(libPath: string): string | undefined {
  const f = join(dirname(libPath), 'build-status.json');
  if (!existsSync(f)) return undefined;
  try {
    const s = JSON.parse(readFileSync(f, 'utf8')) as { ok?: boolean; reason?: string };
    return s.ok === false && typeof s.reason === 'string' ? s.reason : undefined;
  } catch {
    return undefined;
  }
}

/** Why the library at `path` (which does not exist) is unavailable. */
export function missingLibraryReason(spec: LibrarySpec, path: string): string {
  const why = buildFailure(path);
  return why
    ? `${spec.what} not built: ${why}; no prebuilt library for ${process.platform}-${process.arch}`
    : `${spec.what} ${path} not found (run npm run build, which needs a C compiler, or set ${spec.envVar})`;
}

/** `load` memoised per absolute path: a library is opened and checked once per process, however often asked. */
export function oncePerPath<R>(load: (absolutePath: string) => R): (path: string) => R {
  const done = new Map<string, R>();
  return (path) => {
    const abs = resolve(path);
    let r = done.get(abs);
    if (r === undefined) done.set(abs, (r = load(abs)));
    return r;
  };
}

let koffiModule: typeof Koffi | undefined;

/** koffi, loaded on first use (a backend's probe), never at import: importing opshift loads no native code. */
export function koffi(): typeof Koffi {
  return (koffiModule ??= createRequire(import.meta.url)('koffi') as typeof Koffi);
}

/** One entry of a C surface: its prototype for koffi and, as a phantom type, its TypeScript signature. */
export interface Fn<F> {
  readonly proto: string;
  /** Status-returning calls are checked by the library's `call`. */
  readonly status: boolean;
  readonly type?: F;
}
export const fn = <F>(proto: string, status = true): Fn<F> => ({ proto, status });

/** Binds every function of `surface`; `missing` lists those the library lacks, with koffi's reason. */
export function bindSurface(lib: Koffi.IKoffiLib, surface: Readonly<Record<string, Fn<unknown>>>): { api: Record<string, unknown>; missing: string[] } {
  const api: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const [name, entry] of Object.entries(surface)) {
    try {
      api[name] = lib.func(entry.proto);
    } catch (e) {
      missing.push(`${name} (${(e as Error).message})`);
    }
  }
  return { api, missing };
}
