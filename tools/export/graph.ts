/**
 * The traced graph: what `trace()` records from one run (a Trace, concrete shapes) and what unifying two runs
 * at different sizes gives (a Graph, where the sizes that differ are DimExprs of the graph inputs' dims).
 */
import { OpshiftError } from '../../core/errors.js';
import type { DType } from '../../core/dtype.js';
import type { Tensor } from '../../core/tensor.js';

/** A traced model cannot be expressed as a graph (data-dependent branch, untraceable view, op with no lowering). */
export class ExportError extends OpshiftError {}

/** One dim of a graph input: `input`'s axis `axis`. */
export interface DimRef {
  readonly input: string;
  readonly axis: number;
}

/** scale · (d0 op d1 …) + offset over graph-input dims: how a size-dependent number is computed in the graph. */
export interface DimExpr {
  readonly dims: readonly DimRef[];
  readonly op: '+' | '*';
  readonly scale: number;
  readonly offset: number;
}

/** A size: a number, or an expression of the inputs' symbolic dims. */
export type Dim = number | DimExpr;

export const isExpr = (d: Dim | unknown): d is DimExpr => typeof d === 'object' && d !== null && 'dims' in d;

export type AttrValue = string | number | boolean | readonly number[] | null | undefined;
export type GAttr = string | boolean | null | undefined | Dim | readonly Dim[];

/** Inputs of a node by the op's input names (a list for ops taking several, e.g. Cat's tensors). */
export type NodeInputs = Readonly<Record<string, number | readonly number[] | undefined>>;

export interface TraceNode {
  /** The opshift op name (Linear, Rope, …) or, for views made without dispatch, `view.<kind>`. */
  readonly op: string;
  readonly inputs: NodeInputs;
  readonly attrs: Readonly<Record<string, AttrValue>>;
  readonly outputs: readonly number[];
}

export type ValueSource =
  | { readonly kind: 'input'; readonly name: string }
  | { readonly kind: 'node'; readonly node: number }
  /** A tensor made outside the trace (a parameter, a table the model cached): baked in as an initializer. */
  | { readonly kind: 'const'; readonly name: string; readonly data: Tensor; readonly parameter: boolean };

export interface TraceValue {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly source: ValueSource;
}

export interface Trace {
  readonly values: readonly TraceValue[];
  readonly nodes: readonly TraceNode[];
  readonly inputs: readonly { readonly name: string; readonly id: number }[];
  readonly outputs: readonly { readonly name: string; readonly id: number }[];
}

/** A constant whose values follow the input sizes (an arange the model built in JS): lowered to a Range. */
export interface RangeConst {
  readonly start: Dim;
  readonly length: Dim;
  readonly dtype: DType;
}

export type GraphSource = ValueSource | { readonly kind: 'range'; readonly range: RangeConst };

export interface GraphValue {
  readonly id: number;
  readonly shape: readonly Dim[];
  readonly dtype: DType;
  readonly source: GraphSource;
}

export interface GraphNode {
  readonly op: string;
  readonly inputs: NodeInputs;
  readonly attrs: Readonly<Record<string, GAttr>>;
  readonly outputs: readonly number[];
}

/** A traced graph with symbolic sizes; `symbols` names each input dim that varied between the traces. */
export interface Graph {
  readonly values: readonly GraphValue[];
  readonly nodes: readonly GraphNode[];
  readonly inputs: readonly { readonly name: string; readonly id: number }[];
  readonly outputs: readonly { readonly name: string; readonly id: number }[];
}

export function formatDim(d: Dim): string {
  if (!isExpr(d)) return String(d);
  const body = d.dims.map((r) => `${r.input}[${r.axis}]`).join(` ${d.op} `);
  const scaled = d.scale === 1 ? body : `${d.scale}·(${body})`;
  return d.offset === 0 ? scaled : `${scaled} ${d.offset > 0 ? '+' : '-'} ${Math.abs(d.offset)}`;
}

export function formatShapeDims(s: readonly Dim[]): string {
  return `[${s.map(formatDim).join(', ')}]`;
}

/** Each id in a node's inputs, in order. */
export function inputIds(inputs: NodeInputs): number[] {
  const out: number[] = [];
  for (const k in inputs) {
    const v = inputs[k];
    if (v === undefined) continue;
    if (typeof v === 'number') out.push(v);
    else out.push(...v);
  }
  return out;
}
