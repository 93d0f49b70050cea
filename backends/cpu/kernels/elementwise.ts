/**
 * Elementwise kernels: one expression per op and compute domain, compiled into strided loops (loops.ts).
 * Floats compute in double from float32 inputs and round once on store, so +, -, ×, ÷ are bit-exact with
 * PyTorch's float32 results; float16/bfloat16 compute in float32 and round to 16 bits, as PyTorch does.
 */
import { resultType, type DType } from '../../../core/dtype.js';
import { DTypeError } from '../../../core/errors.js';
import { encodeHalf } from '../../../core/half.js';
import type { Kernel, OpDef } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import * as E from '../../../ops/elementwise.js';
import { domainOf, operand, type Domain } from '../access.js';
import { runLoop } from '../loops.js';

/** Expressions over loaded operands a, b, c. `bool` is used when the compute dtype is bool. */
type Exprs = Partial<Record<Domain | 'bool', string>>;

const same = (e: string): Exprs => ({ float: e, int: e, bigint: e });
const cmp = (o: string): Exprs => ({ float: `a ${o} b ? 1 : 0`, int: `a ${o} b ? 1 : 0`, bigint: `a ${o} b ? 1 : 0`, bool: `a ${o} b ? 1 : 0` });

/** Run `exprs` over `inputs` (broadcast to out's shape) in the domain of `compute`, writing `out`. */
export function elementwise(op: string, exprs: Exprs, inputs: readonly Tensor[], out: Tensor, compute: DType): void {
  const domain = domainOf(compute);
  const expr = (compute === 'bool' ? exprs.bool : undefined) ?? exprs[domain];
  if (expr === undefined) throw new DTypeError(`${op}: the cpu backend has no ${compute} kernel`);
  const ops = inputs.map((t, i) => (i === 0 && op === 'where' ? operand(t, out.shape, 'int', 'bool') : operand(t, out.shape, domain, compute)));
  if (out.dtype === 'float16' || out.dtype === 'bfloat16') {
    const tmp = new Float32Array(out.numel());
    runLoop(expr, tmp, out.shape, ops);
    encodeHalf(tmp, out.storage.data as Uint16Array, out.dtype);
  } else {
    runLoop(expr, out.storage.data, out.shape, ops);
  }
}

function binary(op: string, exprs: Exprs, computeOf: (a: Tensor, b: Tensor, out: Tensor) => DType = (_a, _b, o) => o.dtype) {
  return {
    run({ a, b }, _attrs, [out]) {
      elementwise(op, exprs, [a, b], out!, computeOf(a, b, out!));
    },
  } satisfies Kernel<E.BinaryInputs, E.NoAttrs>;
}

/** Comparisons compute in the operands' common dtype and write bool. */
const compareIn = (a: Tensor, b: Tensor) => resultType([a, b]);

function unary(op: string, exprs: Exprs) {
  return {
    run({ x }, _attrs, [out]) {
      elementwise(op, exprs, [x], out!, out!.dtype);
    },
  } satisfies Kernel<E.UnaryInputs, E.NoAttrs>;
}

const powKernel = binary('pow', { float: 'lib.fpow(a, b)', int: 'lib.ipow(a, b)', bigint: 'lib.bpow(a, b)' });

export const elementwiseKernels: [OpDef<never, never>, Kernel<never, never>][] = [
  [E.Add, binary('add', { ...same('a + b'), bool: 'a | b' })],
  [E.Sub, binary('sub', same('a - b'))],
  [E.Mul, binary('mul', { float: 'a * b', int: 'Math.imul(a, b)', bigint: 'a * b', bool: 'a & b' })],
  [E.Div, binary('div', { float: 'a / b' })],
  [
    E.Pow,
    {
      run(inputs: E.BinaryInputs, attrs: E.NoAttrs, outs: Tensor[]) {
        try {
          powKernel.run(inputs, attrs, outs);
        } catch (e) {
          if (e instanceof RangeError) throw new DTypeError(`pow: ${inputs.a.dtype} ** ${inputs.b.dtype}: ${e.message}`);
          throw e;
        }
      },
    },
  ],
  [E.Eq, binary('eq', cmp('==='), compareIn)],
  [E.Ne, binary('ne', cmp('!=='), compareIn)],
  [E.Lt, binary('lt', cmp('<'), compareIn)],
  [E.Le, binary('le', cmp('<='), compareIn)],
  [E.Gt, binary('gt', cmp('>'), compareIn)],
  [E.Ge, binary('ge', cmp('>='), compareIn)],
  [E.Neg, unary('neg', same('-a'))],
  [E.Abs, unary('abs', { float: 'Math.abs(a)', int: 'Math.abs(a)', bigint: 'a < 0n ? -a : a' })],
  // relu keeps NaN (PyTorch's clamp_min propagates it) and -0, as PyTorch's `a < 0 ? 0 : a` does.
  [E.Relu, unary('relu', { float: 'a < 0 ? 0 : a', int: 'a > 0 ? a : 0', bigint: 'a > 0n ? a : 0n' })],
  [E.Exp, unary('exp', { float: 'lib.exp(a)' })],
  [E.Log, unary('log', { float: 'Math.log(a)' })],
  [E.Sqrt, unary('sqrt', { float: 'Math.sqrt(a)' })],
  [E.Rsqrt, unary('rsqrt', { float: '1 / Math.sqrt(a)' })],
  [E.Tanh, unary('tanh', { float: 'Math.tanh(a)' })],
  [E.Sigmoid, unary('sigmoid', { float: '1 / (1 + lib.exp(-a))' })],
  [E.Erf, unary('erf', { float: 'lib.erf(a)' })],
  [E.Cos, unary('cos', { float: 'Math.cos(a)' })],
  [E.Sin, unary('sin', { float: 'Math.sin(a)' })],
  // Fused composites: one pass instead of the decomposition's several.
  [E.Silu, unary('silu', { float: 'a / (1 + lib.exp(-a))' })],
  [
    E.Gelu,
    {
      run({ x }: E.UnaryInputs, { approximate }: E.GeluAttrs, [out]: Tensor[]) {
        const expr =
          approximate === 'tanh'
            ? '0.5 * a * (1 + Math.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a)))'
            : '0.5 * a * lib.erfc(-a * 0.7071067811865476)';
        elementwise('gelu', { float: expr }, [x], out!, out!.dtype);
      },
    },
  ],
  [
    E.Clamp,
    {
      run({ x }: E.UnaryInputs, { min, max }: E.ClampAttrs, [out]: Tensor[]) {
        // Bounds become wrapped scalars cast to the compute dtype, like PyTorch's clamp(Scalar, Scalar).
        const inputs = [x, ...[min, max].filter((v): v is number => v !== null).map((v) => E.scalarOperand(v))];
        const big = out!.dtype === 'int64';
        const lo = big ? 'b > a ? b : a' : 'Math.max(a, b)';
        const expr =
          min !== null && max !== null
            ? big
              ? '(b > a ? b : a) > c ? c : (b > a ? b : a)'
              : 'Math.min(Math.max(a, b), c)'
            : min !== null
              ? lo
              : big
                ? 'a > b ? b : a'
                : 'Math.min(a, b)';
        elementwise('clamp', { float: expr, int: expr, bigint: expr }, inputs, out!, out!.dtype);
      },
    },
  ],
  [
    E.Where,
    {
      run({ cond, a, b }: E.WhereInputs, _attrs: E.NoAttrs, [out]: Tensor[]) {
        elementwise('where', { ...same('a ? b : c'), bool: 'a ? b : c' }, [cond, a, b], out!, out!.dtype);
      },
    },
  ],
] as unknown as [OpDef<never, never>, Kernel<never, never>][];
