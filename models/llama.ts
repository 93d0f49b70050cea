/**
 * Llama (2, 3, 3.1, 3.2, TinyLlama, Mistral-style GQA) as Hugging Face's modeling_llama.py computes it,
 * written straight-line on the eager API. No backend names here: placement is the dispatcher's job.
 */
import { arange } from '../ops/creation.js';
import { add, mul, silu } from '../ops/elementwise.js';
import { linear } from '../ops/linalg.js';
import { rope, ropeTables, scaledDotProductAttention } from '../ops/nn.js';
import type { DType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import type { CausalLM, ForwardOptions } from './causal_lm.js';
import { checkConfig, type LlamaConfig } from './config.js';
import { KVCache } from './kv_cache.js';
import { Module } from './nn/module.js';
import { Embedding, Linear, RMSNorm, type LinearLike } from './nn/layers.js';
import { ropeInvFreq } from './rope.js';

class LlamaAttention extends Module {
  constructor(readonly c: LlamaConfig) {
    super();
    const { hiddenSize: C, numHeads: H, numKvHeads: KV, headDim: D, attentionBias: bias } = c;
    this.child('q_proj', new Linear(C, H * D, { bias }));
    this.child('k_proj', new Linear(C, KV * D, { bias }));
    this.child('v_proj', new Linear(C, KV * D, { bias }));
    this.child('o_proj', new Linear(H * D, C, { bias }));
  }

  // Linears are read through the child table, so quantize() can swap them in place.
  get qProj(): LinearLike { return this.module('q_proj'); } // prettier-ignore
  get kProj(): LinearLike { return this.module('k_proj'); } // prettier-ignore
  get vProj(): LinearLike { return this.module('v_proj'); } // prettier-ignore
  get oProj(): LinearLike { return this.module('o_proj'); } // prettier-ignore

  forward(x: Tensor, cos: Tensor, sin: Tensor, layer: number, cache: KVCache | undefined): Tensor {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.c;
    const [B, T] = x.shape as [number, number, number];
    let q = this.qProj.forward(x).view([B, T, H, D]).transpose(1, 2); // (B, H, T, D)
    let k = this.kProj.forward(x).view([B, T, KV, D]).transpose(1, 2); // (B, KV, T, D)
    let v = this.vProj.forward(x).view([B, T, KV, D]).transpose(1, 2); // (B, KV, T, D)
    q = rope(q, cos, sin);
    k = rope(k, cos, sin);
    if (cache) ({ k, v } = cache.update(layer, k, v)); // (B, KV, S, D), S = past + T
    // Causal over the whole cache: query t (absolute position past + t) sees keys 0..past + t.
    const y = scaledDotProductAttention(q, k, v, { isCausal: T > 1, causalAlign: 'bottom-right', enableGqa: KV !== H }); // (B, H, T, D)
    return this.oProj.forward(y.transpose(1, 2).reshape([B, T, H * D])); // (B, T, C)
  }
}

class LlamaMLP extends Module {
  constructor(c: LlamaConfig) {
    super();
    const bias = c.mlpBias;
    this.child('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias }));
    this.child('up_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias }));
    this.child('down_proj', new Linear(c.intermediateSize, c.hiddenSize, { bias }));
  }

  get gateProj(): LinearLike { return this.module('gate_proj'); } // prettier-ignore
  get upProj(): LinearLike { return this.module('up_proj'); } // prettier-ignore
  get downProj(): LinearLike { return this.module('down_proj'); } // prettier-ignore

  forward(x: Tensor): Tensor {
    return this.downProj.forward(mul(silu(this.gateProj.forward(x)), this.upProj.forward(x)));
  }
}

class LlamaBlock extends Module {
  readonly inputNorm: RMSNorm;
  readonly attn: LlamaAttention;
  readonly postNorm: RMSNorm;
  readonly mlp: LlamaMLP;
  constructor(c: LlamaConfig) {
    super();
    this.inputNorm = this.child('input_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
    this.attn = this.child('self_attn', new LlamaAttention(c));
    this.postNorm = this.child('post_attention_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
    this.mlp = this.child('mlp', new LlamaMLP(c));
  }

  forward(x: Tensor, cos: Tensor, sin: Tensor, layer: number, cache: KVCache | undefined): Tensor {
    const h = add(x, this.attn.forward(this.inputNorm.forward(x), cos, sin, layer, cache));
    return add(h, this.mlp.forward(this.postNorm.forward(h)));
  }
}

class LlamaBody extends Module {
  readonly embedTokens: Embedding;
  readonly layers: LlamaBlock[] = [];
  readonly norm: RMSNorm;
  constructor(c: LlamaConfig) {
    super();
    this.embedTokens = this.child('embed_tokens', new Embedding(c.vocabSize, c.hiddenSize));
    for (let i = 0; i < c.numLayers; i++) this.layers.push(this.child(`layers.${i}`, new LlamaBlock(c)));
    this.norm = this.child('norm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
  }
}

/** LlamaForCausalLM: parameter names match Hugging Face's (model.layers.0.self_attn.q_proj.weight, lm_head.weight). */
export class Llama extends Module implements CausalLM {
  readonly model: LlamaBody;
  readonly #invFreq: Tensor;
  /** cos/sin for positions 0..n-1, grown by doubling: decode steps slice it instead of recomputing. */
  #rope: { cos: Tensor; sin: Tensor; n: number; dtype: string } | undefined;

  constructor(readonly config: LlamaConfig) {
    super();
    checkConfig(config, 'llama'); // a hand-built config gets the rules config.json gets, before any layer is built
    this.model = this.child('model', new LlamaBody(config));
    if (!config.tieWordEmbeddings) this.child('lm_head', new Linear(config.hiddenSize, config.vocabSize));
    this.#invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  get lmHead(): LinearLike | undefined { return this.getChild('lm_head') as LinearLike | undefined; } // prettier-ignore

  newCache(batch: number, capacity: number): KVCache {
    const c = this.config;
    return new KVCache(c.numLayers, batch, c.numKvHeads, capacity, c.headDim);
  }

  /** Rows past..past+T-1 of the cos/sin tables (row p depends only on p, so a prefix computed once serves all). */
  private ropeRows(past: number, T: number, dtype: DType): { cos: Tensor; sin: Tensor } {
    const end = past + T;
    let r = this.#rope;
    if (!r || r.n < end || r.dtype !== dtype) {
      const n = Math.max(end, 2 * (r?.n ?? 0), 64);
      const t = ropeTables(arange(n), this.config.headDim, { invFreq: this.#invFreq, dtype }); // (n, D)
      r = this.#rope = { ...t, n, dtype };
    }
    return { cos: r.cos.narrow(0, past, T), sin: r.sin.narrow(0, past, T) };
  }

  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    const { cache } = options;
    const T = ids.shape[1]!;
    const past = cache?.length ?? 0;
    let x = this.model.embedTokens.forward(ids); // (B, T, C)
    const { cos, sin } = this.ropeRows(past, T, x.dtype); // (T, D)
    for (let i = 0; i < this.model.layers.length; i++) x = this.model.layers[i]!.forward(x, cos, sin, i, cache);
    cache?.commit(T);
    if (options.lastOnly) x = x.narrow(1, T - 1, 1); // (B, 1, C)
    x = this.model.norm.forward(x);
    return this.lmHead ? this.lmHead.forward(x) : linear(x, this.model.embedTokens.weight.value); // (B, T, V)
  }
}
