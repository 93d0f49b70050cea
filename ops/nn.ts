/** Neural-network composites. Each has a decomposition into primitives; backends may register fused kernels. */
import { dispatch } from '../core/dispatcher.js';
import { promoteTypes, resultType, type DType } from '../core/dtype.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { broadcastShapes, formatShape, normalizeDim, numel, shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { arange, rand } from './creation.js';
import { add, cos, div, exp, le, lt, mul, neg, pow, rsqrt, sin, sub, where, type UnaryInputs } from './elementwise.js';
import { matmul } from './linalg.js';
import { cat } from './movement.js';
import { amax, mean, sum } from './reduce.js';
import { implicitSoftmaxDim } from './softmax_dim.js';
import { requireFloat, requireTensor, sig } from './util.js';

export type SoftmaxAttrs = { readonly dim: number };

/** Numerically stable softmax along any dim: exp(x - max) / sum(exp(x - max)). */
export const Softmax = defineOp<UnaryInputs, SoftmaxAttrs>({
  name: 'Softmax',
  overwritesOutputs: true, // every kernel writes each row in full
  meta({ x }, { dim }) {
    requireFloat('softmax', x);
    normalizeDim('softmax', dim, x.ndim, x.shape);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x }, { dim }) {
    if (x.numel() === 0) return [x.clone()];
    const e = exp(sub(x, amax(x, dim, true)));
    return [div(e, sum(e, dim, true))];
  },
  flops: ({ x }) => 5 * x.numel(),
});

/** torch.softmax(x, dim); without dim, PyTorch's implicit dim (0 for 0-, 1- and 3-d inputs, else 1) with a one-time warning. */
export function softmax(x: Tensor, dim?: number): Tensor {
  requireTensor('softmax', 'input', x);
  return dispatch(Softmax, { x }, { dim: dim ?? implicitSoftmaxDim('softmax', x) });
}

// ---- normalization ----

export type LayerNormInputs = { readonly x: Tensor; readonly weight: Tensor | undefined; readonly bias: Tensor | undefined };
export type LayerNormAttrs = { readonly normalizedShape: readonly number[]; readonly eps: number };

/** Half inputs normalize in float32 and round once at the end, as PyTorch's kernels accumulate in float. */
function upcastHalf<T>(x: Tensor, fn: (x32: Tensor) => T): T {
  return fn(x.dtype === 'float16' || x.dtype === 'bfloat16' ? x.to('float32') : x);
}

/** torch.nn.functional.layer_norm over the trailing `normalizedShape` dims, biased variance. */
export const LayerNorm = defineOp<LayerNormInputs, LayerNormAttrs>({
  name: 'LayerNorm',
  overwritesOutputs: true,
  meta({ x, weight, bias }, { normalizedShape, eps }) {
    requireFloat('layer_norm', x);
    const k = normalizedShape.length;
    const tail = x.shape.slice(x.ndim - k);
    if (k === 0 || k > x.ndim || !shapesEqual(tail, normalizedShape))
      throw new ShapeError(
        `layer_norm: normalized_shape ${formatShape(normalizedShape)} must match the last ${k} dims of input ${formatShape(x.shape)}`,
      );
    for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
      if (!p) continue;
      if (!shapesEqual(p.shape, normalizedShape))
        throw new ShapeError(`layer_norm: ${name} ${formatShape(p.shape)} must have normalized_shape ${formatShape(normalizedShape)}`);
      if (p.dtype !== x.dtype) throw new DTypeError(`layer_norm: ${name} ${sig(p)} must have the input's dtype ${x.dtype}`);
    }
    if (!(eps >= 0)) throw new DTypeError(`layer_norm: eps must be >= 0, got ${eps}`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
  decompose({ x, weight, bias }, { normalizedShape, eps }) {
    const dims = normalizedShape.map((_, i) => i - normalizedShape.length);
    const y = upcastHalf(x, (x32) => {
      const centered = sub(x32, mean(x32, dims, true));
      const variance = mean(mul(centered, centered), dims, true);
      return mul(centered, rsqrt(add(variance, eps)));
    }).to(x.dtype);
    const scaled = weight ? mul(y, weight) : y;
    return [bias ? add(scaled, bias) : scaled];
  },
  flops: ({ x }) => 8 * x.numel(),
});

export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  return dispatch(
    LayerNorm,
    {
      x: requireTensor('layer_norm', 'input', x),
      weight: weight === undefined ? undefined : requireTensor('layer_norm', 'weight', weight),
      bias: bias === undefined ? undefined : requireTensor('layer_norm', 'bias', bias),
    },
    { normalizedShape: ns, eps },
  );
}

export type RmsNormInputs = { readonly x: Tensor; readonly weight: Tensor | undefined };
export type RmsNormAttrs = { readonly eps: number };

/**
 * RMSNorm the way Hugging Face's LlamaRMSNorm computes it: in float32, x·rsqrt(mean(x²) + eps), cast back to
 * the input dtype, then multiplied by the weight (so the result has the promoted dtype of weight and input).
 */
export const RmsNorm = defineOp<RmsNormInputs, RmsNormAttrs>({
  name: 'RmsNorm',
  overwritesOutputs: true,
  meta({ x, weight }, { eps }) {
    requireFloat('rms_norm', x);
    if (x.ndim === 0) throw new ShapeError('rms_norm: input needs at least 1 dim');
    const d = x.shape[x.ndim - 1]!;
    if (weight) {
      requireFloat('rms_norm', weight);
      if (weight.ndim !== 1 || weight.shape[0] !== d)
        throw new ShapeError(`rms_norm: weight ${formatShape(weight.shape)} must be [${d}] for input ${formatShape(x.shape)}`);
    }
    if (!(eps >= 0)) throw new DTypeError(`rms_norm: eps must be >= 0, got ${eps}`);
    return [{ shape: x.shape, dtype: weight ? promoteTypes(weight.dtype, x.dtype) : x.dtype }];
  },
  decompose({ x, weight }, { eps }) {
    const x32 = x.to('float32');
    const variance = mean(mul(x32, x32), -1, true);
    const normed = mul(x32, rsqrt(add(variance, eps))).to(x.dtype);
    return [weight ? mul(weight, normed) : normed];
  },
  flops: ({ x }) => 4 * x.numel(),
});

export function rmsNorm(x: Tensor, weight?: Tensor, eps = 1e-6): Tensor {
  return dispatch(
    RmsNorm,
    { x: requireTensor('rms_norm', 'input', x), weight: weight === undefined ? undefined : requireTensor('rms_norm', 'weight', weight) },
    { eps },
  );
}

/**
 * Dropout. In inference (`training` false, the default here) it is the identity and returns `x` itself, as
 * torch.nn.functional.dropout(training=False) does. In training it zeroes elements with probability p and
 * scales the rest by 1/(1-p), drawing from the default generator.
 */
export function dropout(x: Tensor, p = 0.5, training = false): Tensor {
  requireTensor('dropout', 'input', x);
  if (!(p >= 0 && p <= 1)) throw new DTypeError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return mul(x, 0);
  const keep = lt(rand([...x.shape]), 1 - p);
  return mul(where(keep, x, 0), 1 / (1 - p));
}

// ---- rotary position embedding ----

export type RopeInputs = { readonly x: Tensor; readonly cos: Tensor; readonly sin: Tensor };

/**
 * Rotary embedding in Hugging Face Llama's convention: x·cos + rotate_half(x)·sin, where rotate_half(x) =
 * cat(-x[..., D/2:], x[..., :D/2]). cos and sin ([T, D], or anything broadcastable to x) come from ropeTables.
 */
export const Rope = defineOp<RopeInputs, Record<string, never>>({
  name: 'Rope',
  meta({ x, cos, sin }) {
    requireFloat('rope', x);
    requireFloat('rope', cos);
    requireFloat('rope', sin);
    const d = x.shape[x.ndim - 1];
    if (x.ndim === 0 || d! % 2 !== 0) throw new ShapeError(`rope: the last dim of input ${formatShape(x.shape)} must be even`);
    const shape = broadcastShapes('rope', x.shape, cos.shape, sin.shape);
    if (!shapesEqual(shape, x.shape))
      throw new ShapeError(`rope: cos ${formatShape(cos.shape)} and sin ${formatShape(sin.shape)} must broadcast to input ${formatShape(x.shape)}`);
    return [{ shape: x.shape, dtype: resultType([x, cos, sin]) }];
  },
  decompose({ x, cos, sin }) {
    const half = x.shape[x.ndim - 1]! / 2;
    const rotated = cat([neg(x.narrow(-1, half, half)), x.narrow(-1, 0, half)], -1);
    return [add(mul(x, cos), mul(rotated, sin))];
  },
  flops: ({ x }) => 3 * x.numel(),
});

export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return dispatch(Rope, { x: requireTensor('rope', 'input', x), cos: requireTensor('rope', 'cos', cos), sin: requireTensor('rope', 'sin', sin) }, {});
}

export interface RopeTableOptions {
  /** Base of the frequencies (`rope_theta`), 10000 by default. */
  readonly theta?: number;
  readonly dtype?: DType;
  /**
   * The inverse frequencies [headDim/2] to use instead of 1/theta^(2i/D): scaled variants (Llama 3's
   * rope_scaling, linear position interpolation) compute their own.
   */
  readonly invFreq?: Tensor;
}

/**
 * cos/sin tables [..., T, headDim] for positions (a count T for 0..T-1, or a tensor of position ids), computed
 * as Hugging Face's LlamaRotaryEmbedding does in float32: inv_freq = 1 / theta^(2i/D), freqs = pos ⊗ inv_freq,
 * emb = cat(freqs, freqs).
 */
export function ropeTables(positions: number | Tensor, headDim: number, options: RopeTableOptions = {}): { cos: Tensor; sin: Tensor } {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) throw new ShapeError(`rope_tables: head dim must be a positive even integer, got ${headDim}`);
  const theta = options.theta ?? 10000;
  const pos = (typeof positions === 'number' ? arange(positions) : positions).to('float32');
  if (options.invFreq && (options.invFreq.ndim !== 1 || options.invFreq.shape[0] !== headDim / 2))
    throw new ShapeError(`rope_tables: invFreq ${formatShape(options.invFreq.shape)} must be [${headDim / 2}] (head dim / 2)`);
  const invFreq = options.invFreq?.to('float32') ?? div(1, pow(theta, div(arange(0, headDim, 2).to('float32'), headDim))); // (D/2)
  const freqs = mul(pos.unsqueeze(-1), invFreq); // (..., T, D/2)
  const emb = cat([freqs, freqs], -1); // (..., T, D)
  const dtype = options.dtype ?? 'float32';
  return { cos: cos(emb).to(dtype), sin: sin(emb).to(dtype) };
}

// ---- attention ----

export type AttentionInputs = { readonly q: Tensor; readonly k: Tensor; readonly v: Tensor; readonly mask: Tensor | undefined };
export type AttentionAttrs = {
  readonly isCausal: boolean;
  /** null: 1/√E */
  readonly scale: number | null;
  /** Where the causal mask's diagonal starts when L ≠ S (see scaledDotProductAttention). */
  readonly causalAlign: 'top-left' | 'bottom-right';
  readonly enableGqa: boolean;
};

/** Batch shape, sizes, and how many query heads share one key/value head. */
export interface AttentionDims {
  readonly batch: number[];
  readonly L: number;
  readonly S: number;
  readonly E: number;
  readonly Ev: number;
  readonly groups: number;
}

export function attentionDims(q: Tensor, k: Tensor, v: Tensor, enableGqa: boolean): AttentionDims {
  const op = 'scaled_dot_product_attention';
  for (const [n, t] of [['query', q], ['key', k], ['value', v]] as const)
    if (t.ndim < 2) throw new ShapeError(`${op}: ${n} ${formatShape(t.shape)} needs at least 2 dims (…, seq, embed)`);
  const [L, E] = q.shape.slice(-2) as [number, number];
  const [S, Ek] = k.shape.slice(-2) as [number, number];
  const [Sv, Ev] = v.shape.slice(-2) as [number, number];
  if (E !== Ek) throw new ShapeError(`${op}: query ${formatShape(q.shape)} and key ${formatShape(k.shape)}: embedding dims ${E} and ${Ek} differ`);
  if (S !== Sv) throw new ShapeError(`${op}: key ${formatShape(k.shape)} and value ${formatShape(v.shape)}: sequence lengths ${S} and ${Sv} differ`);
  let qb = q.shape.slice(0, -2);
  let kb = k.shape.slice(0, -2);
  let vb = v.shape.slice(0, -2);
  let groups = 1;
  if (enableGqa && q.ndim >= 3 && k.ndim >= 3) {
    const hq = q.shape[q.ndim - 3]!;
    const hk = k.shape[k.ndim - 3]!;
    const hv = v.ndim >= 3 ? v.shape[v.ndim - 3]! : 1;
    if (hk !== hv || hk === 0 || hq % hk !== 0)
      throw new ShapeError(`${op}: with enableGqa, query heads ${hq} must be a multiple of key heads ${hk} (value heads ${hv})`);
    groups = hq / hk;
    // Compare batch dims with the head dims factored out; the output keeps the query's heads.
    qb = qb.slice(0, -1);
    kb = kb.slice(0, -1);
    vb = vb.slice(0, -1);
  }
  const outer = broadcastShapes(op, qb, kb, vb);
  const batch = enableGqa && groups >= 1 && q.ndim >= 3 && k.ndim >= 3 ? [...outer, q.shape[q.ndim - 3]!] : outer;
  return { batch, L, S, E, Ev, groups };
}

export const Attention = defineOp<AttentionInputs, AttentionAttrs>({
  name: 'Attention',
  meta({ q, k, v, mask }, { isCausal, scale, causalAlign, enableGqa }) {
    const op = 'scaled_dot_product_attention';
    requireFloat(op, q);
    if (k.dtype !== q.dtype || v.dtype !== q.dtype)
      throw new DTypeError(`${op}: query, key and value must have one dtype, got ${sig(q)}, ${sig(k)}, ${sig(v)}`);
    const d = attentionDims(q, k, v, enableGqa);
    if (mask) {
      if (isCausal) throw new DTypeError(`${op}: attn_mask and is_causal cannot both be set`);
      if (mask.dtype !== 'bool' && mask.dtype !== q.dtype)
        throw new DTypeError(`${op}: attn_mask must be bool or the query's dtype ${q.dtype}, got ${sig(mask)}`);
      const target = [...d.batch, d.L, d.S];
      if (!shapesEqual(broadcastShapes(op, mask.shape, target), target))
        throw new ShapeError(`${op}: attn_mask ${formatShape(mask.shape)} must broadcast to ${formatShape(target)}`);
    }
    if (scale !== null && !Number.isFinite(scale)) throw new DTypeError(`${op}: scale must be finite, got ${scale}`);
    if (causalAlign !== 'top-left' && causalAlign !== 'bottom-right')
      throw new DTypeError(`${op}: causalAlign must be 'top-left' or 'bottom-right', got '${String(causalAlign)}'`);
    return [{ shape: [...d.batch, d.L, d.Ev], dtype: q.dtype }];
  },
  decompose({ q, k, v, mask }, { isCausal, scale, causalAlign, enableGqa }) {
    const d = attentionDims(q, k, v, enableGqa);
    let kk = k;
    let vv = v;
    if (d.groups > 1) {
      // repeat_kv: each key/value head serves `groups` consecutive query heads.
      const rep = (t: Tensor) => {
        const s = t.shape;
        const h = s[s.length - 3]!;
        const expanded = t.unsqueeze(-3).expand([...s.slice(0, -3), h, d.groups, ...s.slice(-2)]); // (…, Hk, g, S, E)
        return expanded.reshape([...s.slice(0, -3), h * d.groups, ...s.slice(-2)]); // (…, Hq, S, E)
      };
      kk = rep(k);
      vv = rep(v);
    }
    const s = scale ?? 1 / Math.sqrt(d.E);
    let scores = mul(matmul(q, kk.transpose(-2, -1)), s); // (…, L, S)
    if (isCausal) {
      const offset = causalAlign === 'bottom-right' ? d.S - d.L : 0;
      const allowed = le(arange(d.S), add(arange(d.L).unsqueeze(-1), offset)); // (L, S): key j visible to query i
      scores = where(allowed, scores, -Infinity);
    } else if (mask) {
      scores = mask.dtype === 'bool' ? where(mask, scores, -Infinity) : add(scores, mask);
    }
    return [matmul(softmax(scores, -1), vv)];
  },
  // Q·Kᵀ and P·V over every (query, key) pair: the key length S, not the query length (decode has L = 1). Causal
  // calls are counted in full, as the GEMM-equivalent work; the useful causal part is about half at L = S.
  flops({ q, k }, _attrs, outs) {
    const out = outs[0]!.shape;
    const S = k.shape[k.ndim - 2]!;
    return 2 * numel(out.slice(0, -1)) * (q.shape[q.ndim - 1]! + out[out.length - 1]!) * S;
  },
});

export interface AttentionOptions {
  /** bool (true = attend) or additive float mask, broadcastable to (…, L, S). */
  readonly attnMask?: Tensor;
  /** Causal masking. PyTorch aligns the mask top-left (query i sees keys 0..i) even when L ≠ S. */
  readonly isCausal?: boolean;
  /**
   * opshift extension: 'bottom-right' aligns the causal diagonal with the last key (query i sees keys
   * 0..i + S − L), which is what decoding with a KV cache needs. Default 'top-left' = PyTorch's is_causal.
   */
  readonly causalAlign?: 'top-left' | 'bottom-right';
  /** Scale of q·kᵀ; default 1/√E. */
  readonly scale?: number;
  /** Grouped-query attention: query heads (dim -3) are a multiple of key/value heads, repeated as in repeat_kv. */
  readonly enableGqa?: boolean;
  /** Attention dropout; only 0 is supported (inference). */
  readonly dropoutP?: number;
}

/** torch.nn.functional.scaled_dot_product_attention, plus the bottom-right causal alignment extension. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const op = 'scaled_dot_product_attention';
  if (options.dropoutP) throw new DTypeError(`${op}: dropout_p ${options.dropoutP} is not supported (inference only); pass 0`);
  return dispatch(
    Attention,
    {
      q: requireTensor(op, 'query', q),
      k: requireTensor(op, 'key', k),
      v: requireTensor(op, 'value', v),
      mask: options.attnMask === undefined ? undefined : requireTensor(op, 'attn_mask', options.attnMask),
    },
    {
      isCausal: options.isCausal ?? false,
      scale: options.scale ?? null,
      causalAlign: options.causalAlign ?? 'top-left',
      enableGqa: options.enableGqa ?? false,
    },
  );
}
