/**
 * One traced run: installs the dispatcher hook (core/trace_hook.ts) and, for the run's length, wraps Tensor's
 * view methods, which make views without dispatching (tensor.ts), so reshape/transpose/narrow… are recorded
 * too. Only the outermost call is recorded: a lowered op's kernel, and the contiguous() inside a reshape, run
 * untraced. An op with no lowering runs its decomposition, whose primitives are recorded instead.
 */
import { dispatchAll } from '../../core/dispatcher.js';
import type { OpAttrs, OpDef, OpInputs } from '../../core/op_def.js';
import { formatShape, normalizeDim } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import { Tensor } from '../../core/tensor.js';
import { traceState } from '../../core/trace_hook.js';
import { ExportError, type AttrValue, type NodeInputs, type Trace, type TraceNode, type TraceValue } from './graph.js';

/** View methods recorded, and the graph op each becomes (squeeze/unsqueeze/flatten are reshapes). */
const VIEW_METHODS = {
  view: 'view.reshape',
  reshape: 'view.reshape',
  flatten: 'view.reshape',
  squeeze: 'view.reshape',
  unsqueeze: 'view.reshape',
  permute: 'view.permute',
  transpose: 'view.permute',
  t: 'view.permute',
  narrow: 'view.slice',
  slice: 'view.slice',
  expand: 'view.expand',
  expandAs: 'view.expand',
  detach: 'view.identity',
} as const;
type ViewMethod = keyof typeof VIEW_METHODS;

/** Methods that read a tensor's values into JavaScript: on a traced value, the code branches on data. */
const DATA_READS = ['item', 'tolist', 'toArray', 'toTypedArray'] as const;

export interface RecordOptions {
  /** Storage of the model's parameters → their names (initializer names in the exported file). */
  readonly parameters?: ReadonlyMap<Storage, string>;
  /** Ops the exporter lowers as one node; others run their decomposition (or fail, naming the op). */
  readonly lowered: (op: string) => boolean;
}

type Proto = Record<string, (...args: unknown[]) => unknown>;

class Recorder {
  readonly values: TraceValue[] = [];
  readonly nodes: TraceNode[] = [];
  readonly ids = new Map<Tensor, number>();
  /** Storage written by traced nodes: a tensor over it that is not a known value is a view we missed. */
  readonly produced = new Map<Storage, number>();
  depth = 0;
  constructor(readonly options: RecordOptions) {}

  add(t: Tensor, source: TraceValue['source']): number {
    const id = this.values.length;
    this.values.push({ id, shape: [...t.shape], dtype: t.dtype, source });
    this.ids.set(t, id);
    return id;
  }

  /** The value id of an input tensor; a tensor from outside the trace becomes a constant. */
  resolve(t: Tensor, consumer: string): number {
    const known = this.ids.get(t);
    if (known !== undefined) return known;
    const from = this.produced.get(t.storage);
    if (from !== undefined)
      throw new ExportError(
        `trace: ${consumer} reads a ${t.dtype}${formatShape(t.shape)} view of value %${from} that was made without a recorded view method ` +
          `(${Object.keys(VIEW_METHODS).join(', ')}); the graph cannot express it`,
      );
    const param = this.options.parameters?.get(t.storage);
    const whole = param !== undefined && t.offset === 0 && t.isContiguous() && t.numel() === t.storage.data.length;
    this.depth++;
    let data: Tensor;
    try {
      data = t.contiguous();
    } finally {
      this.depth--;
    }
    const name = param === undefined ? `const.${this.values.length}` : whole ? param : `${param}.view${this.values.length}`;
    return this.add(t, { kind: 'const', name, data, parameter: param !== undefined && whole });
  }

  resolveInputs(op: string, inputs: OpInputs): NodeInputs {
    const out: Record<string, number | number[] | undefined> = {};
    for (const k in inputs) {
      const v = inputs[k];
      if (v === undefined) out[k] = undefined;
      else if (v instanceof Tensor) out[k] = this.resolve(v, op);
      else out[k] = v.map((t) => this.resolve(t, op));
    }
    return out;
  }

  push(op: string, inputs: NodeInputs, attrs: Readonly<Record<string, AttrValue>>, outs: readonly Tensor[]): void {
    const node = this.nodes.length;
    const outputs = outs.map((t) => {
      const id = this.add(t, { kind: 'node', node });
      this.produced.set(t.storage, id);
      return id;
    });
    this.nodes.push({ op, inputs, attrs, outputs });
  }

  hook = (op: OpDef, inputs: OpInputs, attrs: OpAttrs): Tensor[] | undefined => {
    if (this.depth > 0) return undefined;
    if (!this.options.lowered(op.name)) {
      if (!op.decompose) throw new ExportError(`trace: op ${op.name} has no ONNX lowering and no decomposition into ops that have one`);
      // The primitives it dispatches are recorded one by one.
      return op.decompose(inputs, attrs);
    }
    const ins = this.resolveInputs(op.name, inputs);
    this.depth++;
    let outs: Tensor[];
    try {
      outs = dispatchAll(op, inputs, attrs);
    } finally {
      this.depth--;
    }
    if (outs.length === 0)
      throw new ExportError(`trace: ${op.name} writes into its input in place; an ONNX graph has no mutable tensors (write the model with out-of-place ops)`);
    this.push(op.name, ins, attrs, outs);
    return outs;
  };

  /** Normalised attributes of a view call, from the arguments and the result. */
  viewAttrs(method: ViewMethod, self: Tensor, args: readonly unknown[], out: Tensor): Record<string, AttrValue> {
    switch (method) {
      case 'permute': {
        const d = args.length === 1 && Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
        return { perm: d.map((x) => normalizeDim('permute', x, self.ndim, self.shape)) };
      }
      case 'transpose':
      case 't': {
        const perm = [...self.shape.keys()];
        if (self.ndim >= 2) {
          const a = method === 't' ? 0 : normalizeDim('transpose', args[0] as number, self.ndim, self.shape);
          const b = method === 't' ? 1 : normalizeDim('transpose', args[1] as number, self.ndim, self.shape);
          [perm[a], perm[b]] = [perm[b]!, perm[a]!];
        }
        return { perm };
      }
      case 'narrow': {
        const dim = normalizeDim('narrow', args[0] as number, self.ndim, self.shape);
        const start = args[1] as number;
        return { dim, start: start < 0 ? start + self.shape[dim]! : start, length: args[2] as number, step: 1 };
      }
      case 'slice': {
        const dim = normalizeDim('slice', args[0] as number, self.ndim, self.shape);
        const stride = self.strides[dim]!;
        // The clamped start is where the view's offset moved to (tensor.ts's slice()).
        const start = stride === 0 ? 0 : (out.offset - self.offset) / stride;
        return { dim, start, length: out.shape[dim]!, step: (args[3] as number | undefined) ?? 1 };
      }
      default:
        return {};
    }
  }
}

let active: Recorder | undefined;

function install(): () => void {
  const proto = Tensor.prototype as unknown as Proto;
  const saved: [string, (...args: unknown[]) => unknown][] = [];
  for (const method of Object.keys(VIEW_METHODS) as ViewMethod[]) {
    const orig = proto[method]!;
    saved.push([method, orig]);
    proto[method] = function (this: Tensor, ...args: unknown[]): unknown {
      const rec = active;
      if (rec === undefined || rec.depth > 0) return orig.apply(this, args);
      const self = this;
      rec.depth++;
      let out: Tensor;
      try {
        out = orig.apply(self, args) as Tensor;
      } finally {
        rec.depth--;
      }
      if (out === self) return out;
      const input = rec.resolve(self, `${method}()`);
      rec.push(VIEW_METHODS[method], { x: input }, rec.viewAttrs(method, self, args, out), [out]);
      return out;
    };
  }
  for (const method of DATA_READS) {
    const orig = proto[method]!;
    saved.push([method, orig]);
    proto[method] = function (this: Tensor, ...args: unknown[]): unknown {
      const rec = active;
      if (rec !== undefined && rec.depth === 0) {
        const id = rec.ids.get(this) ?? rec.produced.get(this.storage);
        const v = id === undefined ? undefined : rec.values[id];
        if (v !== undefined && v.source.kind !== 'const') {
          const by = v.source.kind === 'node' ? `op ${rec.nodes[v.source.node]!.op}` : `graph input '${v.source.name}'`;
          throw new ExportError(
            `trace: ${method}() reads the values of ${v.dtype}${formatShape(v.shape)} (from ${by}) in JavaScript: ` +
              'code that branches on data cannot be expressed as a graph',
          );
        }
      }
      return orig.apply(this, args);
    };
  }
  return () => {
    for (const [m, f] of saved) proto[m] = f;
  };
}

/**
 * Runs `fn` once on `inputs` and records every op it dispatches and every view it makes. Not reentrant: one
 * trace at a time (the view methods are wrapped process-wide while it runs).
 */
export function recordTrace(
  fn: (inputs: Readonly<Record<string, Tensor>>) => Readonly<Record<string, Tensor>>,
  inputs: Readonly<Record<string, Tensor>>,
  options: RecordOptions,
): Trace {
  if (active !== undefined || traceState.hook !== undefined) throw new ExportError('trace: another trace is running (traces do not nest)');
  const rec = new Recorder(options);
  const ins = Object.entries(inputs).map(([name, t]) => ({ name, id: rec.add(t, { kind: 'input', name }) }));
  const restore = install();
  active = rec;
  traceState.hook = rec.hook;
  let result: Readonly<Record<string, Tensor>>;
  try {
    result = fn(inputs);
  } finally {
    traceState.hook = undefined;
    active = undefined;
    restore();
  }
  const outputs = Object.entries(result).map(([name, t]) => {
    const id = rec.ids.get(t);
    if (id === undefined) throw new ExportError(`trace: output '${name}' (${t.dtype}${formatShape(t.shape)}) was not computed from the inputs by traced ops`);
    return { name, id };
  });
  return { values: rec.values, nodes: rec.nodes, inputs: ins, outputs };
}
