/**
 * The lm_head of a tied model (tie_word_embeddings: OPT, TinyLlama-style Llamas), quantized as its own copy beside
 * the float embedding, as llama.cpp quantizes its output matrix. The token embedding stays float (a lookup reads
 * a row per token); the head reads the whole [V, E] matrix every decode step — for OPT-125m 38.6 M of its 125 M
 * parameters, more bytes per token than all other linears together when left in float32.
 *
 * The copy is a `lm_head` child of the top-level model (models read it through getChild, falling back to the
 * embedding when absent), so it is saved and loaded with the quantized checkpoint under `lm_head.*` like any
 * quantized linear; prepareQuantized re-creates it from the stored tensors (tiedHeadFromSource).
 * The head is quantized without calibration (w8a8: per tensor, or per channel when asked; w4: min/max per group):
 * the calibrated recipes tune the decoder linears, and the head's input, the final norm's output, is left alone.
 */
import { quantizeWeightInt8, quantizeWeightUint4 } from '../../ops/quant.js';
import type { Module, TensorSource } from '../nn/module.js';
import { Embedding } from '../nn/layers.js';
import { QLinearW4, QLinearW8A8 } from '../nn/qlinear.js';

/** The token embedding of a tied model that has no lm_head yet, or undefined (untied, or head already there). */
export function tiedEmbedding(model: Module, tied: boolean): Embedding | undefined {
  if (!tied || model.getChild('lm_head') !== undefined) return undefined;
  for (const { path, module } of model.namedModules()) if (module instanceof Embedding && (path === 'embed_tokens' || path.endsWith('.embed_tokens'))) return module;
  return undefined;
}

/** Adds `lm_head` to `model`: a quantized copy of the embedding [V, E] (w8a8, or w4 with `groupSize`). */
export function quantizeTiedHead(model: Module, emb: Embedding, format: 'w8a8' | 'w4', options: { perChannel?: boolean; groupSize?: number } = {}): QLinearW8A8 | QLinearW4 {
  const w = emb.weight.value.to('float32');
  let head: QLinearW8A8 | QLinearW4;
  if (format === 'w8a8') {
    const q = new QLinearW8A8(emb.dim, emb.numEmbeddings, { perChannel: options.perChannel });
    const { weight, scale } = quantizeWeightInt8(w, { perChannel: options.perChannel });
    q.weight.set(weight);
    q.weightScale.set(scale);
    head = q;
  } else head = QLinearW4.fromQuantized(quantizeWeightUint4(w, options.groupSize ?? 128), undefined);
  model.addChild('lm_head', head);
  return head;
}

/** On load: an empty quantized `lm_head` when a tied model's checkpoint stores one (`lm_head.qweight` / `.weight_scale`). */
export function tiedHeadFromSource(model: Module, tied: boolean, source: TensorSource, resolve: (path: string) => string | undefined): boolean {
  const emb = tiedEmbedding(model, tied);
  if (!emb) return false;
  const names = new Set(source.names());
  const qw = resolve('lm_head.qweight');
  const ws = resolve('lm_head.weight_scale');
  if (qw !== undefined && names.has(qw)) {
    const groups = source.shape(resolve('lm_head.scales')!)[1]!;
    model.addChild('lm_head', new QLinearW4(emb.dim, emb.numEmbeddings, emb.dim / groups));
    return true;
  }
  if (ws !== undefined && names.has(ws)) {
    model.addChild('lm_head', new QLinearW8A8(emb.dim, emb.numEmbeddings, { perChannel: source.shape(ws).length === 1 }));
    return true;
  }
  return false;
}
