/**
 * Quantized linears: drop-in replacements for Linear (same inFeatures/outFeatures/forward) that hold quantized
 * weights as parameters and call one quantized op each — so `--dispatch "LinearW8A8=npu,LinearW4=ort"` moves
 * them like any op. `quantize()` (models/quantize) swaps them in with Module.replaceChild.
 *
 * Parameter names (the saved checkpoint's tensor names, see models/quantize/checkpoint.ts):
 * - QLinearW8A8: `weight` int8 [out, in], `weight_scale` float32 [] (per tensor) or [out] (per channel), `bias` float32 [out].
 * - QLinearW4: `qweight` uint8 [out, in/2] (two uint4 a byte, low nibble first), `scales` float32 [out, in/G],
 *   `zeros` uint8 [out, in/G] (0..15), `bias` float32 [out].
 */
import type { Tensor } from '../../core/tensor.js';
import { ArgumentError } from '../../core/errors.js';
import { fromTypedArray } from '../../ops/creation.js';
import { dequantizePerGroup, linearW4, linearW8A8, quantizeWeightInt8, quantizeWeightUint4, type QuantizedW4 } from '../../ops/quant.js';
import { Module, type Parameter } from './module.js';
import type { Linear, LinearLike } from './layers.js';

/** Activations enter the quantized ops in float32 (the model may run in bf16/f16) and leave in the input dtype. */
function inF32(x: Tensor, f: (x32: Tensor) => Tensor): Tensor {
  if (x.dtype === 'float32') return f(x);
  return f(x.to('float32')).to(x.dtype);
}

function floatBias(lin: Linear): Tensor | undefined {
  return lin.bias?.value.to('float32');
}

export class QLinearW8A8 extends Module implements LinearLike {
  readonly weight: Parameter;
  readonly weightScale: Parameter;
  readonly bias: Parameter | undefined;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly options: { readonly bias?: boolean; readonly perChannel?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], { constant: 0 }, 'int8');
    this.weightScale = this.param('weight_scale', options.perChannel ? [outFeatures] : [], { constant: 1 }, 'float32');
    this.bias = options.bias ? this.param('bias', [outFeatures], { constant: 0 }, 'float32') : undefined;
  }

  /** quantize_dynamic's int8 weights (per tensor: absmax/127.5; or per output channel) of a float Linear. */
  static fromLinear(lin: Linear, options: { perChannel?: boolean } = {}): QLinearW8A8 {
    const q = new QLinearW8A8(lin.inFeatures, lin.outFeatures, { bias: lin.bias !== undefined, perChannel: options.perChannel });
    const { weight, scale } = quantizeWeightInt8(lin.weight.value.to('float32'), { perChannel: options.perChannel });
    q.weight.set(weight);
    q.weightScale.set(scale);
    const b = floatBias(lin);
    if (b && q.bias) q.bias.set(b);
    return q;
  }

  forward(x: Tensor): Tensor {
    return inF32(x, (x32) => linearW8A8(x32, this.weight.value, this.weightScale.value, this.bias?.value));
  }

  /** The float weight the int8 one stands for ([out, in], weight · scale). */
  dequantizedWeight(): Tensor {
    const s = this.weightScale.value;
    return this.weight.value.to('float32').mul(s.ndim === 0 ? s : s.reshape([this.outFeatures, 1]));
  }
}

export class QLinearW4 extends Module implements LinearLike {
  readonly qweight: Parameter;
  readonly scales: Parameter;
  readonly zeros: Parameter;
  readonly bias: Parameter | undefined;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly groupSize: number,
    options: { readonly bias?: boolean } = {},
  ) {
    super();
    if (!Number.isInteger(groupSize) || groupSize < 2 || inFeatures % groupSize !== 0)
      throw new ArgumentError(`QLinearW4: in_features ${inFeatures} is not a multiple of the group size ${groupSize}`);
    const groups = inFeatures / groupSize;
    this.qweight = this.param('qweight', [outFeatures, inFeatures / 2], { constant: 0x88 }, 'uint8');
    this.scales = this.param('scales', [outFeatures, groups], { constant: 0 }, 'float32');
    this.zeros = this.param('zeros', [outFeatures, groups], { constant: 8 }, 'uint8');
    this.bias = options.bias ? this.param('bias', [outFeatures], { constant: 0 }, 'float32') : undefined;
  }

  /** From quantized tensors (quantizeWeightUint4's, or a repacked AutoAWQ checkpoint's). */
  static fromQuantized(q: QuantizedW4, bias: Tensor | undefined): QLinearW4 {
    const [N, half] = q.qweight.shape as [number, number];
    const m = new QLinearW4(2 * half, N, q.blockSize, { bias: bias !== undefined });
    m.qweight.set(q.qweight);
    m.scales.set(q.scales);
    if (q.zeros) m.zeros.set(q.zeros);
    else m.zeros.set(fromTypedArray(new Uint8Array(N * (m.inFeatures / q.blockSize)).fill(8), [N, m.inFeatures / q.blockSize])); // symmetric: zero 8
    if (bias && m.bias) m.bias.set(bias.to('float32'));
    return m;
  }

  /** AWQ's asymmetric uint4 quantization (per group of `groupSize` along in_features) of a float Linear. */
  static fromLinear(lin: Linear, groupSize: number): QLinearW4 {
    return QLinearW4.fromQuantized(quantizeWeightUint4(lin.weight.value.to('float32'), groupSize), floatBias(lin));
  }

  get quantized(): QuantizedW4 {
    return { qweight: this.qweight.value, scales: this.scales.value, zeros: this.zeros.value, blockSize: this.groupSize };
  }

  forward(x: Tensor): Tensor {
    return inF32(x, (x32) => linearW4(x32, this.quantized, this.bias?.value));
  }

  /** The float weight ([out, in]): (q − zero) · scale per group. */
  dequantizedWeight(): Tensor {
    return dequantizePerGroup(this.qweight.value, this.scales.value, this.zeros.value, this.groupSize, 'uint4');
  }
}
