/**
 * The Llama-shaped families as Hugging Face's modeling files compute them, written straight-line on the eager
 * API: Llama (2, 3, 3.1, 3.2, TinyLlama; modeling_llama.py), Mistral (sliding window; modeling_mistral.py),
 * Qwen2 (q/k/v biases, per-layer sliding window; modeling_qwen2.py) and Phi-3 (fused qkv_proj/gate_up_proj,
 * partial rotary, LongRoPE; modeling_phi3.py). The differences are config fields (see LlamaConfig), so one
 * forward serves all four. No backend names here: placement is the dispatcher's job.
 */
import { ArgumentError } from '../core/errors.js';
import { arange, fromTypedArray } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { siluMul } from '../ops/fused.js';
import { linear } from '../ops/linalg.js';
import { cat } from '../ops/movement.js';
import { rope, ropeTables, scaledDotProductAttention } from '../ops/nn.js';
import type { DType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import { attentionPlan, maxOf, positionsFromMask, readPadMask, type AttentionPlan } from './attention_mask.js';
import type { CausalLM, ForwardOptions } from './causal_lm.js';
import { checkConfig, rotaryDim, type LlamaConfig } from './config.js';
import { KVCache } from './kv_cache.js';
import { Module } from './nn/module.js';
import { Embedding, Linear, RMSNorm, type LinearLike } from './nn/layers.js';
import { ropeInvFreq } from './rope.js';

/** x·cos + rotate_half(x)·sin on the first `cos.shape[-1]` channels; the rest pass (Phi-3's partial rotary). */
function rotate(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const D = x.shape[x.ndim - 1]!;
  const rot = cos.shape[cos.ndim - 1]!;
  if (rot === D) return rope(x, cos, sin);
  return cat([rope(x.narrow(-1, 0, rot), cos, sin), x.narrow(-1, rot, D - rot)], -1);
}

/**
 * What one attention call needs for its rows: rope tables (absent: the caller rotated q and k for all rows at
 * once), the cache to extend and the mask plan.
 */
interface RowAttention {
  readonly cos?: Tensor;
  readonly sin?: Tensor;
  readonly cache: KVCache | undefined;
  readonly plan: AttentionPlan;
}

/** cos/sin for every row of a call at once ([B, 1, T, rot]), or undefined: each row carries its own. */
type BatchRope = { readonly cos: Tensor; readonly sin: Tensor } | undefined;

class LlamaAttention extends Module {
  constructor(readonly c: LlamaConfig) {
    super();
    const { hiddenSize: C, numHeads: H, numKvHeads: KV, headDim: D, attentionBias: bias } = c;
    // Phi-3 keeps q/k/v in one linear so one GEMM reaches the backend (modeling_phi3.py's qkv_proj).
    if (c.fusedProjections) this.child('qkv_proj', new Linear(C, (H + 2 * KV) * D, { bias }));
    else {
      this.child('q_proj', new Linear(C, H * D, { bias }));
      this.child('k_proj', new Linear(C, KV * D, { bias }));
      this.child('v_proj', new Linear(C, KV * D, { bias }));
    }
    this.child('o_proj', new Linear(H * D, C, { bias: c.outputBias ?? bias }));
  }

  // Linears are read through the child table, so quantize() can swap them in place.
  get qProj(): LinearLike { return this.module('q_proj'); } // prettier-ignore
  get kProj(): LinearLike { return this.module('k_proj'); } // prettier-ignore
  get vProj(): LinearLike { return this.module('v_proj'); } // prettier-ignore
  get qkvProj(): LinearLike { return this.module('qkv_proj'); } // prettier-ignore
  get oProj(): LinearLike { return this.module('o_proj'); } // prettier-ignore

  /** q (B, T, H·D), k and v (B, T, KV·D): three linears, or slices of the fused one's output. */
  private project(x: Tensor): [Tensor, Tensor, Tensor] {
    if (!this.c.fusedProjections) return [this.qProj.forward(x), this.kProj.forward(x), this.vProj.forward(x)];
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.c;
    const qkv = this.qkvProj.forward(x); // (B, T, (H + 2·KV)·D)
    return [qkv.narrow(-1, 0, H * D), qkv.narrow(-1, H * D, KV * D), qkv.narrow(-1, (H + KV) * D, KV * D)];
  }

  forward(x: Tensor, rows: readonly RowAttention[], layer: number, rope: BatchRope): Tensor {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.c;
    const [B, T] = x.shape as [number, number, number];
    const [qp, kp, vp] = this.project(x);
    let q = qp.reshape([B, T, H, D]).transpose(1, 2); // (B, H, T, D)
    let k = kp.reshape([B, T, KV, D]).transpose(1, 2); // (B, KV, T, D)
    const v = vp.reshape([B, T, KV, D]).transpose(1, 2); // (B, KV, T, D)
    if (rope) {
      // One rope over all rows (elementwise: each row's values are those of its own call).
      q = rotate(q, rope.cos, rope.sin);
      k = rotate(k, rope.cos, rope.sin);
    }
    // One context: the whole batch shares a cache. One per row: each row attends over its own cache, with the
    // very ops (and shapes) it would run alone, so its output does not depend on the other rows.
    const y =
      rows.length === 1
        ? this.attend(q, k, v, rows[0]!, layer)
        : cat(
            rows.map((r, b) => this.attend(q.narrow(0, b, 1), k.narrow(0, b, 1), v.narrow(0, b, 1), r, layer)),
            0,
          ); // (B, H, T, D)
    return this.oProj.forward(y.transpose(1, 2).reshape([B, T, H * D])); // (B, T, C)
  }

  private attend(q: Tensor, k: Tensor, v: Tensor, r: RowAttention, layer: number): Tensor {
    const { numHeads: H, numKvHeads: KV } = this.c;
    const T = q.shape[2]!;
    const { cos, sin, cache, plan } = r;
    if (cos && sin) {
      q = rotate(q, cos, sin);
      k = rotate(k, cos, sin);
    }
    // (B, KV, S', D): keys plan.keyStart..past+T-1 (a sliding window reads only its last positions).
    // One query with no mask may read a rolling buffer in slot order; everything else needs position order.
    if (cache) ({ k, v } = cache.update(layer, k, v, plan.keyStart, T > 1 || plan.mask !== undefined));
    // Without a mask: causal over the keys read, query t (position past + t) sees keys up to past + t.
    return plan.mask
      ? scaledDotProductAttention(q, k, v, { attnMask: plan.mask, enableGqa: KV !== H })
      : scaledDotProductAttention(q, k, v, { isCausal: T > 1, causalAlign: 'bottom-right', enableGqa: KV !== H }); // (B, H, T, D)
  }
}

class LlamaMLP extends Module {
  constructor(readonly c: LlamaConfig) {
    super();
    const bias = c.mlpBias;
    const { hiddenSize: C, intermediateSize: I } = c;
    // Phi-3's gate_up_proj: gate rows first, then up rows (modeling_phi3.py chunks the output in two).
    if (c.fusedProjections) this.child('gate_up_proj', new Linear(C, 2 * I, { bias }));
    else {
      this.child('gate_proj', new Linear(C, I, { bias }));
      this.child('up_proj', new Linear(C, I, { bias }));
    }
    this.child('down_proj', new Linear(I, C, { bias }));
  }

  get gateProj(): LinearLike { return this.module('gate_proj'); } // prettier-ignore
  get upProj(): LinearLike { return this.module('up_proj'); } // prettier-ignore
  get gateUpProj(): LinearLike { return this.module('gate_up_proj'); } // prettier-ignore
  get downProj(): LinearLike { return this.module('down_proj'); } // prettier-ignore

  forward(x: Tensor): Tensor {
    if (this.c.fusedProjections) {
      const I = this.c.intermediateSize;
      const gu = this.gateUpProj.forward(x); // (B, T, 2·I)
      return this.downProj.forward(siluMul(gu.narrow(-1, 0, I), gu.narrow(-1, I, I)));
    }
    return this.downProj.forward(siluMul(this.gateProj.forward(x), this.upProj.forward(x)));
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

  forward(x: Tensor, rows: readonly RowAttention[], layer: number, rope: BatchRope = undefined): Tensor {
    const h = add(x, this.attn.forward(this.inputNorm.forward(x), rows, layer, rope));
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

/**
 * LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Phi3ForCausalLM: parameter names match Hugging Face's
 * (model.layers.0.self_attn.q_proj.weight or .qkv_proj.weight, lm_head.weight).
 */
export class Llama extends Module implements CausalLM {
  readonly model: LlamaBody;
  /** inv_freq; LongRoPE has a second set (long factors) for sequences past original_max_position_embeddings. */
  readonly #invFreq: Tensor;
  readonly #longInvFreq: Tensor | undefined;
  readonly #rotaryDim: number;
  /** cos/sin for positions 0..n-1 per (dtype, factor set), grown by doubling: decode steps slice them. */
  readonly #rope = new Map<string, { cos: Tensor; sin: Tensor; n: number }>();
  readonly recomputeCacheAt: number | undefined;
  /** LongRoPE: the ids each cache holds and whether their keys were rotated with the long factors. */
  readonly #history = new WeakMap<KVCache, { ids: number[][]; long: boolean }>();

  constructor(readonly config: LlamaConfig) {
    super();
    checkConfig(config, config.modelType); // a hand-built config gets the rules config.json gets, before any layer is built
    this.model = this.child('model', new LlamaBody(config));
    if (!config.tieWordEmbeddings) this.child('lm_head', new Linear(config.hiddenSize, config.vocabSize));
    this.#rotaryDim = rotaryDim(config);
    const s = config.ropeScaling;
    this.#invFreq = ropeInvFreq(this.#rotaryDim, config.ropeTheta, s);
    this.#longInvFreq = s?.type === 'longrope' ? ropeInvFreq(this.#rotaryDim, config.ropeTheta, s, true) : undefined;
    this.recomputeCacheAt = s?.type === 'longrope' ? s.originalMaxPositions : undefined;
  }

  /** The sliding window of layer i, or undefined for full attention. */
  windowOf(i: number): number | undefined {
    const c = this.config;
    return c.slidingWindow !== undefined && (c.slidingLayers?.[i] ?? true) ? c.slidingWindow : undefined;
  }

  get lmHead(): LinearLike | undefined { return this.getChild('lm_head') as LinearLike | undefined; } // prettier-ignore

  newCache(batch: number, capacity: number): KVCache {
    const c = this.config;
    // Sliding-window layers keep rolling buffers of their window.
    const windows = Array.from({ length: c.numLayers }, (_, i) => this.windowOf(i));
    return new KVCache(c.numLayers, batch, c.numKvHeads, capacity, c.headDim, 'float32', windows);
  }

  /**
   * cos/sin for `positions` (a tensor [B, T], or rows past..past+T-1 of cached tables: row p depends only on p,
   * so a prefix computed once serves all). LongRoPE: `long` picks the long factors, and cos/sin are multiplied by
   * the attention factor in float32 before the cast, as Phi3RotaryEmbedding does.
   */
  private ropeFor(positions: Tensor | { past: number; T: number }, dtype: DType, long: boolean): { cos: Tensor; sin: Tensor } {
    const s = this.config.ropeScaling;
    const invFreq = long ? this.#longInvFreq! : this.#invFreq;
    const table = (pos: Tensor) => {
      const t = ropeTables(pos, this.#rotaryDim, { invFreq, dtype: 'float32' });
      if (s?.type !== 'longrope') return { cos: t.cos.to(dtype), sin: t.sin.to(dtype) };
      const a = Math.fround(s.attentionFactor);
      return { cos: mul(t.cos, a).to(dtype), sin: mul(t.sin, a).to(dtype) };
    };
    if (!('past' in positions)) {
      const t = table(positions); // (B, T, rot)
      return { cos: t.cos.unsqueeze(1), sin: t.sin.unsqueeze(1) }; // (B, 1, T, rot): per-row positions
    }
    const { past, T } = positions;
    const end = past + T;
    const key = `${dtype}/${long ? 'long' : 'short'}`;
    let r = this.#rope.get(key);
    if (!r || r.n < end) {
      const n = Math.max(end, 2 * (r?.n ?? 0), 64);
      const t = table(arange(n)); // (n, rot)
      // Memoised across forwards: exempt from the caller's tidy() scope (generate wraps each step in one).
      r = { cos: t.cos.keep(), sin: t.sin.keep(), n };
      this.#rope.set(key, r);
    }
    return { cos: r.cos.narrow(0, past, T), sin: r.sin.narrow(0, past, T) };
  }

  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    if (options.caches) return this.forwardRows(ids, options.caches, options);
    const { cache } = options;
    const [B, T] = ids.shape as [number, number];
    const past = cache?.length ?? 0;
    const pad = options.attentionMask ? readPadMask(options.attentionMask, B, past, T) : undefined;
    const positions = pad ? positionsFromMask(pad, past, T, 'llama') : undefined; // (B, T)
    // LongRoPE's factor set follows the longest position in the call, as HF's longrope_frequency_update.
    const seqLen = positions ? maxOf(positions.toTypedArray() as Float32Array) + 1 : past + T;
    const R = this.recomputeCacheAt;
    const long = R !== undefined && seqLen > R;
    let history: { ids: number[][]; long: boolean } | undefined;
    if (cache && R !== undefined) {
      history = past === 0 ? { ids: Array.from({ length: B }, () => []), long } : this.#history.get(cache);
      if (!history || history.ids.length !== B || history.ids[0]!.length !== past)
        throw new ArgumentError(`${this.config.modelType}: this cache holds ${past} positions this model did not write (LongRoPE needs the ids behind them); start from an empty cache`);
      this.#history.set(cache, history);
      if (long && !history.long && past > 0) {
        // The cached keys carry the short factors and this call switches to the long ones: run the whole
        // sequence again from an empty cache, as HF's Phi3ForCausalLM.prepare_inputs_for_generation does.
        // Ids are below the vocabulary limit 2^22: exact in float32.
        const rows = Array.from(ids.to('float32').contiguous().toTypedArray() as Float32Array);
        const all = history.ids.flatMap((row, b) => [...row, ...rows.slice(b * T, (b + 1) * T)]);
        cache.reset();
        this.#history.delete(cache);
        const full = fromTypedArray(BigInt64Array.from(all, (v) => BigInt(v)), [B, past + T]); // (B, past + T)
        const out = this.forward(full, options); // the mask, if any, already spans past + T
        return options.lastOnly ? out : out.narrow(1, past, T);
      }
    }
    let x = this.model.embedTokens.forward(ids); // (B, T, C)
    const { cos, sin } = this.ropeFor(positions ?? { past, T }, x.dtype, long); // (T, rot) or (B, 1, T, rot)
    const plans = new Map<number | undefined, AttentionPlan>();
    for (let i = 0; i < this.model.layers.length; i++) {
      const w = this.windowOf(i);
      let plan = plans.get(w);
      if (!plan) plans.set(w, (plan = attentionPlan(past, T, w, pad)));
      x = this.model.layers[i]!.forward(x, [{ cos, sin, cache, plan }], i);
    }
    cache?.commit(T);
    if (history) {
      // Recorded once the positions are in the cache, so a failed call leaves the history in step with it.
      const rows = Array.from(ids.to('float32').contiguous().toTypedArray() as Float32Array);
      for (let b = 0; b < B; b++) history.ids[b]!.push(...rows.slice(b * T, (b + 1) * T));
      history.long = long;
    }
    return this.head(x, options.lastOnly);
  }

  /** Final norm and lm_head (tied: the embedding), on the last position only with lastOnly. */
  private head(x: Tensor, lastOnly: boolean | undefined): Tensor {
    if (lastOnly) x = x.narrow(1, x.shape[1]! - 1, 1); // (B, 1, C)
    x = this.model.norm.forward(x);
    return this.lmHead ? this.lmHead.forward(x) : linear(x, this.model.embedTokens.weight.value); // (B, T, V)
  }

  /** ForwardOptions.caches: row b continues caches[b] at that cache's own length. */
  private forwardRows(ids: Tensor, caches: readonly KVCache[], options: ForwardOptions): Tensor {
    const [B, T] = ids.shape as [number, number];
    const name = this.config.modelType;
    if (options.cache || options.attentionMask) throw new ArgumentError(`${name}: forward takes per-row caches or one cache (with an attention_mask), not both`);
    if (caches.length !== B) throw new ArgumentError(`${name}: ${caches.length} per-row caches for ids [${ids.shape.join(', ')}]; give one cache per row`);
    if (new Set(caches).size !== B) throw new ArgumentError(`${name}: per-row caches must be distinct (a cache holds one sequence)`);
    if (caches.some((c) => c.batch !== 1)) throw new ArgumentError(`${name}: per-row caches hold one sequence each (batch 1), got batch ${caches.find((c) => c.batch !== 1)!.batch}`);
    // LongRoPE rewrites a cache when a row crosses its switch length, which rows of a batch do at different steps.
    if (this.recomputeCacheAt !== undefined) throw new ArgumentError(`${name}: per-row caches are not supported with LongRoPE (run rows one at a time)`);
    let x = this.model.embedTokens.forward(ids); // (B, T, C)
    const ropes = caches.map((c) => this.ropeFor({ past: c.length, T }, x.dtype, false)); // (T, rot) each
    // Rows' tables stacked once per call, so each layer rotates all rows in one op per q and k.
    const stack = (part: 'cos' | 'sin') => cat(ropes.map((r) => r[part].unsqueeze(0)), 0).unsqueeze(1); // (B, 1, T, rot)
    const rope: BatchRope = B > 1 ? { cos: stack('cos'), sin: stack('sin') } : undefined;
    for (let i = 0; i < this.model.layers.length; i++) {
      const w = this.windowOf(i);
      const rows = caches.map((cache, b) => ({ ...(rope ? {} : ropes[b]!), cache, plan: attentionPlan(cache.length, T, w, undefined) }));
      x = this.model.layers[i]!.forward(x, rows, i, rope);
    }
    for (const c of caches) c.commit(T);
    return this.head(x, options.lastOnly);
  }
}
