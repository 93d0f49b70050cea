/**
 * Scalar helpers for the extra elementwise kernels (callable from loop expressions as `lib.name`): rounding
 * half to even, PyTorch's float32 `round(decimals)`, and Python-style remainder / C-style fmod for every domain.
 */
export class ZeroDivisionError extends RangeError {}

export const moreLib = {
  /**
   * Round half to even (PyTorch's nearbyint under the default rounding mode). Adding and subtracting 1.5·2^52
   * makes the FPU round to an integer in its own ties-to-even mode (exact for |a| < 2^51; larger doubles are
   * integers already, and ±inf/NaN pass through); a zero result takes a's sign as nearbyint's does.
   */
  rint(a: number): number {
    if (!(Math.abs(a) < 2251799813685248)) return a;
    const r = a + 6755399441055744 - 6755399441055744;
    return r === 0 ? a * 0 : r;
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
