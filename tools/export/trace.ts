/**
 * trace(fn, examples): what the dispatcher runs for `fn`, as one graph. With two example input sets of
 * different sizes, the sizes that differ become symbolic (unify.ts); with one, every size is fixed.
 */
import type { Storage } from '../../core/storage.js';
import type { Tensor } from '../../core/tensor.js';
import { ExportError, type Graph } from './graph.js';
import { LOWERINGS } from './lower_ops.js';
import { recordTrace } from './record.js';
import { staticGraph, unifyTraces } from './unify.js';

export type TraceFn = (inputs: Readonly<Record<string, Tensor>>) => Readonly<Record<string, Tensor>>;

export interface TraceOptions {
  /** Parameter storage → name (Module.namedParameters()), so initializers keep the checkpoint's names. */
  readonly parameters?: ReadonlyMap<Storage, string>;
}

export function trace(fn: TraceFn, examples: readonly Readonly<Record<string, Tensor>>[], options: TraceOptions = {}): Graph {
  if (examples.length !== 1 && examples.length !== 2) throw new ExportError(`trace: pass one example input set (fixed sizes) or two of different sizes (symbolic), got ${examples.length}`);
  const record = { parameters: options.parameters, lowered: (op: string) => LOWERINGS.has(op) };
  const traces = examples.map((ex) => recordTrace(fn, ex, record));
  return traces.length === 1 ? staticGraph(traces[0]!) : unifyTraces(traces[0]!, traces[1]!);
}
