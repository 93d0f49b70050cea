/**
 * The CPU GEMM (backends/cpu/gemm.ts) against a double-precision reference, through every path: GEMV for
 * M = 1 and N = 1 in both layouts, the unpacked few-rows kernel, per-row GEMV, and the packed 3×3 kernel with
 * edge tiles, several K blocks (K > 256) and N blocks (N > 2046); arbitrary strides (transposed, sliced,
 * negative, broadcast 0).
 */
import { describe, expect, it } from 'vitest';
import { gemm, gemmAxpy, gemmDot } from '../backends/cpu/gemm.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function randomArray(n: number, rnd: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rnd();
  return a;
}

interface Layout {
  readonly size: number;
  readonly off: number;
  readonly rs: number;
  readonly cs: number;
}

/** Element (r, c) of a rows×cols view at off + r·rs + c·cs, in a buffer of `size`. */
function layout(rows: number, cols: number, kind: 'row' | 'col' | 'padded' | 'flipped' | 'bcast'): Layout {
  switch (kind) {
    case 'row':
      return { size: rows * cols, off: 0, rs: cols, cs: 1 };
    case 'col':
      return { size: rows * cols, off: 0, rs: 1, cs: rows };
    case 'padded': // a slice of a wider matrix, starting at an offset
      return { size: 3 + rows * (cols + 2), off: 3, rs: cols + 2, cs: 1 };
    case 'flipped': // rows reversed, columns strided by 2
      return { size: rows * cols * 2, off: (rows - 1) * cols * 2, rs: -cols * 2, cs: 2 };
    case 'bcast': // every row the same (stride 0)
      return { size: cols, off: 0, rs: 0, cs: 1 };
  }
}

function check(m: number, n: number, k: number, la: Layout, lb: Layout, seed: number): void {
  const rnd = lcg(seed);
  const A = randomArray(la.size, rnd);
  const B = randomArray(lb.size, rnd);
  const ldc = n + 1;
  const C = new Float32Array(2 + m * ldc).fill(NaN);
  gemm(m, n, k, A, la.off, la.rs, la.cs, B, lb.off, lb.rs, lb.cs, C, 2, ldc);
  const bad: string[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let mag = 0;
      for (let p = 0; p < k; p++) {
        const t = A[la.off + i * la.rs + p * la.cs]! * B[lb.off + p * lb.rs + j * lb.cs]!;
        s += t;
        mag += Math.abs(t);
      }
      // Double accumulation: the only sizeable error is the final rounding to float32 (≤ 2^-24 relative);
      // the double sum adds at most ~K·2^-53·Σ|a·b|.
      const got = C[2 + i * ldc + j]!;
      if (!(Math.abs(got - s) <= 1e-7 * Math.abs(s) + 1e-12 * mag)) bad.push(`[${i},${j}] ${got} vs ${s}`);
    }
  expect(bad.slice(0, 5), `${m}x${n}x${k}: ${bad.length} wrong`).toEqual([]);
  // Untouched: the padding column and the two leading elements.
  expect(Number.isNaN(C[0]!) && Number.isNaN(C[1]!)).toBe(true);
  for (let i = 0; i < m; i++) expect(Number.isNaN(C[2 + i * ldc + n]!)).toBe(true);
}

const shapes: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 5],
  [1, 13, 300],
  [5, 1, 9],
  [9, 1, 300],
  [2, 3, 4],
  [3, 3, 3],
  [4, 5, 6],
  [7, 9, 11],
  [17, 33, 65],
  [19, 40, 1],
  [21, 35, 7],
  [33, 17, 300],
  [97, 50, 520],
];

describe('cpu gemm', () => {
  for (const [m, n, k] of shapes)
    it(`${m}x${n}x${k} in every layout`, () => {
      let seed = m * 1000 + n * 10 + k;
      for (const ka of ['row', 'col', 'padded', 'flipped'] as const)
        for (const kb of ['row', 'col', 'padded', 'flipped'] as const) check(m, n, k, layout(m, k, ka), layout(k, n, kb), seed++);
    });

  it('broadcast rows (stride 0) and several N blocks', () => {
    check(24, 2100, 40, layout(24, 40, 'bcast'), layout(40, 2100, 'row'), 1);
    check(24, 2100, 40, layout(24, 40, 'row'), layout(40, 2100, 'col'), 2);
  });

  it('GEMV at K = 4096 in both weight layouts', () => {
    check(1, 64, 4096, layout(1, 4096, 'row'), layout(4096, 64, 'col'), 3);
    check(1, 64, 4096, layout(1, 4096, 'row'), layout(4096, 64, 'row'), 4);
  });

  it('K = 0 writes zeros; empty M or N writes nothing', () => {
    const C = new Float32Array(6).fill(7);
    gemm(2, 3, 0, new Float32Array(0), 0, 0, 1, new Float32Array(0), 0, 3, 1, C, 0, 3);
    expect(Array.from(C)).toEqual([0, 0, 0, 0, 0, 0]);
    const D = new Float32Array(2).fill(7);
    gemm(0, 2, 3, new Float32Array(0), 0, 3, 1, new Float32Array(6), 0, 2, 1, D, 0, 2);
    expect(Array.from(D)).toEqual([7, 7]);
  });

  it('gemmDot and gemmAxpy keep their contiguous-layout signatures', () => {
    const A = Float32Array.of(1, 2, 3, 4, 5, 6); // 2×3
    const W = Float32Array.of(1, 0, 1, 0, 1, 0); // 2×3 rows (x @ Wᵀ)
    const C = new Float32Array(4);
    gemmDot(2, 2, 3, A, 0, 3, W, 0, 3, C, 0, 2);
    expect(Array.from(C)).toEqual([4, 2, 10, 5]);
    const Bk = Float32Array.of(1, 0, 0, 1, 1, 0); // 3×2 row-major
    gemmAxpy(2, 2, 3, A, 0, 3, Bk, 0, 2, C, 0, 2);
    expect(Array.from(C)).toEqual([4, 2, 10, 5]);
  });
});
