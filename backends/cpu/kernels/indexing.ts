/**
 * Indexing kernels: repeat, index_select, gather, embedding, masked_fill, tril/triu. They move raw stored
 * elements (float16/bfloat16 bit patterns, int64 BigInts) without converting them, so results are exact for
 * every dtype. Index tensors are read once into an Int32Array and range-checked before anything is copied.
 */
import { allocStorage, type StorageArray } from '../../../core/dtype.js';
import { IndexError } from '../../../core/errors.js';
import { f32ToBf16, f32ToF16 } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import { broadcastStrides, formatShape, normalizeDim } from '../../../core/shape.js';
import type { Tensor } from '../../../core/tensor.js';
import type { UnaryInputs } from '../../../ops/elementwise.js';
import type {
  DimAttrs,
  EmbeddingInputs,
  IndexInputs,
  MaskedFillAttrs,
  MaskedFillInputs,
  RepeatAttrs,
  TriAttrs,
} from '../../../ops/indexing.js';
import { runLoop } from '../loops.js';
import { around, gather as gatherRaw } from './util.js';

/**
 * Storage arrays seen as one array type for element moves only (`dst[i] = src[j]`, `set`, `subarray`): the
 * values are never interpreted, so a BigInt64Array or Uint16Array moves through this view unchanged.
 */
type Raw = Float64Array;
const raw = (a: StorageArray): Raw => a as unknown as Raw;

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The index values as an Int32Array, each checked against [0, size). The message names the op, the value,
 * the range and what is indexed; int64 values are printed exactly.
 */
export function checkedIndices(op: string, index: Tensor, size: number, what: string): Int32Array {
  const src = gatherRaw(index);
  const n = src.length;
  const out = new Int32Array(n);
  if (src instanceof BigInt64Array && !LITTLE_ENDIAN) {
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (v < 0n || v >= BigInt(size)) throw new IndexError(`${op}: index ${v} is out of range [0, ${size}) for ${what}`);
      out[i] = Number(v);
    }
  } else if (src instanceof BigInt64Array) {
    // BigInt arithmetic per element is slow: read each int64 as its two 32-bit words (little-endian). A value
    // fits int32 exactly when the high word is the low word's sign extension; anything else is out of range.
    const words = new Int32Array(src.buffer, src.byteOffset, 2 * n);
    for (let i = 0; i < n; i++) {
      const lo = words[2 * i]!;
      if (words[2 * i + 1] !== lo >> 31 || lo < 0 || lo >= size)
        throw new IndexError(`${op}: index ${src[i]} is out of range [0, ${size}) for ${what}`);
      out[i] = lo;
    }
  } else {
    const s = src as Int32Array;
    for (let i = 0; i < n; i++) {
      const v = s[i]!;
      if (v < 0 || v >= size) throw new IndexError(`${op}: index ${v} is out of range [0, ${size}) for ${what}`);
      out[i] = v;
    }
  }
  return out;
}

/** Storage offsets of every element of (shape, strides, offset) in row-major order. */
export function offsetsOf(shape: readonly number[], strides: readonly number[], offset: number): Float64Array {
  let cur = Float64Array.of(offset);
  for (let k = 0; k < shape.length; k++) {
    const size = shape[k]!;
    const st = strides[k]!;
    const next = new Float64Array(cur.length * size);
    let o = 0;
    for (let i = 0; i < cur.length; i++) {
      const base = cur[i]!;
      for (let j = 0; j < size; j++) next[o++] = base + j * st;
    }
    cur = next;
  }
  return cur;
}

/** out[p, j, q] = src[p, idx[j], q] for a contiguous src of [pre, n, post] and out of [pre, idx.length, post]. */
function selectRows(src: Raw, dst: Raw, pre: number, n: number, post: number, idx: Int32Array): void {
  const k = idx.length;
  let o = 0;
  for (let p = 0; p < pre; p++) {
    const base = p * n;
    for (let j = 0; j < k; j++) {
      const from = (base + idx[j]!) * post;
      if (post > 16) {
        dst.set(src.subarray(from, from + post), o);
        o += post;
      } else for (let q = 0; q < post; q++) dst[o++] = src[from + q]!;
    }
  }
}

export const repeatKernel: Kernel<UnaryInputs, RepeatAttrs> = {
  run({ x }, { repeats }, [out]) {
    // Tiling is a strided copy: out viewed as [r0, s0, r1, s1, ...] reads x with stride 0 on every r dim.
    const lead = repeats.length - x.ndim;
    const shape: number[] = [];
    const strides: number[] = [];
    for (let i = 0; i < repeats.length; i++) {
      shape.push(repeats[i]!, i < lead ? 1 : x.shape[i - lead]!);
      strides.push(0, i < lead ? 0 : x.strides[i - lead]!);
    }
    runLoop('a', out!.storage.data, shape, [{ data: x.storage.data, offset: x.offset, strides }]);
  },
};

export const indexSelectKernel: Kernel<IndexInputs, DimAttrs> = {
  run({ x, index }, { dim }, [out]) {
    const o = out!;
    const d = normalizeDim('index_select', dim, x.ndim, x.shape);
    const n = x.ndim === 0 ? 1 : x.shape[d]!;
    const idx = checkedIndices('index_select', index, n, `dim ${d} of input ${x.dtype}${formatShape(x.shape)}`);
    if (o.numel() === 0) return;
    if (x.ndim === 0) {
      raw(o.storage.data)[0] = raw(x.storage.data)[x.offset]!;
      return;
    }
    const { pre, post } = around(x.shape, d);
    selectRows(raw(gatherRaw(x)), raw(o.storage.data), pre, n, post, idx);
  },
};

export const embeddingKernel: Kernel<EmbeddingInputs, Record<string, never>> = {
  run({ indices, weight }, _attrs, [out]) {
    const [num, dim] = weight.shape as [number, number];
    const idx = checkedIndices('embedding', indices, num, `weight ${weight.dtype}${formatShape(weight.shape)} (num_embeddings ${num})`);
    if (out!.numel() === 0) return;
    selectRows(raw(gatherRaw(weight)), raw(out!.storage.data), 1, num, dim, idx);
  },
};

export const gatherKernel: Kernel<IndexInputs, DimAttrs> = {
  run({ x, index }, { dim }, [out]) {
    const d = normalizeDim('gather', dim, x.ndim, x.shape);
    const size = x.ndim === 0 ? 1 : x.shape[d]!;
    const idx = checkedIndices('gather', index, size, `dim ${d} of input ${x.dtype}${formatShape(x.shape)}`);
    const total = idx.length;
    if (total === 0) return;
    const src = raw(x.storage.data);
    const dst = raw(out!.storage.data);
    if (x.ndim === 0) {
      for (let o = 0; o < total; o++) dst[o] = src[x.offset]!; // every index is 0
      return;
    }
    if (index.ndim === 0) {
      dst[0] = src[x.offset + idx[0]! * x.strides[0]!]!; // a 0-d index into a 1-d input
      return;
    }
    // Walk the index's shape over x's strides with dim d's stride taken out; d's offset comes from the index.
    const nd = index.ndim;
    const sd = x.strides[d]!;
    const strides = x.strides.map((s, k) => (k === d ? 0 : s));
    const inner = index.shape[nd - 1]!;
    const innerStride = strides[nd - 1]!;
    const bases = offsetsOf(index.shape.slice(0, nd - 1), strides.slice(0, nd - 1), x.offset);
    let o = 0;
    for (let r = 0; r < bases.length; r++) {
      const base = bases[r]!;
      for (let j = 0; j < inner; j++, o++) dst[o] = src[base + j * innerStride + idx[o]! * sd]!;
    }
  },
};

/** `value` in out's storage representation, as a one-element array (PyTorch's Scalar conversion: truncate, round). */
function fillValue(out: Tensor, value: number | boolean): StorageArray {
  const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  const dtype = out.dtype;
  const a = allocStorage(dtype, 1);
  if (dtype === 'float16') a[0] = f32ToF16(v);
  else if (dtype === 'bfloat16') a[0] = f32ToBf16(v);
  else if (dtype === 'float32') a[0] = v;
  else if (dtype === 'bool') a[0] = v !== 0 ? 1 : 0;
  else if (dtype === 'int64') a[0] = BigInt(Math.trunc(v));
  else a[0] = Math.trunc(v); // typed-array stores wrap (uint8 -1 is 255, as PyTorch allows)
  return a;
}

export const maskedFillKernel: Kernel<MaskedFillInputs, MaskedFillAttrs> = {
  run({ x, mask }, { value }, [out]) {
    const o = out!;
    runLoop('b !== 0 ? c : a', o.storage.data, o.shape, [
      { data: x.storage.data, offset: x.offset, strides: broadcastStrides(x.shape, x.strides, o.shape) },
      { data: mask.storage.data, offset: mask.offset, strides: broadcastStrides(mask.shape, mask.strides, o.shape) },
      { data: fillValue(o, value), offset: 0, strides: new Array<number>(o.ndim).fill(0) },
    ]);
  },
};

/** Copy the kept part of each row of every matrix; the rest of the fresh (zeroed) output stays +0. */
function triangleKernel(lower: boolean): Kernel<UnaryInputs, TriAttrs> {
  return {
    run({ x }, { diagonal }, [out]) {
      const o = out!;
      if (o.numel() === 0) return;
      const nd = x.ndim;
      const rows = x.shape[nd - 2]!;
      const cols = x.shape[nd - 1]!;
      const rs = x.strides[nd - 2]!;
      const cs = x.strides[nd - 1]!;
      const bases = offsetsOf(x.shape.slice(0, nd - 2), x.strides.slice(0, nd - 2), x.offset);
      const src = raw(x.storage.data);
      const dst = raw(o.storage.data);
      for (let b = 0; b < bases.length; b++) {
        for (let i = 0; i < rows; i++) {
          // tril keeps j <= i + diagonal; triu keeps j >= i + diagonal.
          const from = lower ? 0 : Math.min(Math.max(i + diagonal, 0), cols);
          const to = lower ? Math.min(Math.max(i + diagonal + 1, 0), cols) : cols;
          const s = bases[b]! + i * rs;
          const t = (b * rows + i) * cols;
          for (let j = from; j < to; j++) dst[t + j] = src[s + j * cs]!;
        }
      }
    },
  };
}

export const trilKernel = triangleKernel(true);
export const triuKernel = triangleKernel(false);
