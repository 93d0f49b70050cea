/**
 * The dispatch `opshift generate`, `serve`, `bench model` (and `logits`, `perplexity`, `bench compare`) use
 * when no --dispatch is given: the fastest correct backend per linear op on this class of machine, measured
 * with `bench model --compare-dispatch` / `bench compare` (README, "Defaults that are fast"), split by phase
 * where the measurements differ: prefill (a Linear's input has PREFILL_ROWS rows or more) and decode (one row).
 *
 * The backends' own priorities (wasm > native > cpu > ort > npu) stay what library users get: they keep every
 * op on in-process kernels with no native dependency. The CLI, which runs whole models, wants the GEMM backend
 * that is fastest end to end, and each list below ends in the next-best choices, so a machine without the NPU
 * library or ONNX Runtime falls back (the profile names the reason) instead of failing.
 *
 * OPSHIFT_BACKENDS (an explicit order) turns these defaults off: the user chose the order.
 */
import type { CallInfo, Policy } from '../core/policy.js';

/** A Linear whose input has at least this many rows is prefill; one row is decode. */
export const PREFILL_ROWS = 2;

export interface DefaultRule {
  readonly op: 'Linear' | 'LinearW8A8' | 'LinearW4';
  /** Backends in order of preference, for prefill (rows >= PREFILL_ROWS) and decode (fewer rows). */
  readonly prefill: readonly string[];
  readonly decode: readonly string[];
}

/**
 * Measured on the 2-core AMD EPYC (AVX2) of the README's Benchmarks section ("Defaults that are fast": OPT-125m,
 * `bench model --compare-dispatch … --interleave`, 1 and 2 threads, quiet machine). Float Linear: the NPU library,
 * since its register-blocked prefill GEMMs (issues #16/#17) reach 0.9-1.0x ORT's MLAS TTFT while it decodes
 * 1.3-1.7x faster, keeps one packed copy of each weight (ORT's sessions hold their own beside the host's while
 * they build: 1.1-1.6x the peak RSS), packs at memory speed and can map prepared weights from OPSHIFT_CACHE.
 * ORT next (the lowest TTFT at 1 thread, by ~10%), wasm last. One backend for both phases: prefill elsewhere would
 * keep a second prepared copy of every weight resident.
 * Quantized linears: the NPU library decodes 1.4-2.2x faster than ORT at 1 and 2 threads.
 */
export const DEFAULT_RULES: readonly DefaultRule[] = [
  { op: 'Linear', prefill: ['npu', 'ort', 'wasm'], decode: ['npu', 'ort', 'wasm'] },
  { op: 'LinearW8A8', prefill: ['npu', 'ort'], decode: ['npu', 'ort'] },
  { op: 'LinearW4', prefill: ['npu', 'ort'], decode: ['npu', 'ort'] },
];

/** Rows of a call's first tensor input: every dim but the last multiplied (M of a Linear). */
export function rowsOf(call: Pick<CallInfo, 'inputs'>): number {
  const first = Object.values(call.inputs).find((v) => v !== undefined && !Array.isArray(v));
  const shape = (first as { shape?: readonly number[] } | undefined)?.shape ?? [];
  let rows = 1;
  for (let i = 0; i < shape.length - 1; i++) rows *= shape[i]!;
  return rows;
}

/** The preferred backends of `op` for an input of `rows` rows, or undefined when the defaults leave it to priority. */
export function defaultBackends(op: string, rows: number): readonly string[] | undefined {
  const rule = DEFAULT_RULES.find((r) => r.op === op);
  if (!rule) return undefined;
  return rows >= PREFILL_ROWS ? rule.prefill : rule.decode;
}

/** The default policy, or {} when OPSHIFT_BACKENDS sets an explicit order. */
export function defaultPolicy(env: NodeJS.ProcessEnv = process.env): Policy {
  if (env.OPSHIFT_BACKENDS) return {};
  const p: Record<string, (call: CallInfo) => readonly string[] | undefined> = {};
  for (const r of DEFAULT_RULES) p[r.op] = (call) => defaultBackends(r.op, rowsOf(call));
  return p;
}

/** The defaults as one line, for help texts and the benchmark notes. */
export function defaultPolicyText(): string {
  return DEFAULT_RULES.map((r) => (r.prefill.join('>') === r.decode.join('>') ? `${r.op}=${r.prefill.join('>')}` : `${r.op}: prefill ${r.prefill.join('>')}, decode ${r.decode.join('>')}`)).join('; ');
}
