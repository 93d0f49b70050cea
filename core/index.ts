/**
 * opshift's public surface: Tensor and factories, ops, dispatch control (withBackend, withPolicy, setPolicy),
 * the profiler, and registration for new backends. Importing it registers the built-in backends.
 */
import { registerDefaultBackends } from '../backends/index.js';

export { Tensor, type TensorLike, type NestedList } from './tensor.js';
export { Storage } from './storage.js';
export { DTYPES, type DType, promoteTypes, resultType, isFloating, isIntegral, itemSize } from './dtype.js';
export { f32ToF16, f32ToBf16, f16ToF32, bf16ToF32, f32BitsToF16, f32BitsToBf16 } from './half.js';
export * from './errors.js';
export { defineOp, listOps, getOp, type OpDef, type Kernel, type TensorSpec, type OpInputs, type OpAttrs } from './op_def.js';
export {
  registerBackend,
  unregisterBackend,
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
export { profile, setDebug, Profile, type OpRecord, type SummaryRow } from './profiler.js';
export { manualSeed, Generator, defaultGenerator } from './random.js';
export { fromNdarray, toNdarray } from './interop.js';
export * from '../ops/index.js';

registerDefaultBackends();
