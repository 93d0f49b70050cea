/**
 * The ORT kernel table: each opshift op as a small ONNX graph (the tfjs-node `executeSingleOutput` pattern).
 * Operands of another dtype than the op computes in get a Cast node, JS-number scalars are fed as 0-d inputs
 * (one session serves every value), constant tensors (weights) are baked as initializers.
 *
 * supports() builds (and caches) the session for the call's signature: if ORT has no kernel for it (ORT's CPU
 * provider lacks float16 for many ops) the refusal carries ORT's own message and the dispatcher falls back.
 */
import { resultType, type DType, type StorageArray } from '../../core/dtype.js';
import type { Kernel, OpAttrs, OpDef, OpInputs, TensorSpec } from '../../core/op_def.js';
import { normalizeDim, normalizeDims } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import * as E from '../../ops/elementwise.js';
import * as I from '../../ops/indexing.js';
import * as L from '../../ops/linalg.js';
import { Cat, type CatAttrs, type CatInputs } from '../../ops/movement.js';
import * as N from '../../ops/nn.js';
import * as R from '../../ops/reduce.js';
import * as R2 from '../../ops/reduce2.js';
import { full, ones } from '../../ops/creation.js';
import { LinearW4, LinearW8A8 } from '../../ops/quant.js';
import { notePrepared } from '../../core/profiler.js';
import { attachHostSource, preparedConstant, trackWeight } from '../../core/weight.js';
import { loadOrt } from './binding.js';
import { ortConfig, ortW8A8Path, sessionOptions } from './config.js';
import { ONNX_TYPE, buildModel, type AttrValue, type GraphSpec, type InitializerSpec, type NodeSpec } from './onnx_model.js';
import { cache, contiguousData, runGraph, sessionKey, type Feed, type OpGraph } from './run.js';

/** Builds the graph for one call; feeds are named by the builder. */
class GraphBuilder {
  readonly feeds: Feed[] = [];
  readonly nodes: NodeSpec[] = [];
  readonly initializers: InitializerSpec[] = [];
  private n = 0;

  /** A graph input for `t` converted to `dtype` (wrapped scalars become 0-d feeds of that dtype). */
  input(t: Tensor, dtype: DType = t.dtype, bake = t.isConstant): string {
    const name = `in${this.feeds.length}`;
    if (t.wrappedValue !== undefined) {
      this.feeds.push({ name, tensor: full([], t.wrappedValue, { dtype }) });
      return name;
    }
    this.feeds.push({ name, tensor: t, bake });
    return t.dtype === dtype ? name : this.node('Cast', [name], { to: { i: ONNX_TYPE[dtype] } });
  }

  /**
   * A baked (initializer) input for `t`, stored as `shape` (its elements in order) and `dtype`. Kernels that
   * prepack their weights (MatMulInteger, MatMulNBits) only do so for initializers they read directly; a
   * Reshape or Cast node in between, even one constant folding would remove, can cost them the prepacking.
   */
  baked(t: Tensor, shape: readonly number[], dtype: DType = t.dtype, convert?: (data: StorageArray) => StorageArray): string {
    const name = `in${this.feeds.length}`;
    this.feeds.push({ name, tensor: t, bake: true, bakeAs: { shape, dtype, convert } });
    return name;
  }

  /** A node with one output; returns the output's name. */
  node(op: string, inputs: readonly string[], attrs?: Record<string, AttrValue>, domain?: string): string {
    const out = `t${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [out], attrs, domain });
    return out;
  }

  /** A node with several outputs. */
  nodeN(op: string, inputs: readonly string[], count: number, attrs?: Record<string, AttrValue>): string[] {
    const outs = Array.from({ length: count }, () => `t${this.n++}`);
    this.nodes.push({ op, inputs, outputs: outs, attrs });
    return outs;
  }

  /** An int64 constant (axes, k, repeats) baked into the model. */
  ints(values: readonly number[], shape: readonly number[] = [values.length]): string {
    const name = `k${this.initializers.length}`;
    this.initializers.push({ name, dtype: 'int64', shape, data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  /** A float constant of `dtype` (e.g. a LayerNorm scale of ones when the op has no weight). */
  constant(t: Tensor): string {
    const name = `k${this.initializers.length}`;
    this.initializers.push({ name, dtype: t.dtype, shape: t.shape, data: contiguousData(t) });
    return name;
  }

  /** Cast an intermediate to `dtype` when it differs. */
  cast(name: string, from: DType, to: DType): string {
    return from === to ? name : this.node('Cast', [name], { to: { i: ONNX_TYPE[to] } });
  }

  finish(key: string, outputs: readonly string[], outs: readonly TensorSpec[]): OpGraph {
    const { feeds, nodes, initializers } = this;
    const build = (): GraphSpec => ({
      nodes,
      inputs: feeds.filter((f) => !f.bake).map((f) => ({ name: f.name, dtype: f.tensor.dtype, rank: f.tensor.ndim })),
      initializers: [
        ...initializers,
        ...feeds
          .filter((f) => f.bake)
          .map((f) => {
            const data = contiguousData(f.tensor);
            if (!f.bakeAs) return { name: f.name, dtype: f.tensor.dtype, shape: f.tensor.shape, data };
            const { dtype, shape, convert } = f.bakeAs;
            const converted = convert ? convert(data) : data;
            if (!convert && dtype !== f.tensor.dtype) throw new Error(`ort: baking ${f.tensor.dtype} as ${dtype} needs a conversion`);
            return { name: f.name, dtype, shape, data: converted };
          }),
      ],
      outputs: outputs.map((name, i) => ({ name, dtype: outs[i]!.dtype, rank: outs[i]!.shape.length })),
    });
    return { key, feeds, outputs, build };
  }
}

/** Rows of `cols` values 0..15 → rows of ceil(cols/2) bytes, two values a byte, the even one in the low nibble. */
function packNibbles(v: Uint8Array, rows: number, cols: number): Uint8Array {
  const per = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * per);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) out[r * per + (c >> 1)]! |= (v[r * cols + c]! & 15) << ((c & 1) * 4);
  return out;
}

/** int8 values as uint8 v + 128: flipping the sign bit of each byte maps −128..127 onto 0..255 in order. */
function offsetToUint8(d: StorageArray): Uint8Array {
  const s = d as Int8Array;
  const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = (s[i]! + 128) & 0xff;
  return u;
}

/**
 * Wᵀ of a weight as one contiguous tensor, made once per weight view and kept while the weight lives: baking
 * it needs a stable identity (the session key), and constant weights never change (copy_ refuses them).
 */
const transposed = new WeakMap<object, Map<string, Tensor>>();
function transposedOnce(w: Tensor): Tensor {
  if (!w.isConstant) return w.t().contiguous();
  let m = transposed.get(w.storage);
  if (!m) transposed.set(w.storage, (m = new Map()));
  const key = `${w.offset}:${w.shape.join('x')}:${w.strides.join(',')}`;
  let t = m.get(key);
  if (!t) {
    m.set(key, (t = w.t().contiguous().markConstant()));
    trackWeight(t.storage);
    // Wᵀ is this backend's form of w: w's host copy may go, and Wᵀ's comes back from w's source (core/weight.ts).
    const source = w.storage.source;
    if (source) {
      const view = w;
      attachHostSource(t.storage, {
        what: `transpose of ${source.what}`,
        load: () => {
          const wasResident = view.storage.resident;
          const data = view.t().contiguous().storage.data;
          if (!wasResident) view.storage.releaseData();
          return data;
        },
      });
      preparedConstant(w.storage);
    }
  }
  return t;
}

type GraphFn<I extends OpInputs, A extends OpAttrs> = (g: GraphBuilder, inputs: I, attrs: A, outs: readonly TensorSpec[]) => string | string[];

interface Spec<I extends OpInputs, A extends OpAttrs> {
  /** A reason this call cannot be expressed for ORT at all (checked before building a session). */
  readonly refuse?: (inputs: I, attrs: A, outs: readonly TensorSpec[]) => string | undefined;
  readonly graph: GraphFn<I, A>;
  /** Settings besides the attributes that change the graph (they must change the session key too). */
  readonly key?: (inputs: I, attrs: A) => string;
}

function tensorsOf(inputs: OpInputs): Tensor[] {
  const out: Tensor[] = [];
  for (const k in inputs) {
    const v = inputs[k];
    if (v instanceof Tensor) out.push(v);
    else if (v !== undefined) for (const t of v) out.push(t);
  }
  return out;
}

/** Sessions that failed to build, by signature: refused from then on without retrying. */
const failed = new Map<string, string>();

function graphOf<I extends OpInputs, A extends OpAttrs>(spec: Spec<I, A>, inputs: I, attrs: A, outs: readonly TensorSpec[]): OpGraph {
  const g = new GraphBuilder();
  const o = spec.graph(g, inputs, attrs, outs);
  const extra = spec.key ? `|${spec.key(inputs, attrs)}` : '';
  return g.finish(`${JSON.stringify(attrs)}${extra}`, typeof o === 'string' ? [o] : o, outs);
}

/**
 * The graph and key worked out by supports(), reused by run() for the same call: the dispatcher passes the
 * same inputs object to both, so building the graph and its key is paid once per op call.
 */
const prepared = new WeakMap<object, { graph: OpGraph; key: string }>();

function ortKernel<I extends OpInputs, A extends OpAttrs>(op: string, spec: Spec<I, A>): Kernel<I, A> {
  return {
    supports(inputs, attrs, outs) {
      for (const t of tensorsOf(inputs)) {
        if (t.dtype === 'bfloat16') return 'rejects bfloat16 (onnxruntime-node has no bfloat16 tensors)';
        if (t.numel() === 0 && !t.isWrappedNumber) return 'rejects empty tensors';
      }
      for (const o of outs) {
        if (o.dtype === 'bfloat16') return 'rejects bfloat16 (onnxruntime-node has no bfloat16 tensors)';
        if (o.shape.includes(0)) return 'rejects empty tensors';
      }
      const why = spec.refuse?.(inputs, attrs, outs);
      if (why) return why;
      // Compile now (cached), so an op/dtype ORT's CPU provider lacks is refused with ORT's reason.
      const g = graphOf(spec, inputs, attrs, outs);
      const key = sessionKey(op, g, outs);
      prepared.set(inputs, { graph: g, key });
      const prior = failed.get(key);
      if (prior) return prior;
      try {
        const loaded = loadOrt();
        if (!loaded.ok) return `is unavailable (${loaded.reason})`;
        cache.get(key, () => {
          notePrepared();
          const session = loaded.runtime.createSession(buildModel(g.build()), sessionOptions(ortConfig()));
          // The session holds baked weights as initializers (MLAS prepacks them): host copies go if restorable.
          for (const f of g.feeds) if (f.bake) preparedConstant(f.tensor.storage);
          return session;
        });
        return true;
      } catch (e) {
        const reason = `has no kernel for this call (${(e as Error).message.split('\n')[0]!.replace(/^\[ONNXRuntimeError\] : \d+ : \w+ : /, '').slice(0, 160)})`;
        failed.set(key, reason);
        return reason;
      }
    },
    run(inputs, attrs, outs) {
      const p = prepared.get(inputs);
      if (p) runGraph(p.graph, p.key, outs);
      else {
        const g = graphOf(spec, inputs, attrs, outs);
        runGraph(g, sessionKey(op, g, outs), outs);
      }
    },
  };
}


const float = (d: DType) => d === 'float32' || d === 'float16';
// ArgMax/ArgMin are not mapped: ONNX Runtime's NaN handling differs from PyTorch's (NaN is the maximum).

// ---- elementwise ----

function binary(onnxOp: string, opts: { compare?: boolean; floatOnly?: boolean; negate?: boolean } = {}): Spec<E.BinaryInputs, E.NoAttrs> {
  return {
    refuse: ({ a, b }, _x, outs) => {
      const c = opts.compare ? resultType([a, b]) : outs[0]!.dtype;
      if (c === 'bool' && !opts.compare) return 'rejects bool arithmetic (ONNX has no bool Add/Mul)';
      if (opts.floatOnly && !float(c)) return `rejects ${c} (float only: ONNX ${onnxOp} on integers differs from PyTorch)`;
      return undefined;
    },
    graph: (g, { a, b }, _x, outs) => {
      const c = opts.compare ? resultType([a, b]) : outs[0]!.dtype;
      const y = g.node(onnxOp, [g.input(a, c), g.input(b, c)]);
      return opts.negate ? g.node('Not', [y]) : y;
    },
  };
}

function unary(build: (g: GraphBuilder, x: string) => string, opts: { floatCompute?: boolean } = {}): Spec<E.UnaryInputs, E.NoAttrs> {
  return {
    graph: (g, { x }, _a, outs) => build(g, g.input(x, opts.floatCompute ? outs[0]!.dtype : x.dtype)),
  };
}

const simple = (op: string, floatCompute = false) => unary((g, x) => g.node(op, [x]), { floatCompute });

// ---- registration table ----

type AnyPair = [OpDef<never, never>, Kernel<never, never>];
const entry = <I extends OpInputs, A extends OpAttrs>(op: OpDef<I, A>, spec: Spec<I, A>): AnyPair =>
  [op, ortKernel(op.name, spec)] as unknown as AnyPair;

function reduceAxes(g: GraphBuilder, x: Tensor, dims: readonly number[] | null, op: string): string[] {
  const axes = normalizeDims(op, dims ?? undefined, x.shape);
  return axes.length === x.ndim && dims === null ? [] : [g.ints(axes)];
}

export function ortKernels(): AnyPair[] {
  return [
    entry(E.Add, binary('Add')),
    entry(E.Sub, binary('Sub')),
    entry(E.Mul, binary('Mul')),
    entry(E.Div, binary('Div', { floatOnly: true })),
    entry(E.Pow, binary('Pow', { floatOnly: true })),
    entry(E.Eq, binary('Equal', { compare: true })),
    entry(E.Ne, binary('Equal', { compare: true, negate: true })),
    entry(E.Lt, binary('Less', { compare: true })),
    entry(E.Le, binary('LessOrEqual', { compare: true })),
    entry(E.Gt, binary('Greater', { compare: true })),
    entry(E.Ge, binary('GreaterOrEqual', { compare: true })),
    entry(E.Neg, simple('Neg')),
    entry(E.Abs, simple('Abs')),
    entry(E.Relu, simple('Relu')),
    entry(E.Exp, simple('Exp', true)),
    entry(E.Log, simple('Log', true)),
    entry(E.Sqrt, simple('Sqrt', true)),
    entry(E.Rsqrt, unary((g, x) => g.node('Reciprocal', [g.node('Sqrt', [x])]), { floatCompute: true })),
    entry(E.Tanh, simple('Tanh', true)),
    entry(E.Sigmoid, simple('Sigmoid', true)),
    entry(E.Erf, simple('Erf', true)),
    entry(E.Cos, simple('Cos', true)),
    entry(E.Sin, simple('Sin', true)),
    entry(E.Silu, unary((g, x) => g.node('Mul', [x, g.node('Sigmoid', [x])]))),
    entry(E.Gelu, {
      graph: (g, { x }, { approximate }) => g.node('Gelu', [g.input(x)], { approximate: { s: approximate } }),
    }),
    entry(E.Clamp, {
      refuse: (_i, _a, outs) => (outs[0]!.dtype === 'bool' ? 'rejects bool' : undefined),
      graph: (g, { x }, { min, max }, outs) => {
        const d = outs[0]!.dtype;
        const bound = (v: number | null) => (v === null ? '' : g.input(E.scalarOperand(v), d));
        return g.node('Clip', [g.input(x, d), bound(min), bound(max)]);
      },
    }),
    entry(E.Where, {
      graph: (g, { cond, a, b }, _x, outs) => g.node('Where', [g.input(cond), g.input(a, outs[0]!.dtype), g.input(b, outs[0]!.dtype)]),
    }),
    entry(E.Cast, {
      graph: (g, { x }, { dtype }) => {
        const y = g.input(x, dtype);
        return x.dtype === dtype ? g.node('Identity', [y]) : y; // a graph input cannot also be the output
      },
    }),
    entry(E.Contiguous, { graph: (g, { x }) => g.node('Identity', [g.input(x)]) }),
    entry(L.MatMul, { graph: (g, { a, b }) => g.node('MatMul', [g.input(a), g.input(b)]) }),
    entry(L.Linear, {
      graph: (g, { x, weight, bias }) => {
        // float32: com.microsoft FusedMatMul with transB reads nn.Linear's [N, K] initializer as it is and MLAS
        // prepacks it transposed; MatMul(Transpose(W)) made ORT constant-fold a Wᵀ copy first, one more
        // weight-sized block at the session's build peak and 1.4-1.7x slower builds (issue #17, README "Weights in
        // memory"), with the same bits (checked at 1 and 2 threads). float16: ORT's CPU provider has no FusedMatMul.
        const y =
          x.dtype === 'float32' && weight.dtype === 'float32'
            ? g.node('FusedMatMul', [g.input(x), g.input(weight)], { transB: { i: 1 } }, 'com.microsoft')
            : g.node('MatMul', [g.input(x), g.node('Transpose', [g.input(weight)], { perm: { ints: [1, 0] } })]);
        return bias ? g.node('Add', [y, g.input(bias)]) : y;
      },
    }),
    entry(N.Softmax, { graph: (g, { x }, { dim }) => g.node('Softmax', [g.input(x)], { axis: { i: normalizeDim('softmax', dim, x.ndim) } }) }),
    entry(R2.LogSoftmax, { graph: (g, { x }, { dim }) => g.node('LogSoftmax', [g.input(x)], { axis: { i: normalizeDim('log_softmax', dim, x.ndim) } }) }),
    entry(N.LayerNorm, {
      graph: (g, { x, weight, bias }, { normalizedShape, eps }) => {
        const scale = weight ? g.input(weight) : g.constant(ones(normalizedShape, { dtype: x.dtype }));
        const ins = [g.input(x), scale, ...(bias ? [g.input(bias)] : [])];
        return g.node('LayerNormalization', ins, { axis: { i: -normalizedShape.length }, epsilon: { f: eps } });
      },
    }),
    entry(N.RmsNorm, {
      // com.microsoft SimplifiedLayerNormalization computes x·rsqrt(mean(x²)+ε)·w in the input dtype, which is
      // the Llama formula exactly when input and weight are float32.
      refuse: ({ x, weight }) => (x.dtype !== 'float32' || !weight || weight.dtype !== 'float32' ? 'rejects all but float32 input with a float32 weight' : undefined),
      graph: (g, { x, weight }, { eps }) =>
        // Registered by ORT in the ONNX domain (a contrib op), not com.microsoft.
        g.node('SimplifiedLayerNormalization', [g.input(x), g.input(weight!)], { axis: { i: -1 }, epsilon: { f: eps } }),
    }),
    entry(R.Sum, {
      refuse: ({ x }) => (float(x.dtype) ? undefined : `rejects ${x.dtype} (ONNX ReduceSum keeps integer dtypes; PyTorch widens to int64)`),
      graph: (g, { x }, { dims, keepdim }) => g.node('ReduceSum', [g.input(x), ...reduceAxes(g, x, dims, 'sum')], { keepdims: { i: keepdim ? 1 : 0 } }),
    }),
    entry(R.Mean, {
      graph: (g, { x }, { dims, keepdim }) => g.node('ReduceMean', [g.input(x), ...reduceAxes(g, x, dims, 'mean')], { keepdims: { i: keepdim ? 1 : 0 } }),
    }),
    entry(Cat, {
      graph: (g: GraphBuilder, { tensors }: CatInputs, { dim }: CatAttrs, outs) => {
        const parts = tensors.filter((t) => !(t.ndim === 1 && t.shape[0] === 0));
        return g.node('Concat', parts.map((t) => g.input(t, outs[0]!.dtype)), { axis: { i: normalizeDim('cat', dim, outs[0]!.shape.length) } });
      },
    }),
    entry(I.Embedding, { graph: (g, { indices, weight }) => g.node('Gather', [g.input(weight), g.input(indices)], { axis: { i: 0 } }) }),
    entry(I.IndexSelect, {
      // ONNX Gather drops the axis for a 0-d index; index_select keeps it (as a size-1 dim).
      refuse: ({ index }) => (index.ndim !== 1 ? `rejects a ${index.ndim}-d index (ONNX Gather changes the rank)` : undefined),
      graph: (g, { x, index }, { dim }) => g.node('Gather', [g.input(x), g.input(index)], { axis: { i: normalizeDim('index_select', dim, Math.max(x.ndim, 1)) } }),
    }),
    entry(I.Gather, {
      graph: (g, { x, index }, { dim }) => g.node('GatherElements', [g.input(x), g.input(index)], { axis: { i: normalizeDim('gather', dim, Math.max(x.ndim, 1)) } }),
    }),
    entry(LinearW8A8, {
      // AMD's w8a8 in ONNX ops: x_scale = max|x|/128 (1 if 0), QuantizeLinear (round half to even, saturate)
      // to int8, MatMulInteger (int8 x int8 -> int32, MLAS), then float(acc) · (x_scale · w_scale) + bias: the
      // same float32 steps as the cpu reference, so results match it exactly.
      key: () => ortW8A8Path().path,
      graph: (g, { x, weight, wScale, bias }) => {
        const xin = g.input(x);
        const zero = g.constant(full([], 0, { dtype: 'float32' }));
        const absmax = g.node('Div', [g.node('ReduceMax', [g.node('Abs', [xin])], { keepdims: { i: 0 } }), g.constant(full([], 128, { dtype: 'float32' }))]);
        // Σ x·0 is 0, or NaN when any x is NaN or ±Inf (ReduceMax's NaN handling is unspecified): added to the
        // scale it makes the scale, and so every output, NaN — the rule of ops/quant.ts. + 0 changes no bits.
        const scale0 = g.node('Add', [absmax, g.node('ReduceSum', [g.node('Mul', [xin, zero])], { keepdims: { i: 0 } })]);
        const xs = g.node('Where', [g.node('Equal', [scale0, zero]), g.constant(full([], 1, { dtype: 'float32' })), scale0]);
        // uint8 with zero point 128 instead of int8: the same integers (q + 128, clamped to [0, 255] exactly when
        // q is clamped to [−128, 127]), and MatMulInteger then takes MLAS's fast u8×s8 or u8×u8 kernels; s8×s8
        // is ~100x slower.
        const zp = g.constant(full([], 128, { dtype: 'uint8' }));
        const xq = g.node('QuantizeLinear', [xin, xs, zp]);
        const [n, k] = weight.shape as [number, number];
        // Wᵀ [K, N], an initializer MLAS prepacks. u8u8 (w8a8_path.ts): the weight as uint8 w + 128 (flipping the
        // sign bit) with zero point 128 — the same integers, and MLAS's u8u8 kernels never saturate.
        const u8u8 = ortW8A8Path().path === 'u8u8';
        const wT = u8u8 ? g.baked(transposedOnce(weight), [k, n], 'uint8', offsetToUint8) : g.baked(transposedOnce(weight), [k, n]);
        const acc = g.node('Cast', [g.node('MatMulInteger', u8u8 ? [xq, wT, zp, zp] : [xq, wT, zp])], { to: { i: ONNX_TYPE.float32 } });
        const y = g.node('Mul', [acc, g.node('Mul', [xs, g.input(wScale, 'float32', true)])]);
        return bias ? g.node('Add', [y, g.input(bias)]) : y;
      },
    }),
    entry(LinearW4, {
      key: () => `acc${ortConfig().accuracyLevel}`,
      // com.microsoft MatMulNBits: B [N, K/block, block/2] uint8, scales and (float) zero points flattened; the
      // reshapes of the baked weights are constant-folded when the session is created, then MLAS prepacks B.
      graph: (g, { x, qweight, scales, zeros, bias }, { blockSize }) => {
        const [n, half] = qweight.shape as [number, number];
        const k = half * 2;
        const groups = k / blockSize;
        // Baked straight in MatMulNBits' layouts (initializers it reads directly, so MLAS prepacks B).
        const b = g.baked(qweight, [n, groups, blockSize / 2]);
        const s = g.baked(scales, [n * groups]);
        // Zero points packed as 4-bit pairs per row ([N, ceil(groups/2)] uint8, block b in the low nibble when b is
        // even): MLAS's fast path; float zero points send MatMulNBits to a ~100x slower one.
        const zb = Math.ceil(groups / 2);
        const z = zeros ? g.baked(zeros, [n * zb], 'uint8', (d) => packNibbles(d as Uint8Array, n, groups)) : '';
        // The bias is baked too: MatMulNBits' shape inference needs to see that it is [N].
        const xin = g.input(x);
        const ins = [xin, b, s, z, '', ...(bias ? [g.input(bias, 'float32', true)] : [])];
        const level = ortConfig().accuracyLevel;
        const y = g.node('MatMulNBits', ins, { K: { i: k }, N: { i: n }, bits: { i: 4 }, block_size: { i: blockSize }, accuracy_level: { i: level } }, 'com.microsoft');
        if (level !== 4) return y; // float activations: NaN/Inf propagate as in the cpu reference
        // Level 4 quantizes the activations to int8 per block, which turns NaN into a finite number. A row with a
        // NaN or ±Inf has no defined scale: Σ x·0 over the row (0, or NaN) makes that whole output row NaN.
        const zero = g.constant(full([], 0, { dtype: 'float32' }));
        return g.node('Add', [y, g.node('ReduceSum', [g.node('Mul', [xin, zero]), g.ints([-1])], { keepdims: { i: 1 } })]);
      },
    }),
    entry(R2.CumSum, {
      refuse: ({ x }) => (x.ndim === 0 ? 'rejects 0-d input (ONNX CumSum needs an axis)' : undefined),
      graph: (g, { x }, { dim }, outs) => g.node('CumSum', [g.input(x, outs[0]!.dtype), g.ints([normalizeDim('cumsum', dim, Math.max(x.ndim, 1))], [])]),
    }),
  ];
}
