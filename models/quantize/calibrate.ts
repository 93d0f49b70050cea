/**
 * Calibration: run the float model over windows of calibration tokens and record, at the input of each chosen
 * linear, per-channel max |x| (SmoothQuant), per-channel mean |x| (AWQ) and a sample of input rows (AWQ's
 * searches). Inputs are captured by swapping each linear for a recording wrapper (Module.replaceChild) for the
 * duration of the run: the model code has no hooks and no backend names.
 */
import { readRegularText } from '../io/regular_file.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import type { CausalLM } from '../causal_lm.js';
import type { LinearLike } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { linearModules } from './select.js';
import { idsTensor } from '../generate.js';

export interface InputStats {
  readonly inFeatures: number;
  /** max |x_j| over every calibration token. */
  readonly absMax: Float32Array;
  /** Σ |x_j| (double) and the token count: mean |x_j| = absSum / count. */
  readonly absSum: Float64Array;
  count: number;
  /** A sample of input rows, row-major [rows, inFeatures] (evenly spaced over each window). */
  rows: Float32Array;
  numRows: number;
}

export interface CalibrationOptions {
  /** Tokens per forward window (default 256, capped by the model's positions). */
  readonly window?: number;
  /** Input rows kept per linear for the AWQ searches (default 256; 0 keeps only the statistics). */
  readonly maxRows?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

class Recorder extends Module implements LinearLike {
  constructor(
    readonly inner: LinearLike,
    readonly stats: InputStats,
    readonly rowsPerWindow: number,
    readonly maxRows: number,
  ) {
    super();
  }

  get inFeatures(): number {
    return this.inner.inFeatures;
  }

  get outFeatures(): number {
    return this.inner.outFeatures;
  }

  forward(x: Tensor): Tensor {
    const s = this.stats;
    const K = s.inFeatures;
    const data = x.to('float32').contiguous().toArray() as Float32Array;
    const T = data.length / K;
    for (let t = 0; t < T; t++)
      for (let j = 0; j < K; j++) {
        const a = Math.abs(data[t * K + j]!);
        if (a > s.absMax[j]!) s.absMax[j] = a;
        s.absSum[j] += a;
      }
    s.count += T;
    const keep = Math.min(this.rowsPerWindow, T, this.maxRows - s.numRows);
    for (let i = 0; i < keep; i++) {
      const t = Math.floor(((i + 0.5) * T) / keep);
      s.rows.set(data.subarray(t * K, (t + 1) * K), (s.numRows + i) * K);
    }
    s.numRows += Math.max(0, keep);
    return this.inner.forward(x);
  }
}

/** Record input statistics of the linears at `paths` over `ids` (split into windows). */
export function calibrate(model: CausalLM, ids: readonly number[], paths: readonly string[], options: CalibrationOptions = {}): Map<string, InputStats> {
  if (ids.length < 2) throw new ArgumentError(`calibration: ${ids.length} token(s) given; at least 2 are needed`);
  const maxPos = model.config.modelType === 'opt' ? model.config.maxPositions : Infinity;
  const window = Math.min(options.window ?? 256, ids.length, maxPos);
  const windows = Math.ceil(ids.length / window);
  const maxRows = options.maxRows ?? 256;
  const rowsPerWindow = Math.ceil(maxRows / windows);
  const wanted = new Set(paths);
  const swapped: { parent: Module; name: string; original: LinearLike }[] = [];
  const stats = new Map<string, InputStats>();
  for (const l of linearModules(model)) {
    if (!wanted.has(l.path)) continue;
    const K = l.linear.inFeatures;
    const s: InputStats = { inFeatures: K, absMax: new Float32Array(K), absSum: new Float64Array(K), count: 0, rows: new Float32Array(maxRows * K), numRows: 0 };
    stats.set(l.path, s);
    l.parent.replaceChild(l.name, new Recorder(l.linear, s, rowsPerWindow, maxRows));
    swapped.push({ parent: l.parent, name: l.name, original: l.linear });
  }
  try {
    for (let w = 0; w < windows; w++) {
      const chunk = ids.slice(w * window, (w + 1) * window);
      // lastOnly: the head's logits are not needed, only the linears' inputs.
      model.forward(idsTensor(chunk), { lastOnly: true });
      options.onProgress?.(Math.min((w + 1) * window, ids.length), ids.length);
    }
  } finally {
    for (const s of swapped) s.parent.replaceChild(s.name, s.original);
  }
  for (const s of stats.values()) s.rows = s.rows.slice(0, s.numRows * s.inFeatures);
  return stats;
}

/**
 * The default calibration text: models/demo/kjv-calib.txt, 15 chapters (51 kB) of the demo models' TRAINING
 * split (never the held-out kjv-valid.txt), made by models/demo/prepare.mjs and shipped, so the smoothquant and
 * awq recipes work on a fresh clone. Found from the sources (models/quantize/) or the build (dist/models/quantize/).
 */
export function defaultCalibrationFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..'), join(here, '..', '..', '..')].map((root) => join(root, 'models', 'demo', 'kjv-calib.txt'));
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new ArgumentError(`calibration: the shipped default text is missing (looked for ${candidates.join(' and ')}); give a calibration file`);
  return found;
}

/** Calibration texts larger than this are refused (only a prefix is tokenized anyway): 1 GiB. */
export const MAX_CALIBRATION_BYTES = 1024 ** 3;

/** The first `tokens` token ids of a text file, tokenized with `encode`. */
export function calibrationIds(file: string, encode: (text: string) => number[], tokens: number): number[] {
  // Only a regular file of bounded size: a FIFO or device named as calibration text must not hang the process.
  const text = readRegularText(file, 'the calibration text', MAX_CALIBRATION_BYTES);
  // Tokenize a prefix (16 characters a token is generous), growing it until it gives enough tokens: a
  // multi-megabyte training text is not tokenized whole for 4096 tokens.
  let chars = Math.max(1024, 16 * tokens);
  let ids = encode(text.slice(0, chars));
  while (ids.length < tokens + 1 && chars < text.length) {
    chars *= 2;
    ids = encode(text.slice(0, chars));
  }
  if (ids.length < 2) throw new ArgumentError(`calibration text ${file} has ${ids.length} token(s)`);
  return ids.slice(0, tokens); // the cut prefix's last token may be partial: never reached for tokens < ids.length
}
