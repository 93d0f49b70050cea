/** matmul with PyTorch semantics (1-D and 2-D cases, broadcast batch dims) and linear (x @ wᵀ + b). */
import { dispatch } from '../core/dispatcher.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { broadcastShapes, formatShape, numel } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add } from './elementwise.js';
import { requireTensor, sig } from './util.js';

export type MatMulInputs = { readonly a: Tensor; readonly b: Tensor };

/** Batch shape, M, K, N and the output shape of a @ b (1-D operands promoted and squeezed as in PyTorch). */
export interface MatMulDims {
  readonly batch: number[];
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly out: number[];
}

export function matmulDims(a: Tensor, b: Tensor): MatMulDims {
  const as = a.shape;
  const bs = b.shape;
  if (as.length === 0 || bs.length === 0)
    throw new ShapeError(`matmul: ${formatShape(as)} @ ${formatShape(bs)}: both arguments need at least 1 dim`);
  const m = as.length === 1 ? 1 : as[as.length - 2]!;
  const ka = as[as.length - 1]!;
  const kb = bs.length === 1 ? bs[0]! : bs[bs.length - 2]!;
  const n = bs.length === 1 ? 1 : bs[bs.length - 1]!;
  if (ka !== kb) throw new ShapeError(`matmul: ${formatShape(as)} @ ${formatShape(bs)}: inner dims ${ka} and ${kb} differ`);
  const batch = broadcastShapes('matmul (batch dims)', as.slice(0, -2), bs.slice(0, -2));
  const out = [...batch];
  if (as.length > 1) out.push(m);
  if (bs.length > 1) out.push(n);
  return { batch, m, k: ka, n, out };
}

function sameFloatOrInt(op: string, ts: Tensor[]): void {
  const d = ts[0]!.dtype;
  for (const t of ts)
    if (t.dtype !== d) throw new DTypeError(`${op}: expected all operands to have the same dtype, got ${ts.map(sig).join(', ')}`);
  if (d === 'bool') throw new DTypeError(`${op}: not supported for bool operands (${ts.map(sig).join(', ')})`);
}

export const MatMul = defineOp<MatMulInputs, Record<string, never>>({
  name: 'MatMul',
  meta({ a, b }) {
    const dims = matmulDims(a, b);
    sameFloatOrInt('matmul', [a, b]);
    return [{ shape: dims.out, dtype: a.dtype }];
  },
  flops({ a, b }) {
    const d = matmulDims(a, b);
    return 2 * numel(d.batch) * d.m * d.n * d.k;
  },
});

export type LinearInputs = { readonly x: Tensor; readonly weight: Tensor; readonly bias: Tensor | undefined };

/** y = x @ weightᵀ + bias with weight [out_features, in_features] (torch.nn.functional.linear). */
export const Linear = defineOp<LinearInputs, Record<string, never>>({
  name: 'Linear',
  meta({ x, weight, bias }) {
    if (x.ndim === 0) throw new ShapeError(`linear: input ${sig(x)} needs at least 1 dim`);
    if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-d [out_features, in_features], got ${formatShape(weight.shape)}`);
    const k = x.shape[x.ndim - 1]!;
    const [n, kw] = weight.shape as [number, number];
    if (k !== kw)
      throw new ShapeError(`linear: input ${formatShape(x.shape)} and weight ${formatShape(weight.shape)}: in_features ${k} and ${kw} differ`);
    if (bias && (bias.ndim !== 1 || bias.shape[0] !== n))
      throw new ShapeError(`linear: bias ${formatShape(bias.shape)} must be [${n}] for weight ${formatShape(weight.shape)}`);
    sameFloatOrInt('linear', bias ? [x, weight, bias] : [x, weight]);
    return [{ shape: [...x.shape.slice(0, -1), n], dtype: x.dtype }];
  },
  decompose({ x, weight, bias }) {
    const y = matmul(x, weight.t());
    return [bias ? add(y, bias) : y];
  },
  flops({ x, weight }) {
    return 2 * (x.numel() / x.shape[x.ndim - 1]!) * weight.shape[0]! * weight.shape[1]!;
  },
});

export function matmul(a: Tensor, b: Tensor): Tensor {
  return dispatch(MatMul, { a: requireTensor('matmul', 'input', a), b: requireTensor('matmul', 'other', b) }, {});
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return dispatch(
    Linear,
    {
      x: requireTensor('linear', 'input', x),
      weight: requireTensor('linear', 'weight', weight),
      bias: bias === undefined ? undefined : requireTensor('linear', 'bias', bias),
    },
    {},
  );
}
