/**
 * The native backend's kernels: each checks in supports() that the call is one the C library handles (float32,
 * and the layouts models produce: contiguous rows, row-broadcast operands, any strides for attention) and
 * refuses the rest with the reason, so dispatch falls back to the TypeScript kernels. run() only marshals
 * pointers and sizes: outputs are the dispatcher's fresh contiguous float32 tensors, written in place.
 */
import type { Kernel, OpAttrs } from '../../core/op_def.js';
import { shapesEqual } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import type { BinaryInputs, CastAttrs, GeluAttrs, NoAttrs, UnaryInputs } from '../../ops/elementwise.js';
import type { CopyIntoInputs } from '../../ops/inplace.js';
import {
  attentionDims,
  type AttentionAttrs,
  type AttentionInputs,
  type LayerNormAttrs,
  type LayerNormInputs,
  type RmsNormAttrs,
  type RmsNormInputs,
  type RopeInputs,
  type SoftmaxAttrs,
} from '../../ops/nn.js';
import { nativeLib } from './backend.js';
import { NativeError, NK_E_INDEX, NkBinary, NkFloat, NkMask, NkUnary } from './ffi.js';
import { checkedIndices } from '../cpu/kernels/indexing.js';
import { formatShape } from '../../core/shape.js';
import type { EmbeddingInputs } from '../../ops/indexing.js';
import { castsVectorized } from '../cpu/bf16_nan.js';

/** The float32 elements of a contiguous tensor, as a view koffi passes as a pointer (view offset included). */
function rows(t: Tensor): Float32Array {
  const d = t.storage.data as Float32Array;
  return t.offset === 0 && d.length === t.numel() ? d : d.subarray(t.offset, t.offset + t.numel());
}

const out32 = (out: Tensor): Float32Array => rows(out);

/** Why a float32-only kernel refuses `ts`, or undefined. */
function needF32(...ts: (Tensor | undefined)[]): string | undefined {
  for (const t of ts) if (t && t.dtype !== 'float32') return `rejects ${t.dtype} (float32 only)`;
  return undefined;
}

function needContiguous(what: string, ...ts: (Tensor | undefined)[]): string | undefined {
  for (const t of ts) if (t && !t.isContiguous()) return `${what} needs contiguous operands`;
  return undefined;
}

const INT32_MAX = 2 ** 31 - 1;

// ---- elementwise ----

function unaryKernel<A extends OpAttrs>(code: (attrs: A) => number): Kernel<UnaryInputs, A> {
  return {
    supports: ({ x }) => needF32(x) ?? needContiguous('unary', x) ?? true,
    run({ x }, attrs, [out]) {
      nativeLib().call('nk_unary', code(attrs), rows(x), out32(out!), x.numel());
    },
  };
}

export const siluKernel = unaryKernel<NoAttrs>(() => NkUnary.silu);
export const reluKernel = unaryKernel<NoAttrs>(() => NkUnary.relu);
export const geluKernel = unaryKernel<GeluAttrs>(({ approximate }) => (approximate === 'tanh' ? NkUnary.geluTanh : NkUnary.geluErf));

/** b's elements repeat every `period` elements of the output: b is a contiguous suffix of the output's shape. */
function broadcastPeriod(b: Tensor, outShape: readonly number[]): number | undefined {
  if (!b.isContiguous()) return undefined;
  if (b.numel() === 1) return 1;
  const padded = [...new Array<number>(Math.max(0, outShape.length - b.ndim)).fill(1), ...b.shape];
  if (padded.length !== outShape.length) return undefined;
  let k = 0;
  while (k < padded.length && padded[k] === 1) k++;
  return shapesEqual(padded.slice(k), outShape.slice(k)) ? b.numel() : undefined;
}

interface BinaryPlan {
  readonly full: Tensor;
  readonly other: Float32Array;
  readonly period: number;
}

/** One operand with the output's shape, the other equal, row-broadcast or a scalar; for add/mul either order. */
function binaryPlan(a: Tensor, b: Tensor, out: { shape: readonly number[]; dtype: string }, commutative: boolean): BinaryPlan | string {
  if (out.dtype !== 'float32') return `rejects ${out.dtype} (float32 only)`;
  // Two contiguous float32 operands of the output's shape (most model adds/muls): no order search or
  // broadcast arrays, which cost ~0.2 µs of a ~2 µs call at 1×768 (issue #16 measurement), twice per op.
  if (a.dtype === 'float32' && b.dtype === 'float32' && !a.isWrappedNumber && !b.isWrappedNumber && shapesEqual(a.shape, out.shape) && shapesEqual(b.shape, out.shape) && a.isContiguous() && b.isContiguous())
    return { full: a, other: rows(b), period: a.numel() };
  const orders: [Tensor, Tensor][] = commutative ? [[a, b], [b, a]] : [[a, b]];
  for (const [full, other] of orders) {
    if (full.dtype !== 'float32' || full.isWrappedNumber || !full.isContiguous() || !shapesEqual(full.shape, out.shape)) continue;
    if (other.isWrappedNumber && typeof other.wrappedValue === 'number') return { full, other: Float32Array.of(other.wrappedValue), period: 1 };
    if (other.dtype !== 'float32') continue;
    const period = broadcastPeriod(other, out.shape);
    if (period !== undefined) return { full, other: rows(other), period };
  }
  return 'needs a contiguous float32 operand of the output shape and the other equal, row-broadcast or scalar (other layouts stay on cpu)';
}

function binaryKernel(op: number, commutative: boolean): Kernel<BinaryInputs, NoAttrs> {
  return {
    supports({ a, b }, _attrs, [out]) {
      const p = binaryPlan(a, b, out!, commutative);
      return typeof p === 'string' ? p : true;
    },
    run({ a, b }, _attrs, [out]) {
      const p = binaryPlan(a, b, out!, commutative);
      if (typeof p === 'string') throw new Error(`native binary: ${p}`);
      if (out!.numel() === 0) return;
      nativeLib().call('nk_binary', op, rows(p.full), p.other, out32(out!), out!.numel(), p.period);
    },
  };
}

export const addKernel = binaryKernel(NkBinary.add, true);
export const mulKernel = binaryKernel(NkBinary.mul, true);
export const subKernel = binaryKernel(NkBinary.sub, false);
export const divKernel = binaryKernel(NkBinary.div, false);

/**
 * The row stride of a view that is rows of its last dim, unit-stride, with the leading dims collapsing into one
 * row index (a contiguous tensor, or a column slice of one such as `gu.narrow(-1, 0, I)`); undefined otherwise.
 */
function rowStride(t: Tensor): number | undefined {
  const nd = t.ndim;
  if (nd === 0 || t.isContiguous()) return nd === 0 ? 1 : t.shape[nd - 1]!;
  if (t.shape[nd - 1]! > 1 && t.strides[nd - 1] !== 1) return undefined;
  let ld: number | undefined;
  let expect: number | undefined; // the stride the next outer dim must have to continue the row index
  for (let d = nd - 2; d >= 0; d--) {
    if (t.shape[d] === 1) continue;
    if (ld === undefined) ld = t.strides[d]!;
    else if (t.strides[d] !== expect) return undefined;
    expect = t.strides[d]! * t.shape[d]!;
  }
  return ld ?? t.shape[nd - 1]!;
}

/** The storage from a view's first element on, as koffi passes it. */
function from(t: Tensor): Float32Array {
  const d = t.storage.data as Float32Array;
  return t.offset === 0 ? d : d.subarray(t.offset);
}

/**
 * silu(a)·b of two float32 operands of the output's shape (Llama's gate and up), each contiguous or rows of a
 * column slice (a fused gate_up projection narrowed in two); broadcasts stay on cpu.
 */
export const siluMulKernel: Kernel<BinaryInputs, NoAttrs> = {
  supports({ a, b }, _attrs, [out]) {
    const r = needF32(a, b);
    if (r) return r;
    if (!shapesEqual(a.shape, out!.shape) || !shapesEqual(b.shape, out!.shape)) return 'silu_mul needs both operands of the output shape (broadcasts stay on cpu)';
    if (rowStride(a) === undefined || rowStride(b) === undefined) return 'silu_mul needs contiguous operands or rows of one (unit-stride last dim)';
    return true;
  },
  run({ a, b }, _attrs, [out]) {
    const n = out!.ndim === 0 ? 1 : out!.shape[out!.ndim - 1]!;
    if (out!.numel() === 0) return;
    nativeLib().call('nk_silu_mul', from(a), rowStride(a)!, from(b), rowStride(b)!, out32(out!), out!.numel() / n, n);
  },
};

// ---- casts ----

const isNkFloat = (d: string): d is keyof typeof NkFloat => d in NkFloat;

/** The elements of a contiguous tensor in its storage's own representation (16-bit formats as bit patterns). */
function elements(t: Tensor): Float32Array | Uint16Array {
  const d = t.storage.data as Float32Array | Uint16Array;
  return t.offset === 0 && d.length === t.numel() ? d : d.subarray(t.offset, t.offset + t.numel());
}

/**
 * float32 ↔ float16 ↔ bfloat16 of a contiguous input, bit-exact with the cpu kernel (core/half.ts), NaN
 * patterns included: float32 → bfloat16 NaN is PyTorch's vector-loop 0xffff where its cast would take the
 * vector loop (castsVectorized), else 0x7fc0.
 */
export const castKernel: Kernel<UnaryInputs, CastAttrs> = {
  supports({ x }, { dtype }) {
    if (!isNkFloat(x.dtype) || !isNkFloat(dtype) || x.dtype === dtype) return `casts only between float32, float16 and bfloat16 (got ${x.dtype} -> ${dtype})`;
    return needContiguous('cast', x) ?? true;
  },
  run({ x }, { dtype }, [out]) {
    if (!isNkFloat(x.dtype) || !isNkFloat(dtype)) throw new Error(`native cast: ${x.dtype} -> ${dtype} is not a float format pair`);
    const nan = x.dtype === 'float32' && castsVectorized(x) ? 0xffff : 0x7fc0;
    nativeLib().call('nk_cast', elements(x), NkFloat[x.dtype], elements(out!), NkFloat[dtype], x.numel(), nan);
  },
};

// ---- embedding ----

/**
 * Rows of a float32/float16/bfloat16 weight whose rows are unit-stride (any row stride), gathered by contiguous
 * int32/int64 indices: one memcpy per row. An index out of range fails in the library before anything is
 * written; the cpu kernel's check then raises the same IndexError the cpu backend gives.
 */
export const embeddingKernel: Kernel<EmbeddingInputs, Record<string, never>> = {
  supports({ indices, weight }) {
    if (!isNkFloat(weight.dtype)) return `embedding rejects a ${weight.dtype} weight (float32, float16, bfloat16 only)`;
    if (indices.dtype !== 'int32' && indices.dtype !== 'int64') return `embedding rejects ${indices.dtype} indices (int32, int64 only)`;
    if (weight.shape[1]! > 1 && weight.strides[1] !== 1) return 'embedding needs weight rows with unit stride';
    if (weight.shape[0]! > 1 && weight.strides[0]! < weight.shape[1]!) return 'embedding needs weight rows that do not overlap (row stride >= dim)';
    return needContiguous('embedding indices', indices) ?? true;
  },
  run({ indices, weight }, _attrs, [out]) {
    const [num, dim] = weight.shape as [number, number];
    const n = indices.numel();
    if (n === 0 || dim === 0) return;
    const w = weight.storage.data as Float32Array | Uint16Array;
    const id = indices.storage.data as Int32Array | BigInt64Array;
    try {
      nativeLib().call(
        'nk_embedding',
        weight.offset === 0 ? w : w.subarray(weight.offset), w.BYTES_PER_ELEMENT, num, dim, num > 1 ? weight.strides[0]! : dim,
        indices.offset === 0 ? id : id.subarray(indices.offset), indices.dtype === 'int64' ? 1 : 0, n, elements(out!),
      );
    } catch (e) {
      if (e instanceof NativeError && e.status === NK_E_INDEX) checkedIndices('embedding', indices, num, `weight ${weight.dtype}${formatShape(weight.shape)} (num_embeddings ${num})`);
      throw e;
    }
  },
};

// ---- row ops ----

function lastDimSoftmax(log: number): Kernel<UnaryInputs, SoftmaxAttrs> {
  return {
    supports({ x }, { dim }) {
      if (x.ndim === 0) return 'a 0-dim input stays on cpu';
      if (dim !== -1 && dim !== x.ndim - 1) return `only the last dim (got dim ${dim} of ${x.ndim})`;
      return needF32(x) ?? needContiguous('softmax', x) ?? true;
    },
    run({ x }, _attrs, [out]) {
      const n = x.shape[x.ndim - 1]!;
      nativeLib().call('nk_softmax', rows(x), out32(out!), n === 0 ? 0 : x.numel() / n, n, log);
    },
  };
}

export const softmaxKernel = lastDimSoftmax(0);
export const logSoftmaxKernel = lastDimSoftmax(1);

export const rmsNormKernel: Kernel<RmsNormInputs, RmsNormAttrs> = {
  supports: ({ x, weight }) => needF32(x, weight) ?? needContiguous('rms_norm', x, weight) ?? true,
  run({ x, weight }, { eps }, [out]) {
    const n = x.shape[x.ndim - 1]!;
    nativeLib().call('nk_rms_norm', rows(x), weight ? rows(weight) : null, out32(out!), n === 0 ? 0 : x.numel() / n, n, eps);
  },
};

export const layerNormKernel: Kernel<LayerNormInputs, LayerNormAttrs> = {
  supports: ({ x, weight, bias }) => needF32(x, weight, bias) ?? needContiguous('layer_norm', x, weight, bias) ?? true,
  run({ x, weight, bias }, { normalizedShape, eps }, [out]) {
    const n = normalizedShape.reduce((p, d) => p * d, 1);
    nativeLib().call('nk_layer_norm', rows(x), weight ? rows(weight) : null, bias ? rows(bias) : null, out32(out!), n === 0 ? 0 : x.numel() / n, n, eps);
  },
};

/** cos/sin rows per x row: the tables must be contiguous trailing dims of x ([T, D] broadcast over batch/heads). */
function ropeTableRows(x: Tensor, cos: Tensor, sin: Tensor): number | string {
  if (!shapesEqual(cos.shape, sin.shape)) return 'cos and sin of different shapes stay on cpu';
  if (!cos.isContiguous() || !sin.isContiguous()) return 'needs contiguous cos/sin tables';
  const d = x.shape[x.ndim - 1]!;
  const p = broadcastPeriod(cos, x.shape);
  if (p === undefined || p % d !== 0 || cos.shape[cos.ndim - 1] !== d) return 'needs cos/sin tables that are trailing dims of the input (e.g. [T, D] for [B, H, T, D])';
  return p / d;
}

/** Start of each row (last dim) of a view whose last dim is unit-stride, in row-major order of its shape. */
function rowOffsets(x: Tensor): Int32Array {
  const nd = x.ndim;
  const n = x.numel() / x.shape[nd - 1]!;
  const out = new Int32Array(n);
  const idx = new Array<number>(Math.max(0, nd - 1)).fill(0);
  let off = x.offset;
  for (let r = 0; r < n; r++) {
    out[r] = off;
    for (let d = nd - 2; d >= 0; d--) {
      off += x.strides[d]!;
      if (++idx[d]! < x.shape[d]!) break;
      off -= idx[d]! * x.strides[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Rope reads x through its strides when the last dim is unit-stride (Llama rotates q and k as (B, H, T, D)
 * transposes of the projection, views that are not contiguous); the output is contiguous.
 */
export const ropeKernel: Kernel<RopeInputs, Record<string, never>> = {
  supports({ x, cos, sin }, _a, [out]) {
    const r = needF32(x, cos, sin) ?? needF32(out as Tensor);
    if (r) return r;
    if (x.ndim > 0 && x.strides[x.ndim - 1] !== 1 && x.shape[x.ndim - 1]! > 1) return 'rope needs a unit-stride last dim';
    if (x.storage.data.length > INT32_MAX) return 'storage beyond 2^31 elements stays on cpu';
    const t = ropeTableRows(x, cos, sin);
    return typeof t === 'string' ? t : true;
  },
  run({ x, cos, sin }, _a, [out]) {
    const t = ropeTableRows(x, cos, sin);
    if (typeof t === 'string') throw new Error(`native rope: ${t}`);
    const d = x.shape[x.ndim - 1]!;
    if (x.numel() === 0) return;
    const lib = nativeLib();
    if (x.isContiguous()) lib.call('nk_rope', rows(x), null, rows(cos), rows(sin), out32(out!), x.numel() / d, d, t);
    else lib.call('nk_rope', x.storage.data as Float32Array, rowOffsets(x), rows(cos), rows(sin), out32(out!), x.numel() / d, d, t);
  },
};

// ---- attention ----


/**
 * Element offset (into the storage) of each batch item of a view (shape, strides, offset), row-major over `batch`,
 * broadcasting size-1 dims; GQA maps query head h (the last batch dim) to key/value head ⌊h/groups⌋.
 */
function batchOffsets(t: Pick<Tensor, 'shape' | 'strides' | 'offset'>, batch: readonly number[], groups: number): Int32Array {
  const nb = batch.length;
  const own = t.shape.slice(0, -2);
  const strides = t.strides.slice(0, -2);
  const total = batch.reduce((a, b) => a * b, 1);
  const out = new Int32Array(total);
  const idx = new Array<number>(nb).fill(0);
  for (let i = 0; i < total; i++) {
    let off = t.offset;
    for (let d = 0; d < nb; d++) {
      const td = own.length - nb + d; // aligned from the right, as broadcasting does
      if (td < 0 || own[td] === 1) continue;
      const v = groups > 1 && d === nb - 1 ? Math.floor(idx[d]! / groups) : idx[d]!;
      off += v * strides[td]!;
    }
    out[i] = off;
    for (let d = nb - 1; d >= 0; d--) {
      if (++idx[d]! < batch[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Decode under GQA (one query row, every key visible): the `groups` query heads that share a key/value head
 * become the rows of one item, so the library reads each cached K/V head once for all of them instead of once
 * per query head. The output memory is the same ([…, H, 1, Ev] = […, KV, groups, Ev]).
 */
function decodeGroups(q: Tensor, batch: readonly number[], groups: number): { view: Pick<Tensor, 'shape' | 'strides' | 'offset'>; kvBatch: number[] } | undefined {
  if (q.ndim !== batch.length + 2 || !shapesEqual(q.shape.slice(0, -2), batch)) return undefined; // q itself broadcast: keep per head
  const nd = q.ndim;
  const hStride = q.strides[nd - 3]!;
  const kvBatch = [...batch.slice(0, -1), batch[batch.length - 1]! / groups];
  const view = {
    shape: [...kvBatch, groups, q.shape[nd - 1]!],
    strides: [...q.strides.slice(0, nd - 3), hStride * groups, hStride, q.strides[nd - 1]!],
    offset: q.offset,
  };
  return { view, kvBatch };
}

export const attentionKernel: Kernel<AttentionInputs, AttentionAttrs> = {
  supports({ q, k, v, mask }) {
    const r = needF32(q, k, v);
    if (r) return r;
    if (mask && mask.dtype !== 'bool' && mask.dtype !== 'float32') return `rejects a ${mask.dtype} mask`;
    for (const t of [q, k, v, mask]) if (t && t.storage.data.length > INT32_MAX) return 'storage beyond 2^31 elements stays on cpu';
    return true;
  },
  run({ q, k, v, mask }, { isCausal, scale, causalAlign, enableGqa }, [out]) {
    const d = attentionDims(q, k, v, enableGqa);
    const { L, S, E, Ev } = d;
    const sc = scale ?? 1 / Math.sqrt(E);
    const lib = nativeLib();
    const grouped = L === 1 && d.groups > 1 && !mask && (!isCausal || causalAlign === 'bottom-right') ? decodeGroups(q, d.batch, d.groups) : undefined;
    if (grouped) {
      const { view, kvBatch } = grouped;
      const nd = view.shape.length;
      const [ksS, ksE] = k.strides.slice(-2) as [number, number];
      const [vsS, vsE] = v.strides.slice(-2) as [number, number];
      lib.call(
        'nk_attention',
        q.storage.data as Float32Array, batchOffsets(view, kvBatch, 1), view.strides[nd - 2]!, view.strides[nd - 1]!,
        k.storage.data as Float32Array, batchOffsets(k, kvBatch, 1), ksS, ksE,
        v.storage.data as Float32Array, batchOffsets(v, kvBatch, 1), vsS, vsE,
        null, NkMask.none, null, 0, 0,
        out32(out!), kvBatch.reduce((a, b) => a * b, 1), d.groups, S, E, Ev, sc, 0, 0,
      );
      return;
    }
    const nbatch = d.batch.reduce((a, b) => a * b, 1);
    const m = mask ? mask.expand([...d.batch, L, S]) : undefined;
    const [qsL, qsE] = q.strides.slice(-2) as [number, number];
    const [ksS, ksE] = k.strides.slice(-2) as [number, number];
    const [vsS, vsE] = v.strides.slice(-2) as [number, number];
    const [msL, msS] = m ? (m.strides.slice(-2) as [number, number]) : [0, 0];
    lib.call(
      'nk_attention',
      q.storage.data as Float32Array, batchOffsets(q, d.batch, 1), qsL, qsE,
      k.storage.data as Float32Array, batchOffsets(k, d.batch, d.groups), ksS, ksE,
      v.storage.data as Float32Array, batchOffsets(v, d.batch, d.groups), vsS, vsE,
      m ? (m.storage.data as Uint8Array | Float32Array) : null,
      m ? (m.dtype === 'bool' ? NkMask.bool : NkMask.float) : NkMask.none,
      m ? batchOffsets(m, d.batch, 1) : null, msL, msS,
      out32(out!), nbatch, L, S, E, Ev,
      sc, isCausal ? 1 : 0, causalAlign === 'bottom-right' ? S - L : 0,
    );
  },
};

// ---- copy_ (the KV-cache append) ----

const COPY_MAX_DIMS = 8;

/**
 * copy_ of float32 into float32, any strides (the source broadcast to the destination): one strided copy in C
 * with no staging buffer. A source sharing the destination's storage could overlap it, so that stays on cpu,
 * which stages the source first.
 */
export const copyIntoKernel: Kernel<CopyIntoInputs, Record<string, never>> = {
  supports({ dst, src }) {
    const r = needF32(dst, src);
    if (r) return r;
    if (src.storage === dst.storage) return 'a source sharing the destination storage stays on cpu (staged copy)';
    if (dst.ndim > COPY_MAX_DIMS) return `more than ${COPY_MAX_DIMS} dims stay on cpu`;
    if (dst.storage.data.length > INT32_MAX || src.storage.data.length > INT32_MAX) return 'storage beyond 2^31 elements stays on cpu';
    return true;
  },
  run({ dst, src }) {
    if (dst.numel() === 0) return;
    const s = src.expand(dst.shape);
    const sd = s.storage.data as Float32Array;
    const dd = dst.storage.data as Float32Array;
    nativeLib().call(
      'nk_copy_strided',
      s.offset === 0 ? sd : sd.subarray(s.offset), Int32Array.from(s.strides),
      dst.offset === 0 ? dd : dd.subarray(dst.offset), Int32Array.from(dst.strides),
      Int32Array.from(dst.shape), dst.ndim,
    );
  },
};
