/**
 * AWQ (Lin et al.; AMD's ext/llm-awq, ../shared/RYZENAI_NOTES.md §2.4), w4 asymmetric, per group of G along K:
 * 1. per scale group (linears sharing an input, see select.ts): grid over α = i/grid, i = 0..grid−1, of
 *    s = clamp(mean|x|^α, 1e-4) / sqrt(max·min); keep the α whose pseudo-quantized linears Q(W·s)/s give the
 *    smallest mean squared output error on the calibration rows (all of the group's outputs together); fold s
 *    into the op before (norm weight/bias, or the previous linear's output rows) and the fcs' columns.
 * 2. optional clipping search per linear (not q/k, as AWQ): per output row and group, the max |w| shrink ratio
 *    in {1, 0.95, …, 0.5} minimizing that group's output error; weights are clamped to it.
 * 3. uint4 group quantization (quantizeWeightUint4: AWQ's pseudo_quantize_tensor).
 * Step 1 changes only rounding in the float model; step 2 changes the float weights.
 */
import { roundHalfEven } from '../../ops/quant.js';
import type { CausalLM } from '../causal_lm.js';
import type { Linear } from '../nn/layers.js';
import type { InputStats } from './calibrate.js';
import { divideOutput, floatData, multiplyColumns, setData } from './fold.js';
import { moduleAt, scaleGroups } from './select.js';

/** AWQ's pseudo-quantization (quantize then dequantize) of rows [N, K] per group of G, optionally clipped to ±clip[n·groups + g]. */
export function fakeQuantW4(w: Float32Array, N: number, K: number, G: number, clip?: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  const groups = K / G;
  for (let n = 0; n < N; n++)
    for (let g = 0; g < groups; g++) {
      const o = n * K + g * G;
      const c = clip ? clip[n * groups + g]! : Infinity;
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < G; j++) {
        const v = Math.min(c, Math.max(-c, w[o + j]!));
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const s = Math.fround(Math.max(Math.fround(hi - lo), Math.fround(1e-5)) / 15);
      const z = Math.max(0, Math.min(15, -roundHalfEven(Math.fround(lo / s))));
      for (let j = 0; j < G; j++) {
        const v = Math.min(c, Math.max(-c, w[o + j]!));
        const q = Math.max(0, Math.min(15, roundHalfEven(Math.fround(v / s)) + z));
        out[o + j] = (q - z) * s;
      }
    }
  return out;
}

/** Σ over rows t and outputs n of (x_t · d_n)², x [T, K], d [N, K]. */
function outputSquaredError(x: Float32Array, T: number, d: Float32Array, N: number, K: number): number {
  let e = 0;
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[xo + k]! * d[wo + k]!;
      e += acc * acc;
    }
  }
  return e;
}

export interface AwqOptions {
  readonly groupSize: number;
  /** Grid points over α in [0, 1) (default 20, as AWQ). */
  readonly grid?: number;
  /** Run the clipping search (default true). */
  readonly clip?: boolean;
  /** Linears that will be quantized (groups with other fcs are skipped). */
  readonly targets?: readonly string[];
  /** The group size each linear will use (when K is not a multiple of groupSize). */
  readonly groupSizeOf?: (path: string, inFeatures: number) => number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface AwqResult {
  readonly groups: { prev: string; fcs: readonly string[]; alpha: number; errorRatio: number }[];
  readonly clipped: { path: string; meanRatio: number }[];
}

/** Steps 1 and 2 on the float model, using calibration rows; the caller quantizes afterwards. */
export function awqSearch(model: CausalLM, stats: ReadonlyMap<string, InputStats>, o: AwqOptions): AwqResult {
  const grid = o.grid ?? 20;
  const targets = o.targets ? new Set(o.targets) : undefined;
  const gsOf = o.groupSizeOf ?? ((_p: string, _k: number) => o.groupSize);
  const groups = scaleGroups(model, true).filter((g) => !targets || g.fcs.every((f) => targets.has(f)));
  const result: AwqResult = { groups: [], clipped: [] };
  const clipTargets = [...stats.keys()].filter((p) => (!targets || targets.has(p)) && !/(^|\.)(q_proj|k_proj)$/.test(p));
  const total = groups.length + (o.clip === false ? 0 : clipTargets.length);
  let done = 0;
  for (const g of groups) {
    const st = stats.get(g.fcs[0]!)!;
    const K = st.inFeatures;
    const T = st.numRows;
    const X = st.rows;
    const fcs = g.fcs.map((f) => moduleAt(model, f) as Linear);
    const G = gsOf(g.fcs[0]!, K);
    const Ws = fcs.map((fc) => floatData(fc.weight));
    const mean = new Float32Array(K);
    for (let j = 0; j < K; j++) mean[j] = st.absSum[j]! / Math.max(1, st.count);
    let best = { alpha: 0, err: Infinity, s: new Float32Array(K).fill(1) };
    let base = NaN;
    for (let i = 0; i < grid; i++) {
      const alpha = i / grid;
      const s = new Float32Array(K);
      let mx = 0;
      let mn = Infinity;
      for (let j = 0; j < K; j++) {
        s[j] = Math.max(Math.pow(mean[j]!, alpha), 1e-4);
        mx = Math.max(mx, s[j]!);
        mn = Math.min(mn, s[j]!);
      }
      const norm = Math.sqrt(mx * mn);
      for (let j = 0; j < K; j++) s[j] = s[j]! / norm;
      let err = 0;
      fcs.forEach((fc, f) => {
        const W = Ws[f]!;
        const N = fc.outFeatures;
        const scaled = new Float32Array(W.length);
        for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) scaled[r * K + c] = W[r * K + c]! * s[c]!;
        const q = fakeQuantW4(scaled, N, K, G);
        // The error of (x / s) · Q(W·s)ᵀ against x · Wᵀ: d = Q(W·s)/s − W.
        for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) q[r * K + c] = q[r * K + c]! / s[c]! - W[r * K + c]!;
        err += outputSquaredError(X, T, q, N, K);
      });
      if (i === 0) base = err;
      if (err < best.err) best = { alpha, err, s };
    }
    divideOutput(g.prev, best.s);
    for (const fc of fcs) multiplyColumns(fc, best.s);
    // The recorded inputs of these fcs are now x / s (and stay shared by the rest of the recipe).
    for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) X[t * K + j] = X[t * K + j]! / best.s[j]!;
    for (const f of g.fcs.slice(1)) {
      const r = stats.get(f);
      if (r && r.rows !== X) for (let t = 0; t < r.numRows; t++) for (let j = 0; j < K; j++) r.rows[t * K + j] = r.rows[t * K + j]! / best.s[j]!;
    }
    result.groups.push({ prev: g.prev.path, fcs: g.fcs, alpha: best.alpha, errorRatio: base > 0 ? best.err / base : 1 });
    o.onProgress?.(++done, total);
  }
  if (o.clip !== false)
    for (const path of clipTargets) {
      const st = stats.get(path)!;
      const fc = moduleAt(model, path) as Linear;
      const K = fc.inFeatures;
      const N = fc.outFeatures;
      const G = gsOf(path, K);
      const groupsPerRow = K / G;
      const T = Math.min(st.numRows, 128);
      const W = floatData(fc.weight);
      const clip = new Float32Array(N * groupsPerRow);
      let ratioSum = 0;
      for (let n = 0; n < N; n++)
        for (let gi = 0; gi < groupsPerRow; gi++) {
          const o0 = n * K + gi * G;
          let amax = 0;
          for (let j = 0; j < G; j++) amax = Math.max(amax, Math.abs(W[o0 + j]!));
          let bestErr = Infinity;
          let bestRatio = 1;
          const row = W.subarray(o0, o0 + G);
          for (let step = 0; step <= 10; step++) {
            const ratio = 1 - step / 20;
            const q = fakeQuantW4(row, 1, G, G, Float32Array.of(amax * ratio));
            let e = 0;
            for (let t = 0; t < T; t++) {
              let acc = 0;
              const xo = t * K + gi * G;
              for (let j = 0; j < G; j++) acc += st.rows[xo + j]! * (q[j]! - row[j]!);
              e += acc * acc;
            }
            if (e < bestErr) {
              bestErr = e;
              bestRatio = ratio;
            }
          }
          clip[n * groupsPerRow + gi] = amax * bestRatio;
          ratioSum += bestRatio;
        }
      for (let n = 0; n < N; n++)
        for (let k = 0; k < K; k++) {
          const c = clip[n * groupsPerRow + Math.floor(k / G)]!;
          W[n * K + k] = Math.min(c, Math.max(-c, W[n * K + k]!));
        }
      setData(fc.weight, W);
      result.clipped.push({ path, meanRatio: ratioSum / (N * groupsPerRow) });
      o.onProgress?.(++done, total);
    }
  return result;
}
