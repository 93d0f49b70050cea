/**
 * Loading the GEMM module synchronously (the op API is sync): fs.readFileSync + new WebAssembly.Module +
 * new WebAssembly.Instance. The .wasm is a build output (backends/wasm/build.mjs → dist/backends/wasm/);
 * when it is missing, the reason recorded by the build (e.g. no clang) is reported instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WasmHeap } from './heap.js';
import { wasmApi, type WasmGlobal, type WasmMemory } from './wasm_api.js';

/** Must match opshift_gemm_abi() in native/gemm.c. */
export const GEMM_ABI = 1;

/** The C exports (pointers are byte offsets into memory; sizes and strides in floats). */
export interface GemmExports {
  readonly memory: WasmMemory;
  readonly __heap_base: WasmGlobal;
  pack_b(src: number, K: number, N: number, rs: number, cs: number, Bp: number): void;
  copy_2d(src: number, rows: number, cols: number, rs: number, cs: number, dst: number): void;
  sgemm_packed(M: number, N: number, K: number, A: number, lda: number, Bp: number, C: number, ldc: number): void;
  sgemv_rows(N: number, K: number, x: number, W: number, ldw: number, y: number, ys: number): void;
  sgemv_cols(N: number, K: number, x: number, W: number, ldw: number, y: number, work: number): void;
  sgemv_packed(N: number, K: number, x: number, Bp: number, y: number): void;
  add_bias(C: number, M: number, N: number, ldc: number, bias: number): void;
  opshift_gemm_abi(): number;
}

export interface WasmGemm {
  readonly exports: GemmExports;
  readonly heap: WasmHeap;
  readonly path: string;
  readonly bytes: number;
  /** Build details from build-status.json (compiler, flags), when present. */
  readonly build: Readonly<Record<string, unknown>>;
  /** A fresh float32 view of wasm memory at byte offset `ptr` (views detach when memory grows: never keep one). */
  f32(ptr: number, length: number): Float32Array;
}

export type WasmLoadResult = { readonly ok: true; readonly gemm: WasmGemm } | { readonly ok: false; readonly reason: string };

const REQUIRED = ['pack_b', 'copy_2d', 'sgemm_packed', 'sgemv_rows', 'sgemv_cols', 'sgemv_packed', 'add_bias', 'opshift_gemm_abi'];

/** Where the built module is: $OPSHIFT_WASM_PATH, else next to the compiled JS (dist/) or dist/ from the sources. */
export function defaultWasmPath(): string {
  if (process.env.OPSHIFT_WASM_PATH) return resolve(process.env.OPSHIFT_WASM_PATH);
  const here = dirname(fileURLToPath(import.meta.url));
  // Compiled: dist/backends/wasm/loader.js sits next to the module. From the TypeScript sources (tests, tsx):
  // backends/wasm/loader.ts, and the build wrote ../../dist/backends/wasm/.
  const inDist = basename(resolve(here, '..', '..')) === 'dist';
  return inDist ? join(here, 'gemm.wasm') : join(here, '..', '..', 'dist', 'backends', 'wasm', 'gemm.wasm');
}

function readBuildStatus(wasmPath: string): Record<string, unknown> | undefined {
  const f = join(dirname(wasmPath), 'build-status.json');
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Load and instantiate the module at `path`; never throws: failures come back as a reason. */
export function loadWasmGemm(path: string = defaultWasmPath()): WasmLoadResult {
  const status = readBuildStatus(path);
  if (!existsSync(path)) {
    if (status && status.ok === false && typeof status.reason === 'string') return { ok: false, reason: `wasm kernels not built: ${status.reason}` };
    return { ok: false, reason: `wasm kernels not built: ${path} not found (run npm run build; needs clang and lld: apt-get install clang lld)` };
  }
  const WA = wasmApi;
  if (!WA) return { ok: false, reason: 'this JavaScript engine has no WebAssembly' };
  let bytes: Buffer;
  let instance: { readonly exports: Record<string, unknown> };
  try {
    bytes = readFileSync(path);
    instance = new WA.Instance(new WA.Module(bytes), {});
  } catch (e) {
    return { ok: false, reason: `wasm kernels failed to load from ${path}: ${(e as Error).message}` };
  }
  const ex = instance.exports as Record<string, unknown>;
  const missing = REQUIRED.filter((n) => typeof ex[n] !== 'function');
  if (!(ex.memory instanceof WA.Memory) || !(ex.__heap_base instanceof WA.Global) || missing.length)
    return { ok: false, reason: `wasm kernels at ${path} lack exports (${[...missing, 'memory', '__heap_base'].join(', ')}); rebuild with npm run build` };
  const exports = ex as unknown as GemmExports;
  const abi = exports.opshift_gemm_abi();
  if (abi !== GEMM_ABI) return { ok: false, reason: `wasm kernels at ${path} have ABI ${abi}, expected ${GEMM_ABI}; rebuild with npm run build` };
  const memory = exports.memory;
  const heap = new WasmHeap(memory, Number(exports.__heap_base.value));
  return {
    ok: true,
    gemm: {
      exports,
      heap,
      path,
      bytes: bytes.length,
      build: status ?? {},
      f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    },
  };
}
