/**
 * The dispatcher's one tracing hook (tools/export/trace.ts installs it while `trace()` runs). Kept in its own
 * tiny module so the dispatcher pays one property read per call when nothing is traced.
 */
import type { OpAttrs, OpDef, OpInputs } from './op_def.js';
import type { Tensor } from './tensor.js';

/** Returns the op's outputs when the tracer ran (and recorded) the call itself, undefined to dispatch as usual. */
export type TraceHook = (op: OpDef, inputs: OpInputs, attrs: OpAttrs) => Tensor[] | undefined;

export const traceState: { hook: TraceHook | undefined } = { hook: undefined };
