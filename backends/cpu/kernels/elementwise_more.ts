/**
 * CPU kernels for ops/elementwise_more.ts, as strided loop expressions (loops.ts) over operands converted to the
 * compute domain. Floats compute in double from float32 values and round on store; where PyTorch rounds an
 * intermediate to float32 (addcmul, round with decimals) the expression rounds it with Math.fround too.
 */
import { resultType, type DType } from '../../../core/dtype.js';
import { ArgumentError } from '../../../core/errors.js';
import type { Kernel, OpDef } from '../../../core/op_def.js';
import type { Tensor } from '../../../core/tensor.js';
import type { BinaryInputs, NoAttrs, UnaryInputs } from '../../../ops/elementwise.js';
import * as M from '../../../ops/elementwise_more.js';
import { ZeroDivisionError } from '../math_more.js';
import { elementwise } from './elementwise.js';

type Exprs = Parameters<typeof elementwise>[1];

const same = (e: string): Exprs => ({ float: e, int: e, bigint: e, bool: e });

/** Run, turning an integer division by zero into an error naming the op (PyTorch raises ZeroDivisionError). */
function guarded(op: string, inputs: readonly Tensor[], f: () => void): void {
  try {
    f();
  } catch (e) {
    if (e instanceof ZeroDivisionError)
      throw new ArgumentError(`${op}: ${inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(' and ')}: ${e.message}`);
    throw e;
  }
}

function binary(op: string, exprs: Exprs, computeOf: (a: Tensor, b: Tensor, out: Tensor) => DType = (_a, _b, o) => o.dtype) {
  return {
    run({ a, b }, _attrs, [out]) {
      guarded(op, [a, b], () => elementwise(op, exprs, [a, b], out!, computeOf(a, b, out!)));
    },
  } satisfies Kernel<BinaryInputs, NoAttrs>;
}

/** `compute`: the dtype operands are converted to (the input's own for predicates, else the output's). */
function unary(op: string, exprs: Exprs, compute: 'out' | 'in' = 'out') {
  return {
    run({ x }, _attrs, [out]) {
      elementwise(op, exprs, [x], out!, compute === 'in' ? x.dtype : out!.dtype);
    },
  } satisfies Kernel<UnaryInputs, NoAttrs>;
}

const common = (a: Tensor, b: Tensor) => resultType([a, b]);

// maximum/minimum: NaN wins (a NaN `a` fails both tests and is returned); ties return `a`, as std::max / std::min.
const maxExpr = 'a < b || b !== b ? b : a';
const minExpr = 'b < a || b !== b ? b : a';
const truthy = { float: '((a !== 0) OP (b !== 0)) ? 1 : 0', int: '((a !== 0) OP (b !== 0)) ? 1 : 0', bigint: '((a !== 0n) OP (b !== 0n)) ? 1 : 0' };
const logical = (o: string): Exprs => ({
  float: truthy.float.replace('OP', o),
  int: truthy.int.replace('OP', o),
  bigint: truthy.bigint.replace('OP', o),
  bool: truthy.int.replace('OP', o),
});
// Identity on integers: PyTorch's floor/ceil/trunc/round return integer inputs unchanged.
const rounding = (f: string): Exprs => ({ float: f, int: 'a', bigint: 'a' });

export const elementwiseMoreKernels = [
  [M.Maximum, binary('maximum', same(maxExpr))],
  [M.Minimum, binary('minimum', same(minExpr))],
  [M.Remainder, binary('remainder', { float: 'lib.fremainder(a, b)', int: 'lib.iremainder(a, b)', bigint: 'lib.bremainder(a, b)' })],
  [M.Fmod, binary('fmod', { float: 'a % b', int: 'lib.ifmod(a, b)', bigint: 'lib.bfmod(a, b)' })],
  [M.LogicalAnd, binary('logicalAnd', logical('&&'), common)],
  [M.LogicalOr, binary('logicalOr', logical('||'), common)],
  [M.LogicalXor, binary('logicalXor', logical('!=='), common)],
  [M.BitwiseAnd, binary('bitwiseAnd', same('a & b'))],
  [M.BitwiseOr, binary('bitwiseOr', same('a | b'))],
  [M.BitwiseXor, binary('bitwiseXor', same('a ^ b'))],
  [M.Floor, unary('floor', rounding('Math.floor(a)'))],
  [M.Ceil, unary('ceil', rounding('Math.ceil(a)'))],
  [M.Trunc, unary('trunc', rounding('Math.trunc(a)'))],
  // PyTorch's (0 < a) - (a < 0): NaN and -0 both give +0.
  [M.Sign, unary('sign', { float: '+(a > 0) - +(a < 0)', int: '+(a > 0) - +(a < 0)', bigint: 'a > 0n ? 1n : a < 0n ? -1n : 0n', bool: 'a' })],
  [M.Square, unary('square', { float: 'a * a', int: 'Math.imul(a, a)', bigint: 'BigInt.asIntN(64, a * a)' })],
  [M.Reciprocal, unary('reciprocal', { float: '1 / a' })],
  [M.Log1p, unary('log1p', { float: 'Math.log1p(a)' })],
  [M.Expm1, unary('expm1', { float: 'Math.expm1(a)' })],
  [M.Log2, unary('log2', { float: 'Math.log2(a)' })],
  [M.IsNan, unary('isnan', { float: 'a !== a ? 1 : 0', int: '0', bigint: '0', bool: '0' }, 'in')],
  [M.IsInf, unary('isinf', { float: 'a === Infinity || a === -Infinity ? 1 : 0', int: '0', bigint: '0', bool: '0' }, 'in')],
  [M.IsFinite, unary('isfinite', { float: 'a - a === 0 ? 1 : 0', int: '1', bigint: '1', bool: '1' }, 'in')],
  [M.LogicalNot, unary('logicalNot', { float: 'a === 0 ? 1 : 0', int: 'a === 0 ? 1 : 0', bigint: 'a === 0n ? 1 : 0', bool: 'a === 0 ? 1 : 0' }, 'in')],
  // bool: ~true is false (PyTorch's bitwise_not on bool is logical not).
  [M.BitwiseNot, unary('bitwiseNot', { int: '~a', bigint: '~a', bool: 'a ^ 1' })],
  [
    M.Round,
    {
      run({ x }: UnaryInputs, { decimals }: M.RoundAttrs, [out]: Tensor[]) {
        const f = decimals === 0 ? 'lib.rint(a)' : `lib.rintDecimals(a, ${decimals})`;
        elementwise('round', rounding(f), [x], out!, out!.dtype);
      },
    },
  ],
  [
    M.Lerp,
    {
      run({ start, end, weight }: M.LerpInputs, _attrs: NoAttrs, [out]: Tensor[]) {
        // PyTorch interpolates from the nearer end for accuracy near weight 1; float32 intermediates as in opmath.
        const f = 'Math.abs(c) < 0.5 ? a + Math.fround(c * Math.fround(b - a)) : b - Math.fround(Math.fround(b - a) * Math.fround(1 - c))';
        elementwise('lerp', { float: f }, [start, end, weight], out!, out!.dtype);
      },
    },
  ],
  [
    M.Addcmul,
    {
      run({ x, t1, t2 }: M.AddcmulInputs, { value }: M.AddcmulAttrs, [out]: Tensor[]) {
        // value·t1 first, then ·t2, each rounded to float32: PyTorch's scalar_t arithmetic order.
        const v = Math.fround(value);
        const exprs: Exprs = {
          float: `a + Math.fround(Math.fround(${String(v)} * b) * c)`,
          int: `a + Math.imul(Math.imul(${value | 0}, b), c)`,
          bigint: `BigInt.asIntN(64, a + ${BigInt(Math.trunc(value))}n * b * c)`,
        };
        elementwise('addcmul', exprs, [x, t1, t2], out!, out!.dtype);
      },
    },
  ],
] as unknown as [OpDef<never, never>, Kernel<never, never>][];
