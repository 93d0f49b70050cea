/** The layers OPT and Llama are built from; forward is one op call each, placement is the dispatcher's job. */
import type { Tensor } from '../../core/tensor.js';
import { embedding } from '../../ops/indexing.js';
import { linear } from '../../ops/linalg.js';
import { layerNorm, rmsNorm } from '../../ops/nn.js';
import { Module, type Parameter } from './module.js';

/**
 * What model code calls a linear through: the float Linear or a quantized variant (models/nn/qlinear.ts), which
 * `quantize()` swaps in place with Module.replaceChild.
 */
export interface LinearLike extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  forward(x: Tensor): Tensor;
}

export class Linear extends Module implements LinearLike {
  readonly weight: Parameter; // [out, in], as Hugging Face stores it
  readonly bias: Parameter | undefined;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean; std?: number } = {},
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], { normal: options.std ?? 0.02 });
    // GEMM backends keep their own prepared form: the host copy goes once they have it (core/weight.ts).
    this.weight.hostCopy = 'release';
    this.bias = options.bias ? this.param('bias', [outFeatures], { constant: 0 }) : undefined;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight.value, this.bias?.value);
  }
}

export class Embedding extends Module {
  readonly weight: Parameter; // [num, dim]
  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
  ) {
    super();
    this.weight = this.param('weight', [numEmbeddings, dim], { normal: 0.02 });
  }

  forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight.value);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', [dim], { constant: 1 });
    this.bias = this.param('bias', [dim], { constant: 0 });
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, [this.dim], this.weight.value, this.bias.value, this.eps);
  }
}

/** Llama's RMSNorm as Hugging Face computes it: in float32, cast back to the input dtype, then scaled. */
export class RMSNorm extends Module {
  readonly weight: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', [dim], { constant: 1 });
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight.value, this.eps);
  }
}
