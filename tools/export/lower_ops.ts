/**
 * Per-op lowering of traced nodes to ONNX nodes (opset 17 + com.microsoft), with the numerics the cpu reference
 * kernels use: norms and attention in the input's float dtype, linears as MatMul against the transposed weight
 * (ORT folds the Transpose of an initializer once, at session creation). Each lowering returns the ONNX names of
 * the node's outputs. Ops without a lowering are traced through their decomposition (record.ts).
 */
import { ONNX_TYPE } from '../../backends/ort/onnx_model.js';
import { normalizeDim } from '../../core/shape.js';
import type { Builder } from './builder.js';
import { lowerLinearW4, lowerLinearW8A8 } from './lower_quant.js';
import { GATHER_ROWS, POSITION_IDS } from './mask_positions.js';
import { ExportError, formatShapeDims, isExpr, type Dim, type GraphNode } from './graph.js';

export type Lowering = (b: Builder, n: GraphNode) => string[];

const outDType = (b: Builder, n: GraphNode) => b.value(n.outputs[0]!).dtype;
const rankOf = (b: Builder, n: GraphNode, key: string) => b.inValue(n, key).shape.length;

/** Elementwise binary op with both operands in the output's dtype (the op's promotion already happened). */
const binary =
  (onnx: string): Lowering =>
  (b, n) => {
    const dt = outDType(b, n);
    return [b.one(onnx, [b.as(n.inputs.a as number, dt), b.as(n.inputs.b as number, dt)])];
  };
const unary =
  (onnx: string): Lowering =>
  (b, n) => [b.one(onnx, [b.in(n, 'x')])];

function num(n: GraphNode, key: string): number {
  const v = n.attrs[key];
  if (typeof v !== 'number') throw new ExportError(`export: ${n.op}'s attribute '${key}' is ${JSON.stringify(v)}; a size-dependent value here cannot be expressed`);
  return v;
}

function softmaxScores(b: Builder, scores: string): string {
  return b.one('Softmax', [scores], { axis: { i: -1 } });
}

/** SDPA as MatMul/Softmax/MatMul; GQA by grouping query heads over each key head (broadcasting, no copies). */
const attention: Lowering = (b, n) => {
  const q = b.inValue(n, 'q');
  const k = b.inValue(n, 'k');
  const E = q.shape[q.shape.length - 1]!;
  if (isExpr(E)) throw new ExportError('export: Attention with a symbolic head dim');
  const scale = typeof n.attrs.scale === 'number' ? n.attrs.scale : 1 / Math.sqrt(E);
  const gqa = n.attrs.enableGqa === true && q.shape.length >= 3 && q.shape[q.shape.length - 3] !== k.shape[k.shape.length - 3];
  let qn = b.in(n, 'q');
  let kn = b.in(n, 'k');
  let vn = b.in(n, 'v');
  const H = q.shape[q.shape.length - 3];
  const KV = k.shape[k.shape.length - 3];
  if (gqa) {
    if (q.shape.length !== 4 || isExpr(H!) || isExpr(KV!)) throw new ExportError(`export: grouped-query Attention needs 4-d q/k/v with fixed head counts, got q ${formatShapeDims(q.shape)}`);
    // (B, H, L, E) → (B, KV, g, L, E); k, v (B, KV, S, E) → (B, KV, 1, S, E): MatMul broadcasts over g.
    qn = b.one('Reshape', [qn, b.i64([0, KV, (H as number) / (KV as number), -1, E])], { allowzero: { i: 0 } });
    kn = b.one('Unsqueeze', [kn, b.i64([2])]);
    vn = b.one('Unsqueeze', [vn, b.i64([2])]);
  }
  const rank = gqa ? 5 : k.shape.length;
  const swapLast = [...Array(rank).keys()];
  [swapLast[rank - 2], swapLast[rank - 1]] = [rank - 1, rank - 2];
  const kt = b.one('Transpose', [kn], { perm: { ints: swapLast } }); // kᵀ: (…, E, S)
  const dt = q.dtype;
  let scores = b.one('Mul', [b.one('MatMul', [qn, kt]), b.constant(dt, [scale], true)]);
  // Which scores stay: a bool [.., L, S] from causality and key padding; hidden ones become -inf.
  const keep: string[] = [];
  const causal = n.attrs.isCausal === true;
  if (causal || n.inputs.keyMask !== undefined || typeof n.attrs.window === 'number') {
    const L = b.one('Shape', [b.in(n, 'q')], { start: { i: -2 }, end: { i: -1 } });
    const S = b.one('Shape', [b.in(n, 'k')], { start: { i: -2 }, end: { i: -1 } });
    const one = b.scalar(b.i64([1]));
    const zero = b.scalar(b.i64([0]));
    const cols = b.one('Unsqueeze', [b.one('Range', [zero, b.scalar(S), one]), b.i64([0])]); // (1, S)
    const rows = b.one('Unsqueeze', [b.one('Range', [zero, b.scalar(L), one]), b.i64([1])]); // (L, 1)
    // Query i is at position i + S - L (the new tokens follow the cached ones).
    const at = b.add(rows, b.one('Sub', [S, L]));
    // Key j is visible to query i when j <= i + offset; offset = S - L bottom-right (cache decoding), 0 top-left.
    if (causal) keep.push(b.one('LessOrEqual', [cols, n.attrs.causalAlign === 'bottom-right' ? at : rows])); // (L, S)
    // Sliding window w: key j is visible to the query at position p when j > p - w.
    if (typeof n.attrs.window === 'number') keep.push(b.one('Greater', [cols, b.one('Sub', [at, b.i64([n.attrs.window])])]));
    if (n.inputs.keyMask !== undefined) {
      // attention_mask [B, S] (1 token, 0 padding) → [B, 1, (1,) 1, S]. As attentionPlan: a query always sees
      // itself, so a padding query (or an all-padding row) never softmaxes over nothing (NaN).
      const tokens = b.one('Unsqueeze', [b.cast(b.in(n, 'keyMask'), 'bool'), b.i64(gqa ? [1, 2, 3] : [1, 2])]);
      keep.push(b.one('Or', [tokens, b.one('Equal', [cols, at])]));
    }
  }
  if (n.inputs.mask !== undefined) {
    const m = b.inValue(n, 'mask');
    let mn = b.in(n, 'mask');
    if (gqa && m.shape.length >= 3) mn = b.one('Unsqueeze', [mn, b.i64([-3])]);
    if (m.dtype === 'bool') keep.push(mn);
    else scores = b.add(scores, mn);
  }
  if (keep.length > 0) {
    const allowed = keep.reduce((acc, x) => b.one('And', [acc, x]));
    scores = b.one('Where', [allowed, scores, b.constant(dt, [-Infinity], true)]);
  }
  let y = b.one('MatMul', [softmaxScores(b, scores), vn]);
  if (gqa) y = b.one('Reshape', [y, b.i64([0, H as number, -1, E])], { allowzero: { i: 0 } });
  return [y];
};

const rmsNorm: Lowering = (b, n) => {
  const x = b.in(n, 'x');
  const dt = b.inValue(n, 'x').dtype;
  const ms = b.one('ReduceMean', [b.one('Mul', [x, x])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
  const inv = b.one('Reciprocal', [b.one('Sqrt', [b.add(ms, b.constant(dt, [num(n, 'eps')], true))])]);
  let y = b.one('Mul', [x, inv]);
  if (n.inputs.weight !== undefined) {
    const out = outDType(b, n);
    y = b.one('Mul', [out === dt ? y : b.cast(y, out), b.as(n.inputs.weight as number, out)]);
  }
  return [y];
};

const layerNorm: Lowering = (b, n) => {
  const k = (n.attrs.normalizedShape as readonly Dim[]).length;
  const dims = n.attrs.normalizedShape as readonly Dim[];
  if (dims.some(isExpr)) throw new ExportError('export: LayerNorm over a symbolic dim');
  const dt = b.inValue(n, 'x').dtype;
  const count = (dims as number[]).reduce((p, d) => p * d, 1);
  const w = n.inputs.weight !== undefined ? b.in(n, 'weight') : b.one('Reshape', [b.constant(dt, Array(count).fill(1)), b.i64(dims as number[])]);
  const ins = [b.in(n, 'x'), w];
  if (n.inputs.bias !== undefined) ins.push(b.in(n, 'bias'));
  return [b.one('LayerNormalization', ins, { axis: { i: -k }, epsilon: { f: num(n, 'eps') } })];
};

const rope: Lowering = (b, n) => {
  const x = b.in(n, 'x');
  const xs = b.inValue(n, 'x').shape;
  const D = xs[xs.length - 1]!;
  if (isExpr(D)) throw new ExportError('export: Rope with a symbolic last dim');
  const half = D / 2;
  const x1 = b.one('Slice', [x, b.i64([0]), b.i64([half]), b.i64([-1])]);
  const x2 = b.one('Slice', [x, b.i64([half]), b.i64([D]), b.i64([-1])]);
  const rotated = b.one('Concat', [b.one('Neg', [x2]), x1], { axis: { i: -1 } });
  const dt = outDType(b, n);
  return [b.add(b.one('Mul', [x, b.as(n.inputs.cos as number, dt)]), b.one('Mul', [rotated, b.as(n.inputs.sin as number, dt)]))];
};

const linear: Lowering = (b, n) => {
  const wt = b.one('Transpose', [b.in(n, 'weight')], { perm: { ints: [1, 0] } });
  const y = b.one('MatMul', [b.in(n, 'x'), wt]);
  return [n.inputs.bias === undefined ? y : b.add(y, b.in(n, 'bias'))];
};

const viewSlice: Lowering = (b, n) => {
  const start = n.attrs.start as Dim;
  const length = n.attrs.length as Dim;
  const step = num(n, 'step');
  const dim = num(n, 'dim');
  let end: string;
  if (!isExpr(start) && !isExpr(length)) end = b.i64([start + (length - 1) * step + 1]);
  else if (step === 1) end = b.add(b.dim(start), b.dim(length));
  else throw new ExportError(`export: a strided slice (step ${step}) with a size-dependent start or length`);
  // An empty slice's end formula would step backwards; Slice clamps, so start..start is what we want then.
  return [b.one('Slice', [b.in(n, 'x'), b.dim(start), end, b.i64([dim]), b.i64([step])])];
};

const gelu: Lowering = (b, n) => {
  const x = b.in(n, 'x');
  const dt = b.inValue(n, 'x').dtype;
  const c = (v: number) => b.constant(dt, [v], true);
  if (n.attrs.approximate === 'tanh') {
    const inner = b.one('Mul', [c(Math.sqrt(2 / Math.PI)), b.add(x, b.one('Mul', [c(0.044715), b.one('Mul', [x, b.one('Mul', [x, x])])]))]);
    return [b.one('Mul', [b.one('Mul', [c(0.5), x]), b.add(c(1), b.one('Tanh', [inner]))])];
  }
  return [b.one('Mul', [b.one('Mul', [c(0.5), x]), b.add(c(1), b.one('Erf', [b.one('Div', [x, c(Math.SQRT2)])]))])];
};

/** Sum/Mean over `dims` (null: all). Opset 17: ReduceSum takes axes as an input, ReduceMean as an attribute. */
const reduce =
  (onnx: 'ReduceSum' | 'ReduceMean'): Lowering =>
  (b, n) => {
    const rank = rankOf(b, n, 'x');
    const dims = n.attrs.dims as readonly Dim[] | null;
    if (dims?.some(isExpr)) throw new ExportError(`export: ${n.op} over size-dependent dims`);
    const axes = dims === null ? [...Array(rank).keys()] : (dims as number[]).map((d) => normalizeDim(n.op, d, Math.max(rank, 1)));
    const keepdims = { keepdims: { i: n.attrs.keepdim === true ? 1 : 0 } };
    const x = b.in(n, 'x');
    const dt = outDType(b, n);
    const xin = b.inValue(n, 'x').dtype === dt ? x : b.cast(x, dt);
    if (rank === 0) return [b.one('Identity', [xin])];
    return [onnx === 'ReduceSum' ? b.one(onnx, [xin, b.i64(axes)], keepdims) : b.one(onnx, [xin], { ...keepdims, axes: { ints: axes } })];
  };

export const LOWERINGS: ReadonlyMap<string, Lowering> = new Map<string, Lowering>([
  ['Add', binary('Add')],
  ['Sub', binary('Sub')],
  ['Mul', binary('Mul')],
  ['Div', binary('Div')],
  ['Pow', binary('Pow')],
  ['Neg', unary('Neg')],
  ['Exp', unary('Exp')],
  ['Log', unary('Log')],
  ['Sqrt', unary('Sqrt')],
  ['Tanh', unary('Tanh')],
  ['Sin', unary('Sin')],
  ['Cos', unary('Cos')],
  ['Sigmoid', unary('Sigmoid')],
  ['Relu', unary('Relu')],
  ['Abs', unary('Abs')],
  ['Rsqrt', (b, n) => [b.one('Reciprocal', [b.one('Sqrt', [b.in(n, 'x')])])]],
  ['Silu', (b, n) => [b.one('Mul', [b.in(n, 'x'), b.one('Sigmoid', [b.in(n, 'x')])])]],
  ['Gelu', gelu],
  ['Cast', (b, n) => [b.one('Cast', [b.in(n, 'x')], { to: { i: ONNX_TYPE[outDType(b, n)] } })]],
  ['Contiguous', (b, n) => [b.one('Identity', [b.in(n, 'x')])]],
  ['Embedding', (b, n) => [b.one('Gather', [b.in(n, 'weight'), b.in(n, 'indices')], { axis: { i: 0 } })]],
  [
    'Cat',
    (b, n) => {
      const ids = n.inputs.tensors as readonly number[];
      const rank = b.value(ids[0]!).shape.length;
      const dt = outDType(b, n);
      return [b.one('Concat', ids.map((id) => b.as(id, dt)), { axis: { i: normalizeDim('cat', num(n, 'dim'), rank) } })];
    },
  ],
  ['Sum', reduce('ReduceSum')],
  ['Mean', reduce('ReduceMean')],
  ['MatMul', (b, n) => [b.one('MatMul', [b.in(n, 'a'), b.in(n, 'b')])]],
  ['Linear', linear],
  ['LinearW8A8', lowerLinearW8A8],
  ['LinearW4', lowerLinearW4],
  ['Softmax', (b, n) => [b.one('Softmax', [b.in(n, 'x')], { axis: { i: normalizeDim('softmax', num(n, 'dim'), rankOf(b, n, 'x')) } })]],
  ['LayerNorm', layerNorm],
  ['RmsNorm', rmsNorm],
  ['Rope', rope],
  ['Attention', attention],
  ['view.reshape', (b, n) => [b.one('Reshape', [b.in(n, 'x'), b.shape(b.value(n.outputs[0]!).shape)], { allowzero: { i: 1 } })]],
  ['view.expand', (b, n) => [b.one('Expand', [b.in(n, 'x'), b.shape(b.value(n.outputs[0]!).shape)])]],
  ['view.permute', (b, n) => [b.one('Transpose', [b.in(n, 'x')], { perm: { ints: n.attrs.perm as number[] } })]],
  ['view.slice', viewSlice],
  ['view.identity', (b, n) => [b.one('Identity', [b.in(n, 'x')])]],
  // mask_positions.ts: rotary rows at position_ids [B, T] → [B, 1, T, rot]; learned positions position_ids + offset.
  [GATHER_ROWS, (b, n) => [b.one('Unsqueeze', [b.one('Gather', [b.in(n, 'table'), b.in(n, 'positions')], { axis: { i: 0 } }), b.i64([1])])]],
  [POSITION_IDS, (b, n) => [b.add(b.in(n, 'positions'), b.constant('int64', [num(n, 'offset')], true))]],
]);
