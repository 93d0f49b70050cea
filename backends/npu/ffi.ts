/**
 * koffi bindings to the NPU library (backends/npu/native/opshift_npu.h): the whole C surface is declared once,
 * in SURFACE below (C prototype and TypeScript signature side by side); every npu_status is checked in one
 * place (`check`) and turned into an NpuError naming the call and the library's npu_last_error() text.
 *
 * Ownership: NpuContext and NpuGemm own one native handle each and release it in dispose(). A
 * FinalizationRegistry frees handles whose owner was garbage-collected without dispose(), as a backstop only.
 * Disposing a context invalidates its gemms (the library destroys them), and any later use of either throws
 * NpuError(NPU_E_DISPOSED). TypedArrays are passed to the library directly: koffi hands C a pointer to their
 * memory for the duration of the (synchronous) call, no copies.
 *
 * Loading never throws: loadNpuLibrary() returns { ok: false, reason } for a missing file, a library that does
 * not load, missing symbols or another ABI version.
 */
import { existsSync } from 'node:fs';
import type * as Koffi from 'koffi';
import { NpuError } from '../../core/errors.js';
import { transpose2d } from '../../core/transpose.js';
import { bindSurface, defaultLibraryPath, fn, koffi, librarySource, missingLibraryReason, oncePerPath, type Fn, type LibrarySource, type LibrarySpec } from '../native_library.js';

/** OPSHIFT_NPU_ABI_VERSION of the header this file was written against. */
export const NPU_ABI_VERSION = 2;

export const NpuVariant = { W8A8: 1, W8A16: 2, W4ABF16: 3, F32: 4, BF16: 5, W4A8: 6 } as const;
export type NpuVariant = (typeof NpuVariant)[keyof typeof NpuVariant];
export const NpuDType = { F32: 0, BF16: 1, I32: 2, I64: 3, I8: 4 } as const;
export type NpuDType = (typeof NpuDType)[keyof typeof NpuDType];
export const NpuFlags = { EMULATE: 1, PROFILE: 2, PORTABLE: 4, NO_VNNI: 8, NO_AVX512: 16, TEST_FAIL: 1 << 30 } as const;

/** Opaque native pointers as koffi returns them. */
declare const handleBrand: unique symbol;
export type NativeHandle = { readonly [handleBrand]: 'npu' };
/** A one-element array koffi writes an output parameter into. */
type Out<T> = [T];

export interface NpuCtxDesc {
  struct_size: number;
  artifact_dir: string | null;
  device: string | null;
  flags: number;
  log_path: string | null;
  threads: number;
}

export interface NpuStats {
  struct_size: number;
  reserved: number;
  ms_copy_in: number;
  ms_sync_in: number;
  ms_run: number;
  ms_sync_out: number;
  ms_host_acc: number;
  runs: number | bigint;
  calls: number | bigint;
}

type Int8 = Int8Array;
type F32 = Float32Array;
type Data = Float32Array | Uint16Array;


/** bf16 bit patterns -> their float32 values (exact). */
function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

// Struct and opaque types are registered once per process (koffi names are global), before any prototype.
let typesDeclared = false;
function declareTypes(): void {
  if (typesDeclared) return;
  typesDeclared = true;
  koffi().opaque('npu_ctx');
  koffi().opaque('npu_gemm');
  koffi().struct('npu_ctx_desc', {
    struct_size: 'uint32_t',
    artifact_dir: 'const char*',
    device: 'const char*',
    flags: 'uint32_t',
    log_path: 'const char*',
    threads: 'int32_t',
  });
  koffi().struct('npu_stats', {
    struct_size: 'uint32_t',
    reserved: 'uint32_t',
    ms_copy_in: 'double',
    ms_sync_in: 'double',
    ms_run: 'double',
    ms_sync_out: 'double',
    ms_host_acc: 'double',
    runs: 'uint64_t',
    calls: 'uint64_t',
  });
}

/** The C ABI, once. */
const SURFACE = {
  npu_abi_version: fn<() => number>('uint32_t npu_abi_version()', false),
  npu_impl_name: fn<() => string>('const char* npu_impl_name()', false),
  npu_last_error: fn<() => string>('const char* npu_last_error()', false),
  npu_ctx_create: fn<(desc: NpuCtxDesc, out: Out<NativeHandle | null>) => number>('int32_t npu_ctx_create(const npu_ctx_desc* desc, _Out_ npu_ctx** out)'),
  npu_ctx_destroy: fn<(ctx: NativeHandle) => void>('void npu_ctx_destroy(npu_ctx* ctx)', false),
  npu_ctx_describe: fn<(ctx: NativeHandle) => string>('const char* npu_ctx_describe(npu_ctx* ctx)', false),
  npu_query: fn<
    (ctx: NativeHandle, variant: number, M: number, K: number, N: number, group: number, supported: Out<number>, paddedK: Out<number>, paddedN: Out<number>) => number
  >('int32_t npu_query(npu_ctx* ctx, int32_t variant, int64_t M, int64_t K, int64_t N, int32_t group, _Out_ int32_t* supported, _Out_ int64_t* padded_K, _Out_ int64_t* padded_N)'),
  npu_gemm_create_w8: fn<(ctx: NativeHandle, variant: number, w: Int8, K: number, N: number, out: Out<NativeHandle | null>) => number>(
    'int32_t npu_gemm_create_w8(npu_ctx* ctx, int32_t variant, const int8_t* w, int64_t K, int64_t N, _Out_ npu_gemm** out)',
  ),
  npu_gemm_run_w8: fn<(g: NativeHandle, a: Int8, M: number, c: Int32Array) => number>('int32_t npu_gemm_run_w8(npu_gemm* g, const int8_t* a, int64_t M, int32_t* c)'),
  npu_gemm_run_w8_f32: fn<(g: NativeHandle, x: F32, M: number, wScale: F32, nScales: number, bias: F32 | null, y: F32, xScale: F32 | null) => number>(
    'int32_t npu_gemm_run_w8_f32(npu_gemm* g, const float* x, int64_t M, const float* w_scale, int64_t n_scales, const float* bias, float* y, float* x_scale_out)',
  ),
  npu_gemm_create_w4: fn<
    (ctx: NativeHandle, q: Uint8Array, zeros: Uint8Array | null, scales: F32, bias: F32 | null, K: number, N: number, group: number, wBits: number, out: Out<NativeHandle | null>) => number
  >(
    'int32_t npu_gemm_create_w4(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales, const float* bias, int64_t K, int64_t N, int32_t group, int32_t w_bits, _Out_ npu_gemm** out)',
  ),
  npu_gemm_run_w4: fn<(g: NativeHandle, a: Data, aDtype: number, M: number, c: Data, outDtype: number) => number>(
    'int32_t npu_gemm_run_w4(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, void* c, int32_t out_dtype)',
  ),
  npu_gemm_create_f: fn<(ctx: NativeHandle, variant: number, w: Data, K: number, N: number, out: Out<NativeHandle | null>) => number>(
    'int32_t npu_gemm_create_f(npu_ctx* ctx, int32_t variant, const void* w, int64_t K, int64_t N, _Out_ npu_gemm** out)',
  ),
  npu_gemm_run_f: fn<(g: NativeHandle, a: Data, aDtype: number, M: number, bias: F32 | null, c: Data, outDtype: number) => number>(
    'int32_t npu_gemm_run_f(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, const float* bias, void* c, int32_t out_dtype)',
  ),
  npu_gemm_create_w4a8: fn<
    (ctx: NativeHandle, q: Uint8Array, zeros: Uint8Array | null, scales: F32, bias: F32 | null, K: number, N: number, group: number, out: Out<NativeHandle | null>) => number
  >(
    'int32_t npu_gemm_create_w4a8(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales, const float* bias, int64_t K, int64_t N, int32_t group, _Out_ npu_gemm** out)',
  ),
  npu_gemm_run_w4a8: fn<(g: NativeHandle, x: F32, M: number, y: F32) => number>('int32_t npu_gemm_run_w4a8(npu_gemm* g, const float* x, int64_t M, float* y)'),
  npu_matmul_f32: fn<(ctx: NativeHandle, a: F32, M: number, K: number, b: F32, N: number, bias: F32 | null, c: F32) => number>(
    'int32_t npu_matmul_f32(npu_ctx* ctx, const float* a, int64_t M, int64_t K, const float* b, int64_t N, const float* bias, float* c)',
  ),
  npu_gemm_stats: fn<(g: NativeHandle, out: NpuStats, reset: number) => number>('int32_t npu_gemm_stats(npu_gemm* g, _Inout_ npu_stats* out, int32_t reset)'),
  npu_gemm_destroy: fn<(g: NativeHandle) => void>('void npu_gemm_destroy(npu_gemm* g)', false),
} as const;

/**
 * Optional ABI 2 entries (opshift_npu.h, "prepared weights straight from nn.Linear's layout"): a library may lack
 * them; NpuContext then transposes on the host and calls the K x N entries (same handle, same bits).
 */
const OPTIONAL_SURFACE = {
  npu_gemm_create_f_t: fn<(ctx: NativeHandle, variant: number, w: Data, wDtype: number, transposed: number, K: number, N: number, out: Out<NativeHandle | null>) => number>(
    'int32_t npu_gemm_create_f_t(npu_ctx* ctx, int32_t variant, const void* w, int32_t w_dtype, int32_t transposed, int64_t K, int64_t N, _Out_ npu_gemm** out)',
  ),
  npu_gemm_create_w8_t: fn<(ctx: NativeHandle, variant: number, w: Int8, transposed: number, K: number, N: number, out: Out<NativeHandle | null>) => number>(
    'int32_t npu_gemm_create_w8_t(npu_ctx* ctx, int32_t variant, const int8_t* w, int32_t transposed, int64_t K, int64_t N, _Out_ npu_gemm** out)',
  ),
  npu_gemm_create_w4_t: fn<
    (
      ctx: NativeHandle,
      variant: number,
      qpacked: Uint8Array,
      zeros: Uint8Array | null,
      scales: F32,
      bias: F32 | null,
      K: number,
      N: number,
      group: number,
      wBits: number,
      out: Out<NativeHandle | null>,
    ) => number
  >(
    'int32_t npu_gemm_create_w4_t(npu_ctx* ctx, int32_t variant, const uint8_t* qpacked, const uint8_t* zeros, const float* scales, const float* bias, int64_t K, int64_t N, int32_t group, int32_t w_bits, _Out_ npu_gemm** out)',
  ),
  // prepared-weight files (opshift_npu.h; backends/npu/prepared_cache.ts): without them nothing is cached on disk
  npu_gemm_export: fn<(g: NativeHandle, path: string) => number>('int32_t npu_gemm_export(npu_gemm* g, const char* path)'),
  npu_gemm_import: fn<(ctx: NativeHandle, path: string, variant: number, K: number, N: number, group: number, wBits: number, out: Out<NativeHandle | null>) => number>(
    'int32_t npu_gemm_import(npu_ctx* ctx, const char* path, int32_t variant, int64_t K, int64_t N, int32_t group, int32_t w_bits, _Out_ npu_gemm** out)',
  ),
} as const;
type OptionalSurface = typeof OPTIONAL_SURFACE;
/** The optional functions the library exports (absent keys: not exported). */
export type NpuOptionalApi = { readonly [K in keyof OptionalSurface]?: OptionalSurface[K] extends Fn<infer F> ? F : never };

type Surface = typeof SURFACE;
/** The raw functions, typed from SURFACE. */
export type NpuApi = { readonly [K in keyof Surface]: Surface[K] extends Fn<infer F> ? F : never };
export type NpuCall = keyof Surface;

export interface NpuLibrary {
  readonly path: string;
  readonly abiVersion: number;
  readonly implName: string;
  /** The raw functions; prefer `call`, which checks statuses. */
  readonly api: NpuApi;
  /** The optional entries this library exports. */
  readonly optional: NpuOptionalApi;
  /** Calls a status-returning function and throws NpuError on a non-zero status. */
  call<K extends NpuCall>(name: K, ...args: Parameters<NpuApi[K]>): void;
}

export type NpuLoadResult = { readonly ok: true; readonly lib: NpuLibrary } | { readonly ok: false; readonly reason: string };

/** The one place statuses are checked. */
function check(api: NpuApi, name: string, status: number): void {
  if (status !== 0) throw new NpuError(name, status, api.npu_last_error());
}

const NPU_LIBRARY: LibrarySpec = { stem: 'opshift_npu_emu', dir: 'npu', envVar: 'OPSHIFT_NPU_LIB', what: 'NPU library' };

/**
 * Default library: $OPSHIFT_NPU_LIB; else the emulation library built on this machine (dist/backends/npu/);
 * else the prebuilt one the package ships for this platform, if any.
 */
export function defaultNpuLibraryPath(): string {
  return defaultLibraryPath(NPU_LIBRARY);
}

/** How `path` was chosen: OPSHIFT_NPU_LIB, built, prebuilt or path. */
export function npuLibrarySource(path: string): LibrarySource {
  return librarySource(NPU_LIBRARY, path);
}

const loadOnce = oncePerPath(load);

/** Load (once per path) and check the library; never throws. */
export function loadNpuLibrary(path: string = defaultNpuLibraryPath()): NpuLoadResult {
  return loadOnce(path);
}

function load(path: string): NpuLoadResult {
  if (!existsSync(path)) return { ok: false, reason: missingLibraryReason(NPU_LIBRARY, path) };
  let lib: Koffi.IKoffiLib;
  try {
    declareTypes();
    lib = koffi().load(path);
  } catch (e) {
    return { ok: false, reason: `NPU library ${path} failed to load: ${(e as Error).message}` };
  }
  const { api, missing } = bindSurface(lib, SURFACE);
  if (missing.length) return { ok: false, reason: `NPU library ${path} lacks ${missing.join(', ')}` };
  const typed = api as unknown as NpuApi;
  const abiVersion = typed.npu_abi_version();
  if (abiVersion !== NPU_ABI_VERSION)
    return { ok: false, reason: `NPU library ${path} implements ABI version ${abiVersion}, opshift needs ${NPU_ABI_VERSION} (rebuild it, or point OPSHIFT_NPU_LIB at a matching library)` };
  const statusNames = new Set(Object.entries(SURFACE).filter(([, e]) => e.status).map(([n]) => n));
  // Optional entries: whatever binds is used; a library without them gets the host-transpose fallback.
  const optional = bindSurface(lib, OPTIONAL_SURFACE).api as NpuOptionalApi;
  return {
    ok: true,
    lib: {
      path,
      abiVersion,
      implName: typed.npu_impl_name(),
      api: typed,
      optional,
      call(name, ...args) {
        const f = typed[name] as (...a: unknown[]) => unknown;
        const st = f(...args);
        if (statusNames.has(name)) check(typed, name, st as number);
      },
    },
  };
}

// -------------------------------------------------------------------------------------------------------------
// Owned handles

interface HandleState {
  ptr: NativeHandle | undefined;
}

const gemmFinalizer = new FinalizationRegistry<{ lib: NpuLibrary; state: HandleState; ctx: HandleState }>(({ lib, state, ctx }) => {
  if (state.ptr && ctx.ptr) lib.api.npu_gemm_destroy(state.ptr);
  state.ptr = undefined;
});
const ctxFinalizer = new FinalizationRegistry<{ lib: NpuLibrary; state: HandleState }>(({ lib, state }) => {
  if (state.ptr) lib.api.npu_ctx_destroy(state.ptr);
  state.ptr = undefined;
});

export interface NpuContextOptions {
  readonly device?: string;
  readonly artifactDir?: string;
  readonly flags?: number;
  /** Host threads of the emulation (0: the library's default, OPSHIFT_NPU_THREADS or 2). */
  readonly threads?: number;
}

export interface QueryResult {
  readonly supported: boolean;
  readonly paddedK: number;
  readonly paddedN: number;
  /** The library's reason when not supported. */
  readonly reason: string;
}

function disposedError(call: string, what: string): NpuError {
  return new NpuError(call, -1, `${what} was used after dispose()`);
}

/** An npu_ctx: one device/design; owns every gemm made from it. */
/**
 * MatMulNBits' w4 layout (qpacked [N, K/2], k even in the low nibble; zeros one a byte and scales [N, K/group])
 * as the K x N entries take it: q [K, N] one a byte, zeros and scales [K/group, N].
 */
export function w4KNLayout(
  qpacked: Uint8Array,
  zeros: Uint8Array | null,
  scales: Float32Array,
  K: number,
  N: number,
  group: number,
): { q: Uint8Array; zeros: Uint8Array | null; scales: Float32Array } {
  const G = K / group;
  const q = new Uint8Array(K * N);
  for (let n = 0; n < N; n++) {
    const row = n * (K / 2);
    for (let j = 0; j < K / 2; j++) {
      const b = qpacked[row + j]!;
      q[2 * j * N + n] = b & 15;
      q[(2 * j + 1) * N + n] = b >> 4;
    }
  }
  return {
    q,
    zeros: zeros ? transpose2d(zeros, N, G, new Uint8Array(G * N)) : null,
    scales: transpose2d(scales, N, G, new Float32Array(G * N)),
  };
}

export class NpuContext {
  private readonly state: HandleState;
  readonly description: string;

  constructor(
    readonly lib: NpuLibrary,
    options: NpuContextOptions = {},
  ) {
    const out: Out<NativeHandle | null> = [null];
    lib.call(
      'npu_ctx_create',
      {
        struct_size: koffi().sizeof('npu_ctx_desc'),
        artifact_dir: options.artifactDir ?? null,
        device: options.device ?? null,
        flags: options.flags ?? 0,
        log_path: null,
        threads: options.threads ?? 0,
      },
      out,
    );
    this.state = { ptr: out[0]! };
    this.description = lib.api.npu_ctx_describe(this.state.ptr!);
    ctxFinalizer.register(this, { lib, state: this.state }, this);
  }

  /** The native pointer, or NpuError if disposed. */
  handle(call: string): NativeHandle {
    if (!this.state.ptr) throw disposedError(call, 'an NPU context');
    return this.state.ptr;
  }

  /** @internal shared with gemms so their finalizer knows whether the context still lives. */
  get liveness(): HandleState {
    return this.state;
  }

  get disposed(): boolean {
    return this.state.ptr === undefined;
  }

  query(variant: NpuVariant, M: number, K: number, N: number, group = 0): QueryResult {
    const s: Out<number> = [0];
    const pk: Out<number> = [0];
    const pn: Out<number> = [0];
    this.lib.call('npu_query', this.handle('npu_query'), variant, M, K, N, group, s, pk, pn);
    const supported = s[0] === 1;
    return { supported, paddedK: Number(pk[0]), paddedN: Number(pn[0]), reason: supported ? '' : this.lib.api.npu_last_error() };
  }

  /** Destroys the context and every gemm still alive on it. */
  dispose(): void {
    if (!this.state.ptr) return;
    this.lib.api.npu_ctx_destroy(this.state.ptr);
    this.state.ptr = undefined;
    ctxFinalizer.unregister(this);
  }

  /** w4 weights for the w4a8 entry (per-group int8 activations; same inputs as createW4 with 4-bit weights). */
  createW4A8(q: Uint8Array, zeros: Uint8Array | null, scales: Float32Array, bias: Float32Array | null, K: number, N: number, group: number): NpuGemm {
    const out: Out<NativeHandle | null> = [null];
    this.lib.call('npu_gemm_create_w4a8', this.handle('npu_gemm_create_w4a8'), q, zeros, scales, bias, K, N, group, out);
    return new NpuGemm(this, out[0]!, NpuVariant.W4A8, K, N);
  }

  /** c (M x N) = a (M x K) · b (K x N row-major, read in place: nothing is prepared) + bias, f32 arithmetic. */
  matmulF32(a: Float32Array, M: number, K: number, b: Float32Array, N: number, bias: Float32Array | null, c: Float32Array): void {
    this.lib.call('npu_matmul_f32', this.handle('npu_matmul_f32'), a, M, K, b, N, bias, c);
  }

  createW8(w: Int8Array, K: number, N: number): NpuGemm {
    const out: Out<NativeHandle | null> = [null];
    this.lib.call('npu_gemm_create_w8', this.handle('npu_gemm_create_w8'), NpuVariant.W8A8, w, K, N, out);
    return new NpuGemm(this, out[0]!, NpuVariant.W8A8, K, N);
  }

  createW4(q: Uint8Array, zeros: Uint8Array | null, scales: Float32Array, bias: Float32Array | null, K: number, N: number, group: number, wBits = 4): NpuGemm {
    const out: Out<NativeHandle | null> = [null];
    this.lib.call('npu_gemm_create_w4', this.handle('npu_gemm_create_w4'), q, zeros, scales, bias, K, N, group, wBits, out);
    return new NpuGemm(this, out[0]!, NpuVariant.W4ABF16, K, N);
  }

  /**
   * An f32/bf16 gemm from nn.Linear's [N, K] weight (float32, or bf16 bits: an F32 gemm widens them exactly in the
   * library, a BF16 gemm needs them). Packs straight from [N, K] when the library has npu_gemm_create_f_t, else
   * transposes on the host first (the same handle either way).
   */
  createFFromNK(variant: typeof NpuVariant.F32 | typeof NpuVariant.BF16, w: Float32Array | Uint16Array, K: number, N: number): NpuGemm {
    const wDtype = w instanceof Uint16Array ? NpuDType.BF16 : NpuDType.F32;
    if (variant === NpuVariant.BF16 && wDtype !== NpuDType.BF16)
      throw new NpuError('npu_gemm_create_f_t', 1, `a bf16 gemm takes bf16 weights, got float32 [${N}, ${K}]`);
    const f = this.lib.optional.npu_gemm_create_f_t;
    if (f) {
      const out: Out<NativeHandle | null> = [null];
      check(this.lib.api, 'npu_gemm_create_f_t', f(this.handle('npu_gemm_create_f_t'), variant, w, wDtype, 1, K, N, out));
      return new NpuGemm(this, out[0]!, variant, K, N);
    }
    if (w instanceof Float32Array) return this.createF(variant, transpose2d(w, N, K, new Float32Array(K * N)), K, N);
    const wT = transpose2d(w, N, K, new Uint16Array(K * N));
    return this.createF(variant, variant === NpuVariant.F32 ? bf16ToF32(wT) : wT, K, N);
  }

  /** A w8a8 gemm from nn.Linear's [N, K] int8 weight (npu_gemm_create_w8_t when present, else a host transpose). */
  createW8FromNK(w: Int8Array, K: number, N: number): NpuGemm {
    const f = this.lib.optional.npu_gemm_create_w8_t;
    if (!f) return this.createW8(transpose2d(w, N, K, new Int8Array(K * N)), K, N);
    const out: Out<NativeHandle | null> = [null];
    check(this.lib.api, 'npu_gemm_create_w8_t', f(this.handle('npu_gemm_create_w8_t'), NpuVariant.W8A8, w, 1, K, N, out));
    return new NpuGemm(this, out[0]!, NpuVariant.W8A8, K, N);
  }

  /**
   * A w4abf16 or w4a8 gemm from MatMulNBits' layout: qpacked [N, K/2] (k even in the low nibble), zeros [N, K/G]
   * one a byte or null, scales [N, K/G]. npu_gemm_create_w4_t when present, else unpacked and transposed on the host.
   */
  createW4FromNK(
    variant: typeof NpuVariant.W4ABF16 | typeof NpuVariant.W4A8,
    qpacked: Uint8Array,
    zeros: Uint8Array | null,
    scales: Float32Array,
    bias: Float32Array | null,
    K: number,
    N: number,
    group: number,
    wBits = 4,
  ): NpuGemm {
    const f = this.lib.optional.npu_gemm_create_w4_t;
    if (f) {
      const out: Out<NativeHandle | null> = [null];
      check(this.lib.api, 'npu_gemm_create_w4_t', f(this.handle('npu_gemm_create_w4_t'), variant, qpacked, zeros, scales, bias, K, N, group, wBits, out));
      return new NpuGemm(this, out[0]!, variant, K, N);
    }
    const kn = w4KNLayout(qpacked, zeros, scales, K, N, group);
    return variant === NpuVariant.W4A8
      ? this.createW4A8(kn.q, kn.zeros, kn.scales, bias, K, N, group)
      : this.createW4(kn.q, kn.zeros, kn.scales, bias, K, N, group, wBits);
  }

  /** Whether the library can export and import prepared-weight files (optional entries). */
  get canImport(): boolean {
    return this.lib.optional.npu_gemm_import !== undefined && this.lib.optional.npu_gemm_export !== undefined;
  }

  /**
   * Maps a prepared-weight file written by NpuGemm.exportTo (npu_gemm_import): the handle runs as the exported one
   * did. Throws NpuError (NPU_E_NOFILE: missing; NPU_E_ARG: corrupt, truncated, foreign or another shape), or when
   * the library lacks the entry. group/wBits matter for the w4 variants only.
   */
  importGemm(path: string, variant: NpuVariant, K: number, N: number, group = 0, wBits = 0): NpuGemm {
    const f = this.lib.optional.npu_gemm_import;
    if (!f) throw new NpuError('npu_gemm_import', 2, `the NPU library ${this.lib.path} has no prepared-weight files (npu_gemm_import)`);
    const out: Out<NativeHandle | null> = [null];
    check(this.lib.api, 'npu_gemm_import', f(this.handle('npu_gemm_import'), path, variant, K, N, group, wBits, out));
    return new NpuGemm(this, out[0]!, variant, K, N);
  }

  createF(variant: typeof NpuVariant.F32 | typeof NpuVariant.BF16, w: Float32Array | Uint16Array, K: number, N: number): NpuGemm {
    const out: Out<NativeHandle | null> = [null];
    this.lib.call('npu_gemm_create_f', this.handle('npu_gemm_create_f'), variant, w, K, N, out);
    return new NpuGemm(this, out[0]!, variant, K, N);
  }
}

export interface GemmStats {
  readonly msCopyIn: number;
  readonly msRun: number;
  readonly msHostAcc: number;
  readonly runs: number;
  readonly calls: number;
}

/** One prepared weight (npu_gemm). Run it many times; dispose() when done. */
export class NpuGemm {
  private readonly state: HandleState;

  constructor(
    readonly ctx: NpuContext,
    ptr: NativeHandle,
    readonly variant: NpuVariant,
    readonly K: number,
    readonly N: number,
  ) {
    this.state = { ptr };
    gemmFinalizer.register(this, { lib: ctx.lib, state: this.state, ctx: ctx.liveness }, this);
  }

  private handle(call: string): NativeHandle {
    if (!this.state.ptr || this.ctx.disposed) throw disposedError(call, `an NPU gemm handle (variant ${this.variant}, K=${this.K}, N=${this.N})`);
    return this.state.ptr;
  }

  get disposed(): boolean {
    return this.state.ptr === undefined || this.ctx.disposed;
  }

  /** int8 a [M, K] -> int32 accumulators c [M, N]. */
  runW8(a: Int8Array, M: number, c: Int32Array): void {
    this.ctx.lib.call('npu_gemm_run_w8', this.handle('npu_gemm_run_w8'), a, M, c);
  }

  /** float x [M, K] -> y [M, N] with dynamic activation quantization; returns x_scale. */
  runW8F32(x: Float32Array, M: number, wScale: Float32Array, bias: Float32Array | null, y: Float32Array): number {
    const xs = new Float32Array(1);
    this.ctx.lib.call('npu_gemm_run_w8_f32', this.handle('npu_gemm_run_w8_f32'), x, M, wScale, wScale.length, bias, y, xs);
    return xs[0]!;
  }

  runW4(a: Float32Array | Uint16Array, aDtype: NpuDType, M: number, c: Float32Array | Uint16Array, outDtype: NpuDType): void {
    this.ctx.lib.call('npu_gemm_run_w4', this.handle('npu_gemm_run_w4'), a, aDtype, M, c, outDtype);
  }

  runW4A8(x: Float32Array, M: number, y: Float32Array): void {
    this.ctx.lib.call('npu_gemm_run_w4a8', this.handle('npu_gemm_run_w4a8'), x, M, y);
  }

  runF(a: Float32Array | Uint16Array, aDtype: NpuDType, M: number, bias: Float32Array | null, c: Float32Array | Uint16Array, outDtype: NpuDType): void {
    this.ctx.lib.call('npu_gemm_run_f', this.handle('npu_gemm_run_f'), a, aDtype, M, bias, c, outDtype);
  }

  /** Writes the prepared form to `path` atomically (npu_gemm_export); NpuError on failure or without the entry. */
  exportTo(path: string): void {
    const f = this.ctx.lib.optional.npu_gemm_export;
    if (!f) throw new NpuError('npu_gemm_export', 2, `the NPU library ${this.ctx.lib.path} has no prepared-weight files (npu_gemm_export)`);
    check(this.ctx.lib.api, 'npu_gemm_export', f(this.handle('npu_gemm_export'), path));
  }

  stats(reset = false): GemmStats {
    const s: NpuStats = { struct_size: koffi().sizeof('npu_stats'), reserved: 0, ms_copy_in: 0, ms_sync_in: 0, ms_run: 0, ms_sync_out: 0, ms_host_acc: 0, runs: 0, calls: 0 };
    this.ctx.lib.call('npu_gemm_stats', this.handle('npu_gemm_stats'), s, reset ? 1 : 0);
    return { msCopyIn: s.ms_copy_in, msRun: s.ms_run, msHostAcc: s.ms_host_acc, runs: Number(s.runs), calls: Number(s.calls) };
  }

  dispose(): void {
    if (!this.state.ptr) return;
    if (!this.ctx.disposed) this.ctx.lib.api.npu_gemm_destroy(this.state.ptr);
    this.state.ptr = undefined;
    gemmFinalizer.unregister(this);
  }
}
