/**
 * NPU kernels: MatMul and Linear (float32 → the library's f32 GEMM, bfloat16 → its bf16 GEMM; float GEMMs are
 * never quantized behind the caller's back), LinearW8A8 (→ w8a8 with the library's dynamic activation
 * quantization) and LinearW4 (→ w4abf16: activations rounded to bf16, fp32 accumulation in the NPU's order).
 *
 * supports() refuses, with the reason the dispatcher records as the cause:
 *   - dtypes other than those above, batched right-hand operands (a weight is one K x N matrix);
 *   - GEMMs with N below the configured minimum (configureNpu({ minN }) / OPSHIFT_NPU_MIN_N, default 8);
 *   - whatever the library's capability query (npu_query) rejects, with the library's reason.
 *
 * Weights: nn.Linear's [N, K] (and MatMulNBits' [N, K/2] nibbles) go to the library as they are, through its
 * npu_gemm_create_*_t entries, which pack them straight into panels (ffi.ts transposes on the host only for a
 * library without those entries). A weight whose storage is marked constant (module parameters,
 * `markConstant()`) is prepared once and cached per Storage (keyed by view: offset, shape, strides), like the
 * weight-stationary buffers of AMD's qlinear_2::initialize_weights; any other weight is prepared for the call and
 * its handle destroyed right after.
 */
import { bf16DecodeTable } from '../../core/half.js';
import { notePrepared } from '../../core/profiler.js';
import { preparedConstant } from '../../core/weight.js';
import type { Kernel } from '../../core/op_def.js';
import type { Storage } from '../../core/storage.js';
import type { Tensor } from '../../core/tensor.js';
import { matmulDims, type LinearInputs, type MatMulInputs } from '../../ops/linalg.js';
import type { LinearW4Attrs, LinearW4Inputs, LinearW8A8Inputs } from '../../ops/quant.js';
import { contiguousFloat } from '../cpu/access.js';
import { gather } from '../cpu/kernels/util.js';
import { npuRuntime, onNpuReset } from './backend.js';
import { npuConfig } from './config.js';
import { NpuDType, NpuVariant, type NpuGemm } from './ffi.js';
import { preparedFromDisk, type DiskSpec } from './prepared_cache.js';

// -------------------------------------------------------------------------------------------------------------
// Prepared-weight cache

interface Prepared {
  readonly gemm: NpuGemm;
  /** The other tensors baked into the handle (w4 scales, zeros, bias): a hit needs the same storages. */
  readonly deps: readonly (Storage | undefined)[];
}

let cache = new WeakMap<Storage, Map<string, Prepared>>();
/** Weak references to every cached handle, so clearNpuCache() can release them deterministically. */
let cached = new Set<WeakRef<NpuGemm>>();
const counters = { hits: 0, misses: 0, temporary: 0 };

/** Disposes every cached prepared weight (they are rebuilt on next use). */
export function clearNpuCache(): void {
  for (const r of cached) r.deref()?.dispose();
  cached = new Set();
  cache = new WeakMap();
}
onNpuReset(clearNpuCache);

export function npuCacheStats(): { readonly live: number; readonly hits: number; readonly misses: number; readonly temporary: number } {
  let live = 0;
  for (const r of cached) {
    const g = r.deref();
    if (g && !g.disposed) live++;
  }
  return { live, ...counters };
}

function viewKey(tag: string, t: Tensor): string {
  return `${tag}|${t.offset}|${t.shape.join(',')}|${t.strides.join(',')}`;
}

/**
 * Runs `use` with the prepared weight for `weight` (+ deps): cached when all of them are constant, otherwise
 * made for this call and destroyed after it. A constant one comes from the prepared-weight cache on disk when it
 * has a source identity and OPSHIFT_CACHE is set (prepared_cache.ts; `disk` describes the handle).
 */
function withPrepared<R>(tag: string, weight: Tensor, deps: readonly (Tensor | undefined)[], make: () => NpuGemm, use: (g: NpuGemm) => R, disk?: DiskSpec): R {
  const constant = weight.isConstant && deps.every((d) => d === undefined || d.isConstant);
  if (!constant) {
    counters.temporary++;
    const g = make();
    try {
      return use(g);
    } finally {
      g.dispose();
    }
  }
  const depStorages = deps.map((d) => d?.storage);
  let perStorage = cache.get(weight.storage);
  if (!perStorage) cache.set(weight.storage, (perStorage = new Map()));
  const key = viewKey(tag, weight) + deps.map((d) => (d ? `|${viewKey('', d)}` : '|-')).join('');
  let entry = perStorage.get(key);
  if (entry && (entry.gemm.disposed || entry.deps.some((s, i) => s !== depStorages[i]))) {
    entry.gemm.dispose();
    entry = undefined;
  }
  if (entry) counters.hits++;
  else {
    counters.misses++;
    notePrepared();
    entry = { gemm: disk ? preparedFromDisk(npuRuntime().ctx, tag, weight, deps, disk, make) : make(), deps: depStorages };
    // The library holds its own packed copy now: the host copy goes if it can be restored (core/weight.ts).
    preparedConstant(weight.storage);
    for (const d of depStorages) if (d) preparedConstant(d);
    perStorage.set(key, entry);
    cached.add(new WeakRef(entry.gemm));
    // Drop references to handles whose weights were garbage-collected (their finalizer freed them).
    if (cached.size % 256 === 0) for (const r of cached) if (!r.deref() || r.deref()!.disposed) cached.delete(r);
  }
  return use(entry.gemm);
}

// -------------------------------------------------------------------------------------------------------------
// Layout helpers

function floatVariant(dtype: string): typeof NpuVariant.F32 | typeof NpuVariant.BF16 | undefined {
  return dtype === 'float32' ? NpuVariant.F32 : dtype === 'bfloat16' ? NpuVariant.BF16 : undefined;
}

function dtOf(dtype: string): typeof NpuDType.F32 | typeof NpuDType.BF16 {
  return dtype === 'bfloat16' ? NpuDType.BF16 : NpuDType.F32;
}

/** Float32 values of a float32/bfloat16 vector (the library takes float32 bias). */
function biasF32(bias: Tensor | undefined): Float32Array | null {
  if (!bias) return null;
  if (bias.dtype === 'float32') return contiguousFloat(bias);
  const bits = gather(bias) as Uint16Array;
  const table = bf16DecodeTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

function sizeRefusal(variant: NpuVariant, M: number, K: number, N: number, group = 0): string | true {
  const minN = npuConfig().minN;
  if (N < minN) return `rejects N=${N} < ${minN} (small GEMMs stay off the NPU; configureNpu({ minN }) / OPSHIFT_NPU_MIN_N)`;
  const q = npuRuntime().ctx.query(variant, M, K, N, group);
  return q.supported ? true : `rejects M=${M} K=${K} N=${N}: ${q.reason}`;
}

// -------------------------------------------------------------------------------------------------------------
// Kernels

/**
 * Rows up to which a non-constant float32 right operand is read in place (npu_matmul_f32) rather than packed for
 * the call: the in-place kernel streams b once per 8 rows, so past this the one-off packing is cheaper.
 */
const UNPREPARED_MAX_M = 64;

export const npuMatmulKernel: Kernel<MatMulInputs, Record<string, never>> = {
  supports({ a, b }) {
    const v = floatVariant(a.dtype);
    if (!v || b.dtype !== a.dtype) return `rejects ${a.dtype} (float32 and bfloat16 only; float GEMMs are never quantized)`;
    if (b.ndim !== 2) return `rejects a ${b.ndim}-d right operand (one K x N weight matrix only)`;
    const { m, k, n, batch } = matmulDims(a, b);
    if (k === 0) return 'rejects K=0';
    return sizeRefusal(v, m * batch.reduce((x, y) => x * y, 1), k, n);
  },
  run({ a, b }, _attrs, [out]) {
    const [K, N] = b.shape as [number, number];
    const M = a.numel() / K;
    const v = floatVariant(a.dtype)!;
    const x = gather(a) as Float32Array | Uint16Array;
    if (v === NpuVariant.F32 && !b.isConstant && M <= UNPREPARED_MAX_M) {
      // A right operand that changes every call (activations, weights not marked constant): read it in place, same
      // bits as the prepared path, no prepare + pack + free per call.
      npuRuntime().ctx.matmulF32(x as Float32Array, M, K, gather(b) as Float32Array, N, null, out!.storage.data as Float32Array);
      return;
    }
    withPrepared(
      `mm${v}`,
      b,
      [],
      () => npuRuntime().ctx.createF(v, gather(b) as Float32Array | Uint16Array, K, N),
      (g) => g.runF(x, dtOf(a.dtype), M, null, out!.storage.data as Float32Array | Uint16Array, dtOf(a.dtype)),
      { variant: v, K, N },
    );
  },
};

export const npuLinearKernel: Kernel<LinearInputs, Record<string, never>> = {
  supports({ x, weight }) {
    const v = floatVariant(x.dtype);
    if (!v) return `rejects ${x.dtype} (float32 and bfloat16 only; float GEMMs are never quantized)`;
    const [N, K] = weight.shape as [number, number];
    if (K === 0) return 'rejects K=0';
    return sizeRefusal(v, x.numel() / K, K, N);
  },
  run({ x, weight, bias }, _attrs, [out]) {
    const [N, K] = weight.shape as [number, number];
    const M = x.numel() / K;
    const v = floatVariant(x.dtype)!;
    withPrepared(
      `lin${v}`,
      weight,
      [],
      // packed straight from [N, K] by the library (no host transpose; ffi.ts falls back to one for libraries without it)
      () => npuRuntime().ctx.createFFromNK(v, gather(weight) as Float32Array | Uint16Array, K, N),
      (g) => g.runF(gather(x) as Float32Array | Uint16Array, dtOf(x.dtype), M, biasF32(bias), out!.storage.data as Float32Array | Uint16Array, dtOf(x.dtype)),
      { variant: v, K, N },
    );
  },
};

export const npuLinearW8A8Kernel: Kernel<LinearW8A8Inputs, Record<string, never>> = {
  supports({ x, weight }) {
    const [N, K] = weight.shape as [number, number];
    if (K === 0) return 'rejects K=0';
    return sizeRefusal(NpuVariant.W8A8, x.numel() / K, K, N);
  },
  run({ x, weight, wScale, bias }, _attrs, [out]) {
    const [N, K] = weight.shape as [number, number];
    const M = x.numel() / K;
    withPrepared(
      'w8a8',
      weight,
      [],
      () => npuRuntime().ctx.createW8FromNK(gather(weight) as Int8Array, K, N),
      (g) => g.runW8F32(contiguousFloat(x), M, contiguousFloat(wScale), bias ? contiguousFloat(bias) : null, out!.storage.data as Float32Array),
      { variant: NpuVariant.W8A8, K, N },
    );
  },
};

/** MatMulNBits layout (ops/quant.ts) -> the ABI's: q K x N one value a byte, zeros and scales (K/G) x N. */
function prepareW4({ qweight, scales, zeros, bias }: LinearW4Inputs, blockSize: number, int8Activations = false): NpuGemm {
  const N = qweight.shape[0]!;
  const K = qweight.shape[1]! * 2;
  // the library packs MatMulNBits' [N, K/2] nibbles, [N, G] scales and zeros directly (ffi.ts falls back to a host
  // unpack + transpose for libraries without npu_gemm_create_w4_t)
  return npuRuntime().ctx.createW4FromNK(
    int8Activations ? NpuVariant.W4A8 : NpuVariant.W4ABF16,
    gather(qweight) as Uint8Array,
    zeros ? (gather(zeros) as Uint8Array) : null,
    contiguousFloat(scales),
    bias ? contiguousFloat(bias) : null,
    K,
    N,
    blockSize,
  );
}

export const npuLinearW4Kernel: Kernel<LinearW4Inputs, LinearW4Attrs> = {
  supports({ x, qweight }, { blockSize }) {
    const N = qweight.shape[0]!;
    const K = qweight.shape[1]! * 2;
    if (K === 0) return 'rejects K=0';
    return sizeRefusal(npuConfig().w4Activations === 'int8' ? NpuVariant.W4A8 : NpuVariant.W4ABF16, x.numel() / K, K, N, blockSize);
  },
  run(inputs, { blockSize }, [out]) {
    const { x, qweight, scales, zeros, bias } = inputs;
    const K = qweight.shape[1]! * 2;
    if (npuConfig().w4Activations === 'int8') {
      // w4a8: per-group int8 activations, integer dot products (configureNpu({ w4Activations }), config.ts)
      withPrepared(
        `w4a8g${blockSize}`,
        qweight,
        [scales, zeros, bias],
        () => prepareW4(inputs, blockSize, true),
        (g) => g.runW4A8(contiguousFloat(x), x.numel() / K, out!.storage.data as Float32Array),
        { variant: NpuVariant.W4A8, K, N: qweight.shape[0]!, group: blockSize, wBits: 4 },
      );
      return;
    }
    withPrepared(
      `w4g${blockSize}`,
      qweight,
      [scales, zeros, bias],
      () => prepareW4(inputs, blockSize),
      (g) => g.runW4(contiguousFloat(x), NpuDType.F32, x.numel() / K, out!.storage.data as Float32Array, NpuDType.F32),
      { variant: NpuVariant.W4ABF16, K, N: qweight.shape[0]!, group: blockSize, wBits: 4 },
    );
  },
};
