/**
 * Pad and Im2Col on the CPU. Both only move stored elements (or write the fill value), so they are exact for
 * every dtype; the convolution's arithmetic happens in the MatMul its decomposition dispatches.
 */
import { allocStorage, isFloating, type DType, type StorageArray } from '../../../core/dtype.js';
import { f32ToBf16, f32ToF16 } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import { padPairs, type Im2ColAttrs, type PadAttrs } from '../../../ops/conv.js';

type Raw = { [i: number]: number | bigint };
const raw = (a: StorageArray): Raw => a as unknown as Raw;

function stored(dtype: DType, v: number): number | bigint {
  const a = allocStorage(dtype, 1);
  if (dtype === 'float16') a[0] = f32ToF16(v);
  else if (dtype === 'bfloat16') a[0] = f32ToBf16(v);
  else if (dtype === 'int64') a[0] = BigInt(Math.trunc(v));
  else a[0] = isFloating(dtype) ? v : Math.trunc(v);
  return a[0]!;
}

/** Source index along a dim of size n for output position o (before = left pad), or -1 for the fill value. */
function sourceIndex(mode: PadAttrs['mode'], o: number, before: number, n: number): number {
  const i = o - before;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'constant':
      return -1;
    case 'replicate':
      return i < 0 ? 0 : n - 1;
    case 'reflect':
      // Mirror without repeating the edge: -1 -> 1, n -> n - 2 (pads are < n, so one reflection suffices).
      return i < 0 ? -i : 2 * (n - 1) - i;
    case 'circular':
      return ((i % n) + n) % n;
  }
}

export const padKernel: Kernel<{ readonly x: Tensor }, PadAttrs> = {
  run({ x }, { pad, mode, value }, [out]) {
    const o = out!;
    if (o.numel() === 0) return;
    const pairs = padPairs(x, pad);
    // Per output dim: the storage offset contribution of each position, NaN where the fill value goes
    // (NaN survives the sums below, marking every element with a padded coordinate).
    let offs = Float64Array.of(x.offset);
    for (let k = 0; k < o.ndim; k++) {
      const size = o.shape[k]!;
      const [before] = pairs.get(k) ?? [0, 0];
      const n = x.shape[k]!;
      const st = x.strides[k]!;
      const contrib = new Float64Array(size);
      for (let j = 0; j < size; j++) {
        const i = sourceIndex(mode, j, before, n);
        contrib[j] = i < 0 ? NaN : i * st;
      }
      const next = new Float64Array(offs.length * size);
      let w = 0;
      for (let p = 0; p < offs.length; p++) for (let j = 0; j < size; j++) next[w++] = offs[p]! + contrib[j]!;
      offs = next;
    }
    const src = raw(x.storage.data);
    const dst = raw(o.storage.data);
    const fill = stored(o.dtype, value);
    for (let i = 0; i < offs.length; i++) {
      const s = offs[i]!;
      dst[i] = s === s ? src[s]! : fill;
    }
  },
};

export const im2colKernel: Kernel<{ readonly x: Tensor }, Im2ColAttrs> = {
  run({ x }, { kernel, dilation, padding, stride }, [out]) {
    const o = out!;
    if (o.numel() === 0) return;
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const [kh, kw] = kernel as [number, number];
    const [dh, dw] = dilation as [number, number];
    const [sh, sw] = stride as [number, number];
    const top = padding[0]!;
    const left = padding[2]!;
    const [xn, xc, xh, xw] = x.strides as [number, number, number, number];
    const L = o.shape[2]!;
    const wo = (W + left + padding[3]! - dw * (kw - 1) - 1) / sw + 1;
    const Wo = Math.floor(wo);
    const Ho = L / Wo;
    const src = raw(x.storage.data);
    const dst = raw(o.storage.data);
    // Stride 1 along a unit-stride input row: each output row segment is one contiguous input run, copied
    // with set() instead of element by element (the common 'same'/'valid' convolution).
    const runs = sw === 1 && xw === 1;
    const srcArr = x.storage.data as Float32Array;
    const dstArr = o.storage.data as Float32Array;
    // The output is fresh (zero-filled), so padded positions are simply not written.
    let row = 0;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++, row++) {
            const base = row * L;
            for (let oh = 0; oh < Ho; oh++) {
              const ih = oh * sh - top + i * dh;
              if (ih < 0 || ih >= H) continue;
              const rowOff = x.offset + n * xn + c * xc + ih * xh;
              const ob = base + oh * Wo;
              if (runs) {
                // Valid ow: 0 <= ow - left + j·dw < W.
                const lo = Math.max(0, left - j * dw);
                const hi = Math.min(Wo, W + left - j * dw);
                if (hi > lo) dstArr.set(srcArr.subarray(rowOff + lo - left + j * dw, rowOff + hi - left + j * dw), ob + lo);
                continue;
              }
              for (let ow = 0; ow < Wo; ow++) {
                const iw = ow * sw - left + j * dw;
                if (iw >= 0 && iw < W) dst[ob + ow] = src[rowOff + iw * xw]!;
              }
            }
          }
  },
};
