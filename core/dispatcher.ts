/**
 * dispatch(op, inputs, attrs): meta once, pick a backend per call, run its kernel, record why.
 *   a. `op.meta` validates and computes output specs: a bad call fails before any backend runs.
 *   b. candidates: scoped overrides, then the global policy, then priority (core/policy.ts).
 *   c. the first candidate that is available, has a kernel, and whose `supports()` accepts.
 *   d. none: the op's decomposition if it has one, else NoKernelError listing every refusal.
 *   e. outputs are allocated here (contiguous; arrays reused from the pool when released ones fit, zeroed
 *      unless the op declares `overwritesOutputs`), the kernel fills them.
 *   f. while profiling or OPSHIFT_DEBUG is on, an OpRecord with the cause.
 * Disposed inputs fail first, with DisposedError naming the op. Backend selection and the kernel run outside
 * any tidy() scope (tensors a backend creates for itself, e.g. prepared-weight caches, must outlive the
 * caller's scope); the outputs then join the caller's scope like any tensor it creates.
 */
import { itemSize } from './dtype.js';
import { DisposedError, NoKernelError, type Refusal } from './errors.js';
import { defaultFlops, type OpAttrs, type OpDef, type OpInputs, type TensorSpec } from './op_def.js';
import { candidates, DECOMPOSE, type CallInfo } from './policy.js';
import { emitRecord, profilerState, sigOf } from './profiler.js';
import { backendStatus, type BackendStatus } from './registry.js';
import { scopeState } from './scope.js';
import { numel } from './shape.js';
import { Tensor } from './tensor.js';
import { traceState } from './trace_hook.js';
import type { DType } from './dtype.js';

function refusalOf(op: OpDef, backend: string, status: BackendStatus | undefined, inputs: OpInputs, attrs: OpAttrs, outs: readonly TensorSpec[]): string | undefined {
  if (!status) return 'is not registered';
  if (!status.available) return `is unavailable (${status.reason})`;
  const kernel = op.kernels.get(backend);
  if (!kernel) return `has no ${op.name} kernel`;
  if (!kernel.supports) return undefined;
  const ok = kernel.supports(inputs, attrs, outs);
  if (ok === true) return undefined;
  return ok === false ? `rejects ${describeCall(inputs)}` : ok;
}

function inputTensors(inputs: OpInputs): Tensor[] {
  const out: Tensor[] = [];
  for (const k in inputs) {
    const v = inputs[k];
    if (v === undefined) continue;
    if (v instanceof Tensor) out.push(v);
    else for (const t of v) out.push(t);
  }
  return out;
}

function describeCall(inputs: OpInputs): string {
  const ts = inputTensors(inputs);
  return sigOf(
    ts.map((t) => t.shape),
    ts.map((t) => t.dtype),
  );
}

function fallbackCause(refusals: readonly Refusal[], picked: string): string {
  return `fallback: ${refusals.map((r) => `${r.backend} ${r.reason}`).join('; ')} -> ${picked}`;
}

function record(
  op: OpDef,
  backend: string,
  cause: string,
  inputs: OpInputs,
  attrs: OpAttrs,
  specs: readonly TensorSpec[],
  start: number,
  ms: number,
  prepared = false,
): void {
  const ins = inputTensors(inputs);
  let bytes = 0;
  for (const t of ins) bytes += t.numel() * itemSize(t.dtype);
  for (const s of specs) bytes += numel(s.shape) * itemSize(s.dtype);
  emitRecord({
    op: op.name,
    backend,
    cause,
    inputShapes: ins.map((t) => t.shape),
    inputDTypes: ins.map((t) => t.dtype),
    outShapes: specs.map((s) => s.shape),
    outDTypes: specs.map((s) => s.dtype as DType),
    start,
    ms,
    flops: op.flops ? op.flops(inputs, attrs, specs) : defaultFlops(specs),
    bytes,
    depth: profilerState.depth,
    ...(prepared ? { prepared } : {}),
  });
}

function runDecomposition(op: OpDef, inputs: OpInputs, attrs: OpAttrs, specs: readonly TensorSpec[], cause: string): Tensor[] {
  const rec = profilerState.recording;
  const start = rec ? performance.now() : 0;
  profilerState.depth++;
  let outs: Tensor[];
  try {
    outs = op.decompose!(inputs, attrs);
  } finally {
    profilerState.depth--;
  }
  if (rec) record(op, DECOMPOSE, cause, inputs, attrs, specs, start, performance.now() - start);
  return outs;
}

function disposedInput(op: OpDef, inputs: OpInputs): DisposedError | undefined {
  for (const k in inputs) {
    const v = inputs[k];
    if (v === undefined) continue;
    if (v instanceof Tensor) {
      if (v.isDisposed) return new DisposedError(op.name, `input '${k}' ${v.dtype}[${v.shape.join(', ')}]`);
    } else for (let i = 0; i < v.length; i++) if (v[i]!.isDisposed) return new DisposedError(op.name, `input '${k}[${i}]' ${v[i]!.dtype}[${v[i]!.shape.join(', ')}]`);
  }
  return undefined;
}

/** Dispatch an op and return all its outputs. */
export function dispatchAll<I extends OpInputs, A extends OpAttrs>(opDef: OpDef<I, A>, inputs: I, attrs: A): Tensor[] {
  const op = opDef as unknown as OpDef;
  const dead = disposedInput(op, inputs);
  if (dead) throw dead;
  if (traceState.hook !== undefined) {
    const traced = traceState.hook(op, inputs, attrs); // tools/export/trace.ts records the call
    if (traced !== undefined) return traced;
  }
  const specs = op.meta(inputs, attrs);
  const cands = candidates(op, (): CallInfo => ({ op: op.name, inputs, attrs, outs: specs }));

  let refusals: Refusal[] | undefined;
  let decomposeCause: string | undefined;
  let outs: Tensor[] | undefined;
  // A kernel's supports() may prepare too (ORT builds its session there): cleared before the candidates run.
  profilerState.prepared = false;
  const scope = scopeState.current;
  scopeState.current = undefined;
  try {
    for (let c = 0; c < cands.length; c++) {
      const cand = cands[c]!;
      if (cand.backend === DECOMPOSE) {
        if (op.decompose) {
          decomposeCause = refusals ? fallbackCause(refusals, DECOMPOSE) : cand.cause;
          break;
        }
        (refusals ??= []).push({ backend: DECOMPOSE, reason: `${op.name} has no decomposition` });
        continue;
      }
      // The default order lists every backend not known to be unavailable; one that a lazy probe finds
      // unavailable here drops out silently, as it would have been left out of the order had it been probed.
      const status = backendStatus(cand.backend);
      if (cand.cause === 'priority' && status?.available === false) continue;
      const reason = refusalOf(op, cand.backend, status, inputs, attrs, specs);
      if (reason !== undefined) {
        (refusals ??= []).push({ backend: cand.backend, reason });
        continue;
      }
      const kernel = op.kernels.get(cand.backend)!;
      outs = new Array<Tensor>(specs.length);
      const zero = op.overwritesOutputs !== true;
      for (let i = 0; i < specs.length; i++) outs[i] = Tensor.output([...specs[i]!.shape], specs[i]!.dtype, zero);
      if (!profilerState.recording) {
        kernel.run(inputs, attrs, outs);
        break;
      }
      const start = performance.now();
      kernel.run(inputs, attrs, outs);
      const ms = performance.now() - start;
      const prepared = profilerState.prepared;
      profilerState.prepared = false;
      record(op, cand.backend, refusals ? fallbackCause(refusals, cand.backend) : cand.cause, inputs, attrs, specs, start, ms, prepared);
      break;
    }
  } finally {
    scopeState.current = scope;
  }
  if (outs !== undefined) {
    if (scope !== undefined) for (let i = 0; i < outs.length; i++) scope.push(outs[i]!);
    return outs;
  }
  // Decompositions run in the caller's scope: their primitives' outputs are the caller's temporaries.
  if (decomposeCause !== undefined) return runDecomposition(op, inputs, attrs, specs, decomposeCause);
  if (op.decompose) {
    if (op.view && op.kernels.size === 0) return runDecomposition(op, inputs, attrs, specs, 'decomposed (view)');
    const why = refusals ? refusals.map((r) => `${r.backend} ${r.reason}`).join('; ') : 'no candidates';
    return runDecomposition(op, inputs, attrs, specs, `decomposed: ${why}`);
  }
  throw new NoKernelError(op.name, describeCall(inputs), refusals ?? []);
}

/** Dispatch a single-output op. */
export function dispatch<I extends OpInputs, A extends OpAttrs>(op: OpDef<I, A>, inputs: I, attrs: A): Tensor {
  return dispatchAll(op, inputs, attrs)[0]!;
}

/** The candidate list an op would use right now (for debugging and `opshift ops`). */
export function dumpDispatch(op: OpDef): readonly { backend: string; cause: string }[] {
  return candidates(op, () => ({ op: op.name, inputs: {}, attrs: {}, outs: [] }));
}
