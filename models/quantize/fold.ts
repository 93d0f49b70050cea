/** Per-channel scale folding shared by SmoothQuant and AWQ: exact rewrites of the float model (up to rounding). */
import { fromTypedArray } from '../../ops/creation.js';
import type { Linear } from '../nn/layers.js';
import type { Parameter } from '../nn/module.js';
import type { Prev } from './select.js';

/** A float32 copy of a parameter's values. */
export function floatData(p: Parameter): Float32Array {
  return (p.value.to('float32').contiguous().toArray() as Float32Array).slice();
}

/** Replace a parameter's values, keeping its dtype. */
export function setData(p: Parameter, data: Float32Array): void {
  p.set(fromTypedArray(data, [...p.shape]).to(p.value.dtype));
}

/** x → x / s at the op before the group: norm weight (and bias) ÷ s, or the previous linear's output rows (and bias) ÷ s. */
export function divideOutput(prev: Prev, s: Float32Array): void {
  if (prev.kind === 'norm') {
    const m = prev.module;
    const w = floatData(m.weight);
    for (let j = 0; j < w.length; j++) w[j] = w[j]! / s[j]!;
    setData(m.weight, w);
    if ('bias' in m && m.bias) {
      const b = floatData(m.bias);
      for (let j = 0; j < b.length; j++) b[j] = b[j]! / s[j]!;
      setData(m.bias, b);
    }
    return;
  }
  const lin = prev.module;
  const K = lin.inFeatures;
  const w = floatData(lin.weight);
  for (let r = 0; r < lin.outFeatures; r++) for (let c = 0; c < K; c++) w[r * K + c] = w[r * K + c]! / s[r]!;
  setData(lin.weight, w);
  if (lin.bias) {
    const b = floatData(lin.bias);
    for (let r = 0; r < b.length; r++) b[r] = b[r]! / s[r]!;
    setData(lin.bias, b);
  }
}

/** W → W · diag(s): the fcs' input columns × s. */
export function multiplyColumns(fc: Linear, s: Float32Array): void {
  const K = fc.inFeatures;
  const w = floatData(fc.weight);
  for (let r = 0; r < fc.outFeatures; r++) for (let c = 0; c < K; c++) w[r * K + c] = w[r * K + c]! * s[c]!;
  setData(fc.weight, w);
}

/** Per input column, max_i |W_ij| over the rows of all the given linears. */
export function columnAbsMax(fcs: readonly Linear[]): Float32Array {
  const K = fcs[0]!.inFeatures;
  const m = new Float32Array(K);
  for (const fc of fcs) {
    const w = floatData(fc.weight);
    for (let i = 0; i < w.length; i++) {
      const a = Math.abs(w[i]!);
      if (a > m[i % K]!) m[i % K] = a;
    }
  }
  return m;
}
