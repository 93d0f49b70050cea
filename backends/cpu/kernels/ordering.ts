/**
 * Sort, flip, scatter/scatter_add, index_add/index_copy and masked_select on the CPU. Elements move as raw
 * stored values (half bit patterns, int64 BigInts); only comparisons and additions decode them.
 */
import { allocStorage, isFloating, type DType, type StorageArray } from '../../../core/dtype.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import { broadcastStrides, contiguousStrides, formatShape, normalizeDim, normalizeDims } from '../../../core/shape.js';
import type { Tensor } from '../../../core/tensor.js';
import type { FlipAttrs, IndexPutAttrs, IndexPutInputs, MaskedSelectInputs, ScatterAttrs, ScatterInputs, SortAttrs } from '../../../ops/ordering.js';
import { runLoop } from '../loops.js';
import { checkedIndices, offsetsOf } from './indexing.js';

/** Storage seen as one array type for element moves (values never interpreted here). */
type Raw = { [i: number]: number | bigint };
const raw = (a: StorageArray): Raw => a as unknown as Raw;

/** A 0-d tensor as a 1-element 1-d view, so kernels index one dim uniformly (PyTorch treats it as rank 1 here). */
const atLeast1d = (t: Tensor): Tensor => (t.ndim === 0 ? t.reshape([1]) : t);
const without = <T>(a: readonly T[], d: number): T[] => a.filter((_, k) => k !== d);

function copyInto(out: Tensor, x: Tensor): void {
  runLoop('a', out.storage.data, x.shape, [{ data: x.storage.data, offset: x.offset, strides: x.strides }]);
}

/** Stored value -> comparable/addable JS value for the dtype (half types decoded to float). */
function decoder(d: DType): (v: number | bigint) => number | bigint {
  if (d === 'float16') return (v) => f16ToF32(v as number);
  if (d === 'bfloat16') return (v) => bf16ToF32(v as number);
  return (v) => v;
}
function encoder(d: DType): (v: number | bigint) => number | bigint {
  if (d === 'float16') return (v) => f32ToF16(v as number);
  if (d === 'bfloat16') return (v) => f32ToBf16(v as number);
  if (d === 'int64') return (v) => BigInt.asIntN(64, v as bigint);
  return (v) => v;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const SLOT = 2 ** 20;

/**
 * A uint32 that orders like the value: float bits with the sign handled (NaN above +inf, -0 equal to +0),
 * integers offset by 2^31. Used to sort (key·2^20 + position) doubles natively: the position breaks ties,
 * which is exactly a stable sort, without a JS comparator call per comparison.
 */
function orderKey(float: boolean): (v: number) => number {
  if (!float) return (v) => v + 2147483648;
  return (v) => {
    if (v !== v) return 0xffffffff;
    F32[0] = v === 0 ? 0 : v;
    const b = U32[0]!;
    return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
  };
}

export const sortKernel: Kernel<{ readonly x: Tensor }, SortAttrs> = {
  run({ x }, { dim, descending }, [values, indices]) {
    if (x.numel() === 0) return;
    const X = atLeast1d(x);
    const d = normalizeDim('sort', dim, x.ndim, x.shape);
    const n = X.shape[d]!;
    const sx = X.strides[d]!;
    const os = contiguousStrides(X.shape);
    const inBase = offsetsOf(without(X.shape, d), without(X.strides, d), X.offset);
    const outBase = offsetsOf(without(X.shape, d), without(os, d), 0);
    const src = raw(X.storage.data);
    const dv = raw(values!.storage.data);
    const di = indices!.storage.data as BigInt64Array;
    const dec = decoder(x.dtype);
    const float = isFloating(x.dtype);
    const keys = new Array<number | bigint>(n);
    // NaN is above everything (PyTorch's order); ties compare equal, and Array.prototype.sort is stable, so
    // equal keys keep their input order in both directions.
    const asc = (i: number, j: number): number => {
      const a = keys[i]!;
      const b = keys[j]!;
      if (float) {
        const an = a !== a;
        const bn = b !== b;
        if (an || bn) return an === bn ? 0 : an ? 1 : -1;
      }
      return a < b ? -1 : a > b ? 1 : 0;
    };
    const cmp = descending ? (i: number, j: number) => asc(j, i) : asc;
    const perm = new Array<number>(n);
    if (x.dtype !== 'int64' && n <= SLOT) {
      const key = orderKey(float);
      const packed = new Float64Array(n);
      const od = os[d]!;
      // Indices are small and non-negative: on little-endian hosts write the low 32-bit word of each int64
      // (the fresh output's high words are already 0) instead of building a BigInt per element.
      const words = LITTLE_ENDIAN ? new Int32Array(di.buffer, di.byteOffset, 2 * di.length) : undefined;
      for (let r = 0; r < inBase.length; r++) {
        const b = inBase[r]!;
        for (let j = 0; j < n; j++) {
          const k = key(dec(src[b + j * sx]!) as number);
          packed[j] = (descending ? 0xffffffff - k : k) * SLOT + j;
        }
        packed.sort();
        const o = outBase[r]!;
        for (let j = 0; j < n; j++) {
          const p = packed[j]! % SLOT;
          dv[o + j * od] = src[b + p * sx]!;
          if (words) words[2 * (o + j * od)] = p;
          else di[o + j * od] = BigInt(p);
        }
      }
      return;
    }
    for (let r = 0; r < inBase.length; r++) {
      const b = inBase[r]!;
      for (let j = 0; j < n; j++) {
        keys[j] = dec(src[b + j * sx]!);
        perm[j] = j;
      }
      perm.sort(cmp);
      const o = outBase[r]!;
      for (let j = 0; j < n; j++) {
        dv[o + j * os[d]!] = src[b + perm[j]! * sx]!;
        di[o + j * os[d]!] = BigInt(perm[j]!);
      }
    }
  },
};

export const flipKernel: Kernel<{ readonly x: Tensor }, FlipAttrs> = {
  run({ x }, { dims }, [out]) {
    if (x.numel() === 0) return;
    const ds = normalizeDims('flip', dims, x.shape);
    // Reading x through negated strides from its last element along each flipped dim reverses those dims.
    let offset = x.offset;
    const strides = x.strides.map((s, k) => {
      if (!ds.includes(k)) return s;
      offset += (x.shape[k]! - 1) * s;
      return -s;
    });
    runLoop('a', out!.storage.data, x.shape, [{ data: x.storage.data, offset, strides }]);
  },
};

/** `value` in the storage representation of `dtype` (PyTorch's scalar conversion: round, truncate, wrap). */
function storedScalar(dtype: DType, value: number | boolean): number | bigint {
  const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  const a = allocStorage(dtype, 1);
  if (dtype === 'float16') a[0] = f32ToF16(v);
  else if (dtype === 'bfloat16') a[0] = f32ToBf16(v);
  else if (dtype === 'bool') a[0] = v !== 0 ? 1 : 0;
  else if (dtype === 'int64') a[0] = BigInt(Math.trunc(v));
  else a[0] = isFloating(dtype) ? v : Math.trunc(v);
  return a[0]!;
}

/** dst[t] = dst[t] + alpha·v in the dtype's arithmetic (half: in float32, rounded once; ints wrap). */
function adder(dtype: DType, alpha: number): (dst: Raw, t: number, v: number | bigint) => void {
  const dec = decoder(dtype);
  const enc = encoder(dtype);
  if (dtype === 'int64') {
    const a = BigInt(alpha);
    return (dst, t, v) => void (dst[t] = enc((dst[t] as bigint) + a * (v as bigint)));
  }
  if (alpha === 1) return (dst, t, v) => void (dst[t] = enc((dec(dst[t]!) as number) + (dec(v) as number)));
  return (dst, t, v) => void (dst[t] = enc((dec(dst[t]!) as number) + alpha * (dec(v) as number)));
}

export const scatterKernel: Kernel<ScatterInputs, ScatterAttrs> = {
  run({ x, index, src }, { dim, reduce, value }, [out]) {
    const o = out!;
    copyInto(o, x);
    if (index.numel() === 0) return;
    const X = atLeast1d(x);
    const I = atLeast1d(index);
    const d = normalizeDim('scatter', dim, x.ndim, x.shape);
    const op = reduce === 'add' ? 'scatter_add' : 'scatter';
    const idx = checkedIndices(op, index, X.shape[d]!, `dim ${d} of input ${x.dtype}${formatShape(x.shape)}`);
    const os = contiguousStrides(X.shape);
    const sd = os[d]!;
    const targets = offsetsOf(I.shape, os.map((s, k) => (k === d ? 0 : s)), 0);
    const dst = raw(o.storage.data);
    let from: Float64Array;
    let data: Raw;
    if (src) {
      const S = atLeast1d(src);
      from = offsetsOf(I.shape, S.strides, S.offset);
      data = raw(S.storage.data);
    } else {
      from = new Float64Array(idx.length);
      data = [storedScalar(x.dtype, value!)] as unknown as Raw;
    }
    if (reduce === 'add') {
      const add = adder(x.dtype, 1);
      for (let p = 0; p < idx.length; p++) add(dst, targets[p]! + idx[p]! * sd, data[from[p]!]!);
    } else for (let p = 0; p < idx.length; p++) dst[targets[p]! + idx[p]! * sd] = data[from[p]!]!;
  },
};

export const indexPutKernel: Kernel<IndexPutInputs, IndexPutAttrs> = {
  run({ x, index, source }, { dim, mode, alpha }, [out]) {
    const o = out!;
    copyInto(o, x);
    if (index.numel() === 0 || x.numel() === 0) return;
    const X = atLeast1d(x);
    const S = atLeast1d(source);
    const d = normalizeDim(mode === 'add' ? 'index_add' : 'index_copy', dim, x.ndim, x.shape);
    const idx = checkedIndices(mode === 'add' ? 'index_add' : 'index_copy', index, X.shape[d]!, `dim ${d} of input ${x.dtype}${formatShape(x.shape)}`);
    const os = contiguousStrides(X.shape);
    const slice = X.shape.map((n, k) => (k === d ? 1 : n));
    const tRel = offsetsOf(slice, os, 0);
    const sRel = offsetsOf(slice, S.strides, S.offset);
    const dst = raw(o.storage.data);
    const data = raw(S.storage.data);
    const add = mode === 'add' ? adder(x.dtype, alpha) : undefined;
    for (let j = 0; j < idx.length; j++) {
      const tb = idx[j]! * os[d]!;
      const sb = j * S.strides[d]!;
      if (add) for (let p = 0; p < tRel.length; p++) add(dst, tb + tRel[p]!, data[sb + sRel[p]!]!);
      else for (let p = 0; p < tRel.length; p++) dst[tb + tRel[p]!] = data[sb + sRel[p]!]!;
    }
  },
};

export const maskedSelectKernel: Kernel<MaskedSelectInputs, Record<string, never>> = {
  run({ x, mask }, _attrs, [out]) {
    if (out!.numel() === 0) return;
    const shape = x.shape.length >= mask.shape.length ? [...x.shape] : [...mask.shape];
    for (let k = 1; k <= shape.length; k++) {
      const a = x.shape[x.ndim - k] ?? 1;
      const b = mask.shape[mask.ndim - k] ?? 1;
      shape[shape.length - k] = a === 1 ? b : a;
    }
    const xo = offsetsOf(shape, broadcastStrides(x.shape, x.strides, shape), x.offset);
    const mo = offsetsOf(shape, broadcastStrides(mask.shape, mask.strides, shape), mask.offset);
    const m = mask.storage.data as Uint8Array;
    const src = raw(x.storage.data);
    const dst = raw(out!.storage.data);
    let w = 0;
    for (let i = 0; i < xo.length; i++) if (m[mo[i]!] !== 0) dst[w++] = src[xo[i]!]!;
  },
};
