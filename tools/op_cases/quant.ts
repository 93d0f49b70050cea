/**
 * Quantized linears (ops/quant.ts): cases checked across backends against the cpu reference (PyTorch has no
 * such ops, so they are not in OP_CASES and have no golden fixtures). Weights are drawn directly in their
 * quantized form: int8 weights over the whole range, including -128; uint4 nibbles packed two a byte with
 * per-group scales and zero points.
 */
import { input, value, type OpCase, type Tolerance } from './spec.js';

/**
 * The npu backend's w4abf16 rounds activations and scales to bfloat16 (bias too: the hardware stores it in the
 * bf16 weight buffer) where the cpu reference keeps float32: each product moves by up to ~2^-8 relative, the
 * sums by ~√K·2^-9·Σ|x·w|/√K. Its exact arithmetic is checked bit for bit against a TypeScript model of the
 * NPU loop nest in test/npu.test.ts; here it is only compared with the float32 reference.
 */
export const NPU_W4_TOL: Tolerance = { rtol: 2e-2, atol: 2e-2 };
/** w8a8 has the same float32 steps on every backend: bit for bit. */
const EXACT: Tolerance = { rtol: 0, atol: 0 };

const scale = (shape: number[]) => input(shape, { gen: { kind: 'rand', low: 0.002, high: 0.01 }, constant: true });
const int8w = (n: number, k: number, constant = true) => input([n, k], { dtype: 'int8', gen: { kind: 'randint', low: -128, high: 128 }, constant });
const w8 = (name: string, args: OpCase['args']): OpCase => ({
  name: `LinearW8A8/${name}`,
  op: 'LinearW8A8',
  fn: 'linear_w8a8',
  args,
  exact: true,
  backendTol: { npu: EXACT, ort: EXACT },
});

/** qweight [N, K/2] uint8, scales [N, K/G], zeros [N, K/G] (or null), block size, bias (or null). */
const w4 = (name: string, m: number[], n: number, k: number, g: number, opts: { zeros?: boolean; bias?: boolean; constant?: boolean } = {}): OpCase => ({
  name: `LinearW4/${name}`,
  op: 'LinearW4',
  fn: 'linear_w4',
  args: [
    input([...m, k]),
    input([n, k / 2], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 256 }, constant: opts.constant ?? true }),
    input([n, k / g], { gen: { kind: 'rand', low: 0.005, high: 0.02 }, constant: opts.constant ?? true }),
    opts.zeros === false ? value(null) : input([n, k / g], { dtype: 'uint8', gen: { kind: 'randint', low: 0, high: 16 }, constant: opts.constant ?? true }),
    value(g),
    opts.bias === false ? value(null) : input([n], { constant: opts.constant ?? true }),
  ],
  tol: { rtol: 1e-4, atol: 1e-4 },
  backendTol: { npu: NPU_W4_TOL },
});

export const quantCases: readonly OpCase[] = [
  w8('per_tensor_2x64x32', [input([2, 64]), int8w(32, 64), scale([]), input([32], { constant: true })]),
  w8('per_channel_3d', [input([2, 3, 40]), int8w(24, 40), scale([24]), value(null)]),
  w8('decode_1x256x96_temporary_weight', [input([1, 256]), int8w(96, 256, false), scale([]), input([96])]),
  w8('k_tiles_3x4100x16', [input([3, 4100], { gen: { kind: 'rand', low: -4, high: 4 } }), int8w(16, 4100), scale([16]), input([16])]),
  w8('odd_k_5x37x9', [input([5, 37]), int8w(9, 37), scale([]), input([9])]),
  w4('g32_4x64x24', [4], 24, 64, 32),
  w4('g128_no_zeros_no_bias_1x256x40', [1], 40, 256, 128, { zeros: false, bias: false }),
  w4('g64_3d_temporary_weight', [2, 2], 48, 128, 64, { constant: false }),
  w4('g128_k_tiles_2x12288x16', [2], 16, 12288, 128),
  // Block sizes the NPU kernel lacks: npu refuses, cpu runs them.
  w4('g16_refused_by_npu', [3], 16, 64, 16),
];
