/**
 * OPT (125m … 30b) as Hugging Face's modeling_opt.py computes it: learned positions with offset 2, pre-LN or
 * post-LN (350m) layers, q scaled before QKᵀ, ReLU FFN, project_in/out when the embedding is narrower than
 * the model, lm_head tied to the token embedding.
 */
import { ArgumentError } from '../core/errors.js';
import { arange, fromTypedArray } from '../ops/creation.js';
import { add, mul, relu } from '../ops/elementwise.js';
import { linear } from '../ops/linalg.js';
import { cat } from '../ops/movement.js';
import { scaledDotProductAttention } from '../ops/nn.js';
import type { Tensor } from '../core/tensor.js';
import { attentionPlan, maxOf, positionsFromMask, readPadMask, type AttentionPlan } from './attention_mask.js';
import type { CausalLM, ForwardOptions } from './causal_lm.js';
import { checkConfig, type OptConfig } from './config.js';
import { KVCache } from './kv_cache.js';
import { Module } from './nn/module.js';
import { Embedding, LayerNorm, Linear, type LinearLike } from './nn/layers.js';

/** OPT's learned positions are stored shifted by 2 (a fairseq legacy). */
const POSITION_OFFSET = 2;

class OptAttention extends Module {
  constructor(readonly c: OptConfig) {
    super();
    const C = c.hiddenSize;
    const bias = c.enableBias;
    this.child('k_proj', new Linear(C, C, { bias }));
    this.child('v_proj', new Linear(C, C, { bias }));
    this.child('q_proj', new Linear(C, C, { bias }));
    this.child('out_proj', new Linear(C, C, { bias }));
  }

  // Linears are read through the child table, so quantize() can swap them in place.
  get qProj(): LinearLike { return this.module('q_proj'); } // prettier-ignore
  get kProj(): LinearLike { return this.module('k_proj'); } // prettier-ignore
  get vProj(): LinearLike { return this.module('v_proj'); } // prettier-ignore
  get outProj(): LinearLike { return this.module('out_proj'); } // prettier-ignore

  forward(x: Tensor, rows: readonly RowAttention[], layer: number): Tensor {
    const { numHeads: H, hiddenSize: C } = this.c;
    const D = C / H;
    const [B, T] = x.shape as [number, number, number];
    const q = mul(this.qProj.forward(x), D ** -0.5).view([B, T, H, D]).transpose(1, 2); // (B, H, T, D), scaled first as HF does
    const k = this.kProj.forward(x).view([B, T, H, D]).transpose(1, 2); // (B, H, T, D)
    const v = this.vProj.forward(x).view([B, T, H, D]).transpose(1, 2); // (B, H, T, D)
    // One context: the batch shares a cache. One per row: each row attends over its own cache with the ops it runs alone.
    const y = rows.length === 1 ? attend(q, k, v, rows[0]!, layer) : cat(rows.map((r, b) => attend(q.narrow(0, b, 1), k.narrow(0, b, 1), v.narrow(0, b, 1), r, layer)), 0); // (B, H, T, D)
    return this.outProj.forward(y.transpose(1, 2).reshape([B, T, C])); // (B, T, C)
  }
}

/** The cache to extend and the mask plan of one attention call. */
interface RowAttention {
  readonly cache: KVCache | undefined;
  readonly plan: AttentionPlan;
}

function attend(q: Tensor, k: Tensor, v: Tensor, { cache, plan }: RowAttention, layer: number): Tensor {
  const T = q.shape[2]!;
  if (cache) ({ k, v } = cache.update(layer, k, v)); // (B, H, S, D)
  return plan.mask
    ? scaledDotProductAttention(q, k, v, { attnMask: plan.mask, scale: 1 }) // padded keys hidden
    : scaledDotProductAttention(q, k, v, { isCausal: T > 1, causalAlign: 'bottom-right', scale: 1 }); // (B, H, T, D)
}


class OptBlock extends Module {
  readonly selfAttnLayerNorm: LayerNorm;
  readonly selfAttn: OptAttention;
  readonly finalLayerNorm: LayerNorm;
  constructor(readonly c: OptConfig) {
    super();
    this.selfAttn = this.child('self_attn', new OptAttention(c));
    this.selfAttnLayerNorm = this.child('self_attn_layer_norm', new LayerNorm(c.hiddenSize));
    this.child('fc1', new Linear(c.hiddenSize, c.ffnDim, { bias: c.enableBias }));
    this.child('fc2', new Linear(c.ffnDim, c.hiddenSize, { bias: c.enableBias }));
    this.finalLayerNorm = this.child('final_layer_norm', new LayerNorm(c.hiddenSize));
  }

  get fc1(): LinearLike { return this.module('fc1'); } // prettier-ignore
  get fc2(): LinearLike { return this.module('fc2'); } // prettier-ignore

  forward(x: Tensor, rows: readonly RowAttention[], layer: number): Tensor {
    const pre = this.c.layerNormBefore;
    let h = add(x, this.selfAttn.forward(pre ? this.selfAttnLayerNorm.forward(x) : x, rows, layer));
    if (!pre) h = this.selfAttnLayerNorm.forward(h);
    const ffnIn = pre ? this.finalLayerNorm.forward(h) : h;
    h = add(h, this.fc2.forward(relu(this.fc1.forward(ffnIn))));
    return pre ? h : this.finalLayerNorm.forward(h);
  }
}

class OptDecoder extends Module {
  readonly embedTokens: Embedding;
  readonly embedPositions: Embedding;
  readonly finalLayerNorm: LayerNorm | undefined;
  readonly layers: OptBlock[] = [];
  constructor(c: OptConfig) {
    super();
    this.embedTokens = this.child('embed_tokens', new Embedding(c.vocabSize, c.wordEmbedProjDim));
    this.embedPositions = this.child('embed_positions', new Embedding(c.maxPositions + POSITION_OFFSET, c.hiddenSize));
    if (c.wordEmbedProjDim !== c.hiddenSize) {
      this.child('project_out', new Linear(c.hiddenSize, c.wordEmbedProjDim));
      this.child('project_in', new Linear(c.wordEmbedProjDim, c.hiddenSize));
    }
    if (c.layerNormBefore && !c.removeFinalLayerNorm) this.finalLayerNorm = this.child('final_layer_norm', new LayerNorm(c.hiddenSize));
    for (let i = 0; i < c.numLayers; i++) this.layers.push(this.child(`layers.${i}`, new OptBlock(c)));
  }

  get projectIn(): LinearLike | undefined { return this.getChild('project_in') as LinearLike | undefined; } // prettier-ignore
  get projectOut(): LinearLike | undefined { return this.getChild('project_out') as LinearLike | undefined; } // prettier-ignore
}

class OptBody extends Module {
  readonly decoder: OptDecoder;
  constructor(c: OptConfig) {
    super();
    this.decoder = this.child('decoder', new OptDecoder(c));
  }
}

/** OPTForCausalLM: parameter names match Hugging Face's (model.decoder.layers.0.self_attn.q_proj.weight). */
export class Opt extends Module implements CausalLM {
  readonly model: OptBody;

  constructor(readonly config: OptConfig) {
    super();
    checkConfig(config, 'opt'); // a hand-built config gets the rules config.json gets, before any layer is built
    this.model = this.child('model', new OptBody(config));
    if (!config.tieWordEmbeddings) this.child('lm_head', new Linear(config.wordEmbedProjDim, config.vocabSize));
  }

  get lmHead(): LinearLike | undefined { return this.getChild('lm_head') as LinearLike | undefined; } // prettier-ignore

  newCache(batch: number, capacity: number): KVCache {
    const c = this.config;
    return new KVCache(c.numLayers, batch, c.numHeads, capacity, c.hiddenSize / c.numHeads);
  }

  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    if (options.caches) return this.forwardRows(ids, options.caches, options);
    const { cache } = options;
    const d = this.model.decoder;
    const [B, T] = ids.shape as [number, number];
    const past = cache?.length ?? 0;
    const pad = options.attentionMask ? readPadMask(options.attentionMask, B, past, T) : undefined;
    // HF's positions are cumsum(mask) * mask - 1 (past..past+T-1 without padding, -1 on padding), stored at +2.
    const fromMask = pad ? positionsFromMask(pad, past, T, 'opt') : undefined; // (B, T)
    // Padding slots hold no position: a padded row's last position is its token count - 1, not the slot index.
    const end = fromMask ? maxOf(fromMask.toTypedArray() as Float32Array) + 1 : past + T;
    if (end > this.config.maxPositions)
      throw new ArgumentError(`opt: ${end} positions exceed max_position_embeddings ${this.config.maxPositions}`);
    let x = d.embedTokens.forward(ids); // (B, T, E)
    if (d.projectIn) x = d.projectIn.forward(x); // (B, T, C)
    const positions = fromMask ? add(fromMask, POSITION_OFFSET).to('int64') : arange(past + POSITION_OFFSET, past + T + POSITION_OFFSET);
    x = add(x, d.embedPositions.forward(positions)); // (B, T, C)
    const plan = attentionPlan(past, T, undefined, pad);
    for (let i = 0; i < d.layers.length; i++) x = d.layers[i]!.forward(x, [{ cache, plan }], i);
    cache?.commit(T);
    return this.head(x, options.lastOnly);
  }

  /** Final layer norm, project_out and lm_head, on the last position only with lastOnly. */
  private head(x: Tensor, lastOnly: boolean | undefined): Tensor {
    const d = this.model.decoder;
    if (lastOnly) x = x.narrow(1, x.shape[1]! - 1, 1); // (B, 1, C)
    if (d.finalLayerNorm) x = d.finalLayerNorm.forward(x);
    if (d.projectOut) x = d.projectOut.forward(x); // (B, T, E)
    return this.lmHead ? this.lmHead.forward(x) : linear(x, d.embedTokens.weight.value); // (B, T, V)
  }

  /** ForwardOptions.caches: row b continues caches[b] at that cache's own length. */
  private forwardRows(ids: Tensor, caches: readonly KVCache[], options: ForwardOptions): Tensor {
    const d = this.model.decoder;
    const [B, T] = ids.shape as [number, number];
    if (options.cache || options.attentionMask) throw new ArgumentError('opt: forward takes per-row caches or one cache (with an attention_mask), not both');
    if (caches.length !== B) throw new ArgumentError(`opt: ${caches.length} per-row caches for ids [${ids.shape.join(', ')}]; give one cache per row`);
    if (new Set(caches).size !== B) throw new ArgumentError('opt: per-row caches must be distinct (a cache holds one sequence)');
    if (caches.some((c) => c.batch !== 1)) throw new ArgumentError(`opt: per-row caches hold one sequence each (batch 1), got batch ${caches.find((c) => c.batch !== 1)!.batch}`);
    const end = Math.max(...caches.map((c) => c.length)) + T;
    if (end > this.config.maxPositions) throw new ArgumentError(`opt: ${end} positions exceed max_position_embeddings ${this.config.maxPositions}`);
    let x = d.embedTokens.forward(ids); // (B, T, E)
    if (d.projectIn) x = d.projectIn.forward(x); // (B, T, C)
    // Row b's positions continue its own cache: length_b .. length_b + T - 1, stored at +2.
    const pos = BigInt64Array.from({ length: B * T }, (_, i) => BigInt(caches[Math.floor(i / T)]!.length + (i % T) + POSITION_OFFSET));
    x = add(x, d.embedPositions.forward(fromTypedArray(pos, [B, T]))); // (B, T, C)
    const rows = caches.map((cache) => ({ cache, plan: attentionPlan(cache.length, T, undefined, undefined) }));
    for (let i = 0; i < d.layers.length; i++) x = d.layers[i]!.forward(x, rows, i);
    for (const c of caches) c.commit(T);
    return this.head(x, options.lastOnly);
  }
}
