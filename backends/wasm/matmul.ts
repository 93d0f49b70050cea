/**
 * The TypeScript side of the wasm GEMM: moving operands into wasm linear memory, choosing a C kernel per
 * matrix (packed-B GEMM for M ≥ 2, SIMD GEMV for M = 1 or N = 1), walking batch dims, and caching packed
 * constant weights.
 *
 * Operands are copied per call: a view whose storage span is dense enough is copied span and all (strides kept,
 * broadcast batch dims cost nothing); a sparse view (a narrow column slice of a big matrix) is gathered.
 *
 * Constant weights (Storage.constant, i.e. module parameters) are packed once into wasm memory and cached per
 * Storage in a WeakMap, keyed by the matrix's offset, shape and strides, so decode-time GEMVs and repeated
 * prefills skip the copy and the packing. When the Storage is garbage-collected, a FinalizationRegistry frees
 * its packed blocks.
 */
import { notePrepared } from '../../core/profiler.js';
import { preparedConstant } from '../../core/weight.js';
import type { Storage } from '../../core/storage.js';
import { broadcastStrides, contiguousStrides, forEachBatch, spanOf } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import type { WasmGemm } from './loader.js';

/** Below this many rows (and no cached packed B), one GEMV per row reading B in place beats packing B. */
const SMALL_M = 4;

// ---------------------------------------------------------------------------------------------------------
// Per-call scratch

/** Blocks allocated for one call; all released at the end (views of memory are re-created after every alloc). */
class Scope {
  private readonly blocks: number[] = [];
  constructor(readonly rt: WasmGemm) {}
  /** A block of `floats` floats; returns its byte pointer. */
  alloc(floats: number): number {
    const p = this.rt.heap.alloc(Math.max(1, floats) * 4);
    this.blocks.push(p);
    return p;
  }
  release(): void {
    for (const p of this.blocks) this.rt.heap.release(p);
    this.blocks.length = 0;
  }
}

/** The view's elements in row-major order into dst. */
function gather(t: Tensor, dst: Float32Array): void {
  const src = t.storage.data as Float32Array;
  const nd = t.ndim;
  if (nd === 0) {
    dst[0] = src[t.offset]!;
    return;
  }
  const shape = t.shape;
  const strides = t.strides;
  const inner = shape[nd - 1]!;
  const is = strides[nd - 1]!;
  const outer = inner === 0 ? 0 : t.numel() / inner;
  const idx = new Array<number>(nd).fill(0);
  let off = t.offset;
  let o = 0;
  for (let r = 0; r < outer; r++) {
    for (let j = 0; j < inner; j++) dst[o++] = src[off + j * is]!;
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      off += strides[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/** A tensor placed in wasm memory: its element at index i lives at float index `at + Σ i_d·strides_d`. */
interface Staged {
  readonly at: number;
  readonly strides: readonly number[];
}

/** Copy a view into wasm memory: the storage span when dense (strides kept), else gathered contiguously. */
function stage(s: Scope, t: Tensor): Staged {
  const n = t.numel();
  const [lo, hi] = spanOf(t);
  const span = hi - lo + 1;
  if (span <= 2 * n + 1024) {
    const p = s.alloc(span);
    s.rt.f32(p, span).set((t.storage.data as Float32Array).subarray(lo, hi + 1));
    return { at: p / 4 + (t.offset - lo), strides: t.strides };
  }
  const p = s.alloc(n);
  gather(t, s.rt.f32(p, n));
  return { at: p / 4, strides: contiguousStrides(t.shape) };
}

/** A tensor as a contiguous row-major block in wasm memory (float index). */
function stageContiguous(s: Scope, t: Tensor): number {
  const n = t.numel();
  const p = s.alloc(n);
  if (t.isContiguous()) s.rt.f32(p, n).set((t.storage.data as Float32Array).subarray(t.offset, t.offset + n));
  else gather(t, s.rt.f32(p, n));
  return p / 4;
}

// ---------------------------------------------------------------------------------------------------------
// Packed constant weights

interface CacheEntry {
  readonly ptr: number;
  readonly bytes: number;
}

interface CacheState {
  rt: WasmGemm | undefined;
  map: WeakMap<Storage, Map<string, CacheEntry>>;
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

const cache: CacheState = { rt: undefined, map: new WeakMap(), entries: 0, bytes: 0, hits: 0, misses: 0 };

/** Frees the packed blocks of one Storage (the FinalizationRegistry callback, also used by clearWasmCache). */
export function releaseCacheEntries(entries: Map<string, CacheEntry>): void {
  const rt = cache.rt;
  for (const e of entries.values()) {
    rt?.heap.release(e.ptr);
    cache.entries--;
    cache.bytes -= e.bytes;
  }
  entries.clear();
}

const finalizer = new FinalizationRegistry<Map<string, CacheEntry>>(releaseCacheEntries);

/**
 * B(p, j) = storage[off + p·rs + j·cs] for p < K, j < N, packed in wasm memory; cached for constant storage.
 * Returns the packed block's byte pointer (owned by the cache).
 */
function packedConstant(rt: WasmGemm, storage: Storage, off: number, K: number, N: number, rs: number, cs: number): number {
  if (cache.rt !== rt) {
    // A different runtime (tests load a second module): entries of the old one point into another memory.
    cache.rt = rt;
    cache.map = new WeakMap();
    cache.entries = cache.bytes = 0;
  }
  let entries = cache.map.get(storage);
  if (!entries) {
    entries = new Map();
    cache.map.set(storage, entries);
    finalizer.register(storage, entries);
  }
  const key = `${off}:${K}x${N}:${rs},${cs}`;
  const hit = entries.get(key);
  if (hit) {
    cache.hits++;
    return hit.ptr;
  }
  cache.misses++;
  notePrepared();
  const floats = Math.ceil(N / 8) * 8 * K;
  const ptr = rt.heap.alloc(floats * 4);
  const s = new Scope(rt);
  try {
    const st = stage(s, new Tensor(storage, [K, N], [rs, cs], off));
    rt.exports.pack_b(st.at * 4, K, N, st.strides[0]!, st.strides[1]!, ptr);
  } catch (e) {
    rt.heap.release(ptr);
    throw e;
  } finally {
    s.release();
  }
  entries.set(key, { ptr, bytes: floats * 4 });
  preparedConstant(storage); // packed in wasm memory now: the host copy goes if it can be restored (core/weight.ts)
  cache.entries++;
  cache.bytes += floats * 4;
  return ptr;
}

/**
 * Bytes the packed-weight cache may hold: OPSHIFT_WASM_CACHE_MB, default 3 GiB (wasm32 memory ends at 4 GiB and
 * calls need scratch). Weights beyond it are refused by the kernels' supports(), so a model larger than that
 * runs its remaining GEMMs on the next backend instead of failing mid-generation.
 */
export function wasmCacheBudget(): number {
  const mb = Number(process.env.OPSHIFT_WASM_CACHE_MB);
  return (Number.isFinite(mb) && mb > 0 ? mb : 3072) * 2 ** 20;
}

/** Why the packed copy of a constant K×N weight cannot be cached (the call is refused), or undefined. */
export function cacheRefusal(storage: Storage, K: number, N: number): string | undefined {
  if (cache.map.get(storage)?.size) return undefined; // already packed (one weight, one packed copy)
  const need = Math.ceil(N / 8) * 8 * K * 4;
  const budget = wasmCacheBudget();
  if (cache.bytes + need <= budget) return undefined;
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  return `rejects a ${K}x${N} constant weight: its packed-weight cache is full (${mib(cache.bytes)} + ${mib(need)} MiB > ${mib(budget)} MiB; OPSHIFT_WASM_CACHE_MB)`;
}

export interface WasmCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
}

export function wasmCacheStats(): WasmCacheStats {
  return { entries: cache.entries, bytes: cache.bytes, hits: cache.hits, misses: cache.misses };
}

/** Drops the packed weights of `storage` now (e.g. before writing to a constant); frees its wasm memory. */
export function evictWasmCache(storage: Storage): void {
  const entries = cache.map.get(storage);
  if (!entries) return;
  finalizer.unregister(entries);
  releaseCacheEntries(entries);
  cache.map.delete(storage);
}

// ---------------------------------------------------------------------------------------------------------
// One matrix product: C (m×n, contiguous at byte pointer c) = A·B

type BMat = { readonly packed: number } | { readonly at: number; readonly rs: number; readonly cs: number };

class Call {
  private work = -1;
  private workLen = 0;
  /** Packed copies of non-constant B made during this call, by float index (broadcast batch dims share one). */
  private readonly packedB = new Map<string, number>();
  constructor(readonly s: Scope) {}

  private workspace(n: number): number {
    if (this.workLen < n) {
      this.work = this.s.alloc(n);
      this.workLen = n;
    }
    return this.work;
  }

  /** A row/vector v[p] = mem[at + p·stride] as a contiguous byte pointer (copied when strided). */
  private vector(at: number, stride: number, k: number): number {
    if (stride === 1) return at * 4;
    const p = this.s.alloc(k);
    this.s.rt.exports.copy_2d(at * 4, 1, k, 0, stride, p);
    return p;
  }

  /** y[j] = Σp x[p]·B(p, j) into contiguous y (byte pointers). */
  private gemv(n: number, k: number, x: number, b: BMat, y: number): void {
    const ex = this.s.rt.exports;
    if ('packed' in b) ex.sgemv_packed(n, k, x, b.packed, y);
    else if (b.rs === 1) ex.sgemv_rows(n, k, x, b.at * 4, b.cs, y, 1);
    else if (b.cs === 1) ex.sgemv_cols(n, k, x, b.at * 4, b.rs, y, this.workspace(n));
    else {
      const t = this.s.alloc(k * n);
      ex.copy_2d(b.at * 4, k, n, b.rs, b.cs, t);
      ex.sgemv_cols(n, k, x, t, n, y, this.workspace(n));
    }
  }

  run(m: number, n: number, k: number, aAt: number, aRs: number, aCs: number, b: BMat, c: number): void {
    const ex = this.s.rt.exports;
    if (m === 1) {
      this.gemv(n, k, this.vector(aAt, aCs, k), b, c);
      return;
    }
    if (n === 1 && !('packed' in b)) {
      // Matrix × vector: A's rows are the GEMV's rows.
      this.gemv(m, k, this.vector(b.at, b.rs, k), { at: aAt, rs: aCs, cs: aRs }, c);
      return;
    }
    if (!('packed' in b) && m < SMALL_M && (b.rs === 1 || b.cs === 1)) {
      for (let i = 0; i < m; i++) this.gemv(n, k, this.vector(aAt + i * aRs, aCs, k), b, c + i * n * 4);
      return;
    }
    let bp: number;
    if ('packed' in b) bp = b.packed;
    else {
      const key = `${b.at}:${b.rs}:${b.cs}`; // the same matrix view again in this call (broadcast batch)
      let p = this.packedB.get(key);
      if (p === undefined) {
        p = this.s.alloc(Math.ceil(n / 8) * 8 * k);
        ex.pack_b(b.at * 4, k, n, b.rs, b.cs, p);
        this.packedB.set(key, p);
      }
      bp = p;
    }
    let a = aAt * 4;
    let lda = aRs;
    if (aCs !== 1) {
      a = this.s.alloc(m * k);
      ex.copy_2d(aAt * 4, m, k, aRs, aCs, a);
      lda = k;
    }
    ex.sgemm_packed(m, n, k, a, lda, bp, c, n);
  }
}

/**
 * out = A @ B for A [..., M, K], B [..., K, N] (1-D operands already unsqueezed), batch dims broadcast to
 * `batch`; out is the fresh contiguous float32 output.
 */
export function wasmMatmul(rt: WasmGemm, A: Tensor, B: Tensor, out: Tensor, batch: readonly number[], m: number, k: number, n: number): void {
  const total = out.numel();
  if (total === 0 || k === 0) return; // the output is zero-filled already
  const s = new Scope(rt);
  try {
    const a = stage(s, A);
    const nd = A.ndim;
    const sa = broadcastStrides(A.shape.slice(0, -2), a.strides.slice(0, -2), batch);
    const aRs = a.strides[nd - 2]!;
    const aCs = a.strides[nd - 1]!;
    const bd = B.ndim;
    const cached = B.isConstant && n > 1;
    const b = cached ? undefined : stage(s, B);
    const bStrides = b ? b.strides : B.strides;
    const sb = broadcastStrides(B.shape.slice(0, -2), bStrides.slice(0, -2), batch);
    const bRs = bStrides[bd - 2]!;
    const bCs = bStrides[bd - 1]!;
    const c = s.alloc(total);
    const call = new Call(s);
    forEachBatch(batch, sa, sb, (i, oa, ob) => {
      const bm: BMat = b ? { at: b.at + ob, rs: bRs, cs: bCs } : { packed: packedConstant(rt, B.storage, B.offset + ob, k, n, bRs, bCs) };
      call.run(m, n, k, a.at + oa, aRs, aCs, bm, c + i * m * n * 4);
    });
    (out.storage.data as Float32Array).set(rt.f32(c, total));
  } finally {
    s.release();
  }
}

/** out = x @ weightᵀ (+ bias) for x [..., K], weight [N, K], bias [N]. */
export function wasmLinear(rt: WasmGemm, x: Tensor, weight: Tensor, bias: Tensor | undefined, out: Tensor): void {
  const total = out.numel();
  if (total === 0) return;
  const k = x.shape[x.ndim - 1]!;
  const n = weight.shape[0]!;
  const m = total / n;
  const dst = out.storage.data as Float32Array;
  if (k === 0) {
    if (bias) {
      const bv = new Float32Array(n);
      gather(bias, bv);
      for (let i = 0; i < m; i++) dst.set(bv, i * n);
    }
    return;
  }
  const s = new Scope(rt);
  try {
    const xa = stageContiguous(s, x);
    // B(p, j) = weight[j, p]
    let bm: BMat;
    if (weight.isConstant && n > 1) bm = { packed: packedConstant(rt, weight.storage, weight.offset, k, n, weight.strides[1]!, weight.strides[0]!) };
    else {
      const w = stage(s, weight);
      bm = { at: w.at, rs: w.strides[1]!, cs: w.strides[0]! };
    }
    const c = s.alloc(total);
    new Call(s).run(m, n, k, xa, k, 1, bm, c);
    if (bias) rt.exports.add_bias(c, m, n, n, stageContiguous(s, bias) * 4);
    dst.set(rt.f32(c, total));
  } finally {
    s.release();
  }
}
