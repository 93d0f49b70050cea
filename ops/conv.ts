/**
 * Padding and convolution. `pad` is F.pad (constant/reflect/replicate/circular over any number of trailing
 * dims). conv1d/conv2d decompose into pad → Im2Col (F.unfold, a cpu kernel that only moves elements) →
 * the dispatcher's MatMul, so a GEMM backend takes the heavy part, exactly as it would for a Linear.
 */
import { dispatch } from '../core/dispatcher.js';
import { DTypeError, ShapeError } from '../core/errors.js';
import { defineOp } from '../core/op_def.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add } from './elementwise.js';
import { matmul } from './linalg.js';
import { requireFloat, requireTensor, sig } from './util.js';

type X = { readonly x: Tensor };

// ---- pad ----

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';
export type PadAttrs = { readonly pad: readonly number[]; readonly mode: PadMode; readonly value: number };

/** Per padded dim k (0-based among x's dims): [before, after], from F.pad's last-dim-first list. */
export function padPairs(x: Tensor, pad: readonly number[]): Map<number, [number, number]> {
  const m = new Map<number, [number, number]>();
  for (let i = 0; i < pad.length / 2; i++) m.set(x.ndim - 1 - i, [pad[2 * i]!, pad[2 * i + 1]!]);
  return m;
}

/**
 * torch.nn.functional.pad. `pad` lists (before, after) pairs starting from the last dim. constant pads may be
 * negative (cropping); reflect needs each pad smaller than the dim, circular at most the dim, replicate a
 * non-empty dim. Unlike PyTorch 1.13, reflect/replicate/circular pad any number of trailing dims.
 */
export const Pad = defineOp<X, PadAttrs>({
  name: 'Pad',
  meta({ x }, { pad, mode, value }) {
    if (pad.length % 2 !== 0 || pad.length > 2 * x.ndim)
      throw new ShapeError(`pad: padding length ${pad.length} must be even and at most 2 × the input's ${x.ndim} dims (input ${sig(x)})`);
    if (pad.some((p) => !Number.isInteger(p))) throw new ShapeError(`pad: padding [${pad.join(', ')}] must be integers`);
    if (!['constant', 'reflect', 'replicate', 'circular'].includes(mode))
      throw new DTypeError(`pad: mode '${String(mode)}' must be 'constant', 'reflect', 'replicate' or 'circular'`);
    if (mode !== 'constant' && value !== 0) throw new DTypeError(`pad: a fill value (${value}) only applies to mode 'constant', not '${mode}'`);
    if (mode === 'constant' && x.dtype === 'bool' && value !== 0 && value !== 1) throw new DTypeError(`pad: value ${value} does not fit ${sig(x)}`);
    const shape = [...x.shape];
    for (const [k, [l, r]] of padPairs(x, pad)) {
      const n = x.shape[k]!;
      const what = `padding (${l}, ${r}) of dim ${k} (size ${n}) of input ${sig(x)}`;
      if (mode !== 'constant' && (l < 0 || r < 0)) throw new ShapeError(`pad: ${what}: negative padding is only allowed in mode 'constant'`);
      if (mode === 'reflect' && (l >= n || r >= n)) throw new ShapeError(`pad: ${what}: reflect padding must be smaller than the dim's size`);
      if (mode === 'circular' && (l > n || r > n)) throw new ShapeError(`pad: ${what}: circular padding must be at most the dim's size`);
      if (mode === 'replicate' && n === 0 && l + r > 0) throw new ShapeError(`pad: ${what}: replicate padding needs a non-empty dim`);
      shape[k] = n + l + r;
      if (shape[k]! < 0) throw new ShapeError(`pad: ${what}: the padded size ${shape[k]} is negative`);
    }
    return [{ shape, dtype: x.dtype }];
  },
  flops: () => 0,
});

export interface PadOptions {
  readonly mode?: PadMode;
  /** Fill value for mode 'constant' (default 0). */
  readonly value?: number;
}

export function pad(x: Tensor, padding: readonly number[], modeOrOptions: PadMode | PadOptions = {}, value?: number): Tensor {
  const o: PadOptions = typeof modeOrOptions === 'string' ? { mode: modeOrOptions, value } : modeOrOptions;
  return dispatch(Pad, { x: requireTensor('pad', 'input', x) }, { pad: [...padding], mode: o.mode ?? 'constant', value: o.value ?? 0 });
}

// ---- im2col (F.unfold) ----

export type Im2ColAttrs = {
  readonly kernel: readonly number[];
  readonly dilation: readonly number[];
  /** [top, bottom, left, right] zero padding */
  readonly padding: readonly number[];
  readonly stride: readonly number[];
};

/** Output size of a sliding window along one dim, or a non-positive number when the window does not fit. */
export function windowOut(n: number, before: number, after: number, k: number, dil: number, stride: number): number {
  return Math.floor((n + before + after - dil * (k - 1) - 1) / stride) + 1;
}

/**
 * F.unfold on [N, C, H, W]: [N, C·kh·kw, Hout·Wout], row (c·kh + i)·kw + j holding input pixel
 * (oh·sh − top + i·dh, ow·sw − left + j·dw) of channel c for every output position (zero outside).
 */
export const Im2Col = defineOp<X, Im2ColAttrs>({
  name: 'Im2Col',
  meta({ x }, { kernel, dilation, padding, stride }) {
    if (x.ndim !== 4) throw new ShapeError(`unfold: input must be 4-D [N, C, H, W], got ${sig(x)}`);
    const ok = (a: readonly number[], n: number, min: number) => a.length === n && a.every((v) => Number.isInteger(v) && v >= min);
    if (!ok(kernel, 2, 1) || !ok(dilation, 2, 1) || !ok(stride, 2, 1) || !ok(padding, 4, 0))
      throw new ShapeError(
        `unfold: kernel [${kernel}], dilation [${dilation}] and stride [${stride}] must be 2 positive integers, padding [${padding}] 4 non-negative ones`,
      );
    const [N, C, H, W] = x.shape as [number, number, number, number];
    const ho = windowOut(H, padding[0]!, padding[1]!, kernel[0]!, dilation[0]!, stride[0]!);
    const wo = windowOut(W, padding[2]!, padding[3]!, kernel[1]!, dilation[1]!, stride[1]!);
    if (ho < 1 || wo < 1)
      throw new ShapeError(
        `unfold: kernel [${kernel}] with dilation [${dilation}] does not fit input ${formatShape(x.shape)} padded by [${padding}] (output would be ${ho}x${wo})`,
      );
    return [{ shape: [N, C * kernel[0]! * kernel[1]!, ho * wo], dtype: x.dtype }];
  },
  flops: () => 0,
});

export interface UnfoldOptions {
  readonly dilation?: number | readonly number[];
  readonly padding?: number | readonly number[];
  readonly stride?: number | readonly number[];
}

const pair = (v: number | readonly number[] | undefined, dflt: number): number[] =>
  v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [...v];

/** torch.nn.functional.unfold (im2col) on a 4-D input. */
export function unfold(x: Tensor, kernelSize: number | readonly number[], options: UnfoldOptions = {}): Tensor {
  const [ph, pw] = pair(options.padding, 0) as [number, number];
  return dispatch(
    Im2Col,
    { x: requireTensor('unfold', 'input', x) },
    { kernel: pair(kernelSize, 1), dilation: pair(options.dilation, 1), padding: [ph, ph, pw, pw], stride: pair(options.stride, 1) },
  );
}

// ---- conv1d / conv2d ----

export type ConvInputs = { readonly x: Tensor; readonly weight: Tensor; readonly bias: Tensor | undefined };
export type ConvAttrs = {
  /** 1 (conv1d) or 2 (conv2d) spatial dims */
  readonly spatial: number;
  readonly stride: readonly number[];
  /** 'same', 'valid', or a symmetric padding per spatial dim */
  readonly padding: string | readonly number[];
  readonly dilation: readonly number[];
  readonly groups: number;
};

interface ConvPlan {
  readonly batched: boolean;
  /** [before, after] per spatial dim */
  readonly pads: [number, number][];
  readonly out: number[];
}

function convPlan(x: Tensor, weight: Tensor, bias: Tensor | undefined, a: ConvAttrs): ConvPlan {
  const s = a.spatial;
  const op = `conv${s}d`;
  if (s !== 1 && s !== 2) throw new ShapeError(`conv: spatial dims must be 1 or 2, got ${s}`);
  requireFloat(op, x);
  for (const [n, t] of [['weight', weight], ['bias', bias]] as const)
    if (t && t.dtype !== x.dtype) throw new DTypeError(`${op}: ${n} ${sig(t)} must have the input's dtype ${x.dtype}`);
  const batched = x.ndim === s + 2;
  if (!batched && x.ndim !== s + 1)
    throw new ShapeError(`${op}: input must be ${s + 2}-D [N, C, ${s === 1 ? 'L' : 'H, W'}] or ${s + 1}-D unbatched, got ${sig(x)}`);
  if (weight.ndim !== s + 2) throw new ShapeError(`${op}: weight must be ${s + 2}-D [out_channels, in_channels/groups, ${s === 1 ? 'k' : 'kh, kw'}], got ${sig(weight)}`);
  const C = x.shape[batched ? 1 : 0]!;
  const O = weight.shape[0]!;
  const g = a.groups;
  if (!Number.isInteger(g) || g < 1) throw new ShapeError(`${op}: groups must be a positive integer, got ${g}`);
  if (C % g !== 0 || O % g !== 0)
    throw new ShapeError(`${op}: groups ${g} must divide in_channels ${C} (input ${sig(x)}) and out_channels ${O} (weight ${sig(weight)})`);
  if (weight.shape[1]! * g !== C)
    throw new ShapeError(`${op}: weight ${sig(weight)} expects ${weight.shape[1]! * g} input channels (in_channels/groups ${weight.shape[1]} × groups ${g}), input ${sig(x)} has ${C}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) throw new ShapeError(`${op}: bias ${sig(bias)} must be [${O}] (out_channels)`);
  const positive = (v: readonly number[], name: string) => {
    if (v.length !== s || v.some((x) => !Number.isInteger(x) || x < 1)) throw new ShapeError(`${op}: ${name} [${v}] must be ${s} positive integer${s > 1 ? 's' : ''}`);
  };
  positive(a.stride, 'stride');
  positive(a.dilation, 'dilation');
  const spatialIn = x.shape.slice(-s);
  const ks = weight.shape.slice(2);
  let pads: [number, number][];
  if (a.padding === 'same') {
    if (a.stride.some((v) => v !== 1)) throw new ShapeError(`${op}: padding 'same' needs stride 1, got stride [${a.stride}]`);
    // PyTorch puts the odd pixel of 'same' padding after (right/bottom).
    pads = ks.map((k, i) => {
      const total = a.dilation[i]! * (k - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  } else if (a.padding === 'valid') pads = ks.map(() => [0, 0]);
  else if (typeof a.padding === 'string') throw new ShapeError(`${op}: padding '${a.padding}' must be 'same', 'valid' or numbers`);
  else {
    if (a.padding.length !== s || a.padding.some((p) => !Number.isInteger(p) || p < 0))
      throw new ShapeError(`${op}: padding [${a.padding}] must be ${s} non-negative integer${s > 1 ? 's' : ''}, 'same' or 'valid'`);
    pads = a.padding.map((p) => [p, p]);
  }
  const out = spatialIn.map((n, i) => {
    const o = windowOut(n, pads[i]![0], pads[i]![1], ks[i]!, a.dilation[i]!, a.stride[i]!);
    if (o < 1)
      throw new ShapeError(
        `${op}: kernel ${formatShape(ks)} with dilation [${a.dilation}] is larger than input ${sig(x)} padded by [${pads.map((p) => p.join('+'))}]`,
      );
    return o;
  });
  const lead = batched ? [x.shape[0]!, O] : [O];
  return { batched, pads, out: [...lead, ...out] };
}

/** torch.nn.functional.conv1d / conv2d (stride, padding incl. 'same'/'valid', dilation, groups). */
export const Conv = defineOp<ConvInputs, ConvAttrs>({
  name: 'Conv',
  meta({ x, weight, bias }, attrs) {
    return [{ shape: convPlan(x, weight, bias, attrs).out, dtype: x.dtype }];
  },
  decompose({ x, weight, bias }, attrs) {
    const plan = convPlan(x, weight, bias, attrs);
    const one = attrs.spatial === 1;
    // Everything runs as 2-D: a 1-D signal is an image of height 1.
    let xb = plan.batched ? x : x.unsqueeze(0); // (N, C, [H,] W)
    if (one) xb = xb.unsqueeze(2); // (N, C, 1, L)
    const w = one ? weight.unsqueeze(2) : weight; // (O, C/g, kh, kw)
    const N = xb.shape[0]!;
    const [O, Cg, kh, kw] = w.shape as [number, number, number, number];
    const pads = one ? [0, 0, ...plan.pads[0]!] : [...plan.pads[0]!, ...plan.pads[1]!];
    const cols = dispatch(Im2Col, { x: xb }, {
      kernel: [kh, kw],
      dilation: one ? [1, attrs.dilation[0]!] : attrs.dilation,
      padding: pads,
      stride: one ? [1, attrs.stride[0]!] : attrs.stride,
    }); // (N, C·kh·kw, L)
    const L = cols.shape[2]!;
    const g = attrs.groups;
    const K = Cg * kh * kw;
    // groups = 1 keeps the weight a plain 2-D matrix (a GEMM backend may have prepared it as a constant).
    const y =
      g === 1
        ? matmul(w.reshape([O, K]), cols) // (O, K) @ (N, K, L) -> (N, O, L)
        : matmul(w.reshape([g, O / g, K]), cols.reshape([N, g, K, L])).reshape([N, O, L]); // (N, g, O/g, L)
    let out = y.reshape([N, O, ...plan.out.slice(plan.batched ? 2 : 1)]);
    if (bias) out = add(out, bias.reshape([O, ...plan.out.slice(plan.batched ? 2 : 1).map(() => 1)]));
    return [plan.batched ? out : out.squeeze(0)];
  },
  flops({ weight }, _attrs, outs) {
    const o = outs[0]!.shape;
    const perOut = weight.numel() / weight.shape[0]!;
    return 2 * o.reduce((p, v) => p * v, 1) * perOut;
  },
});

export interface ConvOptions {
  readonly stride?: number | readonly number[];
  /** 'same' (stride 1 only), 'valid', or zero padding per spatial dim */
  readonly padding?: 'same' | 'valid' | number | readonly number[];
  readonly dilation?: number | readonly number[];
  readonly groups?: number;
}

function conv(spatial: 1 | 2, x: Tensor, weight: Tensor, bias: Tensor | undefined, o: ConvOptions): Tensor {
  const op = `conv${spatial}d`;
  const rep = (v: number | readonly number[] | undefined, d: number) => (v === undefined ? new Array<number>(spatial).fill(d) : typeof v === 'number' ? new Array<number>(spatial).fill(v) : [...v]);
  const padding = typeof o.padding === 'string' ? o.padding : rep(o.padding, 0);
  return dispatch(
    Conv,
    {
      x: requireTensor(op, 'input', x),
      weight: requireTensor(op, 'weight', weight),
      bias: bias === undefined || bias === null ? undefined : requireTensor(op, 'bias', bias),
    },
    { spatial, stride: rep(o.stride, 1), padding, dilation: rep(o.dilation, 1), groups: o.groups ?? 1 },
  );
}

/** torch.nn.functional.conv1d(input [N, C, L] or [C, L], weight [O, C/groups, k], bias?). */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): Tensor {
  return conv(1, x, weight, bias, options);
}

/** torch.nn.functional.conv2d(input [N, C, H, W] or [C, H, W], weight [O, C/groups, kh, kw], bias?). */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvOptions = {}): Tensor {
  return conv(2, x, weight, bias, options);
}
