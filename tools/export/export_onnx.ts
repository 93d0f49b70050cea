/**
 * exportOnnx(model, { out }): trace a causal LM's forward (prefill or decode with a KV cache alike) at two
 * sizes and write it as one ONNX graph with Hugging Face Optimum / ONNX Runtime GenAI names: inputs input_ids,
 * attention_mask, position_ids, past_key_values.{i}.key/value; outputs logits, present.{i}.key/value.
 *
 * The cache is traced through GraphKVCache, which returns cat(past, new) instead of writing a buffer in place:
 * the graph's present.{i} is what Optimum's decoder-with-past models return. The model's forward computes
 * positions and masks from attention_mask in JavaScript, which a trace cannot follow, so the unpadded path is
 * traced and mask_positions.ts rewires it: the graph's rotary rows / learned positions come from position_ids
 * and every attention hides the keys attention_mask marks as padding (padded batches, as ORT GenAI and Optimum
 * feed them). Callers compute position_ids as Hugging Face does (cumsum(attention_mask) - 1 over the tokens).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { ArgumentError } from '../../core/errors.js';
import type { Storage } from '../../core/storage.js';
import { Tensor } from '../../core/tensor.js';
import { cat } from '../../ops/movement.js';
import { fromTypedArray } from '../../ops/creation.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { KVCache } from '../../models/kv_cache.js';
import { quantize } from '../../models/quantize/index.js';
import { ExportError, type Graph } from './graph.js';
import { writeOnnx } from './onnx_file.js';
import { trace } from './trace.js';
import { bindMaskAndPositions } from './mask_positions.js';
import { genaiConfig } from './genai_config.js';

/**
 * A KV cache for tracing: `length` past positions given as graph inputs, update() returns cat(past, new) along
 * the sequence and keeps it as the layer's present. Nothing is written in place.
 */
export class GraphKVCache extends KVCache {
  readonly present: { k: Tensor; v: Tensor }[] = [];
  constructor(
    numLayers: number,
    batch: number,
    kvHeads: number,
    headDim: number,
    readonly past: readonly { readonly k: Tensor; readonly v: Tensor }[],
  ) {
    super(numLayers, batch, kvHeads, 0, headDim);
  }
  override get length(): number {
    return this.past[0]?.k.shape[2] ?? 0;
  }
  override update(layer: number, k: Tensor, v: Tensor, from = 0): { k: Tensor; v: Tensor } {
    if (from !== 0) throw new ExportError(`export: layer ${layer} reads keys from position ${from} (a sliding window that binds): the exported graph attends over the whole cache`);
    const p = this.past[layer]!;
    const out = { k: cat([p.k, k], 2), v: cat([p.v, v], 2) };
    this.present[layer] = out;
    return out;
  }
  override commit(): void {}
}

export type ExportQuant = 'w8a8' | 'w4';

export interface ExportOnnxOptions {
  /** The .onnx file to write; genai_config.json goes beside it. */
  readonly out: string;
  /** ai.onnx opset (default 17). */
  readonly opset?: number;
  /** Inputs past_key_values.* and outputs present.* (default true); false: a prefill-only graph. */
  readonly kvCache?: boolean;
  /**
   * Quantize the model's linears first (in place, as `opshift quantize` does): w8a8 → DynamicQuantizeLinear-style
   * QuantizeLinear + MatMulInteger, w4 → MatMulNBits (group size: the largest of 128, 64, 32 dividing every
   * in_features, or `groupSize`).
   */
  readonly quant?: ExportQuant;
  readonly groupSize?: number;
  /** Write genai_config.json for ONNX Runtime GenAI when the model type allows (default true). */
  readonly genaiConfig?: boolean;
  /**
   * 'all' (default, as Optimum's models): logits [B, T, V]; 'last': [B, 1, V], the last position only, which is
   * all generation reads (lm_head then runs on one row in prefill).
   */
  readonly logits?: 'all' | 'last';
  /** Initializer bytes from which weights go to `<out>.data` (default 2 GB). */
  readonly externalDataThreshold?: number;
}

export interface ExportOnnxResult {
  readonly out: string;
  readonly bytes: number;
  readonly externalData: string | undefined;
  readonly genaiConfig: string | undefined;
  /** Why genai_config.json was not written, when it was not. */
  readonly genaiSkipped: string | undefined;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: number;
  readonly graph: Graph;
}

interface CacheDims {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly windows: readonly (number | undefined)[];
}

/**
 * Models whose forward picks tables by the sequence length at run time cannot become one graph: LongRoPE switches
 * its factors past original_max_position_embeddings and re-runs the sequence.
 */
function checkExportable(model: CausalLM): void {
  const c = model.config;
  if (model.recomputeCacheAt !== undefined)
    throw new ExportError(
      `export: ${c.modelType} switches its rotary factors (LongRoPE) past ${model.recomputeCacheAt} positions and re-runs the sequence: a size-dependent branch the graph cannot express`,
    );
}

/**
 * Runs `run` with the model's sliding windows off (Llama-family `windowOf` answering undefined on this instance).
 * Eager forward drops keys out of a window and builds window masks in JavaScript, which a trace cannot follow;
 * the graph instead keeps every key in present.* and hides the ones outside each layer's window in its mask
 * (mask_positions.ts), as Hugging Face's sliding-window masks over a full cache do. Eager code is untouched.
 */
function withoutWindows<T>(model: CausalLM, windows: readonly (number | undefined)[], run: () => T): T {
  const m = model as unknown as { windowOf?: (i: number) => number | undefined };
  if (windows.every((w) => w === undefined)) return run();
  if (typeof m.windowOf !== 'function') throw new ExportError(`export: ${model.config.modelType} has sliding windows but no windowOf to trace around`);
  m.windowOf = () => undefined;
  try {
    return run();
  } finally {
    delete m.windowOf; // the class's method again
  }
}

function cacheDims(model: CausalLM): CacheDims {
  const probe = model.newCache(1, 1);
  const dims = { layers: probe.numLayers, kvHeads: probe.kvHeads, headDim: probe.headDim, windows: probe.windows };
  probe.dispose();
  return dims;
}

function ids(B: number, T: number, vocab: number, seed: number): Tensor {
  const data = new BigInt64Array(B * T);
  for (let i = 0; i < data.length; i++) data[i] = BigInt((seed * 7919 + i * 104729) % vocab);
  return fromTypedArray(data, [B, T]);
}

function ones(B: number, S: number): Tensor {
  return fromTypedArray(new BigInt64Array(B * S).fill(1n), [B, S]);
}

function positionIds(B: number, P: number, T: number): Tensor {
  const data = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) data[b * T + t] = BigInt(P + t);
  return fromTypedArray(data, [B, T]);
}

/** Example inputs for one trace: batch B, T new tokens after P cached ones. */
export function exampleInputs(model: CausalLM, B: number, T: number, P: number, kvCache: boolean): Record<string, Tensor> {
  const d = cacheDims(model);
  const inputs: Record<string, Tensor> = {
    input_ids: ids(B, T, model.config.vocabSize, B + T + P),
    attention_mask: ones(B, P + T),
    position_ids: positionIds(B, P, T),
  };
  if (kvCache)
    for (let i = 0; i < d.layers; i++) {
      inputs[`past_key_values.${i}.key`] = Tensor.empty([B, d.kvHeads, P, d.headDim], 'float32');
      inputs[`past_key_values.${i}.value`] = Tensor.empty([B, d.kvHeads, P, d.headDim], 'float32');
    }
  return inputs;
}

/** The traced function: the model's forward on the named inputs, returning logits and the presents. */
export function forwardFn(model: CausalLM, kvCache: boolean, lastOnly = false): (inputs: Readonly<Record<string, Tensor>>) => Record<string, Tensor> {
  const d = cacheDims(model);
  return (inputs) => {
    const x = inputs.input_ids!;
    if (!kvCache) return { logits: model.forward(x, { lastOnly }) };
    const past = Array.from({ length: d.layers }, (_, i) => ({ k: inputs[`past_key_values.${i}.key`]!, v: inputs[`past_key_values.${i}.value`]! }));
    const cache = new GraphKVCache(d.layers, x.shape[0]!, d.kvHeads, d.headDim, past);
    const out: Record<string, Tensor> = { logits: model.forward(x, { cache, lastOnly }) };
    cache.present.forEach((p, i) => {
      out[`present.${i}.key`] = p.k;
      out[`present.${i}.value`] = p.v;
    });
    return out;
  };
}

/** Symbolic dim names as Optimum writes them. */
function dimNames(kvCache: boolean): Map<string, string> {
  const m = new Map([
    ['input_ids[0]', 'batch_size'],
    ['input_ids[1]', 'sequence_length'],
  ]);
  // past + new: attention_mask's length, which the traces meet first (inputs are scanned in order).
  m.set('attention_mask[1]', 'total_sequence_length');
  if (kvCache) m.set('past_key_values.0.key[2]', 'past_sequence_length');
  return m;
}

function pickGroupSize(model: CausalLM): number {
  const ks = new Set<number>();
  for (const [name, p] of model.namedParameters()) if (name.endsWith('.weight') && p.value.ndim === 2) ks.add(p.value.shape[1]!);
  for (const g of [128, 64, 32, 16]) if ([...ks].every((k) => k % g === 0)) return g;
  throw new ArgumentError(`export: no w4 group size of 128, 64, 32 or 16 divides every in_features (${[...ks].join(', ')}); pass groupSize`);
}

/**
 * Traces the model's forward at two sizes and writes the ONNX file (and genai_config.json). With `quant`, the
 * model's linears are quantized in place first.
 */
export function exportOnnx(model: CausalLM, options: ExportOnnxOptions): ExportOnnxResult {
  const kvCache = options.kvCache ?? true;
  checkExportable(model);
  if (options.quant === 'w8a8') quantize(model, { method: 'w8a8' });
  else if (options.quant === 'w4') quantize(model, { method: 'pergrp', groupSize: options.groupSize ?? pickGroupSize(model) });
  else if (options.quant !== undefined) throw new ArgumentError(`export: quant must be 'w8a8' or 'w4', got '${String(options.quant)}'`);
  const fn = forwardFn(model, kvCache, options.logits === 'last');
  // Tables the model caches as it sees longer sequences (Llama's cos/sin) are built up front for every position
  // the model supports (one decode step at the last position), so both traces see them as the same constant
  // and the graph covers all positions.
  const { windows } = cacheDims(model);
  withoutWindows(model, windows, () => forwardFn(model, true)(exampleInputs(model, 1, 1, Math.max(model.config.maxPositions - 1, 0), true)));
  const parameters = new Map<Storage, string>();
  for (const [name, p] of model.namedParameters()) parameters.set(p.value.storage, name);
  // Two sizes whose dims differ in distinct steps (batch +1, new tokens +3, past +6), so each size-dependent
  // number in the trace is solved unambiguously (unify.ts).
  const examples = kvCache ? [exampleInputs(model, 1, 2, 3, true), exampleInputs(model, 2, 5, 9, true)] : [exampleInputs(model, 1, 3, 0, false), exampleInputs(model, 2, 7, 0, false)];
  const graph = bindMaskAndPositions(
    withoutWindows(model, windows, () => trace(fn, examples, { parameters })),
    windows,
  );
  const written = writeOnnx(graph, options.out, { opset: options.opset, dimNames: dimNames(kvCache), externalDataThreshold: options.externalDataThreshold });
  let genaiPath: string | undefined;
  let genaiSkipped: string | undefined;
  if (options.genaiConfig ?? true) {
    const g = genaiConfig(model, basename(options.out), kvCache);
    if (typeof g === 'string') genaiSkipped = g;
    else {
      genaiPath = join(dirname(options.out), 'genai_config.json');
      writeFileSync(genaiPath, JSON.stringify(g, null, 2) + '\n');
    }
  }
  return {
    out: options.out,
    bytes: written.bytes,
    externalData: written.externalData,
    genaiConfig: genaiPath,
    genaiSkipped,
    inputs: graph.inputs.map((i) => i.name),
    outputs: graph.outputs.map((o) => o.name),
    nodes: graph.nodes.length,
    graph,
  };
}

/** The CLI's summary of an export. */
export function formatExport(r: ExportOnnxResult): string {
  const mb = (r.bytes / 2 ** 20).toFixed(1);
  const lines = [
    `wrote ${r.out} (${mb} MB, ${r.nodes} traced ops)${r.externalData ? `, weights in ${r.externalData}` : ''}`,
    `inputs:  ${r.inputs.length > 6 ? `${r.inputs.slice(0, 5).join(', ')}, … (${r.inputs.length})` : r.inputs.join(', ')}`,
    `outputs: ${r.outputs.length > 4 ? `${r.outputs.slice(0, 3).join(', ')}, … (${r.outputs.length})` : r.outputs.join(', ')}`,
    r.genaiConfig ? `wrote ${r.genaiConfig}` : `no genai_config.json: ${r.genaiSkipped ?? 'not asked for'}`,
    'padded batches: attention_mask hides padded keys; positions are read from position_ids (cumsum(attention_mask) - 1)',
  ];
  return lines.join('\n');
}
