/**
 * `opshift generate` and `opshift logits`: a model from a folder, hub id, `demo:…` or `synthetic:…`, run
 * under a dispatch policy, with the per-op profile on request.
 */
import { ArgumentError } from '../core/errors.js';
import { parsePolicy } from '../core/policy_spec.js';
import { defaultPolicy } from './default_policy.js';
import { withPolicy } from '../core/policy.js';
import { profile, type Profile } from '../core/profiler.js';
import type { CausalLM } from '../models/causal_lm.js';
import { generate, idsTensor, type GenerateOptions, type GenerateResult } from '../models/generate.js';
import { loadModel, type LoadModelOptions } from '../models/load.js';
import { writeNpy } from '../models/io/npy.js';
import { resolveModelSource } from './model_source.js';
import { loadTokenizer, tokenizerFiles, type HfTokenizer } from '../models/tokenizer.js';

export interface LoadedModel {
  readonly model: CausalLM;
  /** The folder it came from (tokenizer files live there), undefined for synthetic models. */
  readonly dir: string | undefined;
  readonly loadMs: number;
}

export async function openModel(source: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const t0 = performance.now();
  const resolved = await resolveModelSource(source);
  const model = loadModel(resolved.load, options);
  return { model, dir: resolved.dir, loadMs: performance.now() - t0 };
}

export function parseIds(text: string): number[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (ids.length === 0 || ids.some((v) => !Number.isInteger(v) || v < 0)) throw new ArgumentError(`--ids '${text}': expected comma-separated non-negative integers`);
  return ids;
}

/** Runs fn under the --dispatch policy, or the CLI's measured default (tools/default_policy.ts), profiling when asked. */
export function underPolicy<T>(dispatch: string | undefined, wantProfile: boolean, fn: () => T): { result: T; profile: Profile<T> | undefined } {
  const run = () => withPolicy(dispatch ? parsePolicy(dispatch) : defaultPolicy(), fn);
  if (!wantProfile) return { result: run(), profile: undefined };
  const p = profile(run);
  return { result: p.result, profile: p };
}

export interface GenerateRun extends GenerateResult {
  readonly profile: Profile<GenerateResult> | undefined;
}

export function runGenerate(model: CausalLM, prompt: number[], options: GenerateOptions & { dispatch?: string; profile?: boolean }): GenerateRun {
  const { result, profile: p } = underPolicy(options.dispatch, options.profile ?? false, () => generate(model, prompt, options));
  return { ...result, profile: p };
}

/** The last position's float32 logits ([vocab]), or every position's ([T, vocab]). */
export function runLogits(model: CausalLM, ids: number[], options: { allPositions?: boolean; dispatch?: string; out: string }): { shape: number[] } {
  const input = idsTensor(ids); // (1, T)
  const { result: logits } = underPolicy(options.dispatch, false, () => model.forward(input, { lastOnly: !options.allPositions }));
  const V = logits.shape[2]!;
  const shape = options.allPositions ? [ids.length, V] : [V];
  writeNpy(options.out, logits.to('float32').contiguous().toTypedArray() as Float32Array, shape);
  return { shape };
}

/** True when the folder has tokenizer files (tokenizer.json, or GPT-2 style vocab.json + merges.txt). */
export function hasTokenizer(dir: string | undefined): dir is string {
  return dir !== undefined && tokenizerFiles(dir) !== undefined;
}

/** The folder's tokenizer, or undefined when there is none and none is needed (ids in, ids out). */
export function loadTokenizerIfAny(dir: string | undefined, required: boolean): HfTokenizer | undefined {
  if (hasTokenizer(dir)) return loadTokenizer(dir);
  if (required) throw new ArgumentError(`--prompt needs a tokenizer.json in the model folder${dir ? ` (${dir})` : ' (synthetic models have none: use --ids)'}`);
  return undefined;
}
