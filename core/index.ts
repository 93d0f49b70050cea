/**
 * opshift's public surface (`import … from 'opshift'`): Tensor and factories, ops, dispatch control
 * (withBackend, withPolicy, setPolicy), the profiler, backend configuration and registration. Importing it
 * registers the built-in backends lazily: no native library (onnxruntime-node, koffi, the wasm module) is loaded
 * until a backend is first needed. Models, nn modules, tokenizers, checkpoint I/O and quantization are the
 * subpaths `opshift/models`, `opshift/nn`, `opshift/tokenizers`, `opshift/io`, `opshift/quantize`, `opshift/tools`.
 */
import { registerDefaultBackends } from '../backends/index.js';

export { Tensor, type TensorLike, type NestedList } from './tensor.js';
export { Storage } from './storage.js';
export { weightStats, setHostSource, hostWeightBytes, type WeightStats, type HostSource } from './weight.js';
export { DTYPES, type DType, promoteTypes, resultType, isFloating, isIntegral, itemSize } from './dtype.js';
export { f32ToF16, f32ToBf16, f16ToF32, bf16ToF32, f32BitsToF16, f32BitsToBf16 } from './half.js';
export * from './errors.js';
export { defineOp, listOps, getOp, type OpDef, type Kernel, type TensorSpec, type OpInputs, type OpAttrs } from './op_def.js';
export {
  registerBackend,
  unregisterBackend,
  probeBackends,
  isProbed,
  backendNames,
  type RegisterBackendOptions,
  registerKernel,
  listBackends,
  backendStatus,
  coverage,
  type Backend,
  type BackendStatus,
  type BackendInfo,
  type CoverageRow,
} from './registry.js';
export { withBackend, withPolicy, setPolicy, getPolicy, setPriority, byRows, DECOMPOSE, type Policy, type OpRule, type CallInfo } from './policy.js';
export { parsePolicy } from './policy_spec.js';
export { dispatch, dispatchAll, dumpDispatch } from './dispatcher.js';
export { tidy, keep, dispose } from './scope.js';
export { poolStats, resetPoolStats, setPoolLimit, clearPool, type PoolStats } from './pool.js';
export { profile, setDebug, notePrepared, Profile, type OpRecord, type SummaryRow } from './profiler.js';
export { registerDefaultBackends } from '../backends/index.js';
export { configureOrt, ortConfig, type OrtConfig } from '../backends/ort/config.js';
export { configureNpu, npuConfig, type NpuConfig } from '../backends/npu/config.js';
export { configureNative, nativeConfig, type NativeConfig, type NativeIsa } from '../backends/native/config.js';
export { manualSeed, Generator, defaultGenerator } from './random.js';
export { fromNdarray, toNdarray } from './interop.js';
export * from '../ops/index.js';

registerDefaultBackends();
