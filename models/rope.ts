/**
 * Rotary inverse frequencies as Hugging Face computes them (float32 arithmetic at every step), including the
 * scaled variants: Llama 3's (rope_utils `_compute_llama3_parameters`), linear position interpolation and Phi-3's
 * LongRoPE (`_compute_longrope_parameters`).
 */
import { fromTypedArray } from '../ops/creation.js';
import type { Tensor } from '../core/tensor.js';
import type { RopeScaling } from './config.js';

const f = Math.fround;

/**
 * inv_freq [headDim/2] (headDim = the rotary dims). LongRoPE uses `long` (its long factors: the sequence is past
 * original_max_position_embeddings) or its short factors: 1 / (ext_factor · base^(2i/D)) in float32.
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling | undefined, long = false): Tensor {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  if (scaling?.type === 'longrope') {
    const ext = long ? scaling.longFactor : scaling.shortFactor;
    for (let i = 0; i < half; i++) inv[i] = f(1 / f(f(ext[i]!) * f(Math.pow(f(theta), f((2 * i) / headDim)))));
    return fromTypedArray(inv, [half]);
  }
  // 1 / base^(arange(0, D, 2).float() / D), each op rounded to float32 as torch does.
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(Math.pow(f(theta), f((2 * i) / headDim))));
  if (scaling?.type === 'linear') for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / scaling.factor);
  if (scaling?.type === 'llama3') {
    const { factor, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: old } = scaling;
    // Python scalars meet float32 tensors as float32 values; `scalar / t` is reciprocal(t) * scalar in torch.
    const lowWavelen = f(old / lo);
    const highWavelen = f(old / hi);
    for (let i = 0; i < half; i++) {
      const x = inv[i]!;
      const wavelen = f(f(1 / x) * f(2 * Math.PI));
      let v = wavelen > lowWavelen ? f(x / f(factor)) : x; // long wavelengths: interpolate fully
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (medium) {
        const smooth = f(f(f(f(1 / wavelen) * f(old)) - f(lo)) / f(hi - lo));
        v = f(f(f(f(1 - smooth) * v) / f(factor)) + f(smooth * v));
      }
      inv[i] = v;
    }
  }
  return fromTypedArray(inv, [half]);
}
