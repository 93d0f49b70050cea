/**
 * The cpu reference of the fused ops (ops/fused.ts). SiluMul in float32 is silu then mul with both roundings:
 * silu computed in double and rounded to float32 (Math.fround, what storing the Silu kernel's output does),
 * then the product in double rounded once on store (Mul's kernel), so it is bit-exact with the two ops. Other
 * dtypes are refused and run the decomposition (the two ops themselves).
 */
import type { Kernel } from '../../../core/op_def.js';
import type { BinaryInputs, NoAttrs } from '../../../ops/elementwise.js';
import { elementwise } from './elementwise.js';

export const siluMulKernel: Kernel<BinaryInputs, NoAttrs> = {
  supports({ a, b }, _attrs, [out]) {
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || out!.dtype !== 'float32') return 'fused only in float32 (other dtypes run silu then mul)';
    return true;
  },
  run({ a, b }, _attrs, [out]) {
    elementwise('silu_mul', { float: 'Math.fround(a / (1 + lib.exp(-a))) * b' }, [a, b], out!, 'float32');
  },
};
