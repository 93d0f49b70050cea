/**
 * `opshift quantize`: load a float model folder, quantize its linears with a recipe (w8a8, smoothquant, awq,
 * pergrp), save the result as a model folder (safetensors + quantization_config, tokenizer files copied) that
 * `generate`, `eval perplexity` and `bench model` open like any other.
 *
 * Calibration (smoothquant, awq): the first --calib-tokens tokens of --calib FILE, tokenized with the model's
 * tokenizer. Without --calib, the shipped sample of the demo models' training text (models/demo/kjv-calib.txt,
 * see defaultCalibrationFile) — never the held-out kjv-valid.txt.
 */
import { checkOutputDir, readTextOption } from './cli_files.js';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import { loadModel } from '../models/load.js';
import { calibrationIds, defaultCalibrationFile, quantize, RECIPES, type QuantizeReport, type Recipe, type RecipeName } from '../models/quantize/index.js';
import { quantizationConfig, saveQuantized } from '../models/quantize/checkpoint.js';
import { loadTokenizerIfAny } from './generate.js';
import { resolveModelSource } from './model_source.js';

export interface QuantizeCliOptions {
  readonly model: string;
  readonly recipe: string;
  readonly out: string;
  readonly alpha?: number;
  readonly groupSize?: number;
  readonly perChannel?: boolean;
  readonly calib?: string;
  readonly calibTokens?: number;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly noClip?: boolean;
  /** Tied models: quantize a copy of the head (default true; false: --no-tied-head). */
  readonly tiedHead?: boolean;
}

export interface QuantizeCliResult {
  readonly report: QuantizeReport;
  readonly out: string;
  readonly files: string[];
  readonly calibration: string | undefined;
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'generation_config.json'];

/** The recipe the flags describe, with every inconsistent combination refused. */
export function recipeFromFlags(o: QuantizeCliOptions): Recipe {
  const name = o.recipe as RecipeName;
  if (!RECIPES.includes(name)) throw new ArgumentError(`--recipe '${o.recipe}': choose one of ${RECIPES.join(', ')}`);
  if (o.alpha !== undefined && name !== 'smoothquant') throw new ArgumentError(`--alpha applies to --recipe smoothquant only`);
  if (o.alpha !== undefined && !(o.alpha >= 0 && o.alpha <= 1)) throw new ArgumentError(`--alpha ${o.alpha} must be in [0, 1]`);
  if (o.groupSize !== undefined && name !== 'awq' && name !== 'pergrp') throw new ArgumentError(`--group-size applies to --recipe awq or pergrp only`);
  if (o.groupSize !== undefined && ![32, 64, 128].includes(o.groupSize)) throw new ArgumentError(`--group-size ${o.groupSize} must be 32, 64 or 128`);
  if (o.perChannel && name !== 'w8a8' && name !== 'smoothquant') throw new ArgumentError(`--per-channel applies to the w8a8 and smoothquant recipes only`);
  if (o.noClip && name !== 'awq') throw new ArgumentError(`--no-clip applies to --recipe awq only`);
  switch (name) {
    case 'w8a8':
      return { method: 'w8a8', perChannel: o.perChannel };
    case 'smoothquant':
      return { method: 'smoothquant', alpha: o.alpha ?? 0.5, perChannel: o.perChannel };
    case 'awq':
      return { method: 'awq', groupSize: o.groupSize ?? 128, clip: !o.noClip };
    case 'pergrp':
      return { method: 'pergrp', groupSize: o.groupSize ?? 128 };
  }
}

export async function runQuantize(o: QuantizeCliOptions, onProgress?: (stage: string, done: number, total: number) => void): Promise<QuantizeCliResult> {
  const recipe = recipeFromFlags(o);
  if (!o.out) throw new ArgumentError('--out DIR is required');
  if (o.calibTokens !== undefined && (!Number.isInteger(o.calibTokens) || o.calibTokens < 2)) throw new ArgumentError(`--calib-tokens ${o.calibTokens} must be an integer ≥ 2`);
  checkOutputDir('--out', o.out);
  // Read once here, so a FIFO, device or directory is refused before the model loads.
  if (o.calib !== undefined) readTextOption('--calib', o.calib);
  const src = await resolveModelSource(o.model);
  if (src.dir === undefined) throw new ArgumentError(`--model ${o.model}: a synthetic model has no folder to save from (use 'bench model --quant' to time quantized synthetic shapes)`);
  const needsCalib = recipe.method === 'smoothquant' || recipe.method === 'awq';
  let calibration: number[] | undefined;
  let calibFile: string | undefined;
  if (needsCalib) {
    calibFile = o.calib ?? defaultCalibrationFile();
    const tok = loadTokenizerIfAny(src.dir, false);
    if (!tok) throw new ArgumentError(`--calib needs the model's tokenizer (no tokenizer.json in ${src.dir})`);
    calibration = calibrationIds(calibFile, (t) => tok.encode(t), o.calibTokens ?? 4096);
  }
  const model = loadModel(src.load);
  const report = quantize(model, recipe, { include: o.include, exclude: o.exclude, tiedHead: o.tiedHead, calibration, onProgress });
  const config = JSON.parse(readFileSync(join(src.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  delete config.quantization_config;
  config.torch_dtype = 'float32';
  const files = saveQuantized(model, o.out, config, quantizationConfig(report, calibFile));
  for (const f of TOKENIZER_FILES) if (existsSync(join(src.dir, f))) copyFileSync(join(src.dir, f), join(o.out, f));
  return { report, out: o.out, files, calibration: calibFile };
}

/** A one-line progress bar: `awq search [########------------]  8/20`. */
export function progressBar(stage: string, done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const n = Math.round(f * width);
  return `${stage.padEnd(12)} [${'#'.repeat(n)}${'-'.repeat(width - n)}] ${done}/${total}`;
}

export function formatQuantize(r: QuantizeCliResult): string {
  const rep = r.report;
  const lines = [
    `recipe ${JSON.stringify(rep.recipe)}: ${rep.quantized.length} linears quantized (${[...new Set(rep.quantized.map((q) => q.format + (q.groupSize ? ` g${q.groupSize}` : '')))].join(', ')}), kept in float: ${rep.kept.join(', ') || 'none'}`,
  ];
  if (r.calibration) lines.push(`calibration: ${rep.calibrationTokens} tokens of ${r.calibration}`);
  if (rep.smooth) lines.push(`smoothed ${rep.smooth.groups.length} norm groups; scales ${Math.min(...rep.smooth.groups.map((g) => g.minScale)).toPrecision(3)} … ${Math.max(...rep.smooth.groups.map((g) => g.maxScale)).toPrecision(3)}`);
  if (rep.awq)
    lines.push(
      `awq: ${rep.awq.groups.length} scale groups, α ${rep.awq.groups.map((g) => g.alpha.toFixed(2)).join(' ')}; output error vs α=0: mean ${(rep.awq.groups.reduce((a, g) => a + g.errorRatio, 0) / Math.max(1, rep.awq.groups.length)).toFixed(3)}; ${rep.awq.clipped.length} linears clipped (mean ratio ${(rep.awq.clipped.reduce((a, c) => a + c.meanRatio, 0) / Math.max(1, rep.awq.clipped.length)).toFixed(3)})`,
    );
  lines.push(`wrote ${r.out} (${r.files.length} weight file${r.files.length > 1 ? 's' : ''}) in ${(rep.ms / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
