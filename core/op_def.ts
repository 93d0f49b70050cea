/**
 * OpDef: the one place an op's shape and dtype rules live (PyTorch's "meta" functions). `meta` validates the
 * call and returns output specs; kernels only fill outputs. Composite ops carry a `decompose` into primitives
 * that the dispatcher runs when no backend has a fused kernel.
 */
import type { DType } from './dtype.js';
import { numel, type Shape } from './shape.js';
import type { Tensor } from './tensor.js';

export type OpInputs = { readonly [name: string]: Tensor | readonly Tensor[] | undefined };
/** Attributes are plain serialisable data, so ORT can map them to ONNX attributes and profiles can print them. */
export type OpAttrs = { readonly [name: string]: string | number | boolean | readonly number[] | undefined | null };

export interface TensorSpec {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Kernel<I extends OpInputs = OpInputs, A extends OpAttrs = OpAttrs> {
  /** Fill `outs` (fresh contiguous tensors matching the op's meta) from `inputs`. */
  run(inputs: I, attrs: A, outs: Tensor[]): void;
  /** Decline a call: `true` accepts; `false` or a reason string ("rejects float16") refuses, and dispatch falls back. */
  supports?(inputs: I, attrs: A, outs: readonly TensorSpec[]): boolean | string;
}

export interface OpDefinition<I extends OpInputs, A extends OpAttrs> {
  readonly name: string;
  readonly doc?: string;
  /** Validate the call and return the output specs, or throw ShapeError/DTypeError naming op, shapes and rule. */
  meta(inputs: I, attrs: A): TensorSpec[];
  /**
   * The decomposition only builds views of the inputs (split, chunk): no backend computes anything, so its
   * profile cause is `decomposed (view)` rather than every backend's refusal.
   */
  readonly view?: boolean;
  /** Composite ops: the same result from primitives (each dispatched on its own). */
  decompose?(inputs: I, attrs: A): Tensor[];
  /**
   * Every kernel of this op writes every element of its outputs (elementwise ops, softmax, norms), so an output
   * array reused from the pool (core/pool.ts) need not be zero-filled first. Default false: zeroed, for kernels
   * that accumulate into their output or leave parts of it alone.
   */
  readonly overwritesOutputs?: boolean;
  /** Floating-point operations of one call, for profiles and benchmarks. Default: one per output element. */
  flops?(inputs: I, attrs: A, outs: readonly TensorSpec[]): number;
}

export interface OpDef<I extends OpInputs = OpInputs, A extends OpAttrs = OpAttrs> extends OpDefinition<I, A> {
  /** backend name -> kernel; filled by registerKernel. */
  readonly kernels: Map<string, Kernel<I, A>>;
  /** Dispatch's cache of the static candidate list, keyed by policy version. */
  cache: { version: number; list: readonly Candidate[]; dynamic: boolean } | undefined;
}

export interface Candidate {
  readonly backend: string;
  readonly cause: string;
}

const allOps = new Map<string, OpDef>();

export function defineOp<I extends OpInputs, A extends OpAttrs>(def: OpDefinition<I, A>): OpDef<I, A> {
  if (allOps.has(def.name)) throw new Error(`defineOp: op '${def.name}' is defined twice`);
  const op: OpDef<I, A> = { ...def, kernels: new Map(), cache: undefined };
  allOps.set(def.name, op as unknown as OpDef);
  return op;
}

export function listOps(): OpDef[] {
  return [...allOps.values()];
}

export function getOp(name: string): OpDef | undefined {
  return allOps.get(name);
}

export function defaultFlops(outs: readonly TensorSpec[]): number {
  let n = 0;
  for (const o of outs) n += numel(o.shape);
  return n;
}
