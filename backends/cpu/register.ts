/** The explicit list of CPU kernels (no import side effects: registration happens when this is called). */
import { registerKernel } from '../../core/registry.js';
import type { Kernel, OpDef } from '../../core/op_def.js';
import * as E from '../../ops/elementwise.js';
import { Linear, MatMul } from '../../ops/linalg.js';
import { Cat } from '../../ops/movement.js';
import { Embedding, Gather, IndexSelect, MaskedFill, Repeat, Tril, Triu } from '../../ops/indexing.js';
import { AMax, AMin, ArgMin, CumSum, LogSoftmax, Min, TopK, Var } from '../../ops/reduce2.js';
import { Attention, LayerNorm, RmsNorm, Rope, Softmax } from '../../ops/nn.js';
import { ArgMax, Max, Mean, Sum } from '../../ops/reduce.js';
import { Dequantize, LinearW4, LinearW8A8, Quantize } from '../../ops/quant.js';
import { CopyInto } from '../../ops/inplace.js';
import { Flip, IndexPut, MaskedSelect, Scatter, Sort } from '../../ops/ordering.js';
import { Im2Col, Pad } from '../../ops/conv.js';
import { flipKernel, indexPutKernel, maskedSelectKernel, scatterKernel, sortKernel } from './kernels/ordering.js';
import { im2colKernel, padKernel } from './kernels/conv.js';
import { copyIntoKernel } from './kernels/inplace.js';
import { cpuBackend } from './backend.js';
import { dequantizeKernel, linearW4Kernel, linearW8A8Kernel, quantizeKernel } from './kernels/quant.js';
import { castKernel, copyKernel } from './kernels/cast.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { elementwiseMoreKernels } from './kernels/elementwise_more.js';
import { siluMulKernel } from './kernels/fused.js';
import { SiluMul } from '../../ops/fused.js';
import { reduceMoreKernels } from './kernels/reduce_more.js';
import { linearKernel, matmulKernel } from './kernels/linalg.js';
import { catKernel } from './kernels/movement.js';
import {
  embeddingKernel,
  gatherKernel,
  indexSelectKernel,
  maskedFillKernel,
  repeatKernel,
  trilKernel,
  triuKernel,
} from './kernels/indexing.js';
import { aminKernel, amaxKernel, argminKernel, cumsumKernel, logSoftmaxKernel, minKernel, topkKernel, varKernel } from './kernels/reduce2.js';
import { attentionKernel, layerNormKernel, rmsNormKernel, ropeKernel } from './kernels/nn.js';
import { argmaxKernel, maxKernel, meanKernel, softmaxKernel, sumKernel } from './kernels/reduce.js';

type AnyPair = [OpDef<never, never>, Kernel<never, never>];
const pair = <I extends object, A extends object>(op: OpDef<I & never, A & never>, k: Kernel<I & never, A & never>): AnyPair =>
  [op, k] as unknown as AnyPair;

export function cpuKernels(): AnyPair[] {
  return [
    ...elementwiseKernels,
    ...elementwiseMoreKernels,
    ...reduceMoreKernels,
    pair(SiluMul, siluMulKernel),
    pair(E.Cast, castKernel),
    pair(E.Contiguous, copyKernel),
    pair(CopyInto, copyIntoKernel),
    pair(Sum, sumKernel),
    pair(Mean, meanKernel),
    pair(Max, maxKernel),
    pair(ArgMax, argmaxKernel),
    pair(Softmax, softmaxKernel),
    pair(LayerNorm, layerNormKernel),
    pair(RmsNorm, rmsNormKernel),
    pair(Rope, ropeKernel),
    pair(Attention, attentionKernel),
    pair(MatMul, matmulKernel),
    pair(Linear, linearKernel),
    pair(Cat, catKernel),
    pair(LinearW8A8, linearW8A8Kernel),
    pair(LinearW4, linearW4Kernel),
    pair(Quantize, quantizeKernel),
    pair(Dequantize, dequantizeKernel),
    pair(Repeat, repeatKernel),
    pair(IndexSelect, indexSelectKernel),
    pair(Gather, gatherKernel),
    pair(Embedding, embeddingKernel),
    pair(MaskedFill, maskedFillKernel),
    pair(Tril, trilKernel),
    pair(Triu, triuKernel),
    pair(Min, minKernel),
    pair(AMax, amaxKernel),
    pair(AMin, aminKernel),
    pair(ArgMin, argminKernel),
    pair(Var, varKernel),
    pair(CumSum, cumsumKernel),
    pair(TopK, topkKernel),
    pair(LogSoftmax, logSoftmaxKernel),
    pair(Sort, sortKernel),
    pair(Flip, flipKernel),
    pair(Scatter, scatterKernel),
    pair(IndexPut, indexPutKernel),
    pair(MaskedSelect, maskedSelectKernel),
    pair(Pad, padKernel),
    pair(Im2Col, im2colKernel),
  ];
}

export function registerCpu(): void {
  for (const [op, kernel] of cpuKernels()) registerKernel(op, cpuBackend.name, kernel);
}
