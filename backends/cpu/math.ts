/**
 * Scalar special functions in double precision (JS has no Math.erf). Accurate to ~1e-15 relative, so float32
 * results round the same way a correctly rounded reference would in all but rare ties.
 */
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** Taylor series of erf, used for |x| < 2.5 where it converges fast and cancellation stays below 1e-13. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** Continued fraction of erfc (modified Lentz), used for x >= 2.5 where it converges in a few dozen steps. */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = f;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) return 1 - erfSeries(x);
  if (x > 27) return 0;
  return erfcFraction(x);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) return erfSeries(x);
  const r = 1 - erfc(ax);
  return x < 0 ? -r : r;
}

const SHIFT = 6755399441055744; // 1.5·2^52: adding and subtracting it rounds a double to an integer (ties to even)
const INV_LN2_32 = 46.16624130844683; // 32 / ln 2
const LN2_32_HI = 0.021660834550857544; // ln2/32 with the low 32 mantissa bits cleared: k·LN2_32_HI is exact
const LN2_32_LO = 1.4841640746973977e-8; // ln2/32 − LN2_32_HI
/** 2^(j/32), j = 0..31. */
const EXP2_FRAC = Float64Array.from({ length: 32 }, (_, j) => 2 ** (j / 32));
/** 2^m for m in [-1080, 1024], exact (subnormal powers included). */
const POW2 = Float64Array.from({ length: 2105 }, (_, i) => 2 ** (i - 1080));

/**
 * e^x to ~1e-12 relative, several times faster than Math.exp in V8 loops: x = (32m + j)·ln2/32 + r with
 * |r| ≤ ln2/64, e^x = 2^m · 2^(j/32) · p(r), p a degree-5 Taylor polynomial; rounding via the 1.5·2^52 trick
 * (Math.round is slow in V8). Far more accurate than the float32 results it feeds need.
 */
export function fastExp(x: number): number {
  if (!(x < 709.782712893384)) return x !== x ? x : Infinity;
  if (x < -745.1332191019412) return 0;
  const k = x * INV_LN2_32 + SHIFT - SHIFT;
  const r = x - k * LN2_32_HI - k * LN2_32_LO;
  const r2 = r * r;
  // Estrin's scheme: shorter dependency chains than Horner.
  const p = 1 + r + r2 * (0.5 + r * 0.16666666666666666) + r2 * r2 * (0.041666666666666664 + r * 0.008333333333333333);
  const j = k & 31;
  const m = (k - j) / 32;
  // Split the power of two so it never overflows when the result itself does not.
  return m > 1000 ? p * EXP2_FRAC[j]! * POW2[m - 24 + 1080]! * 16777216 : p * EXP2_FRAC[j]! * POW2[m + 1080]!;
}
