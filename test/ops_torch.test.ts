/**
 * Ops against PyTorch (test/fixtures/ops.json): elementwise ops with broadcasting, strided inputs, scalars,
 * integer wraparound and mixed dtypes; casts; matmul/linear; reductions; softmax; cat/stack.
 *
 * dtype and shape must match exactly. Values: integer and bool results, casts, and ops whose float result is
 * a single correctly rounded operation (add, sub, mul, div, neg, abs, relu, clamp, where, max, cat, stack) are
 * compared exactly (including -0 and NaN); transcendental ops, matmul, reductions and softmax with a
 * tolerance: rtol 1e-5 / atol 1e-6 for float32, one ulp for float16/bfloat16.
 */
import { describe, expect, it } from 'vitest';
import * as os from '../core/index.js';
import { Tensor, type DType } from '../core/index.js';
import { applyViews, expectClose, expectExact, fixtureNumber, fixtureTensor, loadFixture, type FixtureValue, type ViewOp } from './helpers.js';

type TensorArg = { dtype: DType; shape: number[]; values: FixtureValue[]; view?: ViewOp[] };
type Arg = TensorArg | { scalar: FixtureValue } | { list: Arg[] };
type Out = { dtype: DType; shape: number[]; values: FixtureValue[] };
interface OpCase {
  name: string;
  op: string;
  args: Arg[];
  kwargs?: Record<string, unknown>;
  out: Out[];
  ref?: string;
  /** For `scalar / tensor`: torch.div's once-rounded result (Python's operator gives reciprocal() * scalar). */
  out_true_div?: Out[];
}

const fx = loadFixture<{ cases: OpCase[] }>('ops.json');

type Value = Tensor | number | boolean | Tensor[];

function build(a: Arg): Value {
  if ('list' in a) return a.list.map((x) => build(x) as Tensor);
  if ('scalar' in a) return typeof a.scalar === 'boolean' ? a.scalar : fixtureNumber(a.scalar);
  return applyViews(fixtureTensor(a.values, a.dtype, a.shape), a.view);
}

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  neg: os.neg,
  abs: os.abs,
  exp: os.exp,
  log: os.log,
  sqrt: os.sqrt,
  rsqrt: os.rsqrt,
  tanh: os.tanh,
  sigmoid: os.sigmoid,
  relu: os.relu,
  silu: os.silu,
};
const BINARY: Record<string, (a: os.TensorLike, b: os.TensorLike) => Tensor> = {
  add: os.add,
  sub: os.sub,
  mul: os.mul,
  div: os.div,
  pow: os.pow,
  eq: os.eq,
  ne: os.ne,
  lt: os.lt,
  le: os.le,
  gt: os.gt,
  ge: os.ge,
};

function run(c: OpCase): Tensor[] {
  const v = c.args.map(build);
  const kw = c.kwargs ?? {};
  const x = v[0] as Tensor;
  const dim = kw.dim as number | number[] | undefined;
  const keepdim = (kw.keepdim as boolean | undefined) ?? false;
  if (c.op in UNARY) return [UNARY[c.op]!(x)];
  if (c.op in BINARY) return [BINARY[c.op]!(v[0] as os.TensorLike, v[1] as os.TensorLike)];
  switch (c.op) {
    case 'gelu':
      return [os.gelu(x, kw.approximate as 'none' | 'tanh')];
    case 'clamp':
      return [os.clamp(x, kw.min as number | undefined, kw.max as number | undefined)];
    case 'where':
      return [os.where(x, v[1] as os.TensorLike, v[2] as os.TensorLike)];
    case 'cast':
      return [x.to(kw.dtype as DType)];
    case 'matmul':
      return [os.matmul(x, v[1] as Tensor)];
    case 'linear':
      return [os.linear(x, v[1] as Tensor, v[2] as Tensor | undefined)];
    case 'sum':
      return [os.sum(x, dim, keepdim)];
    case 'mean':
      return [os.mean(x, dim, keepdim)];
    case 'max': {
      if (dim === undefined) return [os.max(x)];
      const r = os.max(x, dim as number, keepdim);
      return [r.values, r.indices];
    }
    case 'argmax':
      return [os.argmax(x, dim as number | undefined, keepdim)];
    case 'softmax':
      return [os.softmax(x, dim as number)];
    case 'cat':
      return [os.cat(v[0] as Tensor[], (dim as number | undefined) ?? 0)];
    case 'stack':
      return [os.stack(v[0] as Tensor[], (dim as number | undefined) ?? 0)];
    default:
      throw new Error(`no runner for op ${c.op}`);
  }
}

/** Ops whose float results are one correctly rounded operation (or no rounding at all): compared exactly. */
const EXACT = new Set(['add', 'sub', 'mul', 'div', 'neg', 'abs', 'relu', 'clamp', 'where', 'max', 'cat', 'stack', 'cast']);

function check(c: OpCase, outs: Tensor[]): void {
  if (c.out_true_div) {
    // Deliberate difference: Python evaluates `2.5 / t` as t.reciprocal() * 2.5, rounding twice; opshift's
    // div(2.5, t) is a true division like torch.div. Exact against torch.div, within 1 ulp of the operator.
    checkOutputs(c, outs, c.out_true_div);
    expectClose(outs[0]!, c.out[0]!.values, { rtol: 0, atol: 0, ulps: 1 });
    return;
  }
  checkOutputs(c, outs, c.out);
}

function checkOutputs(c: OpCase, outs: Tensor[], expected: Out[]): void {
  expect(outs.length).toBe(expected.length);
  expected.forEach((want, i) => {
    const got = outs[i]!;
    expect({ dtype: got.dtype, shape: [...got.shape] }, `output ${i}`).toEqual({ dtype: want.dtype, shape: want.shape });
    const isFloat = os.isFloating(got.dtype);
    if (!isFloat || EXACT.has(c.op)) expectExact(got, want.values);
    else if (got.dtype === 'float32') expectClose(got, want.values, { rtol: 1e-5, atol: 1e-6 });
    else expectClose(got, want.values, { rtol: 0, atol: 0, ulps: 1 });
  });
}

const FAMILIES: [string, (op: string) => boolean][] = [
  ['arithmetic and comparisons', (op) => op in BINARY],
  ['unary and activations', (op) => op in UNARY || op === 'gelu' || op === 'clamp' || op === 'where'],
  ['casts', (op) => op === 'cast'],
  ['matmul and linear', (op) => op === 'matmul' || op === 'linear'],
  ['reductions and softmax', (op) => ['sum', 'mean', 'max', 'argmax', 'softmax'].includes(op)],
  ['cat and stack', (op) => op === 'cat' || op === 'stack'],
];

describe('ops match PyTorch', () => {
  it('fixture covers every family', () => {
    expect(fx.cases.length).toBeGreaterThan(300);
    for (const [, inFamily] of FAMILIES) expect(fx.cases.some((c) => inFamily(c.op))).toBe(true);
    expect(fx.cases.every((c) => FAMILIES.some(([, f]) => f(c.op)))).toBe(true);
  });

  for (const [family, inFamily] of FAMILIES) {
    describe(family, () => {
      for (const c of fx.cases.filter((c) => inFamily(c.op))) {
        it(c.ref ? `${c.name} [reference: ${c.ref}]` : c.name, () => check(c, run(c)));
      }
    });
  }
});
