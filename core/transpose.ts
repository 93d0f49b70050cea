/**
 * Row-major [rows, cols] → [cols, rows] for weight preparation (nn.Linear's [N, K] to the K x N a GEMM library
 * takes). Works in 32 x 32 tiles: a tile's 32 source rows and 32 destination rows (4 KiB each way for float32)
 * stay in L1 while both sides are touched, where a plain double loop misses the cache on every write once a
 * row is wider than a few KiB (weights are tens to hundreds of MB). tools/bench_prepare.ts measures it.
 */
export type TransposeArray = Float32Array | Uint16Array | Int8Array | Uint8Array | Uint32Array;

export function transpose2d<T extends TransposeArray>(src: T, rows: number, cols: number, dst: T): T {
  if (src.length < rows * cols || dst.length < rows * cols)
    throw new RangeError(`transpose2d: [${rows}, ${cols}] needs ${rows * cols} elements, source has ${src.length}, destination ${dst.length}`);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const o = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[o + c]!;
      }
    }
  }
  return dst;
}
