/**
 * Two traces of the same code at different input sizes → one graph with symbolic sizes. The traces must have
 * the same ops in the same order (otherwise the code branched on a size or on data: an error naming the first
 * op that differs). Every number that differs (a dim, a narrow's start, a reshape target) is solved as
 * scale·(input dims)+offset from the two values; constants must agree, except an arange the model built in JS,
 * which becomes a Range over the solved bounds.
 */
import { formatShape } from '../../core/shape.js';
import {
  ExportError,
  inputIds,
  type AttrValue,
  type Dim,
  type DimExpr,
  type DimRef,
  type GAttr,
  type Graph,
  type GraphNode,
  type GraphSource,
  type GraphValue,
  type Trace,
  type TraceValue,
} from './graph.js';

interface Symbol {
  readonly ref: DimRef;
  readonly a: number;
  readonly b: number;
}

class Solver {
  readonly terms: { dims: DimRef[]; op: '+' | '*'; a: number; b: number }[] = [];
  constructor(symbols: readonly Symbol[]) {
    for (const s of symbols) this.terms.push({ dims: [s.ref], op: '+', a: s.a, b: s.b });
    for (let i = 0; i < symbols.length; i++)
      for (let j = i + 1; j < symbols.length; j++) {
        const [x, y] = [symbols[i]!, symbols[j]!];
        this.terms.push({ dims: [x.ref, y.ref], op: '+', a: x.a + y.a, b: x.b + y.b });
        this.terms.push({ dims: [x.ref, y.ref], op: '*', a: x.a * y.a, b: x.b * y.b });
      }
  }

  /** The expression that is `a` in the first trace and `b` in the second; plain offsets and scale 1 first. */
  solve(a: number, b: number, what: () => string): Dim {
    if (a === b) return a;
    let best: { expr: DimExpr; rank: number } | undefined;
    for (const t of this.terms) {
      if (t.a === t.b) continue;
      const scale = (b - a) / (t.b - t.a);
      if (!Number.isInteger(scale) || scale === 0) continue;
      const offset = a - scale * t.a;
      const rank = (scale === 1 ? 0 : 2) + (offset === 0 ? 0 : 1);
      if (!best || rank < best.rank) best = { expr: { dims: t.dims, op: t.op, scale, offset }, rank };
      if (rank === 0) break;
    }
    if (!best) throw new ExportError(`trace: ${what()} is ${a} in the first trace and ${b} in the second, and no expression of the input sizes gives both`);
    return best.expr;
  }
}

function sameData(x: TraceValue, y: TraceValue): boolean {
  if (x.source.kind !== 'const' || y.source.kind !== 'const') return false;
  if (x.source.data === y.source.data) return true;
  if (x.dtype !== y.dtype || formatShape(x.shape) !== formatShape(y.shape)) return false;
  const p = x.source.data.storage.data;
  const q = y.source.data.storage.data;
  const n = x.source.data.numel();
  const po = x.source.data.offset;
  const qo = y.source.data.offset;
  for (let i = 0; i < n; i++) if (p[po + i] !== q[qo + i]) return false;
  return true;
}

/** Consecutive integers start, start+1, …: an arange built in JS from a size. */
function asArange(v: TraceValue): { start: number; length: number } | undefined {
  if (v.source.kind !== 'const' || v.shape.length !== 1 || (v.dtype !== 'int64' && v.dtype !== 'int32')) return undefined;
  const t = v.source.data;
  const xs = t.storage.data;
  const n = v.shape[0]!;
  if (n === 0) return undefined;
  const at = (i: number) => Number(xs[t.offset + i]!);
  for (let i = 1; i < n; i++) if (at(i) !== at(0) + i) return undefined;
  return { start: at(0), length: n };
}

export function unifyTraces(A: Trace, B: Trace): Graph {
  if (A.inputs.length !== B.inputs.length || A.inputs.some((x, i) => x.name !== B.inputs[i]!.name))
    throw new ExportError('trace: the two example input sets must name the same inputs in the same order');
  const symbols: Symbol[] = [];
  for (let i = 0; i < A.inputs.length; i++) {
    const x = A.values[A.inputs[i]!.id]!;
    const y = B.values[B.inputs[i]!.id]!;
    if (x.shape.length !== y.shape.length) throw new ExportError(`trace: input '${A.inputs[i]!.name}' has rank ${x.shape.length} in one example and ${y.shape.length} in the other`);
    x.shape.forEach((d, axis) => {
      const e = y.shape[axis]!;
      // A dim that varies like one already found (batch in every input) is that symbol.
      if (d !== e && !symbols.some((s) => s.a === d && s.b === e)) symbols.push({ ref: { input: A.inputs[i]!.name, axis }, a: d, b: e });
    });
  }
  const solver = new Solver(symbols);

  const consumer = (id: number): string => {
    const n = A.nodes.find((node) => inputIds(node.inputs).includes(id));
    return n ? `op ${n.op}` : 'an output';
  };
  if (A.nodes.length !== B.nodes.length || A.values.length !== B.values.length) {
    const i = A.nodes.findIndex((n, k) => B.nodes[k]?.op !== n.op);
    const where = i < 0 ? `after op ${A.nodes.length}` : `at op ${i} (${A.nodes[i]!.op} vs ${B.nodes[i]?.op ?? 'end'})`;
    throw new ExportError(`trace: the two traces differ ${where}: the code takes a branch on the input sizes or data that a graph cannot express`);
  }

  const values: GraphValue[] = A.values.map((x, id) => {
    const y = B.values[id]!;
    if (x.shape.length !== y.shape.length || x.dtype !== y.dtype || x.source.kind !== y.source.kind)
      throw new ExportError(`trace: value %${id} (${x.dtype}${formatShape(x.shape)} vs ${y.dtype}${formatShape(y.shape)}) feeding ${consumer(id)} differs in rank, dtype or origin between the traces`);
    const shape = x.shape.map((d, k) => solver.solve(d, y.shape[k]!, () => `dim ${k} of value %${id} (feeding ${consumer(id)})`));
    let source: GraphSource = x.source;
    if (x.source.kind === 'const' && !sameData(x, y)) {
      const ra = asArange(x);
      const rb = asArange(y);
      if (!ra || !rb)
        throw new ExportError(
          `trace: the constant ${x.dtype}${formatShape(x.shape)} feeding ${consumer(id)} differs between the traces: ` +
            'it was computed outside the dispatcher from the input sizes or data; compute it with ops on the inputs',
        );
      source = {
        kind: 'range',
        range: {
          start: solver.solve(ra.start, rb.start, () => `the start of the arange feeding ${consumer(id)}`),
          length: shape[0]!,
          dtype: x.dtype,
        },
      };
    }
    return { id, shape, dtype: x.dtype, source };
  });

  const nodes: GraphNode[] = A.nodes.map((n, i) => {
    const m = B.nodes[i]!;
    if (n.op !== m.op || JSON.stringify(n.inputs) !== JSON.stringify(m.inputs) || JSON.stringify(n.outputs) !== JSON.stringify(m.outputs))
      throw new ExportError(`trace: the two traces differ at op ${i} (${n.op} vs ${m.op}): the code takes a branch on the input sizes or data that a graph cannot express`);
    const attrs: Record<string, GAttr> = {};
    for (const k of new Set([...Object.keys(n.attrs), ...Object.keys(m.attrs)])) attrs[k] = unifyAttr(n.op, k, n.attrs[k], m.attrs[k], solver);
    return { op: n.op, inputs: n.inputs, attrs, outputs: n.outputs };
  });
  return { values, nodes, inputs: A.inputs, outputs: A.outputs };
}

function unifyAttr(op: string, key: string, a: AttrValue, b: AttrValue, solver: Solver): GAttr {
  if (typeof a === 'number' && typeof b === 'number') return solver.solve(a, b, () => `${op}'s attribute '${key}'`);
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length)
    return a.map((x: number, i) => solver.solve(x, b[i]!, () => `${op}'s attribute '${key}'[${i}]`));
  if (JSON.stringify(a) === JSON.stringify(b)) return a as GAttr;
  throw new ExportError(
    `trace: ${op}'s attribute '${key}' is ${JSON.stringify(a)} in one trace and ${JSON.stringify(b)} in the other: ` +
      'the code picks it from the input sizes or data, which a graph cannot express',
  );
}

/** One trace as a graph with every size fixed (no symbolic dims). */
export function staticGraph(A: Trace): Graph {
  return unifyTraces(A, A);
}
