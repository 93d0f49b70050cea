/**
 * `quantize(model, recipe, options)`: operator-specific quantization — only Linear modules, chosen by
 * include/exclude patterns (default: everything but `lm_head`), swapped IN PLACE for QLinearW8A8 / QLinearW4.
 *
 * Recipes (../shared/RYZENAI_NOTES.md §2):
 * - `w8a8`: PyTorch quantize_dynamic — int8 weights per tensor, symmetric, absmax/127.5 (AMD's choice; `perChannel`
 *   for one scale per output row); activations quantized per call by LinearW8A8 (max|x|/128).
 * - `smoothquant`: calibrate, fold s = max|X|^α / max|W|^(1−α) into the norms (α 0.5), then w8a8.
 * - `awq`: calibrate, activation-aware scale search + clipping, then uint4 per group (g128), asymmetric.
 * - `pergrp`: plain min/max uint4 per group (g 32/64/128), no calibration.
 * A linear whose in_features is not a multiple of the group size uses the largest of 64, 32, 16 that divides it
 * (the demo Llama's 192-wide layers: g64); the report lists it.
 */
import { ArgumentError } from '../../core/errors.js';
import type { CausalLM } from '../causal_lm.js';
import type { Storage } from '../../core/storage.js';
import type { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { QLinearW4, QLinearW8A8 } from '../nn/qlinear.js';
import { awqSearch, type AwqResult } from './awq.js';
import { calibrate } from './calibrate.js';
import { linearModules, matchesPattern, selectLinears, type Selection } from './select.js';
import { smoothQuantFold, type SmoothResult } from './smoothquant.js';
import { quantizeTiedHead, tiedEmbedding } from './tied_head.js';

export type Recipe =
  | { readonly method: 'w8a8'; readonly perChannel?: boolean }
  | { readonly method: 'smoothquant'; readonly alpha?: number; readonly perChannel?: boolean }
  | { readonly method: 'awq'; readonly groupSize?: number; readonly grid?: number; readonly clip?: boolean }
  | { readonly method: 'pergrp'; readonly groupSize?: number };

export type RecipeName = Recipe['method'];
export const RECIPES: readonly RecipeName[] = ['w8a8', 'smoothquant', 'awq', 'pergrp'];

export interface QuantizeOptions extends Selection {
  /** Calibration token ids (smoothquant and awq need them). */
  readonly calibration?: readonly number[];
  /** Tokens per calibration forward (default 256). */
  readonly calibrationWindow?: number;
  /**
   * Tied models (no lm_head Linear; the head is the embedding): add a quantized copy of the head beside the float
   * embedding (tied_head.ts). Default true, as llama.cpp; false, an explicit `exclude` pattern matching
   * `lm_head`, or an `include` list none of whose patterns matches `lm_head`, keeps the float head. (The default
   * exclude list keeps untied heads float; it does not apply here.)
   */
  readonly tiedHead?: boolean;
  /** Progress: stage name, done, total. */
  readonly onProgress?: (stage: string, done: number, total: number) => void;
}

export interface QuantizedLinearInfo {
  readonly path: string;
  readonly format: 'w8a8' | 'w4';
  readonly groupSize?: number;
  /** The quantized copy of a tied model's head (the embedding stays float). */
  readonly tied?: true;
}

export interface QuantizeReport {
  readonly recipe: Recipe;
  readonly quantized: QuantizedLinearInfo[];
  /** Float linears left as they are (excluded). */
  readonly kept: string[];
  readonly smooth?: SmoothResult;
  readonly awq?: AwqResult;
  readonly calibrationTokens: number;
  readonly ms: number;
}

const GROUP_SIZES = [16, 32, 64, 128, 256];

/** The group size a linear of `inFeatures` inputs gets for a requested `groupSize`. */
export function groupSizeFor(inFeatures: number, groupSize: number): number {
  if (inFeatures % groupSize === 0) return groupSize;
  for (const g of [64, 32, 16]) if (g < groupSize && inFeatures % g === 0) return g;
  throw new ArgumentError(`quantize: in_features ${inFeatures} is not a multiple of the group size ${groupSize} (nor of 64, 32 or 16)`);
}

function checkRecipe(r: Recipe): void {
  if (!RECIPES.includes(r.method)) throw new ArgumentError(`quantize: unknown recipe '${String(r.method)}' (${RECIPES.join(', ')})`);
  if ((r.method === 'awq' || r.method === 'pergrp') && r.groupSize !== undefined && !GROUP_SIZES.includes(r.groupSize))
    throw new ArgumentError(`quantize: group size ${r.groupSize} must be one of ${GROUP_SIZES.join(', ')}`);
  if (r.method === 'smoothquant' && r.alpha !== undefined && !(r.alpha >= 0 && r.alpha <= 1)) throw new ArgumentError(`quantize: alpha ${r.alpha} must be in [0, 1]`);
}

/** Quantize `model`'s selected linears in place with `recipe`. */
/**
 * Quantized tensors are a pure function of the float ones and the format: when every float input has an identity
 * (core/storage.ts; a checkpoint tensor or seeded draw, not one changed by folding, which makes new storages), the
 * quantized parameters get one derived from them, so their prepared form can be cached on disk
 * (backends/npu/prepared_cache.ts). Calibrated recipes fold first, so their weights have none.
 */
function deriveIdentity(q: Module, from: readonly (Storage | undefined)[], format: string): void {
  const ids: string[] = [];
  for (const s of from) {
    if (s === undefined) continue;
    const id = s.source?.identity ?? s.identity;
    if (id === undefined) return;
    ids.push(id);
  }
  for (const [name, p] of q.namedParameters()) p.value.storage.identity = `quant|${format}|${name}|${ids.join('|')}`;
}

export function quantize(model: CausalLM, recipe: Recipe, options: QuantizeOptions = {}): QuantizeReport {
  const t0 = performance.now();
  checkRecipe(recipe);
  const targets = selectLinears(model, options);
  const all = linearModules(model);
  const calibrated = recipe.method === 'smoothquant' || recipe.method === 'awq';
  if (calibrated && (options.calibration === undefined || options.calibration.length < 2))
    throw new ArgumentError(`quantize: the ${recipe.method} recipe needs calibration tokens (options.calibration)`);
  let smooth: SmoothResult | undefined;
  let awq: AwqResult | undefined;
  const groupSize = recipe.method === 'awq' || recipe.method === 'pergrp' ? (recipe.groupSize ?? 128) : 0;
  if (calibrated) {
    const stats = calibrate(model, options.calibration!, targets, {
      window: options.calibrationWindow,
      maxRows: recipe.method === 'awq' ? 256 : 0,
      onProgress: (d, t) => options.onProgress?.('calibrate', d, t),
    });
    if (recipe.method === 'smoothquant') smooth = smoothQuantFold(model, stats, { alpha: recipe.alpha, targets });
    else
      awq = awqSearch(model, stats, {
        groupSize,
        grid: recipe.grid,
        clip: recipe.clip,
        targets,
        groupSizeOf: (_p, k) => groupSizeFor(k, groupSize),
        onProgress: (d, t) => options.onProgress?.('awq search', d, t),
      });
  }
  const quantized: QuantizedLinearInfo[] = [];
  const wanted = new Set(targets);
  let done = 0;
  for (const l of all) {
    if (!wanted.has(l.path)) continue;
    const lin: Linear = l.linear;
    if (recipe.method === 'w8a8' || recipe.method === 'smoothquant') {
      const q = QLinearW8A8.fromLinear(lin, { perChannel: recipe.perChannel });
      deriveIdentity(q, [lin.weight.value.storage, lin.bias?.value.storage], `w8a8|${recipe.perChannel === true}`);
      l.parent.replaceChild(l.name, q);
      quantized.push({ path: l.path, format: 'w8a8' });
    } else {
      const g = groupSizeFor(lin.inFeatures, groupSize);
      const q = QLinearW4.fromLinear(lin, g);
      deriveIdentity(q, [lin.weight.value.storage, lin.bias?.value.storage], `w4|${g}`);
      l.parent.replaceChild(l.name, q);
      quantized.push({ path: l.path, format: 'w4', groupSize: g });
    }
    lin.dispose();
    options.onProgress?.('quantize', ++done, targets.length);
  }
  // An include list selects what to quantize: the tied head joins only when a pattern names it.
  const headExcluded = options.exclude?.some((p) => matchesPattern('lm_head', p)) ?? false;
  const headNotIncluded = options.include !== undefined && !options.include.some((p) => matchesPattern('lm_head', p));
  const emb = options.tiedHead === false || headExcluded || headNotIncluded ? undefined : tiedEmbedding(model, model.config.tieWordEmbeddings);
  if (emb) {
    const w8 = recipe.method === 'w8a8' || recipe.method === 'smoothquant';
    const g = w8 ? undefined : groupSizeFor(emb.dim, groupSize);
    const head = quantizeTiedHead(model, emb, w8 ? 'w8a8' : 'w4', { perChannel: w8 ? recipe.perChannel : undefined, groupSize: g });
    deriveIdentity(head, [emb.weight.value.storage], w8 ? `w8a8|${recipe.perChannel === true}` : `w4|${g}`);
    quantized.push({ path: 'lm_head', format: w8 ? 'w8a8' : 'w4', groupSize: g, tied: true });
  }
  return {
    recipe,
    quantized,
    kept: all.map((l) => l.path).filter((p) => !wanted.has(p)),
    smooth,
    awq,
    calibrationTokens: calibrated ? options.calibration!.length : 0,
    ms: performance.now() - t0,
  };
}

export { calibrate, calibrationIds, defaultCalibrationFile, type InputStats, type CalibrationOptions } from './calibrate.js';
export { smoothQuantFold, smoothScales, type SmoothResult } from './smoothquant.js';
export { awqSearch, fakeQuantW4, type AwqOptions, type AwqResult } from './awq.js';
export { matchesPattern, selectLinears, linearModules, scaleGroups, DEFAULT_EXCLUDE, type Selection, type ScaleGroup } from './select.js';
export { AWQ_ORDER, awqToW4, packAwq, unpackAwq, quantizationConfig, saveQuantized, quantMethod, type QuantizationConfig } from './checkpoint.js';
