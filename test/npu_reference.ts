/**
 * What the NPU library tests share: a seeded generator (xorshift32: the same sequence everywhere, so a case's
 * inputs are fixed by its seed) and the f32 numerics contract written out in TypeScript (backends/npu/README.md).
 */
const f = Math.fround;

/** xorshift32 from `seed`: `next()` in [0, 1), `int(lo, hi)` in [lo, hi), `float(lo, hi)` rounded to float32. */
export function xorshift(seed: number): { next: () => number; int: (lo: number, hi: number) => number; float: (lo: number, hi: number) => number } {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo)), float: (lo, hi) => f(lo + next() * (hi - lo)) };
}

/**
 * The f32 / bf16 contract: x [M, K] · w [K, N]; per K tile of `tileK` a k-ordered sum of rounded products, the
 * tiles added in order, then the bias (bf16 operands pass their float32 values: their products are exact).
 */
export function f32TiledRef(x: Float32Array, w: Float32Array, M: number, K: number, N: number, bias: Float32Array | null, tileK: number): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let out = 0;
      for (let k0 = 0, t = 0; k0 < K; k0 += tileK, t++) {
        let acc = 0;
        for (let k = k0; k < Math.min(K, k0 + tileK); k++) acc = f(acc + f(x[m * K + k]! * w[k * N + n]!));
        out = t === 0 ? acc : f(out + acc);
      }
      y[m * N + n] = bias ? f(out + bias[n]!) : out;
    }
  return y;
}
