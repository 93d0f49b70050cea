/**
 * `opshift demo`: a small eager workload (an MLP block and one attention head, prefill of 16 tokens then one
 * decode step) run under a per-op dispatch policy, printing the profile: which backend ran each op and why.
 * The policy sends large-M GEMMs (prefill) and M = 1 GEMMs (decode) to the best GEMM backends available here,
 * and runs Softmax as its decomposition to show composite ops.
 */
import {
  byRows,
  linear,
  listBackends,
  manualSeed,
  profile,
  randn,
  withPolicy,
  type Policy,
  type Profile,
  type Tensor,
} from '../core/index.js';

export interface DemoResult {
  readonly profile: Profile<{ prefill: Tensor; decode: Tensor }>;
  readonly policy: string;
}

/** GEMM backends in preference order, among those available on this machine (cpu always is). */
function gemmBackends(): string[] {
  const available = new Set(listBackends().filter((b) => b.status.available).map((b) => b.name));
  return ['npu', 'wasm', 'ort', 'cpu'].filter((n) => available.has(n));
}

export function runDemo(options: { tokens?: number; dim?: number } = {}): DemoResult {
  const T = options.tokens ?? 16;
  const C = options.dim ?? 64;
  manualSeed(0);
  // Weights in PyTorch's nn.Linear layout [out_features, in_features], marked constant like module parameters.
  const w1 = randn([4 * C, C]).mul(C ** -0.5).markConstant();
  const b1 = randn([4 * C]).mul(0.02).markConstant();
  const w2 = randn([C, 4 * C]).mul((4 * C) ** -0.5).markConstant();
  const b2 = randn([C]).mul(0.02).markConstant();
  const wq = randn([C, C]).mul(C ** -0.5).markConstant();
  const wk = randn([C, C]).mul(C ** -0.5).markConstant();
  const wv = randn([C, C]).mul(C ** -0.5).markConstant();

  const block = (x: Tensor, kv: Tensor): Tensor => {
    const h = linear(linear(x, w1, b1).gelu(), w2, b2).add(x); // (T, C)
    const q = linear(h, wq); // (T, C)
    const k = linear(kv, wk); // (S, C)
    const v = linear(kv, wv); // (S, C)
    const att = q.matmul(k.t()).mul(C ** -0.5).softmax(-1); // (T, S)
    return att.matmul(v).add(h); // (T, C)
  };

  const gemm = gemmBackends();
  const prefillChoice = gemm;
  const decodeChoice = gemm.filter((b) => b !== 'npu');
  const policy: Policy = {
    Linear: byRows(8, prefillChoice, decodeChoice),
    MatMul: byRows(8, prefillChoice, decodeChoice),
    Softmax: 'decompose',
  };
  const step = () =>
    withPolicy(policy, () => {
      const prompt = randn([T, C]);
      const prefill = block(prompt, prompt);
      const next = randn([1, C]);
      const decode = block(next, prompt);
      return { prefill, decode };
    });
  step(); // warm-up: the first run also pays for JIT compilation
  const prof = profile(step);
  const desc = `Linear/MatMul: M >= 8 -> [${prefillChoice.join(', ')}], M < 8 -> [${decodeChoice.join(', ')}]; Softmax -> decompose`;
  return { profile: prof, policy: desc };
}
