/**
 * PyTorch's float32 -> bfloat16 cast writes NaN two ways on x86 CPUs: its scalar conversion
 * (c10::BFloat16's round_to_nearest_even) gives 0x7FC0 for every NaN, while the AVX2/AVX-512 conversion used
 * when the copy's innermost loop is contiguous gives 0xFFFF (the rounding bias added to the all-ones-exponent
 * NaN pattern, with the sign of the NaN lost). Which one runs depends on the layout TensorIterator sees:
 *   - a 0-d tensor: scalar (0x7FC0);
 *   - otherwise the innermost dim after dropping size-1 dims and ordering by stride: unit stride -> vector
 *     (0xFFFF), any other stride (strided slices, a broadcast expand of a 1-D tensor) -> scalar (0x7FC0).
 * Checked against PyTorch 1.13 for 1-element, contiguous, transposed, row- and column-sliced, permuted,
 * strided and expanded inputs (test/fixtures/bf16_nan.json).
 */
import type { Tensor } from '../../core/tensor.js';

/** True when PyTorch would convert this float32 view with its vectorized kernel. */
export function castsVectorized(x: Tensor): boolean {
  if (x.ndim === 0 || x.numel() === 0) return false;
  let inner = Infinity;
  let any = false;
  for (let i = 0; i < x.ndim; i++) {
    if (x.shape[i] === 1) continue;
    any = true;
    const s = Math.abs(x.strides[i]!);
    // Broadcast (stride 0) dims do not decide the loop order while another dim has a real stride.
    if (s !== 0 && s < inner) inner = s;
  }
  return any ? inner === 1 : true;
}

/** Rewrite the bfloat16 pattern of every NaN (0x7FC0 from encodeHalf) as 0xFFFF, the vector kernel's result. */
export function vectorNanPatterns(src: Float32Array, dst: Uint16Array): void {
  for (let i = 0; i < src.length; i++) if (src[i] !== src[i]) dst[i] = 0xffff;
}
