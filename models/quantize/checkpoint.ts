/**
 * Quantized checkpoints.
 *
 * opshift's format: a Hugging Face folder (config.json + model.safetensors) whose config.json carries
 *   "quantization_config": { "quant_method": "opshift", "version": 1, "recipe": "awq", "bits": 4,
 *                            "group_size": 128, "per_channel": false, "alpha": 0.5,
 *                            "modules_to_not_convert": ["lm_head"], "calibration": {...} }
 * and whose quantized linears are stored under their module path as
 *   w8a8: <path>.weight int8 [out, in], <path>.weight_scale f32 [] or [out], <path>.bias f32 [out]
 *   w4:   <path>.qweight uint8 [out, in/2] (low nibble first), <path>.scales f32 [out, in/G],
 *         <path>.zeros uint8 [out, in/G], <path>.bias f32 [out]
 * Which linears are quantized, and their group size, is read from the tensors (so per-linear group sizes need
 * no extra fields); everything else (embeddings, norms, float linears) is stored as in a float checkpoint.
 *
 * AutoAWQ's format ("quant_method": "awq", "version": "gemm", 4 bits, zero_point true): per linear
 *   <path>.qweight int32 [in, out/8], <path>.qzeros int32 [in/G, out/8], <path>.scales f16 [in/G, out], <path>.bias;
 * each int32 packs 8 consecutive output columns, nibble i (bits 4i..4i+3) holding column AWQ_ORDER[i]. Loading
 * repacks to the LinearW4 layout above (exactly: the same integers and float16-exact scales).
 *
 * AutoAWQ's GEMV packing ("version": "gemv"): <path>.qweight int32 [out, in/8] (8 consecutive input columns a
 * word, column 8c+i in bits 4i..), <path>.qzeros int32 [out, W] and <path>.scales f16 [out, 8·W], W =
 * calculate_zeros_width(in, group_size) (ceil(groups / 8), rounded up to a multiple of 1, 2 or 4 for group sizes
 * ≥ 128, 64, 32): groups past in/G are padding. Zero points are stored as they are.
 *
 * GPTQ's format (AutoGPTQ / optimum / GPTQModel, "quant_method": "gptq", 4 bits): per linear
 *   <path>.qweight int32 [in/8, out] (8 consecutive input rows a word, row 8j+i in bits 4i..4i+3),
 *   <path>.qzeros int32 [groups, out/8] (8 consecutive output columns a word, column 8c+i in bits 4i..),
 *   <path>.scales f16 [groups, out], <path>.g_idx int32 [in] (the group of each input row), <path>.bias;
 * checkpoint_format "gptq" (v1) stores zero − 1, "gptq_v2" the zero itself; W[n, k] = (q − zero) · scale of
 * group g_idx[k]. desc_act (act-order) checkpoints whose g_idx is not k / group_size are refused: LinearW4 groups
 * contiguous input channels.
 */
import { ArgumentError, CheckpointError } from '../../core/errors.js';
import type { DType } from '../../core/dtype.js';
import type { Tensor } from '../../core/tensor.js';
import { fromTypedArray } from '../../ops/creation.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { saveCheckpoint } from '../io/checkpoint.js';
import type { Module, TensorSource } from '../nn/module.js';
import { QLinearW4, QLinearW8A8 } from '../nn/qlinear.js';
import type { Json } from '../io/checkpoint.js';
import type { QuantizeReport } from './index.js';
import { linearModules } from './select.js';
import { tiedHeadFromSource } from './tied_head.js';

/** AutoAWQ's GEMM pack order: nibble i of each int32 holds output column 8c + AWQ_ORDER[i]. */
export const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7] as const;

export interface QuantizationConfig {
  readonly quant_method: 'opshift';
  readonly version: 1;
  readonly recipe: string;
  readonly bits: 8 | 4;
  readonly group_size?: number;
  readonly per_channel?: boolean;
  readonly alpha?: number;
  readonly modules_to_not_convert: string[];
  readonly calibration?: { readonly file?: string; readonly tokens: number };
}

export function quantizationConfig(report: QuantizeReport, calibrationFile?: string): QuantizationConfig {
  const r = report.recipe;
  const w4 = r.method === 'awq' || r.method === 'pergrp';
  return {
    quant_method: 'opshift',
    version: 1,
    recipe: r.method,
    bits: w4 ? 4 : 8,
    ...(w4 ? { group_size: r.groupSize ?? 128 } : { per_channel: r.perChannel ?? false }),
    ...(r.method === 'smoothquant' ? { alpha: r.alpha ?? 0.5 } : {}),
    modules_to_not_convert: report.kept,
    ...(report.calibrationTokens > 0 ? { calibration: { file: calibrationFile, tokens: report.calibrationTokens } } : {}),
  };
}

/**
 * Write a (quantized) model: config.json = `config` + quantization_config, model.safetensors = every parameter
 * under its path, in its dtype.
 */
export function saveQuantized(model: Module, dir: string, config: Record<string, unknown>, qc: QuantizationConfig, options: { generationConfig?: Record<string, unknown> } = {}): string[] {
  const tensors = new Map<string, Tensor>();
  for (const [name, p] of model.namedParameters()) tensors.set(name, p.value);
  return saveCheckpoint(dir, tensors, { ...config, quantization_config: qc }, { generationConfig: options.generationConfig });
}

/** The checkpoint's name for a module path: the path, it without `model.`, or it with `model.` (hub variants). */
export function nameResolver(has: (n: string) => boolean): (path: string) => string | undefined {
  return (path) => {
    if (has(path)) return path;
    const bare = path.startsWith('model.') ? path.slice('model.'.length) : undefined;
    if (bare !== undefined && has(bare)) return bare;
    if (has(`model.${path}`)) return `model.${path}`;
    return path;
  };
}

/**
 * Swap every float Linear that the source holds quantized (`<path>.qweight` or `<path>.weight_scale`) for an
 * empty QLinear of the stored layout, ready for loadStateDict. Returns the number swapped.
 */
export function prepareQuantized(model: Module, source: TensorSource, tied = false): number {
  const names = new Set(source.names());
  const resolve = nameResolver((n) => names.has(n));
  // a tied model's quantized head copy (tied_head.ts) has no float Linear to swap: it is added
  let n = 0;
  if (tiedHeadFromSource(model, tied, source, resolve)) {
    releasable(model.getChild('lm_head') as QLinearW4 | QLinearW8A8);
    n++;
  }
  for (const l of linearModules(model)) {
    const lin = l.linear;
    const bias = lin.bias !== undefined;
    const qw = resolve(`${l.path}.qweight`)!;
    const ws = resolve(`${l.path}.weight_scale`)!;
    if (names.has(qw)) {
      const sc = source.shape(resolve(`${l.path}.scales`)!);
      const groups = sc[1];
      if (sc.length !== 2 || groups === undefined || lin.inFeatures % groups !== 0)
        throw new CheckpointError('', `${l.path}.scales ${JSON.stringify(sc)} does not fit a [${lin.outFeatures}, in/G] layout for in_features ${lin.inFeatures}`);
      l.parent.replaceChild(l.name, releasable(new QLinearW4(lin.inFeatures, lin.outFeatures, lin.inFeatures / groups, { bias })));
      n++;
    } else if (names.has(ws)) {
      l.parent.replaceChild(l.name, releasable(new QLinearW8A8(lin.inFeatures, lin.outFeatures, { bias, perChannel: source.shape(ws).length === 1 })));
      n++;
    }
  }
  return n;
}

/**
 * Marks the GEMM-only parameters of a quantized linear loaded from a checkpoint as releasable (core/weight.ts):
 * the int8 weight (w8a8), the nibbles, scales and zero points (w4), which the npu library and ORT bake into
 * their prepared form. Kept: w8a8's weight_scale (the kernels read it every call) and biases (tiny; npu w8a8
 * adds it per call). Weights under OPSHIFT_RELEASE_MIN_BYTES stay resident anyway.
 */
function releasable<M extends QLinearW4 | QLinearW8A8>(m: M): M {
  if (m instanceof QLinearW4) for (const p of [m.qweight, m.scales, m.zeros]) p.hostCopy = 'release';
  else m.weight.hostCopy = 'release';
  return m;
}

// ---- AutoAWQ GEMM packing ----

/** Pack uint4 values [rows, cols] (cols a multiple of 8) into AutoAWQ's int32 [rows, cols/8]. */
export function packAwq(values: Uint8Array, rows: number, cols: number): Int32Array {
  if (cols % 8 !== 0) throw new ArgumentError(`packAwq: ${cols} columns is not a multiple of 8`);
  const out = new Int32Array((rows * cols) / 8);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols / 8; c++) {
      let word = 0;
      for (let i = 0; i < 8; i++) word |= (values[r * cols + 8 * c + AWQ_ORDER[i]!]! & 15) << (4 * i);
      out[(r * cols) / 8 + c] = word;
    }
  return out;
}

/** Unpack AutoAWQ's int32 [rows, cols/8] into uint4 values [rows, cols]. */
export function unpackAwq(packed: Int32Array, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols / 8; c++) {
      const word = packed[(r * cols) / 8 + c]!;
      for (let i = 0; i < 8; i++) out[r * cols + 8 * c + AWQ_ORDER[i]!] = (word >>> (4 * i)) & 15;
    }
  return out;
}

/**
 * AutoAWQ GEMM tensors (qweight int32 [K, N/8], qzeros int32 [K/G, N/8], scales [K/G, N] as float32) →
 * the LinearW4 layout (qweight uint8 [N, K/2], scales f32 [N, K/G], zeros uint8 [N, K/G]).
 */
export function awqToW4(qweight: Int32Array, qzeros: Int32Array, scales: Float32Array, K: number, N: number): { qweight: Uint8Array; scales: Float32Array; zeros: Uint8Array; groupSize: number } {
  const groups = scales.length / N;
  if (!Number.isInteger(groups) || K % groups !== 0) throw new ArgumentError(`awqToW4: scales of ${scales.length} values do not fit [K/G, ${N}] for K ${K}`);
  const q = unpackAwq(qweight, K, N); // [K, N]
  const z = unpackAwq(qzeros, groups, N); // [K/G, N]
  const packed = new Uint8Array((N * K) / 2);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) {
      const v = q[k * N + n]!;
      const byte = (n * K + k) >> 1;
      packed[byte] = k % 2 === 0 ? (packed[byte]! & 0xf0) | v : (packed[byte]! & 0x0f) | (v << 4);
    }
  const s = new Float32Array(N * groups);
  const zz = new Uint8Array(N * groups);
  for (let g = 0; g < groups; g++)
    for (let n = 0; n < N; n++) {
      s[n * groups + g] = scales[g * N + n]!;
      zz[n * groups + g] = z[g * N + n]!;
    }
  return { qweight: packed, scales: s, zeros: zz, groupSize: K / groups };
}

// ---- GPTQ packing ----

/** GPTQ's checkpoint flavours: v1 stores zero − 1 (AutoGPTQ's legacy), v2 the zero point itself. */
export type GptqFormat = 'gptq' | 'gptq_v2';

/**
 * GPTQ tensors (qweight int32 [K/8, N], qzeros int32 [groups, N/8], scales [groups, N] as float32, g_idx [K] or
 * undefined) → the LinearW4 layout. Throws when g_idx is not k / (K / groups) (act-order) or a size does not fit.
 */
export function gptqToW4(
  qweight: Int32Array,
  qzeros: Int32Array,
  scales: Float32Array,
  gIdx: Int32Array | undefined,
  K: number,
  N: number,
  format: GptqFormat,
  name = 'gptq',
): { qweight: Uint8Array; scales: Float32Array; zeros: Uint8Array; groupSize: number } {
  const groups = scales.length / N;
  if (!Number.isInteger(groups) || groups < 1 || K % groups !== 0) throw new ArgumentError(`${name}: scales of ${scales.length} values do not fit [groups, ${N}] for in_features ${K}`);
  if (qweight.length * 8 !== K * N) throw new ArgumentError(`${name}: qweight of ${qweight.length} words does not fit [${K}/8, ${N}]`);
  if (qzeros.length * 8 !== groups * N) throw new ArgumentError(`${name}: qzeros of ${qzeros.length} words does not fit [${groups}, ${N}/8]`);
  const G = K / groups;
  if (gIdx) {
    if (gIdx.length !== K) throw new ArgumentError(`${name}: g_idx has ${gIdx.length} entries for in_features ${K}`);
    const k = gIdx.findIndex((g, i) => g !== Math.floor(i / G));
    if (k >= 0)
      throw new ArgumentError(`${name}: g_idx[${k}] is ${gIdx[k]}, not ${Math.floor(k / G)}: desc_act (act-order) group assignment is not supported (LinearW4 groups ${G} consecutive input channels); use a checkpoint quantized with desc_act false`);
  }
  const packed = new Uint8Array((N * K) / 2);
  for (let j = 0; j < K / 8; j++)
    for (let n = 0; n < N; n++) {
      const word = qweight[j * N + n]!;
      for (let i = 0; i < 8; i++) {
        const k = 8 * j + i;
        const v = (word >>> (4 * i)) & 15;
        const byte = (n * K + k) >> 1;
        packed[byte] = k % 2 === 0 ? (packed[byte]! & 0xf0) | v : (packed[byte]! & 0x0f) | (v << 4);
      }
    }
  const s = new Float32Array(N * groups);
  const z = new Uint8Array(N * groups);
  const offset = format === 'gptq' ? 1 : 0;
  for (let g = 0; g < groups; g++)
    for (let n = 0; n < N; n++) {
      // v1's zero − 1 wraps: a zero point of 0 is stored as 15 (AutoGPTQ reads (stored + 1) & 15).
      const zero = (((qzeros[g * (N / 8) + (n >> 3)]! >>> (4 * (n & 7))) & 15) + offset) & 15;
      s[n * groups + g] = scales[g * N + n]!;
      z[n * groups + g] = zero;
    }
  return { qweight: packed, scales: s, zeros: z, groupSize: G };
}

// ---- AutoAWQ GEMV packing ----

/** AutoAWQ's calculate_zeros_width: words of qzeros per output row (scales hold 8 times as many values). */
export function awqGemvZerosWidth(inFeatures: number, groupSize: number): number {
  const mult = groupSize >= 128 ? 1 : groupSize === 64 ? 2 : groupSize === 32 ? 4 : undefined;
  if (mult === undefined) throw new ArgumentError(`AutoAWQ GEMV: group size ${groupSize} has no packing (128 or more, 64 or 32)`);
  return Math.ceil(Math.ceil(inFeatures / groupSize / 8) / mult) * mult;
}

/**
 * AutoAWQ GEMV tensors (qweight int32 [N, K/8], qzeros int32 [N, W], scales [N, 8·W] as float32) → the LinearW4
 * layout; the group size comes from the config (the padded widths do not give it).
 */
export function awqGemvToW4(qweight: Int32Array, qzeros: Int32Array, scales: Float32Array, K: number, N: number, groupSize: number, name = 'awq'): { qweight: Uint8Array; scales: Float32Array; zeros: Uint8Array; groupSize: number } {
  const G = groupSize === -1 ? K : groupSize;
  if (!Number.isInteger(G) || G < 1 || K % G !== 0) throw new ArgumentError(`${name}: group size ${groupSize} does not divide in_features ${K}`);
  const W = awqGemvZerosWidth(K, G);
  const groups = K / G;
  if (qweight.length * 8 !== K * N) throw new ArgumentError(`${name}: qweight of ${qweight.length} words does not fit [${N}, ${K}/8]`);
  if (qzeros.length !== N * W) throw new ArgumentError(`${name}: qzeros of ${qzeros.length} words does not fit [${N}, ${W}] (calculate_zeros_width(${K}, ${G}))`);
  if (scales.length !== N * W * 8) throw new ArgumentError(`${name}: scales of ${scales.length} values do not fit [${N}, ${8 * W}]`);
  const packed = new Uint8Array((N * K) / 2);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < K / 8; c++) {
      const word = qweight[n * (K / 8) + c]!;
      // Input columns 8c..8c+7 in order: four bytes of two nibbles each, low nibble first, as LinearW4 stores them.
      for (let i = 0; i < 4; i++) packed[(n * K + 8 * c) / 2 + i] = ((word >>> (8 * i)) & 0xff);
    }
  const s = new Float32Array(N * groups);
  const z = new Uint8Array(N * groups);
  for (let n = 0; n < N; n++)
    for (let g = 0; g < groups; g++) {
      s[n * groups + g] = scales[n * 8 * W + g]!;
      z[n * groups + g] = (qzeros[n * W + (g >> 3)]! >>> (4 * (g & 7))) & 15;
    }
  return { qweight: packed, scales: s, zeros: z, groupSize: G };
}

/** Quantization methods opshift loads. */
export type QuantMethod = 'opshift' | 'awq' | 'awq_gemv' | 'gptq' | 'gptq_v2';

/** Methods people meet on the hub that are refused, with what they are. */
const REFUSED_METHODS: Readonly<Record<string, string>> = {
  bitsandbytes: 'bitsandbytes (LLM.int8 / NF4) stores its own blockwise formats that no opshift linear runs',
  exl2: 'ExLlamaV2 (exl2) uses variable bit widths per layer',
  quark: "AMD Quark's formats are not read yet",
  fp8: 'fp8 weights are not supported',
};

/** What config.json says about quantization (opshift's, AutoAWQ's or GPTQ's format), or undefined; throws on others. */
export function quantMethod(raw: Readonly<Record<string, Json>>, file: string): QuantMethod | undefined {
  const qc = raw.quantization_config;
  if (qc === undefined || qc === null) return undefined;
  if (typeof qc !== 'object' || Array.isArray(qc)) throw new CheckpointError(file, `quantization_config must be an object, got ${JSON.stringify(qc)}`);
  const m = (qc as Record<string, Json>).quant_method;
  if (m === 'opshift') return 'opshift';
  if (m === 'awq') {
    const q = qc as Record<string, Json>;
    const version = String(q.version ?? 'gemm').toLowerCase();
    if (version !== 'gemm' && version !== 'gemv') throw new CheckpointError(file, `AutoAWQ version '${version}' is not supported (gemm, gemv)`);
    if ((q.bits ?? q.w_bit ?? 4) !== 4) throw new CheckpointError(file, `AutoAWQ with ${String(q.bits ?? q.w_bit)} bits is not supported (4 only)`);
    if (q.zero_point === false) throw new CheckpointError(file, 'AutoAWQ without zero points is not supported');
    if (version === 'gemv') {
      const gs = q.group_size ?? q.q_group_size ?? 128;
      if (typeof gs !== 'number' || !(gs === -1 || gs === 32 || gs === 64 || (Number.isInteger(gs) && gs >= 128)))
        throw new CheckpointError(file, `AutoAWQ GEMV group_size ${JSON.stringify(gs)} must be 32, 64, 128 or more, or -1`);
      return 'awq_gemv';
    }
    return 'awq';
  }
  if (m === 'gptq') {
    const q = qc as Record<string, Json>;
    if ((q.bits ?? 4) !== 4) throw new CheckpointError(file, `GPTQ with ${String(q.bits)} bits is not supported (4 only)`);
    const format = String(q.checkpoint_format ?? 'gptq');
    if (format !== 'gptq' && format !== 'gptq_v2') throw new CheckpointError(file, `GPTQ checkpoint_format '${format}' is not supported (gptq, gptq_v2)`);
    const gs = q.group_size ?? 128;
    if (typeof gs !== 'number' || !(gs === -1 || (Number.isInteger(gs) && gs > 0))) throw new CheckpointError(file, `GPTQ group_size ${JSON.stringify(gs)} must be a positive integer or -1`);
    return format;
  }
  const why = typeof m === 'string' ? REFUSED_METHODS[m.toLowerCase()] : undefined;
  throw new CheckpointError(file, `quantization_config.quant_method '${String(m)}' is not supported (opshift, awq, gptq)${why ? `: ${why}` : ''}`);
}

/** The tensors of a checkpoint as a TensorSource; AutoAWQ linears appear in the LinearW4 layout. */
export function quantizedSource(ck: Checkpoint, method: QuantMethod | undefined): TensorSource {
  if (method === 'gptq' || method === 'gptq_v2') return gptqSource(ck, method);
  if (method === 'awq_gemv') return awqGemvSource(ck);
  if (method === 'awq') return awqGemmSource(ck);
  return {
    names: () => ck.names(),
    shape: (n) => ck.info(n).shape,
    load: (n, dtype: DType) => ck.load(n, { dtype }),
    // opshift's own layout is stored as loaded: a released quantized weight is re-read by offset (core/weight.ts).
    // The repacked formats above have none, so their converted weights stay resident.
    hostSource: (n, dtype: DType) => ck.hostSource(n, dtype),
  };
}

type W4 = { qweight: Uint8Array; scales: Float32Array; zeros: Uint8Array; groupSize: number };

/** How one packed 4-bit format stores a linear `p` (`p.qweight`, `p.qzeros`, `p.scales`, maybe more). */
interface PackedW4Format {
  /** The linear's in/out features and group count, from the packed tensors' shapes. */
  dims(p: string): { K: number; N: number; groups: number };
  /** Tensors of a packed linear besides qweight that the conversion consumes (not listed as they are). */
  readonly consumed: readonly string[];
  /** The LinearW4 layout of linear `p` from its packed tensors. */
  convert(p: string, qweight: Int32Array, qzeros: Int32Array, scales: Float32Array, K: number, N: number): W4;
}

/**
 * A checkpoint's tensors with every packed linear (`p.qweight` beside `p.qzeros` and `p.scales`) shown in the
 * LinearW4 layout (`p.qweight` [N, K/2], `p.scales` and `p.zeros` [N, groups]), converted once per linear on first
 * load; every other tensor passes through.
 */
function w4Source(ck: Checkpoint, format: PackedW4Format): TensorSource {
  const prefixes = new Set<string>();
  for (const n of ck.names()) {
    const p = n.slice(0, -'.qweight'.length);
    if (n.endsWith('.qweight') && ck.has(`${p}.qzeros`) && ck.has(`${p}.scales`)) prefixes.add(p);
  }
  const split = (n: string): [string, string] | undefined => {
    const dot = n.lastIndexOf('.');
    const p = n.slice(0, dot);
    return prefixes.has(p) ? [p, n.slice(dot + 1)] : undefined;
  };
  const cache = new Map<string, W4>();
  const repacked = (p: string): W4 => {
    let r = cache.get(p);
    if (!r) {
      const { K, N } = format.dims(p);
      const qw = ck.load(`${p}.qweight`, { dtype: 'int32' }).toArray() as Int32Array;
      const qz = ck.load(`${p}.qzeros`, { dtype: 'int32' }).toArray() as Int32Array;
      const sc = ck.load(`${p}.scales`, { dtype: 'float32' }).toArray() as Float32Array;
      try {
        r = format.convert(p, qw, qz, sc, K, N);
      } catch (e) {
        throw new CheckpointError(ck.config.file, (e as Error).message);
      }
      cache.set(p, r);
    }
    return r;
  };
  const converted = new Set(['qweight', 'scales', 'zeros']);
  return {
    *names() {
      for (const n of ck.names()) {
        const s = split(n);
        if (!s) yield n;
        else if (s[1] === 'qweight') yield* [`${s[0]}.qweight`, `${s[0]}.scales`, `${s[0]}.zeros`];
        else if (!format.consumed.includes(s[1])) yield n;
      }
    },
    shape(n) {
      const s = split(n);
      if (!s || !converted.has(s[1])) return ck.info(n).shape;
      const { K, N, groups } = format.dims(s[0]);
      return s[1] === 'qweight' ? [N, K / 2] : [N, groups];
    },
    load(n, dtype) {
      const s = split(n);
      if (!s || !converted.has(s[1])) return ck.load(n, { dtype });
      const { K, N } = format.dims(s[0]);
      const r = repacked(s[0]);
      const groups = K / r.groupSize;
      if (s[1] === 'qweight') return fromTypedArray(r.qweight, [N, K / 2]);
      if (s[1] === 'scales') return fromTypedArray(r.scales, [N, groups]);
      return fromTypedArray(r.zeros, [N, groups]);
    },
  };
}

/** An AutoAWQ GEMM checkpoint: qweight [K, N/8] in AWQ_ORDER nibbles. */
function awqGemmSource(ck: Checkpoint): TensorSource {
  return w4Source(ck, {
    dims: (p) => {
      const [K, N8] = ck.info(`${p}.qweight`).shape as [number, number];
      return { K, N: N8 * 8, groups: ck.info(`${p}.scales`).shape[0]! };
    },
    consumed: ['qzeros', 'scales'],
    convert: (_p, qw, qz, sc, K, N) => awqToW4(qw, qz, sc, K, N),
  });
}

/** A GPTQ checkpoint (qweight [K/8, N]; g_idx checked and consumed). */
function gptqSource(ck: Checkpoint, format: GptqFormat): TensorSource {
  return w4Source(ck, {
    dims: (p) => {
      const [K8, N] = ck.info(`${p}.qweight`).shape as [number, number];
      return { K: K8 * 8, N, groups: ck.info(`${p}.scales`).shape[0]! };
    },
    consumed: ['qzeros', 'scales', 'g_idx'],
    convert: (p, qw, qz, sc, K, N) => {
      const gi = ck.has(`${p}.g_idx`) ? (ck.load(`${p}.g_idx`, { dtype: 'int32' }).toArray() as Int32Array) : undefined;
      return gptqToW4(qw, qz, sc, gi, K, N, format, p);
    },
  });
}

/** An AutoAWQ GEMV checkpoint (qweight [N, K/8] in order; group size from the config). */
function awqGemvSource(ck: Checkpoint): TensorSource {
  const qc = ck.config.raw.quantization_config as Record<string, Json>;
  const groupSize = (qc.group_size ?? qc.q_group_size ?? 128) as number;
  return w4Source(ck, {
    dims: (p) => {
      const [N, K8] = ck.info(`${p}.qweight`).shape as [number, number];
      const K = K8 * 8;
      return { K, N, groups: K / (groupSize === -1 ? K : groupSize) };
    },
    consumed: ['qzeros', 'scales'],
    convert: (p, qw, qz, sc, K, N) => awqGemvToW4(qw, qz, sc, K, N, groupSize, p),
  });
}
