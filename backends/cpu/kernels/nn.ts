/**
 * Fused CPU kernels for the nn composites: one pass per row in double precision, rounding where PyTorch's
 * reference rounds (documented per kernel), instead of the decompositions' chain of full-size temporaries.
 */
import { encodeHalf } from '../../../core/half.js';
import type { Kernel } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import {
  attentionDims,
  type AttentionAttrs,
  type AttentionInputs,
  type LayerNormAttrs,
  type LayerNormInputs,
  type RmsNormAttrs,
  type RmsNormInputs,
  type RopeInputs,
} from '../../../ops/nn.js';
import { contiguousFloat, floatSpan } from '../access.js';
import { fastExp } from '../math.js';

/** Where to put float32 results: the output itself when it is float32, else a scratch array for store(). */
function target(out: Tensor): Float32Array {
  return out.dtype === 'float32' ? (out.storage.data as Float32Array) : new Float32Array(out.numel());
}

/** Finish: round the scratch values into a float16/bfloat16 output (nothing to do for float32). */
function store(out: Tensor, values: Float32Array): void {
  if (values === out.storage.data) return;
  if (out.dtype === 'float32') (out.storage.data as Float32Array).set(values);
  else encodeHalf(values, out.storage.data as Uint16Array, out.dtype as 'float16' | 'bfloat16');
}

/** Round a float32 value to `dtype` and back (identity for float32). */
function roundTo(dtype: string): (v: number) => number {
  if (dtype === 'float32') return Math.fround;
  const tmp = new Float32Array(1);
  const bits = new Uint16Array(1);
  const back = new Uint32Array(1);
  const backF = new Float32Array(back.buffer);
  return (v) => {
    tmp[0] = v;
    encodeHalf(tmp, bits, dtype as 'float16' | 'bfloat16');
    if (dtype === 'bfloat16') back[0] = bits[0]! << 16;
    else return halfValue(bits[0]!);
    return backF[0]!;
  };
}

function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** LayerNorm: two-pass mean/variance per row in double, then (x − μ)·rsqrt(σ² + ε)·w + b rounded once. */
export const layerNormKernel: Kernel<LayerNormInputs, LayerNormAttrs> = {
  run({ x, weight, bias }, { normalizedShape, eps }, [out]) {
    const n = normalizedShape.reduce((a, b) => a * b, 1);
    const src = contiguousFloat(x);
    const w = weight ? contiguousFloat(weight) : undefined;
    const b = bias ? contiguousFloat(bias) : undefined;
    const res = target(out!);
    const rows = n === 0 ? 0 : src.length / n;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let mu = 0;
      for (let i = 0; i < n; i++) mu += src[base + i]!;
      mu /= n;
      let v = 0;
      for (let i = 0; i < n; i++) {
        const d = src[base + i]! - mu;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / n + eps);
      for (let i = 0; i < n; i++) {
        let y = (src[base + i]! - mu) * inv;
        if (w) y *= w[i]!;
        if (b) y += b[i]!;
        res[base + i] = y;
      }
    }
    store(out!, res);
  },
};

/**
 * RMSNorm (Llama): mean of squares in double, x·rsqrt(ms + ε) rounded to float32 and then to the input dtype
 * (the HF cast back), then times the weight, rounded to the output dtype.
 */
export const rmsNormKernel: Kernel<RmsNormInputs, RmsNormAttrs> = {
  run({ x, weight }, { eps }, [out]) {
    const n = x.shape[x.ndim - 1]!;
    const src = contiguousFloat(x);
    const w = weight ? contiguousFloat(weight) : undefined;
    const toInput = roundTo(x.dtype);
    const res = target(out!);
    const rows = n === 0 ? 0 : src.length / n;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      let ss = 0;
      for (let i = 0; i < n; i++) ss += src[base + i]! * src[base + i]!;
      const inv = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / n) + eps)));
      for (let i = 0; i < n; i++) {
        const h = toInput(Math.fround(src[base + i]! * inv));
        res[base + i] = w ? w[i]! * h : h;
      }
    }
    store(out!, res);
  },
};

/**
 * Rope: x·cos + rotate_half(x)·sin with each product and the sum rounded to float32, exactly as PyTorch
 * evaluates the formula on float32 tensors.
 */
export const ropeKernel: Kernel<RopeInputs, Record<string, never>> = {
  run({ x, cos, sin }, _attrs, [out]) {
    const d = x.shape[x.ndim - 1]!;
    const half = d / 2;
    const xs = contiguousFloat(x);
    const cs = contiguousFloat(cos.expand(x.shape));
    const sn = contiguousFloat(sin.expand(x.shape));
    const res = target(out!);
    const f = Math.fround;
    for (let base = 0; base < xs.length; base += d) {
      for (let j = 0; j < half; j++) {
        const i = base + j;
        res[i] = f(f(xs[i]! * cs[i]!) + f(-xs[i + half]! * sn[i]!));
        const k = i + half;
        res[k] = f(f(xs[k]! * cs[k]!) + f(xs[i]! * sn[k]!));
      }
    }
    store(out!, res);
  },
};

/** Element offset of batch index `idx` (row-major over `batch`) in a tensor broadcast to it. */
function batchOffsets(t: Tensor, batch: readonly number[], groups: number, gqa: boolean): Int32Array | number[] {
  const nb = batch.length;
  const own = t.shape.slice(0, -2);
  const strides = t.strides.slice(0, -2);
  const total = batch.reduce((a, b) => a * b, 1);
  const out = new Array<number>(total);
  const idx = new Array<number>(nb).fill(0);
  for (let i = 0; i < total; i++) {
    let off = t.offset;
    for (let dIdx = 0; dIdx < nb; dIdx++) {
      const td = own.length - nb + dIdx; // aligned from the right
      if (td < 0) continue;
      let v = idx[dIdx]!;
      // Under GQA the head dim (the last batch dim) maps query head h to key/value head ⌊h / groups⌋.
      if (gqa && dIdx === nb - 1) v = Math.floor(v / groups);
      off += own[td] === 1 ? 0 : v * strides[td]!;
    }
    out[i] = off;
    for (let dIdx = nb - 1; dIdx >= 0; dIdx--) {
      if (++idx[dIdx]! < batch[dIdx]!) break;
      idx[dIdx] = 0;
    }
  }
  return out;
}

/** Attention per (batch, query row): scores in double, mask, stable softmax, weighted sum of values. */
/** Σ a[ai + e]·b[bi + e] over e < n, four independent partial sums (V8 keeps them in registers). */
function dotUnit(a: Float32Array, ai: number, b: Float32Array, bi: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let e = 0;
  for (; e + 3 < n; e += 4) {
    s0 += a[ai + e]! * b[bi + e]!;
    s1 += a[ai + e + 1]! * b[bi + e + 1]!;
    s2 += a[ai + e + 2]! * b[bi + e + 2]!;
    s3 += a[ai + e + 3]! * b[bi + e + 3]!;
  }
  for (; e < n; e++) s0 += a[ai + e]! * b[bi + e]!;
  return s0 + s1 + (s2 + s3);
}

/** acc[e] += p·x[xi + e·xs] for e < n (a function of its own so V8 keeps the arrays in registers). */
function axpy(acc: Float64Array, p: number, x: Float32Array, xi: number, xs: number, n: number): void {
  if (xs === 1) for (let e = 0; e < n; e++) acc[e] += p * x[xi + e]!;
  else for (let e = 0; e < n; e++) acc[e] += p * x[xi + e * xs]!;
}

/** acc[e] += Σr p_r·x[xi + r·rs + e] over four rows: one load/store of acc per four products. */
function axpy4(acc: Float64Array, p0: number, p1: number, p2: number, p3: number, x: Float32Array, xi: number, rs: number, n: number): void {
  const r1 = xi + rs;
  const r2 = r1 + rs;
  const r3 = r2 + rs;
  for (let e = 0; e < n; e++) acc[e] += p0 * x[xi + e]! + p1 * x[r1 + e]! + p2 * x[r2 + e]! + p3 * x[r3 + e]!;
}

export const attentionKernel: Kernel<AttentionInputs, AttentionAttrs> = {
  run({ q, k, v, mask }, { isCausal, scale, causalAlign, enableGqa }, [out]) {
    const d = attentionDims(q, k, v, enableGqa);
    const { L, S, E, Ev } = d;
    const gqa = d.groups > 1;
    const sc = scale ?? 1 / Math.sqrt(E);
    const fq = floatSpan(q);
    const fk = floatSpan(k);
    const fv = floatSpan(v);
    const qo = batchOffsets(q, d.batch, 1, false);
    const ko = batchOffsets(k, d.batch, d.groups, gqa);
    const vo = batchOffsets(v, d.batch, d.groups, gqa);
    const [qsL, qsE] = q.strides.slice(-2) as [number, number];
    const [ksS, ksE] = k.strides.slice(-2) as [number, number];
    const [vsS, vsE] = v.strides.slice(-2) as [number, number];
    // The mask broadcast to (batch…, L, S) as a view; bool stays raw 0/1, float masks decode to float32.
    const m = mask ? mask.expand([...d.batch, L, S]) : undefined;
    const mf = m && m.dtype !== 'bool' ? floatSpan(m) : undefined;
    const mb = m && m.dtype === 'bool' ? (m.storage.data as Uint8Array) : undefined;
    const mo = m ? batchOffsets(m, d.batch, 1, false) : undefined;
    const [msL, msS] = m ? (m.strides.slice(-2) as [number, number]) : [0, 0];
    const offset = causalAlign === 'bottom-right' ? S - L : 0;
    const res = new Float32Array(out!.numel());
    const scores = new Float64Array(S);
    const acc = new Float64Array(Ev);
    for (let bi = 0; bi < qo.length; bi++) {
      const qb = qo[bi]! - fq.shift;
      const kb = ko[bi]! - fk.shift;
      const vb = vo[bi]! - fv.shift;
      for (let i = 0; i < L; i++) {
        // Causal: keys past i + offset get probability 0, so the loops stop there (exp(−inf) adds nothing).
        const jEnd = isCausal ? Math.max(0, Math.min(S, i + offset + 1)) : S;
        const qRow = qb + i * qsL;
        let max = -Infinity;
        for (let j = 0; j < jEnd; j++) {
          const kRow = kb + j * ksS;
          let s: number;
          if (qsE === 1 && ksE === 1) s = dotUnit(fq.data, qRow, fk.data, kRow, E) * sc;
          else {
            let dot = 0;
            for (let e = 0; e < E; e++) dot += fq.data[qRow + e * qsE]! * fk.data[kRow + e * ksE]!;
            s = dot * sc;
          }
          if (m) {
            const p = mo![bi]! + i * msL + j * msS;
            if (mb) {
              if (!mb[p]) s = -Infinity;
            } else s += mf!.data[p - mf!.shift]!;
          }
          scores[j] = s;
          if (s > max || s !== s) max = s;
        }
        let sum = 0;
        for (let j = 0; j < jEnd; j++) {
          const e = fastExp(scores[j]! - max);
          scores[j] = e;
          sum += e;
        }
        acc.fill(0);
        const inv = 1 / sum;
        let j = 0;
        if (vsE === 1)
          for (; j + 3 < jEnd; j += 4)
            axpy4(acc, scores[j]! * inv, scores[j + 1]! * inv, scores[j + 2]! * inv, scores[j + 3]! * inv, fv.data, vb + j * vsS, vsS, Ev);
        for (; j < jEnd; j++) axpy(acc, scores[j]! * inv, fv.data, vb + j * vsS, vsE, Ev);
        // A fully masked row is NaN (softmax of all −inf), as in PyTorch's math reference.
        const o = (bi * L + i) * Ev;
        for (let e = 0; e < Ev; e++) res[o + e] = sum === 0 || sum !== sum ? NaN : acc[e]!;
      }
    }
    store(out!, res);
  },
};
