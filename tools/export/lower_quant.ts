/**
 * Quantized linears in the exported graph, with the arithmetic of opshift's ops (ops/quant.ts) as the ort
 * backend writes them (backends/ort/kernels.ts): w8a8 = dynamic per-tensor activation scale max|x|/128,
 * QuantizeLinear to uint8 with zero point 128 (the int8 values + 128), MatMulInteger u8×u8,
 * float(acc)·(x_scale·w_scale) + bias; w4 = com.microsoft MatMulNBits with opshift's uint4 group layout.
 */
import type { StorageArray } from '../../core/dtype.js';
import type { Builder } from './builder.js';
import { ExportError, type GraphNode } from './graph.js';

function constData(b: Builder, n: GraphNode, key: string): StorageArray {
  const v = b.inValue(n, key);
  if (v.source.kind !== 'const') throw new ExportError(`export: ${n.op}'s ${key} must be a constant (a model parameter) to be baked into the graph`);
  const t = v.source.data;
  return t.storage.data.slice(t.offset, t.offset + t.numel()) as StorageArray;
}

export function lowerLinearW8A8(b: Builder, n: GraphNode): string[] {
  const x = b.in(n, 'x');
  const [N, K] = b.inValue(n, 'weight').shape as [number, number];
  const w = constData(b, n, 'weight') as Int8Array;
  // Wᵀ [K, N] as uint8 w + 128 with zero point 128: the same integers, and MLAS's u8×u8 kernels never saturate
  // (its u8×s8 path on AVX2 without VNNI sums pairs in int16 and can; the file must be exact on any machine).
  const wT = new Uint8Array(K * N);
  for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) wT[c * N + r] = (w[r * K + c]! + 128) & 0xff;
  const wName = b.init(`${b.fresh('w8')}.weight_t`, 'uint8', [K, N], wT);
  const zero = b.constant('float32', [0], true);
  const absmax = b.one('Div', [b.one('ReduceMax', [b.one('Abs', [x])], { keepdims: { i: 0 } }), b.constant('float32', [128], true)]);
  // Σ x·0 is NaN when any x is NaN or ±Inf: the scale and so every output become NaN, as in ops/quant.ts.
  const scale0 = b.add(absmax, b.one('ReduceSum', [b.one('Mul', [x, zero])], { keepdims: { i: 0 } }));
  const xs = b.one('Where', [b.one('Equal', [scale0, zero]), b.constant('float32', [1], true), scale0]);
  const zp = b.constant('uint8', [128], true);
  const xq = b.one('QuantizeLinear', [x, xs, zp]);
  const acc = b.cast(b.one('MatMulInteger', [xq, wName, zp, zp]), 'float32');
  const y = b.one('Mul', [acc, b.one('Mul', [xs, b.in(n, 'wScale')])]);
  return [n.inputs.bias === undefined ? y : b.add(y, b.in(n, 'bias'))];
}

/** Rows of `cols` values 0..15 → ceil(cols/2) bytes a row, the even column in the low nibble (MatMulNBits' zero points). */
function packNibbles(v: Uint8Array, rows: number, cols: number): Uint8Array {
  const per = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * per);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * per + (c >> 1)]! |= (v[r * cols + c]! & 15) << ((c & 1) * 4);
  return out;
}

export function lowerLinearW4(b: Builder, n: GraphNode): string[] {
  const blockSize = n.attrs.blockSize;
  if (typeof blockSize !== 'number') throw new ExportError('export: LinearW4 needs a fixed block size');
  const [N, half] = b.inValue(n, 'qweight').shape as [number, number];
  const K = half * 2;
  const groups = K / blockSize;
  const base = b.fresh('w4');
  const qb = b.init(`${base}.qweight`, 'uint8', [N, groups, blockSize / 2], constData(b, n, 'qweight'));
  const scales = b.init(`${base}.scales`, 'float32', [N * groups], constData(b, n, 'scales'));
  const zeros = n.inputs.zeros === undefined ? '' : b.init(`${base}.zeros`, 'uint8', [N * Math.ceil(groups / 2)], packNibbles(constData(b, n, 'zeros') as Uint8Array, N, groups));
  const ins = [b.in(n, 'x'), qb, scales, zeros, '', ...(n.inputs.bias === undefined ? [] : [b.in(n, 'bias')])];
  // accuracy_level 0: float activations, the arithmetic of opshift's cpu LinearW4 (dequantised weights, fp32 sums).
  const attrs = { K: { i: K }, N: { i: N }, bits: { i: 4 }, block_size: { i: blockSize }, accuracy_level: { i: 0 } };
  return [b.one('MatMulNBits', ins, attrs, 'com.microsoft')];
}
