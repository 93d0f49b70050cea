/**
 * `opshift serve --quant`: quantize the model in memory when the worker loads it, as `bench model --quant` does,
 * so a synthetic model (which has no saved quantized folder for --quant-dir) can be served quantized. Every
 * linear is quantized, lm_head included, the same recipe bench model uses (llama.cpp's Q8_0 / Q4_0 files quantize
 * the output matrix too), so serve and bench model figures describe the same model.
 */
import { ArgumentError } from '../../core/errors.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { quantize, type Recipe } from '../../models/quantize/index.js';

export const SERVE_QUANTS = ['w8a8', 'w4'] as const;
export type ServeQuant = (typeof SERVE_QUANTS)[number];

/** The recipe of each format: w8a8 = int8 weights, one scale per tensor; w4 = uint4 groups of 128. */
const RECIPE: Record<ServeQuant, Recipe> = { w8a8: { method: 'w8a8' }, w4: { method: 'pergrp', groupSize: 128 } };

/** Checks a `--quant` value before any model loads (the worker would only fail later, after the load). */
export function checkServeQuant(value: unknown): ServeQuant | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (SERVE_QUANTS as readonly string[]).includes(value)) return value as ServeQuant;
  throw new ArgumentError(`opshift serve: --quant '${String(value)}' is not a format served quantized in memory; use one of ${SERVE_QUANTS.join(', ')} (or --quant-dir for a saved quantized folder)`);
}

/** Quantizes every linear of `model` in place; returns how many were swapped. */
export function quantizeAtLoad(model: CausalLM, quant: ServeQuant): number {
  return quantize(model, RECIPE[quant], { exclude: [] }).quantized.length;
}
