/**
 * SmoothQuant (Xiao et al.; AMD's RyzenAI-SW ext/smoothquant, ../shared/RYZENAI_NOTES.md §2.1): migrate activation
 * outliers into the weights with a per-input-channel scale
 *   s_j = clamp(max|X_j|^α / max(max_i |W_ij| over the fcs sharing the input, 1e-5)^(1−α), min = 1e-5),
 * folded into the preceding LayerNorm/RMSNorm (weight and bias ÷ s) and the fcs' input columns (× s).
 * The float model computes the same function afterwards; then the linears are quantized w8a8.
 */
import { ArgumentError } from '../../core/errors.js';
import type { CausalLM } from '../causal_lm.js';
import type { Linear } from '../nn/layers.js';
import type { InputStats } from './calibrate.js';
import { columnAbsMax, divideOutput, multiplyColumns } from './fold.js';
import { moduleAt, scaleGroups } from './select.js';

export interface SmoothResult {
  /** The groups smoothed: norm path → fcs, with the largest scale applied (for the report). */
  readonly groups: { norm: string; fcs: readonly string[]; maxScale: number; minScale: number }[];
}

/** The smoothing scales of one group, in float32 steps as the reference does. */
export function smoothScales(actMax: Float32Array, weightMax: Float32Array, alpha: number): Float32Array {
  const s = new Float32Array(actMax.length);
  for (let j = 0; j < s.length; j++) {
    const a = Math.fround(Math.pow(actMax[j]!, alpha));
    const w = Math.fround(Math.pow(Math.max(weightMax[j]!, Math.fround(1e-5)), 1 - alpha));
    s[j] = Math.max(Math.fround(a / w), Math.fround(1e-5));
  }
  return s;
}

/**
 * Fold the smoothing scales into the float model, for the norm groups whose fcs are all in `targets` and were
 * calibrated (`stats` from calibrate()).
 */
export function smoothQuantFold(model: CausalLM, stats: ReadonlyMap<string, InputStats>, options: { alpha?: number; targets?: readonly string[] } = {}): SmoothResult {
  const alpha = options.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentError(`smoothquant: alpha ${alpha} must be in [0, 1]`);
  const targets = options.targets ? new Set(options.targets) : undefined;
  const out: SmoothResult['groups'] = [];
  for (const g of scaleGroups(model, false)) {
    if (targets && !g.fcs.every((f) => targets.has(f))) continue;
    const st = stats.get(g.fcs[0]!);
    if (!st) throw new ArgumentError(`smoothquant: no calibration statistics for ${g.fcs[0]}`);
    const fcs = g.fcs.map((f) => moduleAt(model, f) as Linear);
    const s = smoothScales(st.absMax, columnAbsMax(fcs), alpha);
    divideOutput(g.prev, s);
    for (const fc of fcs) multiplyColumns(fc, s);
    out.push({ norm: g.prev.path, fcs: g.fcs, maxScale: Math.max(...s), minScale: Math.min(...s) });
  }
  return { groups: out };
}
