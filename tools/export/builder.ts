/**
 * The ONNX graph being built from a traced Graph: nodes, initializers, and the shape arithmetic that symbolic
 * sizes need (Shape(x)[axis] → Add/Mul), each computed once. Lowerings (lower_ops.ts) only call this API.
 */
import { allocStorage, type DType, type StorageArray } from '../../core/dtype.js';
import { ONNX_TYPE, type AttrValue as OnnxAttr } from '../../backends/ort/onnx_model.js';
import { ExportError, formatDim, isExpr, type Dim, type DimRef, type GraphNode, type GraphValue } from './graph.js';

export interface OnnxNode {
  readonly op: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, OnnxAttr>>;
}

export interface OnnxInit {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: StorageArray;
}

export type Attrs = Readonly<Record<string, OnnxAttr>>;

export class Builder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInit[] = [];
  readonly #names = new Map<number, string>();
  readonly #memo = new Map<string, string>();
  #counter = 0;

  constructor(readonly values: readonly GraphValue[]) {}

  fresh(hint: string): string {
    return `/${hint}_${this.#counter++}`;
  }

  bind(id: number, name: string): void {
    this.#names.set(id, name);
  }

  /** The ONNX name of a traced value (constants and ranges are materialised on first use). */
  name(id: number): string {
    const known = this.#names.get(id);
    if (known !== undefined) return known;
    const v = this.values[id]!;
    if (v.source.kind === 'const') {
      const t = v.source.data;
      const data = t.storage.data.slice(t.offset, t.offset + t.numel()) as StorageArray;
      const name = this.init(v.source.name, v.dtype, v.shape as number[], data);
      this.#names.set(id, name);
      return name;
    }
    if (v.source.kind === 'range') {
      const r = v.source.range;
      const start = this.scalar(this.dim(r.start));
      const end = this.scalar(this.add(this.dim(r.start), this.dim(r.length)));
      let out = this.one('Range', [start, end, this.scalar(this.i64([1]))]);
      if (r.dtype !== 'int64') out = this.cast(out, r.dtype);
      this.#names.set(id, out);
      return out;
    }
    throw new ExportError(`export: value %${id} is used before the node that computes it`);
  }

  value(id: number): GraphValue {
    return this.values[id]!;
  }

  /** The ONNX name of a node's single input `key`. */
  in(node: GraphNode, key: string): string {
    const v = node.inputs[key];
    if (typeof v !== 'number') throw new ExportError(`export: ${node.op} has no single input '${key}'`);
    return this.name(v);
  }

  inValue(node: GraphNode, key: string): GraphValue {
    const v = node.inputs[key];
    if (typeof v !== 'number') throw new ExportError(`export: ${node.op} has no single input '${key}'`);
    return this.values[v]!;
  }

  emit(op: string, inputs: readonly string[], attrs: Attrs = {}, outputs = 1, domain = ''): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(op));
    this.nodes.push({ op, domain, inputs, outputs: outs, attrs });
    return outs;
  }

  one(op: string, inputs: readonly string[], attrs: Attrs = {}, domain = ''): string {
    return this.emit(op, inputs, attrs, 1, domain)[0]!;
  }

  init(name: string, dtype: DType, shape: readonly number[], data: StorageArray): string {
    this.initializers.push({ name, dtype, shape, data });
    return name;
  }

  /** A constant of `dtype` holding `values` (shape [n], or [] for a scalar). */
  constant(dtype: DType, values: readonly number[], scalar = false): string {
    const key = `${dtype}:${scalar}:${values.join(',')}`;
    const hit = this.#memo.get(key);
    if (hit) return hit;
    const data = allocStorage(dtype, values.length);
    values.forEach((x, i) => {
      if (data instanceof BigInt64Array) data[i] = BigInt(x);
      else if (dtype === 'float16' || dtype === 'bfloat16')
        throw new ExportError(`export: ${dtype} graphs are not supported yet (a ${dtype} constant ${x} is needed); export the model in float32`);
      else (data as Float32Array)[i] = x;
    });
    const name = this.init(`/const_${this.#counter++}`, dtype, scalar ? [] : [values.length], data);
    this.#memo.set(key, name);
    return name;
  }

  i64(values: readonly number[]): string {
    return this.constant('int64', values);
  }

  scalar(x1: string): string {
    return this.one('Squeeze', [x1, this.i64([0])]);
  }

  cast(x: string, dtype: DType): string {
    return this.one('Cast', [x], { to: { i: ONNX_TYPE[dtype] } });
  }

  add(a: string, b: string): string {
    return this.one('Add', [a, b]);
  }

  #ref(r: DimRef): string {
    const key = `dim:${r.input}:${r.axis}`;
    let hit = this.#memo.get(key);
    if (!hit) {
      hit = this.one('Shape', [r.input], { start: { i: r.axis }, end: { i: r.axis + 1 } });
      this.#memo.set(key, hit);
    }
    return hit;
  }

  /** A size as a 1-element int64 tensor: a constant, or computed from the inputs' shapes. */
  dim(d: Dim): string {
    if (!isExpr(d)) return this.i64([d]);
    const key = `expr:${formatDim(d)}`;
    const hit = this.#memo.get(key);
    if (hit) return hit;
    let acc = this.#ref(d.dims[0]!);
    for (const r of d.dims.slice(1)) acc = this.one(d.op === '+' ? 'Add' : 'Mul', [acc, this.#ref(r)]);
    if (d.scale !== 1) acc = this.one('Mul', [acc, this.i64([d.scale])]);
    if (d.offset !== 0) acc = this.one('Add', [acc, this.i64([d.offset])]);
    this.#memo.set(key, acc);
    return acc;
  }

  /** A shape as an int64 [rank] tensor. */
  shape(dims: readonly Dim[]): string {
    if (dims.every((d) => !isExpr(d))) return this.i64(dims as number[]);
    return this.one(
      'Concat',
      dims.map((d) => this.dim(d)),
      { axis: { i: 0 } },
    );
  }

  /** `id` as `dtype`: constants converted now, other values through a Cast node. */
  as(id: number, dtype: DType): string {
    const v = this.values[id]!;
    if (v.dtype === dtype) return this.name(id);
    if (v.source.kind === 'const' && v.shape.length === 0 && dtype !== 'float16' && dtype !== 'bfloat16') {
      const t = v.source.data;
      return this.constant(dtype, [Number(t.storage.data[t.offset]!)], true);
    }
    return this.cast(this.name(id), dtype);
  }
}
