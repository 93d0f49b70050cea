/**
 * koffi bindings to the native kernel library (backends/native/native/opshift_native.h). koffi is loaded on
 * first use (the backend's probe), never at import. Every status-returning call goes through `call`, which
 * turns a non-zero status into a NativeError naming the call and the library's nk_last_error() text.
 *
 * Loading never throws: loadNativeLibrary() returns { ok: false, reason } for a missing file, a library that
 * does not load, missing symbols or another ABI version. TypedArrays are passed to C directly (koffi hands it a
 * pointer to their memory, view offset included, for the duration of the synchronous call; no copies).
 */
import { existsSync } from 'node:fs';
import type * as Koffi from 'koffi';
import { OpshiftError } from '../../core/errors.js';
import { bindSurface, defaultLibraryPath, fn, koffi, librarySource, missingLibraryReason, oncePerPath, type Fn, type LibrarySource, type LibrarySpec } from '../native_library.js';

/** OPSHIFT_NATIVE_ABI_VERSION of the header this file was written against. */
export const NATIVE_ABI_VERSION = 2;

export const NkIsa = { best: -1, portable: 0, avx2: 1, avx512: 2 } as const;
export const NkUnary = { silu: 0, geluErf: 1, geluTanh: 2, relu: 3 } as const;
export const NkBinary = { add: 0, sub: 1, mul: 2, div: 3 } as const;
export const NkMask = { none: 0, bool: 1, float: 2 } as const;
export const NkFloat = { float32: 0, float16: 1, bfloat16: 2 } as const;

const STATUS_NAMES: Readonly<Record<number, string>> = { 1: 'NK_E_ARG', 2: 'NK_E_ISA', 3: 'NK_E_NOMEM', 4: 'NK_E_INDEX' };
/** nk_embedding's status for an index out of range. */
export const NK_E_INDEX = 4;

/** A failed library call: the call, its status and the library's message. */
export class NativeError extends OpshiftError {
  constructor(
    readonly call: string,
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${call} failed with ${STATUS_NAMES[status] ?? 'status'} (${status}): ${detail || '(the library gave no message)'}`);
  }
}

type F32 = Float32Array;
type I32 = Int32Array;


/** The C ABI, once: prototype for koffi, TypeScript signature as a phantom type. */
const SURFACE = {
  nk_abi_version: fn<() => number>('uint32_t nk_abi_version()', false),
  nk_last_error: fn<() => string>('const char* nk_last_error()', false),
  nk_isa_supported: fn<(isa: number) => number>('int32_t nk_isa_supported(int32_t isa)', false),
  nk_set_isa: fn<(isa: number) => number>('int32_t nk_set_isa(int32_t isa)'),
  nk_isa_name: fn<() => string>('const char* nk_isa_name()', false),
  nk_set_threads: fn<(n: number) => number>('int32_t nk_set_threads(int32_t n)'),
  nk_threads: fn<() => number>('int32_t nk_threads()', false),
  nk_attention: fn<
    (
      q: F32, qOff: I32, qsL: number, qsE: number,
      k: F32, kOff: I32, ksS: number, ksE: number,
      v: F32, vOff: I32, vsS: number, vsE: number,
      mask: Uint8Array | F32 | null, maskKind: number, mOff: I32 | null, msL: number, msS: number,
      out: F32, nbatch: number, L: number, S: number, E: number, Ev: number, scale: number, causal: number, causalOffset: number,
    ) => number
  >(
    'int32_t nk_attention(const float* q, const int32_t* q_off, int64_t qsL, int64_t qsE, const float* k, const int32_t* k_off, int64_t ksS, int64_t ksE, const float* v, const int32_t* v_off, int64_t vsS, int64_t vsE, const void* mask, int32_t mask_kind, const int32_t* m_off, int64_t msL, int64_t msS, float* out, int64_t nbatch, int64_t L, int64_t S, int64_t E, int64_t Ev, float scale, int32_t causal, int64_t causal_offset)',
  ),
  nk_softmax: fn<(x: F32, y: F32, rows: number, n: number, log: number) => number>('int32_t nk_softmax(const float* x, float* y, int64_t rows, int64_t n, int32_t log)'),
  nk_rms_norm: fn<(x: F32, w: F32 | null, y: F32, rows: number, n: number, eps: number) => number>(
    'int32_t nk_rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps)',
  ),
  nk_layer_norm: fn<(x: F32, w: F32 | null, b: F32 | null, y: F32, rows: number, n: number, eps: number) => number>(
    'int32_t nk_layer_norm(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t n, float eps)',
  ),
  nk_rope: fn<(x: F32, xRows: I32 | null, cos: F32, sin: F32, y: F32, rows: number, d: number, tableRows: number) => number>(
    'int32_t nk_rope(const float* x, const int32_t* x_rows, const float* cos, const float* sin, float* y, int64_t rows, int64_t d, int64_t table_rows)',
  ),
  nk_unary: fn<(op: number, x: F32, y: F32, n: number) => number>('int32_t nk_unary(int32_t op, const float* x, float* y, int64_t n)'),
  nk_binary: fn<(op: number, a: F32, b: F32, y: F32, n: number, period: number) => number>(
    'int32_t nk_binary(int32_t op, const float* a, const float* b, float* y, int64_t n, int64_t b_period)',
  ),
  nk_silu_mul: fn<(a: F32, lda: number, b: F32, ldb: number, y: F32, rows: number, n: number) => number>(
    'int32_t nk_silu_mul(const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t rows, int64_t n)',
  ),
  nk_cast: fn<(src: F32 | Uint16Array, from: number, dst: F32 | Uint16Array, to: number, n: number, bf16Nan: number) => number>(
    'int32_t nk_cast(const void* src, int32_t from, void* dst, int32_t to, int64_t n, uint32_t bf16_nan)',
  ),
  nk_embedding: fn<
    (weight: F32 | Uint16Array, elemBytes: number, num: number, dim: number, ld: number, indices: I32 | BigInt64Array, idx64: number, n: number, out: F32 | Uint16Array) => number
  >('int32_t nk_embedding(const void* weight, int64_t elem_bytes, int64_t num, int64_t dim, int64_t ld, const void* indices, int32_t idx64, int64_t n, void* out)'),
  nk_copy_strided: fn<(src: F32, srcStrides: I32, dst: F32, dstStrides: I32, shape: I32, ndim: number) => number>(
    'int32_t nk_copy_strided(const float* src, const int32_t* src_strides, float* dst, const int32_t* dst_strides, const int32_t* shape, int32_t ndim)',
  ),
} as const;

type Surface = typeof SURFACE;
export type NativeApi = { readonly [K in keyof Surface]: Surface[K] extends Fn<infer F> ? F : never };
export type NativeCall = keyof Surface;

export interface NativeLibrary {
  readonly path: string;
  readonly abiVersion: number;
  /** The raw functions; prefer `call`, which checks statuses. */
  readonly api: NativeApi;
  /** Calls a status-returning function; throws NativeError on a non-zero status. */
  call<K extends NativeCall>(name: K, ...args: Parameters<NativeApi[K]>): void;
}

export type NativeLoadResult = { readonly ok: true; readonly lib: NativeLibrary } | { readonly ok: false; readonly reason: string };

const NATIVE_LIBRARY: LibrarySpec = { stem: 'opshift_native', dir: 'native', envVar: 'OPSHIFT_NATIVE_LIB', what: 'native kernel library' };

/** $OPSHIFT_NATIVE_LIB; else the library built on this machine; else the prebuilt one shipped for this platform. */
export function defaultNativeLibraryPath(): string {
  return defaultLibraryPath(NATIVE_LIBRARY);
}

/** How `path` was chosen, for `opshift backends`: OPSHIFT_NATIVE_LIB, built, prebuilt or path. */
export function nativeLibrarySource(path: string): LibrarySource {
  return librarySource(NATIVE_LIBRARY, path);
}

const loadOnce = oncePerPath(load);

/** Load (once per path) and check the library; never throws. */
export function loadNativeLibrary(path: string = defaultNativeLibraryPath()): NativeLoadResult {
  return loadOnce(path);
}

function load(path: string): NativeLoadResult {
  if (!existsSync(path)) return { ok: false, reason: missingLibraryReason(NATIVE_LIBRARY, path) };
  let lib: Koffi.IKoffiLib;
  try {
    lib = koffi().load(path);
  } catch (e) {
    return { ok: false, reason: `native kernel library ${path} failed to load: ${(e as Error).message}` };
  }
  const { api, missing } = bindSurface(lib, SURFACE);
  if (missing.length) return { ok: false, reason: `native kernel library ${path} lacks ${missing.join(', ')}` };
  const typed = api as unknown as NativeApi;
  const abiVersion = typed.nk_abi_version();
  if (abiVersion !== NATIVE_ABI_VERSION)
    return { ok: false, reason: `native kernel library ${path} implements ABI version ${abiVersion}, opshift needs ${NATIVE_ABI_VERSION} (rebuild it, or point OPSHIFT_NATIVE_LIB at a matching library)` };
  const statusNames = new Set(Object.entries(SURFACE).filter(([, e]) => e.status).map(([n]) => n));
  return {
    ok: true,
    lib: {
      path,
      abiVersion,
      api: typed,
      call(name, ...args) {
        const f = typed[name] as (...a: unknown[]) => unknown;
        const st = f(...args);
        if (statusNames.has(name) && st !== 0) throw new NativeError(name, st as number, typed.nk_last_error());
      },
    },
  };
}
