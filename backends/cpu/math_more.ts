/**
 * Scalar helpers for the extra elementwise kernels (callable from loop expressions as `lib.name`): rounding
 * half to even, PyTorch's float32 `round(decimals)`, and Python-style remainder / C-style fmod for every domain.
 */
export class ZeroDivisionError extends RangeError {}

export const moreLib = {
  /** Round half to even on doubles holding float values (PyTorch's nearbyint under the default rounding mode). */
  rint(a: number): number {
    const r = Math.round(a); // rounds ties toward +inf
    return r - a === 0.5 && r % 2 !== 0 ? r - 1 : r === 0 && a < 0 ? -0 : r;
  },
  /** round(a, decimals) as PyTorch computes it in float32: nearbyint(a·10^d)/10^d, or ·10^-d for d < 0. */
  rintDecimals(a: number, decimals: number): number {
    const neg = decimals < 0;
    const p = Math.fround(10 ** Math.abs(decimals));
    return neg ? Math.fround(moreLib.rint(Math.fround(a / p)) * p) : Math.fround(moreLib.rint(Math.fround(a * p)) / p);
  },
  /** Python's modulo for floats: fmod, then shifted by b when the signs differ (PyTorch's remainder kernel). */
  fremainder(a: number, b: number): number {
    const m = a % b;
    return m !== 0 && b < 0 !== m < 0 ? m + b : m;
  },
  iremainder(a: number, b: number): number {
    if (b === 0) throw new ZeroDivisionError('integer division by zero (ZeroDivisionError)');
    const m = a % b;
    return m !== 0 && b < 0 !== m < 0 ? m + b : m;
  },
  bremainder(a: bigint, b: bigint): bigint {
    if (b === 0n) throw new ZeroDivisionError('integer division by zero (ZeroDivisionError)');
    const m = a % b;
    return m !== 0n && b < 0n !== m < 0n ? m + b : m;
  },
  ifmod(a: number, b: number): number {
    if (b === 0) throw new ZeroDivisionError('integer division by zero (ZeroDivisionError)');
    return a % b;
  },
  bfmod(a: bigint, b: bigint): bigint {
    if (b === 0n) throw new ZeroDivisionError('integer division by zero (ZeroDivisionError)');
    return a % b;
  },
};
