/**
 * The op-case catalog: one table of op calls that drives the PyTorch parity tests, the cross-backend tests
 * (every available backend against cpu), the op × backend coverage matrix (`opshift ops`) and the op
 * microbenchmarks — the role llama.cpp's test-backend-ops plays.
 *
 * Cases are plain data so the PyTorch script (test/fixtures/make_op_cases.py) rebuilds the very same inputs:
 * inputs come from `manualSeed(seed)` + uniform `rand`/`randint` draws, whose streams match
 * torch.manual_seed exactly, then an affine map, a dtype cast and a layout (transposed / strided views).
 * Families live in tools/op_cases/*.ts; this file holds the types, the builders and the runner.
 */
import { arange, getOp, manualSeed, profile, rand, randint, tensor, Tensor, withBackend, type DType } from '../core/index.js';
import { CALLS, type CallResult } from './op_cases/calls.js';
import { elementwiseCases } from './op_cases/elementwise.js';
import { linalgCases } from './op_cases/linalg.js';
import { movementCases } from './op_cases/movement.js';
import { linalgMoreCases } from './op_cases/linalg_more.js';
import { orderingCases } from './op_cases/ordering.js';
import { nnMoreCases } from './op_cases/nn_more.js';
import { nnCases } from './op_cases/nn.js';
import { reduceCases } from './op_cases/reduce.js';
import { quantCases } from './op_cases/quant.js';
import { elementwiseMoreCases } from './op_cases/elementwise_more.js';
import { reduceMoreCases } from './op_cases/reduce_more.js';
import { fusedCases } from './op_cases/fused.js';

export * from './op_cases/spec.js';
import type { BuiltArg, Gen, InputSpec, OpCase, Tolerance } from './op_cases/spec.js';

export const OP_CASES: readonly OpCase[] = [...elementwiseCases, ...linalgCases, ...reduceCases, ...nnCases, ...movementCases, ...elementwiseMoreCases, ...reduceMoreCases, ...linalgMoreCases, ...orderingCases, ...nnMoreCases, ...fusedCases];

/**
 * Cases with no PyTorch counterpart (the quantized linears): checked across backends against the cpu reference
 * (test/backends.test.ts), not against golden fixtures.
 */
export const BACKEND_CASES: readonly OpCase[] = [...quantCases];

/** Default tolerance for float outputs of dtype `d` (one or two units in the last place of the dtype). */
export function defaultTolerance(d: DType): Tolerance {
  if (d === 'float16') return { rtol: 2e-3, atol: 1e-3 };
  if (d === 'bfloat16') return { rtol: 1.6e-2, atol: 1e-2 };
  return { rtol: 1e-5, atol: 1e-6 };
}

function storageShape(spec: InputSpec): number[] {
  const s = [...spec.shape];
  const n = s.length;
  if (spec.layout === 'transposed' && n >= 2) [s[n - 1], s[n - 2]] = [s[n - 2]!, s[n - 1]!];
  if (spec.layout === 'strided' && n >= 1) s[n - 1] = s[n - 1]! * 2;
  return s;
}

function draw(spec: InputSpec, shape: number[]): Tensor {
  const dtype = spec.dtype ?? 'float32';
  const gen: Gen = spec.gen ?? (dtype === 'bool' ? { kind: 'bool' } : dtype.startsWith('float') || dtype === 'bfloat16' ? { kind: 'rand' } : { kind: 'randint', low: -8, high: 8 });
  switch (gen.kind) {
    case 'rand': {
      const low = gen.low ?? -1;
      const high = gen.high ?? 1;
      return rand(shape).mul(high - low).add(low).to(dtype);
    }
    case 'randint':
      return randint(gen.low, gen.high, shape, { dtype: dtype === 'bool' ? 'int64' : dtype });
    case 'arange':
      return arange(shape.reduce((a, b) => a * b, 1)).reshape(shape).to(dtype);
    case 'bool':
      return rand(shape).lt(gen.p ?? 0.5).to(dtype);
    case 'values': {
      const vals = gen.values.map((v) => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity));
      return tensor(vals, { dtype: 'float32' }).to(dtype).reshape(shape);
    }
  }
}

function makeInput(spec: InputSpec): Tensor {
  let t = draw(spec, storageShape(spec));
  const n = spec.shape.length;
  if (spec.layout === 'transposed' && n >= 2) t = t.transpose(-1, -2);
  if (spec.layout === 'strided' && n >= 1) t = t.slice(-1, 0, undefined, 2);
  return spec.constant ? t.markConstant() : t;
}


/** The case's arguments, drawn in order after manualSeed(seed). */
export function buildArgs(c: OpCase): BuiltArg[] {
  manualSeed(c.seed ?? 0);
  return c.args.map((a) => {
    if ('input' in a) return makeInput(a.input);
    if ('list' in a) return a.list.map(makeInput);
    if ('scalar' in a) return a.scalar;
    return a.value;
  });
}

/** Normalise what a public function returns into a list of output tensors. */
export function outputsOf(r: CallResult): Tensor[] {
  if (r instanceof Tensor) return [r];
  if (Array.isArray(r)) return r;
  return [r.values, r.indices];
}

/** Run a case with the current dispatch policy. */
export function runCase(c: OpCase, args: BuiltArg[] = buildArgs(c)): Tensor[] {
  const call = CALLS[c.fn];
  if (!call) throw new Error(`op case ${c.name}: no function '${c.fn}' in tools/op_cases/calls.ts`);
  return outputsOf(call(args));
}

export function findCases(pattern?: string | RegExp): OpCase[] {
  if (pattern === undefined) return [...OP_CASES];
  const re = typeof pattern === 'string' ? new RegExp(pattern) : pattern;
  return OP_CASES.filter((c) => re.test(c.name));
}

/** The catalog as JSON for the PyTorch fixture script (`opshift ops --cases-json`). */
export function catalogJson(): string {
  return JSON.stringify(OP_CASES, null, 1);
}

export interface CaseCoverage {
  /** op -> backend -> [cases the backend ran itself, cases of the op] */
  readonly [op: string]: Readonly<Record<string, readonly [number, number]>>;
}

/**
 * ggml's "support" mode: run every (non-benchmark) catalog case on every available backend with a kernel for
 * the op, and count the cases the backend really ran (supports() may refuse some shapes or dtypes).
 */
export function caseCoverage(backends: readonly string[]): CaseCoverage {
  const out: Record<string, Record<string, [number, number]>> = {};
  for (const c of [...OP_CASES, ...BACKEND_CASES]) {
    if ((c.tags ?? []).includes('bench')) continue;
    const op = getOp(c.op);
    if (!op) continue;
    const row = (out[c.op] ??= {});
    const args = buildArgs(c);
    for (const b of backends) {
      const cell = (row[b] ??= [0, 0]);
      cell[1]++;
      if (!op.kernels.has(b)) continue;
      const p = profile(() => withBackend(b, () => runCase(c, args)));
      if (p.records.some((r) => r.op === c.op && r.backend === b)) cell[0]++;
    }
  }
  return out;
}
