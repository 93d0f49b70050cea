/**
 * Registers the native backend, lazily: koffi and the library are loaded by the probe on first need (the first
 * dispatch of an op it has a kernel for), never at import.
 */
import { registerBackend, registerKernel } from '../../core/registry.js';
import { Add, Cast, Div, Gelu, Mul, Relu, Silu, Sub } from '../../ops/elementwise.js';
import { Attention, LayerNorm, RmsNorm, Rope, Softmax } from '../../ops/nn.js';
import { LogSoftmax } from '../../ops/reduce2.js';
import { CopyInto } from '../../ops/inplace.js';
import { SiluMul } from '../../ops/fused.js';
import { Embedding } from '../../ops/indexing.js';
import { nativeBackend } from './backend.js';
import * as K from './kernels.js';

export function registerNative(): void {
  registerBackend(nativeBackend, { lazy: true });
  const name = nativeBackend.name;
  registerKernel(Attention, name, K.attentionKernel);
  registerKernel(Softmax, name, K.softmaxKernel);
  registerKernel(LogSoftmax, name, K.logSoftmaxKernel);
  registerKernel(RmsNorm, name, K.rmsNormKernel);
  registerKernel(LayerNorm, name, K.layerNormKernel);
  registerKernel(Rope, name, K.ropeKernel);
  registerKernel(Silu, name, K.siluKernel);
  registerKernel(Gelu, name, K.geluKernel);
  registerKernel(Relu, name, K.reluKernel);
  registerKernel(Add, name, K.addKernel);
  registerKernel(Sub, name, K.subKernel);
  registerKernel(Mul, name, K.mulKernel);
  registerKernel(Div, name, K.divKernel);
  registerKernel(CopyInto, name, K.copyIntoKernel);
  registerKernel(SiluMul, name, K.siluMulKernel);
  registerKernel(Cast, name, K.castKernel);
  registerKernel(Embedding, name, K.embeddingKernel);
}
